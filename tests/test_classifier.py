"""DigitMLPClassifier as a drop-in MLPClassifier, and what MLPClassifier refuses."""

import inspect
import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from scipy import sparse
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.utils.class_weight import compute_sample_weight

from skdigitnet import DigitMLPClassifier, InvalidParameterError

from _custom import Cube, InterruptAfter, ScaledTanh
from _tolerance import assert_allclose_sums


def quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


def assert_same_params(a, b, atol=1e-10):
    for pa, pb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(pa, pb, atol=atol, rtol=0)


#: MLPClassifier's training, spelled out where our defaults differ (see the docstring)
MLP = dict(alpha=0.0001, batch_size=200)


def mlp_like(**params):
    """DigitMLPClassifier with MLPClassifier's defaults, on data of >= 200 samples."""
    return DigitMLPClassifier(**{**MLP, **params})


# ------------------------------------------------------------------ drop-in
def test_constructor_matches_mlpclassifier():
    ours = inspect.signature(DigitMLPClassifier).parameters
    theirs = inspect.signature(MLPClassifier).parameters
    documented = {"hidden_layer_sizes": (16, 16), "alpha": 0.03}
    for name, param in theirs.items():
        assert name in ours, name
        assert ours[name].kind == param.kind, name
        assert ours[name].default == documented.get(name, param.default), name
    assert list(ours)[:2] == ["hidden_layer_sizes", "activation"]


def test_auto_batch_size_is_50(small_digits):
    X, y = small_digits
    clf = DigitMLPClassifier(max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf._optimizer.t == 6  # 300 samples in batches of 50


@pytest.mark.parametrize("kwargs", [
    dict(solver="adam"),
    dict(solver="sgd", learning_rate_init=0.05),
    dict(solver="sgd", nesterovs_momentum=False, learning_rate="invscaling",
         learning_rate_init=0.5),
    dict(solver="adam", activation="logistic", alpha=0.1, batch_size=64),
    dict(solver="adam", activation="tanh", shuffle=False),
    dict(solver="lbfgs", activation="identity"),
])
@pytest.mark.parametrize("binary", [False, True])
def test_training_matches_mlpclassifier_with_the_same_seed(digits, kwargs, binary):
    """Same seed, same data: the same initial weights, shuffles and updates."""
    X, y = digits
    y = y % 2 if binary else y
    theirs = quiet_fit(MLPClassifier((16, 16), random_state=0, max_iter=5, **kwargs), X, y)
    ours = quiet_fit(mlp_like(random_state=0, max_iter=5, **kwargs), X, y)
    assert_same_params(theirs, ours)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-10)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    if kwargs["solver"] != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10)
        assert ours.t_ == theirs.t_


def test_binary_early_stopping_matches_mlpclassifier(digits):
    X, y = digits
    kwargs = dict(random_state=0, max_iter=8, early_stopping=True, n_iter_no_change=3)
    theirs = quiet_fit(MLPClassifier((16, 16), **kwargs), X, y % 2)
    ours = quiet_fit(mlp_like(**kwargs), X, y % 2)
    assert_same_params(theirs, ours)
    assert ours.validation_scores_ == pytest.approx(theirs.validation_scores_)
    assert ours.best_validation_score_ == theirs.best_validation_score_
    assert ours.best_loss_ is None and theirs.best_loss_ is None


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_fitted_attributes_match_mlpclassifier(small_digits, solver):
    X, y = small_digits
    theirs = quiet_fit(MLPClassifier((16, 16), solver=solver, max_iter=20, random_state=0), X, y)
    ours = quiet_fit(mlp_like(solver=solver, max_iter=20, random_state=0), X, y)
    fitted = [k for k in vars(theirs) if k.endswith("_") and not k.startswith("_")]
    assert fitted, "MLPClassifier should have fitted attributes"
    for name in fitted:
        mine, ref = getattr(ours, name), getattr(theirs, name)
        if isinstance(ref, list) and ref and isinstance(ref[0], np.ndarray):
            assert [a.shape for a in mine] == [a.shape for a in ref], name
        elif isinstance(ref, np.ndarray):
            np.testing.assert_array_equal(mine, ref)
        elif isinstance(ref, (int, str)) and name != "n_iter_":
            assert mine == ref, name
    for name in ["loss_", "best_loss_", "loss_curve_", "validation_scores_",
                 "best_validation_score_", "t_", "n_iter_", "n_layers_", "n_outputs_",
                 "out_activation_", "classes_", "coefs_", "intercepts_", "n_features_in_"]:
        assert hasattr(ours, name), name
    assert ours.n_layers_ == 4 and ours.n_outputs_ == 10 and ours.out_activation_ == "softmax"
    assert len(ours.loss_curve_) == ours.n_iter_


