"""save_model / load_model: arrays and JSON, exact round trips, hostile files refused."""

import gc
import json
import pickle
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skdigitnet import (
    ACTIVATIONS,
    DigitMLPClassifier,
    load_digits,
    load_model,
    register_activation,
    save_model,
)

from _custom import ScaledTanh


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


def fit(clf, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(X, y)


@pytest.mark.parametrize("params, target", [
    (dict(), "digits"),
    (dict(activation=("tanh", "gelu"), class_weight={0: 2.0}), "digits"),
    (dict(out_activation="logistic", loss="squared_error"), "strings"),
    (dict(), "binary"),
    (dict(), "multilabel"),
])
def test_round_trip_predicts_exactly(tmp_path, data, params, target):
    X, y = data
    y = {"digits": y, "strings": np.array([f"d{v}" for v in y]), "binary": y % 2,
         "multilabel": np.column_stack([y % 2, y > 4])}[target]
    clf = fit(DigitMLPClassifier(max_iter=5, random_state=0, **params), X.astype(np.float32), y)
    save_model(clf, tmp_path / "model.npz")
    loaded = load_model(tmp_path / "model.npz")
    for method in ("predict_proba", "predict", "transform"):
        np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(clf, method)(X))
    assert loaded.get_params() == clf.get_params()
    assert loaded.coefs_[0].dtype == np.float32
    assert loaded.summary() == clf.summary()


def test_file_holds_no_pickle(tmp_path, data):
    X, y = data
    save_model(fit(DigitMLPClassifier(max_iter=2, random_state=0), X, y), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        assert all(archive[k].dtype != object for k in archive.files)
        config = json.loads(str(archive["config"]))
    assert config["format"] == "skdigitnet-model" and config["units"] == [784, 16, 16, 10]


def test_warm_start_continues_after_loading(tmp_path, data):
    X, y = data
    clf = fit(DigitMLPClassifier(max_iter=3, random_state=0), X, y)
    save_model(clf, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz").set_params(warm_start=True)
    fit(loaded, X, y)
    assert len(loaded.loss_curve_) == 6 and loaded.t_ == 2 * 3 * 300


def test_unregistered_activation_is_refused_and_registered_one_saved(tmp_path, data):
    X, y = data
    clf = fit(DigitMLPClassifier(activation=ScaledTanh(), max_iter=2, random_state=0), X, y)
    with pytest.raises(ValueError, match="is not a registered activation with default "
                                         "parameters, so it cannot be saved by name"):
        save_model(clf, tmp_path / "m.npz")
    register_activation("scaled_tanh_test", ScaledTanh)
    try:
        clf = fit(DigitMLPClassifier(activation="scaled_tanh_test", max_iter=2,
                                     random_state=0), X, y)
        save_model(clf, tmp_path / "m.npz")
        np.testing.assert_array_equal(load_model(tmp_path / "m.npz").predict_proba(X),
                                      clf.predict_proba(X))
    finally:
        del ACTIVATIONS["scaled_tanh_test"]
    with pytest.raises(ValueError, match=r"uses activations \['scaled_tanh_test'\] that are "
                                         "not registered here"):
        load_model(tmp_path / "m.npz")


def rewrite(path, change):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    change(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def set_config(key, value):
    def change(arrays):
        config = json.loads(str(arrays["config"]))
        config[key] = value
        arrays["config"] = np.array(json.dumps(config))
    return change


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("coef_1"), "coef_1 is missing or not a float32 array of shape"),
    (lambda a: a.__setitem__("coef_0", np.zeros((3, 3))), "coef_0 is missing or not"),
    (lambda a: a.__setitem__("intercept_2", np.full(10, np.nan, np.float32)),
     "intercept_2 holds NaN"),
    (lambda a: a.__setitem__("classes", np.arange(3)), "3 classes do not match 10 outputs"),
    (lambda a: a.__setitem__("config", np.array("{not json")), "has no readable 'config'"),
    (set_config("format", "other"), "is not a skdigitnet model file"),
    (set_config("version", 99), "has format version 99"),
    (set_config("units", [784, -16, 10]), "are not positive ints"),
    (set_config("hidden", ["os.system"]), r"uses activations \['os.system'\]"),
    (set_config("dtype", "object"), "unknown output, dtype or target kind"),
    (set_config("record", [1, 2]), "config entry 'record' is not a dict"),
    (set_config("record", {"best_loss": "low"}), "record entry 'best_loss' has the wrong type"),
    (set_config("record", {"history": [{"loss": "x"}]}), "'history' must hold one dict of"),
    (set_config("record", {"best_theta": [1.0]}), r"unknown record entries \['best_theta'\]"),
    (set_config("record", {"validation_scores": [0.5], "validation_loss_curve": ["x"]}),
     "record entry 'validation_loss_curve' must hold numbers"),
    (set_config("record", {"validation_scores": [0.5], "validation_loss_curve": [1.0, 2.0]}),
     "'validation_loss_curve' and 'validation_scores' must have one entry per epoch each"),
    (set_config("record", {"early_stopped": "yes"}), "'early_stopped' has the wrong type"),
    (lambda a: a.__setitem__("best_theta", np.zeros(3, np.float32)),
     r"best_theta is not a float32 array of shape \(13002,\)"),
    (lambda a: a.__setitem__("best_theta", np.full(13002, np.inf, np.float32)),
     "best_theta holds NaN or infinite values"),
    (set_config("input_scale", -1), "'input_scale' must be a finite number >= 0 or null"),
    (set_config("input_scale", "255"), "'input_scale' must be a finite number >= 0 or null"),
])
def test_tampered_files_are_refused(tmp_path, data, change, message):
    X, y = data
    path = tmp_path / "m.npz"
    save_model(fit(DigitMLPClassifier(max_iter=2, random_state=0), X, y), path)
    rewrite(path, change)
    with pytest.raises(ValueError, match=message):
        load_model(path)


