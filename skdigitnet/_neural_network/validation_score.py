"""The validation set's score and loss after an epoch: what early stopping reads.

``DigitMLPClassifier(scoring=...)`` chooses the score that ``validation_scores_``
records and early stopping maximises:

- ``None`` (the default) or ``'accuracy'``: the accuracy, as ``MLPClassifier``;
- ``'loss'``: the negative validation loss (higher is better, as scikit-learn's scorers);
- any other name of ``sklearn.metrics.get_scorer_names()``, or a callable
  ``scorer(estimator, X, y)``: called with a fitted copy of the estimator holding the
  epoch's weights.

The validation loss is recorded whatever the score: the estimator's own loss (``loss=``)
without the L2 penalty, the mean over the validation rows of ``_network.total_loss``,
which is what the training loss sums. Accuracy and loss come from one forward pass over
the validation set (``_engine.predict_layer``); only a scorer given by another name or
as a callable costs an estimator per epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from numbers import Real
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import DTypeLike
from sklearn.metrics import accuracy_score, get_scorer, get_scorer_names
from sklearn.utils.multiclass import unique_labels

from skdigitnet._engine import predict_layer
from skdigitnet._typing import FloatArray, Matrix, NDArray, TargetKind
from skdigitnet._validation import Predicate

from . import targets as _targets
from .network import Architecture, total_loss, unpack

#: The scoring values computed from the one forward pass, without an estimator.
_CHEAP = (None, "accuracy", "loss")


@lru_cache(maxsize=1)
def _scorer_names() -> frozenset[str]:
    return frozenset(get_scorer_names())


def _is_scoring(value: object) -> bool:
    if value is None or callable(value):
        return True
    return isinstance(value, str) and (value == "loss" or value in _scorer_names())


#: The constraint of the ``scoring`` parameter.
SCORING = Predicate(
    _is_scoring, "None, 'loss', a str among sklearn.metrics.get_scorer_names() or a "
    "callable scorer(estimator, X, y)")


def check_savable(scoring: object) -> None:
    """Raise ``ValueError`` when ``scoring`` is a callable, which a model file (no code
    in it) cannot hold."""
    if callable(scoring):
        raise ValueError(
            f"scoring={scoring!r} is a callable, which a model file cannot hold (it stores "
            "no code). Fit with a scoring name (None, 'loss' or a name of "
            "sklearn.metrics.get_scorer_names()), or use pickle (which stores code).")


class ValidationResult(NamedTuple):
    """One epoch's validation score (higher is better) and validation loss."""

    score: float
    loss: float


@dataclass(frozen=True)
class ValidationSet:
    """``X`` (n_val, n_features) as validated, the labels ``y`` (n_val,) or
    (n_val, n_labels), and ``Y`` (n_val, n_outputs), the targets of the output layer in
    the parameters' dtype."""

    X: Matrix
    y: NDArray[Any]
    Y: FloatArray


def validation_set(X: Matrix, y: NDArray[Any], classes: NDArray[Any], kind: TargetKind,
                   output: str, dtype: DTypeLike) -> ValidationSet:
    """The validation set with its targets encoded as the training targets are.

    Raises ``ValueError`` when ``y`` holds labels (or, for a multilabel fit, a number of
    labels) that the training ``y`` does not have: the loss of such a sample is not
    defined.
    """
    if kind == "multilabel":
        if y.ndim != 2 or y.shape[1] != len(classes):
            raise ValueError(
                f"y_val must be an indicator matrix with {len(classes)} columns, as y is; "
                f"got an array of shape {y.shape}.")
    else:
        if y.ndim != 1:
            raise ValueError(f"y_val must be 1-D, as y is; got an array of shape {y.shape}.")
        unknown = np.setdiff1d(unique_labels(y), classes)
        if len(unknown):
            raise ValueError(
                f"y_val has classes {unknown.tolist()} that the training y does not have "
                f"(classes_ is {classes.tolist()}); the network cannot score labels it is "
                "not trained on. Drop those samples from the validation set, or train on "
                "every class.")
    return ValidationSet(X, y, _targets.encode(y, classes, kind, output, dtype))


def validation_evaluator(
    arch: Architecture, val: ValidationSet, classes: NDArray[Any], kind: TargetKind,
    scoring: str | Callable[..., object] | None, estimator_at: Callable[[FloatArray], Any],
) -> Callable[[FloatArray], ValidationResult]:
    """A callable ``theta -> ValidationResult`` on ``val`` for the ``scoring`` chosen.

    ``estimator_at(theta)`` returns a fitted estimator holding the parameters ``theta``
    (n_parameters,); it is called only for a scorer given by name (other than accuracy
    and 'loss') or as a callable.
    """
    n_val = val.X.shape[0]
    scorer = None if scoring in _CHEAP else (
        get_scorer(scoring) if isinstance(scoring, str) else scoring)

    def evaluate(theta: FloatArray) -> ValidationResult:
        coefs, intercepts = unpack(theta, arch.units)
        P = predict_layer(arch, coefs, intercepts, val.X, len(arch.units) - 1)
        loss = total_loss(arch, val.Y, P) / n_val
        if scoring == "loss":
            return ValidationResult(-loss, loss)
        if scorer is None:
            return ValidationResult(
                float(accuracy_score(val.y, _targets.decode(P, classes, kind))), loss)
        return ValidationResult(_number(scorer(estimator_at(theta), val.X, val.y)), loss)
    return evaluate


def _number(value: object) -> float:
    """A scorer's result as a float; anything else is a ``TypeError`` naming it."""
    if isinstance(value, (Real, np.number)) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return float(value)
    raise TypeError(
        f"The scoring callable returned {value!r} ({type(value).__name__}); it must return "
        "one number, higher is better (scikit-learn's scorer(estimator, X, y) convention).")
