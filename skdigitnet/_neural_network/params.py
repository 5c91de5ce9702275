"""The parameters ``DigitMLPClassifier`` accepts: scikit-learn style constraints.

``validate_params`` (``skdigitnet/_validation.py``) checks them at the start of ``fit``
and ``partial_fit`` and raises ``InvalidParameterError`` with scikit-learn's wording.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import cast

import numpy as np

from skdigitnet._validation import (
    BOOLEAN,
    NONE,
    RANDOM_STATE,
    VERBOSE,
    Constraint,
    Interval,
    Options,
    Predicate,
)

from .activations import ACTIVATIONS, Activation
from .validation_score import SCORING


def _is_layer_sizes(value: object) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, Integral):
        return cast(int, value) >= 1
    return isinstance(value, (tuple, list, np.ndarray)) and all(
        isinstance(v, Integral) and not isinstance(v, (bool, np.bool_)) and cast(int, v) >= 1
        for v in np.ravel(value)
    )


def _is_activation(value: object) -> bool:
    if isinstance(value, (tuple, list)):
        return len(value) > 0 and all(_is_activation(v) for v in value)
    return isinstance(value, Activation) or (isinstance(value, str) and value in ACTIVATIONS)


class _ActivationConstraint(Predicate):
    def __str__(self) -> str:  # the registry may grow at run time
        names = ", ".join(repr(n) for n in sorted(ACTIVATIONS))
        return (f"a str among {{{names}}}, an instance of 'skdigitnet.Activation' or a "
                "tuple of those with one per hidden layer")


PARAMETER_CONSTRAINTS: dict[str, list[Constraint]] = {
    "hidden_layer_sizes": [Predicate(
        _is_layer_sizes, "an int in the range [1, inf) or an array-like of such ints")],
    "activation": [_ActivationConstraint(_is_activation, "")],
    "solver": [Options("lbfgs", "sgd", "adam")],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [Options("auto"), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [Options("constant", "invscaling", "adaptive")],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": [BOOLEAN],
    "random_state": [RANDOM_STATE],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": [VERBOSE],
    "warm_start": [BOOLEAN],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": [BOOLEAN],
    "early_stopping": [BOOLEAN],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                         Predicate(lambda v: v == np.inf, "inf")],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
    "out_activation": [Options("auto", "softmax", "logistic")],
    "loss": [Options("log_loss", "squared_error")],
    "class_weight": [Options("balanced"), Predicate(lambda v: isinstance(v, dict),
                                                    "an instance of 'dict'"), NONE],
    "transform_layer": [Interval(Integral, None, None, closed="neither")],
    "scoring": [SCORING],
}
