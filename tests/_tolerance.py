"""Tolerances for comparing floating-point results computed along different routes.

Two routes through the same arithmetic (numpy against compiled kernels, one chunk against
many, OpenBLAS's Haswell kernels against its SkylakeX ones) add the same products in a
different order, so they differ by rounding alone. A sum of ``n`` products computed in
any order is within ``gamma_n * sum(|terms|)`` of the exact sum, with
``gamma_n = n * u / (1 - n * u)`` and ``u = eps / 2`` the unit roundoff (Higham,
*Accuracy and Stability of Numerical Algorithms*, 2nd ed., eq. 3.5); two such routes are
within twice that of each other. Each later layer (or step) sums again, so errors
compound ``depth`` times. The tolerances below are that bound, with ``sum(|terms|)``
taken as the magnitude of the compared arrays (``scale``), so values that cancel to
near zero are compared absolutely instead of relatively: an rtol-only comparison near
zero fails on some CPUs and not on others.

Nothing here is tuned to one machine: only the dtype, the length of the sums and how many
of them follow one another enter.
"""

import numpy as np


def sum_rtol(dtype, n_terms, depth=1):
    """Relative tolerance between two routes to ``depth`` chained sums of ``n_terms``
    products each, in ``dtype``."""
    u = np.finfo(dtype).eps / 2
    gamma = n_terms * u / (1 - n_terms * u)
    return 2 * depth * gamma


def assert_allclose_sums(actual, desired, *, dtype, n_terms, depth=1, scale=None,
                         err_msg=""):
    """``assert_allclose`` with ``rtol = sum_rtol(dtype, n_terms, depth)`` and
    ``atol = rtol * scale``; ``scale`` defaults to the largest magnitude in ``desired``
    (at least 1e-30, so an all-zero array is compared almost exactly)."""
    rtol = sum_rtol(dtype, n_terms, depth)
    if scale is None:
        scale = max(float(np.max(np.abs(desired), initial=0.0)), 1e-30)
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale,
                               err_msg=err_msg)


def assert_close_scalar(actual, desired, *, dtype, n_terms, depth=1):
    """One number (a loss, a score) computed along two routes."""
    rtol = sum_rtol(dtype, n_terms, depth)
    assert abs(actual - desired) <= rtol * max(abs(desired), abs(actual)), (
        f"{actual} != {desired} within rtol {rtol:.2e} (n_terms={n_terms}, depth={depth})")
