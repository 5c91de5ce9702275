"""The first use: compiling the kernels once, and loading them in every later process.

Each row is a fresh Python process that imports skdigitnet, fits the default network on
the 60,000 MNIST training images for ``--epochs`` epochs (float32 pixels in [0, 1]) and
predicts the 10,000 test images, timing each step:

- an empty compiled-code cache (a new ``NUMBA_CACHE_DIR``): numba compiles the kernels
  the fit and the prediction use;
- the same cache again, now warm: the kernels are loaded from disk.

The difference between the two is what a first use costs once per machine (and again
after an upgrade of skdigitnet or numba).

    python benchmarks/bench_first_use.py [--data FOLDER] [--repeats 3]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from bench_vs_sklearn import DEFAULT_DATA, machine  # noqa: E402

CHILD = r"""
import json, sys, time, warnings
tic = time.perf_counter()
sys.path.insert(0, {root!r})
import numpy as np
import skdigitnet
from skdigitnet._datasets import read_mnist_directory
seconds = {{"import": time.perf_counter() - tic}}
d = read_mnist_directory({data!r})
X = (d["train_images"].reshape(60000, -1) / np.float32(255)).astype(np.float32)
X_test = (d["test_images"].reshape(10000, -1) / np.float32(255)).astype(np.float32)
warnings.simplefilter("ignore")
clf = skdigitnet.DigitMLPClassifier(max_iter={epochs}, random_state=0)
tic = time.perf_counter()
clf.fit(X, d["train_labels"])
seconds["fit"] = time.perf_counter() - tic
seconds["epochs"] = sum(h["seconds"] for h in clf.history_)
tic = time.perf_counter()
clf.predict_proba(X_test)
seconds["predict"] = time.perf_counter() - tic
print(json.dumps(seconds))
"""


def run(cache, data, epochs):
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    code = CHILD.format(root=str(ROOT), data=data, epochs=epochs)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,  # noqa: S603
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(run(cache, args.data, args.epochs))
            warm.append(run(cache, args.data, args.epochs))
    print("| process | import, s | fit, s (of which epochs) | predict_proba, s | fit + predict |")
    print("|---|---:|---:|---:|---:|")
    total = {}
    for name, runs in (("empty cache: compiles", cold), ("warm cache: loads", warm)):
        m = {k: median(r[k] for r in runs) for k in runs[0]}
        total[name] = median(r["fit"] + r["predict"] for r in runs)
        print(f"| {name} | {m['import']:.2f} | {m['fit']:.2f} ({m['epochs']:.2f}) | "
              f"{m['predict']:.3f} | {total[name]:.2f} |")
    extra = total["empty cache: compiles"] - total["warm cache: loads"]
    print(f"\nfirst use costs {extra:.1f} s more than a later one (target: <= 6 s); medians "
          f"of {args.repeats} pairs of processes")


if __name__ == "__main__":
    main()
