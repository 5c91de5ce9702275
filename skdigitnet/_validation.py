"""Declarative parameter constraints, with scikit-learn's wording.

scikit-learn's own validator lives in a private module (``sklearn.utils._param_validation``)
that may change between releases, so we keep a small one of our own. The messages read
exactly like scikit-learn's, e.g.::

    The 'alpha' parameter of DigitMLPClassifier must be a float in the range [0.0, inf).
    Got -1 instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from ._typing import Matrix


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter has a value outside its constraints.

    Subclasses both ``ValueError`` and ``TypeError``, like scikit-learn's error of the
    same name, so code that catches either keeps working.
    """


class Constraint(Protocol):
    """What ``validate_params`` asks of a constraint; ``str()`` describes it."""

    def is_satisfied_by(self, value: object) -> bool: ...


class Interval:
    """Numbers of ``kind`` (``Integral`` or ``Real``) between ``left`` and ``right``.

    ``closed`` is one of 'left', 'right', 'both', 'neither'; ``None`` bounds are infinite.
    """

    def __init__(self, kind: type, left: float | None,
                 right: float | None,
                 closed: Literal["left", "right", "both", "neither"]) -> None:
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, self.kind):
            return False
        if isinstance(value, float) and np.isnan(value):
            return False
        number = cast(float, value)  # numbers.Real declares no >, >= for type checkers
        left_ok = (
            self.left is None
            or number > self.left
            or (number == self.left and self.closed in ("left", "both"))
        )
        right_ok = (
            self.right is None
            or number < self.right
            or (number == self.right and self.closed in ("right", "both"))
        )
        return left_ok and right_ok

    def __str__(self) -> str:
        kind = "an int" if self.kind is Integral else "a float"
        real = self.kind is Real
        left = "-inf" if self.left is None else float(self.left) if real else self.left
        right = "inf" if self.right is None else float(self.right) if real else self.right
        lb = "[" if self.closed in ("left", "both") and self.left is not None else "("
        rb = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        return f"{kind} in the range {lb}{left}, {right}{rb}"


class Options:
    """One of a fixed set of strings (or other hashable values)."""

    def __init__(self, *options: str) -> None:
        self.options = options

    def is_satisfied_by(self, value: object) -> bool:
        try:
            return isinstance(value, str) and value in self.options
        except TypeError:  # pragma: no cover - unhashable
            return False

    def __str__(self) -> str:
        listed = ", ".join(repr(o) for o in sorted(self.options))
        return f"a str among {{{listed}}}"


class Predicate:
    """Any value for which ``check(value)`` is true, described as ``description``."""

    def __init__(self, check: Callable[[Any], object], description: str) -> None:
        self.check, self.description = check, description

    def is_satisfied_by(self, value: object) -> bool:
        return bool(self.check(value))

    def __str__(self) -> str:
        return self.description


def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_random_state(value: object) -> bool:
    return (
        value is None
        or isinstance(value, np.random.RandomState)
        or (isinstance(value, Integral) and not _is_bool(value)
            and 0 <= cast(int, value) < 2**32)
    )


BOOLEAN = Predicate(_is_bool, "an instance of 'bool'")
NONE = Predicate(lambda v: v is None, "None")
RANDOM_STATE = Predicate(
    _is_random_state, "an int in the range [0, 4294967295], an instance of 'RandomState' or None"
)
VERBOSE = Predicate(
    lambda v: _is_bool(v) or (isinstance(v, Integral) and cast(int, v) >= 0), "an int or a bool"
)


def validate_params(estimator: Any,
                    constraints: Mapping[str, Sequence[Constraint]]) -> None:
    """Check every parameter named in ``constraints`` against its list of constraints.

    Raises
    ------
    InvalidParameterError
        Naming the parameter, the estimator, what it must be and what it got.
    """
    params = estimator.get_params(deep=False)
    for name, options in constraints.items():
        value = params[name]
        if any(option.is_satisfied_by(value) for option in options):
            continue
        described = [str(option) for option in options]
        must_be = described[0] if len(described) == 1 else (
            ", ".join(described[:-1]) + " or " + described[-1]
        )
        raise InvalidParameterError(
            f"The {name!r} parameter of {type(estimator).__name__} must be {must_be}. "
            f"Got {value!r} instead."
        )


def check_input_features(estimator: object, input_features: ArrayLike | None) -> None:
    """Check ``get_feature_names_out``'s ``input_features`` against what ``fit`` saw,
    with scikit-learn's messages."""
    if input_features is None:
        return
    names = np.asarray(input_features, dtype=object)
    known = getattr(estimator, "feature_names_in_", None)
    if known is not None and not np.array_equal(known, names):
        raise ValueError("input_features is not equal to feature_names_in_")
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is not None and len(names) != n_features:
        raise ValueError(
            "input_features should have length equal to number of features "
            f"({n_features}), got {len(names)}"
        )


@overload
def validate_with_hints(estimator: object, X: Any, /, **kwargs: Any) -> Matrix: ...
@overload
def validate_with_hints(estimator: object, X: Any, y: Any, /,
                        **kwargs: Any) -> tuple[Matrix, NDArray[Any]]: ...
def validate_with_hints(estimator: object, X: Any, /, *args: Any, **kwargs: Any) -> Any:
    """``sklearn.utils.validation.validate_data`` with a way out added to the one message
    that has none: text where numbers are expected."""
    from sklearn.utils.validation import validate_data
    try:
        return validate_data(estimator, X, *args, **kwargs)
    except ValueError as exc:
        if "could not convert string to float" not in str(exc):
            raise
        raise ValueError(
            f"{exc}. {type(estimator).__name__} needs numbers (pixel values) in X; encode "
            "text or category columns first, e.g. with sklearn.preprocessing.OneHotEncoder, "
            "or drop them."
        ) from exc