def test_a_broken_archive_is_closed_and_an_npy_file_is_named(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04" + b"0" * 100)  # a zip signature, then nothing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=r"broken\.npz is not a readable skdigitnet model"):
            load_model(broken)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    array = tmp_path / "weights.npy"
    np.save(array, np.zeros(3))
    with pytest.raises(ValueError, match=r"weights.npy is not a readable skdigitnet model "
                                         r"file: it holds a single NumPy array \(.npy\)"):
        load_model(array)


def test_truncated_or_foreign_files_are_refused(tmp_path, data):
    X, y = data
    path = tmp_path / "m.npz"
    save_model(fit(DigitMLPClassifier(max_iter=2, random_state=0), X, y), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="is not a readable skdigitnet model file"):
        load_model(path)
    evil = tmp_path / "evil.npz"
    with zipfile.ZipFile(evil, "w") as z:  # a pickled object inside: never unpickled
        z.writestr("config.npy", pickle.dumps(print))
    with pytest.raises(ValueError, match="not a skdigitnet model file"):
        load_model(evil)


def test_pickle_still_works(data):
    X, y = data
    clf = fit(DigitMLPClassifier(max_iter=2, random_state=0), X, y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X),
                                  clf.predict_proba(X))


def test_joblib_still_works(tmp_path, data):
    import joblib
    X, y = data
    clf = fit(DigitMLPClassifier(max_iter=2, random_state=0), X, y)
    joblib.dump(clf, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict_proba(X),
                                  clf.predict_proba(X))


def fitted_state(est):
    """Every fitted attribute (public ``*_`` and the private record), as comparable values."""
    state = {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("__")}
    record = vars(est._record).copy()
    record.pop("best_theta")
    record["history"] = [{k: v for k, v in epoch.items() if k != "seconds"} | {"seconds": 1}
                         for epoch in record["history"]]
    return state, record


def assert_same_value(a, b, name):
    if isinstance(a, (list, tuple)) and a and isinstance(a[0], np.ndarray):
        assert len(a) == len(b), name
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y, err_msg=name)
            assert x.dtype == y.dtype, name
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert a.dtype == b.dtype, name
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), name
    else:
        assert a == b and type(a) is type(b), (name, a, b)


