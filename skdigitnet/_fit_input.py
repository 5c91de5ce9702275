"""What fit checks and builds from its input before training starts.

``DigitMLPClassifier._validate_fit_input`` returns a :class:`FitInput`; the helpers here
are the checks whose messages users see (classes too few to stratify, unscaled pixels)
and the small pieces of input handling the estimator shares between fit and predict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike
from sklearn.metrics import accuracy_score

from . import _targets
from ._backends import predict_layer
from ._network import Architecture, unpack
from ._typing import ArrayLike, FloatArray, Matrix, NDArray, TargetKind
from ._warnings import warn

_SMALL_INTS = (np.uint8, np.int8, np.uint16, np.int16)


@dataclass(frozen=True)
class FitInput:
    """One fit or partial_fit call's input, validated: ``X`` (n_samples, n_features),
    ``y`` (n_samples,) or (n_samples, n_labels), the combined sample and class weights
    (n_samples,) or None, the classes and target kind, the validation set given (or
    None), whether the network starts afresh, whether this is partial_fit, whether
    early stopping is active and needs a ``validation_fraction`` split, and the batch
    size (None for L-BFGS)."""

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


def warn_if_unscaled_pixels(X: Matrix) -> None:
    """Warn when ``X`` holds integer pixel values far outside [0, 1] (8-bit images, as
    ``load_mnist`` returns them): the network trains poorly on them."""
    if X.dtype.kind not in "iu":
        return
    values = X if isinstance(X, np.ndarray) else X.data  # dense, or CSR's stored values
    if values.size == 0 or values.min() < 0 or values.max() <= 10:
        return
    top = values.max().item()
    warn(f"X holds integer pixel values up to {top} ({X.dtype}), far outside [0, 1]; the "
         "network trains poorly on unscaled pixels. Scale X to [0, 1] first (for 8-bit "
         f"images, X / {255 if top > 16 else top}), or put DigitNormalizer() before the "
         "classifier in a pipeline, which scales any image.")


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


def validation_scorer(arch: Architecture, X_val: Matrix, y_val: ArrayLike, classes: NDArray[Any],
                      kind: TargetKind) -> Callable[[FloatArray], float]:
    """A callable ``theta -> accuracy on (X_val, y_val)``."""
    y_val = np.asarray(y_val)

    def score(theta: FloatArray) -> float:
        coefs, intercepts = unpack(theta, arch.units)
        P = predict_layer(arch, coefs, intercepts, X_val, len(arch.units) - 1)
        return float(accuracy_score(y_val, _targets.decode(P, classes, kind)))
    return score
