"""Validation loss, the ``scoring`` parameter, and partial_fit with a validation set."""

import inspect
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, softmax
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score, log_loss
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier

from skdigitnet import DigitMLPClassifier, InvalidParameterError, load_model, save_model

from _custom import balanced_accuracy_scorer


@pytest.fixture(scope="module")
def split(digits):
    """300 training digits and 300 validation digits (8x8, scaled to [0, 1])."""
    X, y = digits
    return X[:300], y[:300], X[1000:1300], y[1000:1300]


def quiet(method, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return method(*args, **kwargs)


def hand_loss(clf, X, y):
    """The mean loss of ``clf``'s weights on ``(X, y)``, computed here from scratch:
    ReLU hidden layers, the output activation, then the loss, as the docstrings define
    them; no L2 penalty."""
    a = X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1]):
        a = np.maximum(a @ W + b, 0)
    z = a @ clf.coefs_[-1] + clf.intercepts_[-1]
    P = softmax(z, axis=1) if clf.out_activation_ == "softmax" else expit(z)
    if P.shape[1] == 1:  # binary: one logistic output for classes_[1]
        Y = (y == clf.classes_[1]).astype(float)[:, None]
    else:
        Y = (np.asarray(y)[:, None] == clf.classes_[None, :]).astype(float)
    if clf.loss == "squared_error":
        return 0.5 * ((P - Y) ** 2).sum() / len(X)
    if clf.out_activation_ == "softmax":
        return -np.log(P[Y == 1]).sum() / len(X)
    return -(Y * np.log(P) + (1 - Y) * np.log(1 - P)).sum() / len(X)


# ------------------------------------------------------------------- validation loss
@pytest.mark.parametrize("params, target", [
    (dict(), "multiclass"),
    (dict(), "binary"),
    (dict(out_activation="logistic", loss="squared_error"), "multiclass"),
    (dict(out_activation="logistic"), "multiclass"),
    (dict(out_activation="softmax", hidden_layer_sizes=(8,)), "binary"),
])
def test_validation_loss_after_every_call_is_the_hand_computed_loss(split, params, target):
    X, y, X_val, y_val = split
    if target == "binary":
        y, y_val = y % 2, y_val % 2
    clf = DigitMLPClassifier(random_state=0, alpha=0.5, **params)
    for _ in range(3):
        clf.partial_fit(X, y, classes=np.unique(y), X_val=X_val, y_val=y_val)
        expected = hand_loss(clf, X_val, y_val)
        assert clf.validation_loss_curve_[-1] == pytest.approx(expected, rel=1e-12)
    assert len(clf.validation_loss_curve_) == len(clf.validation_scores_) == 3
    # the penalty 0.5 * alpha * ||W||² / n is left out: with it the loss would differ
    penalty = 0.5 * 0.5 * sum((W**2).sum() for W in clf.coefs_) / len(X_val)
    assert penalty > 1e-3 * expected


def test_validation_loss_matches_sklearns_log_loss(split):
    X, y, X_val, y_val = split
    clf = quiet(DigitMLPClassifier(max_iter=5, random_state=0).fit, X, y,
                X_val=X_val, y_val=y_val)
    assert clf.validation_loss_curve_[-1] == pytest.approx(
        log_loss(y_val, clf.predict_proba(X_val)), rel=1e-12)


@pytest.mark.parametrize("params", [
    dict(), dict(out_activation="logistic", loss="squared_error"), dict(alpha=0.3)])
def test_validation_loss_is_the_training_loss_without_the_penalty(split, params):
    # one full batch with a step too small to matter: the training loss of the epoch is
    # measured on (almost) the weights the validation loss is measured on, over the
    # same rows; only the penalty 0.5 * alpha * ||W||² / n separates them
    X, y, _, _ = split
    clf = DigitMLPClassifier(solver="sgd", learning_rate_init=1e-12, momentum=0,
                             batch_size=300, shuffle=False, random_state=0,
                             **{"alpha": 0.0, **params})
    clf.partial_fit(X, y, classes=np.arange(10), X_val=X, y_val=y)
    penalty = 0.5 * clf.alpha * sum((W**2).sum() for W in clf.coefs_) / len(X)
    assert clf.validation_loss_curve_[0] == pytest.approx(clf.loss_curve_[0] - penalty,
                                                          rel=1e-9)


