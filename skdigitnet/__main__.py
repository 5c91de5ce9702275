"""The command line.

    python -m skdigitnet                 train the seed network on the bundled digits, report
    python -m skdigitnet train ...       train, save the model and its pictures
    python -m skdigitnet predict ...     read digit images, print the digit and probabilities
    python -m skdigitnet inspect ...     pictures of a saved model
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split

from . import __version__
from ._classifier import DigitMLPClassifier
from ._datasets import load_digits, load_mnist
from ._persistence import load_model, save_model
from ._preprocessing import DigitNormalizer, normalize_images

def _network_options(parser, epochs):
    parser.add_argument("--activation", default="relu", help="hidden activation (default: relu)")
    parser.add_argument("--hidden", default="16,16", help="hidden layer sizes (default: 16,16)")
    parser.add_argument("--max-iter", "--epochs", dest="max_iter", type=int, default=epochs,
                        help=f"epochs at most (default: {epochs})")
    parser.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m skdigitnet",
        description="The digit network of 'But what is a neural network?'. Without a "
        "command: train it (784 pixels, two hidden layers of 16, 10 outputs) on "
        "scikit-learn's bundled digits, normalised to MNIST-style 28x28 images, and report.")
    commands = parser.add_subparsers(dest="command", metavar="{train,predict,inspect}")
    demo = commands.add_parser("demo", help="the default: train on the bundled digits, report")
    train = commands.add_parser("train", help="train a network, save it and its pictures")
    predict = commands.add_parser("predict", help="read digit images with a saved network")
    inspect = commands.add_parser("inspect", help="draw the pictures of a saved network")
    for p in (parser, demo):
        _network_options(p, 200)
        p.add_argument("--no-deskew", dest="deskew", action="store_false",
                       help="do not deskew the images")
    _network_options(train, 30)
    train.add_argument("--data", choices=("digits", "mnist"), default="digits",
                       help="bundled digits (default) or MNIST")
    train.add_argument("--data-home", help="folder of MNIST IDX files (else SKDIGITNET_DATA "
                       "or a download)")
    train.add_argument("--out", default="skdigitnet-model", help="output folder "
                       "(default: skdigitnet-model)")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    predict.add_argument("model", help="a model file saved by 'train' (model.npz)")
    predict.add_argument("images", nargs="+", help="image files (PNG, JPEG...) of digits")
    inspect.add_argument("model", help="a model file saved by 'train' (model.npz)")
    inspect.add_argument("--out", default=".", help="folder for the PNG files (default: .)")
    inspect.add_argument("--image", help="an image file to show passing through the network")
    return parser


def _hidden(text):
    return tuple(int(h) for h in text.split(",") if h.strip())


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
      f"({'deskewed' if deskew else 'not deskewed'}, DigitNormalizer); {len(X_train):,} to "
      f"train, {len(X_test):,} to test")
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


def _training_data(args):
    if args.data == "digits":
        X, y = load_digits(return_X_y=True)
        return train_test_split(X, y, test_size=0.25, stratify=y, random_state=args.random_state)
    print("normalising MNIST (deskewed 28x28 images)...", flush=True)
    norm = DigitNormalizer()
    X, y = load_mnist(args.data_home, return_X_y=True)
    X_test, y_test = load_mnist(args.data_home, subset="test", return_X_y=True)
    return norm.fit_transform(X), norm.transform(X_test), y, y_test


def _watch(clf, quiet):
    """Progress during fit: scikit-learn's ProgressBar when it can draw, else one line per
    epoch."""
    if quiet:
        return clf
    try:
        from sklearn.callback import ProgressBar
        return clf.set_callbacks(ProgressBar())
    except ImportError:
        return clf.set_params(verbose=True)


def train(args):
    X, X_test, y, y_test = _training_data(args)
    clf = DigitMLPClassifier(_hidden(args.hidden), args.activation, max_iter=args.max_iter,
                             random_state=args.random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _watch(clf, args.quiet).fit(X, y)
    if hasattr(clf, "set_callbacks"):
        clf.set_callbacks()  # the progress bar was for this fit only
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_model(clf, out / "model.npz")
    print(clf.summary())
    print(f"test accuracy: {clf.score(X_test, y_test):.2%} after {clf.n_iter_} epochs")
    _pictures(clf, out, X_test[0])
    print(f"saved {out / 'model.npz'} and weights.png, activations.png, loss.png in {out}")
    return clf


def _pictures(clf, out, sample=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._plotting import ActivationsDisplay, LossCurveDisplay, WeightImagesDisplay
    written = []
    for name, make in (("weights", lambda: WeightImagesDisplay.from_estimator(clf)),
                       ("loss", lambda: LossCurveDisplay.from_estimator(clf)),
                       ("activations", None if sample is None
                        else lambda: ActivationsDisplay.from_estimator(clf, sample))):
        if make is not None:
            make().figure_.savefig(out / f"{name}.png", dpi=100, bbox_inches="tight")
            written.append(out / f"{name}.png")
            plt.close("all")
    return written


def read_image(path):
    """A digit image file as an array (h, w) or, in colour, (h, w, 3 or 4);
    ``normalize_images`` turns colour to grey."""
    import matplotlib.image
    return np.asarray(matplotlib.image.imread(path), dtype=float)


def predict(args):
    clf = load_model(args.model)
    images = normalize_images([read_image(path) for path in args.images])
    for path, proba in zip(args.images, clf.predict_proba(images)):
        best = int(np.argmax(proba))
        listed = " ".join(f"{c}:{p:.2f}" for c, p in zip(clf.classes_, proba))
        print(f"{path}: {clf.classes_[best]} ({proba[best]:.1%})  [{listed}]")


def inspect(args):
    clf = load_model(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sample = None if args.image is None else normalize_images([read_image(args.image)])[0]
    print(clf.summary())
    for path in _pictures(clf, out, sample):
        print(f"wrote {path}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    if args.command in (None, "demo"):
        demo(args.activation, _hidden(args.hidden), args.max_iter, args.deskew,
             args.random_state)
    else:
        {"train": train, "predict": predict, "inspect": inspect}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
