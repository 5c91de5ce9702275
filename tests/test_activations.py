import pickle

import numpy as np
import pytest
from scipy.special import expit, ndtr
from sklearn.exceptions import ConvergenceWarning

from skdigitnet import (
    ACTIVATIONS,
    Activation,
    DigitMLPClassifier,
    get_activation,
    register_activation,
)
from skdigitnet._neural_network.activations import _BUILTIN_NAMES

from _custom import Cube, ScaledTanh, Squareplus

USER = {"scaled_tanh_instance": ScaledTanh(), "cube_instance": Cube(),
        "squareplus_instance": Squareplus()}
ALL = sorted(_BUILTIN_NAMES) + sorted(USER)


def make(name):
    return USER.get(name) or get_activation(name)


def sample_z(rng):
    z = rng.uniform(-3, 3, size=(7, 5))
    return z[np.abs(z) > 1e-3].reshape(-1, 1)  # keep clear of the kinks at 0


@pytest.mark.parametrize("name", ALL)
def test_derivative_matches_finite_differences(name, rng):
    act = make(name)
    z = sample_z(rng)
    eps = 1e-6
    numeric = (act(z + eps) - act(z - eps)) / (2 * eps)
    a = act(z)
    analytic = act.derivative(None if not act.needs_z else z, a)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ALL)
def test_fast_path_equals_public_methods(name, rng):
    """The in-place hooks the network uses compute what __call__/derivative compute."""
    act = make(name)
    for dtype in (np.float64, np.float32):
        z = sample_z(rng).astype(dtype)
        expected_a = act(z)
        a = act._forward(z.copy())
        assert a.dtype == dtype
        np.testing.assert_allclose(a, expected_a, rtol=1e-6)
        delta = rng.normal(size=z.shape).astype(dtype)
        expected = delta * act.derivative(z, expected_a)
        got = act._backward(z, a, delta.copy())
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name, z, expected", [
    ("identity", -1.5, -1.5),
    ("logistic", 0.0, 0.5),
    ("sigmoid", 2.0, 1 / (1 + np.exp(-2.0))),
    ("tanh", 1.0, np.tanh(1.0)),
    ("relu", -1.0, 0.0),
    ("relu", 2.5, 2.5),
    ("leaky_relu", -1.0, -0.01),
    ("elu", -1.0, np.exp(-1.0) - 1),
    ("softplus", 0.0, np.log(2.0)),
    ("gelu", 1.0, ndtr(1.0)),
    ("swish", 1.0, expit(1.0)),
])
def test_values_by_hand(name, z, expected):
    assert get_activation(name)(np.array([z]))[0] == pytest.approx(expected, rel=1e-12)


def test_large_inputs_stay_finite():
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    for name in _BUILTIN_NAMES:
        act = get_activation(name)
        with np.errstate(over="raise"):
            a = act(z)
        assert np.isfinite(a).all(), name
        assert np.isfinite(act.derivative(z, a)).all(), name


def test_get_activation_errors():
    with pytest.raises(ValueError, match=r"Unknown activation 'nope'. Use one of"):
        get_activation("nope")
    with pytest.raises(TypeError, match=r"pass an instance instead: ScaledTanh\(\)"):
        get_activation(ScaledTanh)
    with pytest.raises(TypeError, match="activation must be a str"):
        get_activation(3)
    inst = ScaledTanh()
    assert get_activation(inst) is inst


def test_base_class_requires_methods():
    with pytest.raises(NotImplementedError, match="must implement __call__"):
        Activation()(np.zeros(2))
    with pytest.raises(NotImplementedError, match="must implement derivative"):
        Activation().derivative(np.zeros(2), np.zeros(2))


def test_register_is_one_entry_and_usable_by_name(small_digits):
    X, y = small_digits
    register_activation("cube_test", Cube)
    try:
        assert ACTIVATIONS["cube_test"] is Cube
        clf = DigitMLPClassifier(activation="cube_test", max_iter=5, random_state=0)
        with pytest.warns(ConvergenceWarning):
            clf.fit(X, y)
        assert clf._arch.hidden[0] == Cube()
    finally:
        del ACTIVATIONS["cube_test"]
    with pytest.raises(ValueError, match="'relu' is a built-in activation"):
        register_activation("relu", Cube)
    with pytest.raises(TypeError, match=r"needs a subclass of skdigitnet.Activation"):
        register_activation("x", np.tanh)


def test_equality_repr_and_pickle():
    assert ScaledTanh(2.0) == ScaledTanh(2.0)
    assert ScaledTanh(2.0) != ScaledTanh(1.0)
    assert hash(ScaledTanh(2.0)) == hash(ScaledTanh(2.0))
    assert repr(ScaledTanh(2.0)) == "ScaledTanh(scale=2.0)"
    assert repr(get_activation("leaky_relu")) == "LeakyReLU(negative_slope=0.01)"
    assert pickle.loads(pickle.dumps(ScaledTanh(2.0))) == ScaledTanh(2.0)


def test_parameter_errors_of_builtins():
    from skdigitnet._neural_network.activations import ELU, LeakyReLU
    with pytest.raises(ValueError, match="negative_slope must be a float in"):
        LeakyReLU(-0.5)
    with pytest.raises(ValueError, match="alpha must be a positive float"):
        ELU(0)


class WrongShape(Activation):
    def __call__(self, z):
        return z[:, :1]

    def derivative(self, z, a):
        return np.ones_like(a)


class ComplexOut(Activation):
    def __call__(self, z):
        return z + 1j

    def derivative(self, z, a):
        return np.ones_like(z)


def test_user_activation_returning_wrong_shape_or_dtype_is_caught(small_digits):
    X, y = small_digits
    with pytest.raises(ValueError, match=r"WrongShape.__call__ returned an array of shape "
                                         r"\(50, 1\) for an input of shape \(50, 16\)"):
        DigitMLPClassifier(activation=WrongShape(), max_iter=2).fit(X, y)
    with pytest.raises(TypeError, match=r"ComplexOut.__call__ returned dtype complex128"):
        DigitMLPClassifier(activation=ComplexOut(), max_iter=2).fit(X, y)
