"""The model behind the playground: a drawing in, what every layer does with it out.

:class:`Playground` answers the API's calls with JSON-ready dicts; the requests are
checked first, by ``requests.py``, and served by ``server.py``.
A drawing goes through the same ``normalize_images`` and then the same ``predict_proba``
and ``layer_activations`` users call. "Break it" works on a copy of the parameters, so
neither the estimator nor its file ever changes. The network the page sees is one
:class:`Network`, replaced whole when training (``training.py``) publishes
new weights; every request reads it once. Fooling, dreaming and the evidence for an
answer are in ``fool.py``, a photo's steps in ``photo.py``.
"""

from __future__ import annotations

import copy
import importlib.resources
import inspect
import json
import os
import tempfile
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.validation import check_is_fitted

from skdigitnet._images.normalizer import DigitNormalizer, default_image_shape, normalize_images
from skdigitnet._io.model_files import load_model, save_model
from skdigitnet._neural_network.classifier import DigitMLPClassifier
from skdigitnet._neural_network.fitted import FittedNetwork
from skdigitnet._neural_network.network import pack
from skdigitnet._typing import FloatArray, NDArray

from .fool import dream as dream_image
from .fool import evidence
from .fool import fool as fool_image
from .photo import photo_steps
from .requests import (
    LEARNING_RATES,
    MAX_BODY_BYTES,
    MAX_EPOCHS,
    MAX_HIDDEN_LAYERS,
    MAX_HIDDEN_UNITS,
    MAX_SIDE,
    MAX_WEIGHT_SCALE,
    TIMEOUT,
    ApiError,
    parse_dream,
    parse_empty,
    parse_fool,
    parse_image_only,
    parse_predict,
    parse_query,
    parse_train,
)
from .training import Dataset, TrainingSession, load_dataset, mnist_folder

if TYPE_CHECKING:
    from importlib.abc import Traversable

#: The version of the HTTP API; it changes when a reply or request changes incompatibly.
API_VERSION = 1
#: Connections drawn per neuron: each neuron's strongest incoming weights.
STRONGEST = 8
#: A pixel counts as changed by "make it say N" when it moved by more than a grey level.
CHANGED = 1 / 255
#: The noisy start of "what does it think N looks like": uniform in [0, NOISE].
NOISE = 0.3
#: ``/api/model``'s ``"limits"``: what the server accepts (see the docs).
LIMITS = {"max_body_bytes": MAX_BODY_BYTES, "max_side": MAX_SIDE,
          "max_weight_scale": MAX_WEIGHT_SCALE, "max_epochs": MAX_EPOCHS,
          "max_hidden_layers": MAX_HIDDEN_LAYERS, "max_hidden_units": MAX_HIDDEN_UNITS,
          "learning_rate": list(LEARNING_RATES), "timeout_seconds": TIMEOUT}
_NORMALIZE_OPTIONS = set(inspect.signature(normalize_images).parameters) - {"images", "dtype"}
# catch_warnings changes process-wide state: one thread at a time
_QUIET = threading.Lock()


