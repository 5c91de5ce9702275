"""Way out to scikit-learn: a fitted DigitMLPClassifier as a fitted ``MLPClassifier``.

:func:`to_mlpclassifier` builds it through ``MLPClassifier``'s public API only
(constructor, ``partial_fit``, ``set_params`` and its public fitted attributes), for
tools that know that class.
"""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skdigitnet._neural_network.activations import Identity, Logistic, ReLU, Tanh
from skdigitnet._neural_network.classifier import DigitMLPClassifier

if TYPE_CHECKING:  # pragma: no cover
    from sklearn.neural_network import MLPClassifier

__all__ = ["to_mlpclassifier"]

#: Hidden activations MLPClassifier has, by exact class (a subclass may compute anything).
_MLP_ACTIVATIONS = {Identity: "identity", Logistic: "logistic", Tanh: "tanh", ReLU: "relu"}

#: Constructor parameters whose meaning is the same in MLPClassifier (batch_size aside).
_SHARED_PARAMS = (
    "solver", "alpha", "batch_size", "learning_rate", "learning_rate_init", "power_t",
    "max_iter", "shuffle", "random_state", "tol", "verbose", "warm_start", "momentum",
    "nesterovs_momentum", "early_stopping", "validation_fraction", "beta_1", "beta_2",
    "epsilon", "n_iter_no_change", "max_fun",
)

#: The training record, copied as it is.
_RECORD_ATTRIBUTES = ("n_iter_", "t_", "loss_", "best_loss_", "loss_curve_",
                      "validation_scores_", "best_validation_score_")

def _check_fitted_classifier(estimator: Any, caller: str) -> None:
    if not isinstance(estimator, DigitMLPClassifier):
        raise TypeError(f"{caller} converts a fitted skdigitnet.DigitMLPClassifier; got "
                        f"{type(estimator).__name__}.")
    check_is_fitted(estimator)


def _activation_label(activation: Any) -> str:
    return f"{activation!r} ({type(activation).__module__}.{type(activation).__qualname__})"


def _mlp_activation(hidden: tuple) -> str:
    """The one MLPClassifier activation name equal to every hidden activation."""
    if not hidden:  # no hidden layer: the activation is never applied
        return "relu"
    names = []
    for activation in hidden:
        name = _MLP_ACTIVATIONS.get(type(activation))
        if name is None:
            raise ValueError(
                f"The activation {_activation_label(activation)} has no equivalent in "
                "scikit-learn's MLPClassifier, which has 'identity', 'logistic', 'tanh' "
                "and 'relu' only. Refit with one of those, or export with "
                "skdigitnet.to_onnx, which supports every built-in activation.")
        names.append(name)
    if len(set(names)) > 1:
        raise ValueError(
            f"The hidden layers use different activations {tuple(names)}, but "
            "scikit-learn's MLPClassifier uses one activation for every hidden layer. "
            "Refit with a single activation, or export with skdigitnet.to_onnx.")
    return names[0]


def _mlp_output_layer(estimator: DigitMLPClassifier) -> tuple[np.ndarray, np.ndarray]:
    """The output layer's weights as MLPClassifier computes that layer."""
    W, b = estimator.coefs_[-1], estimator.intercepts_[-1]
    kind, output = estimator._target_kind, estimator.out_activation_
    if kind == "multiclass" and output == "logistic":
        raise ValueError(
            "out_activation='logistic' on a multiclass y (independent sigmoid outputs that "
            "predict_proba normalises) has no equivalent in scikit-learn's MLPClassifier, "
            "which uses softmax for a multiclass y. Refit with out_activation='auto', or "
            "export with skdigitnet.to_onnx, which supports it.")
    if kind == "binary" and output == "softmax":
        # Two softmax outputs are one logistic output of the difference of their sums:
        # e^z1 / (e^z0 + e^z1) = sigmoid(z1 - z0).
        return W[:, 1:] - W[:, :1], b[1:] - b[:1]
    return W, b


def _mlp_params(estimator: DigitMLPClassifier, activation: str) -> dict[str, Any]:
    params = {name: getattr(estimator, name) for name in _SHARED_PARAMS}
    if params["batch_size"] == "auto":
        params["batch_size"] = 50  # ours is min(50, n); MLPClassifier clips 50 to n
    if isinstance(params["random_state"], np.random.RandomState):
        params["random_state"] = copy.deepcopy(params["random_state"])
    sizes = estimator._arch.units[1:-1]
    params["hidden_layer_sizes"] = tuple(int(s) for s in sizes)
    params["activation"] = activation
    return params


