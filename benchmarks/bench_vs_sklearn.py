"""DigitMLPClassifier against scikit-learn's MLPClassifier, side by side in one run.

Same layers (784-16-16-10) for both; runs alternate A B A B with no pause between them,
as in a grid search or a notebook (each fit starts right after the other estimator's
multithreaded BLAS work); the table reports medians and ratios (ours / theirs):

- fit time per epoch, adam/relu and sgd/logistic at batch 200, float32 pixels scaled to
  [0, 1], and each estimator's defaults (``batch_size='auto'``: 50 rows for ours, 200
  for MLPClassifier);
- fit time per L-BFGS iteration;
- predict_proba time on the 10,000 test images; and, as a diagnostic, with each
  estimator's calls back to back (ours then never shares the second core with an
  OpenBLAS worker still spinning after MLPClassifier's product);
- time to 97 % test accuracy: ``make_pipeline(DigitNormalizer(), DigitMLPClassifier())``
  with every default, normalising the uint8 images included, against the whole default
  fit of ``MLPClassifier(hidden_layer_sizes=(16, 16))`` on the images scaled to [0, 1];
- peak extra memory of one fit (tracemalloc, a fresh subprocess each) on uint8 and float32
  images, and of predict_proba on 1,000,000 rows;
- test accuracy after the same epochs.

Other networks and a grid search: ``bench_networks.py``; the first use, compiling the
kernels: ``bench_first_use.py``.

``--settle S`` pauses S seconds before each timed fit instead: a diagnostic for the
cost of starting while OpenBLAS's threads still spin after the previous call.

Data: MNIST IDX files from ``--data`` (default ``../shared/data/mnist`` beside the repo);
the bundled 8x8 digits when no MNIST is found.

    python benchmarks/bench_vs_sklearn.py            # full run, a few minutes
    python benchmarks/bench_vs_sklearn.py --quick    # fewer repeats and rows
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path
from statistics import median

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist"


def load(data_dir):
    """(X_train, y_train, X_test, y_test, name) with uint8 images of shape (n, n_pixels):
    MNIST from ``data_dir``. Without MNIST there: the bundled 8x8 digits when
    ``data_dir`` is the default folder (saying so on stderr: the targets are MNIST's),
    else an error naming the folder."""
    from skdigitnet._datasets import read_mnist_directory

    try:
        d = read_mnist_directory(data_dir)
    except FileNotFoundError as error:
        if Path(data_dir) != DEFAULT_DATA:
            sys.exit(f"--data {data_dir}: {error}")
        print(f"no MNIST in {data_dir}: measuring on the bundled 8x8 digits instead, whose "
              "ratios are not the ones the targets are set for; pass --data FOLDER (the "
              "four MNIST IDX files, raw or .gz)", file=sys.stderr)
    else:
        flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
        return (flat(d["train_images"]), d["train_labels"], flat(d["test_images"]),
                d["test_labels"], "MNIST")
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = (X * 255 / 16).astype(np.uint8)
    return X[:1400], y[:1400], X[1400:], y[1400:], "bundled 8x8 digits"


def make(which, defaults=False, **params):
    from sklearn.neural_network import MLPClassifier

    from skdigitnet import DigitMLPClassifier
    cls = MLPClassifier if which == "sklearn" else DigitMLPClassifier
    if not defaults:  # the same hyperparameters for both: MLPClassifier's alpha, batch 200
        params = dict(batch_size=200, alpha=1e-4, **params)
    return cls(hidden_layer_sizes=(16, 16), **params)


def timed_fit(which, X, y, X_test, y_test, settle, defaults=False, **params):
    """(seconds per epoch, test accuracy) of one fit, after ``settle`` seconds of quiet."""
    est = make(which, defaults, **params)
    time.sleep(settle)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tic = time.perf_counter()
        est.fit(X, y)
        seconds = time.perf_counter() - tic
    return seconds / max(est.n_iter_, 1), est.score(X_test, y_test)


def alternate(repeats, run):
    """run(which, r) -> tuple of numbers; A B A B; returns {which: [tuples]}."""
    out = {"sklearn": [], "skdigitnet": []}
    for r in range(repeats):
        for which in ("sklearn", "skdigitnet") if r % 2 == 0 else ("skdigitnet", "sklearn"):
            out[which].append(run(which, r))
    return out


def fit_rows(data, epochs, repeats, settle):
    X, y, Xt, yt = data
    rows = []
    for label, params in [("adam / relu", dict(solver="adam", activation="relu")),
                          ("sgd / logistic", dict(solver="sgd", activation="logistic",
                                                  learning_rate_init=0.1))]:
        res = alternate(repeats, lambda w, r, params=params: timed_fit(
            w, X, y, Xt, yt, settle, max_iter=epochs, random_state=r, **params))
        t = {w: median(v[0] for v in res[w]) for w in res}
        a = {w: median(v[1] for v in res[w]) for w in res}
        rows.append((f"fit, ms per epoch ({label}, batch 200)", 1e3 * t["sklearn"],
                     1e3 * t["skdigitnet"], "<= 0.35"))
        rows.append((f"test accuracy after {epochs} epochs ({label})", a["sklearn"],
                     a["skdigitnet"], "within noise"))
    res = alternate(repeats, lambda w, r: timed_fit(
        w, X, y, Xt, yt, settle, defaults=True, max_iter=epochs, random_state=r))
    t = {w: median(v[0] for v in res[w]) for w in res}
    rows.append(("fit, ms per epoch (defaults: adam / relu, batch_size='auto')",
                 1e3 * t["sklearn"], 1e3 * t["skdigitnet"], "<= 0.35"))
    return rows


class _TimeToAccuracy:
    """A scikit-learn callback: after each epoch, the test accuracy; stops training once
    it reaches ``target``. Its own time is left out of the fit's (``spent``)."""

    def __init__(self, X_test, y_test, target):
        self.X_test, self.y_test, self.target = X_test, y_test, target
        self.spent, self.reached, self.epochs = 0.0, None, 0

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        if context.task_name != "epoch":
            return False
        tic = time.perf_counter()
        self.epochs += 1
        accuracy = fitted_estimator.score(self.X_test, self.y_test)
        if accuracy >= self.target and self.reached is None:
            self.reached = tic
        self.spent += time.perf_counter() - tic
        return self.reached is not None


def time_to_accuracy_rows(raw, data, repeats, settle, target=0.97):
    """Seconds to ``target`` test accuracy: our defaults with DigitNormalizer, from the
    uint8 images, against MLPClassifier(16, 16)'s whole default fit on [0, 1] pixels."""
    from sklearn.neural_network import MLPClassifier

    from skdigitnet import DigitMLPClassifier, DigitNormalizer
    if not hasattr(DigitMLPClassifier(), "set_callbacks"):
        print("time to accuracy: needs scikit-learn's callbacks (1.9 or later); left out")
        return []
    X_raw, y, Xt_raw, yt = raw
    X, _, Xt, _ = data
    Xt_normal = DigitNormalizer().fit_transform(Xt_raw)  # prediction's work: not timed
    seconds = {"sklearn": [], "skdigitnet": []}
    accuracy = {"sklearn": [], "skdigitnet": []}
    for r in range(repeats):
        for which in ("sklearn", "skdigitnet") if r % 2 == 0 else ("skdigitnet", "sklearn"):
            time.sleep(settle)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if which == "sklearn":
                    tic = time.perf_counter()
                    est = MLPClassifier(hidden_layer_sizes=(16, 16), random_state=r).fit(X, y)
                    seconds[which].append(time.perf_counter() - tic)
                    accuracy[which].append(est.score(Xt, yt))
                    continue
                watch = _TimeToAccuracy(Xt_normal, yt, target)
                clf = DigitMLPClassifier(random_state=r).set_callbacks(watch)
                tic = time.perf_counter()
                clf.fit(DigitNormalizer().fit_transform(X_raw), y)
                end = watch.reached if watch.reached is not None else time.perf_counter()
                seconds[which].append(end - tic - watch.spent if watch.reached else np.inf)
                accuracy[which].append(clf.score(Xt_normal, yt))
    t = {w: median(v) for w, v in seconds.items()}
    a = {w: median(v) for w, v in accuracy.items()}
    return [((f"time to {target:.0%} test accuracy, s (ours: defaults, DigitNormalizer "
              "included; theirs: whole default fit)"), t["sklearn"], t["skdigitnet"],
             "<= 0.35"),
            ("test accuracy reached (theirs: after the whole default fit)", a["sklearn"],
             a["skdigitnet"], f">= {target:.2f} (ours)")]


def lbfgs_rows(data, repeats, settle):
    X, y, Xt, yt = data
    res = alternate(repeats, lambda w, r: timed_fit(
        w, X[:20000], y[:20000], Xt, yt, settle, solver="lbfgs", max_iter=15, random_state=r))
    t = {w: median(v[0] for v in res[w]) for w in res}
    return [("fit, ms per L-BFGS iteration (20,000 images)", 1e3 * t["sklearn"],
             1e3 * t["skdigitnet"], "<= 1.0")]


def predict_rows(data, repeats):
    X, y, Xt, _ = data
    models = {w: make(w, max_iter=1, random_state=0) for w in ("sklearn", "skdigitnet")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in models.values():
            m.fit(X, y)

    def run(which, r):
        tic = time.perf_counter()
        models[which].predict_proba(Xt)
        return (time.perf_counter() - tic,)
    res = alternate(max(repeats * 5, 11), run)
    t = {w: median(v[0] for v in res[w]) for w in res}
    # a diagnostic: each estimator's calls back to back, after a pause of 0.3 s and ten
    # untimed calls (on a virtual machine the idle second core takes some 40 ms of
    # steady work to run at full speed again), so that ours never starts while
    # OpenBLAS's worker still spins after MLPClassifier's product: it has both cores
    alone = {}
    for which in res:
        time.sleep(0.3)
        for r in range(10):
            run(which, r)
        alone[which] = median(run(which, r)[0] for r in range(max(repeats * 5, 31)))
    return [(f"predict_proba, ms for {len(Xt):,} images", 1e3 * t["sklearn"],
             1e3 * t["skdigitnet"], "<= 0.45"),
            ((f"predict_proba, ms for {len(Xt):,} images, each estimator's calls back to "
              "back"), 1e3 * alone["sklearn"], 1e3 * alone["skdigitnet"], "diagnostic")]


CHILD = r"""
import json, sys, tracemalloc, warnings
import numpy as np
sys.path.insert(0, {root!r})
sys.path.insert(0, {bench!r})
from bench_vs_sklearn import load, make
X, y, Xt, yt, _ = load({data!r})
task = {task!r}
if task["dtype"] == "float32":
    X = (X / np.float32(255)).astype(np.float32)
    Xt = (Xt / np.float32(255)).astype(np.float32)
est = make(task["which"], max_iter=1, random_state=0)
warnings.simplefilter("ignore")
if task["what"] == "predict":
    est.fit(X[:2000], y[:2000])
    X = np.tile(Xt, (task["rows"] // len(Xt) + 1, 1))[: task["rows"]]
else:  # warm up: one-time loading (imports, compiled kernels) is not per-fit memory
    make(task["which"], max_iter=1, random_state=0).fit(X[:6000], y[:6000])
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
if task["what"] == "fit":
    est.fit(X, y)
else:
    est.predict_proba(X)
print(json.dumps((tracemalloc.get_traced_memory()[1] - base) / 2**20))
"""


def peak_mb(which, what, dtype, data_dir, rows=0):
    task = dict(which=which, what=what, dtype=dtype, rows=rows)
    code = CHILD.format(root=str(ROOT), bench=str(Path(__file__).parent), data=data_dir,
                        task=task)
    done = subprocess.run([sys.executable, "-c", code],  # noqa: S603 - our own child script
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_rows(data_dir, predict_rows_count):
    rows = []
    for dtype, target in (("uint8", "<= 0.05"), ("float32", "<= 1.0")):
        mb = {w: peak_mb(w, "fit", dtype, data_dir) for w in ("sklearn", "skdigitnet")}
        rows.append((f"fit, peak extra MB ({dtype} images)", mb["sklearn"], mb["skdigitnet"],
                     target))
    mb = {w: peak_mb(w, "predict", "float32", data_dir, predict_rows_count)
          for w in ("sklearn", "skdigitnet")}
    rows.append((f"predict_proba, peak extra MB ({predict_rows_count:,} float32 rows)",
                 mb["sklearn"], mb["skdigitnet"], "bounded"))
    return rows


def cpu_name():
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine():
    cpu = cpu_name()
    from importlib.metadata import version

    import sklearn

    from skdigitnet._engine import compiled_enabled
    kernels = f"numba {version('numba')}" if compiled_enabled() else "off (numpy only)"
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"numpy {np.__version__}, scikit-learn {sklearn.__version__}; "
            f"compiled kernels: {kernels}")


def warm_up(data):
    """One small fit (6,000 images: enough for the compiled kernels) of each
    configuration and estimator, timed: the first fit in a process loads (or, after
    installing, compiles) the kernels; later fits do not."""
    X, y = data[0][:6000], data[1][:6000]  # enough rows for the compiled kernels
    seconds = {}
    for which in ("sklearn", "skdigitnet"):
        tic = time.perf_counter()
        for params in (dict(solver="adam", activation="relu"),
                       dict(solver="sgd", activation="logistic"), dict(solver="lbfgs")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                make(which, max_iter=2, random_state=0, **params).fit(X, y)
        seconds[which] = time.perf_counter() - tic
    return seconds


def table(rows):
    lines = ["| measure | MLPClassifier | DigitMLPClassifier | ratio | target |",
             "|---|---:|---:|---:|---|"]
    for name, theirs, ours, target in rows:
        fmt = "{:.4f}" if "accuracy" in name and "time" not in name else "{:.1f}"
        ratio = "" if "accuracy" in name and "time" not in name else f"{ours / theirs:.2f}"
        lines.append(f"| {name} | {fmt.format(theirs)} | {fmt.format(ours)} | {ratio} | "
                     f"{target} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 repeats, 200,000 rows")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="seconds to pause before each timed fit, a diagnostic "
                             "(default 0: each fit starts right after the previous work)")
    parser.add_argument("--skip-time-to-accuracy", action="store_true",
                        help="leave out the time-to-97%% row (the slowest)")
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    X, y, Xt, yt, name = load(args.data)
    scale = np.float32(255)
    data = ((X / scale).astype(np.float32), y, (Xt / scale).astype(np.float32), yt)
    print(f"data: {name}, {len(X):,} training and {len(Xt):,} test images of {X.shape[1]} "
          f"pixels; {args.epochs} epochs, batch 200, medians of {repeats} alternated runs, "
          f"{args.settle:g} s pause before each timed fit")
    print(f"machine: {machine()}")
    first = warm_up(data)
    print(f"first small fits in this process (not in the table): MLPClassifier "
          f"{first['sklearn']:.2f} s, DigitMLPClassifier {first['skdigitnet']:.2f} s\n")
    rows = fit_rows(data, args.epochs, repeats, args.settle)
    rows += lbfgs_rows(data, max(repeats // 2, 1), args.settle)
    rows += predict_rows(data, repeats)
    if not args.skip_time_to_accuracy:
        rows += time_to_accuracy_rows((X, y, Xt, yt), data, 1 if args.quick else 2,
                                      args.settle)
    rows += memory_rows(args.data, 200_000 if args.quick else 1_000_000)
    print(table(rows))


if __name__ == "__main__":
    main()
