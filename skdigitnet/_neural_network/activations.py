"""Hidden-layer activations: the base class, the built-ins and the name registry.

An activation is one small object holding its value and its derivative side by side
(as in Nielsen's ``network2.py``). Every function here is elementwise: ``z`` is an
array of any shape, usually ``(n_samples, n_units)``.

Adding a named activation is one registry entry: ``register_activation("mish", Mish)``.
"""

from __future__ import annotations

from numbers import Real
from typing import cast

import numpy as np
from scipy.special import expit, ndtr

from skdigitnet._typing import FloatArray

__all__ = ["ACTIVATIONS", "Activation", "get_activation", "register_activation"]

_SQRT_2PI = np.sqrt(2.0 * np.pi)


class Activation:
    """Base class for a hidden-layer activation function ``a = σ(z)``.

    A subclass implements two methods:

    - ``__call__(self, z)``: the activation of ``z``, elementwise, same shape as ``z``;
    - ``derivative(self, z, a)``: ``dσ/dz`` elementwise, where ``a = self(z)`` was already
      computed (so ``tanh`` can return ``1 - a**2``).

    Class attributes a subclass may set:

    needs_z : bool, default=True
        Set to False when ``derivative`` uses only ``a``; the network then calls it with
        ``z=None`` and may compute the layer in place, saving memory and time.
    init_factor : float, default=6.0
        Weights feeding this activation start uniform in
        ``±sqrt(init_factor / (fan_in + fan_out))`` (Glorot; scikit-learn uses 2.0 for
        the logistic function and 6.0 otherwise).

    Subclasses must be picklable (define them at module level) so that ``clone``,
    ``GridSearchCV(n_jobs=2)`` and pickle work; parameters belong in ``__init__``
    as plain attributes, which gives a readable ``repr`` and value equality.

    Examples
    --------
    >>> import numpy as np
    >>> from skdigitnet import Activation
    >>> class Cube(Activation):
    ...     def __call__(self, z: FloatArray) -> FloatArray:
    ...         return z ** 3
    ...     def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
    ...         return 3 * z ** 2
    >>> Cube()(np.array([1.0, 2.0]))
    array([1., 8.])
    """

    needs_z: bool = True
    init_factor: float = 6.0

    def __call__(self, z: FloatArray) -> FloatArray:
        """The activation ``σ(z)``, elementwise; a subclass implements it.

        Parameters
        ----------
        z : ndarray
            Weighted inputs, usually of shape (n_samples, n_units).

        Returns
        -------
        a : ndarray of the shape of ``z``
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement __call__(self, z) returning the "
            "activation of z, elementwise."
        )

    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        """The derivative ``dσ/dz``, elementwise; a subclass implements it.

        Parameters
        ----------
        z : ndarray or None
            Weighted inputs; None when the class sets ``needs_z = False``.
        a : ndarray of the shape of ``z``
            ``self(z)``, already computed (so ``tanh`` can return ``1 - a**2``).

        Returns
        -------
        ndarray of the shape of ``a``
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement derivative(self, z, a) returning "
            "dσ/dz elementwise."
        )

    @property
    def name(self) -> str:
        """Short name used in summaries: the registry name of built-ins."""
        return type(self).__name__.lower()

    # Private hooks used by the network. Built-ins override them to work in place;
    # the defaults call the public methods and check what a user's subclass returns.
    def _forward(self, z: FloatArray) -> FloatArray:
        """Return ``σ(z)``; built-ins may overwrite ``z``. Shape ``z.shape``."""
        return _checked(self, "__call__", self(z), z)

    def _backward(self, z: FloatArray | None, a: FloatArray, delta: FloatArray) -> FloatArray:
        """Multiply ``delta`` in place by ``σ'(z)``; return it."""
        # z is None only when needs_z is False, and then derivative does not read it
        delta *= _checked(self, "derivative", self.derivative(cast(FloatArray, z), a), a)
        return delta

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items()))))


def _checked(activation: Activation, method: str, result: object,
             like: FloatArray) -> FloatArray:
    """Check that a user's activation returned a float array shaped like ``like``."""
    result = np.asarray(result)
    if result.shape != like.shape:
        raise ValueError(
            f"{type(activation).__name__}.{method} returned an array of shape "
            f"{result.shape} for an input of shape {like.shape}; an activation must "
            "work elementwise and return the same shape."
        )
    if not np.issubdtype(result.dtype, np.floating) and not np.issubdtype(
        result.dtype, np.integer
    ):
        raise TypeError(
            f"{type(activation).__name__}.{method} returned dtype {result.dtype}; "
            "it must return real numbers (a float array)."
        )
    return result.astype(like.dtype, copy=False)


class Identity(Activation):
    """``σ(z) = z``; a linear bottleneck."""

    needs_z = False
    name = "identity"

    def __call__(self, z: FloatArray) -> FloatArray:
        return np.array(z, copy=True)

    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        return np.ones_like(a)

    def _forward(self, z: FloatArray) -> FloatArray:
        return z

    def _backward(self, z: FloatArray | None, a: FloatArray, delta: FloatArray) -> FloatArray:
        return delta


class Logistic(Activation):
    """The sigmoid ``σ(z) = 1 / (1 + exp(-z))`` of the seed network; ``σ' = a (1 - a)``."""

    needs_z = False
    init_factor = 2.0
    name = "logistic"

    def __call__(self, z: FloatArray) -> FloatArray:
        return expit(z)

    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        return a * (1 - a)

    def _forward(self, z: FloatArray) -> FloatArray:
        return expit(z, out=z)

    def _backward(self, z: FloatArray | None, a: FloatArray, delta: FloatArray) -> FloatArray:
        delta *= a
        delta *= 1 - a
        return delta


