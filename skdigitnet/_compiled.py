"""The compiled backend: numba kernels for the small work, a second thread for batches.

A shuffled epoch on a dense array ``X`` (the usual fit) is a few compiled calls, one per
segment of 12,800 rows (``_batch_thread.BatchPipeline.train_epoch``). Where ``X`` is
sparse enough (MNIST: a fifth of the pixels non-zero; ``_skip_zeros``), the two
first-layer products (``X @ W0`` and ``X.T @ delta``) skip the zero inputs and read X's
rows in place, and the two threads split them, and the optimizer's step for W0, by the
columns of X, and the small layers by rows (``_batch_thread._train_direct``);
otherwise the products go to BLAS, split by rows between this thread and a second one,
each gathering its rows. The kernels (``_kernels``) do everything else: the later
layers, the output, the loss, the backward pass through the small layers, the bias
sums and the L2 term; then the optimizer's update. No Python runs between the batches
of a segment. A segment runs on this thread alone, with the same arithmetic, when no
core is free for a second one (``_batch_thread.second_core_free``) or when two threads
have been the slower way lately (``_batch_thread.ThreadChoice``). Other epochs (no
shuffle, scipy sparse ``X``, L-BFGS's full batch) take the generic loop with the same
kernels per batch. Prediction is, per chunk, one compiled call skipping zeros on sparse
enough X, else the first product in BLAS calls of up to 64 rows and one compiled call.

Chosen once per fit or prediction by ``_backends.choose_backend``; the numpy backend
(``_backends.NumpyBackend``) is the reference it is tested against. Architectures the
kernels do not cover (gelu, swish, softplus or custom activations) keep numpy's network
math here, with compiled optimizer steps.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import _batch_thread, _kernels, _skip_zeros
from ._backends import NumpyBackend
from ._batches import iter_batches
from ._compute import one_blas_thread
from ._network import matmul, parameter_vector
from ._optimizers import SGD, Adam

if TYPE_CHECKING:
    from ._batches import Batch, Batches
    from ._network import Architecture, Workspace
    from ._typing import FloatArray, IntArray, Matrix


def available() -> bool:
    """Whether numba could be imported."""
    return _kernels.numba is not None


# Rows per compiled call in an epoch (whole batches, at least one): each call runs on
# one thread or two, as the cores are free when it starts (about 10 ms of MNIST); a
# call starts and ends the second thread, about 0.1 ms.
_SEGMENT_ROWS = 12_800


class CompiledBackend(NumpyBackend):
    """The compiled backend for one fit or prediction of ``arch``."""

    name = "compiled"

    _pipeline: _batch_thread.BatchPipeline | None
    _ws: Workspace | None
    _work: FloatArray | None
    _no_weights: FloatArray | None

    def __init__(self, arch: Architecture) -> None:
        super().__init__(arch)
        self.plan = _kernels.plan(arch)  # None: numpy's math for this network
        self._pipeline = None  # the batch thread, made at the first shuffled epoch
        self._ws = self._work = self._no_weights = None

    def workspace(self, theta: FloatArray, grad: FloatArray, rows: int) -> Workspace:
        self._ws = ws = super().workspace(theta, grad, rows)
        if self.plan is not None:
            self._work = self.plan.scratch(rows, theta.dtype)
            self._no_weights = np.empty(0, theta.dtype)
        return ws

    def run_epoch(self, batches: Batches, order: IntArray | None, n_rows: int, alpha: float,
                  optimizer: SGD | Adam, workspace: Workspace) -> float:
        """With a plan, the SGD or Adam optimizer and a shuffled dense X: the whole epoch
        in compiled calls of a segment each, on two threads where it pays (the second
        gathers and computes its rows of the first-layer products; see
        ``_batch_thread``); otherwise the generic loop."""
        if order is None or not self._fuses(batches, order, optimizer):
            return super().run_epoch(batches, order, n_rows, alpha, optimizer, workspace)
        pipeline = self._pipeline_for(batches)
        size = batches.batch_size
        n_batches = -(-n_rows // size)
        ws = workspace
        code, state_1, state_2, hyper = _batch_thread.optimizer_step(optimizer, n_batches)
        choice, key = _batch_thread.thread_choice, self._choice_key(batches)
        total = weight_sum = 0.0
        # in segments of batches, each on one thread or two: OpenBLAS's spinning workers
        # leave within 0.1 s, the rest of the epoch need not run alone; and two threads
        # run only where they have been faster (_batch_thread.ThreadChoice)
        segment = max(1, _SEGMENT_ROWS // size)
        for first in range(0, n_batches, segment):
            last = min(first + segment, n_batches)
            chosen = _batch_thread.second_cpu() and choice.two_threads(key)
            free = _batch_thread.second_core_free(pipeline.ended)
            alone = not (chosen and free)
            steps = hyper if code != _batch_thread.ADAM else np.concatenate(
                (hyper[:3], hyper[3 + first: 3 + last]))  # Adam: this segment's step sizes
            rows = order[first * size: min(last * size, n_rows)]
            tic = time.perf_counter()
            part_total, part_weight = pipeline.train_epoch(
                rows, batches.Y, batches.sample_weight, ws.theta, ws.grad, ws.coefs[0],
                ws.grad_coefs[0], ws.layers[0], ws.deltas[0], self.plan, self._work, alpha,
                (code, state_1, state_2, steps), alone)
            if free and _batch_thread.second_cpu():  # the choice, not a busy core, decided
                choice.record(key, not alone, len(rows), time.perf_counter() - tic)
            total, weight_sum = total + part_total, weight_sum + part_weight
        return total / weight_sum if weight_sum > 0 else 0.0

    def _choice_key(self, batches: Batches) -> tuple[object, ...]:
        """What the time per row of a compiled epoch depends on, for ``ThreadChoice``."""
        return ("epoch", batches.X.shape[1], batches.X.dtype.str, batches.batch_size,
                np.dtype(batches.dtype).str, self.plan.units if self.plan else None)

    def _fuses(self, batches: Batches, order: IntArray | None, optimizer: SGD | Adam) -> bool:
        return (self.plan is not None and isinstance(optimizer, (SGD, Adam))
                and self._ws is not None and _batch_thread.gather_applies(batches.X, order))

    def _pipeline_for(self, batches: Batches) -> _batch_thread.BatchPipeline:
        if self._pipeline is None:
            self._pipeline = _batch_thread.BatchPipeline(batches.X, batches.batch_size,
                                                         batches.dtype)
        return self._pipeline

    def epoch(self, batches: Batches, order: IntArray | None,
              n_rows: int) -> Generator[Batch, None, None]:
        """The generic loop's batches, gathered on a second thread where that has been
        the faster way (``_batch_thread.ThreadChoice``) and a core is free for it."""
        if not _batch_thread.pipeline_applies(batches.X, order):
            yield from batches.epoch(order, n_rows)
            return
        choice, key = _batch_thread.thread_choice, ("gather", *self._choice_key(batches)[1:])
        free = _batch_thread.second_core_free(self._pipeline_for(batches).ended)
        two = free and choice.two_threads(key)
        tic = time.perf_counter()
        if two:
            # ignore: pipeline_applies made sure order is an index array, not None
            gathered = self._pipeline_for(batches).epoch(order[:n_rows])  # type: ignore[index]
            try:
                for rows, x in zip(iter_batches(order, n_rows, batches.batch_size), gathered):
                    yield (x, *batches.take_targets(rows))
            finally:
                gathered.close()
        else:
            yield from batches.epoch(order, n_rows)
        if free:  # the whole epoch ran, the way the choice said
            choice.record(key, two, n_rows, time.perf_counter() - tic)

    def loss_and_gradient(self, theta: FloatArray, X: Matrix, Y: FloatArray,
                          sample_weight: FloatArray | None, alpha: float, grad: FloatArray,
                          ws: Workspace) -> float:
        if self.plan is None:
            return super().loss_and_gradient(theta, X, Y, sample_weight, alpha, grad, ws)
        n = X.shape[0]
        Z = matmul(X, ws.coefs[0], ws.layers[0][:n])
        D = ws.deltas[0][:n]
        sw = self._no_weights if sample_weight is None else sample_weight
        data_loss = self.plan.hidden_and_output(Z, Y, sw, theta, grad, D, self._work)
        if isinstance(X, np.ndarray):
            np.matmul(X.T, D, out=ws.grad_coefs[0])
        else:  # sparse X
            ws.grad_coefs[0][...] = X.T @ D
        weight_sum = n if sample_weight is None else float(sample_weight.sum())
        squares = self.plan.finish_gradient(theta, grad, float(alpha), 1.0 / weight_sum)
        return float((data_loss + 0.5 * alpha * squares) / weight_sum)

    def step(self, optimizer: SGD | Adam, params: FloatArray, grad: FloatArray) -> None:
        if isinstance(optimizer, Adam):
            learning_rate = optimizer.next_step_size()
            _kernels.adam_step(params, grad, optimizer.m, optimizer.v, learning_rate,
                               float(optimizer.beta_1), float(optimizer.beta_2),
                               float(optimizer.epsilon))
        elif isinstance(optimizer, SGD):
            _kernels.sgd_step(params, grad, optimizer.velocity, float(optimizer.learning_rate),
                              float(optimizer.momentum), bool(optimizer.nesterov))
        else:
            super().step(optimizer, params, grad)

    def predict_into(self, coefs: Sequence[FloatArray], intercepts: Sequence[FloatArray],
                     X: Matrix, layer: int, chunk_rows: int, out: FloatArray,
                     check_finite: bool) -> bool:
        """Chunk by chunk: the first layer's product in BLAS calls of up to 64 rows
        (``_batch_thread._forward_block_rows``, on one BLAS thread), then one compiled
        call; or, on sparse enough X, one compiled call skipping zeros (``_skip_zeros``).
        With four chunks or more of a dense ``X`` and a core free, two threads take
        alternate chunks (the chunks are independent: the result does not depend on the
        split); ``_batch_thread.second_core_free`` says whether a core is free,
        ``_batch_thread.thread_choice`` whether two threads have been the faster way."""
        if self.plan is None:
            return super().predict_into(coefs, intercepts, X, layer, chunk_rows, out,
                                        check_finite)
        plan = self.plan
        chunk_rows = min(chunk_rows, _kernels.PREDICT_ROWS)
        theta = parameter_vector(coefs, intercepts, out.dtype)  # read only
        starts = range(0, X.shape[0], chunk_rows)
        choice = _batch_thread.thread_choice
        key = ("predict", X.shape[1], out.dtype.str, layer, plan.units)
        may = (len(starts) >= 4 and isinstance(X, np.ndarray)
               and _batch_thread.second_core_free())  # whether the choice decides
        threads = 2 if may and choice.two_threads(key) else 1
        tic = time.perf_counter()
        failed: list[BaseException]
        finite, failed = [True] * threads, []

        W0 = theta[: coefs[0].size].reshape(coefs[0].shape)  # in out's dtype
        # zero-skipping products for sparse enough X, which read X's rows in place: each
        # chunk one compiled call, which keeps the first layer's sums of _kernels._CHUNK
        # rows only; so on one thread, one call for all of X
        skip = (_skip_zeros.sparse_enough(X, _skip_zeros.PREDICT_SAMPLE_ROWS)
                and _skip_zeros.covers(W0))
        if skip and threads == 1:
            chunk_rows = max(X.shape[0], 1)
            starts = range(0, X.shape[0], chunk_rows)

        def run(part: int) -> None:
            rows_max = min(chunk_rows, X.shape[0], _kernels._CHUNK if skip else chunk_rows)
            first = np.empty((rows_max, coefs[0].shape[1]), out.dtype)
            work = plan.scratch(rows_max, out.dtype)
            # numpy's error state is per thread (compiled code ignores it)
            with contextlib.nullcontext() if skip else np.errstate(over="ignore",
                                                                   invalid="ignore"):
                for start in starts[part::threads]:
                    rows = slice(start, min(start + chunk_rows, X.shape[0]))
                    if skip:
                        finite[part] &= plan.predict_skipping(X, rows, W0, theta, out, layer,
                                                              work, first)
                        continue
                    Z = _first_product(X, rows, W0, first[: rows.stop - start])
                    finite[part] &= plan.predict(Z, theta, out[rows], layer, work)

        if threads == 1:
            with contextlib.nullcontext() if skip else one_blas_thread():  # BLAS or not
                run(0)
            if may:
                choice.record(key, False, X.shape[0], time.perf_counter() - tic)
            return finite[0]

        def second() -> None:
            try:
                run(1)
            except BaseException as error:  # noqa: BLE001  # pragma: no cover - re-raised below
                failed.append(error)
        with one_blas_thread():
            helper = threading.Thread(target=second, name="skdigitnet-predict", daemon=True)
            helper.start()
            try:
                run(0)
            finally:
                helper.join()
        if failed:  # pragma: no cover - a product or kernel cannot fail here
            raise failed[0]
        choice.record(key, True, X.shape[0], time.perf_counter() - tic)
        return all(finite)


def _first_product(X: Matrix, rows: slice, W0: FloatArray, Z: FloatArray) -> FloatArray:
    """``X[rows] @ W0`` into Z (a new array for sparse X), in BLAS calls of up to 64
    rows."""
    chunk = X[rows]
    if isinstance(chunk, np.ndarray):
        chunk = np.ascontiguousarray(chunk, Z.dtype)
        _batch_thread._forward_block_rows(chunk, W0, Z, 0, chunk.shape[0])
        return Z
    return matmul(chunk, W0, Z)  # sparse X
