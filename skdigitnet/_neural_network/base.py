"""What ``DigitMLPClassifier`` is built on: how one ``fit`` or ``partial_fit`` call is
assembled from the parameters, and the validated path of ``X`` through a fitted network.

``BaseDigitMLP._fit`` validates every input (``fit_input.py``), resolves the
architecture and the starting state (fresh or continued), encodes the targets and the
validation set, trains (``training.py``) and stores the result through ``_set_fitted``,
the only writer of fitted state. Nothing is assigned to the estimator before training
has finished. The public class (``classifier.py``) holds the parameters, their
documentation and the public methods, as scikit-learn's ``MLPClassifier`` does over
``BaseMultilayerPerceptron``.
"""

from __future__ import annotations

from numbers import Integral
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import numpy as np
from scipy import sparse
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

from skdigitnet._engine import predict_layer
from skdigitnet._typing import (
    ArrayLike,
    FloatArray,
    IntArray,
    Matrix,
    MatrixLike,
    NDArray,
    TargetKind,
)
from skdigitnet._validation import validate_with_hints
from skdigitnet._warnings import warn

from . import targets as _targets
from .activations import Activation, get_activation
from .fit_input import (
    FitInput,
    check_finite,
    check_stratifiable,
    dtypes_for,
    input_scale,
    model_dtype,
    warn_if_rescaled,
    warn_if_unscaled_pixels,
)
from .fitted import FittedNetwork, fitted_attributes
from .network import Architecture, NonFiniteLayer, init_parameters, pack
from .optimizers import SGD, Adam
from .training import (
    EpochHooks,
    LbfgsSettings,
    StochasticSettings,
    TrainingData,
    TrainingRecord,
    TrainingState,
    train_lbfgs,
    train_stochastic,
)
from .validation_score import validation_evaluator, validation_set

_Self = TypeVar("_Self", bound="BaseDigitMLP")