def test_feature_names_in_with_dataframe(small_digits):
    X, y = small_digits
    df = pd.DataFrame(X, columns=[f"pixel{i}" for i in range(64)])
    clf = quiet_fit(DigitMLPClassifier(max_iter=5, random_state=0), df, y)
    np.testing.assert_array_equal(clf.feature_names_in_, df.columns)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        clf.predict(X)


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_forward_parity_with_copied_mlpclassifier_weights(digits, activation):
    X, y = digits
    for target in (y, y % 2, np.column_stack([y % 2, y > 4, y == 3]).astype(int)):
        ref = quiet_fit(MLPClassifier((16, 16), activation=activation, max_iter=30,
                                      random_state=1), X, target)
        ours = quiet_fit(DigitMLPClassifier(activation=activation, max_iter=1,
                                            random_state=2), X, target)
        ours.coefs_ = [c.copy() for c in ref.coefs_]
        ours.intercepts_ = [b.copy() for b in ref.intercepts_]
        np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X),
                                   rtol=0, atol=1e-6)
        np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


# --------------------------------------------------------------- transform
def relu(z):
    return np.maximum(z, 0)


def test_transform_is_the_hidden_layer_by_hand(small_digits):
    X, y = small_digits
    clf = quiet_fit(DigitMLPClassifier(max_iter=20, random_state=0), X, y)
    W, b = clf.coefs_, clf.intercepts_
    h1 = relu(X @ W[0] + b[0])
    h2 = relu(h1 @ W[1] + b[1])
    # by hand in numpy against chunked prediction (compiled kernels when installed)
    assert_allclose_sums(clf.transform(X), h2, dtype=X.dtype, n_terms=64, depth=2)
    assert_allclose_sums(clf.set_params(transform_layer=0).transform(X), h1, dtype=X.dtype,
                         n_terms=64)
    np.testing.assert_array_equal(clf.get_feature_names_out(),
                                  [f"hidden1_{j}" for j in range(16)])
    clf.set_params(transform_layer=-1)
    np.testing.assert_array_equal(clf.get_feature_names_out(),
                                  [f"hidden2_{j}" for j in range(16)])
    layers = clf.layer_activations(X)
    assert [a.shape for a in layers] == [(300, 64), (300, 16), (300, 16), (300, 10)]
    assert_allclose_sums(layers[2], h2, dtype=X.dtype, n_terms=64, depth=2)
    assert_allclose_sums(layers[3], clf.predict_proba(X), dtype=X.dtype, n_terms=64, depth=3)


def test_transform_layer_out_of_range(small_digits):
    X, y = small_digits
    clf = quiet_fit(DigitMLPClassifier(max_iter=2, transform_layer=2), X, y)
    with pytest.raises(ValueError, match=r"transform_layer=2 does not name a hidden layer; "
                                         r"this network has 2 hidden layer\(s\)"):
        clf.transform(X)


def test_fit_transform_and_pandas_output(small_digits):
    X, y = small_digits
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(64)], index=np.arange(300) + 1000)
    est = DigitMLPClassifier(max_iter=10, random_state=0).set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = est.fit_transform(df, y)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == [f"hidden2_{j}" for j in range(16)]
    np.testing.assert_array_equal(out.index, df.index)
    np.testing.assert_allclose(out.to_numpy(), est.transform(df).to_numpy())
    with pytest.raises(ValueError, match="input_features is not equal to feature_names_in_"):
        est.get_feature_names_out([f"bad{i}" for i in range(64)])


# ----------------------------------------------------------------- dtypes
def test_float32_in_float32_out(small_digits):
    X, y = small_digits
    clf = quiet_fit(DigitMLPClassifier(max_iter=5, random_state=0), X.astype(np.float32), y)
    assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
    X32 = X.astype(np.float32)
    assert clf.predict_proba(X32).dtype == np.float32
    assert clf.transform(X32).dtype == np.float32
    assert clf.predict_log_proba(X32).dtype == np.float32
    clf64 = quiet_fit(DigitMLPClassifier(max_iter=5, random_state=0), X, y)
    assert clf64.coefs_[0].dtype == np.float64
    np.testing.assert_allclose(clf.coefs_[0], clf64.coefs_[0], atol=1e-4)


