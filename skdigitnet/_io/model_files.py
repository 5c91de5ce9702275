"""save_model / load_model: a fitted DigitMLPClassifier as arrays and JSON, no pickle.

The file is a NumPy ``.npz`` archive read with ``allow_pickle=False``, so loading it runs
no code. It holds:

- ``config``: a JSON string (stored as a 0-d unicode array) with the format version, the
  estimator's constructor parameters (activations by registered name), the layer sizes,
  the output activation, the target kind, the feature names, the scale of the input fit
  saw (``input_scale``, optional), and the training record
  (loss curve, validation scores and losses, per-epoch history, stopping state);
- ``coef_0`` .. ``coef_{L-2}`` and ``intercept_0`` .. ``intercept_{L-2}``: the weights;
- ``classes``: the class labels (numbers or strings);
- ``best_theta`` (optional): the flat parameters of the best validation score, when
  early stopping kept them aside and they differ from the weights (a ``partial_fit``
  loop saved before it stopped), so that loading continues the loop exactly.

Everything read back is checked (keys, types, shapes, finiteness) before an estimator is
built, and a file that fails a check raises ``ValueError`` saying what is wrong.
"""

from __future__ import annotations

import json
import zipfile
from itertools import pairwise
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np

from skdigitnet._neural_network.activations import ACTIVATIONS, Activation, get_activation
from skdigitnet._neural_network.fitted import FittedNetwork
from skdigitnet._neural_network.network import Architecture, pack
from skdigitnet._neural_network.training import TrainingRecord
from skdigitnet._neural_network.validation_score import check_savable
from skdigitnet._typing import FloatArray, NDArray, PathLike

if TYPE_CHECKING:
    from skdigitnet._neural_network.classifier import DigitMLPClassifier

FORMAT = "skdigitnet-model"
VERSION = 3
# version 1 files kept only the loss curve of the record; version 2 files no validation
# loss, no early_stopped and no best_theta
READABLE_VERSIONS = (1, 2, 3)


def _activation_name(activation: str | Activation) -> str:
    """The registered name of an activation given as a name or an instance."""
    if isinstance(activation, str):
        return activation
    for name, cls in ACTIVATIONS.items():
        if type(activation) is cls and activation == cls():
            return name
    raise ValueError(
        f"The activation {activation!r} is not a registered activation with default "
        "parameters, so it cannot be saved by name. Register it with "
        "skdigitnet.register_activation(name, cls) and fit with activation=name, or use "
        "pickle (which stores code)."
    )


def save_model(estimator: DigitMLPClassifier, path: PathLike) -> None:
    """Save a fitted DigitMLPClassifier to ``path`` (an ``.npz`` file).

    The file holds plain arrays (the weights, the classes) and one JSON string (the
    parameters, the layer sizes, the activations by registered name, the training
    record); :func:`load_model` reads it back without running any code from it.

    Parameters
    ----------
    estimator : DigitMLPClassifier, fitted
        The classifier to save. Its activations must be registered names, or instances
        of registered classes with their default parameters.
    path : str or path-like
        The file to write, by convention ending in ``.npz``.

    Raises
    ------
    ValueError
        If an activation cannot be saved by name, or ``scoring`` is a callable.
    """
    from sklearn.utils.validation import check_is_fitted
    check_is_fitted(estimator)
    params = estimator.get_params()
    check_savable(params["scoring"])
    hidden = [_activation_name(a) for a in estimator._arch.hidden]
    if not isinstance(params["activation"], str):
        params["activation"] = hidden
    if not isinstance(params["random_state"], (Integral, type(None))):
        params["random_state"] = None
    params["hidden_layer_sizes"] = list(np.ravel(params["hidden_layer_sizes"]).tolist())
    if isinstance(params["class_weight"], dict):  # JSON keys are strings: keep the pairs
        params["class_weight"] = [[k, v] for k, v in params["class_weight"].items()]
    config = {
        "format": FORMAT, "version": VERSION, "params": params,
        "units": list(estimator._arch.units), "hidden": hidden,
        "output": estimator.out_activation_,
        "loss": estimator._arch.loss, "target_kind": estimator._target_kind,
        "dtype": str(estimator.coefs_[0].dtype),
        "feature_names_in": (None if not hasattr(estimator, "feature_names_in_")
                             else [str(f) for f in estimator.feature_names_in_]),
        "n_iter": int(estimator.n_iter_), "t": int(estimator.t_),
        "loss_curve": [float(v) for v in estimator.loss_curve_],
        "record": _record_config(estimator._record),
        "input_scale": estimator._input_scale,
    }
    arrays: dict[str, Any] = {f"coef_{i}": c for i, c in enumerate(estimator.coefs_)}
    arrays.update({f"intercept_{i}": b for i, b in enumerate(estimator.intercepts_)})
    best = estimator._record.best_theta
    if best is not None and not np.array_equal(best, pack(estimator.coefs_,
                                                          estimator.intercepts_, best.dtype)):
        arrays["best_theta"] = best
    classes = np.asarray(estimator.classes_)
    if classes.dtype == object:
        classes = classes.astype(str)
    with open(path, "wb") as f:
        np.savez(f, config=np.array(json.dumps(config, default=_plain)), classes=classes,
                 **arrays)


