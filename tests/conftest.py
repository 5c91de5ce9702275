"""Shared fixtures: small data sets built from scikit-learn's bundled digits."""

import numpy as np
import pytest
from sklearn.datasets import load_digits


@pytest.fixture(scope="session")
def digits():
    """Bundled 8x8 digits, pixels scaled to [0, 1]: X (1797, 64) float64, y (1797,)."""
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="session")
def small_digits(digits):
    """The first 300 digits, for quick fits."""
    X, y = digits
    return X[:300], y[:300]


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture(params=["numpy", "compiled"])
def backend(request):
    """A backend class: the numpy reference, then the compiled one
    (``skdigitnet._engine.compiled``)."""
    from skdigitnet._engine import NumpyBackend
    if request.param == "numpy":
        return NumpyBackend
    from skdigitnet._engine import compiled
    if not compiled.available():
        pytest.skip("numba is not installed: no compiled backend to test")
    return compiled.CompiledBackend


def backend_loss_and_gradient(backend, arch, theta, X, Y, sample_weight, alpha, grad):
    """``loss_and_gradient`` on a fresh instance of ``backend`` (a class) for ``arch``;
    an architecture the compiled kernels do not cover runs on numpy, as ``choose_backend``
    would run it."""
    from skdigitnet._engine import NumpyBackend, compiled
    b = backend(arch) if backend is NumpyBackend or compiled.covers(arch) else NumpyBackend(arch)
    ws = b.workspace(theta, grad, X.shape[0])
    return b.loss_and_gradient(theta, X, Y, sample_weight, alpha, grad, ws)