def load_pretrained(*, with_normalizer: bool = True) -> Pipeline | DigitMLPClassifier:
    """The model that ships with skdigitnet: 784-16-16-10 trained on MNIST, reading digit
    images as they come.

    It is the pipeline it was trained as (``scripts/make_pretrained.py``):
    ``make_pipeline(DigitNormalizer(), DigitMLPClassifier())``, fitted on the 60,000 MNIST
    training images; it reads about 97 % of the 10,000 test images.

    Input: one image a row, square images flattened (28x28 = 784 values, 8x8 = 64, ...) of
    any pixel scale (uint8 0-255, floats in [0, 1], ...), dark ink on light paper or the
    reverse. :class:`DigitNormalizer` turns each into the MNIST-style 28x28 image in [0, 1]
    the network was trained on (images of other shapes: ``normalize_images`` first, then
    ``load_pretrained(with_normalizer=False)``).

    Parameters
    ----------
    with_normalizer : bool, default=True
        False returns the bare classifier, the pipeline's last step, which takes only
        images as :func:`normalize_images` makes them (784 values in [0, 1]); raw images
        given to it read poorly (about 79 % of MNIST's test images).

    Returns
    -------
    Pipeline or DigitMLPClassifier
        A new, fitted pipeline (or classifier; float32 weights); changing it changes no
        file.

    Examples
    --------
    >>> from sklearn.datasets import load_digits as load_8x8_digits
    >>> from skdigitnet import load_pretrained
    >>> model = load_pretrained()
    >>> [name for name, _ in model.steps]
    ['digitnormalizer', 'digitmlpclassifier']
    >>> X8, y8 = load_8x8_digits(return_X_y=True)  # 8x8 images, ink 0..16 on dark paper
    >>> model.predict(X8).shape  # they differ from MNIST's: about 75 % read right
    (1797,)
    >>> clf = load_pretrained(with_normalizer=False)
    >>> clf.n_features_in_, [c.shape for c in clf.coefs_]
    (784, [(784, 16), (16, 16), (16, 10)])
    """
    with importlib.resources.as_file(_data("pretrained.npz")) as path:
        clf = load_model(path)
    return make_pipeline(DigitNormalizer(), clf) if with_normalizer else clf


def pretrained_info() -> dict[str, Any]:
    """How the shipped model was made: a dict with ``test_accuracy`` and the rest."""
    return json.loads(_data("pretrained.json").read_text(encoding="utf-8"))


def _data(name: str) -> Traversable:
    return importlib.resources.files("skdigitnet") / "data" / name


def resolve_model(estimator: DigitMLPClassifier | Pipeline,
                  ) -> tuple[DigitMLPClassifier, dict[str, Any]]:
    """(fitted classifier, ``normalize_images`` options) from a DigitMLPClassifier or a
    Pipeline of an optional DigitNormalizer and a DigitMLPClassifier."""
    steps = estimator.steps if isinstance(estimator, Pipeline) else [("model", estimator)]
    *front, (_, clf) = steps
    if not isinstance(clf, DigitMLPClassifier):
        raise TypeError("serve takes a fitted DigitMLPClassifier or a Pipeline ending in one; "
                        f"got {type(clf).__name__}.")
    front = [(name, step) for name, step in front if step not in (None, "passthrough")]
    extra = [(n, s) for n, s in front if not isinstance(s, DigitNormalizer)] or front[1:]
    if extra:
        name, step = extra[0]
        raise TypeError(
            "The page shows the image the network sees, so the pipeline may hold one "
            f"DigitNormalizer before the DigitMLPClassifier only; step {name!r} is a "
            f"{type(step).__name__}.")
    check_is_fitted(clf)
    options = {k: v for k, v in front[0][1].get_params().items()
               if k in _NORMALIZE_OPTIONS} if front else {}
    size = options.get("size", 28)
    if clf.n_features_in_ != size * size:
        raise ValueError(f"The classifier takes {clf.n_features_in_} inputs, not the "
                         f"{size}x{size} = {size * size} pixels of a normalised image.")
    return clf, options


def strongest_connections(coefs: Sequence[FloatArray],
                          k: int = STRONGEST) -> list[list[list[int | float]]]:
    """For each weight layer, ``[source, target, weight]`` of each target's ``k``
    strongest incoming weights (by absolute value)."""
    layers = []
    for W in coefs:
        top = np.argsort(-np.abs(W), axis=0, kind="stable")[:k]  # (k, fan_out)
        layers.append([[int(i), int(j), float(W[i, j])]
                       for j in range(W.shape[1]) for i in top[:, j]])
    return layers


