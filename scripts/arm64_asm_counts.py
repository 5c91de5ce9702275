"""Counts, in numba's assembly of the compiled engine's one kernel
(``skdigitnet._engine.compiled.kernels.sweep``), of the instructions that tell how well
the loops became vector code on arm64: single-lane loads (``ld1 {vN.s}[i]``) and stores,
bit-test branches (``tbz``/``tbnz``) and whole-vector loads (``ldr qN``, ``ldp qN``,
``ld1 {vN.4s}``), and the vector fused multiply-adds. One row per compiled signature
(the fits the script runs: float64 and float32 parameters, X in that dtype or uint8, each
with dense and skip-zeros first products, which share a signature).

Run it on arm64 with a fresh cache, so that numba compiles and keeps the assembly::

    sudo scripts/test_arm64.sh --run \
        'NUMBA_CACHE_DIR=$(mktemp -d) python scripts/arm64_asm_counts.py'

On another machine it prints the machine's name and the same (then zero) counts.
"""
import platform
import re
import sys

import numpy as np

from skdigitnet._engine import compiled
from skdigitnet._engine.compiled import kernels
from skdigitnet._neural_network.activations import get_activation
from skdigitnet._neural_network.network import Architecture, init_parameters

PATTERNS = {
    "lane loads": r"\bld1r?\s+\{v\d+\.[bhsd]\}\[\d+\]",
    "lane stores": r"\bst1\s+\{v\d+\.[bhsd]\}\[\d+\]",
    "tbz/tbnz": r"\btbn?z\s",
    "vector loads": r"\b(?:ldr\s+q\d+|ldp\s+q\d+|ldnp\s+q\d+|ld1\s+\{v\d+\.\d+[bhsd])",
    "vector fma": r"\bfml[as]\s+v\d+\.\d+[sd]",
    "instructions": r"^\s+[a-z][a-z0-9.]*\s",
}


def compile_sweep() -> None:
    """Gradients that compile ``sweep`` for float64 and float32 parameters, X in that
    dtype or uint8, dense and skip-zeros first products."""
    rng = np.random.RandomState(0)
    arch = Architecture((784, 16, 16, 10), (get_activation("relu"),) * 2, "softmax",
                        "log_loss")
    X8 = rng.randint(1, 256, size=(64, 784)).astype(np.uint8)
    X8[rng.uniform(size=X8.shape) > 0.19] = 0
    Y = np.eye(10)[rng.randint(10, size=64)]
    for dtype in (np.float64, np.float32):
        theta = init_parameters(arch, rng, dtype)
        for X in ((X8 / 255.0).astype(dtype), rng.uniform(0.01, 1.0, X8.shape).astype(dtype),
                  X8, np.maximum(X8, 1)):
            backend = compiled.CompiledBackend(arch)
            grad = np.empty_like(theta)
            ws = backend.workspace(theta, grad, X.shape[0])
            backend.loss_and_gradient(theta, X, Y.astype(dtype), None, 1e-4, grad, ws)


def main() -> int:
    if not compiled.available():
        print("numba is not installed: no compiled engine")
        return 1
    compile_sweep()
    asm = kernels.sweep.inspect_asm()
    if not asm:
        print("no assembly: sweep came from numba's cache (set NUMBA_CACHE_DIR to a new "
              "folder)")
        return 1
    print(f"{platform.machine()}: numba's assembly of kernels.sweep, "
          f"{len(asm)} signature(s)")
    width = max(len(k) for k in PATTERNS) + 2
    print("signature (its arrays' dtypes)".ljust(60) + "".join(k.rjust(width) for k in PATTERNS))
    for sig, text in asm.items():
        dtypes = re.findall(r"array\((\w+)", str(sig))
        name = ", ".join(dict.fromkeys(dtypes))  # distinct, in order
        name = f"X {dtypes[0]}; {name}" if dtypes else str(sig)[:58]
        counts = [len(re.findall(p, text, flags=re.MULTILINE)) for p in PATTERNS.values()]
        print(name.ljust(60) + "".join(str(c).rjust(width) for c in counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
