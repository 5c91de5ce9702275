"""Ways out: a fitted DigitMLPClassifier as scikit-learn's MLPClassifier, or as ONNX.

:func:`to_mlpclassifier` builds a fitted ``MLPClassifier`` through its public API only
(constructor, ``partial_fit``, ``set_params`` and its public fitted attributes), for
tools that know that class. :func:`to_onnx` converts with skl2onnx, for which this
module registers a shape calculator and a converter (:func:`register_onnx_converter`), so
that ``skl2onnx.to_onnx`` also converts pipelines ending in a ``DigitMLPClassifier``.

skl2onnx is imported only when needed; importing it adds 0.4 to 1 s to
``import skdigitnet``. ``import skdigitnet`` therefore registers the converter at once
when skl2onnx is already imported, and otherwise installs a small import hook
(:class:`_RegisterAfterImport`) that registers it right after skl2onnx is first imported,
so ``import skdigitnet; skl2onnx.to_onnx(pipe, X)`` works in either order.
"""

from __future__ import annotations

import copy
import importlib.abc
import importlib.util
import sys
import threading
import warnings
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from skdigitnet._images.normalizer import DigitNormalizer
from skdigitnet._neural_network.activations import (
    ELU,
    GELU,
    Identity,
    LeakyReLU,
    Logistic,
    ReLU,
    Softplus,
    Swish,
    Tanh,
)
from skdigitnet._neural_network.classifier import DigitMLPClassifier

if TYPE_CHECKING:  # pragma: no cover
    import onnx
    from numpy.typing import ArrayLike
    from sklearn.neural_network import MLPClassifier

__all__ = ["register_onnx_converter", "to_mlpclassifier", "to_onnx"]

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

_ONNX_HINT = ('pip install "skdigitnet[onnx]" (or pip install ".[onnx]" in a source '
              "checkout)")


# --------------------------------------------------------------------- MLPClassifier
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


# ------------------------------------------------------------------------------ ONNX
_ALIAS = "SkdigitnetDigitMLPClassifier"
_NORMALIZER_ALIAS = "SkdigitnetDigitNormalizer"
_ONNX_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [False, True],
                 "output_class_labels": [False, True]}
_MIN_OPSET = 9  # Erf (gelu) and numpy-style broadcasting of Add, Mul, Greater
_lock = threading.RLock()
_registered = threading.Event()  # set once the converters are registered


def register_onnx_converter() -> None:
    """Register skdigitnet's converters with skl2onnx (idempotent).

    After this, ``skl2onnx.to_onnx`` and ``skl2onnx.convert_sklearn`` convert a fitted
    :class:`DigitMLPClassifier`, alone or as the last step of a pipeline whose other
    steps skl2onnx converts (``StandardScaler``, ``PCA``, ...). The classifier supports
    skl2onnx's classifier options ``zipmap`` (True, False or 'columns'), ``nocl`` and
    ``output_class_labels``.

    :class:`DigitNormalizer` is registered too, but only to fail with a clear message:
    it crops, resamples and deskews each image by steps that depend on the image
    (connected components, a fitted paper surface, image moments), which ONNX operators
    do not express. Run it in Python and convert the rest of the pipeline, e.g.
    ``to_onnx(pipe[1:], pipe[:1].transform(X[:1]))``.

    You rarely need to call this: ``import skdigitnet`` registers the converters when
    skl2onnx is already imported, or right after skl2onnx is first imported (a hook in
    ``sys.meta_path``), and :func:`to_onnx` registers them before converting.

    Raises
    ------
    ImportError
        If skl2onnx is not installed (``pip install "skdigitnet[onnx]"``).

    Examples
    --------
    >>> import pytest
    >>> _ = pytest.importorskip("skl2onnx")
    >>> from skdigitnet import register_onnx_converter
    >>> register_onnx_converter()
    >>> register_onnx_converter()  # again: nothing changes
    """
    if _registered.is_set():
        return
    try:  # not under _lock: another thread's import of skl2onnx may be registering
        from skl2onnx import update_registered_converter
    except ImportError as exc:
        raise ImportError(f"Exporting to ONNX needs skl2onnx: {_ONNX_HINT}.") from exc
    with _lock:
        if _registered.is_set():  # importing skl2onnx just now ran the import hook
            return
        update_registered_converter(DigitMLPClassifier, _ALIAS, _onnx_shapes,
                                    _onnx_convert, options=_ONNX_OPTIONS)
        update_registered_converter(DigitNormalizer, _NORMALIZER_ALIAS,
                                    _normalizer_not_convertible,
                                    _normalizer_not_convertible_converter)
        _registered.set()


