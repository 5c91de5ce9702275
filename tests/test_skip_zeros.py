"""The first-layer products that skip zero inputs
(``skdigitnet._engine.compiled.skip_zeros``), against numpy in float64: every dtype of X
and W, first layers of 1 to 100 units (one vector, part of one, several, a wide layer's
tiles of four; one vector without tiles, as the seed network's first layer runs), rows
read in place or through a shuffled order, any range of rows."""

import numpy as np
import pytest

from skdigitnet._engine import compiled
from skdigitnet._engine.compiled import skip_zeros

import _calls as calls
from _tolerance import assert_allclose_sums

pytestmark = pytest.mark.skipif(not compiled.available(), reason="numba is not installed")


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


def forward(X, order, lo, hi, W, Z):
    """``skip_zeros.forward``, with offsets of its own; returns them for ``gradient``."""
    offsets = np.full(hi - lo + skip_zeros.ROWS, -1, np.int64)
    calls.forward(X, order, lo, hi, offsets, W, Z, pad(X, hi - lo, W.dtype))
    return offsets


def pad(X, rows, dtype):
    """A ``pad`` buffer for products of ``rows`` rows of X, full of NaN: the kernels
    must set what they read."""
    return np.full(skip_zeros.pad_size(X.shape[1], rows), np.nan, dtype)


