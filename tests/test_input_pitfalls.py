"""What a new user gets wrong, and what the library says about it: X_val inside a
Pipeline, unscaled 8-bit pixels, classes too small to stratify, and warnings that point
at the user's own line."""

import ast
import pathlib
import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline

from skdigitnet import DigitMLPClassifier, DigitNormalizer

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "skdigitnet"


# ------------------------------------------------------------- X_val in a Pipeline
def test_untransformed_x_val_in_a_pipeline_names_the_cause_and_the_fix(digits):
    X, y = digits  # 8x8 images: the normaliser makes 784 features of them
    pipe = make_pipeline(DigitNormalizer(), DigitMLPClassifier(max_iter=3, random_state=0))
    with pytest.raises(ValueError, match=re.escape(
            "X_val has 64 features per sample, but X has 784; they must match. fit uses "
            "X_val as given: in a Pipeline, fit parameters skip the steps before the "
            "classifier, so transform X_val with those steps first")):
        pipe.fit(X[:300], y[:300], digitmlpclassifier__X_val=X[300:400],
                 digitmlpclassifier__y_val=y[300:400])
    assert not hasattr(pipe[-1], "coefs_")
    # the fix, as the message writes it
    X_train, y_train, X_val, y_val = X[:300], y[:300], X[300:400], y[300:400]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X_train, y_train,
                 digitmlpclassifier__X_val=pipe[:-1].fit(X_train, y_train).transform(X_val),
                 digitmlpclassifier__y_val=y_val)
    assert len(pipe[-1].validation_scores_) == 3


def test_bad_x_val_is_named(digits):
    X, y = digits
    X_val = X[:50].copy()
    X_val[3, 5] = np.nan
    with pytest.raises(ValueError, match=r"^X_val: Input X contains NaN"):
        DigitMLPClassifier(max_iter=2).fit(X[:100], y[:100], X_val=X_val, y_val=y[:50])
    with pytest.raises(ValueError, match="X_val has 50 samples but y_val has 49"):
        DigitMLPClassifier(max_iter=2).fit(X[:100], y[:100], X_val=X[:50], y_val=y[:49])


# ------------------------------------------------------------ unscaled pixels
def test_unscaled_integer_pixels_warn_with_the_fix(digits):
    X, y = digits
    X8 = np.round(X * 255).astype(np.uint8)[:200]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        DigitMLPClassifier(max_iter=2, random_state=0).fit(X8, y[:200])
    [warning] = [w for w in caught if issubclass(w.category, UserWarning)
                 and not issubclass(w.category, ConvergenceWarning)]
    assert str(warning.message) == (
        "X holds integer pixel values up to 255 (uint8), far outside [0, 1]; the network "
        "trains poorly on unscaled pixels. Scale X to [0, 1] first (for 8-bit images, "
        "X / 255), or put DigitNormalizer() before the classifier in a pipeline, which "
        "scales any image.")
    assert warning.filename == __file__  # the user's line, not our internals


@pytest.mark.parametrize("X_kind", ["scaled float", "small integers", "negative integers",
                                    "behind DigitNormalizer"])
def test_scaled_or_non_pixel_input_does_not_warn(digits, X_kind):
    X, y = digits
    X = {"scaled float": X, "small integers": np.round(X * 3).astype(int),
         "negative integers": np.round(X * 255).astype(np.int16) - 128,
         "behind DigitNormalizer": np.round(X * 255).astype(np.uint8)}[X_kind][:200]
    est = DigitMLPClassifier(max_iter=2, random_state=0)
    if X_kind == "behind DigitNormalizer":
        est = make_pipeline(DigitNormalizer(), est)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y[:200])


def _user_warnings(caught):
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)
            and not issubclass(w.category, ConvergenceWarning)]


