"""What each speed trick of the compiled backend buys on the seed network.

Every row is a fresh process timing the seed network (784-16-16-10, adam, relu) on MNIST:
an epoch at batch 200 and at batch 50 (the fastest of 3, after a warm-up fit) and
``predict_proba`` on the 10,000 test images (the median of 21, back to back), with
one trick taken out:

- ``skip zeros``: the first layer's products by BLAS on gathered rows instead of the
  zero-skipping kernels (``compiled/skip_zeros.py``);
- ``prefetch``: the kernels' reading ahead of the next block's rows removed;
- ``alignment``: every buffer 16 bytes past a 64-byte boundary, as numpy may place it,
  instead of on one (``_compute.aligned_empty``);
- ``vector exp``: the output's and logistic's exp by libm, a value at a time, instead of
  the vectorised polynomial (``compiled/elementwise.py``);
- ``prediction threads``: a prediction's rows on one thread, not split between threads
  (``compiled.CompiledBackend._split``); two more columns time ``predict_proba`` of a
  (800,) network, back to back and right after a multithreaded numpy product (another
  estimator's work: the seed network's 10,000 rows then stay on one thread).

A trick that is taken out by editing the source runs from a copy of the package with a
numba cache of its own. Each variant runs in ``--repeats`` processes (the variants'
order reversed each round) and the table gives the medians: one process's times vary by
some 10 % on a shared machine. ``python benchmarks/bench_tricks.py [--data FOLDER]
[--repeats 3]``.
"""

import argparse
import json
import os
import re
import shutil
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
sys.path.insert(0, {root!r})
import numpy as np
import skdigitnet
from skdigitnet._datasets import read_mnist_directory
{patch}
d = read_mnist_directory({data!r})
X = (d["train_images"].reshape(60000, -1) / np.float32(255)).astype(np.float32)
X_test = (d["test_images"].reshape(10000, -1) / np.float32(255)).astype(np.float32)
y = d["train_labels"]
warnings.simplefilter("ignore")
skdigitnet.DigitMLPClassifier(max_iter=1).fit(X[:6000], y[:6000])
result = {{}}
for batch in (200, 50):
    clf = skdigitnet.DigitMLPClassifier(max_iter=3, batch_size=batch, random_state=0).fit(X, y)
    result[f"epoch {{batch}}"] = 1e3 * min(h["seconds"] for h in clf.history_)
times = []
for _ in range(21):
    tic = time.perf_counter()
    clf.predict_proba(X_test)
    times.append(time.perf_counter() - tic)
result["predict"] = 1e3 * sorted(times)[10]
wide = skdigitnet.DigitMLPClassifier(hidden_layer_sizes=(800,), max_iter=1,
                                     random_state=0).fit(X[:10000], y[:10000])
W = np.ones((784, 800), np.float32)
for after_blas in (False, True):
    times = []
    for _ in range(11):
        if after_blas:  # another estimator's multithreaded BLAS work, just before
            X_test[:2000] @ W
        tic = time.perf_counter()
        wide.predict_proba(X_test)
        times.append(time.perf_counter() - tic)
    result[f"wide {{after_blas}}"] = 1e3 * sorted(times)[5]
print(json.dumps(result))
"""

MISALIGNED = """
import skdigitnet._engine.compute as compute, skdigitnet._engine.compiled.layout as layout
import skdigitnet._neural_network.optimizers as optimizers
import skdigitnet._neural_network.network as network
def misaligned(shape, dtype):
    dtype = np.dtype(dtype)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    size = int(np.prod(shape)) * dtype.itemsize
    buffer = np.empty(size + 128, np.uint8)
    start = (-buffer.ctypes.data % 64) + 16
    return buffer[start: start + size].view(dtype).reshape(shape)
def misaligned_zeros(shape, dtype):
    a = misaligned(shape, dtype); a[...] = 0; return a
for module in (compute, layout, network):
    module.aligned_empty = misaligned
optimizers.aligned_zeros = misaligned_zeros
"""
NO_THREADS = """
from skdigitnet._engine import compiled
compiled.PARALLEL_MIN = 1 << 62
"""
NO_SKIP = """
from skdigitnet._engine.compiled import CompiledBackend
CompiledBackend._skip = staticmethod(lambda X, W0: False)
"""
# source edits: (file, pattern, replacement)
EDITS = {
    "prefetch": ("skdigitnet/_engine/compiled/skip_zeros.py",
                 (r"            for row in ahead:  # the next block's rows, while this one "
                  r"computes\n.*?\n.*?\n"), ""),
    "vector exp": ("skdigitnet/_engine/compiled/elementwise.py",
                   r"(def exp32\(v\):\n    \"\"\".*?\"\"\"\n)",
                   (r"\1    for r in range(v.shape[0]):\n        v[r] = math.exp(v[r])\n"
                    r"    return\n")),
}


def run(root, data, patch="", cache=None):
    env = dict(os.environ)
    if cache:
        env["NUMBA_CACHE_DIR"] = cache
    code = CHILD.format(root=str(root), data=data, patch=patch)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,  # noqa: S603
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def edited_copy(name, folder):
    """A copy of the package with one trick edited out."""
    path, pattern, replacement = EDITS[name]
    target = Path(folder) / "src"
    shutil.copytree(ROOT / "skdigitnet", target / "skdigitnet",
                    ignore=shutil.ignore_patterns("__pycache__"))
    source = (target / path).read_text()
    edited, count = re.subn(pattern, replacement, source, count=1, flags=re.DOTALL)
    if count != 1:
        raise RuntimeError(f"could not take out {name}: the source changed")
    (target / path).write_text(edited)
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of MNIST IDX files")
    parser.add_argument("--repeats", type=int, default=3,
                        help="processes per variant, the variants' order reversed each round")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as folder:
        variants = {"all tricks": lambda: run(ROOT, args.data),
                    "without skip zeros": lambda: run(ROOT, args.data, NO_SKIP),
                    "without alignment": lambda: run(ROOT, args.data, MISALIGNED),
                    "without prediction threads": lambda: run(ROOT, args.data, NO_THREADS)}
        for name in EDITS:
            copy = Path(folder) / name.replace(" ", "_")
            source, cache = edited_copy(name, copy), str(copy / "cache")
            variants[f"without {name}"] = (lambda src=source, c=cache:
                                           run(src, args.data, cache=c))
        runs = {name: [] for name in variants}
        for r in range(args.repeats):
            for name in list(variants)[:: 1 if r % 2 == 0 else -1]:
                runs[name].append(variants[name]())
    keys = ("epoch 200", "epoch 50", "predict", "wide False", "wide True")
    medians = {name: {k: median(x[k] for x in rs) for k in keys} for name, rs in runs.items()}
    base = medians["all tricks"]
    print(f"medians of {args.repeats} processes per variant")
    print("| variant | epoch, batch 200, ms | epoch, batch 50, ms | predict_proba 10k, ms "
          "| (800,): predict_proba 10k, ms | the same right after numpy BLAS work, ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, m in medians.items():
        cells = [f"{m[k]:.1f} ({m[k] / base[k]:.2f})" for k in keys]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
