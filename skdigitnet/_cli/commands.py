"""The commands behind ``python -m skdigitnet``: demo, train, predict, inspect and serve.

Each command takes the parsed options (see ``main.py``) and returns an exit status:
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

from skdigitnet import __version__
from skdigitnet._datasets import MNIST_FILES, find_idx, load_digits, load_mnist
from skdigitnet._images.files import read_image
from skdigitnet._images.normalizer import DigitNormalizer, normalize_images
from skdigitnet._io.model_files import load_model, save_model
from skdigitnet._neural_network.classifier import DigitMLPClassifier
from skdigitnet._playground.api import load_pretrained

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from skdigitnet._typing import NDArray

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


class _EpochLines:
    """A scikit-learn callback (the callback API of scikit-learn 1.9): one line on stderr
    per epoch, ``epoch 3/30, loss 0.1234, 1.2 s``."""

    def __init__(self, max_epochs: int) -> None:
        self.max_epochs = max_epochs

    def setup(self, estimator: Any, context: Any) -> None:
        """Nothing to set up."""

    def teardown(self, estimator: Any, context: Any) -> None:
        """Nothing to tear down."""

    def on_fit_task_begin(self, estimator: Any, context: Any) -> None:
        """Nothing to say when an epoch begins."""

    def on_fit_task_end(self, estimator: Any, context: Any, *,
                        fitted_estimator: Any = None) -> bool:
        """Say how the epoch went; never stop training."""
        if context.task_name == "epoch" and fitted_estimator is not None:
            last = fitted_estimator.history_[-1]
            _say(f"epoch {last['epoch']}/{self.max_epochs}, loss {last['loss']:.4f}, "
                 f"{last['seconds']:.1f} s")
        return False


def _watch(clf: DigitMLPClassifier, quiet: bool) -> DigitMLPClassifier:
    """Progress during fit: a line per epoch on stderr (``_EpochLines``), or with
    scikit-learn older than 1.9, which has no callbacks, the estimator's verbose lines."""
    if quiet:
        return clf
    if hasattr(clf, "set_callbacks"):
        return clf.set_callbacks(_EpochLines(clf.max_iter))
    return clf.set_params(verbose=True)


def _prepare(X: Any, first_layer: int, quiet: bool) -> None:
    """Compile (once per machine) or load the compiled kernels a fit on ``X`` of a
    network whose first hidden layer has ``first_layer`` units, and its predictions,
    will use, saying so: compiling takes seconds, once."""
    from skdigitnet._engine import compiled, compiled_enabled, input_values
    from skdigitnet._neural_network.fit_input import model_dtype
    if not compiled_enabled(input_values(X)):
        return
    if not quiet:
        _say("preparing the compiled fast path (the first time on this machine, it "
             "compiles: some seconds, once) ...")
    tic = time.perf_counter()
    compiled.prepare(X.dtype, model_dtype(X.dtype), first_layer)
    if not quiet:
        _say(f"fast path ready in {time.perf_counter() - tic:.1f} s")


