"""The training loop, as a ladder of short steps: batches -> step -> epoch -> train.

The loop never validates input; it receives arrays ready for the math:
``X`` (n_samples, n_features) dense or CSR, ``Y`` (n_samples, n_outputs) in the
parameters' dtype, ``sample_weight`` (n_samples,) or None, and the flat parameter
vector ``theta`` (n_parameters,), which it updates in place.
"""

import time
from contextlib import closing
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from . import _batch_thread
from ._compute import flush_denormals, one_blas_thread
from ._network import Workspace, loss_and_gradient
from ._warnings import warn


@dataclass
class TrainingRecord:
    """What training has seen so far, as plain data; it survives warm starts.

    ``history`` holds one dict per epoch: epoch, loss, validation_score,
    learning_rate, seconds; ``pandas.DataFrame(history)`` reads it directly.
    """

    loss_curve: list = field(default_factory=list)
    validation_scores: list = None
    best_loss: float = np.inf
    best_validation_score: float = -np.inf
    no_improvement_count: int = 0
    n_iter: int = 0
    t: int = 0
    history: list = field(default_factory=list)
    best_theta: np.ndarray = None


@dataclass(frozen=True)
class StochasticSettings:
    """The estimator parameters the stochastic loop uses."""

    batch_size: int
    max_iter: int
    shuffle: bool
    alpha: float
    tol: float
    n_iter_no_change: float
    stop_on_validation: bool
    verbose: bool


def iter_batches(order, n_rows, batch_size):
    """Row selections of at most ``batch_size`` rows, in order.

    ``order`` is None (slices of ``range(n_rows)``) or an index array of ``n_rows`` rows.
    """
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)
        yield slice(start, stop) if order is None else order[start:stop]


def take_rows(A, rows, out, raw=None):
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
    np.copyto(out, np.take(A, rows, axis=0, out=raw[: len(rows)], mode="clip"))
    return out


class Batches:
    """Cuts ``data = (X, Y, sample_weight)`` into batches, in buffers allocated once.

    ``X`` (n_samples, n_features) may be dense of any real dtype or CSR; ``Y``
    (n_samples, n_outputs) is in the parameters' ``dtype``. Shuffled rows of a dense
    ``X`` are gathered on a second thread when the compiled kernels allow it
    (``_batch_thread.BatchPipeline``); otherwise here, one batch at a time.
    """

    def __init__(self, data, batch_size, dtype, workspace=None):
        X, Y, self.sample_weight = data
        self.workspace = workspace
        self.X, self.Y, self.batch_size, self.dtype = X, Y, batch_size, dtype
        self.y = np.empty((batch_size, Y.shape[1]), Y.dtype)
        self._x = self._x_raw = self._pipeline = None  # allocated when first needed

    def take(self, rows):
        """(X_batch, Y_batch, sample_weight_batch or None) for ``rows``."""
        if self._x is None:
            dense = isinstance(self.X, np.ndarray)
            shape = (self.batch_size, self.X.shape[1]) if dense else (0, 0)
            self._x = np.empty(shape, self.dtype)
            if dense and self.X.dtype != self.dtype:
                self._x_raw = np.empty(shape, self.X.dtype)
        return (take_rows(self.X, rows, self._x, self._x_raw), take_rows(self.Y, rows, self.y),
                self._weights(rows))

    def _weights(self, rows):
        return None if self.sample_weight is None else self.sample_weight[rows]

    def epoch(self, order, n_rows):
        """Yield ``take(rows)`` for the batches of ``iter_batches(order, n_rows, ...)``.

        A batch is valid until the next one is asked for. Close the generator when
        leaving early, so that the gathering thread stops.
        """
        if not _batch_thread.pipeline_applies(self.X, order):
            for rows in iter_batches(order, n_rows, self.batch_size):
                yield self.take(rows)
            return
        if self._pipeline is None:
            ws, forward = self.workspace, None
            if ws is not None and ws.kernels is not None:  # the thread shares X @ W0
                forward = (ws.coefs[0], ws.layers[0])
            self._pipeline = _batch_thread.BatchPipeline(self.X, self.batch_size, self.dtype,
                                                    forward)
            if forward is not None:
                ws.pipeline = self._pipeline
        gathered = self._pipeline.epoch(order[:n_rows])
        try:
            for rows, x in zip(iter_batches(order, n_rows, self.batch_size), gathered):
                yield x, take_rows(self.Y, rows, self.y), self._weights(rows)
        finally:
            gathered.close()


