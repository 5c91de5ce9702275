"""Class labels in and out: from ``y`` to output-layer targets and back.

Three kinds of target, as scikit-learn names them:

- 'binary': two classes; one logistic output (``P(classes_[1])``), or two softmax outputs;
- 'multiclass': k > 2 classes, k outputs (softmax, or the seed's k independent sigmoids);
- 'multilabel': an indicator matrix of k labels, k independent logistic outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_array

from skdigitnet._typing import ArrayLike, FloatArray, NDArray, TargetKind


def target_kind(y: NDArray[Any], classes: NDArray[Any]) -> TargetKind:
    """'binary', 'multiclass' or 'multilabel' for labels ``y`` given the known ``classes``."""
    check_classification_targets(y)
    if type_of_target(y).startswith("multilabel"):
        return "multilabel"
    return "binary" if len(classes) == 2 else "multiclass"


def find_classes(y: NDArray[Any]) -> NDArray[Any]:
    """The sorted classes of ``y`` (column indices for a multilabel indicator matrix)."""
    check_classification_targets(y)
    if type_of_target(y).startswith("multilabel"):
        return np.arange(y.shape[1])
    classes = unique_labels(y)
    if len(classes) < 2:
        raise ValueError(
            f"y has only one class ({np.asarray(classes[0]).tolist()!r}); a classifier "
            "needs at least two "
            "classes to learn to tell them apart. Check that y holds the labels you meant."
        )
    return classes


def output_activation(out_activation: str, kind: TargetKind) -> str:
    """Resolve the ``out_activation`` parameter to 'softmax' or 'logistic'."""
    if out_activation == "auto":
        return "softmax" if kind == "multiclass" else "logistic"
    if out_activation == "softmax" and kind == "multilabel":
        raise ValueError(
            "out_activation='softmax' makes the outputs sum to one, which cannot describe "
            "several labels at once; use out_activation='logistic' (or 'auto') for a "
            "multilabel y."
        )
    return out_activation


def n_outputs(kind: TargetKind, output: str, classes: NDArray[Any]) -> int:
    """Number of output units."""
    return 1 if kind == "binary" and output == "logistic" else len(classes)


def encode(y: NDArray[Any], classes: NDArray[Any], kind: TargetKind, output: str,
           dtype: DTypeLike) -> FloatArray:
    """Targets for the output layer, shape (n_samples, n_outputs), in ``dtype``."""
    if kind == "multilabel":
        return np.asarray(y, dtype=dtype)
    unknown = np.setdiff1d(unique_labels(y), classes)
    if len(unknown):
        raise ValueError(
            f"y has classes {unknown.tolist()} that are not in classes_ "
            f"{classes.tolist()}; pass every class to the first partial_fit call "
            "(classes=...) or refit."
        )
    index = np.searchsorted(classes, y)
    if n_outputs(kind, output, classes) == 1:
        return (index == 1).astype(dtype)[:, np.newaxis]
    Y = np.zeros((len(index), len(classes)), dtype=dtype)
    Y[np.arange(len(index)), index] = 1
    return Y


def decode(P: FloatArray, classes: NDArray[Any], kind: TargetKind) -> NDArray[Any]:
    """Predicted labels from output activations ``P`` (n_samples, n_outputs)."""
    if kind == "multilabel":
        return (P > 0.5).astype(int)
    if P.shape[1] == 1:
        return classes[(P[:, 0] > 0.5).astype(int)]
    return classes[np.argmax(P, axis=1)]


def probabilities(P: FloatArray, kind: TargetKind, output: str) -> FloatArray:
    """``predict_proba`` from output activations ``P`` (n_samples, n_outputs).

    A single logistic output ``p`` gives columns ``[1 - p, p]``; independent sigmoids
    over exclusive classes are normalised to sum to one per row; multilabel outputs
    are returned as they are (one probability per label).
    """
    if kind == "multilabel":
        return P
    if P.shape[1] == 1:
        return np.hstack([1 - P, P])
    if output == "logistic":
        total = P.sum(axis=1, keepdims=True)
        return np.divide(P, total, out=np.full_like(P, 1 / P.shape[1]), where=total > 0)
    return P


def check_sample_weight(sample_weight: ArrayLike | None,
                        n_samples: int) -> NDArray[np.float64] | None:
    """A fresh float64 array of shape (n_samples,); finite, non-negative, not all zero."""
    if sample_weight is None:
        return None
    if np.isscalar(sample_weight):
        sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)
    sw = check_array(sample_weight, ensure_2d=False, dtype=np.float64, copy=True,
                     input_name="sample_weight")
    if sw.ndim != 1:
        raise ValueError(
            f"Sample weights must be 1D array or scalar; got an array of shape {sw.shape}."
        )
    if sw.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight.shape == {sw.shape}, expected ({n_samples},)! Pass one "
            "weight per sample."
        )
    if (sw < 0).any():
        raise ValueError("Negative values in data passed to sample_weight; weights must be >= 0.")
    if not sw.sum() > 0:
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sw


def class_sample_weight(
    class_weight: str | dict[Any, float] | None, y: NDArray[Any], classes: NDArray[Any],
    kind: TargetKind, incremental: bool,
) -> NDArray[np.float64] | None:
    """Per-sample weights from ``class_weight`` (None, 'balanced' or a dict), or None."""
    if class_weight is None:
        return None
    if kind == "multilabel":
        raise ValueError(
            "class_weight is not supported for a multilabel y; pass sample_weight instead."
        )
    if incremental and class_weight == "balanced":
        raise ValueError(
            "class_weight='balanced' is not supported by partial_fit: one batch does not "
            "show the class frequencies of the whole data. Compute them once with "
            "sklearn.utils.class_weight.compute_class_weight('balanced', classes=classes, "
            "y=y_all) and pass class_weight=dict(zip(classes, weights))."
        )
    present = classes if class_weight != "balanced" else unique_labels(y)
    weights = compute_class_weight(class_weight, classes=present, y=y)
    return weights[np.searchsorted(present, y)]