def test_sparse_csr_matches_dense(small_digits):
    X, y = small_digits
    dense = quiet_fit(DigitMLPClassifier(max_iter=5, random_state=0), X, y)
    csr = quiet_fit(DigitMLPClassifier(max_iter=5, random_state=0), sparse.csr_matrix(X), y)
    assert_same_params(dense, csr, atol=1e-10)
    np.testing.assert_allclose(csr.predict_proba(sparse.csr_matrix(X)), dense.predict_proba(X),
                               atol=1e-12)


# ------------------------------------------------------------ target kinds
def test_binary_outputs(small_digits):
    X, y = small_digits
    labels = np.where(y > 4, "big", "small")
    clf = quiet_fit(DigitMLPClassifier(max_iter=30, random_state=0), X, labels)
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    proba = clf.predict_proba(X)
    assert proba.shape == (300, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    soft = quiet_fit(DigitMLPClassifier(max_iter=30, out_activation="softmax",
                                        random_state=0), X, labels)
    assert soft.n_outputs_ == 2 and soft.out_activation_ == "softmax"
    assert soft.predict_proba(X).shape == (300, 2)
    assert set(soft.predict(X)) <= {"big", "small"}


def test_multilabel(small_digits):
    X, y = small_digits
    Y = np.column_stack([y % 2, y > 4, y == 3]).astype(int)
    clf = quiet_fit(DigitMLPClassifier(max_iter=100, random_state=0), X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    pred = clf.predict(X)
    assert pred.shape == (300, 3) and set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (clf.predict_proba(X) > 0.5).astype(int))
    assert clf.score(X, Y) > 0.5
    with pytest.raises(ValueError, match="out_activation='softmax' makes the outputs sum"):
        DigitMLPClassifier(out_activation="softmax", max_iter=2).fit(X, Y)


def test_seed_network_ten_sigmoids_and_quadratic_cost(digits):
    """The seed's chapter 2: independent sigmoid outputs trained on the squared error,
    with Nielsen's settings (plain SGD, eta = 3.0, mini-batches of 10, 30 epochs)."""
    X, y = digits
    clf = quiet_fit(DigitMLPClassifier(activation="sigmoid", out_activation="logistic",
                                       loss="squared_error", solver="sgd", momentum=0.0,
                                       alpha=0.0,
                                       learning_rate_init=3.0, batch_size=10, max_iter=30,
                                       random_state=0), X[:1200], y[:1200])
    proba = clf.predict_proba(X[1200:])
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    raw = clf.layer_activations(X[1200:])[-1]
    assert raw.sum(axis=1).std() > 0.01  # the raw outputs are independent 0..1 neurons
    np.testing.assert_array_equal(clf.predict(X[1200:]), raw.argmax(axis=1))
    assert clf.score(X[1200:], y[1200:]) > 0.88


def test_single_class_is_refused(small_digits):
    X, _ = small_digits
    with pytest.raises(ValueError, match=r"y has only one class \(np.int64\(3\)\)|"
                                         r"y has only one class \(3\)"):
        DigitMLPClassifier().fit(X, np.full(len(X), 3))


# -------------------------------------------------------------- partial_fit
def test_partial_fit(small_digits):
    X, y = small_digits
    clf = DigitMLPClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:100], y[:100], classes=np.arange(10))
    clf.partial_fit(X[100:], y[100:])
    assert clf.n_iter_ == 1 and clf.t_ == 300 and len(clf.loss_curve_) == 2
    with pytest.raises(ValueError, match="is not the same as on the first call"):
        clf.partial_fit(X, y, classes=np.arange(3))
    with pytest.raises(ValueError, match=r"y has classes \[11\] that are not in classes_"):
        clf.partial_fit(X[:2], [1, 11])
    assert not hasattr(DigitMLPClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match=re.escape(
            "partial_fit with early_stopping=True needs a validation set: pass X_val and "
            "y_val to every call (partial_fit splits none off the training data, unlike "
            "fit), or set early_stopping=False.")):
        DigitMLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.arange(10))


