"""Where an epoch's time goes: the training loop with parts replaced by no-ops.

One epoch of 784-16-16-10 on MNIST (float32, batch 200, adam), timed as it is, without the
optimizer step, without gathering batches (the same buffers reused, on one thread), and
without both; medians of alternated runs. With the compiled kernels the full loop gathers
on a second thread, which also computes half of each batch's first product, so the
"without gather" rows lose that thread's help as well as the gather.

    python benchmarks/profile_epoch.py [--data FOLDER] [--repeats 7]
"""

import argparse
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist"


class NoStep:
    """An optimizer that leaves the parameters alone."""

    learning_rate = 0.0

    def step(self, params, grad):
        pass


class SameBatch:
    """Batches without the gather: the first batch's buffers, every time."""

    X = None  # nothing for a backend's own gathering to gather

    def __init__(self, batches, rows):
        self.batch = tuple(np.copy(a) for a in batches.take(rows)[:2]) + (None,)

    def epoch(self, order, n_rows):
        for _ in range(0, n_rows, len(self.batch[0])):
            yield self.batch


def main(argv=None):
    from skdigitnet import load_mnist
    from skdigitnet._activations import get_activation
    from skdigitnet._compute import flush_denormals, one_blas_thread
    from skdigitnet._backends import choose_backend
    from skdigitnet._batches import Batches
    from skdigitnet._network import Architecture, init_parameters
    from skdigitnet._optimizers import Adam
    from skdigitnet._training import StochasticSettings, run_epoch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    X, y = load_mnist(args.data, return_X_y=True)
    X = (X / np.float32(255)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[y]
    relu = get_activation("relu")
    arch = Architecture((784, 16, 16, 10), (relu, relu), "softmax", "log_loss")
    settings = StochasticSettings(200, 1, True, 1e-4, 1e-4, 10, False, False)
    same = SameBatch(Batches((X, Y, None), 200, np.float32), np.arange(200))
    variants = {"full loop": (None, True), "without Adam": (None, False),
                "without gather": (same, True), "neither": (same, False)}
    times = {name: [] for name in variants}
    for r in range(args.repeats):
        for name, (source, adam) in variants.items():
            theta = init_parameters(arch, np.random.RandomState(0), np.float32)
            backend = choose_backend(arch)  # as in a fit: one backend, one workspace
            workspace = backend.workspace(theta, np.empty_like(theta), 200)
            if source is not same:
                source = Batches((X, Y, None), 200, np.float32)
            optimizer = Adam(theta.size, np.float32) if adam else NoStep()
            order = np.random.RandomState(r).permutation(len(X))
            with one_blas_thread(), flush_denormals():
                tic = time.perf_counter()
                run_epoch(backend, source, order, len(X), settings, optimizer, workspace)
                times[name].append(time.perf_counter() - tic)
    print("| epoch loop, batch 200 | ms per epoch (median) |\n|---|---:|")
    for name, values in times.items():
        print(f"| {name} | {1e3 * median(values):.0f} |")


if __name__ == "__main__":
    main()