def _plain(value: object) -> Any:
    """JSON for numpy scalars and arrays in parameters."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"cannot save a parameter value of type {type(value).__name__}")


def load_model(path: PathLike) -> DigitMLPClassifier:
    """Load a DigitMLPClassifier saved by :func:`save_model`, running no code from the file.

    The archive is read with ``allow_pickle=False``, and every entry is checked before
    the estimator is built.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.

    Returns
    -------
    estimator : DigitMLPClassifier
        Fitted; it predicts exactly as the saved one did.

    Raises
    ------
    ValueError
        If the file is not a skdigitnet model, is truncated or was tampered with.
    """
    from skdigitnet._neural_network.classifier import DigitMLPClassifier
    try:
        # the file is ours to close: numpy leaves it open when the archive is broken
        with open(path, "rb") as file:
            archive = np.load(file, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single NumPy array (.npy); a model file is the "
                                 ".npz archive save_model writes")
            with archive:
                arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        reason = ("not a NumPy .npz archive" if "pickle" in str(exc) else str(exc))
        raise ValueError(f"{path} is not a readable skdigitnet model file: {reason}") from exc
    config = _read_config(arrays, path)
    units = _check_units(config, path)
    _check_classes(arrays["classes"], units, config["target_kind"], path)
    coefs, intercepts = _read_weights(arrays, units, config["dtype"], path)
    params = dict(config["params"])
    hidden = tuple(get_activation(name) for name in config["hidden"])
    if isinstance(params["activation"], list):
        params["activation"] = tuple(params["activation"])
    params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    if isinstance(params.get("class_weight"), list):
        params["class_weight"] = dict(params["class_weight"])
    try:
        estimator = DigitMLPClassifier().set_params(**params)
    except ValueError as exc:
        raise ValueError(f"{path} has parameters this version does not know: {exc}") from exc
    arch = Architecture(tuple(units), hidden, config["output"], config["loss"])
    theta = pack(coefs, intercepts, config["dtype"])
    names = config["feature_names_in"]
    network = FittedNetwork(
        arch, theta, arrays["classes"], config["target_kind"],
        _read_record(config, _best_theta(arrays, theta, path),
                     estimator._early_stopping_active(), path),
        None if names is None else np.asarray(names, dtype=object), _input_scale(config, path))
    estimator._set_fitted(network)
    return estimator


def _input_scale(config: dict[str, Any], path: PathLike) -> float | None:
    """The input scale fit saw; None in files saved before it was recorded."""
    scale = config.get("input_scale")
    if scale is not None and not (isinstance(scale, (int, float)) and 0 <= scale < np.inf):
        raise ValueError(f"{path}: config entry 'input_scale' must be a finite number >= 0 "
                         "or null.")
    return None if scale is None else float(scale)


def _best_theta(arrays: dict[str, NDArray[Any]], theta: FloatArray,
                path: PathLike) -> FloatArray:
    """The parameters of the best validation score: the ``best_theta`` entry, checked,
    or (when there is none) the weights."""
    best = arrays.get("best_theta")
    if best is None:
        return theta
    if best.shape != theta.shape or best.dtype != theta.dtype:
        raise ValueError(f"{path}: best_theta is not a {theta.dtype} array of shape "
                         f"{theta.shape}.")
    if not np.isfinite(best).all():
        raise ValueError(f"{path}: best_theta holds NaN or infinite values.")
    return np.array(best)


_NUMBERS_OR_NONE = (list, type(None))
_RECORD_FIELDS: dict[str, type | tuple[type, ...]] = {
    "validation_scores": _NUMBERS_OR_NONE, "validation_loss_curve": _NUMBERS_OR_NONE,
    "best_loss": Real, "best_validation_score": Real, "no_improvement_count": int,
    "history": list, "early_stopped": bool}


def _record_config(record: TrainingRecord) -> dict[str, Any]:
    """The training record as JSON-ready values (the loss curve, n_iter and t are
    stored beside it, as in version 1)."""
    return {"validation_scores": record.validation_scores,
            "validation_loss_curve": record.validation_loss_curve,
            "best_loss": float(record.best_loss),
            "best_validation_score": float(record.best_validation_score),
            "no_improvement_count": int(record.no_improvement_count),
            "history": record.history, "early_stopped": bool(record.early_stopped)}


def _read_record(config: dict[str, Any], best_theta: FloatArray, early_stopping: bool,
                 path: PathLike) -> TrainingRecord:
    """The training record, so that warm_start and partial_fit continue where they
    stopped; a version 1 file gives the loss curve only, a version 2 file no validation
    loss (NaN in its place)."""
    curve = list(config["loss_curve"])
    saved = config.get("record", {"best_loss": min(curve) if curve else np.inf})
    if not isinstance(saved, dict):
        raise ValueError(f"{path}: config entry 'record' is not a dict.")
    for key, kind in _RECORD_FIELDS.items():
        if key in saved and not isinstance(saved[key], kind):
            raise ValueError(f"{path}: record entry {key!r} has the wrong type.")
    if not all(isinstance(epoch, dict) and all(isinstance(v, (Real, type(None)))
                                               for v in epoch.values())
               for epoch in saved.get("history", [])):
        raise ValueError(f"{path}: record entry 'history' must hold one dict of numbers "
                         "per epoch.")
    unknown = sorted(set(saved) - set(_RECORD_FIELDS))
    if unknown:
        raise ValueError(f"{path}: unknown record entries {unknown}.")
    _check_validation_curves(saved, path)
    for epoch in saved.get("history", []):  # version 2: no validation loss recorded
        if "validation_loss" not in epoch:
            epoch["validation_loss"] = None if epoch.get("validation_score") is None else np.nan
    record = TrainingRecord(loss_curve=curve, n_iter=config["n_iter"], t=config.get("t", 0),
                            **saved)
    if early_stopping and record.validation_scores:
        record.best_theta = best_theta.copy()
    return record


def _check_validation_curves(saved: dict[str, Any], path: PathLike) -> None:
    """The validation scores and losses are lists of numbers, one loss per score."""
    scores, losses = saved.get("validation_scores"), saved.get("validation_loss_curve")
    for name, values in (("validation_scores", scores), ("validation_loss_curve", losses)):
        if values is not None and not all(isinstance(v, Real) for v in values):
            raise ValueError(f"{path}: record entry {name!r} must hold numbers.")
    if losses is not None and len(losses) != len(scores or []):
        raise ValueError(f"{path}: record entries 'validation_loss_curve' and "
                         "'validation_scores' must have one entry per epoch each.")


def _read_config(arrays: dict[str, NDArray[Any]], path: PathLike) -> dict[str, Any]:
    try:
        config = json.loads(str(arrays["config"]))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path} has no readable 'config' entry; it is not a skdigitnet "
                         "model file.") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{path} is not a skdigitnet model file.")
    if config.get("version") not in READABLE_VERSIONS:
        raise ValueError(f"{path} has format version {config.get('version')!r}; this "
                         f"skdigitnet reads versions {', '.join(map(str, READABLE_VERSIONS))}.")
    expected = {"params": dict, "units": list, "hidden": list, "output": str, "loss": str,
                "target_kind": str, "dtype": str, "n_iter": int, "loss_curve": list}
    for key, kind in expected.items():
        if not isinstance(config.get(key), kind):
            raise ValueError(f"{path}: config entry {key!r} is missing or not a {kind.__name__}.")
    if config["output"] not in ("softmax", "logistic") or config["dtype"] not in (
            "float32", "float64") or config["target_kind"] not in (
            "binary", "multiclass", "multilabel"):
        raise ValueError(f"{path}: config has an unknown output, dtype or target kind.")
    if not all(isinstance(v, Real) for v in config["loss_curve"]):
        raise ValueError(f"{path}: loss_curve must hold numbers.")
    unknown = sorted({str(a) for a in config["hidden"]
                      if not isinstance(a, str) or a not in ACTIVATIONS})
    if unknown:
        raise ValueError(f"{path} uses activations {unknown} that are not registered here; "
                         "register them with skdigitnet.register_activation before loading.")
    if "classes" not in arrays or arrays["classes"].ndim != 1:
        raise ValueError(f"{path} has no 1-D 'classes' entry.")
    return config


def _check_units(config: dict[str, Any], path: PathLike) -> list[int]:
    units = config["units"]
    if len(units) < 2 or not all(isinstance(u, int) and 0 < u < 10**7 for u in units):
        raise ValueError(f"{path}: layer sizes {units} are not positive ints.")
    if len(config["hidden"]) != len(units) - 2:
        raise ValueError(f"{path}: {len(units) - 2} hidden layers but "
                         f"{len(config['hidden'])} activations.")
    return units


def _check_classes(classes: NDArray[Any], units: list[int], kind: str, path: PathLike) -> None:
    n_out = units[-1]
    fits = (len(classes) == n_out or (kind == "binary" and n_out == 1 and len(classes) == 2))
    if not fits:
        raise ValueError(f"{path}: {len(classes)} classes do not match {n_out} outputs.")


def _read_weights(arrays: dict[str, NDArray[Any]], units: list[int], dtype: str,
                  path: PathLike) -> tuple[list[FloatArray], list[FloatArray]]:
    coefs: list[FloatArray] = []
    intercepts: list[FloatArray] = []
    for i, (fan_in, fan_out) in enumerate(pairwise(units)):
        for key, shape, out in ((f"coef_{i}", (fan_in, fan_out), coefs),
                                (f"intercept_{i}", (fan_out,), intercepts)):
            value = arrays.get(key)
            if value is None or value.shape != shape or value.dtype != np.dtype(dtype):
                raise ValueError(f"{path}: {key} is missing or not a {dtype} array of shape "
                                 f"{shape}.")
            if not np.isfinite(value).all():
                raise ValueError(f"{path}: {key} holds NaN or infinite values.")
            out.append(np.ascontiguousarray(value))
    return coefs, intercepts
