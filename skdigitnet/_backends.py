"""Compute backends: who does the arithmetic of one fit or one prediction.

A backend is chosen once per fit (``train_stochastic``, ``train_lbfgs``) and once per
prediction (``predict_layer``) by :func:`choose_backend`, and offers what the training
loop needs:

- ``workspace(theta, grad, rows)``: the buffers of one fit (a ``_network.Workspace``);
- ``run_epoch(batches, order, n_rows, alpha, optimizer, workspace)``: one epoch of
  minibatch steps, returning its mean loss (by default: ``epoch``, then
  ``loss_and_gradient`` and ``step`` per batch);
- ``epoch(batches, order, n_rows)``: the batches of one epoch, as ``(X, Y, weights)``;
- ``loss_and_gradient(theta, X, Y, sample_weight, alpha, grad, workspace)``: the loss of
  a batch, its gradient written into ``grad``;
- ``step(optimizer, params, grad)``: the optimizer's update, in place;
- ``predict_into(coefs, intercepts, X, layer, chunk_rows, out, check_finite)``: layer
  ``layer`` of ``X`` into ``out``, chunk by chunk; whether the first layer was finite.

:class:`NumpyBackend` is the reference: numpy and BLAS, readable line by line in
``_network``, ``_batches`` and ``_optimizers``. The compiled backend (compiled kernels
and a batch-gathering second thread) lives in ``_compiled``, with ``_kernels`` and
``_batch_thread``, and is tested against this one; no other module knows about it.
To add a backend, subclass ``NumpyBackend``, override what it does differently, and
return it from ``choose_backend``.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Sequence
from contextlib import closing
from typing import TYPE_CHECKING

import numpy as np

from . import _network

if TYPE_CHECKING:
    from ._batches import Batch, Batches
    from ._network import Architecture, Workspace
    from ._optimizers import SGD, Adam
    from ._typing import FloatArray, IntArray, Matrix

# Rows per chunk when predicting: bounded memory, and the later layers find a chunk's
# first product in cache.
PREDICT_ROWS = 4096


class NumpyBackend:
    """The reference backend (numpy and BLAS)."""

    name = "numpy"

    def __init__(self, arch: Architecture) -> None:
        self.arch = arch

    def workspace(self, theta: FloatArray, grad: FloatArray, rows: int) -> Workspace:
        """Buffers for batches of up to ``rows`` rows, views of ``theta`` and ``grad``."""
        return _network.Workspace(self.arch, theta, grad, rows)

    def epoch(self, batches: Batches, order: IntArray | None,
              n_rows: int) -> Generator[Batch, None, None]:
        """The ``(X, Y, sample_weight)`` batches of one epoch over ``order[:n_rows]`` (or
        rows ``0 .. n_rows - 1`` when ``order`` is None). Close it when leaving early."""
        return batches.epoch(order, n_rows)

    def run_epoch(self, batches: Batches, order: IntArray | None, n_rows: int, alpha: float,
                  optimizer: SGD | Adam, workspace: Workspace) -> float:
        """One pass over ``order[:n_rows]`` (rows ``0 .. n_rows - 1`` when ``order`` is
        None) in batches, one optimizer step each; returns the weighted mean batch loss."""
        total = weight_sum = 0.0
        with closing(self.epoch(batches, order, n_rows)) as epoch:
            for X, Y, sw in epoch:
                theta, grad = workspace.theta, workspace.grad
                loss = self.loss_and_gradient(theta, X, Y, sw, alpha, grad, workspace)
                self.step(optimizer, theta, grad)
                weight = Y.shape[0] if sw is None else sw.sum()
                total += loss * weight
                weight_sum += weight
        return total / weight_sum if weight_sum > 0 else 0.0

    def loss_and_gradient(self, theta: FloatArray, X: Matrix, Y: FloatArray,
                          sample_weight: FloatArray | None, alpha: float, grad: FloatArray,
                          workspace: Workspace) -> float:
        """See ``_network.loss_and_gradient``."""
        return _network.loss_and_gradient(self.arch, theta, X, Y, sample_weight, alpha,
                                          grad, workspace)

    def step(self, optimizer: SGD | Adam, params: FloatArray, grad: FloatArray) -> None:
        """One update of ``params`` by ``optimizer`` (``_optimizers.SGD`` or ``Adam``)."""
        optimizer.step(params, grad)

    def predict_into(self, coefs: Sequence[FloatArray], intercepts: Sequence[FloatArray],
                     X: Matrix, layer: int, chunk_rows: int, out: FloatArray,
                     check_finite: bool) -> bool:
        """See ``_network.predict_into``."""
        return _network.predict_into(self.arch, coefs, intercepts, X, layer, chunk_rows,
                                     out, check_finite)


# Fits and predictions on fewer input values (rows x features) than this run on numpy
# (unless SKDIGITNET_NUMBA=1): loading the compiled kernels costs a process about half
# a second (and compiling them, once per machine, some seconds), more than they save
# on data this small. 2**22 values: 5,350 MNIST images; the bundled digits are 115,008.
COMPILED_MIN_VALUES = 1 << 22


def compiled_enabled(n_values: int | None = None) -> bool:
    """Whether the compiled backend is used for work on ``n_values`` input values: its
    compiler importable, and ``SKDIGITNET_NUMBA`` ``1`` (always), or unset or ``auto``
    and ``n_values`` unknown or at least ``COMPILED_MIN_VALUES``; ``0`` switches it off."""
    switch = os.environ.get("SKDIGITNET_NUMBA", "auto")
    if switch == "0":
        return False
    if switch != "1" and n_values is not None and n_values < COMPILED_MIN_VALUES:
        return False
    from . import _compiled
    return _compiled.available()


def input_values(X: Matrix) -> int:
    """The number of input values of ``X``: rows x features, or stored values if sparse."""
    return X.nnz if hasattr(X, "nnz") else X.shape[0] * X.shape[1]


def choose_backend(arch: Architecture, n_values: int | None = None) -> NumpyBackend:
    """The backend for one fit or prediction of ``arch`` on ``n_values`` input values:
    compiled when ``compiled_enabled(n_values)``, else numpy (the compiled backend itself
    falls back to numpy's network math for activations and losses its kernels do not
    cover)."""
    if compiled_enabled(n_values):
        from . import _compiled
        return _compiled.CompiledBackend(arch)
    return NumpyBackend(arch)


def predict_layer(arch: Architecture, coefs: Sequence[FloatArray],
                  intercepts: Sequence[FloatArray], X: Matrix, layer: int,
                  chunk_rows: int = PREDICT_ROWS, check_finite: bool = False,
                  backend: NumpyBackend | None = None) -> FloatArray:
    """Activations of layer ``layer`` (1 .. L-1) for ``X``, computed in row chunks.

    Memory beyond the result stays bounded by ``chunk_rows`` rows of each layer (and
    of ``X`` when integer images are converted). ``check_finite`` raises
    ``_network.NonFiniteLayer`` when the first layer's sums are not finite (a NaN or
    infinity in ``X`` always shows there).

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, units[0])
    backend : backend, optional
        Default ``choose_backend(arch, input_values(X))``.

    Returns
    -------
    ndarray of shape (n_samples, units[layer])
    """
    dtype = coefs[0].dtype if X.dtype.kind in "iub" else np.result_type(X.dtype, coefs[0].dtype)
    out = np.empty((X.shape[0], arch.units[layer]), dtype=dtype)
    backend = choose_backend(arch, input_values(X)) if backend is None else backend
    with np.errstate(over="ignore", invalid="ignore"):  # check_finite tells instead
        finite = backend.predict_into(coefs, intercepts, X, layer, chunk_rows, out,
                                      check_finite)
    if check_finite and not finite:
        raise _network.NonFiniteLayer("The first layer's weighted sums are not finite.")
    return out