def to_onnx(estimator: BaseEstimator, X_sample: ArrayLike, *,
            target_opset: int | dict[str, int] | None = None,
            zipmap: bool | Literal["columns"] = False,
            options: dict | None = None) -> onnx.ModelProto:
    """Convert a fitted :class:`DigitMLPClassifier`, or a pipeline ending in one, to ONNX.

    Registers the converters (:func:`register_onnx_converter`) and calls
    ``skl2onnx.to_onnx``. The graph takes the input ``X`` and returns ``label`` (as
    ``predict``) and ``probabilities`` (as ``predict_proba``), made of standard ONNX
    operators: ``MatMul`` and ``Add`` per layer; the hidden activations as ``Identity``
    (no node), ``Sigmoid``, ``Tanh``, ``Relu``, ``LeakyRelu``, ``Elu``, ``Softplus``,
    ``Gelu`` (below opset 20: ``0.5 * z * (1 + Erf(z / sqrt(2)))``) and
    ``z * Sigmoid(z)`` (swish); ``Softmax`` or ``Sigmoid`` outputs; ``ArgMax`` and
    ``Gather`` for labels. Per-layer activations, binary, multiclass and multilabel
    targets (labels ``probabilities > 0.5``, as int64 of shape (n_samples, n_labels)),
    ``out_activation='logistic'`` on multiclass targets (rows normalised as
    ``predict_proba`` does) and int, bool or string labels are all supported.

    With float32 input (the usual for ONNX runtimes) the graph computes in float32:
    onnxruntime's probabilities match ``predict_proba`` within 1e-5 and its labels match
    ``predict`` (except for samples whose two best classes differ by less than float32
    rounding). With float64 input it computes in float64 and matches to about 1e-12;
    as onnxruntime has no float64 kernels for them, leaky_relu, elu and softplus are
    then composed of elementary operators, and gelu's ``Erf`` is evaluated in float32
    (probabilities within about 1e-7).

    Parameters
    ----------
    estimator : DigitMLPClassifier or Pipeline
        Fitted. In a pipeline, the classifier is the last step (its ``transform`` is
        not converted) and the other steps must be ones skl2onnx converts;
        :class:`DigitNormalizer` is not (see :func:`register_onnx_converter`).
    X_sample : array-like of shape (n_samples, n_features)
        A few rows of input (one suffices); their dtype is the graph's input type
        (float32 gives ``FloatTensorType``, float64 ``DoubleTensorType``).
    target_opset : int, dict or None, default=None
        Passed to ``skl2onnx.to_onnx``: the ONNX opset (``{'': 17, 'ai.onnx.ml': 3}``
        for each domain); None is the newest opset skl2onnx supports. At least 9.
    zipmap : bool or 'columns', default=False
        False returns the probabilities as one (n_samples, n_classes) tensor, as
        ``predict_proba``; True as skl2onnx's default list of {label: probability}
        dictionaries (a ZipMap node); 'columns' as one output per class.
    options : dict or None, default=None
        More skl2onnx options (``{id(step) or type: {name: value}}``); an entry for
        ``DigitMLPClassifier`` there overrides ``zipmap``.

    Returns
    -------
    onnx_model : onnx.ModelProto
        Save it with ``onnx_model.SerializeToString()`` or ``onnx.save``; run it with
        ``onnxruntime.InferenceSession``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ImportError
        If skl2onnx is not installed (``pip install "skdigitnet[onnx]"``).
    ValueError
        Naming what cannot be converted: an activation that is not built in (your own
        :class:`Activation` subclass, even registered by name), a
        :class:`DigitNormalizer` step, float class labels that are not whole numbers, or
        a ``target_opset`` below 9.

    Examples
    --------
    >>> import numpy as np
    >>> import pytest
    >>> ort = pytest.importorskip("onnxruntime")
    >>> _ = pytest.importorskip("skl2onnx")
    >>> from sklearn.datasets import load_digits
    >>> from skdigitnet import DigitMLPClassifier, to_onnx
    >>> X, y = load_digits(return_X_y=True)
    >>> X, y = (X[:300] / 16).astype(np.float32), y[:300]
    >>> clf = DigitMLPClassifier((8,), "gelu", solver="lbfgs", max_iter=400,
    ...                          random_state=0).fit(X, y)
    >>> onx = to_onnx(clf, X[:1])
    >>> session = ort.InferenceSession(onx.SerializeToString(),
    ...                                providers=["CPUExecutionProvider"])
    >>> labels, proba = session.run(None, {"X": X})
    >>> bool((labels == clf.predict(X)).all())
    True
    >>> bool(np.abs(proba - clf.predict_proba(X)).max() < 1e-5)
    True
    """
    register_onnx_converter()
    import skl2onnx

    check_is_fitted(estimator)
    if not hasattr(X_sample, "dtype") and not hasattr(X_sample, "dtypes"):
        X_sample = np.asarray(X_sample)  # a list: skl2onnx guesses types from arrays
    merged = {DigitMLPClassifier: {"zipmap": zipmap}}
    for key, value in (options or {}).items():
        merged[key] = {**merged.get(key, {}), **value}
    return skl2onnx.to_onnx(estimator, X_sample, target_opset=target_opset,
                            options=merged)


