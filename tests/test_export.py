"""Exports: to_mlpclassifier (scikit-learn's MLPClassifier) and to_onnx (skl2onnx)."""

import importlib.util
import os
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from skdigitnet import (
    ACTIVATIONS,
    DigitMLPClassifier,
    DigitNormalizer,
    register_onnx_converter,
    to_mlpclassifier,
    to_onnx,
)
from skdigitnet._io import onnx as _export
from skdigitnet._neural_network.activations import ELU, LeakyReLU, ReLU

from _custom import ScaledTanh
from _tolerance import sum_rtol

MLP_ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
BUILT_IN = [ELU(alpha=0.5), LeakyReLU(negative_slope=0.2),
            *(name for name in ACTIVATIONS if name != "sigmoid")]


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    return X[:300], y[:300]


def _y(y, target):
    """The digits' labels as a target of kind ``target``."""
    return {
        "multiclass": y,
        "strings": np.array([f"digit {v}" for v in y]),
        "binary": y % 2,
        "binary strings": np.where(y % 2, "odd", "even"),
        "multilabel": np.column_stack([y % 2, y > 4, y % 3 == 0]).astype(int),
    }[target]


def fit(X, y, **params):
    params = {"hidden_layer_sizes": (10, 6), "max_iter": 25, "random_state": 0, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return DigitMLPClassifier(**params).fit(X, y)


def assert_same_proba(actual, clf, X):
    """Two routes through the same sums in the weights' dtype: within rounding."""
    dtype = clf.coefs_[0].dtype
    rtol = sum_rtol(dtype, max(clf._arch.units), depth=clf.n_layers_ - 1)
    np.testing.assert_allclose(actual, clf.predict_proba(X), rtol=rtol, atol=rtol)


# ----------------------------------------------------------------- to_mlpclassifier
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", MLP_ACTIVATIONS)
def test_mlpclassifier_predicts_the_same(data, activation, dtype):
    X, y = data[0].astype(dtype), data[1]
    clf = fit(X, y, activation=activation)
    mlp = to_mlpclassifier(clf)
    assert type(mlp) is MLPClassifier
    check_is_fitted(mlp)
    assert mlp.activation == activation and mlp.hidden_layer_sizes == (10, 6)
    assert mlp.coefs_[0].dtype == dtype
    np.testing.assert_array_equal(mlp.predict(X), clf.predict(X))
    assert_same_proba(mlp.predict_proba(X), clf, X)
    assert mlp.score(X, y) == clf.score(X, y)


@pytest.mark.parametrize("target", ["strings", "binary", "binary strings", "multilabel"])
def test_mlpclassifier_every_kind_of_target(data, target):
    X, y = data[0], _y(data[1], target)
    clf = fit(X, y, activation="tanh")
    mlp = to_mlpclassifier(clf)
    np.testing.assert_array_equal(mlp.classes_, clf.classes_)
    assert mlp.out_activation_ == clf.out_activation_
    np.testing.assert_array_equal(mlp.predict(X), clf.predict(X))
    assert_same_proba(mlp.predict_proba(X), clf, X)
    np.testing.assert_allclose(mlp.predict_log_proba(X), clf.predict_log_proba(X),
                               rtol=0, atol=1e-9)


def test_mlpclassifier_two_softmax_outputs_become_one_logistic_output(data):
    X, y = data[0], _y(data[1], "binary strings")
    clf = fit(X, y, out_activation="softmax")
    assert clf.n_outputs_ == 2
    mlp = to_mlpclassifier(clf)
    assert (mlp.n_outputs_, mlp.out_activation_) == (1, "logistic")
    np.testing.assert_array_equal(mlp.predict(X), clf.predict(X))
    # sigmoid(z1 - z0) against e^z1 / (e^z0 + e^z1): the same up to a few ulps
    np.testing.assert_allclose(mlp.predict_proba(X), clf.predict_proba(X), atol=1e-14)


def test_mlpclassifier_carries_parameters_and_training_record(data):
    X, y = data
    clf = fit(X, y, solver="lbfgs", alpha=0.5, tol=1e-3, max_iter=20,
              loss="squared_error", class_weight="balanced")
    mlp = to_mlpclassifier(clf)
    params = mlp.get_params()
    assert (params["solver"], params["alpha"], params["tol"], params["max_iter"]) == (
        "lbfgs", 0.5, 1e-3, 20)
    assert params["batch_size"] == 50  # 'auto' is min(50, n) here
    assert mlp.n_iter_ == clf.n_iter_ and mlp.t_ == clf.t_
    assert mlp.loss_curve_ == clf.loss_curve_ and mlp.loss_curve_ is not clf.loss_curve_
    assert mlp.loss_ == clf.loss_
    assert "out_activation" not in params and "class_weight" not in params
    rs = np.random.RandomState(3)
    clf.set_params(random_state=rs)
    state = rs.get_state()[1].copy()
    to_mlpclassifier(clf)
    np.testing.assert_array_equal(rs.get_state()[1], state)  # the user's RandomState untouched


def test_mlpclassifier_owns_its_weights_and_keeps_training(data):
    X, y = data
    clf = fit(X, y)
    before = [c.copy() for c in clf.coefs_], [b.copy() for b in clf.intercepts_]
    proba = clf.predict_proba(X)
    mlp = to_mlpclassifier(clf)
    for p in (*mlp.coefs_, *mlp.intercepts_):
        p[...] = 0
    mlp.partial_fit(X, y)  # continued training moves MLPClassifier's weights only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.set_params(warm_start=True, max_iter=3).fit(X, y)
    for ours, saved in zip((clf.coefs_, clf.intercepts_), before):
        for p, q in zip(ours, saved):
            np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    clf.coefs_[0][...] = 0  # and the other way round
    assert np.abs(mlp.coefs_[0]).max() > 0


def test_mlpclassifier_feature_names_sparse_input_and_no_hidden_layer(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    clf = fit(frame, y, hidden_layer_sizes=())
    mlp = to_mlpclassifier(clf)
    np.testing.assert_array_equal(mlp.feature_names_in_, clf.feature_names_in_)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        np.testing.assert_array_equal(mlp.predict(frame), clf.predict(frame))
    X_csr = sparse.csr_matrix(X)
    clf = fit(X_csr, y)
    assert_same_proba(to_mlpclassifier(clf).predict_proba(X_csr), clf, X_csr)


class ReLUSubclass(ReLU):
    """A subclass of a built-in may compute anything: not MLPClassifier's 'relu'."""


@pytest.mark.parametrize("params, named", [
    ({"activation": "gelu"}, "GELU()"),
    ({"activation": "leaky_relu"}, "LeakyReLU(negative_slope=0.01)"),
    ({"activation": ScaledTanh()}, "ScaledTanh(scale=1.7159)"),
    ({"activation": ReLUSubclass()}, "ReLUSubclass"),
    ({"activation": ("relu", "tanh")}, "('relu', 'tanh')"),
    ({"out_activation": "logistic"}, "out_activation='logistic'"),
])
def test_mlpclassifier_refuses_what_it_cannot_represent(data, params, named):
    clf = fit(*data, max_iter=2, **params)
    with pytest.raises(ValueError, match="MLPClassifier") as info:
        to_mlpclassifier(clf)
    assert named in str(info.value)


def test_mlpclassifier_refuses_a_registered_custom_activation(data, monkeypatch):
    monkeypatch.setitem(ACTIVATIONS, "scaled_tanh", ScaledTanh)
    clf = fit(*data, max_iter=2, activation="scaled_tanh")
    with pytest.raises(ValueError, match=r"ScaledTanh\(scale=1.7159\) \(_custom.ScaledTanh\)"):
        to_mlpclassifier(clf)


def test_mlpclassifier_needs_a_fitted_classifier():
    with pytest.raises(NotFittedError):
        to_mlpclassifier(DigitMLPClassifier())
    with pytest.raises(TypeError, match="DigitMLPClassifier; got MLPClassifier"):
        to_mlpclassifier(MLPClassifier())


# ---------------------------------------------------------------------------- ONNX
def _onnx_run(onx, X):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(onx.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


@pytest.fixture(scope="module")
def onnx_ready():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    return pytest.importorskip("skl2onnx")


@pytest.fixture(scope="module")
def data32(data):
    return data[0].astype(np.float32), data[1]


@pytest.mark.parametrize("target_opset", [None, 13])
@pytest.mark.parametrize("activation", BUILT_IN, ids=str)
def test_onnx_every_built_in_activation(onnx_ready, data32, activation, target_opset):
    X, y = data32
    clf = fit(X.astype(np.float64), y, activation=activation)
    labels, proba = _onnx_run(to_onnx(clf, X[:1], target_opset=target_opset), X)
    np.testing.assert_array_equal(labels, clf.predict(X))
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)


GELU = {"activation": "gelu"}
PER_LAYER_LOGISTIC = {"activation": ("swish", "elu"), "out_activation": "logistic",
                      "loss": "squared_error"}
SOFTMAX = {"activation": "softplus", "out_activation": "softmax"}


@pytest.mark.parametrize("target, params", [
    *((t, p) for t in ("strings", "binary", "binary strings", "multilabel")
      for p in (GELU, PER_LAYER_LOGISTIC)),
    *((t, SOFTMAX) for t in ("strings", "binary", "binary strings")),
])
def test_onnx_every_kind_of_target(onnx_ready, data32, target, params):
    X, y = data32[0], _y(data32[1], target)
    clf = fit(X, y, **params)
    labels, proba = _onnx_run(to_onnx(clf, X[:1], target_opset=9), X)
    np.testing.assert_array_equal(labels, clf.predict(X))
    assert labels.shape == clf.predict(X).shape
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)


def test_onnx_logistic_outputs_on_multiclass_y_are_normalised(onnx_ready, data32):
    X, y = data32
    clf = fit(X, y, out_activation="logistic", activation="elu")
    labels, proba = _onnx_run(to_onnx(clf, X[:1]), X)
    np.testing.assert_array_equal(labels, clf.predict(X))
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    clf.intercepts_[-1][...] = -1e4  # every sigmoid 0: predict_proba says 1 / k each
    labels, proba = _onnx_run(to_onnx(clf, X[:1]), X)
    np.testing.assert_array_equal(labels, clf.predict(X))
    np.testing.assert_array_equal(proba, clf.predict_proba(X).astype(np.float32))


@pytest.mark.parametrize("activation, target_opset", [
    *((a, None) for a in BUILT_IN), (("leaky_relu", "elu", "softplus"), 9), ("gelu", 9),
], ids=str)
def test_onnx_float64_input_computes_in_float64(onnx_ready, data, activation,
                                                target_opset):
    X, y = data
    sizes = (6,) * len(activation) if isinstance(activation, tuple) else (10, 6)
    clf = fit(X, y, activation=activation, hidden_layer_sizes=sizes)
    onx = to_onnx(clf, X[:1], target_opset=target_opset)
    assert onx.graph.input[0].type.tensor_type.elem_type == 11  # DOUBLE
    labels, proba = _onnx_run(onx, X)
    np.testing.assert_array_equal(labels, clf.predict(X))
    # onnxruntime has no float64 Erf: gelu's Φ(z) is float32-accurate
    atol = 1e-6 if activation == "gelu" else 1e-12
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=atol)


