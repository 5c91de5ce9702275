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


@pytest.fixture(autouse=True)
def _fresh_thread_choice():
    """Each test starts with nothing learnt of whether two threads pay (the choice is
    the process's: a test must not depend on what an earlier one timed)."""
    from skdigitnet import _batch_thread
    _batch_thread.thread_choice.forget()


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture(params=["numpy", "compiled"])
def backend(request):
    """A backend class: the numpy reference, then the compiled one (``_compiled.py``)."""
    from skdigitnet._backends import NumpyBackend
    if request.param == "numpy":
        return NumpyBackend
    from skdigitnet import _compiled
    if not _compiled.available():
        pytest.skip("numba is not installed: no compiled backend to test")
    return _compiled.CompiledBackend


def backend_loss_and_gradient(backend, arch, theta, X, Y, sample_weight, alpha, grad):
    """``loss_and_gradient`` on a fresh instance of ``backend`` (a class) for ``arch``."""
    b = backend(arch)
    ws = b.workspace(theta, grad, X.shape[0])
    return b.loss_and_gradient(theta, X, Y, sample_weight, alpha, grad, ws)