def _normalizer_not_convertible_converter(scope: Any, operator: Any,
                                          container: Any) -> None:
    _normalizer_not_convertible(operator)


def _normalizer_not_convertible(operator: Any) -> None:
    raise ValueError(
        "DigitNormalizer cannot be converted to ONNX: it crops, resamples and deskews "
        "each image by steps that depend on the image (connected components, a fitted "
        "paper surface, image moments), which ONNX operators do not express. Run it in "
        "Python before the ONNX model and convert the rest of the pipeline, e.g. "
        "skdigitnet.to_onnx(pipe[1:], pipe[:1].transform(X[:1])).")


def _check_onnx_activation(activation: Any) -> None:
    """Raise unless ``activation`` is a built-in the converter knows."""
    if type(activation) not in _ONNX_ACTIVATIONS:
        raise ValueError(
            f"The activation {_activation_label(activation)} cannot be converted to ONNX: "
            "only the built-in activations have converters ("
            + ", ".join(_ONNX_ACTIVATION_NAMES) + "). Refit with one of those to "
            "export this model.")


def _check_onnx_convertible(estimator: DigitMLPClassifier) -> None:
    check_is_fitted(estimator)
    for activation in estimator._arch.hidden:
        _check_onnx_activation(activation)
    _label_tensor(estimator.classes_)  # raises for labels ONNX cannot hold


