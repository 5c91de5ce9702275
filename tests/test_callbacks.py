"""scikit-learn's callback API: watching training, and stopping it."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skdigitnet import DigitMLPClassifier, load_digits

callback = pytest.importorskip("sklearn.callback")


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return X[:400], y[:400]


class StopAfter:
    """A callback that asks to stop once ``epochs`` epochs have ended."""

    def __init__(self, epochs):
        self.epochs = epochs
        self.seen = []

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        if context.task_name == "epoch":
            self.seen.append(fitted_estimator.coefs_[0].copy())
            return len(self.seen) >= self.epochs
        return False


def fit_quietly(clf, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(X, y)


def test_scoring_monitor_logs_one_row_per_epoch(data):
    X, y = data
    monitor = callback.ScoringMonitor(scoring="accuracy")
    clf = fit_quietly(DigitMLPClassifier(max_iter=4, random_state=0).set_callbacks(monitor),
                      X, y)
    log = monitor.get_logs().data_as_pandas
    epochs = log[log["task_name"] == "epoch"]
    assert list(epochs["task_id"]) == [0, 1, 2, 3]
    # the accuracy after epoch k is that of the same network trained for k epochs
    for k, accuracy in enumerate(epochs["accuracy"], start=1):
        ref = fit_quietly(DigitMLPClassifier(max_iter=k, random_state=0), X, y)
        assert accuracy == pytest.approx(ref.score(X, y))
    assert epochs["accuracy"].iloc[-1] == pytest.approx(clf.score(X, y))


def test_a_callback_can_stop_training(data):
    X, y = data
    stopper = StopAfter(3)
    clf = DigitMLPClassifier(max_iter=50, random_state=0).set_callbacks(stopper).fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3
    np.testing.assert_array_equal(stopper.seen[-1], clf.coefs_[0])
    # the fitted copies handed to callbacks are snapshots, not views of live weights
    assert not np.array_equal(stopper.seen[0], stopper.seen[-1])


def test_progress_bar_runs(data, capsys):
    pytest.importorskip("rich")
    X, y = data
    clf = fit_quietly(
        DigitMLPClassifier(max_iter=3, random_state=0).set_callbacks(callback.ProgressBar()),
        X, y)
    assert clf.n_iter_ == 3


def test_watching_does_not_change_the_model(data):
    X, y = data
    plain = fit_quietly(DigitMLPClassifier(max_iter=3, random_state=0), X, y)
    watched = fit_quietly(DigitMLPClassifier(max_iter=3, random_state=0).set_callbacks(
        callback.ScoringMonitor(scoring="accuracy")), X, y)
    for a, b in zip(plain.coefs_, watched.coefs_):
        np.testing.assert_array_equal(a, b)


def test_without_the_callback_api_everything_else_works():
    """As on scikit-learn < 1.9, where sklearn.callback has no CallbackSupportMixin."""
    import subprocess
    import sys
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "from sklearn.datasets import load_iris\n"
        "import sklearn.metrics, sklearn.model_selection, sklearn.pipeline\n"
        "import sklearn.callback; del sklearn.callback.CallbackSupportMixin\n"
        "from skdigitnet import DigitMLPClassifier\n"
        "X, y = load_iris(return_X_y=True)\n"
        "clf = DigitMLPClassifier(max_iter=50, random_state=0).fit(X, y)\n"
        "assert not hasattr(clf, 'set_callbacks')\n"
        "print(round(clf.score(X, y), 2) > 0.6)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