def to_mlpclassifier(estimator: DigitMLPClassifier) -> MLPClassifier:
    """A fitted scikit-learn ``MLPClassifier`` that predicts as ``estimator`` does.

    For tools that know ``sklearn.neural_network.MLPClassifier`` only. The result is
    built with ``MLPClassifier``'s public API alone: it is constructed with the matching
    parameters, fitted by ``partial_fit`` on one all-zero sample with ``classes=`` (which
    makes every fitted attribute it needs), and then given copies of the weights
    (``coefs_``, ``intercepts_``) and the training record (``n_iter_``, ``t_``,
    ``loss_``, ``best_loss_``, ``loss_curve_``, ``validation_scores_``,
    ``best_validation_score_``). Changing it never changes ``estimator``.

    ``predict`` returns the same labels and ``predict_proba`` the same probabilities:
    both compute the same sums in the weights' dtype, perhaps added in another order, so
    they agree to rounding, within ``n * eps`` relative per layer with ``n`` the widest
    layer and ``eps`` the machine epsilon of the weights' dtype (float64 weights agree to
    about 1e-15, float32 weights to about 1e-6). Binary, multiclass and multilabel
    targets and labels of any type (ints, strings) are supported, and the column names
    of a DataFrame fit (``feature_names_in_``).

    Parameters
    ----------
    estimator : DigitMLPClassifier
        A fitted classifier whose hidden layers all use one of MLPClassifier's
        activations ('identity', 'logistic', 'tanh', 'relu').

    Returns
    -------
    mlp : sklearn.neural_network.MLPClassifier
        Fitted. Parameters that ``MLPClassifier`` has are copied (``batch_size='auto'``,
        ``min(50, n_samples)`` here, becomes ``50``, which ``MLPClassifier`` clips to
        ``n_samples``); ``out_activation``, ``loss``, ``class_weight`` and
        ``transform_layer`` do not exist there and are left out (they do not change
        predictions). Two softmax outputs of a binary fit (``out_activation='softmax'``)
        become the single logistic output ``MLPClassifier`` uses for binary y, with
        weights ``W[:, 1] - W[:, 0]``: the same probabilities. After a
        ``loss='squared_error'`` fit, ``loss_curve_`` holds that loss. The optimizer
        state of further ``partial_fit`` calls starts from the one step above, not from
        ``estimator``'s.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    TypeError
        If ``estimator`` is not a ``DigitMLPClassifier``.
    ValueError
        Naming what ``MLPClassifier`` cannot represent: an activation it lacks (leaky_relu,
        elu, softplus, gelu, swish or your own), different activations per hidden layer,
        or independent sigmoid outputs on a multiclass y (``out_activation='logistic'``).
        :func:`to_onnx` exports all of these.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skdigitnet import DigitMLPClassifier, to_mlpclassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X, y = X[:300] / 16, y[:300]
    >>> clf = DigitMLPClassifier((8,), solver="lbfgs", max_iter=400, random_state=0)
    >>> clf = clf.fit(X, y)
    >>> mlp = to_mlpclassifier(clf)
    >>> type(mlp).__name__
    'MLPClassifier'
    >>> bool((mlp.predict(X) == clf.predict(X)).all())
    True
    >>> bool(np.allclose(mlp.predict_proba(X), clf.predict_proba(X), rtol=0, atol=1e-12))
    True
    """
    from sklearn.neural_network import MLPClassifier

    _check_fitted_classifier(estimator, "to_mlpclassifier")
    arch = estimator._arch
    activation = _mlp_activation(arch.hidden)
    W_out, b_out = _mlp_output_layer(estimator)
    coefs = [*estimator.coefs_[:-1], W_out]
    intercepts = [*estimator.intercepts_[:-1], b_out]
    params = _mlp_params(estimator, activation)

    # partial_fit makes the fitted state; it exists for the stochastic solvers only,
    # and prints nothing with verbose=False.
    mlp = MLPClassifier(**params)
    mlp.set_params(solver="adam" if params["solver"] == "lbfgs" else params["solver"],
                   verbose=False)
    X0, y0, classes = _bootstrap_sample(estimator, coefs[0].dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # batch_size clipped to the one sample
        mlp.partial_fit(X0, y0, classes=classes)
    mlp.set_params(solver=params["solver"], verbose=params["verbose"])

    for mine, theirs in ((coefs, mlp.coefs_), (intercepts, mlp.intercepts_)):
        if [p.shape for p in mine] != [p.shape for p in theirs]:  # pragma: no cover
            raise RuntimeError(
                f"MLPClassifier built layers {[p.shape for p in theirs]} for the layers "
                f"{[p.shape for p in mine]}; please report this as a skdigitnet bug.")
        for source, target in zip(mine, theirs):
            target[...] = source  # in place: MLPClassifier's own arrays, ours untouched
    for name in _RECORD_ATTRIBUTES:
        if hasattr(estimator, name):
            setattr(mlp, name, copy.deepcopy(getattr(estimator, name)))
    return mlp


def _bootstrap_sample(estimator: DigitMLPClassifier,
                      dtype: np.dtype) -> tuple[Any, np.ndarray, np.ndarray]:
    """``(X, y, classes)`` of one all-zero sample for MLPClassifier's first partial_fit."""
    n_features = estimator.n_features_in_
    X0 = np.zeros((2, n_features), dtype=dtype)
    if estimator._target_kind == "multilabel":
        y0 = np.zeros((2, len(estimator.classes_)), dtype=int)
        y0[1] = 1  # an indicator matrix (one all-zero row would not look multilabel)
    else:
        y0 = np.asarray(estimator.classes_)[[0, 1]]
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        import pandas as pd
        X0 = pd.DataFrame(X0, columns=list(names))
    return X0, y0, np.asarray(estimator.classes_)
