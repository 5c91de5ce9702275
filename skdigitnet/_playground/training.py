"""Training from the playground's page: one background thread, its state, its snapshots.

:class:`TrainingSession` trains a new :class:`DigitMLPClassifier` with ``partial_fit``,
one chunk of rows per call (one batch of 50 on the bundled digits; on MNIST, a
hundredth of an epoch), so that Stop takes effect when the chunk in progress ends. At
the end of every epoch, and within an epoch at least every ``REPORT_SECONDS``, it scores
the network on the test images, appends a point to the curves and hands a *copy* of the
weights to ``publish`` (the playground's current network): the copy is packed in the
training thread between two ``partial_fit`` calls, so no reader ever sees weights
half-way through a step. Everything the page polls (``GET /api/train``) is read under
one lock.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from skdigitnet._neural_network.classifier import DigitMLPClassifier
from skdigitnet._neural_network.fitted import FittedNetwork
from skdigitnet._neural_network.network import pack
from skdigitnet._typing import NDArray

#: Seconds between two points of the curves (and weight snapshots) within an epoch.
REPORT_SECONDS = 0.25
#: Rows per minibatch, and at most this many ``partial_fit`` calls per epoch.
BATCH, CALLS_PER_EPOCH = 50, 100
DATASETS = {"digits": "the bundled digits", "mnist": "MNIST"}


@dataclass(frozen=True)
class TrainSettings:
    """A ``POST /api/train`` request, checked (see ``requests.parse_train``)."""

    data: str = "digits"
    hidden: tuple[int, ...] = (16, 16)
    activation: str = "relu"
    learning_rate: float = 0.001
    epochs: int = 30
    random_state: int = 0


class Dataset(NamedTuple):
    """Normalised 28x28 images (rows in [0, 1]) and labels, split for training."""

    X_train: NDArray[Any]
    y_train: NDArray[Any]
    X_test: NDArray[Any]
    y_test: NDArray[Any]


def mnist_folder(data_home: str | None) -> str | None:
    """The folder holding MNIST's four IDX files: ``data_home``, else the
    ``SKDIGITNET_DATA`` environment variable, when the files are there; else None.
    Never a download."""
    from skdigitnet._datasets import MNIST_FILES, find_idx
    folder = data_home if data_home is not None else os.environ.get("SKDIGITNET_DATA")
    if folder is None or not all(find_idx(folder, stem) for stem in MNIST_FILES.values()):
        return None
    return folder


@lru_cache(maxsize=4)
def load_dataset(data: str, options: tuple[tuple[str, Any], ...],
                 folder: str | None = None) -> Dataset:
    """The bundled digits (a stratified 75/25 split) or MNIST (its 60,000/10,000
    split), normalised by ``DigitNormalizer(**dict(options))``; cached."""
    from skdigitnet._images.normalizer import DigitNormalizer
    if data == "mnist":
        from skdigitnet._datasets import load_mnist
        norm = DigitNormalizer(**dict(options))
        X, y = load_mnist(folder, subset="train", return_X_y=True)
        X_test, y_test = load_mnist(folder, subset="test", return_X_y=True)
        return Dataset(norm.fit_transform(X), y, norm.transform(X_test), y_test)
    from sklearn.datasets import load_digits
    raw = load_digits()
    norm = DigitNormalizer(image_shape=(8, 8), **{**dict(options), "polarity": "light_on_dark"})
    X = norm.fit_transform(raw.data.astype(np.float32))
    X_train, X_test, y_train, y_test = train_test_split(
        X, raw.target, test_size=0.25, stratify=raw.target, random_state=0)
    return Dataset(X_train, y_train, X_test, y_test)


def snapshot(clf: DigitMLPClassifier) -> DigitMLPClassifier:
    """A new fitted estimator with a copy of ``clf``'s weights (and its parameters)."""
    copy = clone(clf)
    theta = pack(clf.coefs_, clf.intercepts_, clf.coefs_[0].dtype)
    copy._set_fitted(FittedNetwork(clf._arch, theta, clf.classes_, clf._target_kind,
                                   clf._record))
    return copy


