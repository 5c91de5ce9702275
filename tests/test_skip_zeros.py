"""The first-layer products that skip zero inputs (``skdigitnet._skip_zeros``), against
numpy in float64: every dtype of X and W, first layers of 1 to 16 units, rows read in
place or through a shuffled order, any range of rows and of columns."""

import numpy as np
import pytest

from skdigitnet import _compiled, _skip_zeros

from _tolerance import assert_allclose_sums

pytestmark = pytest.mark.skipif(not _compiled.available(), reason="numba is not installed")

i64 = np.int64


def sparse_X(rng, shape, dtype, share=0.2):
    """Values of both signs (for integer dtypes, what the dtype holds), about ``share``
    of them non-zero."""
    X = rng.uniform(-3, 3, size=shape)
    X[rng.uniform(size=shape) > share] = 0
    if np.dtype(dtype).kind == "u":
        X = np.abs(X)
    return (X * (40 if np.dtype(dtype).kind in "iu" else 1)).astype(dtype)


def check(actual, want, bound, dtype, n_terms):
    """Two sums of ``n_terms`` products in ``dtype``; ``bound`` their sums of |terms|."""
    assert_allclose_sums(actual, want, dtype=dtype, n_terms=n_terms,
                         scale=max(float(bound.max(initial=0)), 1e-30))


@pytest.mark.parametrize("W_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("X_dtype", [np.uint8, np.int16, np.float32, np.float64])
@pytest.mark.parametrize("units", [1, 7, 16])
@pytest.mark.parametrize("n_features", [3, 64, 150])
def test_products_equal_numpy(W_dtype, X_dtype, units, n_features, rng):
    X = sparse_X(rng, (57, n_features), X_dtype)
    X[5] = 0  # a row with nothing to add
    W = rng.normal(size=(n_features, units)).astype(W_dtype)
    order = rng.permutation(57).astype(np.int64)
    for rows, start, lo, hi in [(np.empty(0, np.int64), 0, 0, 57),  # in place
                                (order, 0, 3, 57), (order, 10, 1, 38), (order, 20, 5, 6),
                                (np.empty(0, np.int64), 4, 2, 11)]:
        col_lo, col_hi = sorted(rng.randint(0, n_features + 1, size=2))
        for cols in [(0, n_features), (col_lo, col_hi)]:
            taken = X[(rows[start + lo: start + hi] if rows.size else
                       np.arange(start + lo, start + hi))].astype(np.float64)
            part = taken[:, cols[0]: cols[1]]
            W_part = W[cols[0]: cols[1]].astype(np.float64)

            Z = np.full((hi + 2, units), np.nan, W_dtype)  # rows outside lo:hi stay NaN
            _skip_zeros.forward_rows(X, rows, i64(start), W, Z, i64(lo), i64(hi), i64(cols[0]),
                                     i64(cols[1]))
            assert np.isnan(Z[:lo]).all() and np.isnan(Z[hi:]).all()
            check(Z[lo:hi], part @ W_part, np.abs(part) @ np.abs(W_part), W_dtype,
                  n_features)

            D = rng.normal(size=(hi + 1, units)).astype(W_dtype)
            G = np.full((n_features, units), np.nan, W_dtype)  # rows outside cols stay NaN
            padded = np.full((n_features, _skip_zeros.LANES), np.nan, W_dtype)
            _skip_zeros.gradient_rows(X, rows, i64(start), D, G, padded, i64(lo), i64(hi),
                                      i64(cols[0]), i64(cols[1]))
            assert np.isnan(G[: cols[0]]).all() and np.isnan(G[cols[1]:]).all()
            D_part = D[lo:hi].astype(np.float64)
            check(G[cols[0]: cols[1]], part.T @ D_part, np.abs(part.T) @ np.abs(D_part),
                  W_dtype, hi - lo)


def test_sums_skip_only_exact_zeros_and_carry_nan_and_infinity(rng):
    X = sparse_X(rng, (9, 70), np.float32)
    X[1, 3] = np.nan
    X[2, 66] = np.inf
    X[3] = -0.0  # a zero: nothing to add
    W = np.abs(rng.normal(size=(70, 16))).astype(np.float32) + 0.1
    Z = np.empty((9, 16), np.float32)
    none = np.empty(0, np.int64)
    _skip_zeros.forward_rows(X, none, i64(0), W, Z, i64(0), i64(9), i64(0), i64(70))
    assert np.isnan(Z[1]).all() and np.isposinf(Z[2]).all() and np.all(Z[3] == 0)
    finite = [0, 4, 5, 6, 7, 8]
    check(Z[finite], X[finite].astype(np.float64) @ W, X[finite].astype(np.float64) @ W,
          np.float32, 70)
    G = np.empty((70, 16), np.float32)
    D = np.ones((9, 16), np.float32)
    _skip_zeros.gradient_rows(X, none, i64(0), D, G, G, i64(0), i64(9), i64(0), i64(70))
    assert np.isnan(G[3]).all() and np.isposinf(G[66]).all()
    assert np.isfinite(np.delete(G, [3, 66], axis=0)).all()


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
@pytest.mark.parametrize("n_rows", [1, 15, 16, 17, 100, 1000])
def test_density_counts_the_sampled_rows(dtype, n_rows):
    """The compiled count of the sampled rows is numpy's: rows 0, step, 2 step .. of
    X, up to the sample size; -0.0 counts as zero, NaN as not."""
    rng = np.random.default_rng(n_rows)
    X = (rng.uniform(size=(n_rows, 30)) < 0.3).astype(dtype) * (np.arange(n_rows) % 7)[:, None]
    if X.dtype.kind == "f":
        X[0, :3] = [-0.0, np.nan, np.inf]
    for rows in (1, 16, 64):
        sample = X[:: max(1, n_rows // rows)][:rows]
        assert _skip_zeros.density(X, rows) == np.count_nonzero(sample) / sample.size


def test_the_choice_of_the_kernels():
    X = np.zeros((1000, 40), np.uint8)
    X[:, 10:20] = 1  # a quarter non-zero, all in columns 10 to 19
    assert _skip_zeros.density(X) == 0.25
    assert _skip_zeros.sparse_enough(X)
    assert _skip_zeros.column_split(X, 0.5) == 15  # columns 10 to 14: half the work
    assert _skip_zeros.column_split(X, 0.3) == 13
    assert _skip_zeros.column_split(X, 0.0) == 10 and _skip_zeros.column_split(X, 1.0) == 40
    assert not _skip_zeros.sparse_enough(X + 1)  # dense
    assert not _skip_zeros.sparse_enough(np.asfortranarray(X))  # rows not contiguous
    assert not _skip_zeros.sparse_enough(X.astype(bool))
    W = np.ones((40, 16), np.float32)
    assert _skip_zeros.covers(W) and _skip_zeros.covers(W[:, :3].copy())
    assert not _skip_zeros.covers(np.ones((40, 17), np.float32))  # more than one vector
    assert not _skip_zeros.covers(W.astype(np.float16))
    W[3, 2] = np.inf  # 0 * inf is NaN in a dense product: keep it
    assert not _skip_zeros.covers(W)
