"""Every network a grid search tries, and a grid search itself, against MLPClassifier.

Two tables, ratios ours / MLPClassifier measured in one run:

- networks: (16, 16), (64,), (128, 64), (256, 128), (800,) relu, (128, 64) logistic and
  (100,) tanh on MNIST (float32 pixels in [0, 1]), batch 200, alpha 1e-4. Each fit runs
  ``--epochs`` epochs after an untimed warm-up fit; fit time per epoch and predict_proba
  time for the 10,000 test images, medians of runs alternating A B A B with no pause
  (each starts right after the other estimator's work, as in a grid search);
- grid search: ``GridSearchCV(est, {"hidden_layer_sizes": [(16, 16), (64,), (128, 64)],
  "alpha": [1e-4, 1e-2]}, cv=3, n_jobs=2)`` with ``max_iter=5, batch_size=200`` on 20,000
  MNIST images, wall time of the whole search: as searches run in a session (joblib keeps
  its two worker processes between searches), and in new worker processes each time (a
  session's first search: each worker starts Python, imports scikit-learn, and for ours
  numba, and loads the compiled code), and in a new Python process each time (a
  script's search: the process that refits the best candidate starts cold too).

    python benchmarks/bench_networks.py                  # both tables, some minutes
    python benchmarks/bench_networks.py --only networks  # or --only grid
"""

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from statistics import median

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from bench_vs_sklearn import DEFAULT_DATA, load, machine  # noqa: E402

NETWORKS = [((16, 16), "relu"), ((64,), "relu"), ((128, 64), "relu"), ((256, 128), "relu"),
            ((800,), "relu"), ((128, 64), "logistic"), ((100,), "tanh")]
GRID = {"hidden_layer_sizes": [(16, 16), (64,), (128, 64)], "alpha": [1e-4, 1e-2]}


def estimator(which, **params):
    from sklearn.neural_network import MLPClassifier

    from skdigitnet import DigitMLPClassifier
    return (MLPClassifier if which == "sklearn" else DigitMLPClassifier)(**params)


def alternate(repeats, run):
    """run(which) -> number; A B A B ...; returns {which: [numbers]}."""
    out = {"sklearn": [], "skdigitnet": []}
    for r in range(repeats):
        for which in ("sklearn", "skdigitnet") if r % 2 == 0 else ("skdigitnet", "sklearn"):
            out[which].append(run(which))
    return out