def test_history_and_fit_record_the_validation_loss(split):
    X, y, X_val, y_val = split
    clf = quiet(DigitMLPClassifier(max_iter=4, random_state=0).fit, X, y,
                X_val=X_val, y_val=y_val)
    history = pd.DataFrame(clf.history_)
    np.testing.assert_array_equal(history["validation_loss"], clf.validation_loss_curve_)
    assert len(clf.validation_loss_curve_) == 4
    assert clf.validation_loss_curve_[-1] == pytest.approx(hand_loss(clf, X_val, y_val))
    plain = quiet(DigitMLPClassifier(max_iter=2, random_state=0).fit, X, y)
    assert plain.validation_loss_curve_ is None
    assert pd.DataFrame(plain.history_)["validation_loss"].isna().all()
    lbfgs = quiet(DigitMLPClassifier(solver="lbfgs", max_iter=3, random_state=0).fit, X, y)
    assert lbfgs.validation_loss_curve_ is None and not lbfgs.early_stopped_


def test_a_validation_label_the_training_y_lacks_is_refused(split):
    X, y, X_val, y_val = split
    with pytest.raises(ValueError, match=re.escape(
            "y_val has classes [11] that the training y does not have (classes_ is "
            "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); the network cannot score labels it is not "
            "trained on. Drop those samples from the validation set, or train on every "
            "class.")):
        DigitMLPClassifier(max_iter=2).fit(X, y, X_val=X_val[:2], y_val=[3, 11])
    with pytest.raises(ValueError, match=re.escape(
            "y_val must be an indicator matrix with 2 columns, as y is; got an array of "
            "shape (300,).")):
        DigitMLPClassifier(max_iter=2).fit(X, np.column_stack([y % 2, y > 4]),
                                           X_val=X_val, y_val=y_val)


# --------------------------------------------------------------------------- scoring
def last_epoch_scores(scoring, split, **params):
    X, y, X_val, y_val = split
    clf = quiet(DigitMLPClassifier(max_iter=4, random_state=0, scoring=scoring,
                                   **params).fit, X, y, X_val=X_val, y_val=y_val)
    return clf, clf.validation_scores_[-1]


def test_scoring_none_and_accuracy_are_the_accuracy(split):
    _, _, X_val, y_val = split
    for scoring in (None, "accuracy"):
        clf, score = last_epoch_scores(scoring, split)
        assert score == clf.score(X_val, y_val)


def test_scoring_loss_is_the_negative_validation_loss(split):
    clf, _ = last_epoch_scores("loss", split)
    assert clf.validation_scores_ == [-v for v in clf.validation_loss_curve_]
    assert clf.best_validation_score_ == -min(clf.validation_loss_curve_)


def test_scoring_by_scikit_learn_name(split):
    _, _, X_val, y_val = split
    clf, score = last_epoch_scores("balanced_accuracy", split)
    assert score == pytest.approx(balanced_accuracy_score(y_val, clf.predict(X_val)))
    clf, score = last_epoch_scores("neg_log_loss", split, out_activation="logistic")
    # scikit-learn's log loss of the normalised probabilities, not the fit's own loss
    assert score == pytest.approx(-log_loss(y_val, clf.predict_proba(X_val)))
    assert score != pytest.approx(-clf.validation_loss_curve_[-1])
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_scoring_callable_gets_a_snapshot_estimator_and_the_validation_set(split):
    _, _, X_val, y_val = split
    seen = []

    def scorer(estimator, X, y):
        seen.append((estimator, X, y))
        return -float(estimator.coefs_[0].sum())  # any number, to follow it exactly

    clf, _ = last_epoch_scores(scorer, split)
    assert len(seen) == 4
    estimators = [est for est, _, _ in seen]
    assert all(est is not clf and est.scoring is scorer for est in estimators)
    np.testing.assert_array_equal(estimators[-1].coefs_[0], clf.coefs_[0])
    assert not np.array_equal(estimators[0].coefs_[0], estimators[-1].coefs_[0])
    assert clf.validation_scores_ == [-float(est.coefs_[0].sum()) for est in estimators]
    np.testing.assert_array_equal(seen[0][1], X_val)
    np.testing.assert_array_equal(seen[0][2], y_val)
    assert estimators[0].n_iter_ == 1 and estimators[-1].loss_curve_ == clf.loss_curve_


def test_scoring_callable_must_return_a_number(split):
    X, y, X_val, y_val = split
    clf = DigitMLPClassifier(max_iter=2, scoring=lambda est, X, y: "good")
    with pytest.raises(TypeError, match=re.escape(
            "The scoring callable returned 'good' (str); it must return one number, higher "
            "is better (scikit-learn's scorer(estimator, X, y) convention).")):
        clf.fit(X, y, X_val=X_val, y_val=y_val)