def _check_writable(out: Path) -> None:
    """Refuse an output folder that cannot be made, before training rather than after."""
    resolved = out.resolve()
    existing = next(p for p in (resolved, *resolved.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise CommandError(f"cannot save in {out}: {existing} is not a folder this user can "
                           "write in")


def _fit_network(args: argparse.Namespace, X: Any, y: Any) -> DigitMLPClassifier:
    """The network of the options (``--hidden``, ``--activation``, ``--epochs``,
    ``--random-state``) fitted on normalised images, with progress unless ``--quiet``:
    what ``train`` and ``serve --train`` both do."""
    clf = DigitMLPClassifier(args.hidden, args.activation, max_iter=args.max_iter,
                             random_state=args.random_state)
    _prepare(X, args.hidden[0], args.quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _watch(clf, args.quiet).fit(X, y)
    if hasattr(clf, "set_callbacks"):
        clf.set_callbacks()  # the progress bar was for this fit only
    return clf.set_params(verbose=False)


def train(args: argparse.Namespace) -> int:
    """The ``train`` command: fit, save model.npz, report, draw pictures if it can."""
    out = Path(args.out)
    _check_writable(out)
    X, X_test, y, y_test = _training_data(args)
    clf = _fit_network(args, X, y)
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
    from skdigitnet._inspection.displays import (
        ActivationsDisplay,
        LossCurveDisplay,
        WeightImagesDisplay,
    )
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


def _normalise_one(image: NDArray[Any], normalizer: DigitNormalizer) -> NDArray[Any] | None:
    """One image as an MNIST-style row (784,) by ``normalizer``'s options, or None when it
    shows no digit."""
    options = {k: v for k, v in normalizer.get_params().items() if k != "image_shape"}
    with warnings.catch_warnings():  # the caller names the blank file instead
        warnings.filterwarnings("ignore", message=".*blank", category=UserWarning)
        row = normalize_images([image], **options)[0]
    return row if row.any() else None


def _model(path: str) -> DigitMLPClassifier:
    """A saved model that takes 28x28 images (784 inputs)."""
    clf = load_model(path)
    if clf.n_features_in_ != 784:
        raise CommandError(f"{path} takes {clf.n_features_in_} inputs per image; predict and "
                           "inspect need a model of 28x28 images (784 inputs)")
    return clf


def _reader(path: str | None, deskew: bool) -> Pipeline:
    """The model that reads image files: the shipped pipeline, or the classifier saved in
    ``path`` behind a ``DigitNormalizer``; ``--no-deskew`` (``deskew`` False) turns the
    normaliser's deskewing off."""
    from sklearn.pipeline import make_pipeline
    model = load_pretrained() if path is None else make_pipeline(DigitNormalizer(),
                                                                 _model(path))
    return model.set_params(digitnormalizer__deskew=deskew)


def predict(args: argparse.Namespace) -> int:
    """The ``predict`` command: one line per digit image on stdout.

    Unreadable files (status 2) and blank images (status 1) get one line each on stderr;
    the other images are still predicted.
    """
    model = _reader(args.model, args.deskew)
    normalizer, clf = model[0], model[-1]
    status = 0
    for path in args.images:
        try:
            row = _normalise_one(read_image(path), normalizer)
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
    """The ``inspect`` command: the summary, and pictures saved in ``--out``. A wrong
    model file is reported before a missing matplotlib."""
    clf = _model(args.model)
    try:
        pyplot()
    except ImportError:
        raise CommandError(f"inspect draws with matplotlib, which is not installed: "
                           f"{PLOT_INSTALL}") from None
    sample, status = None, 0
    if args.image is not None:
        sample = _normalise_one(read_image(args.image), DigitNormalizer(deskew=args.deskew))
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


def _train_to_serve(args: argparse.Namespace) -> Pipeline:
    """``serve --train``: a network trained now as ``train`` trains it (the same options
    and progress), behind the normaliser its images went through."""
    from sklearn.pipeline import make_pipeline
    data = "mnist" if _mnist_here(args) else "digits"
    where = "MNIST" if data == "mnist" else "the bundled digits"
    layers = "-".join(map(str, (784, *args.hidden, 10)))
    _say(f"training {layers} ({args.activation}) on {where} for up to {args.max_iter} "
         "epochs (serve --train)")
    training = argparse.Namespace(**{**vars(args), "data": data})
    X, X_test, y, y_test = _training_data(training)
    clf = _fit_network(training, X, y)
    _say(f"trained: {clf.score(X_test, y_test):.2%} test accuracy after {clf.n_iter_} epochs")
    return make_pipeline(DigitNormalizer(deskew=args.deskew), clf)


def run_serve(args: argparse.Namespace) -> int:
    """The ``serve`` command: the playground on ``--host``:``--port`` until Ctrl-C."""
    from skdigitnet._playground.serve import serve
    model: Pipeline | None
    if args.train:
        model = _train_to_serve(args)
    elif args.model is None and args.deskew:
        model = None  # the shipped model, with what the page says about it
    else:  # the drawing is normalised as the model's training images were
        model = _reader(args.model, args.deskew)
    serve(model, host=args.host, port=args.port, open_browser=args.open,
          data_home=args.data_home)
    return 0
