"""The training loop, as a ladder of short steps: batches -> step -> epoch -> train.

The loop never validates input; it receives arrays ready for the math:
``X`` (n_samples, n_features) dense or CSR, ``Y`` (n_samples, n_outputs) in the
parameters' dtype, ``sample_weight`` (n_samples,) or None, and the flat parameter
vector ``theta`` (n_parameters,), which it updates in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from skdigitnet._engine import choose_backend
from skdigitnet._engine.compute import aligned_empty
from skdigitnet._warnings import warn

from .batches import Batches

if TYPE_CHECKING:
    from skdigitnet._engine import NumpyBackend
    from skdigitnet._typing import FloatArray, IntArray, Matrix, NDArray

    from .network import Architecture, Workspace
    from .optimizers import SGD, Adam
    from .validation_score import ValidationResult


@dataclass
class TrainingRecord:
    """What training has seen so far, as plain data; it survives warm starts.

    ``history`` holds one dict per epoch: epoch, loss, validation_loss,
    validation_score, learning_rate, seconds; ``pandas.DataFrame(history)`` reads it
    directly. ``validation_loss_curve`` has one entry per entry of ``validation_scores``
    (NaN where a model file saved before it was recorded has none). ``early_stopped``
    is whether the last fit or partial_fit call ended on ``n_iter_no_change`` epochs
    (calls) without a better validation score.
    """

    loss_curve: list[float] = field(default_factory=list)
    validation_scores: list[float] | None = None
    validation_loss_curve: list[float] | None = None
    best_loss: float = np.inf
    best_validation_score: float = -np.inf
    no_improvement_count: int = 0
    n_iter: int = 0
    t: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_theta: FloatArray | None = None
    early_stopped: bool = False

    def __post_init__(self) -> None:
        if self.validation_scores is not None and self.validation_loss_curve is None:
            self.validation_loss_curve = [np.nan] * len(self.validation_scores)

    def copy(self) -> TrainingRecord:
        """A copy that later training cannot change: new lists (their entries, numbers
        and per-epoch dicts that are never changed once recorded, are shared) and a new
        ``best_theta``. Cheap next to ``copy.deepcopy``, which copied every epoch's dict
        again at each ``partial_fit`` call."""
        copied: dict[str, Any] = {
            f.name: (list(value) if isinstance(value, list)
                     else value.copy() if isinstance(value, np.ndarray) else value)
            for f in fields(self) for value in [getattr(self, f.name)]}
        return replace(self, **copied)


@dataclass
class TrainingData:
    """What a training loop reads: ``X`` (n_samples, n_features) dense of any real dtype
    or CSR, ``Y`` (n_samples, n_outputs) in the parameters' dtype, ``sample_weight``
    (n_samples,) or None; ``rows`` (an index array) restricts training to those rows, so
    an early-stopping split costs no copy of ``X``; ``validation`` is None or a callable
    ``theta -> ValidationResult`` (the score, higher is better, and the loss), called
    after every epoch."""

    X: Matrix
    Y: FloatArray
    sample_weight: FloatArray | None = None
    rows: IntArray | None = None
    validation: Callable[[FloatArray], ValidationResult] | None = None

    @property
    def n_samples(self) -> int:
        """Rows trained on."""
        return self.Y.shape[0] if self.rows is None else len(self.rows)


@dataclass
class TrainingState:
    """What training changes: ``theta`` (n_parameters,) in place, the optimizer's state
    (None for L-BFGS), the record, and the random state that shuffles."""

    theta: FloatArray
    optimizer: SGD | Adam | None
    record: TrainingRecord
    random_state: np.random.RandomState


@dataclass(frozen=True)
class StochasticSettings:
    """The estimator parameters the stochastic loop uses; ``incremental`` is one epoch
    of ``partial_fit``."""

    batch_size: int
    max_iter: int
    shuffle: bool
    alpha: float
    tol: float
    n_iter_no_change: float
    stop_on_validation: bool
    verbose: bool
    incremental: bool = False


@dataclass(frozen=True)
class LbfgsSettings:
    """The estimator parameters L-BFGS uses."""

    alpha: float
    max_iter: int
    max_fun: int
    tol: float
    verbose: bool


@dataclass(frozen=True)
class EpochHooks:
    """Called around every epoch: ``begin()``, then ``end(theta)``, which returns True to
    stop training (scikit-learn's callbacks)."""

    begin: Callable[[], object]
    end: Callable[[FloatArray], object]


def run_epoch(backend: NumpyBackend, batches: Batches, order: IntArray | None, n_rows: int,
              settings: StochasticSettings, optimizer: SGD | Adam, workspace: Workspace) -> float:
    """One pass over the data in batches; returns the weighted mean batch loss."""
    return backend.run_epoch(batches, order, n_rows, settings.alpha, optimizer, workspace)


def update_stopping(record: TrainingRecord, loss: float, score: float | None,
                    settings: StochasticSettings) -> bool:
    """Track the best loss/score and count epochs without improvement by ``tol``.

    Returns True when the current parameters are the best seen on the validation set.
    """
    tol, improved = settings.tol, False
    if score is not None:
        # a score comes with a validation set, and train_stochastic made the list then
        cast("list[float]", record.validation_scores).append(score)
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


def plateau_action(record: TrainingRecord, settings: StochasticSettings,
                   optimizer: SGD | Adam) -> bool:
    """On ``n_iter_no_change`` stalled epochs: lower the rate ('adaptive') or stop.

    Returns True when training should stop.
    """
    if record.no_improvement_count <= settings.n_iter_no_change:
        return False
    what = "Validation score" if settings.stop_on_validation else "Training loss"
    verb = "increase" if settings.stop_on_validation else "improve"
    unit = "partial_fit calls" if settings.incremental else "epochs"
    msg = (
        f"{what} did not {verb} more than tol={settings.tol:f} for "
        f"{settings.n_iter_no_change} consecutive {unit}."
    )
    if optimizer.reduce_learning_rate():
        record.no_improvement_count = 0
        if settings.verbose:
            print(f"{msg} Setting learning rate to {optimizer.learning_rate:f}")
        return False
    if settings.verbose:
        print(f"{msg} Stopping.")
    return True


def train_stochastic(arch: Architecture, data: TrainingData, settings: StochasticSettings,
                     state: TrainingState, hooks: EpochHooks | None = None) -> None:
    """Train ``state.theta`` in place for up to ``settings.max_iter`` epochs (one if
    incremental), on ``data`` (a ``TrainingData``), with ``hooks`` (``EpochHooks`` or
    None) around every epoch.

    Stops on a plateau, on divergence (keeping the last finite parameters), or on Ctrl-C
    (keeping the parameters of the last completed epoch, with a warning). With early
    stopping, ends on the parameters of the best validation score; an incremental epoch
    (partial_fit) does so only when it ends ``n_iter_no_change`` calls without a better
    score (``record.early_stopped``, and a warning), so that the calls before that
    continue from the latest parameters.
    """
    theta, record = state.theta, state.record
    backend = choose_backend(arch, data.X, data.n_samples * data.X.shape[1])  # once per fit
    workspace = backend.workspace(theta, aligned_empty(theta.shape, theta.dtype),
                                  settings.batch_size)
    batches = Batches((data.X, data.Y, data.sample_weight), settings.batch_size, theta.dtype)
    epoch_start = theta.copy()
    n_samples, order = data.n_samples, data.rows
    if settings.shuffle and order is None:
        order = np.arange(n_samples)
    record.n_iter, record.early_stopped = 0, False
    if data.validation is not None and record.validation_scores is None:
        record.validation_scores, record.validation_loss_curve = [], []

    optimizer = cast("SGD | Adam", state.optimizer)  # None for L-BFGS only

    def epochs(order: IntArray | None) -> None:
        for _ in range(1 if settings.incremental else settings.max_iter):
            tic = time.perf_counter()
            epoch_start[...] = theta
            if hooks is not None:
                hooks.begin()
            if settings.shuffle:
                # shuffling made order an index array (above)
                order = cast("IntArray", order)[state.random_state.permutation(n_samples)]
            loss = run_epoch(backend, batches, order, n_samples, settings, optimizer, workspace)
            if not (np.isfinite(loss) and np.isfinite(theta).all()):
                theta[...] = epoch_start
                _warn_diverged(record.n_iter + 1, loss)
                return
            stop = _end_epoch(record, theta, loss, data.validation, settings, optimizer,
                              n_samples, tic)
            record.early_stopped = stop and settings.stop_on_validation
            if hooks is not None and hooks.end(theta):
                return  # a callback asked to stop
            if stop:
                return
        if not settings.incremental:
            warn(
                f"Stochastic Optimizer: Maximum iterations ({settings.max_iter}) "
                "reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
            )

    try:
        epochs(order)
    except KeyboardInterrupt:
        theta[...] = epoch_start
        warn(
            f"Training interrupted by user after {record.n_iter} completed epoch(s); "
            "kept the parameters of the last completed epoch. Fit again with "
            "warm_start=True to continue.",
            UserWarning,
        )
    if not settings.stop_on_validation or record.best_theta is None:
        return
    if not settings.incremental:
        theta[...] = record.best_theta
    elif record.early_stopped:
        theta[...] = record.best_theta
        _warn_stopped_calls(record, settings)


def _warn_stopped_calls(record: TrainingRecord, settings: StochasticSettings) -> None:
    warn(
        f"Early stopping: the validation score did not improve by more than "
        f"tol={settings.tol:g} for n_iter_no_change={settings.n_iter_no_change} "
        "consecutive partial_fit calls; restored the parameters of the best validation "
        f"score seen ({record.best_validation_score:.6g}) and set early_stopped_ to True. "
        "Stop calling partial_fit: a further call trains on from those parameters.",
        UserWarning,
    )


def _end_epoch(record: TrainingRecord, theta: FloatArray, loss: float,
               validation: Callable[[FloatArray], ValidationResult] | None,
               settings: StochasticSettings, optimizer: SGD | Adam, n_samples: int,
               tic: float) -> bool:
    """Book-keeping after an epoch; returns True when training should stop."""
    record.n_iter += 1
    record.t += n_samples
    record.loss_curve.append(loss)
    if settings.verbose:
        print(f"Iteration {record.n_iter}, loss = {loss:.8f}")
    score = val_loss = None
    if validation is not None:
        score, val_loss = validation(theta)
        # a result comes with a validation set, and train_stochastic made the list then
        cast("list[float]", record.validation_loss_curve).append(val_loss)
        if settings.verbose:
            print(f"Validation score: {score:f}")
    if update_stopping(record, loss, score, settings) and settings.stop_on_validation:
        record.best_theta = theta.copy()
    record.history.append({
        "epoch": len(record.loss_curve), "loss": loss, "validation_loss": val_loss,
        "validation_score": score, "learning_rate": optimizer.learning_rate,
        "seconds": time.perf_counter() - tic,
    })
    optimizer.epoch_end(record.t)
    return plateau_action(record, settings, optimizer)


def _warn_diverged(epoch: int, loss: float) -> None:
    warn(
        f"Training diverged in epoch {epoch} (loss = {loss}); stopped and kept the "
        "parameters from before that epoch. Lower learning_rate_init or scale the "
        "input (for images, divide pixel values by 255).",
        ConvergenceWarning,
    )


def train_lbfgs(arch: Architecture, data: TrainingData, settings: LbfgsSettings,
                state: TrainingState) -> None:
    """Minimise the loss over ``state.theta`` (updated in place) with scipy's L-BFGS-B, on
    every row of ``data`` (a ``TrainingData``) at every step."""
    X, Y, sample_weight = data.X, data.Y, data.sample_weight
    theta, record = state.theta, state.record
    alpha, max_iter, max_fun, tol = (settings.alpha, settings.max_iter, settings.max_fun,
                                     settings.tol)
    backend = choose_backend(arch, X)  # once per fit
    if X.dtype != theta.dtype and backend.name == "numpy":
        # numpy's products would convert integer images at every step: convert once (the
        # compiled kernels read them as they are)
        X = X.astype(theta.dtype)
    grad = np.empty_like(theta)
    workspace = backend.workspace(theta, grad, X.shape[0])
    last_good = theta.copy()
    tic = [time.perf_counter()]

    def loss_grad(x: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        theta[...] = x
        loss = backend.loss_and_gradient(theta, X, Y, sample_weight, alpha, grad, workspace)
        return loss, grad.astype(np.float64)

    def callback(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        last_good[...] = intermediate_result.x
        loss = float(intermediate_result.fun)
        record.loss_curve.append(loss)
        record.best_loss = min(record.best_loss, loss)
        record.history.append({
            "epoch": len(record.loss_curve), "loss": loss, "validation_loss": None,
            "validation_score": None, "learning_rate": None,
            "seconds": time.perf_counter() - tic[0],
        })
        tic[0] = time.perf_counter()
        if settings.verbose:
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
