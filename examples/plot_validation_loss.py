"""
==========================================================
Watching a network over-fit, and stopping where you choose
==========================================================

Given a validation set, :class:`~skdigitnet.DigitMLPClassifier` records after
every epoch the validation loss (``validation_loss_curve_``: the same loss as
``loss_curve_``, without the L2 penalty) next to a validation score
(``validation_scores_``), and :class:`~skdigitnet.LossCurveDisplay` draws both
losses on one axis. Over-fitting is the moment the two curves part: the training
loss keeps falling while the validation loss turns up.

Early stopping then watches the score of your choice (``scoring``): accuracy, as
``MLPClassifier`` does, the validation loss itself, any scikit-learn scorer name or
a function of your own; and it works with ``partial_fit`` too. All on the 8x8
digits bundled with scikit-learn.
"""

import warnings

import matplotlib as mpl
import numpy as np
import pandas as pd

mpl.use("Agg")  # runs anywhere; use plt.show() in a notebook instead
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from skdigitnet import DigitMLPClassifier, LossCurveDisplay

# The fits below run a fixed number of epochs on purpose; the warning that Adam had
# not converged by then is expected, so we silence that one category.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# Data
# ----
# A small training set over-fits quickly: 200 digits to train on, 500 to validate
# on, and the remaining 1,097 as a test set that no decision below looks at.

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_rest, y_train, y_rest = train_test_split(
    X, y, train_size=200, stratify=y, random_state=0)
X_val, X_test, y_val, y_test = train_test_split(
    X_rest, y_rest, train_size=500, stratify=y_rest, random_state=0)

# %%
# Two curves parting
# ------------------
# 64 hidden neurons and no L2 penalty (``alpha=0``) can memorise 200 digits. We pass
# the validation set to ``fit`` and let training run 150 epochs
# (``n_iter_no_change=np.inf`` turns the stopping rule off). Next to it, the same
# network with the default penalty ``alpha=0.03``.

params = dict(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=150,
              n_iter_no_change=np.inf, random_state=0)
free = DigitMLPClassifier(alpha=0.0, **params).fit(X_train, y_train,
                                                   X_val=X_val, y_val=y_val)
penalised = DigitMLPClassifier(alpha=0.03, **params).fit(X_train, y_train,
                                                         X_val=X_val, y_val=y_val)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
for ax, clf, title in ((axes[0], free, "alpha=0"), (axes[1], penalised, "alpha=0.03")):
    LossCurveDisplay.from_estimator(clf, ax=ax)
    ax.set_title(title)
    ax.set_ylim(0, 0.6)
fig.tight_layout()

for name, clf in (("alpha=0", free), ("alpha=0.03", penalised)):
    curve = np.array(clf.validation_loss_curve_)
    print(f"{name}: validation loss lowest at epoch {curve.argmin() + 1} "
          f"({curve.min():.3f}), {curve[-1]:.3f} after epoch {len(curve)}; "
          f"training loss {clf.loss_curve_[-1]:.4f}")

# %%
# Without a penalty the training loss falls towards zero while the validation loss
# turns up after its lowest point: the network is learning the 200 training digits
# rather than digits. The penalty keeps the curves together. ``history_`` holds the
# same numbers, one row per epoch:

history = pd.DataFrame(free.history_)
print(history[["epoch", "loss", "validation_loss", "validation_score"]].iloc[::30]
      .round(4).to_string(index=False))

# %%
# Stopping on a score of your choice
# ----------------------------------
# With ``early_stopping=True`` training stops once the validation score has not
# improved by ``tol`` for ``n_iter_no_change`` epochs (20 here), and keeps the weights
# of the best epoch. ``scoring`` chooses that score: ``None`` is the accuracy
# (``MLPClassifier``'s choice), ``'loss'`` the negative validation loss (higher is
# better, as for scikit-learn's scorers), and any name from
# ``sklearn.metrics.get_scorer_names()`` or a callable ``scorer(estimator, X, y)``
# works as well. ``tol`` is in the score's units.


def worst_class_recall(estimator, X, y):
    """A score of our own: the recall of the class the network gets most wrong."""
    predicted = estimator.predict(X)
    return min(np.mean(predicted[y == c] == c) for c in np.unique(y))


stopping = {**params, "alpha": 0.0, "n_iter_no_change": 20}
rows = []
for scoring in (None, "loss", "balanced_accuracy", worst_class_recall):
    clf = DigitMLPClassifier(early_stopping=True, scoring=scoring, **stopping)
    clf.fit(X_train, y_train, X_val=X_val, y_val=y_val)
    best = int(np.argmax(clf.validation_scores_))
    rows.append({
        "scoring": getattr(scoring, "__name__", repr(scoring)),
        "epochs run": clf.n_iter_,
        "best epoch": best + 1,
        "validation loss kept": clf.validation_loss_curve_[best],
        "test accuracy": clf.score(X_test, y_test),
        "test log loss": log_loss(y_test, clf.predict_proba(X_test)),
    })
print(pd.DataFrame(rows).round(4).to_string(index=False))

# %%
# Stopping on the loss ends training soonest and keeps the weights of the lowest
# validation loss, which here also have the lowest log loss on the test digits: their
# probabilities are the most trustworthy. Accuracy and balanced accuracy keep weights
# from later epochs, after the validation loss has turned up: a few more test digits
# right, worse probabilities (a higher test log loss). Our own worst-class recall
# happens to peak where the loss does. Which score to stop on depends on what the
# classifier's answers are for.
#
# Early stopping with ``partial_fit``
# -----------------------------------
# ``MLPClassifier.partial_fit`` refuses ``early_stopping=True``. Here it takes the
# validation set as ``X_val, y_val``: every call records the validation score and loss
# and keeps the best weights aside; once ``n_iter_no_change`` calls in a row have not
# improved, the call restores those weights, sets ``early_stopped_`` to True and warns.
# The loop checks that attribute after each call:

stream = DigitMLPClassifier(early_stopping=True, scoring="loss", **stopping)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # it says what early_stopped_ says
    for _ in range(150):
        stream.partial_fit(X_train, y_train, classes=np.arange(10), X_val=X_val, y_val=y_val)
        if stream.early_stopped_:
            break
best = int(np.argmax(stream.validation_scores_))
print(f"partial_fit stopped after {len(stream.loss_curve_)} calls and kept the weights "
      f"of call {best + 1}: "
      f"validation loss {stream.validation_loss_curve_[best]:.4f}, "
      f"test accuracy {stream.score(X_test, y_test):.4f}")

# %%
# Each call here passes over the whole training set, like an epoch of ``fit`` (with
# ``shuffle=False`` the two train identically; here every call shuffles with a
# permutation of its own ``random_state``, so the numbers differ a little). With data
# that arrives in parts, ``n_iter_no_change`` counts parts, and the validation set is
# scored after each one.