@pytest.mark.parametrize("params", [
    dict(solver="adam"), dict(solver="sgd", learning_rate="adaptive"), dict(solver="lbfgs"),
    dict(solver="adam", early_stopping=True, n_iter_no_change=2, max_iter=30),
    dict(solver="sgd", early_stopping=True, n_iter_no_change=2, max_iter=30),
], ids=["adam", "sgd", "lbfgs", "adam-early-stopping", "sgd-early-stopping"])
def test_reloaded_model_has_exactly_the_fitted_attributes(tmp_path, data, params):
    X, y = data
    params = {"max_iter": 6, "random_state": 0, **params}
    clf = fit(DigitMLPClassifier(**params), X, y)
    save_model(clf, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    (state, record), (loaded_state, loaded_record) = fitted_state(clf), fitted_state(loaded)
    assert sorted(loaded_state) == sorted(state)
    for name in state:
        if name != "_arch":
            assert_same_value(loaded_state[name], state[name], name)
    assert loaded._arch == clf._arch
    assert loaded_record == record
    if clf.early_stopping:
        assert loaded.best_loss_ is None and loaded.validation_scores_
    # warm start continues the same way from either
    for est in (clf, loaded):
        fit(est.set_params(warm_start=True, max_iter=2), X, y)
    assert_same_value(loaded.coefs_, clf.coefs_, "coefs_ after a warm start")
    assert loaded.n_iter_ == clf.n_iter_


def test_version_1_files_still_load(tmp_path, data):
    X, y = data
    clf = fit(DigitMLPClassifier(max_iter=3, random_state=0), X, y)
    save_model(clf, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    config = json.loads(str(arrays["config"]))
    config["version"] = 1
    del config["record"]
    arrays["config"] = np.array(json.dumps(config))
    np.savez(tmp_path / "v1.npz", **arrays)
    loaded = load_model(tmp_path / "v1.npz")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.loss_curve_ == clf.loss_curve_ and loaded.best_loss_ == min(clf.loss_curve_)
    assert loaded.history_ == []


def test_version_2_files_still_load(tmp_path, data):
    # version 2 recorded no validation loss: NaN stands in for it, one per score
    X, y = data
    clf = fit(DigitMLPClassifier(max_iter=3, random_state=0, early_stopping=True), X, y)
    save_model(clf, tmp_path / "m.npz")

    def as_version_2(arrays):
        config = json.loads(str(arrays["config"]))
        config["version"] = 2
        del config["record"]["validation_loss_curve"], config["record"]["early_stopped"]
        for epoch in config["record"]["history"]:
            del epoch["validation_loss"]
        arrays["config"] = np.array(json.dumps(config))
    rewrite(tmp_path / "m.npz", as_version_2)
    loaded = load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.validation_scores_ == clf.validation_scores_
    assert len(loaded.validation_loss_curve_) == 3
    assert np.isnan(loaded.validation_loss_curve_).all() and not loaded.early_stopped_
    assert all(np.isnan(epoch["validation_loss"]) for epoch in loaded.history_)
    fit(loaded.set_params(warm_start=True, max_iter=1), X, y)  # and training goes on
    assert len(loaded.validation_loss_curve_) == 4 and loaded.validation_loss_curve_[-1] > 0


def test_a_text_file_is_not_a_model(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a model\n")
    with pytest.raises(ValueError, match=r"notes.txt is not a readable skdigitnet model file: "
                                         r"not a NumPy .npz archive$"):
        load_model(path)


def test_a_file_saved_by_the_released_version_still_loads():
    """``tests/data/model_saved_by_0.1.0.npz`` was written by skdigitnet 0.1.0 (a 64-16-16-10
    network on the bundled digits, fitted on a DataFrame with early stopping on the loss):
    whatever moves inside the package, the file loads and predicts as it did."""
    import pathlib

    import pandas as pd
    from sklearn.datasets import load_digits

    from _tolerance import assert_allclose_sums

    data = pathlib.Path(__file__).parent / "data"
    clf = load_model(data / "model_saved_by_0.1.0.npz")
    X, _ = load_digits(return_X_y=True)
    X = pd.DataFrame(X[1200:1260] / 16, columns=[f"px{i}" for i in range(64)])
    expected = np.load(data / "model_saved_by_0.1.0_proba.npy")
    assert clf.hidden_layer_sizes == (16, 16) and clf.scoring == "loss"
    assert list(clf.feature_names_in_) == list(X.columns)
    assert len(clf.validation_loss_curve_) == clf.n_iter_ == 8
    assert_allclose_sums(clf.predict_proba(X), expected, dtype=expected.dtype, n_terms=64,
                         depth=3)