def train_step(arch, batch, alpha, optimizer, workspace):
    """One optimizer step on one batch; returns (batch loss, batch weight)."""
    X, Y, sw = batch
    loss = loss_and_gradient(arch, workspace.theta, X, Y, sw, alpha, workspace.grad, workspace)
    optimizer.step(workspace.theta, workspace.grad)
    return loss, (Y.shape[0] if sw is None else sw.sum())


def run_epoch(arch, batches, order, n_rows, settings, optimizer, workspace):
    """One pass over the data in batches; returns the weighted mean batch loss."""
    total = weight_sum = 0.0
    with closing(batches.epoch(order, n_rows)) as epoch:
        for batch in epoch:
            loss, weight = train_step(arch, batch, settings.alpha, optimizer, workspace)
            total += loss * weight
            weight_sum += weight
    return total / weight_sum if weight_sum > 0 else 0.0


def update_stopping(record, loss, score, settings):
    """Track the best loss/score and count epochs without improvement by ``tol``.

    Returns True when the current parameters are the best seen on the validation set.
    """
    tol, improved = settings.tol, False
    if score is not None:
        record.validation_scores.append(score)
        improved = score > record.best_validation_score
        if settings.stop_on_validation:
            stalled = score < record.best_validation_score + tol
        if improved:
            record.best_validation_score = score
    if not settings.stop_on_validation:
        stalled = loss > record.best_loss - tol
    record.best_loss = min(record.best_loss, loss)
    record.no_improvement_count = record.no_improvement_count + 1 if stalled else 0
    return improved


def plateau_action(record, settings, optimizer):
    """On ``n_iter_no_change`` stalled epochs: lower the rate ('adaptive') or stop.

    Returns True when training should stop.
    """
    if record.no_improvement_count <= settings.n_iter_no_change:
        return False
    what = "Validation score" if settings.stop_on_validation else "Training loss"
    verb = "increase" if settings.stop_on_validation else "improve"
    msg = (
        f"{what} did not {verb} more than tol={settings.tol:f} for "
        f"{settings.n_iter_no_change} consecutive epochs."
    )
    if optimizer.reduce_learning_rate():
        record.no_improvement_count = 0
        if settings.verbose:
            print(f"{msg} Setting learning rate to {optimizer.learning_rate:f}")
        return False
    if settings.verbose:
        print(f"{msg} Stopping.")
    return True


def train_stochastic(arch, theta, data, settings, optimizer, record, random_state,
                     validation=None, incremental=False, rows=None, epoch_hooks=None):
    """Train ``theta`` in place for up to ``settings.max_iter`` epochs (one if incremental).

    ``rows`` (an index array) restricts training to those rows of ``data``, so an
    early-stopping split costs no copy of ``X``. ``validation`` is None or a callable
    ``theta -> score`` (higher is better). ``epoch_hooks`` is None or a pair of
    callables ``(begin(), end(theta) -> stop)`` called around every epoch. Stops on a plateau, on divergence (keeping the
    last finite parameters), or on Ctrl-C (keeping the parameters of the last completed
    epoch, with a warning).
    """
    n_samples = data[1].shape[0] if rows is None else len(rows)
    workspace = Workspace(arch, theta, np.empty_like(theta), settings.batch_size)
    batches = Batches(data, settings.batch_size, theta.dtype, workspace)
    epoch_start = theta.copy()
    order = rows
    if settings.shuffle and order is None:
        order = np.arange(n_samples)
    record.n_iter = 0

    def epochs(order):
        for _ in range(1 if incremental else settings.max_iter):
            tic = time.perf_counter()
            epoch_start[...] = theta
            if epoch_hooks is not None:
                epoch_hooks[0]()
            if settings.shuffle:
                order = order[random_state.permutation(n_samples)]
            loss = run_epoch(arch, batches, order, n_samples, settings, optimizer, workspace)
            if not (np.isfinite(loss) and np.isfinite(theta).all()):
                theta[...] = epoch_start
                _warn_diverged(record.n_iter + 1, loss)
                return
            stop = _end_epoch(record, theta, loss, validation, settings, optimizer, n_samples,
                              tic)
            if epoch_hooks is not None and epoch_hooks[1](theta):
                return  # a callback asked to stop
            if stop:
                return
        if not incremental:
            warn(
                f"Stochastic Optimizer: Maximum iterations ({settings.max_iter}) "
                "reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
            )

    try:
        with one_blas_thread(), flush_denormals():
            epochs(order)
    except KeyboardInterrupt:
        theta[...] = epoch_start
        warn(
            f"Training interrupted by user after {record.n_iter} completed epoch(s); "
            "kept the parameters of the last completed epoch. Fit again with "
            "warm_start=True to continue.",
            UserWarning,
        )
    if settings.stop_on_validation and record.best_theta is not None:
        theta[...] = record.best_theta