@pytest.mark.parametrize("scoring", [None, "loss", "balanced_accuracy", balanced_accuracy_scorer])
def test_early_stopping_keeps_the_weights_of_the_best_score(split, scoring):
    X, y, X_val, y_val = split
    clf = quiet(DigitMLPClassifier(early_stopping=True, n_iter_no_change=2, max_iter=200,
                                   tol=0.0, random_state=0, scoring=scoring).fit,
                X, y, X_val=X_val, y_val=y_val)
    assert clf.early_stopped_ and clf.n_iter_ < 200
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    best = int(np.argmax(clf.validation_scores_))
    # the weights kept are those of the best epoch: its validation loss, recomputed
    assert hand_loss(clf, X_val, y_val) == pytest.approx(clf.validation_loss_curve_[best])


def test_early_stopping_on_the_loss_and_on_accuracy_stop_differently(split):
    # with a tol of 0.01, accuracy (in steps of 1/300) stalls long before the loss does
    X, y, X_val, y_val = split
    stops = {scoring: quiet(DigitMLPClassifier(
        early_stopping=True, n_iter_no_change=3, max_iter=300, tol=0.01, random_state=0,
        scoring=scoring).fit, X, y, X_val=X_val, y_val=y_val).n_iter_
        for scoring in (None, "loss")}
    assert stops[None] != stops["loss"]


def test_the_early_stopping_split_is_scored_too(digits):
    X, y = digits
    clf = quiet(DigitMLPClassifier(early_stopping=True, max_iter=3, random_state=0,
                                   scoring="loss").fit, X[:500], y[:500])
    assert len(clf.validation_loss_curve_) == 3
    assert clf.validation_scores_ == [-v for v in clf.validation_loss_curve_]


@pytest.mark.parametrize("scoring, shown", [("accurcy", "'accurcy'"), (3, "3")])
def test_scoring_is_validated_like_every_parameter(split, scoring, shown):
    X, y, _, _ = split
    with pytest.raises(InvalidParameterError, match=re.escape(
            "The 'scoring' parameter of DigitMLPClassifier must be None, 'loss', a str "
            "among sklearn.metrics.get_scorer_names() or a callable scorer(estimator, X, "
            f"y). Got {shown} instead.")):
        DigitMLPClassifier(scoring=scoring).fit(X, y)


