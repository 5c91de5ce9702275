"""The compiled backend: numba kernels for the small work, a second thread for batches.

Per batch, BLAS computes the two large first-layer products and one compiled call
(``_kernels``) does everything else: the later layers, the output, the loss, the
backward pass through the small layers, the bias sums and the L2 term; the optimizer's
update is one more compiled call. Shuffled batches of a dense ``X`` are gathered on a
second thread (``_batch_thread.BatchPipeline``), which also computes half of each
batch's first product. Prediction is one BLAS product and one compiled call per chunk.

Chosen once per fit or prediction by ``_backends.choose_backend``; the numpy backend
(``_backends.NumpyBackend``) is the reference it is tested against. Architectures the
kernels do not cover (gelu, swish, softplus or custom activations) keep numpy's network
math here, with compiled optimizer steps.
"""

import numpy as np

from . import _batch_thread, _kernels
from ._backends import NumpyBackend
from ._batches import iter_batches
from ._network import chunks, matmul, pack
from ._optimizers import SGD, Adam


def available():
    """Whether numba could be imported."""
    return _kernels.numba is not None


class CompiledBackend(NumpyBackend):
    """The compiled backend for one fit or prediction of ``arch``."""

    name = "compiled"

    def __init__(self, arch):
        super().__init__(arch)
        self.plan = _kernels.plan(arch)  # None: numpy's math for this network
        self._pipeline = None  # the batch thread, made at the first shuffled epoch
        self._ws = self._work = self._no_weights = None

    def workspace(self, theta, grad, rows):
        self._ws = ws = super().workspace(theta, grad, rows)
        if self.plan is not None:
            self._work = self.plan.scratch(rows, theta.dtype)
            self._no_weights = np.empty(0, theta.dtype)
        return ws

    def epoch(self, batches, order, n_rows):
        if not _batch_thread.pipeline_applies(batches.X, order):
            yield from batches.epoch(order, n_rows)
            return
        if self._pipeline is None:
            ws = self._ws if self.plan is not None else None
            forward = None if ws is None else (ws.coefs[0], ws.layers[0])  # shares X @ W0
            self._pipeline = _batch_thread.BatchPipeline(batches.X, batches.batch_size,
                                                         batches.dtype, forward)
        gathered = self._pipeline.epoch(order[:n_rows])
        try:
            for rows, x in zip(iter_batches(order, n_rows, batches.batch_size), gathered):
                yield (x, *batches.take_targets(rows))
        finally:
            gathered.close()

    def loss_and_gradient(self, theta, X, Y, sample_weight, alpha, grad, ws):
        if self.plan is None:
            return super().loss_and_gradient(theta, X, Y, sample_weight, alpha, grad, ws)
        n = X.shape[0]
        Z = ws.layers[0][:n]
        pipeline = self._pipeline
        if pipeline is not None and X is pipeline.current:  # half each, on two threads
            h = pipeline.start_forward()
            np.matmul(X[:h], ws.coefs[0], out=Z[:h])
            pipeline.wait_forward()
        else:
            Z = matmul(X, ws.coefs[0], Z)
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

    def step(self, optimizer, params, grad):
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

    def predict_into(self, coefs, intercepts, X, layer, chunk_rows, out, check_finite):
        if self.plan is None:
            return super().predict_into(coefs, intercepts, X, layer, chunk_rows, out,
                                        check_finite)
        chunk_rows = min(chunk_rows, _kernels.PREDICT_ROWS)
        rows_max = min(chunk_rows, X.shape[0])
        theta = pack(coefs, intercepts, out.dtype)
        first = np.empty((rows_max, coefs[0].shape[1]), out.dtype)
        work = self.plan.scratch(rows_max, out.dtype)
        finite = True
        for rows, chunk in chunks(X, chunk_rows, out.dtype):
            Z = matmul(chunk, coefs[0], first[: chunk.shape[0]])
            finite &= self.plan.predict(Z, theta, out[rows], layer, work)
        return finite