def test_float_pixels_0_to_255_warn_with_the_fix(digits):
    # what fetch_openml("mnist_784") returns: float64 pixels, whole numbers 0..255
    X, y = digits
    X255 = np.round(X * 255)[:200]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        DigitMLPClassifier(max_iter=2, random_state=0).fit(X255, y[:200])
    assert _user_warnings(caught) == [
        ("X holds whole-number pixel values up to 255 (float64), far outside [0, 1]; the "
        "network trains poorly on unscaled pixels. Scale X to [0, 1] first (for 8-bit "
        "images, X / 255), or put DigitNormalizer() before the classifier in a pipeline, "
        "which scales any image.")]
    # the bundled 8x8 digits as scikit-learn returns them: whole numbers 0..16
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        DigitMLPClassifier(max_iter=2, random_state=0).fit(X[:200] * 16, y[:200])
    assert _user_warnings(caught) == [
        ("X holds whole-number pixel values up to 16 (float64), far outside [0, 1]; the "
        "network trains poorly on unscaled pixels. Scale X to [0, 1] first (for 8-bit "
        "images, X / 16), or put DigitNormalizer() before the classifier in a pipeline, "
        "which scales any image.")]


@pytest.mark.parametrize("X_kind", ["fractions up to 255", "whole numbers up to 9",
                                    "negative whole numbers"])
def test_float_input_that_is_not_unscaled_pixels_does_not_warn(digits, X_kind):
    X, y = digits
    X = {"fractions up to 255": X * 255 + 0.5, "whole numbers up to 9": np.round(X * 9),
         "negative whole numbers": np.round(X * 255) - 128}[X_kind][:200]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        DigitMLPClassifier(max_iter=2, random_state=0).fit(X, y[:200])


@pytest.fixture(scope="module")
def fitted_on_unit_pixels(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return DigitMLPClassifier(max_iter=5, random_state=0).fit(X[:300], y[:300])


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba",
                                    "transform", "layer_activations", "score"])
def test_predicting_on_another_scale_than_fit_warns_with_the_fix(digits, fitted_on_unit_pixels,
                                                                 method):
    X, y = digits
    X8 = np.round(X[300:400] * 255).astype(np.uint8)  # images fitted on X / 255, given raw
    args = (X8, y[300:400]) if method == "score" else (X8,)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(fitted_on_unit_pixels, method)(*args)
    assert _user_warnings(caught) == [
        ("X holds values up to 255 (uint8), but the data this model was fitted on held values "
        "up to 1; the network reads X on a very different scale and its answers will be "
        "poor. Scale X as it was scaled for fit (for 8-bit images, X / 255).")]
    assert caught[0].filename == __file__


def test_predicting_on_the_scale_of_fit_is_quiet_and_the_scale_is_saved(
        digits, fitted_on_unit_pixels, tmp_path):
    from skdigitnet import load_model, save_model
    X, _ = digits
    clf = fitted_on_unit_pixels
    assert clf._input_scale == 1.0  # the largest pixel of the sampled rows
    save_model(clf, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded._input_scale == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for est in (clf, loaded):
            est.predict(X[300:]), est.predict(X[300:301] * 0.5), est.predict(X[5:6])
    # far smaller than fit's scale warns too: pixels divided by 255 twice
    with pytest.warns(UserWarning, match=r"X holds values up to 0\.0039.*fitted on held "
                      r"values up to 1;.*Scale X as it was scaled for fit\.$"):
        loaded.predict(X[300:] / 255)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int8, np.int16])
def test_the_scale_of_integer_input_is_its_largest_magnitude(dtype):
    """-min of an unsigned (or int8's -128) must not wrap: 1 - 0 ... not 255."""
    from skdigitnet._neural_network.fit_input import input_scale
    info = np.iinfo(dtype)
    assert input_scale(np.ones((3, 4), dtype)) == 1.0
    assert input_scale(np.full((3, 4), info.min, dtype)) == float(abs(info.min))
    assert input_scale(np.full((3, 4), info.max, dtype)) == float(info.max)


