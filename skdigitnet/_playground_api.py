"""The model behind the playground: a drawing in, what every layer does with it out.

:class:`Playground` answers the API's three calls with JSON-ready dicts; the requests are
checked first, by ``_playground_requests.py``, and served by ``_playground.py``. A
drawing goes through the same ``normalize_images`` and then the same ``predict_proba``
and ``layer_activations`` users call. "Break it" works on a copy of the parameters, so
neither the estimator nor its file ever changes.
"""

from __future__ import annotations

import copy
import importlib.resources
import inspect
import json
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.validation import check_is_fitted

from ._classifier import DigitMLPClassifier
from ._fitted import FittedNetwork
from ._network import pack
from ._persistence import load_model
from ._playground_requests import (
    MAX_BODY_BYTES,
    MAX_SIDE,
    MAX_WEIGHT_SCALE,
    parse_predict,
    parse_query,
)
from ._preprocessing import DigitNormalizer, default_image_shape, normalize_images
from ._typing import FloatArray, NDArray

if TYPE_CHECKING:
    from importlib.abc import Traversable

#: The version of the HTTP API; it changes when a reply or request changes incompatibly.
API_VERSION = 1
#: Connections drawn per neuron: each neuron's strongest incoming weights.
STRONGEST = 8
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


class Playground:
    """A fitted network and the three calls of the playground's API.

    Parameters
    ----------
    estimator : DigitMLPClassifier or Pipeline, fitted
        A classifier of 28x28 images (784 inputs), or a Pipeline of an optional
        ``DigitNormalizer`` and one; the normaliser's options are passed to
        ``normalize_images``, which every drawing goes through first.
    about : dict, optional
        Shown by the page (``/api/model``'s ``"about"``), e.g. how the model was trained.
    """

    def __init__(self, estimator: DigitMLPClassifier | Pipeline,
                 about: dict[str, Any] | None = None) -> None:
        self.clf, self.options = resolve_model(estimator)
        self.about = about
        self.hidden_sizes = [c.shape[1] for c in self.clf.coefs_[:-1]]
        self._model = self._describe()
        forward(self.clf, np.zeros(self.clf.n_features_in_, np.float32))  # warm up

    def _describe(self) -> dict[str, Any]:
        from . import __version__
        clf, arch = self.clf, self.clf._arch
        return {
            "api_version": API_VERSION, "skdigitnet_version": __version__,
            "layers": list(arch.units),
            "activations": [a.name for a in arch.hidden] + [arch.output],
            "classes": np.asarray(clf.classes_).tolist(),
            "n_parameters": arch.n_parameters, "n_weights": arch.n_weights,
            "n_biases": arch.n_parameters - arch.n_weights,
            "image_shape": list(default_image_shape(arch.units[0])),
            "normalize_images": self.options, "about": self.about,
            "limits": {"max_body_bytes": MAX_BODY_BYTES, "max_side": MAX_SIDE,
                       "max_weight_scale": MAX_WEIGHT_SCALE},
            "connections": strongest_connections(clf.coefs_),
        }

    def describe(self) -> dict[str, Any]:
        """``GET /api/model``: the network as JSON-ready data (see README)."""
        return self._model

    def neuron(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        """``GET /api/neuron``: one hidden neuron's incoming and outgoing weights."""
        layer, index = parse_query(query, self.hidden_sizes)
        W = self.clf.coefs_[layer]
        return {"layer": layer, "index": index, "weights": W[:, index].tolist(),
                "shape": list(default_image_shape(W.shape[0])),
                "limit": float(np.abs(W).max()),
                "bias": float(self.clf.intercepts_[layer][index]),
                "outgoing": self.clf.coefs_[layer + 1][index].tolist()}

    def predict(self, body: bytes) -> dict[str, Any]:
        """``POST /api/predict``: ``body`` (bytes) checked, normalised, forwarded."""
        image, broken, neuron = parse_predict(body, self.hidden_sizes)
        row = normalise(image, self.options)
        if row is None:
            return {"blank": True, "label": None, "probabilities": None, "layers": None,
                    "image": np.zeros(self.clf.n_features_in_).tolist()}
        clf = self.clf if broken is None else broken_copy(self.clf, *broken)
        reply = {"blank": False, **forward(clf, row), "image": row.tolist()}
        if broken is not None:
            intact = forward(self.clf, row)
            reply["intact"] = {"label": intact["label"],
                               "probabilities": intact["probabilities"]}
        if neuron is not None:
            reply["neuron"] = contributions(clf, row, neuron, reply)
        return reply


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
