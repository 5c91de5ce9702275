"""Where an epoch's time goes, and how far it is from the floor.

One epoch of 784-16-16-10 on MNIST (float32, adam, relu), at batch 200 and at batch 50
(``batch_size='auto'``), timed three ways, then its parts alone on one thread:

- the compiled epoch, as a fit runs its second and later epochs: compiled calls of
  12,800 rows on two threads.
  MNIST is sparse enough for the zero-skipping products (``skdigitnet._skip_zeros``):
  they read X's rows in place, and the threads split them, and the weights' step, by
  the columns of X (``_batch_thread._train_direct``). On dense X the second thread
  gathers and computes its rows of both products instead;
- the batch-by-batch loop with the same kernels (what runs without a shuffle);
- the numpy backend (``SKDIGITNET_NUMBA=0``), the reference;
- parts: the two first-layer products of every batch (one thread, as the epoch computes
  them), gathering every batch (which the zero-skipping epoch does not do), the small
  layers with the loss and backward pass, and the L2 term with Adam's step.

The parts add up to the work of an epoch on one core. The floor of the split the
compiled epoch uses on two cores, zero-skipping: half of the products and of the step,
plus the small layers (which the first thread computes while the second waits for
their delta). Dense X: at batch 200, half of products, gathering and the rest; at batch
50, the products and the rest (the first thread computes every row, the second
gathers). The small layers and the step are timed with a Python call per kernel (some
5 us a batch, 6 ms an epoch at batch 50), so the floors are that much high.

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


def main(argv=None):  # noqa: PLR0915 - one table, its variants side by side
    from skdigitnet import load_mnist
    from skdigitnet._activations import get_activation
    from skdigitnet._backends import NumpyBackend
    from skdigitnet._batches import Batches
    from skdigitnet._compiled import CompiledBackend
    from skdigitnet._compute import flush_denormals, one_blas_thread
    from skdigitnet._network import Architecture, init_parameters
    from skdigitnet._optimizers import Adam

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    X, y = load_mnist(args.data, return_X_y=True)
    X = (X / np.float32(255)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[y]
    n = len(X)
    relu = get_activation("relu")
    arch = Architecture((784, 16, 16, 10), (relu, relu), "softmax", "log_loss")

    def epoch(backend_class, batch, fused=True):
        def run(order):
            theta = init_parameters(arch, np.random.RandomState(0), np.float32)
            backend = backend_class(arch)
            if not fused:
                backend._fuses = lambda *a: False
            ws = backend.workspace(theta, np.empty_like(theta), batch)
            batches = Batches((X, Y, None), batch, np.float32)
            optimizer = Adam(theta.size, np.float32)
            with one_blas_thread(), flush_denormals():
                # the second epoch of a fit: the first sets up the pipeline and its choices
                backend.run_epoch(batches, order, n, 1e-4, optimizer, ws)
                tic = time.perf_counter()
                backend.run_epoch(batches, order, n, 1e-4, optimizer, ws)
                return time.perf_counter() - tic
        return run

    def products(batch):
        def run(order):
            from skdigitnet import _batch_thread, _compiled, _skip_zeros
            W = np.random.RandomState(0).normal(size=(784, 16)).astype(np.float32)
            x, Z, D, G = (np.empty((batch, 784), np.float32), np.empty((batch, 16), np.float32),
                          np.ones((batch, 16), np.float32), np.empty((784, 16), np.float32))
            x[...] = X[order[:batch]]
            part, padded = np.empty_like(G), np.empty((784, _skip_zeros.LANES), np.float32)
            i64 = np.int64
            # as the epoch computes them: skipping zeros and reading X's rows in place
            # where X is sparse enough (MNIST is), else in BLAS calls of 64 rows
            direct = _compiled.available() and _skip_zeros.sparse_enough(X)
            with one_blas_thread():
                tic = time.perf_counter()
                for start in range(0, n, batch):
                    m = i64(min(batch, n - start))
                    if direct:
                        _skip_zeros.forward_rows(X, order, i64(start), W, Z, i64(0), m, i64(0),
                                                 i64(784))
                        _skip_zeros.gradient_rows(X, order, i64(start), D, G, padded, i64(0),
                                                  m, i64(0), i64(784))
                    elif _compiled.available():
                        _batch_thread._forward_block_rows(x, W, Z, i64(0), i64(batch))
                        _batch_thread._gradient_block_rows(x, D, G, part, i64(0), i64(batch))
                    else:
                        np.matmul(x, W, out=Z)
                        np.matmul(x.T, D, out=G)
                return time.perf_counter() - tic
        return run

    def direct_mode():
        from skdigitnet import _compiled, _skip_zeros
        return _compiled.available() and _skip_zeros.sparse_enough(X)

    def gather(batch):
        def run(order):
            x = np.empty((batch, 784), np.float32)
            tic = time.perf_counter()
            for start in range(0, n, batch):
                np.take(X, order[start:start + batch], axis=0, out=x, mode="clip")
            return time.perf_counter() - tic
        return run

    def rest(batch, part):
        """The small layers, loss and backward pass (``part='small'``) or the L2 term and
        Adam's step (``part='step'``) of every batch, a Python call per kernel."""
        def run(order):
            from skdigitnet import _kernels
            theta = init_parameters(arch, np.random.RandomState(0), np.float32)
            grad = np.zeros_like(theta)
            plan = _kernels.plan(arch)
            Z = np.random.RandomState(1).normal(size=(batch, 16)).astype(np.float32)
            D = np.empty((batch, 16), np.float32)
            work = plan.scratch(batch, np.float32)
            sw = np.empty(0, np.float32)
            optimizer = Adam(theta.size, np.float32)
            with flush_denormals():
                tic = time.perf_counter()
                for start in range(0, n, batch):
                    if part == "small":
                        plan.hidden_and_output(Z, Y[order[start:start + batch]], sw, theta,
                                               grad, D, work)
                    else:
                        plan.finish_gradient(theta, grad, 1e-4, 1.0 / batch)
                        _kernels.adam_step(theta, grad, optimizer.m, optimizer.v, 1e-3, 0.9,
                                           0.999, 1e-8)
                return time.perf_counter() - tic
        return run

    direct = direct_mode()
    for batch in (200, 50):
        variants = {
            "compiled epoch (as fit runs it, two threads)": epoch(CompiledBackend, batch),
            "batch-by-batch loop, same kernels": epoch(CompiledBackend, batch, fused=False),
            "numpy backend (the reference)": epoch(NumpyBackend, batch),
            "part: both first-layer products, one thread": products(batch),
            "part: gathering the batches, one thread": gather(batch),
            "part: the small layers, loss and backward pass": rest(batch, "small"),
            "part: the L2 term and Adam's step": rest(batch, "step"),
        }
        times = {name: [] for name in variants}
        for r in range(args.repeats):
            order = np.random.RandomState(r).permutation(n)
            for name, run in variants.items():
                times[name].append(run(order))
        ms = {name: 1e3 * median(values) for name, values in times.items()}
        print(f"\n| epoch, batch {batch} | ms (median of {args.repeats}) |\n|---|---:|")
        for name, value in ms.items():
            print(f"| {name} | {value:.1f} |")
        products_ms, gather_ms, small_ms, step_ms = list(ms.values())[3:]
        if direct:  # X read in place; the threads share the products and the step by
            # columns, this one does the small layers while the other waits
            floor = (products_ms + step_ms) / 2 + small_ms
            how = "half of products and step, plus the small layers (nothing gathered)"
        elif batch <= 64:  # this thread computes every row, the other gathers the batches
            floor = max(products_ms + small_ms + step_ms, gather_ms)
            how = "the products + the rest (the other thread gathers)"
        else:  # each thread gathers and computes its rows; this one also does the rest
            rest_ms = small_ms + step_ms
            floor = max((products_ms + gather_ms + rest_ms) / 2, rest_ms)
            how = "half of products, gathering and rest"
        print(f"| floor of the two-thread split: {how} | {floor:.1f} |")


if __name__ == "__main__":
    main()
