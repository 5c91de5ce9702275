"""The commands behind ``python -m skdigitnet``: demo, train, predict, inspect and serve.

Each command takes the parsed options (see ``__main__.py``) and returns an exit status:
0 when everything asked for was done, 1 when some of it was not (a blank image, a picture
that could not be drawn). User errors are raised as ``CommandError``, ``ValueError``,
``TypeError`` or ``OSError``; ``main`` prints them on one line and exits with status 2.
Results go to stdout; progress and per-file problems go to stderr.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split

from . import __version__
from ._classifier import DigitMLPClassifier
from ._datasets import MNIST_FILES, find_idx, load_digits, load_mnist
from ._io import read_image
from ._persistence import load_model, save_model
from ._playground_api import load_pretrained
from ._preprocessing import DigitNormalizer, normalize_images

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from ._typing import NDArray

#: How to get the optional plotting dependency.
PLOT_INSTALL = 'pip install "skdigitnet[plot]" (or pip install ".[plot]" in a source checkout)'
MNIST_CHUNK = 5000


class CommandError(Exception):
    """A user error found by the command line itself; its message is one line."""


def _say(*parts: object) -> None:
    """Print a diagnostic line on stderr, prefixed with the program's name."""
    print("skdigitnet:", *parts, file=sys.stderr, flush=True)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type's name when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def report_error(exc: BaseException, debug: bool = False, context: str = "") -> None:
    """An error as one line on stderr (``context`` first), after its traceback when
    ``debug``."""
    if debug:
        traceback.print_exception(exc)
    _say(f"error: {context}{one_line(exc)}")


def demo(activation: str = "relu", hidden: Sequence[int] = (16, 16), max_iter: int = 200,
         deskew: bool = True, random_state: int = 0,
         out: TextIO | None = None) -> DigitMLPClassifier:
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


def run_demo(args: argparse.Namespace) -> int:
    """The ``demo`` command (also what runs without a command)."""
    demo(args.activation, args.hidden, args.max_iter, args.deskew, args.random_state)
    return 0