class TrainingSession:
    """At most one training at a time, in a daemon thread, and what the page polls.

    Parameters
    ----------
    publish : callable
        ``publish(clf, about) -> weights_version``: makes ``clf`` (a snapshot, never
        changed afterwards) the network the page sees.
    data : callable
        ``data(name) -> Dataset`` for ``name`` in ``DATASETS``.
    """

    def __init__(self, publish: Callable[[DigitMLPClassifier, dict[str, Any]], int],
                 data: Callable[[str], Dataset]) -> None:
        self._publish, self._data = publish, data
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status: dict[str, Any] = {"state": "idle", "epoch": 0, "epochs": 0,
                                        "loss_curve": [], "test_accuracy": [],
                                        "curve_epochs": [], "weights_version": None}

    def status(self) -> dict[str, Any]:
        """``GET /api/train``: a copy of the state, made under the lock."""
        with self._lock:
            return {k: list(v) if isinstance(v, list) else v for k, v in self._status.items()}

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, settings: TrainSettings) -> dict[str, Any]:
        """Start training with ``settings``; raises RuntimeError if one is running."""
        with self._lock:
            if self.running:
                raise RuntimeError("a training is running")
            self._stop.clear()
            self._status = {"state": "running", "epoch": 0, "epochs": settings.epochs,
                            "loss_curve": [], "test_accuracy": [], "curve_epochs": [],
                            "weights_version": None, **asdict(settings),
                            "hidden": list(settings.hidden), "seconds": 0.0,
                            "note": f"loading {DATASETS[settings.data]}", "error": None}
            self._thread = threading.Thread(target=self._run, args=(settings,), daemon=True,
                                            name="skdigitnet-playground-training")
            self._thread.start()
        return self.status()

    def stop(self, wait: float = 5.0) -> dict[str, Any]:
        """Ask the training to stop after its current chunk; wait up to ``wait`` s."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(wait)
        return self.status()

    def _update(self, **values: Any) -> None:
        with self._lock:
            self._status.update(values)

    def _run(self, settings: TrainSettings) -> None:
        try:
            data = self._data(settings.data)
            self._update(note="", n_train=len(data.y_train), n_test=len(data.y_test))
            stopped = _Trainer(self, settings, data).run()
            self._update(state="stopped" if stopped else "done")
        except Exception as exc:  # noqa: BLE001 - the page shows it; the log has the rest
            traceback.print_exc(file=sys.stderr)
            self._update(state="failed", error=f"{type(exc).__name__}: {exc}")


class _Trainer:
    """One run: the estimator, the order of the rows, the points of the curves."""

    def __init__(self, session: TrainingSession, settings: TrainSettings,
                 data: Dataset) -> None:
        self.session, self.settings, self.data = session, settings, data
        self.clf = DigitMLPClassifier(
            hidden_layer_sizes=settings.hidden,
            activation="logistic" if settings.activation == "sigmoid" else "relu",
            learning_rate_init=settings.learning_rate, random_state=settings.random_state)
        n = len(data.y_train)
        self.chunk = BATCH * max(1, n // (BATCH * CALLS_PER_EPOCH))
        self.classes = np.unique(np.concatenate([data.y_train, data.y_test]))
        self.rng = np.random.RandomState(settings.random_state)
        self.started = time.perf_counter()
        self.loss_sum = self.rows = 0.0

    def run(self) -> bool:
        """Train; True if stopped before the last epoch ended."""
        n = len(self.data.y_train)
        last = time.perf_counter()
        for epoch in range(self.settings.epochs):
            order = self.rng.permutation(n)
            for start in range(0, n, self.chunk):
                if self.session._stop.is_set():
                    self.report(epoch + start / n)
                    return True
                rows = order[start : start + self.chunk]
                self.clf.partial_fit(self.data.X_train[rows], self.data.y_train[rows],
                                     classes=self.classes)
                self.loss_sum += self.clf.loss_ * len(rows)
                self.rows += len(rows)
                if time.perf_counter() - last >= REPORT_SECONDS and start + self.chunk < n:
                    self.report(epoch + (start + len(rows)) / n)
                    last = time.perf_counter()
            self.report(epoch + 1.0)
            last = time.perf_counter()
        return False

    def report(self, epoch: float) -> None:
        """A point of the curves at ``epoch`` (fractional), and the weights published."""
        if not self.rows:  # nothing trained since the last point
            return
        copy = snapshot(self.clf)
        accuracy = float(copy.score(self.data.X_test, self.data.y_test))
        loss = self.loss_sum / self.rows
        self.loss_sum = self.rows = 0.0
        about = {"data": DATASETS[self.settings.data], "test_accuracy": accuracy,
                 "epochs": round(epoch, 3), "made_by": "the playground's Train panel"}
        version = self.session._publish(copy, about)
        status = self.session._status
        with self.session._lock:
            status["loss_curve"].append(loss)
            status["test_accuracy"].append(accuracy)
            status["curve_epochs"].append(round(epoch, 4))
            status.update(epoch=int(epoch), weights_version=version,
                          seconds=round(time.perf_counter() - self.started, 3))