def broken_copy(clf: DigitMLPClassifier, disabled: Iterable[tuple[int, int]] = (),
                biases: bool = True, scale: float = 1.0) -> DigitMLPClassifier:
    """A copy of ``clf`` whose weights are scaled by ``scale``, biases zeroed unless
    ``biases``, and the outgoing weights of each ``(layer, index)`` hidden neuron zeroed."""
    coefs = [c * np.asarray(scale, c.dtype) for c in clf.coefs_]
    intercepts = [b * (1 if biases else 0) for b in clf.intercepts_]
    for layer, index in disabled:
        coefs[layer + 1][index, :] = 0
    broken = copy.copy(clf)
    theta = pack(coefs, intercepts, clf.coefs_[0].dtype)
    broken._set_fitted(FittedNetwork(clf._arch, theta, clf.classes_, clf._target_kind,
                                     clf._record))
    return broken


def normalise(image: NDArray[Any], options: Mapping[str, Any]) -> NDArray[Any] | None:
    """One image -> its normalised row (n_pixels,) float32, or None when blank."""
    with _QUIET, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # blank images: the reply says so
        row = normalize_images([image], **options)[0]
    return row if row.any() else None


def forward(clf: DigitMLPClassifier, row: NDArray[Any]) -> dict[str, Any]:
    """Label, probabilities and the activations of every layer after the input."""
    X = row[np.newaxis]
    proba = clf.predict_proba(X)[0]
    layers = clf.layer_activations(X)[1:]
    return {"label": np.asarray(clf.classes_).tolist()[int(np.argmax(proba))],
            "probabilities": proba.tolist(), "layers": [a[0].tolist() for a in layers]}


@dataclass(frozen=True)
class Network:
    """The network the page sees at one moment; replaced whole, never changed.

    ``version`` grows with every replacement (0: the served estimator); ``model`` is
    ``GET /api/model``'s reply for it.
    """

    clf: DigitMLPClassifier
    version: int
    hidden_sizes: list[int]
    model: dict[str, Any]