def _progress(label: str, total: int, quiet: bool) -> Callable[[int], None]:
    """A function ``report(done)`` writing "label: done/total" on stderr: one line
    rewritten in place on a terminal, otherwise a line at each quarter."""
    tty = sys.stderr.isatty()
    quarters = [total * q // 4 for q in (1, 2, 3, 4)]

    def report(done: int) -> None:
        text = f"{label}: {done:,}/{total:,}"
        if quiet:
            return
        if tty:
            print("\r" + text, end="\n" if done >= total else "", file=sys.stderr, flush=True)
        elif quarters and done >= quarters[0]:
            while quarters and done >= quarters[0]:
                quarters.pop(0)
            print(text, file=sys.stderr, flush=True)
    return report


def _normalise_mnist(parts: Sequence[NDArray[Any]], deskew: bool,
                     quiet: bool) -> list[NDArray[Any]]:
    """Each uint8 array of ``parts`` through DigitNormalizer, in chunks, with progress."""
    normalizer = DigitNormalizer(deskew=deskew)
    report = _progress("normalising MNIST", sum(len(X) for X in parts), quiet)
    done, normalised = 0, []
    for X in parts:
        chunks = []
        for start in range(0, len(X), MNIST_CHUNK):
            chunks.append(normalizer.transform(X[start:start + MNIST_CHUNK]))
            done += len(chunks[-1])
            report(done)
        normalised.append(np.concatenate(chunks))
    return normalised


def _training_data(args: argparse.Namespace) -> tuple[Any, Any, Any, Any]:
    """(X_train, X_test, y_train, y_test) as MNIST-style 28x28 images."""
    if args.data == "digits":
        X, y = load_digits(return_X_y=True, deskew=args.deskew)
        return train_test_split(X, y, test_size=0.25, stratify=y, random_state=args.random_state)
    try:
        with warnings.catch_warnings():  # fetch_openml warns at each retry; the error suffices
            warnings.filterwarnings("ignore", "A network error occurred", UserWarning)
            X, y = load_mnist(args.data_home, subset="train", return_X_y=True)
            X_test, y_test = load_mnist(args.data_home, subset="test", return_X_y=True)
    except OSError as exc:  # the library's advice, in the command line's words
        raise CommandError(one_line(exc).replace(
            "pass load_mnist(data_home=that_folder)", "pass --data-home that_folder")) from exc
    X, X_test = _normalise_mnist([X, X_test], args.deskew, args.quiet)
    return X, X_test, y, y_test


def _watch(clf: DigitMLPClassifier, quiet: bool) -> DigitMLPClassifier:
    """Progress during fit: scikit-learn's ProgressBar when it can draw (rich installed),
    else one line per epoch."""
    if quiet:
        return clf
    try:
        from sklearn.callback import ProgressBar
        return clf.set_callbacks(ProgressBar())
    except ImportError:
        return clf.set_params(verbose=True)


def _check_writable(out: Path) -> None:
    """Refuse an output folder that cannot be made, before training rather than after."""
    resolved = out.resolve()
    existing = next(p for p in (resolved, *resolved.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise CommandError(f"cannot save in {out}: {existing} is not a folder this user can "
                           "write in")


def train(args: argparse.Namespace) -> int:
    """The ``train`` command: fit, save model.npz, report, draw pictures if it can."""
    out = Path(args.out)
    _check_writable(out)
    X, X_test, y, y_test = _training_data(args)
    clf = DigitMLPClassifier(args.hidden, args.activation, max_iter=args.max_iter,
                             random_state=args.random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _watch(clf, args.quiet).fit(X, y)
    if hasattr(clf, "set_callbacks"):
        clf.set_callbacks()  # the progress bar was for this fit only
    out.mkdir(parents=True, exist_ok=True)
    model = out / "model.npz"
    save_model(clf, model)
    print(clf.summary())
    print(f"test accuracy: {clf.score(X_test, y_test):.2%} after {clf.n_iter_} epochs")
    drawn, status = [model], 0
    try:
        drawn += draw_pictures(clf, out, X_test[0])
    except ImportError:
        print(f"pictures: not drawn, matplotlib is not installed; to draw them: {PLOT_INSTALL},"
              f" then python -m skdigitnet inspect {shlex.quote(str(model))}")
    except Exception as exc:  # noqa: BLE001 - the model is saved; say why pictures are not
        report_error(exc, args.debug, context="pictures not drawn: ")
        status = 1
    print(f"saved {', '.join(path.name for path in drawn)} in {out}")
    return status


def pyplot() -> ModuleType:
    """matplotlib.pyplot with the file-only Agg backend; ImportError without matplotlib."""
    import matplotlib as mpl
    mpl.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def draw_pictures(clf: DigitMLPClassifier, out: Path,
                  sample: NDArray[Any] | None = None) -> list[Path]:
    """Save weights.png, loss.png and, given a 784-pixel ``sample``, activations.png in
    ``out``; return their paths. Raises ImportError without matplotlib."""
    plt = pyplot()
    from ._plotting import ActivationsDisplay, LossCurveDisplay, WeightImagesDisplay
    makers: dict[str, Callable[[], WeightImagesDisplay | LossCurveDisplay | ActivationsDisplay]]
    makers = {"weights": lambda: WeightImagesDisplay.from_estimator(clf),
              "loss": lambda: LossCurveDisplay.from_estimator(clf)}
    if sample is not None:
        makers["activations"] = lambda: ActivationsDisplay.from_estimator(clf, sample)
    written = []
    for name, make in makers.items():
        try:
            figure = make().figure_  # a figure of its own, not a SubFigure: it saves
            figure.savefig(out / f"{name}.png", dpi=100,  # type: ignore[union-attr]
                           bbox_inches="tight")
        finally:
            plt.close("all")
        written.append(out / f"{name}.png")
    return written


def _normalise_one(image: NDArray[Any], deskew: bool) -> NDArray[Any] | None:
    """One image as an MNIST-style row (784,), or None when it shows no digit."""
    with warnings.catch_warnings():  # the caller names the blank file instead
        warnings.filterwarnings("ignore", message=".*blank", category=UserWarning)
        row = normalize_images([image], deskew=deskew)[0]
    return row if row.any() else None


def _model(path: str) -> DigitMLPClassifier:
    """A saved model that takes 28x28 images (784 inputs)."""
    clf = load_model(path)
    if clf.n_features_in_ != 784:
        raise CommandError(f"{path} takes {clf.n_features_in_} inputs per image; predict and "
                           "inspect need a model of 28x28 images (784 inputs)")
    return clf


def predict(args: argparse.Namespace) -> int:
    """The ``predict`` command: one line per digit image on stdout.

    Unreadable files (status 2) and blank images (status 1) get one line each on stderr;
    the other images are still predicted.
    """
    clf = load_pretrained() if args.model is None else _model(args.model)
    status = 0
    for path in args.images:
        try:
            row = _normalise_one(read_image(path), args.deskew)
        except ValueError as exc:
            report_error(exc, args.debug)
            status = 2
            continue
        if row is None:
            _say(f"{path}: no digit found (blank image)")
            status = max(status, 1)
            continue
        proba = clf.predict_proba(row[np.newaxis])[0]
        best = int(np.argmax(proba))
        listed = " ".join(f"{c}:{p:.2f}" for c, p in zip(clf.classes_, proba))
        print(f"{path}: {clf.classes_[best]} ({proba[best]:.1%})  [{listed}]", flush=True)
    return status


def inspect(args: argparse.Namespace) -> int:
    """The ``inspect`` command: the summary, and pictures saved in ``--out``."""
    try:
        pyplot()
    except ImportError:
        raise CommandError(f"inspect draws with matplotlib, which is not installed: "
                           f"{PLOT_INSTALL}") from None
    clf = _model(args.model)
    sample, status = None, 0
    if args.image is not None:
        sample = _normalise_one(read_image(args.image), args.deskew)
        if sample is None:
            _say(f"{args.image}: no digit found (blank image); activations.png not drawn")
            status = 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(clf.summary())
    for path in draw_pictures(clf, out, sample):
        print(f"wrote {path}")
    return status


def _mnist_here(args: argparse.Namespace) -> bool:
    """Whether ``serve --train`` should train on MNIST: --data-home given (its files
    must be there), or SKDIGITNET_DATA naming a folder that holds them. Never a download."""
    if args.data_home is not None:
        return True
    folder = os.environ.get("SKDIGITNET_DATA")
    return folder is not None and all(find_idx(folder, stem) for stem in MNIST_FILES.values())


def _train_to_serve(args: argparse.Namespace) -> DigitMLPClassifier:
    """``serve --train``: the seed network (784-16-16-10) trained now, and its score."""
    data = "mnist" if _mnist_here(args) else "digits"
    where = "MNIST" if data == "mnist" else "the bundled digits"
    _say(f"training 784-16-16-10 on {where} (serve --train)")
    training = argparse.Namespace(**{**vars(args), "data": data})
    X, X_test, y, y_test = _training_data(training)
    clf = DigitMLPClassifier(max_iter=200, random_state=args.random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    _say(f"trained: {clf.score(X_test, y_test):.2%} test accuracy after {clf.n_iter_} epochs")
    return clf


def run_serve(args: argparse.Namespace) -> int:
    """The ``serve`` command: the playground on ``--host``:``--port`` until Ctrl-C."""
    from sklearn.pipeline import make_pipeline

    from ._playground import serve
    clf: DigitMLPClassifier | Pipeline | None
    if args.train:
        clf = _train_to_serve(args)
    else:
        clf = None if args.model is None else _model(args.model)
    if not args.deskew:  # the drawing is normalised as the model's training images were
        clf = make_pipeline(DigitNormalizer(deskew=False), clf or load_pretrained())
    serve(clf, host=args.host, port=args.port, open_browser=args.open,
          data_home=args.data_home)
    return 0