@pytest.mark.parametrize("W_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("X_dtype", [np.uint8, np.int16, np.float32, np.float64])
# wide layers end in a wide tile padded (33, 100 with 512-bit registers), one vector
# padded (70; 33, 100 with 256-bit ones) or one whole vector (80)
@pytest.mark.parametrize("units", [1, 7, 16, 33, 70, 80, 100, 128])
@pytest.mark.parametrize("n_features", [3, 64, 150])
def test_products_equal_numpy(W_dtype, X_dtype, units, n_features, rng):
    X = sparse_X(rng, (57, n_features), X_dtype)
    X[5] = 0  # a row with nothing to add
    W = rng.normal(size=(n_features, units)).astype(W_dtype)
    order = rng.permutation(57).astype(np.int64)
    for rows, lo, hi in [(np.empty(0, np.int64), 0, 57),  # in place
                         (order, 3, 57), (order, 10, 38), (order, 20, 21),
                         (np.empty(0, np.int64), 4, 11), (np.empty(0, np.int64), 50, 57)]:
        taken = X[rows[lo:hi] if rows.size else np.arange(lo, hi)].astype(np.float64)
        W64 = W.astype(np.float64)

        Z = np.full((hi - lo + 2, units), np.nan, W_dtype)  # rows past the batch stay NaN
        offsets = forward(X, rows, lo, hi, W, Z)
        assert np.isnan(Z[hi - lo:]).all()
        check(Z[: hi - lo], taken @ W64, np.abs(taken) @ np.abs(W64), W_dtype, n_features)

        D = np.vstack([rng.normal(size=(hi - lo, units)).astype(W_dtype),
                       np.full((1, units), np.nan, W_dtype)])  # a row past the batch
        G = np.full((n_features, units), np.nan, W_dtype)  # every entry written
        calls.gradient(X, offsets, hi - lo, D, G, pad(X, hi - lo, W_dtype))
        D64 = D[: hi - lo].astype(np.float64)
        check(G, taken.T @ D64, np.abs(taken.T) @ np.abs(D64), W_dtype, hi - lo)

        if units == skip_zeros.LANES:  # one vector, with no pad: no tiles, the same sums
            Z_one, G_one = np.full_like(Z, np.nan), np.full_like(G, np.nan)
            one = np.full_like(offsets, -1)
            calls.forward(X, rows, lo, hi, one, W, Z_one, None)
            calls.gradient(X, one, hi - lo, D, G_one, None)
            np.testing.assert_array_equal(one, offsets)
            np.testing.assert_array_equal(Z_one, Z)  # (NaN past the batch, as Z)
            np.testing.assert_array_equal(G_one, G)



def test_offsets_read_ahead_within_x(rng):
    """The offsets of a batch, then the rows read ahead: the next rows of X in order (up
    to its last row), or the batch's last row again."""
    X = np.zeros((10, 3), np.float32)
    W, Z = np.ones((3, 2), np.float32), np.empty((10, 2), np.float32)
    assert list(forward(X, np.empty(0, np.int64), 2, 8, W, Z)) == [6, 9, 12, 15, 18, 21, 24,
                                                                   27, 27, 27]
    order = np.array([4, 1, 7, 0], np.int64)
    assert list(forward(X, order, 1, 3, W, Z)) == [3, 21, 21, 21, 21, 21]


def test_sums_skip_only_exact_zeros_and_carry_nan_and_infinity(rng):
    X = sparse_X(rng, (9, 70), np.float32)
    X[1, 3] = np.nan
    X[2, 66] = np.inf
    X[3] = -0.0  # a zero: nothing to add
    W = np.abs(rng.normal(size=(70, 16))).astype(np.float32) + 0.1
    Z = np.empty((9, 16), np.float32)
    offsets = forward(X, np.empty(0, np.int64), 0, 9, W, Z)
    assert np.isnan(Z[1]).all() and np.isposinf(Z[2]).all() and np.all(Z[3] == 0)
    finite = [0, 4, 5, 6, 7, 8]
    check(Z[finite], X[finite].astype(np.float64) @ W, X[finite].astype(np.float64) @ W,
          np.float32, 70)
    G = np.empty((70, 16), np.float32)
    D = np.ones((9, 16), np.float32)
    calls.gradient(X, offsets, 9, D, G, pad(X, 9, np.float32))
    assert np.isnan(G[3]).all() and np.isposinf(G[66]).all()
    assert np.isfinite(np.delete(G, [3, 66], axis=0)).all()


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_density_counts_the_sampled_rows(dtype):
    """Rows 0, step, 2 step .. (step = n_rows // rows), at most ``rows`` of them, counted
    by hand; -0.0 counts as zero, NaN and infinity as not."""
    X = np.full((10, 4), 7, dtype)
    X[0] = [0, 0, 3, 0]
    X[3] = [1, 1, 0, 0]
    X[6] = [0, 0, 0, 0]
    if X.dtype.kind == "f":
        X[0] = [-0.0, np.nan, np.inf, 0]
    first = 1 if X.dtype.kind in "iu" else 2
    assert skip_zeros.density(X, 3) == (first + 2 + 0) / 12  # rows 0, 3, 6 (not 9)
    assert skip_zeros.density(X, 16) == (first + 2 + 0 + 7 * 4) / 40  # every row
    assert skip_zeros.density(X[:1], 16) == first / 4


def test_the_choice_of_the_kernels():
    X = np.zeros((1000, 40), np.uint8)
    X[:, 10:20] = 1  # a quarter non-zero, all in columns 10 to 19
    assert skip_zeros.density(X) == 0.25
    assert skip_zeros.sparse_enough(X)
    assert not skip_zeros.sparse_enough(X + 1)  # dense
    assert not skip_zeros.sparse_enough(np.asfortranarray(X))  # rows not contiguous
    assert not skip_zeros.sparse_enough(X.astype(bool))
    W = np.ones((40, 16), np.float32)
    assert skip_zeros.covers(W) and skip_zeros.covers(W[:, :3].copy())
    assert skip_zeros.covers(np.ones((40, 800), np.float32))  # tiles of a wide layer
    assert not skip_zeros.covers(W.astype(np.float16))
    assert not skip_zeros.covers(np.asfortranarray(np.ones((40, 17), np.float32)))
    W[3, 2] = np.inf  # 0 * inf is NaN in a dense product: keep it
    assert not skip_zeros.covers(W)


@pytest.mark.parametrize("n_rows, n_vectors", [(4, 4), (2, 2), (4, 1), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_kernel_shape_equals_numpy(n_rows, n_vectors, dtype, rng):
    """The kernels of every shape, whichever this CPU is given (a wide layer's blocks of
    four rows by tiles of four vectors with AVX-512, two by two elsewhere; a narrow one's
    four rows by one vector; a row by one vector), on the tiles of a wider layer."""
    import numba

    forward_kernel = skip_zeros._intrinsic("forward", n_rows, n_vectors)
    gradient_kernel = skip_zeros._intrinsic("gradient", n_rows, n_vectors)

    @numba.njit
    def block(X, offsets, W, Z, D, G, t):  # rows 0 .. n_rows - 1, outputs t .. t + tile - 1
        u = W.shape[1]
        forward_kernel(X, offsets, W, Z, (0, X.shape[1], t, u, t, u))
        gradient_kernel(X, offsets, D, G, (0, X.shape[1], t, u, t, u))

    tile = n_vectors * skip_zeros.LANES
    units, n_features = 2 * tile, 150
    X = sparse_X(rng, (n_rows + 1, n_features), np.float32)
    offsets = np.array([r * n_features for r in range(n_rows)] * 2, np.int64)
    W = rng.normal(size=(n_features, units)).astype(dtype)
    D = rng.normal(size=(n_rows, units)).astype(dtype)
    Z = np.full((n_rows, units), np.nan, dtype)
    G = np.zeros((n_features, units), dtype)
    for t in (0, tile):
        block(X, offsets, W, Z, D, G, t)
    taken, W64, D64 = X[:n_rows].astype(np.float64), W.astype(np.float64), D.astype(np.float64)
    check(Z, taken @ W64, np.abs(taken) @ np.abs(W64), dtype, n_features)
    check(G, taken.T @ D64, np.abs(taken.T) @ np.abs(D64), dtype, n_rows)


def test_wide_tiles_fit_the_vector_registers(monkeypatch):
    """Blocks of four rows by tiles of four vectors where numba compiles for AVX-512,
    two by two elsewhere (their sums would not fit in the registers)."""
    import numba

    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx2,+avx512f,+fma")
    assert skip_zeros.registers_512()
    for features in ("+avx2,+fma,-avx512f", "+neon", ""):
        monkeypatch.setattr(numba.config, "CPU_FEATURES", features)
        assert not skip_zeros.registers_512()
    assert (skip_zeros.WIDE_ROWS, skip_zeros.WIDE_VECTORS) in ((4, 4), (2, 2))