class BaseDigitMLP:
    """The fitting and forwarding machinery of ``DigitMLPClassifier`` (see the module
    docstring). Not meant to be used on its own."""

    if TYPE_CHECKING:  # the parameters, as DigitMLPClassifier.__init__ types them
        hidden_layer_sizes: int | Sequence[int] | IntArray
        activation: str | Activation | tuple[str | Activation, ...] | list[str | Activation]
        solver: Literal["lbfgs", "sgd", "adam"]
        alpha: float
        batch_size: int | Literal["auto"]
        learning_rate: Literal["constant", "invscaling", "adaptive"]
        learning_rate_init: float
        power_t: float
        max_iter: int
        shuffle: bool
        random_state: int | np.random.RandomState | None
        tol: float
        verbose: bool | int
        warm_start: bool
        momentum: float
        nesterovs_momentum: bool
        early_stopping: bool
        validation_fraction: float
        beta_1: float
        beta_2: float
        epsilon: float
        n_iter_no_change: float
        max_fun: int
        out_activation: Literal["auto", "softmax", "logistic"]
        loss: Literal["log_loss", "squared_error"]
        class_weight: dict[Any, float] | Literal["balanced"] | None
        scoring: str | Callable[..., float] | None

        def get_params(self, deep: bool = True) -> dict[str, Any]: ...
        def _init_callback_context(self, max_subtasks: int) -> Any: ...

    # Fitted attributes (set by fit, partial_fit and load_model; see the docstring)
    classes_: NDArray[Any]
    coefs_: list[FloatArray]
    intercepts_: list[FloatArray]
    loss_: float
    best_loss_: float | None
    loss_curve_: list[float]
    validation_scores_: list[float] | None
    validation_loss_curve_: list[float] | None
    best_validation_score_: float | None
    early_stopped_: bool
    history_: list[dict[str, Any]]
    t_: int
    n_iter_: int
    n_layers_: int
    n_outputs_: int
    out_activation_: str
    n_features_in_: int
    feature_names_in_: NDArray[np.object_]
    _arch: Architecture
    _target_kind: TargetKind
    _record: TrainingRecord
    _input_scale: float | None
    _optimizer: object  # SGD, Adam, or None for L-BFGS

    def _fit(self: _Self, X: MatrixLike, y: ArrayLike, sample_weight: ArrayLike | None,
             incremental: bool,
             validation: tuple[MatrixLike | None, ArrayLike | None],
             classes: NDArray[Any] | None = None,
             callbacks: bool = False) -> _Self:
        """Validate, resolve the configuration, train, then store the fitted state.

        Nothing is assigned to ``self`` (but what ``validate_data`` records about the
        features) until training has finished, so a failing call leaves a fitted
        estimator as it was.
        """
        given = self._validate_fit_input(X, y, sample_weight, validation, classes, incremental)
        arch, state = self._resolve(given)
        data = self._training_data(arch, given, state)
        ctx = self._callback_context(given.X, given.y, sample_weight) if callbacks else None
        if self.solver == "lbfgs":
            train_lbfgs(arch, data, LbfgsSettings(self.alpha, self.max_iter, self.max_fun,
                                                  self.tol, bool(self.verbose)), state)
        else:
            hooks = None if ctx is None else self._epoch_hooks(ctx, arch, given, state.record)
            train_stochastic(arch, data, self._stochastic_settings(given), state, hooks)
        self._optimizer = state.optimizer  # kept for partial_fit
        self._set_fitted(FittedNetwork(arch, state.theta, given.classes, given.kind,
                                       state.record, getattr(self, "feature_names_in_", None),
                                       given.input_scale))
        if ctx is not None:
            ctx.call_on_fit_task_end(estimator=self, X=given.X, y=given.y,
                                     metadata={"sample_weight": sample_weight},
                                     reconstruction_attributes={})
        return self

    def _validate_fit_input(self, X: MatrixLike, y: ArrayLike, sample_weight: ArrayLike | None,
                            validation: tuple[MatrixLike | None, ArrayLike | None],
                            classes: NDArray[Any] | None, incremental: bool) -> FitInput:
        """Every input of one fit or partial_fit call, checked: a ``_FitInput``."""
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = validate_with_hints(self, X, y, accept_sparse="csr", dtype=dtypes_for(X),
                                   multi_output=True, reset=first_pass,
                                   ensure_all_finite=False)
        check_finite(X, type(self).__name__)
        if y.ndim == 2 and y.shape[1] == 1:
            y = cast("NDArray[Any]", column_or_1d(y, warn=True))  # scikit-learn is untyped
        if first_pass:
            warn_if_unscaled_pixels(X)
        scale = input_scale(X)
        if not first_pass:
            scale = max(scale, getattr(self, "_input_scale", None) or 0.0)
        X_val, y_val = self._check_validation_set(X, *validation)
        if classes is None:
            classes = _targets.find_classes(y) if first_pass else self.classes_
        kind = _targets.target_kind(y, classes)
        if not first_pass:
            self._check_continuation(y, kind, incremental)
        sample_weight = self._sample_weight(sample_weight, y, classes, kind, incremental)
        early_stopping = self._early_stopping_active()
        split = early_stopping and X_val is None  # partial_fit has refused that
        if split and kind != "multilabel":
            check_stratifiable(y)
        n_val = int(np.ceil(self.validation_fraction * X.shape[0])) if split else 0
        if split and n_val < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the "
                "size of your dataset, or pass X_val and y_val to fit.")
        return FitInput(X, y, sample_weight, classes, kind, X_val, y_val, first_pass,
                         incremental, early_stopping, split,
                         self._batch_size_for(X.shape[0] - n_val), scale)

    def _batch_size_for(self, n_samples: int) -> int | None:
        """The batch size for ``n_samples`` training rows; None for L-BFGS."""
        if self.solver == "lbfgs":
            return None
        batch_size = min(50, n_samples) if self.batch_size == "auto" else self.batch_size
        if batch_size > n_samples:
            warn("Got `batch_size` less than 1 or larger than sample size. "
                 "It is going to be clipped")
            batch_size = n_samples
        return batch_size

    def _resolve(self, given: FitInput) -> tuple[Architecture, TrainingState]:
        """The architecture and the starting ``TrainingState``: fresh parameters drawn
        from ``random_state``, or the fitted ones to continue from."""
        output = _targets.output_activation(self.out_activation, given.kind)
        arch = self._architecture(given.X.shape[1],
                                  _targets.n_outputs(given.kind, output, given.classes), output)
        random_state = check_random_state(self.random_state)
        if given.first_pass:
            theta = init_parameters(arch, random_state, model_dtype(given.X.dtype))
            record = TrainingRecord()
        else:
            self._check_same_architecture(arch)
            theta = pack(self.coefs_, self.intercepts_, self.coefs_[0].dtype)
            record = self._record.copy()
        optimizer = None if self.solver == "lbfgs" else self._optimizer_for(
            theta, given.incremental)
        return arch, TrainingState(theta, optimizer, record, random_state)

    def _training_data(self, arch: Architecture, given: FitInput,
                       state: TrainingState) -> TrainingData:
        """``TrainingData``: targets encoded in the parameters' dtype, the early-stopping
        split (drawn from the random state after the initial weights, as MLPClassifier
        does) and the validation evaluator. ``X`` keeps its dtype: batches are converted
        one at a time."""
        Y = _targets.encode(given.y, given.classes, given.kind, arch.output,
                            state.theta.dtype)
        rows, X_val, y_val = None, given.X_val, given.y_val
        if given.split:
            rows, val_rows = self._split_validation(given.X.shape[0], given,
                                                    state.random_state)
            X_val, y_val = given.X[val_rows], given.y[val_rows]
        evaluator = None
        if X_val is not None and y_val is not None:  # both or neither
            val = validation_set(X_val, y_val, given.classes, given.kind, arch.output,
                                 state.theta.dtype)
            evaluator = validation_evaluator(
                arch, val, given.classes, given.kind, self.scoring,
                lambda theta: self._snapshot(arch, given, state.record, theta, named=False))
        return TrainingData(given.X, Y, given.sample_weight, rows, evaluator)

    def _snapshot(self: _Self, arch: Architecture, given: FitInput, record: TrainingRecord,
                  theta: FloatArray, named: bool = True) -> _Self:
        """A fitted copy of this estimator with the parameters ``theta``, which later
        training does not change: what callbacks and a scoring callable receive.
        ``named=False`` leaves out the feature names, for a scorer given the validated
        array ``X_val``."""
        copy = type(self)(**self.get_params(deep=False))
        copy._set_fitted(FittedNetwork(
            arch, theta, given.classes, given.kind, record,
            getattr(self, "feature_names_in_", None) if named else None,
            given.input_scale).snapshot())
        return copy

    def _stochastic_settings(self, given: FitInput) -> StochasticSettings:
        # given.batch_size is None for L-BFGS only
        return StochasticSettings(
            cast(int, given.batch_size), self.max_iter, self.shuffle, self.alpha, self.tol,
            self.n_iter_no_change, given.early_stopping, bool(self.verbose),
            given.incremental)

    def _callback_context(self, X: Matrix, y: NDArray[Any],
                          sample_weight: ArrayLike | None) -> Any:
        """The root task of scikit-learn's callback API: one subtask per epoch."""
        max_epochs = self.max_iter if self.solver != "lbfgs" else 0
        ctx = self._init_callback_context(max_subtasks=max_epochs)
        ctx.call_on_fit_task_begin(estimator=self, X=X, y=y,
                                   metadata={"sample_weight": sample_weight})
        return ctx

    def _epoch_hooks(self, ctx: Any, arch: Architecture, given: FitInput,
                     record: TrainingRecord) -> EpochHooks:
        """``EpochHooks`` for the training loop: each epoch is a callback subtask, and a
        callback that returns True stops training."""
        epoch: dict[str, Any] = {}

        # a copy of the network as it is after this epoch
        def attributes(theta: FloatArray) -> dict[str, Any]:
            network = FittedNetwork(arch, theta, given.classes, given.kind, record,
                                    getattr(self, "feature_names_in_", None),
                                    given.input_scale).snapshot()
            return fitted_attributes(network, given.early_stopping)

        def begin() -> None:
            epoch["ctx"] = ctx.subcontext(task_name="epoch")
            epoch["ctx"].call_on_fit_task_begin(estimator=self, X=given.X, y=given.y)

        def end(theta: FloatArray) -> Any:
            return epoch["ctx"].call_on_fit_task_end(
                estimator=self, X=given.X, y=given.y,
                reconstruction_attributes=lambda: attributes(theta))
        return EpochHooks(begin, end)

    def _check_validation_set(
        self, X: Matrix, X_val: MatrixLike | None, y_val: ArrayLike | None,
    ) -> tuple[Matrix, NDArray[Any]] | tuple[None, None]:
        """``(X_val, y_val)`` validated against the training ``X``, or ``(None, None)``.

        ``fit`` receives ``X_val`` as given: inside a Pipeline it skips the steps before
        this one, so a mismatch in features is named with that cause and its fix.
        """
        if X_val is None:
            return None, None
        shape = X_val.shape if hasattr(X_val, "shape") else np.shape(X_val)
        if len(shape) == 2 and shape[1] != X.shape[1]:
            raise ValueError(
                f"X_val has {shape[1]} features per sample, but X has {X.shape[1]}; they "
                "must match. fit uses X_val as given: in a Pipeline, fit parameters skip the "
                "steps before the classifier, so transform X_val with those steps first, "
                "e.g. pipe.fit(X, y, digitmlpclassifier__X_val=pipe[:-1].fit(X, y)"
                ".transform(X_val), digitmlpclassifier__y_val=y_val).")
        try:
            X_val = self._validate_X(X_val)
        except ValueError as exc:  # scikit-learn's messages call every array X
            raise ValueError(f"X_val: {exc}") from exc
        y_val = np.asarray(y_val)
        if len(y_val) != X_val.shape[0]:
            raise ValueError(
                f"X_val has {X_val.shape[0]} samples but y_val has {len(y_val)}; "
                "give one label per validation sample.")
        return X_val, y_val

    def _split_validation(self, n_samples: int, given: FitInput,
                          random_state: np.random.RandomState) -> tuple[IntArray, IntArray]:
        """Row indices (train, validation) of a ``validation_fraction`` split, stratified
        by class (plain for multilabel y); indices, so ``X`` is never copied whole."""
        # MLPClassifier stratifies binary y only; we stratify every single-label y.
        stratify = None if given.kind == "multilabel" else given.y
        return train_test_split(np.arange(n_samples), random_state=random_state,
                                test_size=self.validation_fraction, stratify=stratify)

    def _optimizer_for(self, theta: FloatArray, incremental: bool) -> SGD | Adam:
        kind = SGD if self.solver == "sgd" else Adam
        previous = getattr(self, "_optimizer", None)
        if incremental and isinstance(previous, kind) and previous.n_parameters == theta.size:
            return previous
        optimizer: SGD | Adam
        if kind is SGD:
            optimizer = SGD(theta.size, theta.dtype, self.learning_rate_init,
                            self.learning_rate, self.momentum, self.nesterovs_momentum,
                            self.power_t)
        else:
            optimizer = Adam(theta.size, theta.dtype, self.learning_rate_init, self.beta_1,
                             self.beta_2, self.epsilon)
        return optimizer

    def _sample_weight(self, sample_weight: ArrayLike | None, y: NDArray[Any],
                       classes: NDArray[Any], kind: TargetKind,
                       incremental: bool) -> NDArray[np.float64] | None:
        sw = _targets.check_sample_weight(sample_weight, y.shape[0])
        cw = _targets.class_sample_weight(self.class_weight, y, classes, kind, incremental)
        if cw is None:
            return sw
        sw = cw if sw is None else sw * cw
        if not sw.sum() > 0:
            raise ValueError("Sample weights times class_weight are all zero; nothing to learn.")
        return sw

    def _check_continuation(self, y: NDArray[Any], kind: TargetKind, incremental: bool) -> None:
        """warm_start and partial_fit continue the same kind of y, with the same classes."""
        if kind != self._target_kind:
            raise ValueError(
                f"y is {kind}, but the network was fitted on a {self._target_kind} y; "
                "refit with warm_start=False.")
        if incremental:
            return
        classes = np.arange(y.shape[1]) if kind == "multilabel" else np.unique(y)
        if set(classes.tolist()) != set(self.classes_.tolist()):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the "
                f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
            )

    def _check_same_architecture(self, arch: Architecture) -> None:
        units = tuple([self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_])
        if units != arch.units:
            raise ValueError(
                f"The fitted network has layers {units} but the parameters ask for "
                f"{arch.units}; with warm_start=True or partial_fit keep hidden_layer_sizes "
                "as they were, or refit with warm_start=False."
            )

    def _hidden_activations(self) -> tuple[list[int], tuple[Activation, ...]]:
        given = self.hidden_layer_sizes
        sizes = ([cast(int, given)] if isinstance(given, Integral)
                 else [int(s) for s in np.ravel(given)])
        if isinstance(self.activation, (tuple, list)):
            if len(self.activation) != len(sizes):
                raise ValueError(
                    f"activation has {len(self.activation)} entries but there are "
                    f"{len(sizes)} hidden layers; give one activation per hidden layer, "
                    "or a single one for all."
                )
            return sizes, tuple(get_activation(a) for a in self.activation)
        return sizes, (get_activation(self.activation),) * len(sizes)

    def _architecture(self, n_features: int, n_outputs: int, output: str) -> Architecture:
        sizes, hidden = self._hidden_activations()
        return Architecture((n_features, *sizes, n_outputs), hidden, output, self.loss)

    def _early_stopping_active(self) -> bool:
        """Whether a validation score decides when to stop (and which weights to keep)."""
        return self.early_stopping and self.solver != "lbfgs"

    def _set_fitted(self, network: FittedNetwork) -> None:
        """Set every fitted attribute from one :class:`FittedNetwork`: the only writer of
        fitted state, for fit, partial_fit and load_model alike."""
        for name, value in fitted_attributes(network, self._early_stopping_active()).items():
            setattr(self, name, value)
        if network.feature_names is not None:
            self.feature_names_in_ = network.feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    # --------------------------------------------------------------- predicting
    def _validate_X(self, X: MatrixLike, ensure_all_finite: bool = True) -> Matrix:
        """Validated ``X`` for a fitted network; small integer images are kept as they are."""
        return validate_with_hints(self, X, accept_sparse="csr", reset=False,
                                   dtype=dtypes_for(X), ensure_all_finite=ensure_all_finite)

    def _layer(self, X: MatrixLike, layer: int | None = None) -> FloatArray:
        """Validated ``X`` forwarded to ``layer`` (default the output), in bounded-memory
        chunks.

        A dense ``X`` is checked for NaN and infinity through the first layer's sums
        (``forward(check_finite=True)``), which costs a fraction of a scan of ``X``; only
        when they are not finite is ``X`` itself examined, for scikit-learn's message.
        """
        check_is_fitted(self)
        dense = not sparse.issparse(X)
        X_checked = self._validate_X(X, ensure_all_finite=not dense)
        warn_if_rescaled(X_checked, self._input_scale)
        layer = self.n_layers_ - 1 if layer is None else layer
        try:
            return predict_layer(self._arch, self.coefs_, self.intercepts_, X_checked, layer,
                                 check_finite=dense)
        except NonFiniteLayer:
            self._validate_X(X_checked)  # raises "Input X contains NaN." and the like
            raise ValueError(
                "X is finite, but the network's first layer overflows on it (values up to "
                f"{np.abs(X_checked).max():.3g}); scale X as it was scaled for fit, or check "
                "that coefs_ and intercepts_ are finite."
            ) from None
