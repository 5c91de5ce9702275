"""How fast DigitNormalizer turns digit images into MNIST-style 28x28 images.

Times ``DigitNormalizer().fit_transform(X)`` (every default: deskewed, 28x28) on the
MNIST training images (60,000) and test images (10,000), uint8 as read, and on the
bundled 8x8 digits (1,797, float64 0..16): the median of ``--repeats`` runs, wall clock
and CPU time of the process (all threads). ``--reference N`` also times the one-image-at-
a-time path (``normalize_image``, which the transform's batched path must match bit for
bit) on N images of each set, for the speed-up.

Data: MNIST IDX files from ``--data`` (default ``../shared/data/mnist`` beside the repo);
only the bundled digits when no MNIST is found.

    python benchmarks/bench_normalize.py [--data FOLDER] [--repeats 5] [--reference 2000]
"""

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from statistics import median

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist"


def datasets(data_dir):
    """[(name, X, image_shape)]: MNIST train and test (if found) and the bundled digits."""
    from sklearn.datasets import load_digits

    from skdigitnet._datasets import read_mnist_directory

    sets = []
    if data_dir is not None and Path(data_dir).is_dir():
        try:
            d = read_mnist_directory(data_dir)
        except FileNotFoundError:
            pass
        else:
            for part in ("train", "test"):
                images = d[f"{part}_images"]
                sets.append((f"MNIST {part}", images.reshape(len(images), -1), (28, 28)))
    if not sets:
        print(f"(no MNIST in {data_dir}: the bundled digits only)")
    sets.append(("bundled digits 8x8", load_digits().data, (8, 8)))
    return sets


def machine():
    from bench_vs_sklearn import cpu_name  # this folder is on sys.path when run as a script

    return (f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"numpy {np.__version__}")


def timed(run, repeats):
    """Median wall and CPU seconds of ``run()`` over ``repeats`` runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return median(walls), median(cpus)


def one_by_one(X, shape):
    """The per-image reference: ``normalize_image`` on each row, as the transform did."""
    from skdigitnet._images.normalizer import normalize_image

    for row in X:
        normalize_image(row.reshape(shape), "auto", 0.1, 20, 28, True)


def main(argv=None):
    from skdigitnet import DigitNormalizer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of MNIST IDX files")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reference", type=int, default=0, metavar="N",
                        help="also time the one-by-one path on N images of each set")
    args = parser.parse_args(argv)
    print(machine())
    header = "| images | n | wall s | CPU s | wall us/image |"
    rule = "|---|---:|---:|---:|---:|"
    if args.reference:
        header += " one by one, us/image | speed-up (wall) |"
        rule += "---:|---:|"
    rows = [header, rule]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, X, shape in datasets(args.data):
            DigitNormalizer().fit_transform(X[:100])  # warm up (imports, caches)
            wall, cpu = timed(lambda X=X: DigitNormalizer().fit_transform(X), args.repeats)
            row = f"| {name} | {len(X):,} | {wall:.3f} | {cpu:.3f} | {1e6 * wall / len(X):.1f} |"
            if args.reference:
                some = X[: args.reference]
                ref = timed(lambda some=some, shape=shape: one_by_one(some, shape), 1)[0]
                per_image = 1e6 * ref / len(some)
                row += f" {per_image:.1f} | {per_image / (1e6 * wall / len(X)):.1f}x |"
            rows.append(row)
            print(rows[-1] if len(rows) > 3 else "\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