def test_partial_fit_first_batch_missing_classes(small_digits):
    X, y = small_digits
    clf = DigitMLPClassifier(random_state=0).partial_fit(X[y < 5], y[y < 5],
                                                          classes=np.arange(10))
    assert clf.predict_proba(X).shape == (300, 10)


def test_partial_fit_takes_a_multilabel_y_as_lists(small_digits):
    X, y = small_digits
    Y = np.column_stack([y % 2, y > 4]).astype(int)
    clf = DigitMLPClassifier(random_state=0).partial_fit(X, Y.tolist())  # no classes needed
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    assert clf.predict(X).shape == (300, 2)


def test_warm_start_continues(small_digits):
    X, y = small_digits
    clf = quiet_fit(DigitMLPClassifier(max_iter=5, warm_start=True, random_state=0), X, y)
    first = [c.copy() for c in clf.coefs_]
    quiet_fit(clf, X, y)
    assert len(clf.loss_curve_) == 10 and clf.n_iter_ == 5
    assert not np.allclose(first[0], clf.coefs_[0])
    clf.set_params(hidden_layer_sizes=(8,))
    with pytest.raises(ValueError, match=r"The fitted network has layers \(64, 16, 16, 10\) "
                                         r"but the parameters ask for \(64, 8, 10\)"):
        clf.fit(X, y)
    clf.set_params(hidden_layer_sizes=(16, 16))
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same"):
        clf.fit(X[y < 5], y[y < 5])


# -------------------------------------------------------------- messages
def test_convergence_warnings(small_digits):
    X, y = small_digits
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        DigitMLPClassifier(max_iter=3).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        DigitMLPClassifier(solver="lbfgs", max_iter=3).fit(X, y)


def test_verbose_prints_one_line_per_epoch(small_digits, capsys):
    X, y = small_digits
    clf = quiet_fit(DigitMLPClassifier(max_iter=3, verbose=True, random_state=0), X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"Iteration {i + 1}, loss = {loss:.8f}"
                     for i, loss in enumerate(clf.loss_curve_)]


def test_stops_when_loss_stops_improving(small_digits):
    X, y = small_digits
    clf = DigitMLPClassifier(tol=10.0, n_iter_no_change=2, random_state=0).fit(X, y)
    # the first epoch improves on an infinite loss; the next three do not improve by 10,
    # and the count must exceed n_iter_no_change: 1 + 3 epochs, as MLPClassifier does
    assert clf.n_iter_ == 4
    ref = MLPClassifier((16, 16), tol=10.0, n_iter_no_change=2, random_state=0,
                        batch_size=50, alpha=0.03).fit(X, y)
    assert ref.n_iter_ == clf.n_iter_


def test_adaptive_learning_rate_divides_by_five(small_digits, capsys):
    X, y = small_digits
    clf = quiet_fit(DigitMLPClassifier(solver="sgd", learning_rate="adaptive", tol=10.0,
                                       n_iter_no_change=1, max_iter=5, verbose=True,
                                       learning_rate_init=0.1, random_state=0), X, y)
    out = capsys.readouterr().out
    assert "Setting learning rate to 0.020000" in out
    assert clf._optimizer.learning_rate == pytest.approx(0.1 / 25)


@pytest.mark.parametrize("params, message", [
    (dict(alpha=-1), ("The 'alpha' parameter of DigitMLPClassifier must be a float in the "
                      "range [0.0, inf). Got -1 instead.")),
    (dict(solver="newton"), ("The 'solver' parameter of DigitMLPClassifier must be a str "
                             "among {'adam', 'lbfgs', 'sgd'}. Got 'newton' instead.")),
    (dict(max_iter=0), ("The 'max_iter' parameter of DigitMLPClassifier must be an int in "
                        "the range [1, inf). Got 0 instead.")),
    (dict(batch_size=0), ("The 'batch_size' parameter of DigitMLPClassifier must be a str "
                          "among {'auto'} or an int in the range [1, inf). Got 0 instead.")),
    (dict(hidden_layer_sizes=(16, 0)), ("The 'hidden_layer_sizes' parameter of "
                                        "DigitMLPClassifier must be an int in the range "
                                        "[1, inf) or an array-like of such ints. Got (16, 0) "
                                        "instead.")),
    (dict(shuffle="yes"), ("The 'shuffle' parameter of DigitMLPClassifier must be an "
                           "instance of 'bool'. Got 'yes' instead.")),
    (dict(loss="hinge"), ("The 'loss' parameter of DigitMLPClassifier must be a str among "
                          "{'log_loss', 'squared_error'}. Got 'hinge' instead.")),
])
def test_invalid_parameters_get_sklearn_style_messages(small_digits, params, message):
    X, y = small_digits
    with pytest.raises(InvalidParameterError) as info:
        DigitMLPClassifier(**params).fit(X, y)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


