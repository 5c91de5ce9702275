"""The command line: ``python -m skdigitnet`` trains the seed network on the bundled digits."""

import argparse
import sys
import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split

from . import __version__
from ._classifier import DigitMLPClassifier
from ._datasets import load_digits


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m skdigitnet",
        description="Train the 3Blue1Brown digit network (784 pixels, two hidden layers of "
        "16 neurons, 10 outputs) on scikit-learn's bundled digits, normalised to "
        "MNIST-style 28x28 images, and report what it learned.",
    )
    parser.add_argument("--activation", default="relu", help="hidden activation (default: relu)")
    parser.add_argument("--hidden", default="16,16", help="hidden layer sizes (default: 16,16)")
    parser.add_argument("--max-iter", type=int, default=200, help="epochs (default: 200)")
    parser.add_argument("--no-deskew", dest="deskew", action="store_false",
                        help="do not deskew the images")
    parser.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    return parser


def demo(activation="relu", hidden=(16, 16), max_iter=200, deskew=True, random_state=0,
         out=None):
    """Train on the bundled digits; print the network, fit time, accuracy and confusion."""
    out = sys.stdout if out is None else out
    p = lambda *a: print(*a, file=out)  # noqa: E731
    X, y = load_digits(return_X_y=True, deskew=deskew)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=random_state)
    clf = DigitMLPClassifier(hidden, activation, max_iter=max_iter, random_state=random_state)
    tic = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(X_train, y_train)
    seconds = time.perf_counter() - tic
    p(f"skdigitnet {__version__}: the digit network of 'But what is a neural network?'")
    p(f"data: {len(X):,} bundled 8x8 digits, normalised to MNIST-style 28x28 images "
      f"({'deskewed' if deskew else 'not deskewed'}, DigitNormalizer); {len(X_train):,} to train, "
      f"{len(X_test):,} to test")
    p()
    p(clf.summary())
    p()
    stopped = "max_iter reached" if caught else "loss stopped improving"
    p(f"fit: {clf.n_iter_} epochs in {seconds:.2f} s ({clf.solver}, {stopped}), "
      f"final loss {clf.loss_:.4f}")
    p(f"test accuracy: {clf.score(X_test, y_test):.2%}")
    p()
    p("confusion matrix (rows: true digit, columns: predicted digit)")
    cm = confusion_matrix(y_test, clf.predict(X_test), labels=clf.classes_)
    p("     " + "".join(f"{c:>4}" for c in clf.classes_))
    for label, row in zip(clf.classes_, cm):
        p(f"{label:>4} " + "".join(f"{v:>4}" for v in row))
    return clf


def main(argv=None):
    args = _parser().parse_args(argv)
    hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
    demo(args.activation, hidden, args.max_iter, args.deskew, args.random_state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
