"""The compiled backend against the numpy reference on an MNIST-shaped network:
784-16-16-10 (relu, softmax, log loss), float64 parameters, 256 rows about a fifth
non-zero (as MNIST's pixels, given as float64 and as uint8; and rows without zeros).
Prints the largest relative differences of loss and gradient and exits 1 if one passes
1e-14. Run it on arm64 with::

    sudo scripts/test_arm64.sh --run "python scripts/compare_backends.py"
"""
import platform
import sys

import numpy as np

from skdigitnet._engine import NumpyBackend, compiled
from skdigitnet._neural_network.activations import get_activation
from skdigitnet._neural_network.network import Architecture, init_parameters

BOUND = 1e-14


def loss_and_gradient(backend, theta, X, Y, sw, alpha):
    grad = np.full_like(theta, np.nan)  # every entry must be written
    ws = backend.workspace(theta, grad, X.shape[0])
    return backend.loss_and_gradient(theta, X, Y, sw, alpha, grad, ws), grad


def main() -> int:
    if not compiled.available():
        print("numba is not installed: no compiled backend")
        return 1
    rng = np.random.RandomState(0)
    arch = Architecture((784, 16, 16, 10), (get_activation("relu"),) * 2, "softmax",
                        "log_loss")
    if not compiled.covers(arch):
        print("the compiled kernels do not cover 784-16-16-10 relu/softmax")
        return 1
    theta = init_parameters(arch, rng, np.float64)
    X8 = rng.randint(1, 256, size=(256, 784)).astype(np.uint8)
    X8[rng.uniform(size=X8.shape) > 0.19] = 0  # ~19% non-zero, as MNIST
    X = X8 / 255.0
    dense = rng.uniform(0.01, 1.0, size=X.shape)  # no zero: products that skip none
    Y = np.eye(10)[rng.randint(10, size=256)]
    sw = rng.uniform(0.5, 1.5, size=256)
    print(f"{platform.machine()}: 784-16-16-10 relu/softmax, 256 rows "
          f"({np.count_nonzero(X) / X.size:.1%} non-zero), float64 parameters")
    print(f"{'input (first products)':<42}{'loss rel. diff':>16}{'grad max|d|/max|g|':>20}"
          f"{'grad max elem. rel.':>21}")
    worst = 0.0
    cases = [("float64", X, None, 1e-4), ("float64, sample weights", X, sw, 1e-4),
             ("uint8 pixels", X8, None, 1e-4), ("uint8 pixels, sample weights", X8, sw, 0.0),
             ("float64 without zeros", dense, None, 1e-4)]
    for kind, Xin, weights, alpha in cases:
        skip = compiled.CompiledBackend._skip(Xin, theta[:784 * 16].reshape(784, 16))
        name = f"{kind} ({'skip zeros' if skip else 'dense'})"
        (ref_loss, ref_grad) = loss_and_gradient(NumpyBackend(arch), theta, Xin, Y, weights,
                                                 alpha)
        (loss, grad) = loss_and_gradient(compiled.CompiledBackend(arch), theta, Xin, Y,
                                         weights, alpha)
        d_loss = abs(loss - ref_loss) / abs(ref_loss)
        d_grad = float(np.max(np.abs(grad - ref_grad)) / np.max(np.abs(ref_grad)))
        big = np.abs(ref_grad) > 1e-6 * np.max(np.abs(ref_grad))
        d_elem = float(np.max(np.abs(grad - ref_grad)[big] / np.abs(ref_grad[big])))
        worst = max(worst, d_loss, d_grad)
        print(f"{name:<42}{d_loss:>16.2e}{d_grad:>20.2e}{d_elem:>21.2e}")
    ok = worst <= BOUND
    print(f"largest (loss, gradient): {worst:.2e} {'<=' if ok else '>'} {BOUND:g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
