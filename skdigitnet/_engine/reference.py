"""The reference backend: numpy and BLAS, readable line by line.

The math is ``skdigitnet._neural_network.network`` (forward, backward, losses), the batches
``skdigitnet._neural_network.batches`` and the update rules the optimizers' own ``step``
(``skdigitnet._neural_network.optimizers``). The compiled backend is tested against this one, and
everything it does not cover runs here.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from typing import TYPE_CHECKING

from skdigitnet._engine.compute import flush_denormals, one_blas_thread
from skdigitnet._neural_network import network as _network

if TYPE_CHECKING:
    from skdigitnet._neural_network.batches import Batches
    from skdigitnet._neural_network.network import Architecture, Workspace
    from skdigitnet._neural_network.optimizers import SGD, Adam
    from skdigitnet._typing import FloatArray, IntArray, Matrix


class NumpyBackend:
    """The backend interface, and its reference implementation.

    A backend is made for one fit or one prediction of ``arch`` (``choose_backend``);
    the training loop calls ``workspace`` once, then ``run_epoch`` per epoch (or
    ``loss_and_gradient`` per L-BFGS evaluation); a prediction calls ``predict_into``.
    Each runs its own arithmetic with subnormal floats flushed and BLAS on one thread,
    and restores both before returning.
    """

    name = "numpy"

    def __init__(self, arch: Architecture) -> None:
        self.arch = arch

    def workspace(self, theta: FloatArray, grad: FloatArray, rows: int) -> Workspace:
        """Buffers for batches of up to ``rows`` rows, views of ``theta`` and ``grad``."""
        return _network.Workspace(self.arch, theta, grad, rows)

    def run_epoch(self, batches: Batches, order: IntArray | None, n_rows: int, alpha: float,
                  optimizer: SGD | Adam, workspace: Workspace) -> float:
        """One pass over ``order[:n_rows]`` (rows ``0 .. n_rows - 1`` when ``order`` is
        None) in batches, one optimizer step each; returns the weighted mean batch loss."""
        total = weight_sum = 0.0
        with one_blas_thread(), flush_denormals(), closing(batches.epoch(order, n_rows)) as epoch:
            for X, Y, sw in epoch:
                theta, grad = workspace.theta, workspace.grad
                loss = _network.loss_and_gradient(self.arch, theta, X, Y, sw, alpha, grad,
                                                  workspace)
                optimizer.step(theta, grad)
                weight = Y.shape[0] if sw is None else sw.sum()
                total += loss * weight
                weight_sum += weight
        return total / weight_sum if weight_sum > 0 else 0.0

    def loss_and_gradient(self, theta: FloatArray, X: Matrix, Y: FloatArray,
                          sample_weight: FloatArray | None, alpha: float, grad: FloatArray,
                          workspace: Workspace) -> float:
        """The regularised mean loss at ``theta`` over every row; its gradient into
        ``grad`` (see ``_network.loss_and_gradient``)."""
        with one_blas_thread(), flush_denormals():
            return _network.loss_and_gradient(self.arch, theta, X, Y, sample_weight, alpha,
                                              grad, workspace)

    def predict_into(self, coefs: Sequence[FloatArray], intercepts: Sequence[FloatArray],
                     X: Matrix, layer: int, chunk_rows: int, out: FloatArray,
                     check_finite: bool) -> bool:
        """Layer ``layer`` (1 .. L-1) of ``X`` into ``out`` (n_samples, units[layer]),
        ``chunk_rows`` rows at a time. With ``check_finite``, returns False as soon as the
        first layer's sums are not all finite (a NaN or infinity in ``X`` always shows
        there), else True."""
        return _network.predict_into(self.arch, coefs, intercepts, X, layer, chunk_rows,
                                     out, check_finite)
