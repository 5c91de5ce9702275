"""Where a compiled epoch's time goes, for a network on MNIST.

The compiled epoch (``skdigitnet._engine.compiled.kernels.sweep``) runs, for every batch,
the forward pass, the backward pass and the optimizer's update, with no Python between
them. This times, on the same shuffled rows and batches (the fastest of ``--repeats``):

- the whole epoch;
- the forward passes alone (the same loop predicting: no backward pass, no update);
- the updates alone (Adam over every parameter, once a batch);

and the backward passes as what is left. On sparse X (MNIST) the first layer's two
products skip zeros (``skip_zeros``); ``--dense`` times BLAS's products on gathered rows.

    python benchmarks/profile_epoch.py [--hidden 16,16] [--batch-size 200] [--dense]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist"


def best(run, repeats):
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        run()
        times.append(time.perf_counter() - tic)
    return 1e3 * min(times)


def main(argv=None):
    from skdigitnet._datasets import read_mnist_directory
    from skdigitnet._engine.compiled import NO_HELPER, kernels, layout
    from skdigitnet._engine.compute import flush_denormals, one_blas_thread
    from skdigitnet._neural_network.activations import get_activation
    from skdigitnet._neural_network.network import Architecture, init_parameters
    from skdigitnet._neural_network.optimizers import Adam

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of MNIST IDX files")
    parser.add_argument("--hidden", default="16,16", help="hidden layer sizes")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dense", action="store_true", help="no zero skipping")
    args = parser.parse_args(argv)
    d = read_mnist_directory(args.data)
    X = (d["train_images"].reshape(60000, -1) / np.float32(255)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[d["train_labels"]]
    hidden = tuple(int(h) for h in args.hidden.split(","))
    arch = Architecture((784, *hidden, 10), (get_activation("relu"),) * len(hidden),
                        "softmax", "log_loss")
    plan = layout.plan(arch)
    theta = init_parameters(arch, np.random.RandomState(0), np.float32)
    skip, size = not args.dense, args.batch_size
    net, work = layout.net(plan, theta, skip), layout.work(plan, size, 784, np.float32, skip)
    data = layout.data(X, Y, None, np.random.RandomState(0).permutation(60000), plan,
                       np.float32)
    optimizer = Adam(theta.size, np.float32)
    stop, out = len(arch.units) - 1, np.empty((60000, 10), np.float32)
    no_rows = np.empty((0, 10), np.float32)
    with one_blas_thread(), flush_denormals():
        times = {
            "epoch": best(lambda: kernels.sweep(data, net, work, layout.opt(optimizer), 1e-4,
                                                size, stop, no_rows, NO_HELPER), args.repeats),
            "forward passes": best(lambda: kernels.sweep(data, net, work, layout.opt(None),
                                                         0.0, size, stop, out, NO_HELPER),
                                                         args.repeats),
        }
        state = layout.opt(optimizer)
        n_batches = -(-60000 // size)

        def updates():
            for _ in range(n_batches):
                kernels.update(net, work.grad, state, 1e-4, 1.0 / size)
        times["updates"] = best(updates, args.repeats)
    times["backward passes (the rest)"] = (times["epoch"] - times["forward passes"]
                                           - times["updates"])
    print(f"784-{args.hidden.replace(',', '-')}-10, batch {size}, "
          f"{'BLAS products' if args.dense else 'zero-skipping products'}, one thread:")
    for name, ms in times.items():
        print(f"  {name:28} {ms:7.1f} ms")
    print("(the updates alone run from Python, a call each: some microseconds more each "
          "than inside the epoch)")


if __name__ == "__main__":
    main()
