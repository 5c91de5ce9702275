"""What a validation set costs per epoch, for each ``scoring``, next to MLPClassifier.

MNIST, the default network (784-16-16-10, float32, adam), 54,000 training images and a
validation set of 6,000 (``fit(X, y, X_val=..., y_val=...)``), a few epochs each with
the stopping rule off. Two tables:

- seconds per epoch (median over the epochs after the first, from ``history_``): no
  validation set, then each ``scoring``;
- one evaluation of the validation set alone (median of ``--repeats``): the forward pass
  and the loss every scoring needs, each scoring's whole evaluation, and what
  MLPClassifier(16, 16) runs after each epoch with ``early_stopping=True`` (its
  ``score`` of the validation set, the accuracy), on the same weights.

    python benchmarks/bench_validation.py [--data FOLDER] [--epochs 4] [--repeats 15]
"""

import argparse
import sys
import time
import warnings
from pathlib import Path
from statistics import median

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist"


def worst_class_recall(estimator, X, y):
    """A scoring callable: the recall of the class the network gets most wrong."""
    predicted = estimator.predict(X)
    return min(np.mean(predicted[y == c] == c) for c in np.unique(y))


SCORINGS = [None, "loss", "balanced_accuracy", "neg_log_loss", worst_class_recall]


def name(scoring):
    return getattr(scoring, "__name__", repr(scoring))


def seconds_per_epoch(history):
    return median(row["seconds"] for row in history[1:])


def epoch_table(X, y, X_val, y_val, epochs):
    from sklearn.exceptions import ConvergenceWarning

    from skdigitnet import DigitMLPClassifier

    params = dict(max_iter=epochs, n_iter_no_change=np.inf, random_state=0)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = DigitMLPClassifier(**params).fit(X, y)
        rows.append(("no validation set", seconds_per_epoch(plain.history_)))
        for scoring in SCORINGS:
            clf = DigitMLPClassifier(scoring=scoring, **params).fit(X, y, X_val=X_val,
                                                                    y_val=y_val)
            rows.append((f"scoring={name(scoring)}", seconds_per_epoch(clf.history_)))
    base = rows[0][1]
    print(f"\nseconds per epoch ({len(X):,} training rows, {len(X_val):,} validation rows)")
    print(f"{'':<40}{'s/epoch':>9}{'+ vs none':>11}")
    for label, seconds in rows:
        print(f"{label:<40}{seconds:>9.3f}{seconds - base:>+11.3f}")


def evaluation_table(X, y, X_val, y_val, repeats):
    from skdigitnet import DigitMLPClassifier, to_mlpclassifier
    from skdigitnet._engine import predict_layer
    from skdigitnet._neural_network.network import pack, total_loss
    from skdigitnet._neural_network.validation_score import validation_evaluator, validation_set

    clf = DigitMLPClassifier(max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    arch, theta = clf._arch, pack(clf.coefs_, clf.intercepts_, clf.coefs_[0].dtype)
    val = validation_set(X_val, y_val, clf.classes_, "multiclass", arch.output, theta.dtype)

    def timed(call):
        call()
        times = []
        for _ in range(repeats):
            tic = time.perf_counter()
            call()
            times.append(time.perf_counter() - tic)
        return median(times) * 1e3

    P = predict_layer(arch, clf.coefs_, clf.intercepts_, val.X, len(arch.units) - 1)
    rows = [("forward pass (predict_layer)",
             timed(lambda: predict_layer(arch, clf.coefs_, clf.intercepts_, val.X,
                                         len(arch.units) - 1))),
            ("validation loss of its output (total_loss)",
             timed(lambda: total_loss(arch, val.Y, P)))]
    for scoring in SCORINGS:
        evaluate = validation_evaluator(arch, val, clf.classes_, "multiclass", scoring,
                                        lambda t: clf)
        rows.append((f"evaluator, scoring={name(scoring)}",
                     timed(lambda evaluate=evaluate: evaluate(theta))))
    mlp = to_mlpclassifier(clf)  # the same weights in MLPClassifier
    rows.append(("MLPClassifier: score(X_val, y_val)", timed(lambda: mlp.score(X_val, y_val))))
    print(f"\none evaluation of {len(X_val):,} validation rows (median of {repeats})")
    for label, ms in rows:
        print(f"{label:<48}{ms:>8.2f} ms")
    print("(the scorers' snapshot estimator is left out here: the fitted one stands in)")


def main(argv=None):
    from skdigitnet import load_mnist

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    X, y = load_mnist(args.data, return_X_y=True)
    X = (X / np.float32(255)).astype(np.float32)
    rng = np.random.RandomState(0)
    order = rng.permutation(len(X))
    train, val = order[:54000], order[54000:]
    epoch_table(X[train], y[train], X[val], y[val], args.epochs)
    evaluation_table(X[train], y[train], X[val], y[val], args.repeats)


if __name__ == "__main__":
    main()