class Tanh(Activation):
    """``σ(z) = tanh(z)``; ``σ' = 1 - a²``."""

    needs_z = False
    name = "tanh"

    def __call__(self, z: FloatArray) -> FloatArray:
        return np.tanh(z)

    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        return 1 - a**2

    def _forward(self, z: FloatArray) -> FloatArray:
        return np.tanh(z, out=z)

    def _backward(self, z: FloatArray | None, a: FloatArray, delta: FloatArray) -> FloatArray:
        delta *= 1 - a**2
        return delta


class ReLU(Activation):
    """``σ(z) = max(z, 0)``; ``σ' = 1`` where ``a > 0``, else 0."""

    needs_z = False
    name = "relu"

    def __call__(self, z: FloatArray) -> FloatArray:
        return np.maximum(z, 0)

    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        return (a > 0).astype(a.dtype)

    def _forward(self, z: FloatArray) -> FloatArray:
        return np.maximum(z, 0, out=z)

    def _backward(self, z: FloatArray | None, a: FloatArray, delta: FloatArray) -> FloatArray:
        delta *= a > 0
        return delta


class LeakyReLU(Activation):
    """``σ(z) = z`` for ``z > 0``, else ``negative_slope * z``."""

    needs_z = False
    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01) -> None:
        if not isinstance(negative_slope, Real) or not 0 <= negative_slope < 1:
            raise ValueError(
                f"negative_slope must be a float in [0, 1); got {negative_slope!r}."
            )
        self.negative_slope: float = negative_slope

    def __call__(self, z: FloatArray) -> FloatArray:
        return np.where(z > 0, z, self.negative_slope * z)

    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        # a > 0 exactly where z > 0, because negative_slope >= 0.
        return np.where(a > 0, 1.0, self.negative_slope).astype(a.dtype)


class ELU(Activation):
    """``σ(z) = z`` for ``z > 0``, else ``alpha * (exp(z) - 1)``; ``σ' = a + alpha`` there."""

    needs_z = False
    name = "elu"

    def __init__(self, alpha: float = 1.0) -> None:
        if not isinstance(alpha, Real) or not alpha > 0:
            raise ValueError(f"alpha must be a positive float; got {alpha!r}.")
        self.alpha: float = alpha

    def __call__(self, z: FloatArray) -> FloatArray:
        return np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0)))

    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        return np.where(a > 0, 1.0, a + self.alpha).astype(a.dtype)


class Softplus(Activation):
    """``σ(z) = log(1 + exp(z))``; ``σ' = sigmoid(z) = 1 - exp(-a)``."""

    needs_z = False
    name = "softplus"

    def __call__(self, z: FloatArray) -> FloatArray:
        return np.logaddexp(0, z).astype(np.result_type(z, np.float32), copy=False)

    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        return -np.expm1(-a)


class GELU(Activation):
    """Gaussian error linear unit ``σ(z) = z Φ(z)``; ``σ' = Φ(z) + z φ(z)``."""

    name = "gelu"

    def __call__(self, z: FloatArray) -> FloatArray:
        return z * ndtr(z)

    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        return ndtr(z) + z * np.exp(-0.5 * z * z) / _SQRT_2PI


class Swish(Activation):
    """Swish (SiLU) ``σ(z) = z sigmoid(z)``; ``σ' = s (1 + z (1 - s))``."""

    name = "swish"

    def __call__(self, z: FloatArray) -> FloatArray:
        return z * expit(z)

    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        s = expit(z)
        return s * (1 + z * (1 - s))


#: The registry: name -> Activation subclass (called with no arguments).
ACTIVATIONS: dict[str, type[Activation]] = {
    "identity": Identity,
    "logistic": Logistic,
    "sigmoid": Logistic,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "softplus": Softplus,
    "gelu": GELU,
    "swish": Swish,
}


def register_activation(name: str, activation_class: type[Activation]) -> None:
    """Register ``activation_class`` under ``name`` so ``activation=name`` finds it.

    Parameters
    ----------
    name : str
        The name users will pass, e.g. ``"mish"``. Built-in names cannot be replaced.
    activation_class : subclass of Activation
        Called with no arguments to make the activation.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"An activation name must be a non-empty str; got {name!r}.")
    if not (isinstance(activation_class, type) and issubclass(activation_class, Activation)):
        raise TypeError(
            "register_activation needs a subclass of skdigitnet.Activation; got "
            f"{activation_class!r}."
        )
    if name in _BUILTIN_NAMES:
        raise ValueError(f"{name!r} is a built-in activation and cannot be replaced.")
    ACTIVATIONS[name] = activation_class


_BUILTIN_NAMES = frozenset(ACTIVATIONS)


def get_activation(spec: str | Activation) -> Activation:
    """Turn a name or an Activation instance into an Activation instance.

    This is the one place where names become objects.

    Parameters
    ----------
    spec : str or Activation
        A name in :data:`ACTIVATIONS`, or an instance, returned as it is.

    Returns
    -------
    activation : Activation

    Raises
    ------
    ValueError
        If the name is not registered.
    TypeError
        If ``spec`` is neither (for example a class instead of an instance).
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        try:
            return ACTIVATIONS[spec]()
        except KeyError:
            raise ValueError(
                f"Unknown activation {spec!r}. Use one of {sorted(ACTIVATIONS)}, an "
                "instance of a skdigitnet.Activation subclass, or register yours with "
                "skdigitnet.register_activation(name, cls)."
            ) from None
    if isinstance(spec, type) and issubclass(spec, Activation):
        raise TypeError(
            f"activation got the class {spec.__name__}; pass an instance instead: "
            f"{spec.__name__}()."
        )
    raise TypeError(
        "activation must be a str, an instance of skdigitnet.Activation, or a tuple of "
        f"those with one entry per hidden layer; got {spec!r}."
    )