def test_infinite_input_gets_the_finite_error_without_a_scale_warning(fitted_on_unit_pixels):
    X = np.full((2, fitted_on_unit_pixels.n_features_in_), np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="Input X contains infinity"):
            fitted_on_unit_pixels.predict(X)


def test_partial_fit_keeps_the_largest_scale_seen(digits):
    X, y = digits
    clf = DigitMLPClassifier(random_state=0)
    clf.partial_fit(X[:100] * 0.5, y[:100], classes=np.arange(10))
    assert clf._input_scale == 0.5
    clf.partial_fit(X[100:200], y[100:200])
    assert clf._input_scale == 1.0
    clf.partial_fit(X[200:300] * 0.5, y[200:300])
    assert clf._input_scale == 1.0


# ------------------------------------------------- stratified early stopping
def test_early_stopping_stratified_as_scikit_learn_tests_it():
    # scikit-learn's own test_early_stopping_stratified (1.9), for MLPClassifier; theirs
    # names the class as encoded ('True'), ours as given. Older scikit-learn (1.6) names
    # no class, so theirs is held to the 1.9 message only where it gives it.
    X = [[1, 2], [2, 3], [3, 4], [4, 5]]
    y = [0, 0, 0, 1]
    for est, name in ((MLPClassifier(early_stopping=True), "True"),
                      (DigitMLPClassifier(early_stopping=True), "1")):
        with pytest.raises(ValueError, match=r"The least populated class") as raised:
            est.fit(X, y)
        if isinstance(est, DigitMLPClassifier) or "too few members are" in str(raised.value):
            assert re.search(r"The least populated classes in y have only 1 member.*Classes "
                             rf"with too few members are: \['{name}'\]", str(raised.value))


def test_classes_too_small_to_stratify_are_named(digits):
    X, y = digits
    y = np.array([f"digit {d}" for d in y[:200]], dtype=object)
    y[[5, 9]] = ["rare", "odd one"]
    with pytest.raises(ValueError, match=re.escape(
            "The least populated classes in y have only 1 member, which is too few to split "
            "off a stratified validation set for early stopping. Classes with too few "
            "members are: ['odd one', 'rare']. Add samples of those classes, pass X_val and "
            "y_val to fit, or set early_stopping=False.")):
        DigitMLPClassifier(early_stopping=True).fit(X[:200], y)


# --------------------------------------------------- warnings point at the user
def fit_quietly_at_max_iter(est, X, y):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    return [w for w in caught if issubclass(w.category, ConvergenceWarning)]


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_convergence_warning_points_at_the_callers_line(small_digits, solver):
    X, y = small_digits
    for est in (DigitMLPClassifier(solver=solver, max_iter=2),
                make_pipeline(DigitMLPClassifier(solver=solver, max_iter=2)),
                GridSearchCV(DigitMLPClassifier(solver=solver, max_iter=2),
                             {"alpha": [0.1]}, cv=2)):
        caught = fit_quietly_at_max_iter(est, X, y)
        assert caught and {w.filename for w in caught} == {__file__}, type(est).__name__


def test_batch_size_warning_points_at_the_callers_line(small_digits):
    X, y = small_digits
    # catch_warnings inside pytest.warns, so that its filter outranks pytest's "always"
    with pytest.warns(UserWarning, match="It is going to be clipped") as caught:  # noqa: PT031, SIM117
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            DigitMLPClassifier(batch_size=1000, max_iter=1).fit(X, y)
    assert {w.filename for w in caught} == {__file__}


def test_every_warning_in_the_package_sets_its_stacklevel():
    """``warnings.warn`` calls name ``stacklevel``; the rest go through ``_warnings.warn``,
    which computes it."""
    missing = [f"{path.name}:{node.lineno}"
               for path in PACKAGE.glob("*.py") for node in ast.walk(ast.parse(path.read_text()))
               if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                   and node.func.attr == "warn"
                   and getattr(node.func.value, "id", None) == "warnings"
                   and not any(k.arg == "stacklevel" for k in node.keywords))]
    assert not missing, missing
