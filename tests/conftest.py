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
def kernel_path(request, monkeypatch):
    """Run a test on the numpy path and on the compiled kernels (``_kernels.py``)."""
    from skdigitnet import _kernels

    if request.param == "compiled" and _kernels.numba is None:
        pytest.skip("numba is not installed: no compiled kernels to test")
    monkeypatch.setenv("SKDIGITNET_NUMBA", "1" if request.param == "compiled" else "0")
    return request.param