def _end_epoch(record, theta, loss, validation, settings, optimizer, n_samples, tic):
    """Book-keeping after an epoch; returns True when training should stop."""
    record.n_iter += 1
    record.t += n_samples
    record.loss_curve.append(loss)
    if settings.verbose:
        print(f"Iteration {record.n_iter}, loss = {loss:.8f}")
    score = None if validation is None else validation(theta)
    if score is not None and settings.verbose:
        print(f"Validation score: {score:f}")
    if update_stopping(record, loss, score, settings) and settings.stop_on_validation:
        record.best_theta = theta.copy()
    record.history.append({
        "epoch": len(record.loss_curve), "loss": loss, "validation_score": score,
        "learning_rate": optimizer.learning_rate, "seconds": time.perf_counter() - tic,
    })
    optimizer.epoch_end(record.t)
    return plateau_action(record, settings, optimizer)


def _warn_diverged(epoch, loss):
    warn(
        f"Training diverged in epoch {epoch} (loss = {loss}); stopped and kept the "
        "parameters from before that epoch. Lower learning_rate_init or scale the "
        "input (for images, divide pixel values by 255).",
        ConvergenceWarning,
    )


def train_lbfgs(arch, theta, data, alpha, max_iter, max_fun, tol, record, verbose=False):
    """Minimise the loss over ``theta`` (updated in place) with scipy's L-BFGS-B."""
    X, Y, sample_weight = data
    if X.dtype != theta.dtype:  # L-BFGS takes every row at every step: convert once
        X = X.astype(theta.dtype)
    grad = np.empty_like(theta)
    workspace = Workspace(arch, theta, grad, X.shape[0])
    last_good = theta.copy()
    tic = [time.perf_counter()]

    def loss_grad(x):
        theta[...] = x
        loss = loss_and_gradient(arch, theta, X, Y, sample_weight, alpha, grad, workspace)
        return loss, grad.astype(np.float64)

    def callback(intermediate_result):
        last_good[...] = intermediate_result.x
        loss = float(intermediate_result.fun)
        record.loss_curve.append(loss)
        record.best_loss = min(record.best_loss, loss)
        record.history.append({
            "epoch": len(record.loss_curve), "loss": loss, "validation_score": None,
            "learning_rate": None, "seconds": time.perf_counter() - tic[0],
        })
        tic[0] = time.perf_counter()
        if verbose:
            print(f"Iteration {len(record.loss_curve)}, loss = {loss:.8f}")

    try:
        result = scipy.optimize.minimize(
            loss_grad, theta.astype(np.float64), method="L-BFGS-B", jac=True,
            callback=callback, options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
        )
    except KeyboardInterrupt:
        theta[...] = last_good
        record.n_iter = len(record.loss_curve)
        warn("Training interrupted by user; kept the last L-BFGS iterate.")
        return
    theta[...] = result.x if np.isfinite(result.x).all() else last_good
    record.n_iter = min(result.nit, max_iter)
    if result.status != 0:
        warn(
            f"lbfgs failed to converge after {result.nit} iteration(s) "
            f"(status={result.status}): {result.message}. Increase max_iter or max_fun, "
            "or scale the input data.",
            ConvergenceWarning,
        )
