"""Way out to ONNX: :func:`to_onnx`, with skl2onnx, for which this module registers a
shape calculator and a converter (:func:`register_onnx_converter`), so that
``skl2onnx.to_onnx`` also converts pipelines ending in a ``DigitMLPClassifier``.

skl2onnx is imported only when needed; importing it adds 0.4 to 1 s to
``import skdigitnet``. ``import skdigitnet`` therefore registers the converter at once
when skl2onnx is already imported, and otherwise installs a small import hook
(:class:`_RegisterAfterImport`) that registers it right after skl2onnx is first imported,
so ``import skdigitnet; skl2onnx.to_onnx(pipe, X)`` works in either order.
"""

from __future__ import annotations

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

from .to_sklearn import _activation_label

if TYPE_CHECKING:  # pragma: no cover
    import onnx
    from numpy.typing import ArrayLike

__all__ = ["install_onnx_registration", "register_onnx_converter", "to_onnx"]

_ONNX_HINT = ('pip install "skdigitnet[onnx]" (or pip install ".[onnx]" in a source '
              "checkout)")

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
