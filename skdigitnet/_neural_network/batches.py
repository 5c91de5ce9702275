"""Cutting the training data into batches, in buffers allocated once per fit.

``X`` (n_samples, n_features) may be dense of any real dtype or CSR; ``Y``
(n_samples, n_outputs) is in the parameters' dtype. Integer images are converted to
floats one batch at a time, never as a whole. A backend may gather batches its own way
(the compiled backend reads X's rows in place); this module is the plain, reference way.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeAlias, cast, overload

import numpy as np
from numpy.typing import DTypeLike

from skdigitnet._typing import FloatArray, IntArray, Matrix, NDArray

#: One batch: ``(X, Y, sample_weight or None)``.
Batch: TypeAlias = "tuple[Matrix, FloatArray, FloatArray | None]"


def iter_batches(order: IntArray | None, n_rows: int,
                 batch_size: int) -> Generator[slice | IntArray, None, None]:
    """Row selections of at most ``batch_size`` rows, in order.

    ``order`` is None (slices of ``range(n_rows)``) or an index array of ``n_rows`` rows.
    """
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)
        yield slice(start, stop) if order is None else order[start:stop]


@overload
def take_rows(A: NDArray[Any], rows: slice | IntArray, out: FloatArray,
              raw: NDArray[Any] | None = None) -> FloatArray: ...
@overload
def take_rows(A: Matrix, rows: slice | IntArray, out: FloatArray,
              raw: NDArray[Any] | None = None) -> Matrix: ...
def take_rows(A: Matrix, rows: slice | IntArray, out: FloatArray,
              raw: NDArray[Any] | None = None) -> Matrix:
    """``A[rows]`` in ``out``'s dtype, written into the buffer ``out`` when a copy is due.

    ``rows`` is a slice or an index array; ``out`` has at least that many rows; ``raw``
    (same shape as ``out``, ``A``'s dtype) stages an index gather that needs a cast, so
    integer images are converted one batch at a time, never as a whole. A sparse ``A``
    gives a sparse batch.
    """
    if not isinstance(A, np.ndarray):
        batch = A[rows]
        return batch if batch.dtype == out.dtype else batch.astype(out.dtype)
    if isinstance(rows, slice):
        batch = A[rows]
        if batch.dtype == out.dtype:
            return batch  # a view: no copy at all
        out = out[: batch.shape[0]]
        np.copyto(out, batch)
        return out
    out = out[: len(rows)]
    if A.dtype == out.dtype:
        return np.take(A, rows, axis=0, out=out, mode="clip")
    # raw is given whenever A's dtype is not out's (Batches.take)
    np.copyto(out, np.take(A, rows, axis=0, out=cast("NDArray[Any]", raw)[: len(rows)],
                           mode="clip"))
    return out


class Batches:
    """Cuts ``data = (X, Y, sample_weight)`` into batches of ``batch_size`` rows, in
    buffers allocated once; ``X`` batches are converted to ``dtype``."""

    _x: FloatArray | None
    _x_raw: NDArray[Any] | None

    def __init__(self, data: Batch, batch_size: int, dtype: DTypeLike) -> None:
        X, Y, self.sample_weight = data
        self.X, self.Y, self.batch_size, self.dtype = X, Y, batch_size, dtype
        self.y = np.empty((batch_size, Y.shape[1]), Y.dtype)
        self._x = self._x_raw = None  # allocated when first needed

    def take(self, rows: slice | IntArray) -> Batch:
        """(X_batch, Y_batch, sample_weight_batch or None) for ``rows``."""
        if self._x is None:
            dense = isinstance(self.X, np.ndarray)
            shape = (self.batch_size, self.X.shape[1]) if dense else (0, 0)
            self._x = np.empty(shape, self.dtype)
            if dense and self.X.dtype != self.dtype:
                self._x_raw = np.empty(shape, self.X.dtype)
        return (take_rows(self.X, rows, self._x, self._x_raw), *self.take_targets(rows))

    def take_targets(self, rows: slice | IntArray) -> tuple[FloatArray, FloatArray | None]:
        """(Y_batch, sample_weight_batch or None) for ``rows``."""
        return (take_rows(self.Y, rows, self.y),
                None if self.sample_weight is None else self.sample_weight[rows])

    def epoch(self, order: IntArray | None, n_rows: int) -> Generator[Batch, None, None]:
        """Yield ``take(rows)`` for the batches of ``iter_batches(order, n_rows, ...)``;
        a batch is valid until the next one is asked for."""
        for rows in iter_batches(order, n_rows, self.batch_size):
            yield self.take(rows)