def test_skl2onnx_converts_a_pipeline_with_zipmap(onnx_ready, data32):
    X, y = data32[0], _y(data32[1], "strings")
    pipe = make_pipeline(StandardScaler(), DigitMLPClassifier((8,), "swish", max_iter=20,
                                                              random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    labels, dicts = _onnx_run(onnx_ready.to_onnx(pipe, X[:1]), X)  # skl2onnx's defaults
    np.testing.assert_array_equal(labels, pipe.predict(X))
    proba = np.array([[row[c] for c in pipe.classes_] for row in dicts])
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=1e-5)
    labels, proba = _onnx_run(to_onnx(pipe, X[:1]), X)  # ours: zipmap=False
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=1e-5)
    onx = to_onnx(pipe, X[:1], zipmap="columns")
    assert len(onx.graph.output) == 1 + len(pipe.classes_)
    onx = to_onnx(pipe, X[:1], options={DigitMLPClassifier: {"nocl": True}})
    labels, _ = _onnx_run(onx, X)
    np.testing.assert_array_equal(pipe.classes_[labels], pipe.predict(X))


def test_onnx_refuses_digit_normalizer_naming_it(onnx_ready, data32):
    X, y = data32
    pipe = make_pipeline(DigitNormalizer(image_shape=(8, 8)),
                         DigitMLPClassifier((8,), max_iter=2, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y)
    for convert in (to_onnx, onnx_ready.to_onnx):
        with pytest.raises(ValueError, match="DigitNormalizer cannot be converted to ONNX"):
            convert(pipe, X[:1])
    # the advertised way round: DigitNormalizer in Python, the rest in ONNX
    X_norm = pipe[:1].transform(X).astype(np.float32)
    labels, _ = _onnx_run(to_onnx(pipe[1:], X_norm[:1]), X_norm)
    np.testing.assert_array_equal(labels, pipe.predict(X))


@pytest.mark.parametrize("activation, named", [
    ("scaled_tanh", r"ScaledTanh\(scale=1.7159\) \(_custom.ScaledTanh\)"),
    (("relu", ReLUSubclass()), "ReLUSubclass"),
])
def test_onnx_refuses_a_custom_activation_naming_it(onnx_ready, data32, monkeypatch,
                                                    activation, named):
    monkeypatch.setitem(ACTIVATIONS, "scaled_tanh", ScaledTanh)
    clf = fit(*data32, max_iter=2, activation=activation)
    with pytest.raises(ValueError, match=named):
        to_onnx(clf, data32[0][:1])


def test_onnx_float_and_bool_labels_become_int64(onnx_ready, data32):
    X, y = data32
    for labels in (y.astype(np.float64), y % 2 == 0):
        clf = fit(X, labels, max_iter=5)
        predicted, _ = _onnx_run(to_onnx(clf, X[:1]), X)
        assert predicted.dtype == np.int64
        np.testing.assert_array_equal(predicted, clf.predict(X))


def test_onnx_refuses_what_it_cannot_hold(onnx_ready, data32):
    X, y = data32
    with pytest.raises(NotFittedError):
        to_onnx(DigitMLPClassifier(), X[:1])
    clf = fit(X, y, max_iter=2)
    with pytest.raises(ValueError, match="use at least 9"):
        to_onnx(clf, X[:1], target_opset=8)
    with pytest.raises(ValueError, match="fitted on 64"):
        to_onnx(clf, X[:1, :10])


def test_register_onnx_converter_without_skl2onnx(monkeypatch):
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # as after a plain install
    monkeypatch.setattr(_export, "_registered", threading.Event())
    with pytest.raises(ImportError, match=r'pip install "skdigitnet\[onnx\]"'):
        register_onnx_converter()
    with pytest.raises(ImportError, match=r'pip install "skdigitnet\[onnx\]"'):
        to_onnx(DigitMLPClassifier(), np.zeros((1, 2)))


IMPORT_ORDER = """\
import sys
import threading
import warnings
warnings.filterwarnings("error", message="skdigitnet")  # a failed registration
import numpy as np
from sklearn.datasets import load_digits
{first}
{second}
assert "skl2onnx" in sys.modules
from skdigitnet import DigitMLPClassifier
X, y = load_digits(return_X_y=True)
X = (X[:100] / 16).astype(np.float32)
clf = DigitMLPClassifier((4,), solver="lbfgs", max_iter=5).fit(X, y[:100])
onx = skl2onnx.to_onnx(clf, X[:1], options={{DigitMLPClassifier: {{"zipmap": False}}}})
print("outputs:", [o.name for o in onx.graph.output])
print("loader:", type(skl2onnx.__loader__).__name__, type(skl2onnx.__spec__.loader).__name__)
print("hooks left:", sum(hasattr(f, "_skdigitnet_hook") for f in sys.meta_path))
"""


@pytest.mark.parametrize("first, second", [
    ("import skdigitnet\nassert 'skl2onnx' not in sys.modules", "import skl2onnx"),
    ("import skl2onnx", "import skdigitnet"),
], ids=["skdigitnet first", "skl2onnx first"])
def test_skl2onnx_converts_in_either_import_order(onnx_ready, first, second):
    """A fresh interpreter: the user imports skdigitnet and skl2onnx, calls nothing else."""
    code = IMPORT_ORDER.format(first=first, second=second)
    env = {**os.environ, "SKDIGITNET_NUMBA": "0"}  # no compiling in the child
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr
    assert "outputs: ['label', 'probabilities']" in done.stdout
    assert "loader: SourceFileLoader SourceFileLoader" in done.stdout  # skl2onnx's own
    assert "hooks left: 0" in done.stdout


def test_import_hook_never_breaks_the_import(tmp_path, monkeypatch):
    """A module loaded through the hook's loader runs even when registering fails, and
    keeps its own loader."""
    (tmp_path / "fake_skl2onnx.py").write_text("VALUE = 42\n")
    spec = importlib.util.spec_from_file_location("fake_skl2onnx",
                                                  tmp_path / "fake_skl2onnx.py")
    original = spec.loader
    spec.loader = _export._RegisteringLoader(original)
    assert spec.loader.get_filename("fake_skl2onnx") == original.get_filename()

    def broken():
        raise RuntimeError("no converter today")
    monkeypatch.setattr(_export, "register_onnx_converter", broken)
    module = importlib.util.module_from_spec(spec)
    with pytest.warns(UserWarning, match="no converter today"):
        spec.loader.exec_module(module)
    assert module.VALUE == 42
    assert module.__loader__ is original and module.__spec__.loader is original


def test_import_hook_answers_for_skl2onnx_only(monkeypatch):
    monkeypatch.setattr(_export, "_registered", threading.Event())
    hook = _export._RegisterAfterImport()
    assert hook.find_spec("numpy") is None
    assert hook.find_spec("skl2onnx.common") is None
    monkeypatch.setitem(sys.modules, "skl2onnx", sys.modules.get("skl2onnx", sys))
    assert hook.find_spec("skl2onnx") is None  # imported already: a reload goes as usual
