"""Bad input meets clear errors; odd but valid input meets results; models survive
threads, skops and warm starts after an interruption."""

import threading
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import ConvergenceWarning

from skdigitnet import DigitMLPClassifier, DigitNormalizer, load_digits

from _custom import InterruptAfter

RNG = np.random.RandomState(0)
X4 = RNG.rand(40, 4)
Y3 = np.arange(40) % 3


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def fitted():
    return quiet(DigitMLPClassifier(max_iter=5, random_state=0).fit, X4, Y3)


def with_value(value):
    X = X4.copy()
    X[3, 2] = value
    return X


HOSTILE_X = {
    "NaN": (with_value(np.nan), "Input X contains NaN"),
    "infinity": (with_value(np.inf), "Input X contains infinity"),
    "empty": (np.zeros((0, 4)), "0 sample"),
    "strings": (np.array([["a", "b", "c", "d"]] * 3),
                ("could not convert string to float.*"
                 "needs numbers \\(pixel values\\) in X; encode text")),
    "complex": (X4 + 1j, "Complex data not supported"),
    "3-D": (RNG.rand(2, 2, 4), "Found array with dim 3"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_X))
@pytest.mark.parametrize("method", ["fit", "partial_fit", "predict", "predict_proba",
                                    "predict_log_proba", "transform", "score"])
def test_hostile_X_gets_a_clear_error(fitted, method, case):
    X, message = HOSTILE_X[case]
    y = np.arange(len(X)) % 3
    calls = {
        "fit": lambda: DigitMLPClassifier(max_iter=2).fit(X, y),
        "partial_fit": lambda: DigitMLPClassifier().partial_fit(X, y, classes=[0, 1, 2]),
        "score": lambda: fitted.score(X, y),
    }
    call = calls.get(method, lambda: getattr(fitted, method)(X))
    with pytest.raises((ValueError, TypeError), match=message):
        call()
    if case in ("NaN", "infinity", "3-D", "empty"):
        with pytest.raises((ValueError, TypeError), match=message):
            DigitNormalizer().fit_transform(X)


def test_wrong_number_of_features(fitted):
    for method in ("predict", "predict_proba", "transform", "partial_fit"):
        args = (RNG.rand(3, 5),) if method != "partial_fit" else (RNG.rand(3, 5), [0, 1, 2])
        with pytest.raises(ValueError, match="X has 5 features, but DigitMLPClassifier is "
                                             "expecting 4 features as input"):
            getattr(fitted, method)(*args)


@pytest.mark.parametrize("y, sample_weight, message", [
    (np.zeros(40), None, r"y has only one class \(0.0\); a classifier needs at least two"),
    (np.where(np.arange(40) == 0, np.nan, Y3), None, "Input y contains NaN"),
    (Y3[:30], None, "inconsistent numbers of samples: \\[40, 30\\]"),
    (Y3, np.where(np.arange(40) == 0, np.nan, 1.0), "Input sample_weight contains NaN"),
    (Y3, -np.ones(40), "Negative values in data passed to sample_weight"),
    (Y3, np.zeros(40), "Sample weights must contain at least one non-zero number"),
    (Y3, np.ones(39), r"sample_weight.shape == \(39,\), expected \(40,\)"),
    (np.linspace(0, 1, 40), None, "Unknown label type: continuous"),
])
def test_hostile_y_and_weights(y, sample_weight, message):
    with pytest.raises(ValueError, match=message):
        DigitMLPClassifier(max_iter=2).fit(X4, y, sample_weight=sample_weight)


def test_a_failed_fit_leaves_a_fitted_model_working(fitted):
    proba = fitted.predict_proba(X4)
    with pytest.raises(ValueError, match="y has only one class"):
        fitted.fit(X4, np.zeros(40))
    np.testing.assert_array_equal(fitted.predict_proba(X4), proba)


def test_predict_proba_from_many_threads_equals_one_thread():
    X, y = load_digits(return_X_y=True)
    clf = quiet(DigitMLPClassifier(max_iter=10, random_state=0).fit, X[:500], y[:500])
    expected = clf.predict_proba(X)
    results, errors = [None] * 8, []

    def work(i):
        try:
            for _ in range(3):
                results[i] = clf.predict_proba(X)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_warm_start_continues_after_ctrl_c():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    clf = DigitMLPClassifier(activation=InterruptAfter(30), max_iter=6, warm_start=True,
                             random_state=0)
    with pytest.warns(UserWarning, match="Fit again with warm_start=True to continue"):
        clf.fit(X, y)
    assert clf.n_iter_ == 2
    quiet(clf.fit, X, y)  # the activation no longer interrupts
    assert len(clf.loss_curve_) == 8 and clf.loss_curve_[-1] < clf.loss_curve_[1]


def test_skops_lists_only_our_types():
    sio = pytest.importorskip("skops.io")
    X, y = load_digits(return_X_y=True)
    clf = quiet(DigitMLPClassifier(max_iter=3, random_state=0).fit, X[:200], y[:200])
    data = sio.dumps(clf)
    untrusted = sio.get_untrusted_types(data=data)
    assert untrusted and all(t.startswith("skdigitnet.") for t in untrusted)
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)


def images(dtypes, max_side):
    """2-D arrays of any of ``dtypes``: floats with NaN/inf/huge values, or 0..255 ints."""
    def arrays(dtype):
        elements = FLOATS if np.dtype(dtype).kind == "f" else st.integers(0, 255)
        return hnp.arrays(dtype, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1,
                                                  max_side=max_side), elements=elements)
    return st.sampled_from(dtypes).flatmap(arrays)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=images([np.float32, np.float64, np.int64, np.uint8], 12), n_classes=st.integers(1, 3))
def test_fit_predict_transform_give_a_result_or_a_clear_error(X, n_classes):
    y = np.arange(X.shape[0]) % n_classes
    clf = DigitMLPClassifier(hidden_layer_sizes=(3,), max_iter=3, random_state=0)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            clf.fit(X, y)
            proba, hidden = clf.predict_proba(X), clf.transform(X)
    except (ValueError, TypeError) as exc:  # either outcome is right: no pytest.raises
        assert str(exc)  # noqa: PT017 - every refusal says something
        return
    assert proba.shape == (X.shape[0], len(clf.classes_)) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert hidden.shape == (X.shape[0], 3) and np.isfinite(hidden).all()


@settings(max_examples=40, deadline=None)
@given(X=images([np.float32, np.float64, np.uint8], 20))
def test_normalizer_gives_images_in_0_1_or_a_clear_error(X):
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = DigitNormalizer().fit_transform(X)
    except (ValueError, TypeError) as exc:  # either outcome is right: no pytest.raises
        assert str(exc)  # noqa: PT017 - every refusal says something
        return
    assert out.shape == (X.shape[0], 784)
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