def _label_tensor(classes: np.ndarray) -> np.ndarray:
    """``classes`` as int64 or as str objects (an ONNX string tensor)."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "iub":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f":
        if np.all(np.isfinite(classes)) and np.all(classes == np.round(classes)):
            return classes.astype(np.int64)
        raise ValueError(
            f"The class labels {classes.tolist()} are floats that are not whole numbers; "
            "ONNX classifiers return int64 or string labels. Refit with int or str "
            "labels to export this model.")
    values = classes.tolist()
    if all(isinstance(v, str) for v in values):
        return np.array(values, dtype=object)
    if all(isinstance(v, (int, np.integer, bool, np.bool_)) for v in values):
        return np.array([int(v) for v in values], dtype=np.int64)
    raise ValueError(f"The class labels {values} are neither all ints nor all strings; "
                     "ONNX classifiers return int64 or string labels.")


def _onnx_shapes(operator: Any) -> None:
    """skl2onnx shape calculator: label (n,) or (n, n_labels), probabilities (n, k)."""
    from skl2onnx.common.data_types import (
        BooleanTensorType,
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
    from skl2onnx.common.utils import (
        check_input_and_output_numbers,
        check_input_and_output_types,
    )
    from skl2onnx.common.utils_classifier import get_label_classes

    estimator = operator.raw_operator
    _check_onnx_convertible(estimator)
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    check_input_and_output_types(operator, good_input_types=[
        FloatTensorType, DoubleTensorType, Int64TensorType, BooleanTensorType])
    shape = operator.inputs[0].type.shape
    if len(shape) == 2 and isinstance(shape[1], int) and shape[1] != estimator.n_features_in_:
        raise ValueError(f"The ONNX input has {shape[1]} features, but "
                         f"{type(estimator).__name__} was fitted on "
                         f"{estimator.n_features_in_}.")
    n = operator.inputs[0].get_first_dimension()
    k = len(estimator.classes_)
    labels = _label_tensor(get_label_classes(operator.scope_inst, estimator))
    label_type = StringTensorType if labels.dtype == object else Int64TensorType
    multilabel = estimator._target_kind == "multilabel"
    operator.outputs[0].set_type(label_type(shape=[n, k] if multilabel else [n]))
    double = isinstance(operator.inputs[0].type, DoubleTensorType)
    operator.outputs[1].set_type((DoubleTensorType if double else FloatTensorType)([n, k]))


class _Graph:
    """Adds nodes and constants of one dtype to a skl2onnx container."""

    def __init__(self, scope: Any, container: Any, proto_dtype: int, np_dtype: type):
        self.scope, self.container = scope, container
        self.proto_dtype, self.np_dtype = proto_dtype, np_dtype
        self.opset = container.target_opset
        self.double = np_dtype == np.float64

    def node(self, op_type: str, inputs: list[str], output: str | None = None,
             **attrs: Any) -> str:
        output = output or self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(op_type, inputs, output,
                                name=self.scope.get_unique_operator_name(op_type), **attrs)
        return output

    def const(self, value: Any, prefix: str, dtype: Any = None) -> str:
        from onnx import TensorProto, numpy_helper

        value = np.asarray(value, dtype=dtype or self.np_dtype)
        name = self.scope.get_unique_variable_name(prefix)
        if value.dtype == object:  # str labels: a string tensor has no raw data
            self.container.add_initializer(name, TensorProto.STRING, list(value.shape),
                                           [s.encode("utf-8") for s in value.ravel()])
            return name
        tensor = numpy_helper.from_array(value, name)
        self.container.add_initializer(name, tensor.data_type, list(value.shape), tensor)
        return name


# onnxruntime has no float64 kernels for LeakyRelu, Elu, Softplus and Erf (nor Gelu,
# which it expands to Erf): a float64 graph composes them from operators it has.
def _leaky_relu(g: _Graph, z: str, activation: Any) -> str:
    slope = float(activation.negative_slope)
    if not g.double:
        return g.node("LeakyRelu", [z], alpha=slope)
    # 0 <= slope < 1, so max(z, slope * z) is z for z > 0 and slope * z otherwise
    return g.node("Max", [z, g.node("Mul", [z, g.const(slope, "negative_slope")])])


def _elu(g: _Graph, z: str, activation: Any) -> str:
    alpha = float(activation.alpha)
    if not g.double:
        return g.node("Elu", [z], alpha=alpha)
    zero = g.const(0.0, "zero")
    expm1 = g.node("Sub", [g.node("Exp", [g.node("Min", [z, zero])]), g.const(1.0, "one")])
    negative = g.node("Mul", [expm1, g.const(alpha, "alpha")])
    return g.node("Where", [g.node("Greater", [z, zero]), z, negative])


def _softplus(g: _Graph, z: str, activation: Any) -> str:
    if not g.double:
        return g.node("Softplus", [z])
    # max(z, 0) + log(1 + exp(-|z|)): exp cannot overflow
    tail = g.node("Exp", [g.node("Neg", [g.node("Abs", [z])])])
    log1p = g.node("Log", [g.node("Add", [tail, g.const(1.0, "one")])])
    return g.node("Add", [g.node("Relu", [z]), log1p])


def _gelu(g: _Graph, z: str, activation: Any) -> str:
    if g.opset >= 20 and not g.double:
        return g.node("Gelu", [z])
    scaled = g.node("Mul", [z, g.const(np.sqrt(0.5), "inv_sqrt2")])
    if g.double:  # Erf in float32: Φ(z) to about 1e-7
        scaled = g.node("Cast", [scaled], to=_proto("FLOAT"))
        erf = g.node("Cast", [g.node("Erf", [scaled])], to=g.proto_dtype)
    else:
        erf = g.node("Erf", [scaled])
    half_z = g.node("Mul", [z, g.const(0.5, "half")])
    return g.node("Mul", [half_z, g.node("Add", [erf, g.const(1.0, "one")])])


def _swish(g: _Graph, z: str, activation: Any) -> str:
    if not g.double:
        return g.node("Mul", [z, g.node("Sigmoid", [z])])
    # z / (1 + exp(-z)): onnxruntime (1.20 to 1.23 at least) fuses z * Sigmoid(z) into
    # a QuickGelu node that has no float64 kernel
    exp = g.node("Exp", [g.node("Neg", [z])])
    return g.node("Div", [z, g.node("Add", [exp, g.const(1.0, "one")])])


def _proto(name: str) -> int:
    from onnx import TensorProto

    return int(getattr(TensorProto, name))


#: Built-in activation class -> ``(graph, z, activation) -> name of σ(z)`` adding its
#: nodes; None adds no node.
_ONNX_ACTIVATIONS = {
    Identity: None,
    Logistic: lambda g, z, a: g.node("Sigmoid", [z]),
    Tanh: lambda g, z, a: g.node("Tanh", [z]),
    ReLU: lambda g, z, a: g.node("Relu", [z]),
    LeakyReLU: _leaky_relu,
    ELU: _elu,
    Softplus: _softplus,
    GELU: _gelu,
    Swish: _swish,
}
_ONNX_ACTIVATION_NAMES = ("identity", "logistic", "tanh", "relu", "leaky_relu", "elu",
                          "softplus", "gelu", "swish")


def _onnx_convert(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter: the forward pass, ``predict_proba`` and ``predict``."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.common.utils_classifier import get_label_classes

    estimator = operator.raw_operator
    _check_onnx_convertible(estimator)
    if container.target_opset < _MIN_OPSET:
        raise ValueError(f"target_opset={container.target_opset} is too old for "
                         f"{type(estimator).__name__}'s ONNX graph; use at least "
                         f"{_MIN_OPSET}.")
    double = isinstance(operator.inputs[0].type, DoubleTensorType)
    g = _Graph(scope, container, TensorProto.DOUBLE if double else TensorProto.FLOAT,
               np.float64 if double else np.float32)
    label_out, proba_out = (v.full_name for v in operator.outputs)

    a = operator.inputs[0].full_name
    if not isinstance(operator.inputs[0].type, type(operator.outputs[1].type)):
        a = g.node("Cast", [a], to=g.proto_dtype)
    arch = estimator._arch
    n_layers = len(estimator.coefs_)
    for i, (W, b) in enumerate(zip(estimator.coefs_, estimator.intercepts_)):
        z = g.node("Add", [g.node("MatMul", [a, g.const(W, "coef")]),
                           g.const(b, "intercept")])
        if i < n_layers - 1:
            add_nodes = _ONNX_ACTIVATIONS[type(arch.hidden[i])]
            a = z if add_nodes is None else add_nodes(g, z, arch.hidden[i])
        else:
            a = z
    kind, output = estimator._target_kind, estimator.out_activation_
    P = g.node("Softmax", [a], axis=1) if output == "softmax" else g.node("Sigmoid", [a])

    if kind == "multilabel":
        g.node("Identity", [P], proba_out)
        positive = g.node("Greater", [P, g.const(0.5, "threshold")])
        g.node("Cast", [positive], label_out, to=TensorProto.INT64)
        return
    if P_is_single := estimator.n_outputs_ == 1:
        g.node("Concat", [g.node("Sub", [g.const(1.0, "one"), P]), P], proba_out, axis=1)
    elif output == "logistic":  # independent sigmoids over exclusive classes
        k = estimator.n_outputs_
        total = g.node("MatMul", [P, g.const(np.ones((k, 1)), "ones")])
        # rows normalised to sum to one; a row of zeros (underflow) gives 1 / k each
        normalised = g.node("Div", [P, g.node("Max", [total, g.const(np.finfo(g.np_dtype)
                                                                    .tiny, "tiny")])])
        g.node("Where", [g.node("Greater", [total, g.const(0.0, "zero")]), normalised,
                         g.const(np.full((1, k), 1 / k), "uniform")], proba_out)
    else:
        g.node("Identity", [P], proba_out)
    # predict: the argmax of the outputs (of [1 - p, p] for one logistic output)
    index = g.node("ArgMax", [proba_out if P_is_single else P], axis=1, keepdims=0)
    classes = _label_tensor(get_label_classes(scope, estimator))
    g.node("Gather", [g.const(classes, "classes", dtype=classes.dtype), index], label_out,
           axis=0)


# ------------------------------------------------------------------- the import hook
class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Registers the ONNX converters right after ``skl2onnx`` is first imported.

    In ``sys.meta_path``, it answers only for the top-level name ``skl2onnx``: it finds
    the module's spec with the other finders and wraps its loader, so that once the
    module has executed (and only if it succeeded) :func:`register_onnx_converter` runs.
    The module keeps its own loader (``__loader__``, ``__spec__.loader``); the hook
    leaves ``sys.meta_path`` after registering. A failure to register is a warning, never
    a failed import of skl2onnx.
    """

    _skdigitnet_hook = True

    def __init__(self) -> None:
        self._local = threading.local()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if (fullname != "skl2onnx" or fullname in sys.modules  # a reload: as usual
                or _registered.is_set() or getattr(self._local, "busy", False)):
            return None
        self._local.busy = True
        try:
            spec = importlib.util.find_spec(fullname)  # the other finders
        finally:
            self._local.busy = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader(importlib.abc.Loader):
    """Delegates to skl2onnx's loader, then registers the converters."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        try:
            register_onnx_converter()
        except Exception as exc:  # noqa: BLE001 - never break the import of skl2onnx
            warnings.warn(f"skdigitnet could not register its ONNX converter with "
                          f"skl2onnx ({exc!r}); call skdigitnet.register_onnx_converter() "
                          "to see why.", stacklevel=2)
        else:
            _remove_hook()

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        if name == "_loader":
            raise AttributeError(name)
        return getattr(self._loader, name)


def _remove_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "_skdigitnet_hook", False)]


def install_onnx_registration() -> None:
    """At ``import skdigitnet``: register now if skl2onnx is imported, else hook it."""
    if sys.modules.get("skl2onnx") is not None:
        try:
            register_onnx_converter()
        except Exception as exc:  # noqa: BLE001 # pragma: no cover - a broken skl2onnx
            warnings.warn(f"skdigitnet could not register its ONNX converter with "
                          f"skl2onnx ({exc!r}).", stacklevel=2)
        return
    if not any(getattr(f, "_skdigitnet_hook", False) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())