def timed_fit(which, params, X, y, fitted):
    """Seconds per epoch of one fit; the fitted estimator kept in ``fitted[which]``."""
    est = estimator(which, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tic = time.perf_counter()
        est.fit(X, y)
    fitted[which] = est
    return (time.perf_counter() - tic) / est.n_iter_


def timed_predict(est, X):
    tic = time.perf_counter()
    est.predict_proba(X)
    return time.perf_counter() - tic


def network_rows(data, epochs, repeats):
    X, y, X_test, _ = data
    rows = []
    for hidden, activation in NETWORKS:
        params = dict(hidden_layer_sizes=hidden, activation=activation, batch_size=200,
                      alpha=1e-4, random_state=0)
        fitted = {}
        for which in ("sklearn", "skdigitnet"):  # warm-up: loading, compiling
            timed_fit(which, {**params, "max_iter": 1}, X[:6000], y[:6000], fitted)
        fits = alternate(repeats, lambda w, p={**params, "max_iter": epochs}, f=fitted:
                         timed_fit(w, p, X, y, f))
        predicts = alternate(max(3 * repeats, 7), lambda w, f=fitted: timed_predict(f[w],
                                                                                      X_test))
        f = {w: 1e3 * median(v) for w, v in fits.items()}
        p = {w: 1e3 * median(v) for w, v in predicts.items()}
        rows.append((f"{hidden} {activation}", f["sklearn"], f["skdigitnet"],
                     p["sklearn"], p["skdigitnet"]))
        print(f"  {hidden} {activation}: fit {f['skdigitnet'] / f['sklearn']:.2f}, "
              f"predict_proba {p['skdigitnet'] / p['sklearn']:.2f}", flush=True)
    return rows


def network_table(rows):
    lines = [("| network | fit ms/epoch, MLPClassifier | ours | ratio | predict_proba ms, "
              "MLPClassifier | ours | ratio |"), "|---|---:|---:|---:|---:|---:|---:|"]
    for name, f_theirs, f_ours, p_theirs, p_ours in rows:
        lines.append(f"| {name} | {f_theirs:.1f} | {f_ours:.1f} | {f_ours / f_theirs:.2f} | "
                     f"{p_theirs:.1f} | {p_ours:.1f} | {p_ours / p_theirs:.2f} |")
    return "\n".join(lines)


def grid_seconds(which, X, y, fresh):
    """Wall time of the whole search, in joblib's worker processes as they are, or with
    ``fresh`` in new ones."""
    from joblib.externals.loky import get_reusable_executor
    from sklearn.model_selection import GridSearchCV
    if fresh:
        get_reusable_executor().shutdown(wait=True)  # new workers: they load everything
    search = GridSearchCV(estimator(which, max_iter=5, batch_size=200, random_state=0),
                          GRID, cv=3, n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tic = time.perf_counter()
        search.fit(X, y)
    return time.perf_counter() - tic, search.best_score_


SCRIPT = r"""
import sys, time, warnings
import numpy as np
sys.path.insert(0, {root!r})
sys.path.insert(0, {benchmarks!r})
from bench_networks import GRID, estimator
from sklearn.model_selection import GridSearchCV
data = np.load({path!r})
search = GridSearchCV(estimator({which!r}, max_iter=5, batch_size=200, random_state=0),
                      GRID, cv=3, n_jobs=2)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    tic = time.perf_counter()
    search.fit(data["X"], data["y"])
print(time.perf_counter() - tic, search.best_score_)
"""


def script_seconds(which, path):
    """Wall time of the search in a new Python process (as a user's script runs it):
    the process itself and its workers start with nothing loaded. The data are read
    before the clock starts."""
    code = SCRIPT.format(root=str(ROOT), benchmarks=str(Path(__file__).parent), path=path,
                         which=which)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,  # noqa: S603
                          check=True)
    seconds, score = done.stdout.split()[-2:]
    return float(seconds), float(score)


def grid_table(data, repeats):
    X, y = data[0][:20000], data[1][:20000]
    lines = ["| GridSearchCV, n_jobs=2, 20,000 images | MLPClassifier | ours | ratio | target |",
             "|---|---:|---:|---:|---|"]
    for which in ("sklearn", "skdigitnet"):  # the workers start and load, untimed
        grid_seconds(which, X, y, fresh=False)
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "grid.npz")
        np.savez(path, X=X, y=y)
        modes = (("wall time, s, workers kept between searches", "<= 0.5",
                  lambda which: grid_seconds(which, X, y, False)),
                 ("wall time, s, new workers each search", "diagnostic",
                  lambda which: grid_seconds(which, X, y, True)),
                 ("wall time, s, a new script each search", "diagnostic",
                  lambda which: script_seconds(which, path)))
        for name, target, run in modes:
            results = alternate(repeats, run)
            t = {w: median(s for s, _ in v) for w, v in results.items()}
            ratio = t["skdigitnet"] / t["sklearn"]
            lines.append(f"| {name} | {t['sklearn']:.1f} | {t['skdigitnet']:.1f} | "
                         f"{ratio:.2f} | {target} |")
    score = {w: median(b for _, b in v) for w, v in results.items()}
    lines.append(f"| best cross-validated accuracy | {score['sklearn']:.4f} | "
                 f"{score['skdigitnet']:.4f} | | |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=("networks", "grid"))
    args = parser.parse_args(argv)
    X, y, X_test, y_test, name = load(args.data)
    scale = np.float32(255)
    data = ((X / scale).astype(np.float32), y, (X_test / scale).astype(np.float32), y_test)
    print(f"data: {name}; machine: {machine()}")
    if args.only in (None, "networks"):
        print(f"networks: {args.epochs} epochs a fit, medians of {args.repeats} alternated "
              "fits and of the predictions after them")
        print(network_table(network_rows(data, args.epochs, args.repeats)))
    if args.only in (None, "grid"):
        print(f"\ngrid search: medians of {args.repeats} alternated searches")
        print(grid_table(data, args.repeats))


if __name__ == "__main__":
    main()