def test_invalid_activation_messages(small_digits):
    X, y = small_digits
    with pytest.raises(InvalidParameterError, match=r"The 'activation' parameter of "
                       r"DigitMLPClassifier must be a str among \{'elu', 'gelu', "):
        DigitMLPClassifier(activation="nope").fit(X, y)
    with pytest.raises(ValueError, match="activation has 3 entries but there are 2 hidden "
                                         "layers; give one activation per hidden layer"):
        DigitMLPClassifier(activation=("relu", "tanh", "elu")).fit(X, y)


def test_validation_set_pair_is_required(small_digits):
    X, y = small_digits
    with pytest.raises(ValueError, match=r"Pass both X_val and y_val to fit, or neither."):
        DigitMLPClassifier().fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="X_val has 300 samples but y_val has 2"):
        DigitMLPClassifier().fit(X, y, X_val=X, y_val=[1, 2])
    with pytest.raises(ValueError, match="solver='lbfgs' has no epochs"):
        DigitMLPClassifier(solver="lbfgs").fit(X, y, X_val=X, y_val=y)


# ------------------------------------------------------ what MLP refuses
def test_per_layer_and_custom_activations(small_digits):
    X, y = small_digits
    clf = quiet_fit(DigitMLPClassifier(activation=("gelu", ScaledTanh()), max_iter=30,
                                       random_state=0), X, y)
    h1 = X @ clf.coefs_[0] + clf.intercepts_[0]
    from scipy.special import ndtr
    h1 = h1 * ndtr(h1)
    h2 = 1.7159 * np.tanh(2 / 3 * (h1 @ clf.coefs_[1] + clf.intercepts_[1]))
    assert_allclose_sums(clf.transform(X), h2, dtype=X.dtype, n_terms=64, depth=2)
    assert "gelu" in clf.summary() and "scaledtanh" in clf.summary()