def test_scoring_in_grid_search_and_clone(split):
    X, y, _, _ = split
    assert clone(DigitMLPClassifier(scoring=balanced_accuracy_scorer)).scoring \
        is balanced_accuracy_scorer
    search = quiet(GridSearchCV(
        DigitMLPClassifier(early_stopping=True, max_iter=5, random_state=0),
        {"scoring": [None, "loss", "balanced_accuracy", balanced_accuracy_scorer]},
        cv=2).fit, X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.validation_scores_


# ----------------------------------------------------------------------- partial_fit
def test_partial_fit_keeps_mlpclassifiers_positional_order():
    ours = inspect.signature(DigitMLPClassifier.partial_fit).parameters
    theirs = inspect.signature(MLPClassifier.partial_fit).parameters
    positional = [n for n, p in ours.items() if p.kind == p.POSITIONAL_OR_KEYWORD]
    # MLPClassifier's order from scikit-learn 1.7 on (1.6 has no sample_weight there)
    assert positional == ["self", "X", "y", "sample_weight", "classes"]
    if "sample_weight" in theirs:
        assert positional == list(theirs)
    assert [n for n, p in ours.items() if p.kind == p.KEYWORD_ONLY] == ["X_val", "y_val"]


def test_partial_fit_records_a_validation_set_when_given_one(split):
    X, y, X_val, y_val = split
    clf = DigitMLPClassifier(random_state=0)
    clf.partial_fit(X, y, classes=np.arange(10), X_val=X_val, y_val=y_val)
    clf.partial_fit(X, y)  # no validation set: nothing recorded for this call
    clf.partial_fit(X, y, X_val=X_val, y_val=y_val)
    assert len(clf.loss_curve_) == 3 and len(clf.validation_scores_) == 2
    assert clf.validation_scores_[-1] == clf.score(X_val, y_val)
    assert clf.validation_loss_curve_[-1] == pytest.approx(hand_loss(clf, X_val, y_val))
    assert [h["validation_score"] is None for h in clf.history_] == [False, True, False]
    assert clf.best_loss_ is not None and not clf.early_stopped_
    with pytest.raises(ValueError, match=r"^Pass both X_val and y_val to partial_fit, or "
                                         r"neither\.$"):
        clf.partial_fit(X, y, X_val=X_val)


def run_loop(clf, split, calls, stop=True):
    """partial_fit on the whole training set once per call, as the docs' loop does;
    returns the warnings of each call."""
    X, y, X_val, y_val = split
    caught = []
    for _ in range(calls):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            clf.partial_fit(X, y, classes=np.arange(10), X_val=X_val, y_val=y_val)
        caught.append([str(m.message) for m in w])
        if stop and clf.early_stopped_:
            break
    return caught


def test_partial_fit_loop_with_early_stopping_is_fit_with_early_stopping(split):
    # without shuffling, one partial_fit call per epoch trains exactly as fit does: the
    # same epochs, the same stop, the same weights kept
    X, y, X_val, y_val = split
    params = dict(early_stopping=True, n_iter_no_change=2, shuffle=False, random_state=0,
                  scoring="loss", hidden_layer_sizes=(64,), alpha=0.0,
                  learning_rate_init=0.01, max_iter=200)
    fitted = DigitMLPClassifier(**params).fit(X, y, X_val=X_val, y_val=y_val)
    looped = DigitMLPClassifier(**params)
    caught = run_loop(looped, split, 200)
    assert fitted.early_stopped_ and looped.early_stopped_
    assert len(caught) == fitted.n_iter_ < 200
    assert looped.validation_loss_curve_ == fitted.validation_loss_curve_
    for a, b in zip(looped.coefs_ + looped.intercepts_, fitted.coefs_ + fitted.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert looped.best_loss_ is None
    assert all(not w for w in caught[:-1])
    assert caught[-1] == [(
        "Early stopping: the validation score did not improve by more than tol=0.0001 for "
        "n_iter_no_change=2 consecutive partial_fit calls; restored the parameters of the "
        f"best validation score seen ({looped.best_validation_score_:.6g}) and set "
        "early_stopped_ to True. Stop calling partial_fit: a further call trains on from "
        "those parameters.")]


def test_partial_fit_continues_from_the_latest_weights_until_the_stop(split):
    # tol=1: no call after the first improves by tol, so the fourth call (three stalled
    # in a row, more than n_iter_no_change=2) stops
    X, _, X_val, y_val = split
    clf = DigitMLPClassifier(early_stopping=True, n_iter_no_change=2, tol=1.0,
                             random_state=0)
    scores = []
    for _ in range(3):
        run_loop(clf, split, 1)
        scores.append(clf.score(X_val, y_val))  # the latest weights, not the best
        assert not clf.early_stopped_
    assert scores == clf.validation_scores_
    assert scores[-1] > scores[0]  # training went on from each call's weights
    run_loop(clf, split, 1)
    assert clf.early_stopped_
    assert clf.score(X_val, y_val) == clf.best_validation_score_ == max(clf.validation_scores_)
    # a further call trains from the best weights, and (with tol=1 it cannot improve
    # enough) stops again on the best weights seen, the new ones included
    t = clf.t_
    caught = run_loop(clf, split, 1)
    assert clf.t_ == t + len(X) and clf.early_stopped_ and len(caught[0]) == 1
    assert clf.score(X_val, y_val) == max(clf.validation_scores_)


def test_partial_fit_loop_survives_a_model_file(split, tmp_path):
    # saved mid-loop, after the best epoch: the file keeps the best weights aside, so
    # the reloaded loop stops where the original does, on the same weights (plain SGD:
    # model files keep no optimizer state, and this one has none that matters)
    params = dict(early_stopping=True, n_iter_no_change=5, tol=1.0, random_state=0,
                  shuffle=False, solver="sgd", momentum=0.0, learning_rate_init=0.3)
    clf = DigitMLPClassifier(**params)
    run_loop(clf, split, 5)
    assert clf.validation_scores_[-1] < max(clf.validation_scores_) and not clf.early_stopped_
    save_model(clf, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded._record.best_theta, clf._record.best_theta)
    assert loaded.validation_loss_curve_ == clf.validation_loss_curve_
    for est in (clf, loaded):
        run_loop(est, split, 5)
    assert clf.early_stopped_ and loaded.early_stopped_ and len(clf.loss_curve_) == 7
    assert loaded.validation_loss_curve_ == clf.validation_loss_curve_
    np.testing.assert_array_equal(loaded.coefs_[0], clf.coefs_[0])


def test_model_files_keep_a_named_scoring_and_refuse_a_callable(split, tmp_path):
    X, y, X_val, y_val = split
    clf = quiet(DigitMLPClassifier(max_iter=3, random_state=0, early_stopping=True,
                                   scoring="balanced_accuracy").fit,
                X, y, X_val=X_val, y_val=y_val)
    save_model(clf, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.scoring == "balanced_accuracy"
    assert loaded.validation_loss_curve_ == clf.validation_loss_curve_
    assert loaded.early_stopped_ == clf.early_stopped_
    clf.set_params(scoring=balanced_accuracy_scorer)
    with pytest.raises(ValueError, match=re.escape(
            f"scoring={balanced_accuracy_scorer!r} is a callable, which a model file cannot "
            "hold (it stores no code). Fit with a scoring name (None, 'loss' or a name of "
            "sklearn.metrics.get_scorer_names()), or use pickle (which stores code).")):
        save_model(clf, tmp_path / "c.npz")
