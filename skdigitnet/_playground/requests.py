"""Checking the playground's requests: each bad one raises :class:`ApiError`.

Every check runs before any work is done, and every message is one line that says what
was wrong and what is expected; the server answers it as ``{"error": message}`` with the
error's 4xx status. Nothing from a request is ever executed or used as a path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any, NamedTuple, TypeGuard, cast

import numpy as np

from skdigitnet._typing import FloatArray

from .training import DATASETS, TrainSettings

#: "break": (disabled (layer, index) pairs, keep biases, weight scale).
Break = tuple[list[tuple[int, int]], bool, float]

MAX_BODY_BYTES = 8 * 1024 * 1024
#: Seconds a client gets for each read of its request.
TIMEOUT = 10
MAX_SIDE = 1024
MAX_WEIGHT_SCALE = 10.0
#: Training from the page: epochs, hidden layers, units per hidden layer, learning rates.
MAX_EPOCHS, MAX_HIDDEN_LAYERS, MAX_HIDDEN_UNITS = 200, 3, 128
LEARNING_RATES = (1e-5, 1.0)
MODES = {"L": 1, "RGB": 3, "RGBA": 4}
IMAGE_FIELDS = ("width", "height", "pixels", "mode")
PREDICT_FIELDS = (*IMAGE_FIELDS, "break", "neuron", "explain")
FOOL_FIELDS = (*IMAGE_FIELDS, "break", "target")
BREAK_FIELDS = ("disabled", "biases", "weight_scale")
TRAIN_FIELDS = ("data", "hidden", "activation", "learning_rate", "epochs", "random_state")
ACTIVATIONS = ("sigmoid", "relu")
DREAM_STARTS = ("blank", "noise")
_JSON_TYPES = {str: "a string", bool: "a boolean", type(None): "null", list: "a list",
               dict: "an object"}


class ApiError(Exception):
    """A bad request: ``status`` (4xx) and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def parse_json(body: bytes) -> dict[str, Any]:
    """The request body (bytes) as a JSON object; NaN and Infinity are refused."""
    def refuse(constant: str) -> Any:
        raise ApiError(400, f"the body is not valid JSON: {constant} is not a JSON number")
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=refuse)
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not valid JSON: it is not UTF-8 text") from None
    except RecursionError:
        raise ApiError(400, "the body is not valid JSON: it is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of thousands of digits
        raise ApiError(400, f"the body is not valid JSON: {_cut(str(exc), 120)}") from None
    if not isinstance(value, dict):
        raise ApiError(400, 'the body must be a JSON object like {"width": 28, "height": 28, '
                            '"pixels": [...]}')
    return value


def _cut(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters, for messages."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _shown(value: object) -> str:
    """``value`` as JSON, cut to 40 characters, for messages."""
    return _cut(json.dumps(value))


def _kind(value: object) -> str:
    """A JSON value's kind, for messages: 'a string', 'a boolean', 'null', ..."""
    return _JSON_TYPES.get(type(value), "a number")


def _side(value: object, name: str) -> int:
    """``value`` as a positive int, else ApiError 400 (too large is the caller's 413)."""
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ApiError(400, f'"{name}" must be a whole number from 1 to {MAX_SIDE}; got '
                            f"{_shown(value)}")
    return int(value)


def _check_fields(request: Mapping[str, Any], allowed: Sequence[str], where: str = "") -> None:
    unknown = [key for key in request if key not in allowed]
    if unknown:
        raise ApiError(400, f'unknown field "{where}{_cut(unknown[0])}"; the fields are '
                            f"{', '.join(allowed)}")


def parse_image(request: Mapping[str, Any]) -> FloatArray:
    """The image of a predict request: ndarray (h, w), (h, w, 3) or (h, w, 4) of float64
    in [0, 1] (the pixels divided by 255)."""
    for name in ("width", "height", "pixels"):
        if name not in request:
            raise ApiError(400, f'missing field "{name}"')
    width, height = _side(request["width"], "width"), _side(request["height"], "height")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ApiError(413, f"the image is {width}x{height} pixels; the limit is "
                            f"{MAX_SIDE}x{MAX_SIDE}")
    mode = request.get("mode", "L")
    if mode not in MODES:
        raise ApiError(400, '"mode" must be "L" (width*height grey values), "RGB" '
                            '(3*width*height values) or "RGBA" (4*width*height values); '
                            f"got {_shown(mode)}")
    pixels = request["pixels"]
    if not isinstance(pixels, list):
        raise ApiError(400, f'"pixels" must be a list of numbers; got {_kind(pixels)}')
    needed = width * height * MODES[mode]
    if len(pixels) != needed:
        raise ApiError(400, f'"pixels" has {len(pixels)} values; a {width}x{height} {mode} '
                            f"image needs {needed}")
    odd = set(map(type, pixels)) - {int, float}
    if odd:
        kind = min(_JSON_TYPES.get(t, t.__name__) for t in odd)
        raise ApiError(400, f'"pixels" must hold numbers only; found {kind}')
    array = np.asarray(pixels)  # huge integers make an object array, refused below
    if array.dtype.kind not in "iuf" or array.min() < 0 or array.max() > 255:
        raise ApiError(400, '"pixels" must be numbers from 0 to 255')
    shape = (height, width) if mode == "L" else (height, width, MODES[mode])
    return (array / 255.0).reshape(shape)  # in [0, 1]: alpha's scale is never in doubt


def parse_break(value: object, hidden_sizes: Sequence[int]) -> Break | None:
    """The "break" field: (disabled [(layer, index)], keep biases, weight scale)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError(400, f'"break" must be an object; got {_kind(value)}')
    _check_fields(value, BREAK_FIELDS, "break.")
    disabled = value.get("disabled", [])
    if not isinstance(disabled, list):
        raise ApiError(400, f'"break.disabled" must be a list of [layer, index] pairs; got '
                            f"{_kind(disabled)}")
    for pair in disabled:
        if not is_neuron(pair, hidden_sizes):
            raise ApiError(400, '"break.disabled" must hold [layer, index] pairs of hidden '
                                f"neurons ({neuron_ranges(hidden_sizes)}); got "
                                f"{_shown(pair)}")
    pairs = [(int(layer), int(index)) for layer, index in disabled]
    biases = value.get("biases", True)
    if not isinstance(biases, bool):
        raise ApiError(400, f'"break.biases" must be true or false; got {_shown(biases)}')
    scale = value.get("weight_scale", 1.0)
    if (not isinstance(scale, Real) or isinstance(scale, bool)
            or not 0 <= cast(float, scale) <= MAX_WEIGHT_SCALE):
        raise ApiError(400, f'"break.weight_scale" must be a number from 0 to '
                            f"{MAX_WEIGHT_SCALE:g}; got {_shown(scale)}")
    return sorted(set(pairs)), biases, float(scale)


def neuron_ranges(hidden_sizes: Sequence[int]) -> str:
    """The hidden neurons' numbering in words: 'layer 0 to 1, index 0 to 15'."""
    if len(set(hidden_sizes)) == 1:
        return f"layer 0 to {len(hidden_sizes) - 1}, index 0 to {hidden_sizes[0] - 1}"
    return "; ".join(f"layer {k}: index 0 to {n - 1}" for k, n in enumerate(hidden_sizes))


def is_neuron(pair: object, hidden_sizes: Sequence[int]) -> TypeGuard[list[int]]:
    """Whether ``pair`` is ``[layer, index]`` of a hidden neuron (JSON ints)."""
    return (isinstance(pair, list) and len(pair) == 2
            and all(isinstance(v, Integral) and not isinstance(v, bool) for v in pair)
            and 0 <= pair[0] < len(hidden_sizes) and 0 <= pair[1] < hidden_sizes[pair[0]])


def parse_neuron(pair: object, hidden_sizes: Sequence[int],
                 name: str = "neuron") -> tuple[int, int]:
    """A ``[layer, index]`` pair naming a hidden neuron, as a tuple of ints."""
    if not is_neuron(pair, hidden_sizes):
        raise ApiError(400, f'"{name}" must be [layer, index] of a hidden neuron '
                            f"({neuron_ranges(hidden_sizes)}); got {_shown(pair)}")
    return int(pair[0]), int(pair[1])


class PredictRequest(NamedTuple):
    """A ``POST /api/predict`` body: the image, "break" as :func:`parse_break` gives it
    (or None), the "neuron" whose contributions to include (or None), and whether to
    add the evidence ("explain")."""

    image: FloatArray
    broken: Break | None
    neuron: tuple[int, int] | None
    explain: bool


def parse_predict(body: bytes, hidden_sizes: Sequence[int]) -> PredictRequest:
    """A ``POST /api/predict`` body, checked."""
    request = parse_json(body)
    _check_fields(request, PREDICT_FIELDS)
    image = parse_image(request)
    broken = parse_break(request.get("break"), hidden_sizes)
    neuron = request.get("neuron")
    if neuron is not None:
        neuron = parse_neuron(neuron, hidden_sizes)
    explain = request.get("explain", False)
    if not isinstance(explain, bool):
        raise ApiError(400, f'"explain" must be true or false; got {_shown(explain)}')
    return PredictRequest(image, broken, neuron, explain)


def parse_fool(body: bytes, hidden_sizes: Sequence[int],
               classes: Sequence[Any]) -> tuple[FloatArray, Break | None, int]:
    """A ``POST /api/fool`` body: (image, break or None, index of the target class)."""
    request = parse_json(body)
    _check_fields(request, FOOL_FIELDS)
    if "target" not in request:
        raise ApiError(400, 'missing field "target": the class the network should answer')
    image = parse_image(request)
    broken = parse_break(request.get("break"), hidden_sizes)
    return image, broken, _class_index(request["target"], classes, '"target"')


def _class_index(value: object, classes: Sequence[Any], name: str) -> int:
    """The position of class ``value`` in ``classes``, else ApiError 400."""
    if isinstance(value, bool) or value not in classes:
        raise ApiError(400, f"{name} must be one of the network's classes "
                            f"({_cut(', '.join(map(str, classes)), 60)}); got {_shown(value)}")
    return list(classes).index(value)


def parse_dream(query: Mapping[str, list[str]],
                classes: Sequence[Any]) -> tuple[int, str, int]:
    """``GET /api/dream?label=N[&start=blank|noise][&seed=S]``: (class index, start,
    seed)."""
    usage = ("/api/dream takes a class and optionally a start and a seed, e.g. "
             "?label=5&start=noise&seed=0")
    unknown = sorted(set(query) - {"label", "start", "seed"})
    if "label" not in query or unknown or any(len(v) != 1 for v in query.values()):
        raise ApiError(400, usage)
    label, start = query["label"][0], query.get("start", ["blank"])[0]
    values = {str(c): c for c in classes}
    if label not in values:
        raise ApiError(400, f"{usage}; label must be one of the network's classes "
                            f"({_cut(', '.join(values), 60)}); got {label[:20]!r}")
    if start not in DREAM_STARTS:
        raise ApiError(400, f'{usage}; start must be "blank" or "noise"; got {start[:20]!r}')
    seed = query.get("seed", ["0"])[0]
    if not (seed.isascii() and seed.isdigit() and len(seed) < 10):
        raise ApiError(400, f"{usage}; seed must be a whole number from 0 to 999999999; "
                            f"got {seed[:20]!r}")
    return list(values).index(label), start, int(seed)


def parse_image_only(body: bytes) -> FloatArray:
    """A ``POST /api/normalize`` body: the image alone."""
    request = parse_json(body)
    _check_fields(request, IMAGE_FIELDS)
    return parse_image(request)


def parse_empty(body: bytes, path: str) -> None:
    """The body of a POST that takes none: empty, or ``{}``."""
    if body.strip() and parse_json(body):
        raise ApiError(400, f"{path} takes no fields; send an empty body or {{}}")


def _whole(value: object, name: str, lo: int, hi: int) -> int:
    if (not isinstance(value, Integral) or isinstance(value, bool)
            or not lo <= cast(int, value) <= hi):
        raise ApiError(400, f'"{name}" must be a whole number from {lo} to {hi}; got '
                            f"{_shown(value)}")
    return int(value)


def parse_train(body: bytes, datasets: Sequence[str]) -> TrainSettings:
    """A ``POST /api/train`` body (every field optional; ``{}`` or an empty body train
    the defaults): ``TrainSettings``. ``datasets`` are those this server offers."""
    request = parse_json(body) if body.strip() else {}
    _check_fields(request, TRAIN_FIELDS)
    default = TrainSettings()
    data = request.get("data", default.data)
    if data not in datasets:
        missing = (" (MNIST: start the server with --data-home FOLDER or SKDIGITNET_DATA "
                   "naming the folder of its IDX files)") if data in DATASETS else ""
        raise ApiError(400, f'"data" must be {" or ".join(map(json.dumps, datasets))} on '
                            f"this server; got {_shown(data)}{missing}")
    hidden = request.get("hidden", list(default.hidden))
    if (not isinstance(hidden, list) or not 1 <= len(hidden) <= MAX_HIDDEN_LAYERS
            or not all(isinstance(h, Integral) and not isinstance(h, bool)
                       and 1 <= cast(int, h) <= MAX_HIDDEN_UNITS for h in hidden)):
        raise ApiError(400, f'"hidden" must be a list of 1 to {MAX_HIDDEN_LAYERS} layer sizes, '
                            f"each from 1 to {MAX_HIDDEN_UNITS}, e.g. [16, 16]; got "
                            f"{_shown(hidden)}")
    activation = request.get("activation", default.activation)
    if activation not in ACTIVATIONS:
        raise ApiError(400, f'"activation" must be "sigmoid" or "relu"; got {_shown(activation)}')
    rate = request.get("learning_rate", default.learning_rate)
    lo, hi = LEARNING_RATES
    if (not isinstance(rate, Real) or isinstance(rate, bool)
            or not lo <= cast(float, rate) <= hi):
        raise ApiError(400, f'"learning_rate" must be a number from {lo:g} to {hi:g}; got '
                            f"{_shown(rate)}")
    return TrainSettings(data, tuple(int(h) for h in hidden), activation, float(rate),
                         _whole(request.get("epochs", default.epochs), "epochs", 1, MAX_EPOCHS),
                         _whole(request.get("random_state", default.random_state),
                                "random_state", 0, 2**31 - 1))


def parse_query(query: Mapping[str, list[str]],
                hidden_sizes: Sequence[int]) -> tuple[int, int]:
    """The ``layer`` and ``index`` of ``GET /api/neuron?layer=L&index=J`` (``query`` as
    ``urllib.parse.parse_qs`` gives it)."""
    usage = "/api/neuron takes a hidden neuron's layer and index, e.g. ?layer=0&index=3"
    if sorted(query) != ["index", "layer"] or any(len(v) != 1 for v in query.values()):
        raise ApiError(400, usage)
    layer, index = query["layer"][0], query["index"][0]
    if not all(t.isascii() and t.isdigit() and len(t) < 6 for t in (layer, index)):
        raise ApiError(400, f"{usage}; got layer={layer[:20]!r}, index={index[:20]!r}")
    if not is_neuron([int(layer), int(index)], hidden_sizes):
        raise ApiError(404, f"no hidden neuron layer={layer}, index={index}; this network "
                            f"has {neuron_ranges(hidden_sizes)}")
    return int(layer), int(index)