def test_custom_activation_clone_set_params_pickle(small_digits):
    X, y = small_digits
    clf = DigitMLPClassifier(activation=ScaledTanh(2.0), max_iter=20, random_state=0)
    cloned = clone(clf)
    assert cloned.activation == ScaledTanh(2.0) and cloned.activation is not clf.activation
    clf.set_params(activation=Cube())
    assert clf.get_params()["activation"] == Cube()
    clf.set_params(activation=ScaledTanh(2.0))
    quiet_fit(clf, X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_grid_search_with_custom_activation_in_two_processes(small_digits):
    X, y = small_digits
    grid = GridSearchCV(DigitMLPClassifier(max_iter=40, random_state=0),
                        {"activation": ["relu", ScaledTanh()]}, cv=2, n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    serial = GridSearchCV(DigitMLPClassifier(max_iter=40, random_state=0),
                          {"activation": ["relu", ScaledTanh()]}, cv=2, n_jobs=1)
    quiet_fit(serial, X, y)
    np.testing.assert_allclose(grid.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"])
    assert grid.cv_results_["params"][1]["activation"] == ScaledTanh()


def test_class_weight_is_sample_weight(small_digits):
    X, y = small_digits
    balanced = quiet_fit(DigitMLPClassifier(class_weight="balanced", max_iter=5,
                                            random_state=0), X, y)
    by_hand = quiet_fit(DigitMLPClassifier(max_iter=5, random_state=0), X, y,
                        sample_weight=compute_sample_weight("balanced", y))
    assert_same_params(balanced, by_hand, atol=1e-12)

    cw = {k: 1.0 + k for k in range(10)}
    sw = np.linspace(0.5, 2.0, len(y))
    combined = quiet_fit(DigitMLPClassifier(class_weight=cw, max_iter=5, random_state=0),
                         X, y, sample_weight=sw)
    product = quiet_fit(DigitMLPClassifier(max_iter=5, random_state=0), X, y,
                        sample_weight=sw * (1.0 + y))
    assert_same_params(combined, product, atol=1e-12)


def test_class_weight_shifts_predictions(small_digits):
    X, y = small_digits
    yb = (y == 0).astype(int)
    plain = quiet_fit(DigitMLPClassifier(max_iter=50, random_state=0), X, yb)
    heavy = quiet_fit(DigitMLPClassifier(max_iter=50, random_state=0,
                                         class_weight={0: 1.0, 1: 50.0}), X, yb)
    assert heavy.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()


def test_class_weight_errors(small_digits):
    X, y = small_digits
    with pytest.raises(ValueError, match="class_weight='balanced' is not supported by "
                                         "partial_fit"):
        DigitMLPClassifier(class_weight="balanced").partial_fit(X, y, classes=np.arange(10))
    Y = np.column_stack([y % 2, y > 4]).astype(int)
    with pytest.raises(ValueError, match="class_weight is not supported for a multilabel y"):
        DigitMLPClassifier(class_weight="balanced").fit(X, Y)


def test_sample_weight_equals_repetition_with_lbfgs(small_digits):
    X, y = small_digits
    sw = np.tile([0, 1, 2], 100)
    weighted = quiet_fit(DigitMLPClassifier(solver="lbfgs", max_iter=30, random_state=0),
                         X, y, sample_weight=sw)
    repeated = quiet_fit(DigitMLPClassifier(solver="lbfgs", max_iter=30, random_state=0),
                         np.repeat(X, sw, axis=0), np.repeat(y, sw))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X),
                               atol=1e-6)


def test_early_stopping_on_a_validation_set_of_your_own(digits):
    X, y = digits
    X_tr, y_tr, X_val, y_val = X[:1000], y[:1000], X[1000:1400], y[1000:1400]
    clf = quiet_fit(DigitMLPClassifier(early_stopping=True, n_iter_no_change=3, max_iter=300,
                                       random_state=0), X_tr, y_tr, X_val=X_val, y_val=y_val)
    assert len(clf.validation_scores_) == clf.n_iter_ < 300
    assert clf.t_ == 1000 * clf.n_iter_  # no sample was split off for validation
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.score(X_val, y_val) == pytest.approx(clf.best_validation_score_)


def test_validation_set_is_recorded_without_early_stopping(digits):
    X, y = digits
    clf = quiet_fit(DigitMLPClassifier(max_iter=15, random_state=0), X[:1000], y[:1000],
                    X_val=X[1000:], y_val=y[1000:])
    assert len(clf.validation_scores_) == 15
    assert clf.validation_scores_[-1] == pytest.approx(clf.score(X[1000:], y[1000:]))
    history = pd.DataFrame(clf.history_)
    assert list(history.columns) == ["epoch", "loss", "validation_loss", "validation_score",
                                     "learning_rate", "seconds"]
    np.testing.assert_allclose(history["loss"], clf.loss_curve_)


def test_early_stopping_split_is_stratified(digits):
    X, y = digits
    clf = quiet_fit(DigitMLPClassifier(early_stopping=True, max_iter=3, random_state=0,
                                       validation_fraction=0.2), X, y)
    # 20 % of 1797 samples held out, so each epoch trains on the other 80 %
    assert clf.t_ == 3 * (len(y) - int(np.ceil(0.2 * len(y))))
    with pytest.raises(ValueError, match="The validation set is too small"):
        DigitMLPClassifier(early_stopping=True, validation_fraction=0.001).fit(X[:100], y[:100])


def test_summary_counts_the_seed_network(small_digits):
    clf = DigitMLPClassifier()
    text = clf.summary(n_features_in=784)
    assert "784 -> 16 -> 16 -> 10" in text
    assert text.splitlines()[-1] == "parameters: 13,002 (12,960 weights, 42 biases)"
    X, y = small_digits
    quiet_fit(clf.set_params(max_iter=2), X, y)
    assert clf.summary().splitlines()[-1] == "parameters: 1,482 (1,440 weights, 42 biases)"
    assert "hidden1       16  relu            1,024      16" in clf.summary()


def test_same_seed_same_model(small_digits):
    X, y = small_digits
    a = quiet_fit(DigitMLPClassifier(max_iter=10, random_state=7), X, y)
    b = quiet_fit(DigitMLPClassifier(max_iter=10, random_state=7), X, y)
    c = quiet_fit(DigitMLPClassifier(max_iter=10, random_state=8), X, y)
    assert_same_params(a, b, atol=0)
    assert not np.allclose(a.coefs_[0], c.coefs_[0])


def test_score_with_sample_weight(small_digits):
    X, y = small_digits
    clf = quiet_fit(DigitMLPClassifier(max_iter=30, random_state=0), X, y)
    correct = clf.predict(X) == y
    sw = np.where(correct, 0.0, 1.0)
    assert clf.score(X, y, sample_weight=sw) == 0.0
    assert clf.score(X, y) == pytest.approx(correct.mean())


@pytest.mark.parametrize("target", ["multiclass", "binary", "multilabel", "ten_sigmoids"])
def test_predict_log_proba_is_log_of_proba(small_digits, target):
    X, y = small_digits
    out = "auto"
    if target == "binary":
        y = y % 2
    elif target == "multilabel":
        y = np.column_stack([y % 2, y > 4]).astype(int)
    elif target == "ten_sigmoids":
        out = "logistic"
    clf = quiet_fit(DigitMLPClassifier(max_iter=50, random_state=0, out_activation=out), X, y)
    proba, log_proba = clf.predict_proba(X), clf.predict_log_proba(X)
    np.testing.assert_allclose(np.exp(log_proba), proba, rtol=1e-10, atol=1e-300)
    far = X * 1e4  # saturates the outputs: some probabilities round to exactly 0 ...
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ... and that raises no divide-by-zero warning
        warnings.filterwarnings("ignore", "X holds values up to", UserWarning)  # the scale's
        far_log, far_proba = clf.predict_log_proba(far), clf.predict_proba(far)
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(far_log, np.log(far_proba))


@pytest.mark.skipif(
    "sample_weight" not in inspect.signature(MLPClassifier.partial_fit).parameters,
    reason="MLPClassifier.partial_fit takes sample_weight from scikit-learn 1.7 on")
def test_partial_fit_with_sample_weight_matches_mlpclassifier(digits):
    X, y = digits
    sw = np.linspace(0.1, 2.0, len(y))
    theirs, ours = MLPClassifier((16, 16), random_state=0), mlp_like(random_state=0)
    for _ in range(3):
        theirs.partial_fit(X, y, sample_weight=sw, classes=np.arange(10))
        ours.partial_fit(X, y, sample_weight=sw, classes=np.arange(10))
    assert_same_params(theirs, ours)
    assert ours.t_ == theirs.t_ == 3 * len(y)


def test_failed_warm_start_leaves_the_fitted_model_as_it_was(small_digits):
    from test_activations import WrongShape
    X, y = small_digits
    clf = quiet_fit(DigitMLPClassifier(max_iter=5, warm_start=True, random_state=0), X, y)
    coefs = [c.copy() for c in clf.coefs_]
    curve, proba = list(clf.loss_curve_), clf.predict_proba(X)
    clf.set_params(activation=WrongShape())
    with pytest.raises(ValueError, match=r"WrongShape.__call__ returned an array of shape"):
        clf.fit(X, y)
    assert clf.loss_curve_ == curve and clf._record.loss_curve == curve
    for before, after in zip(coefs, clf.coefs_):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)  # still the fitted network


