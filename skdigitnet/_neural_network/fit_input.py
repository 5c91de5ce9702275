"""What fit checks and builds from its input before training starts.

``DigitMLPClassifier._validate_fit_input`` returns a :class:`FitInput`; the helpers here
are the checks whose messages users see (classes too few to stratify, unscaled pixels)
and the small pieces of input handling the estimator shares between fit and predict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike
from sklearn import get_config
from sklearn.utils import assert_all_finite

from skdigitnet._typing import Matrix, NDArray, TargetKind
from skdigitnet._warnings import warn

_SMALL_INTS = (np.uint8, np.int8, np.uint16, np.int16)


@dataclass(frozen=True)
class FitInput:
    """One fit or partial_fit call's input, validated: ``X`` (n_samples, n_features),
    ``y`` (n_samples,) or (n_samples, n_labels), the combined sample and class weights
    (n_samples,) or None, the classes and target kind, the validation set given (or
    None), whether the network starts afresh, whether this is partial_fit, whether
    early stopping is active and needs a ``validation_fraction`` split, the batch
    size (None for L-BFGS), and the input's scale (``input_scale``, the largest seen over
    every call that trained this network)."""

    X: Matrix
    y: NDArray[Any]
    sample_weight: NDArray[np.float64] | None
    classes: NDArray[Any]
    kind: TargetKind
    X_val: Matrix | None
    y_val: NDArray[Any] | None
    first_pass: bool
    incremental: bool
    early_stopping: bool
    split: bool
    batch_size: int | None
    input_scale: float = 0.0


def check_stratifiable(y: NDArray[Any]) -> None:
    """Raise, naming them, if some classes have too few members for a stratified split."""
    labels, counts = np.unique(y, return_counts=True)
    few = labels[counts < 2]
    if few.size:
        raise ValueError(
            f"The least populated classes in y have only {counts.min()} member, which is "
            "too few to split off a stratified validation set for early stopping. Classes "
            f"with too few members are: {[str(c) for c in few]}. Add samples of those "
            "classes, pass X_val and y_val to fit, or set early_stopping=False.")


#: Rows sampled, evenly spaced, to judge the scale of an input: reading every value
#: would cost a prediction more than the prediction itself.
SCALE_SAMPLE_ROWS = 64
#: An input whose sampled values reach more than this many times the largest value fit saw
#: (or less than its inverse) is on a different scale.
SCALE_FACTOR = 10.0


def sample_values(X: Matrix, rows: int = SCALE_SAMPLE_ROWS) -> NDArray[Any]:
    """The values of up to ``rows`` evenly spaced rows of ``X`` (the stored values of a
    sparse ``X``), as a 1-D array or 2-D view."""
    step = max(1, X.shape[0] // rows)
    sample = X[::step][:rows]
    return sample if isinstance(sample, np.ndarray) else sample.data


def input_scale(X: Matrix) -> float:
    """The largest absolute value of ``X``'s sampled rows: what fit records, and what
    predictions are compared with (``warn_if_rescaled``)."""
    values = sample_values(X)
    if values.size == 0:
        return 0.0
    # .item(): Python numbers, so -min cannot overflow an unsigned (or int8) dtype
    return float(max(values.max().item(), -values.min().item()))


def warn_if_unscaled_pixels(X: Matrix) -> None:
    """Warn when ``X`` looks like pixel values far outside [0, 1]: integers, or floats
    that are all whole numbers (8-bit images as ``load_mnist`` returns them, or as
    ``fetch_openml("mnist_784")`` does in float64), none negative, the largest over 10.
    The network trains poorly on them. Judged on sampled rows."""
    values = sample_values(X, 16 * SCALE_SAMPLE_ROWS)
    if values.size == 0 or X.dtype.kind not in "iuf":
        return
    top, bottom = values.max().item(), values.min().item()
    if bottom < 0 or not top > 10:  # (not >: NaN, which validation lets through for sparse X)
        return
    if X.dtype.kind == "f" and not (np.isfinite(top) and np.all(np.mod(values, 1) == 0)):
        return
    kind = "integer" if X.dtype.kind in "iu" else "whole-number"
    shown = f"{top:g}" if X.dtype.kind == "f" else str(top)
    warn(f"X holds {kind} pixel values up to {shown} ({X.dtype}), far outside [0, 1]; the "
         "network trains poorly on unscaled pixels. Scale X to [0, 1] first (for 8-bit "
         f"images, X / {255 if top > 16 else shown}), or put DigitNormalizer() before the "
         "classifier in a pipeline, which scales any image.")


def warn_if_rescaled(X: Matrix, fit_scale: float | None) -> None:
    """Warn when the sampled values of ``X`` (for predict, predict_proba, transform, ...)
    are on a very different scale from what fit saw: their largest absolute value more
    than ``SCALE_FACTOR`` times ``fit_scale`` (``input_scale`` of fit's ``X``), or less
    than its inverse. ``fit_scale`` None (a model saved before it was recorded) or 0
    checks nothing."""
    if not fit_scale:
        return
    scale = input_scale(X)
    if not np.isfinite(scale):  # the finite check that follows names the problem
        return
    if not (scale > SCALE_FACTOR * fit_scale or 0 < scale * SCALE_FACTOR < fit_scale):
        return
    hint = ""
    if fit_scale <= 1 < scale <= 255:
        hint = f" (for 8-bit images, X / {255 if scale > 16 else round(scale)})"
    warn(f"X holds values up to {scale:.3g} ({X.dtype}), but the data this model was fitted "
         f"on held values up to {fit_scale:.3g}; the network reads X on a very different "
         f"scale and its answers will be poor. Scale X as it was scaled for fit{hint}.")


def check_finite(X: Matrix, estimator_name: str) -> None:
    """scikit-learn's check that ``X`` holds no NaN or infinity, with its messages (and
    skipped as it is under ``sklearn.set_config(assume_finite=True)``), in one pass bound
    by reading ``X``: whole rows are added as vectors, where scikit-learn's first pass
    sums every value pairwise, bound by arithmetic. Only when that sum is not finite (a
    NaN or infinity, or finite values whose sum overflows) does
    ``sklearn.utils.assert_all_finite`` examine ``X`` value by value and raise."""
    values = X if isinstance(X, np.ndarray) else X.data
    if values.dtype.kind not in "fc" or get_config()["assume_finite"]:
        return  # (integer images cannot hold NaN)
    axis = 0 if values.ndim == 2 and values.flags.c_contiguous else -1
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(values, axis=axis).sum()):
            return
    assert_all_finite(X, allow_nan=False, estimator_name=estimator_name, input_name="X")


def dtypes_for(X: object) -> tuple[type[np.floating[Any]], ...] | None:
    """What validation may keep: integer images of up to 16 bits stay as they are (a
    float copy of 60,000 MNIST images would take 188 MB); the rest becomes float."""
    dtype = getattr(X, "dtype", None)
    if dtype is not None and any(dtype == t for t in _SMALL_INTS):
        return None
    return (np.float64, np.float32)


def model_dtype(dtype: DTypeLike) -> type[np.floating[Any]]:
    """float32 weights for float32 data and for 8/16-bit integers (exact in float32);
    float64 otherwise."""
    return np.float64 if dtype == np.float64 else np.float32