class Playground:
    """A fitted network, the network being trained, and the calls of the playground's API.

    Parameters
    ----------
    estimator : DigitMLPClassifier or Pipeline, fitted
        A classifier of 28x28 images (784 inputs), or a Pipeline of an optional
        ``DigitNormalizer`` and one; the normaliser's options are passed to
        ``normalize_images``, which every drawing goes through first.
    about : dict, optional
        Shown by the page (``/api/model``'s ``"about"``), e.g. how the model was trained.
    data_home : str, optional
        The folder of MNIST's IDX files (else ``SKDIGITNET_DATA``): when they are there,
        the page may train on MNIST.
    """

    def __init__(self, estimator: DigitMLPClassifier | Pipeline,
                 about: dict[str, Any] | None = None, data_home: str | None = None) -> None:
        clf, self.options = resolve_model(estimator)
        self.mnist = mnist_folder(data_home)
        self.datasets = ["digits", "mnist"] if self.mnist else ["digits"]
        self._lock = threading.Lock()
        self._network = self._network_for(clf, about, 0)
        self.training = TrainingSession(self.publish, self._dataset)
        forward(clf, np.zeros(clf.n_features_in_, np.float32))  # warm up

    def _network_for(self, clf: DigitMLPClassifier, about: dict[str, Any] | None,
                     version: int) -> Network:
        from skdigitnet import __version__
        arch = clf._arch
        model = {
            "api_version": API_VERSION, "skdigitnet_version": __version__,
            "weights_version": version, "layers": list(arch.units),
            "activations": [a.name for a in arch.hidden] + [arch.output],
            "classes": np.asarray(clf.classes_).tolist(),
            "n_parameters": arch.n_parameters, "n_weights": arch.n_weights,
            "n_biases": arch.n_parameters - arch.n_weights,
            "image_shape": list(default_image_shape(arch.units[0])),
            "normalize_images": self.options, "about": about,
            "limits": LIMITS, "training_data": self.datasets,
            "connections": strongest_connections(clf.coefs_),
        }
        return Network(clf, version, [c.shape[1] for c in clf.coefs_[:-1]], model)

    @property
    def network(self) -> Network:
        """The network the page sees now (one consistent snapshot)."""
        with self._lock:
            return self._network

    @property
    def clf(self) -> DigitMLPClassifier:
        return self.network.clf

    def publish(self, clf: DigitMLPClassifier, about: dict[str, Any] | None) -> int:
        """Make ``clf`` (fitted, never changed afterwards) the network the page sees;
        return its ``weights_version``."""
        resolve_model(clf)  # the same checks as the served estimator's
        with self._lock:
            self._network = self._network_for(clf, about, self._network.version + 1)
            return self._network.version

    def _dataset(self, name: str) -> Dataset:
        return load_dataset(name, tuple(sorted(self.options.items())),
                            self.mnist if name == "mnist" else None)

    def describe(self) -> dict[str, Any]:
        """``GET /api/model``: the network as JSON-ready data (see README)."""
        return self.network.model

    def neuron(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        """``GET /api/neuron``: one hidden neuron's incoming and outgoing weights."""
        net = self.network
        layer, index = parse_query(query, net.hidden_sizes)
        W = net.clf.coefs_[layer]
        return {"layer": layer, "index": index, "weights": W[:, index].tolist(),
                "shape": list(default_image_shape(W.shape[0])),
                "limit": float(np.abs(W).max()),
                "bias": float(net.clf.intercepts_[layer][index]),
                "outgoing": net.clf.coefs_[layer + 1][index].tolist(),
                "weights_version": net.version}

    def weights(self) -> dict[str, Any]:
        """``GET /api/weights``: every first-layer neuron's incoming weights (4 decimals)."""
        net = self.network
        W = net.clf.coefs_[0]
        return {"weights_version": net.version, "shape": list(default_image_shape(W.shape[0])),
                "limit": float(np.abs(W).max()),
                "neurons": np.round(W.T.astype(np.float64), 4).tolist()}

    def predict(self, body: bytes) -> dict[str, Any]:
        """``POST /api/predict``: ``body`` (bytes) checked, normalised, forwarded."""
        net = self.network
        request = parse_predict(body, net.hidden_sizes)
        row = normalise(request.image, self.options)
        if row is None:
            return {"blank": True, "label": None, "probabilities": None, "layers": None,
                    "image": np.zeros(net.clf.n_features_in_).tolist(),
                    "weights_version": net.version}
        clf = net.clf if request.broken is None else broken_copy(net.clf, *request.broken)
        reply = {"blank": False, **forward(clf, row), "image": row.tolist(),
                 "weights_version": net.version}
        if request.broken is not None:
            intact = forward(net.clf, row)
            reply["intact"] = {"label": intact["label"],
                               "probabilities": intact["probabilities"]}
        if request.neuron is not None:
            reply["neuron"] = contributions(clf, row, request.neuron, reply)
        if request.explain:
            _one_output_per_class(clf, "explaining")
            winner = int(np.argmax(reply["probabilities"]))
            reply["evidence"] = evidence(clf, row, winner).tolist()
        return reply

    def fool(self, body: bytes) -> dict[str, Any]:
        """``POST /api/fool``: the smallest change found that makes the answer "target"."""
        net = self.network
        image, broken, target = parse_fool(body, net.hidden_sizes, net.model["classes"])
        row = normalise(image, self.options)
        start = np.zeros(net.clf.n_features_in_) if row is None else row.astype(np.float64)
        clf = net.clf if broken is None else broken_copy(net.clf, *broken)
        _one_output_per_class(clf, "fooling")
        found = fool_image(clf, start, target)
        changed = found.image.astype(np.float32)
        difference = changed - start
        answer = forward(clf, changed)
        return {"label": answer["label"], "probabilities": answer["probabilities"],
                "target": net.model["classes"][target],
                "success": answer["label"] == net.model["classes"][target],
                "image": changed.tolist(), "original": start.tolist(),
                "difference": difference.tolist(),
                "change": {"l2": float(np.linalg.norm(difference)),
                           "pixels_changed": int(np.count_nonzero(
                               np.abs(difference) > CHANGED))},
                "weights_version": net.version}

    def dream(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        """``GET /api/dream``: the image that excites output ``label`` most."""
        net = self.network
        label, start, seed = parse_dream(query, net.model["classes"])
        _one_output_per_class(net.clf, "dreaming")
        n = net.clf.n_features_in_
        begin = (np.zeros(n) if start == "blank"
                 else np.random.RandomState(seed).uniform(0, NOISE, n))
        image = dream_image(net.clf, label, begin).astype(np.float32)
        answer = forward(net.clf, image)
        return {"label": answer["label"], "probabilities": answer["probabilities"],
                "image": image.tolist(), "start": start, "weights_version": net.version}

    def normalize(self, body: bytes) -> dict[str, Any]:
        """``POST /api/normalize``: the normaliser's steps for a photo, and the answer."""
        net = self.network
        image = parse_image_only(body)
        reply = photo_steps(image, self.options)
        row = normalise(image, self.options)
        reply["weights_version"] = net.version
        if row is None:
            return {**reply, "blank": True, "label": None, "probabilities": None}
        reply["steps"]["image"] = row.tolist()  # exactly what predict sees
        answer = forward(net.clf, row)
        return {**reply, "blank": False, "label": answer["label"],
                "probabilities": answer["probabilities"]}

    def train(self, body: bytes) -> dict[str, Any]:
        """``POST /api/train``: start training in the background (answered with 202)."""
        settings = parse_train(body, self.datasets)
        try:
            return self.training.start(settings)
        except RuntimeError:
            raise ApiError(409, "a training is already running; wait for it, or stop it "
                                "with POST /api/train/stop") from None

    def training_status(self) -> dict[str, Any]:
        """``GET /api/train``: the state of the latest training, its curves, and the
        ``weights_version`` of the network the page sees now."""
        return {**self.training.status(), "weights_version": self.network.version}

    def stop_training(self, body: bytes) -> dict[str, Any]:
        """``POST /api/train/stop``: stop after the current chunk; the final state."""
        parse_empty(body, "/api/train/stop")
        return self.training.stop()

    def save(self, body: bytes) -> bytes:
        """``POST /api/train/save``: the current network as a ``save_model`` file."""
        parse_empty(body, "/api/train/save")
        with tempfile.TemporaryDirectory(prefix="skdigitnet-") as folder:
            path = os.path.join(folder, "model.npz")
            save_model(self.clf, path)
            with open(path, "rb") as f:
                return f.read()


def _one_output_per_class(clf: DigitMLPClassifier, what: str) -> None:
    if clf.n_outputs_ != len(clf.classes_):
        raise ApiError(400, f"{what} needs one output neuron per class; this network has "
                            f"{clf.n_outputs_} for {len(clf.classes_)} classes")


def contributions(clf: DigitMLPClassifier, row: NDArray[Any], neuron: tuple[int, int],
                  reply: Mapping[str, Any]) -> dict[str, Any]:
    """What hidden neuron ``(layer, index)`` adds to each output for this ``row``: the
    change of each probability and of each output's weighted input ``z`` when the
    neuron is switched off (its outgoing weights zeroed)."""
    layer, index = neuron
    without = broken_copy(clf, [neuron])
    after = forward(without, row)

    def z(model: DigitMLPClassifier, last_hidden: Sequence[float]) -> FloatArray:
        return np.asarray(last_hidden) @ model.coefs_[-1] + model.intercepts_[-1]

    z_with = z(clf, reply["layers"][-2])
    z_without = z(without, after["layers"][-2])
    return {"layer": layer, "index": index,
            "activation": reply["layers"][layer][index],
            "probability_change": (np.subtract(reply["probabilities"],
                                               after["probabilities"])).tolist(),
            "output_change": (z_with - z_without).tolist()}
