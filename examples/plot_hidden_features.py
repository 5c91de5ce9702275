"""
===========================================
The hidden layer as a learned feature space
===========================================

A trained :class:`~skdigitnet.DigitMLPClassifier` is also a transformer: its
``transform`` method returns the activations of a hidden layer (by default the
last one). For the default 64 -> 16 -> 16 -> 10 network on the 8x8 digits, that
is 16 numbers per image instead of 64 pixels. Here we feed those 16 numbers to
other classifiers and see how much of the digit they still describe.
"""

import matplotlib as mpl
import pandas as pd

mpl.use("Agg")  # runs anywhere; use plt.show() in a notebook instead
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from skdigitnet import DigitMLPClassifier

# %%
# Data
# ----
# Pixels range from 0 to 16; dividing by 16 puts them in [0, 1].

X, y = load_digits(return_X_y=True, as_frame=True)
X = X / 16
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

# %%
# Train the network
# -----------------
# The default architecture: two hidden layers of 16 ReLU neurons. With 500
# epochs available, Adam stops on its own once the loss no longer improves.

net = DigitMLPClassifier(max_iter=500, random_state=0).fit(X_train, y_train)
print(net.summary())
print(f"stopped after {net.n_iter_} epochs")

# %%
# The hidden features
# -------------------
# ``transform`` returns the 16 activations of the last hidden layer. With
# ``set_output(transform="pandas")`` they come back as a DataFrame, with the
# names from ``get_feature_names_out`` and the index of the input.

net.set_output(transform="pandas")
H_train, H_test = net.transform(X_train), net.transform(X_test)
with pd.option_context("display.width", 120, "display.max_columns", 8):
    print(H_train.head().round(2))
dead = H_train.columns[(H_train == 0).all()].tolist()
print(f"units never active on the training set: {dead or 'none'}")

# %%
# Each digit's average activation of the 16 hidden units: a few units are enough
# to tell most digits apart.

means = H_train.groupby(y_train.to_numpy()).mean()
fig, ax = plt.subplots(figsize=(7, 3.4), layout="constrained")
image = ax.imshow(means, cmap="viridis", aspect="auto")
ax.set_xticks(range(means.shape[1]), [name.split("_")[-1] for name in means.columns])
ax.set_yticks(range(10))
ax.set_xlabel("hidden unit (last hidden layer)")
ax.set_ylabel("digit")
fig.colorbar(image, ax=ax, label="mean activation")
# sphinx_gallery_thumbnail_number = 2

# %%
# Compare feature spaces
# ----------------------
# The same two classifiers, k-nearest neighbours and logistic regression, are
# trained once on the 64 raw pixels and once on the 16 hidden features, and
# compared with the network's own predictions on the test set.

rows = [{"model": "DigitMLPClassifier", "input": "64 pixels",
         "test accuracy": net.score(X_test, y_test)}]
for estimator in [KNeighborsClassifier(), LogisticRegression(max_iter=1000)]:
    name = type(estimator).__name__
    for label, (A_train, A_test) in {
        "64 pixels": (X_train, X_test),
        "16 hidden features": (H_train, H_test),
    }.items():
        estimator.fit(A_train, y_train)
        rows.append({"model": name, "input": label,
                     "test accuracy": estimator.score(A_test, y_test)})

# %%
# As a pipeline
# -------------
# Because the classifier has ``fit_transform``, it can be a step of a
# :class:`~sklearn.pipeline.Pipeline`: the pipeline fits the network on
# ``(X, y)``, then fits the next step on its hidden features. With the same
# ``random_state`` this is exactly the "k-neighbours on hidden features" model
# above, in one estimator that can be cross-validated or grid-searched.

pipe = Pipeline([
    ("net", DigitMLPClassifier(max_iter=500, random_state=0)),
    ("knn", KNeighborsClassifier()),
])
pipe.fit(X_train, y_train)
rows.append({"model": "Pipeline(net, knn)", "input": "64 pixels",
             "test accuracy": pipe.score(X_test, y_test)})

print(pd.DataFrame(rows).round(3).to_string(index=False))

# %%
# The same comparison as a picture.

table = pd.DataFrame(rows)
fig, ax = plt.subplots(figsize=(7, 2.8))
colours = table["input"].map({"64 pixels": "tab:grey", "16 hidden features": "tab:blue"})
bars = ax.barh(table["model"] + " on " + table["input"], table["test accuracy"],
               color=colours)
ax.bar_label(bars, fmt="%.3f", padding=3)
ax.set_xlim(table["test accuracy"].min() - 0.05, 1.0)
ax.invert_yaxis()
ax.set_xlabel("test accuracy")
fig.tight_layout()

# %%
# What this shows
# ---------------
# The network was trained only to classify, yet on the way it squeezed each
# image into 16 numbers, and those 16 numbers carry most of what the 64 pixels
# did: both a nearest-neighbour vote and a linear model reach about the same
# accuracy on them as on the raw pixels, with a quarter of the inputs (and a
# ReLU unit that never fires, if the line above lists any, adds nothing, so the
# useful number can be smaller still). The
# hidden layer is a learned, compressed representation of the digits that
# other estimators can reuse, and that a pipeline can chain like any
# scikit-learn transformer.