def test_network_without_hidden_layers(small_digits):
    X, y = small_digits
    clf = quiet_fit(DigitMLPClassifier(hidden_layer_sizes=(), random_state=0), X, y)
    assert [c.shape for c in clf.coefs_] == [(64, 10)]
    assert clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="This network has no hidden layer to transform to"):
        clf.transform(X)


@pytest.mark.parametrize("bad, message", [
    (np.nan, "Input X contains NaN"),
    (np.inf, "Input X contains infinity"),
    (-np.inf, "Input X contains infinity"),  # relu would hide -inf in the output
])
def test_non_finite_input_at_prediction_is_refused(small_digits, bad, message):
    X, y = small_digits
    clf = quiet_fit(DigitMLPClassifier(max_iter=5, random_state=0), X, y)
    for row, col in [(0, 0), (123, 40)]:
        X_bad = X.copy()
        X_bad[row, col] = bad  # column 0 is always 0 in the digits: any weight will do
        for method in (clf.predict, clf.predict_proba, clf.transform):
            with pytest.raises(ValueError, match=message):
                method(X_bad)


@pytest.mark.parametrize("bad, message", [
    (np.nan, "^Input X contains NaN.\nDigitMLPClassifier does not accept missing values"),
    (np.inf, "^Input X contains infinity or a value too large for dtype"),
    (-np.inf, "^Input X contains infinity or a value too large for dtype"),
])
@pytest.mark.parametrize("layout", ["C", "F", "csr", "float32"])
def test_non_finite_input_at_fit_is_refused(small_digits, bad, message, layout):
    X, y = small_digits
    X_bad = X.copy()
    X_bad[57, 30] = bad
    X_bad = {"C": X_bad, "F": np.asfortranarray(X_bad), "csr": sparse.csr_matrix(X_bad),
             "float32": X_bad.astype(np.float32)}[layout]
    with pytest.raises(ValueError, match=message):
        DigitMLPClassifier(max_iter=2).fit(X_bad, y)
    with sklearn.config_context(assume_finite=True), warnings.catch_warnings(), \
            np.errstate(all="ignore"):  # the user's promise: no check, as in scikit-learn
        warnings.simplefilter("ignore")
        DigitMLPClassifier(max_iter=2).fit(X_bad, y)


def test_finite_input_whose_sum_overflows_is_not_refused(small_digits):
    """The finite check's first pass sums X; a sum that overflows is looked at again."""
    X, y = small_digits
    X_huge = np.full((len(X), 64), 3e38, dtype=np.float32)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        assert not np.isfinite(np.add.reduce(X_huge, axis=0).sum())
        clf = DigitMLPClassifier(max_iter=2, random_state=0).fit(X_huge, y)
    assert all(np.isfinite(c).all() for c in clf.coefs_)


def test_overflowing_input_gets_its_own_message(small_digits):
    X, y = small_digits
    clf = quiet_fit(DigitMLPClassifier(max_iter=5, random_state=0), X.astype(np.float32), y)
    with pytest.raises(ValueError, match="X is finite, but the network's first layer "
                                         "overflows on it"), \
            pytest.warns(UserWarning, match="very different scale"):
        clf.predict_proba(np.full((2, 64), 3e38, dtype=np.float32))


def test_divergence_stops_and_keeps_finite_weights(small_digits):
    X, y = small_digits
    clf = DigitMLPClassifier(solver="sgd", learning_rate_init=1e6, momentum=0.0, max_iter=20,
                             random_state=0)
    with pytest.warns(ConvergenceWarning, match="Training diverged in epoch"), \
            np.errstate(all="ignore"):
        clf.fit(X * 1e3, y)
    assert all(np.isfinite(p).all() for p in clf.coefs_ + clf.intercepts_)
    assert np.isfinite(clf.predict_proba(X * 1e3)).all()
    assert clf.n_iter_ < 20


def test_ctrl_c_keeps_the_last_completed_epoch(small_digits):
    X, y = small_digits
    # 300 samples in batches of 50: 6 batches of 2 hidden layers per epoch, so call 30 is
    # in the middle of the third epoch
    clf = DigitMLPClassifier(activation=InterruptAfter(30), max_iter=10, random_state=0)
    with pytest.warns(UserWarning, match="Training interrupted by user after 2 completed"):
        clf.fit(X, y)
    ref = quiet_fit(DigitMLPClassifier(activation=ScaledTanh(), max_iter=2, random_state=0),
                    X, y)
    assert clf.n_iter_ == 2
    assert_same_params(clf, ref, atol=0)


def test_training_record_copies_are_independent_and_cheap():
    """A fit continues on a copy of the record (a failing call leaves the fitted one as
    it was): new lists, a new best_theta, the per-epoch entries shared (never changed once
    recorded), so a long partial_fit loop does not copy its whole history each call."""
    from skdigitnet._neural_network.training import TrainingRecord
    record = TrainingRecord(loss_curve=[1.0], validation_scores=[0.5],
                            history=[{"epoch": 1, "loss": 1.0}], best_theta=np.ones(3))
    copied = record.copy()
    copied.loss_curve.append(0.5)
    copied.validation_scores.append(0.6)
    copied.history.append({"epoch": 2})
    copied.best_theta[0] = 7
    assert record.loss_curve == [1.0] and record.validation_scores == [0.5]
    assert len(record.history) == 1 and record.best_theta[0] == 1
    assert copied.history[0] is record.history[0]
