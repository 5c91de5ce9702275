"""
=====================================
What did the 13,002 weights learn?
=====================================

The seed video hopes that the first hidden layer of the 784-16-16-10 network learns
little edges and the second layer loops and lines, and then looks, honestly: each
first-layer neuron's 784 incoming weights drawn as a 28x28 picture, blue where positive
and red where negative. Here we train the network twice, once with sigmoid neurons (the
seed's) and once with ReLU, on the digits bundled with the package, and look.
"""

import os
import warnings

import matplotlib as mpl
import numpy as np

mpl.use("Agg")  # runs anywhere; use plt.show() in a notebook instead
import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning

from skdigitnet import (
    DigitMLPClassifier,
    DigitNormalizer,
    WeightImagesDisplay,
    load_digits,
    load_mnist,
)

# %%
# Data
# ----
# The 1,797 digits bundled with scikit-learn, already normalised to 28x28 images the way
# the network expects (:func:`~skdigitnet.load_digits`); 80 % to train, the rest to test.
# They need no download. To look at MNIST instead, set ``SKDIGITNET_DATA`` to a folder
# holding its IDX files (see :func:`~skdigitnet.load_mnist`): then 12,000 MNIST images,
# deskewed by :class:`~skdigitnet.DigitNormalizer`.

if os.environ.get("SKDIGITNET_DATA"):
    X, y = load_mnist(return_X_y=True)
    X, y = DigitNormalizer().fit_transform(X[:12000]), y[:12000]
    source = "MNIST"
else:
    X, y = load_digits(return_X_y=True)
    source = "the bundled digits"
n_train = int(0.8 * len(X))
print(f"{source}: {n_train} images to train, {len(X) - n_train} to test")

# %%
# Two networks: sigmoid and ReLU
# ------------------------------
# The same layers and defaults; only the hidden activation differs. Adam stops on its own
# once the loss settles, within 300 epochs on the bundled digits.

nets = {}
for activation in ("sigmoid", "relu"):
    clf = DigitMLPClassifier(activation=activation, max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[:n_train], y[:n_train])
    nets[activation] = clf
    print(f"{activation:>8}: test accuracy {clf.score(X[n_train:], y[n_train:]):.2%}")

# %%
# The first layer's weights, side by side
# ---------------------------------------
# One colour scale per network, centred on 0: blue pixels push a neuron on, red ones
# push it off.

fig, axes = plt.subplots(4, 9, figsize=(12, 5.6), gridspec_kw={"width_ratios": [1] * 4 + [0.2]
                                                                + [1] * 4})
for row in axes:
    row[4].set_visible(False)
for (activation, clf), cols in zip(nets.items(), (slice(0, 4), slice(5, 9))):
    WeightImagesDisplay.from_estimator(clf, ax=axes[:, cols])
    axes[0, cols][0].annotate(activation, (0, 1.35), xycoords="axes fraction", fontsize=12)
fig.suptitle("weights into the 16 neurons of hidden layer 1 (blue +, red -)")
if os.environ.get("SKDIGITNET_SAVE_FIGURES"):
    fig.savefig("what_the_network_learned.png", dpi=60)  # in the working directory

# %%
# Edges? A number to go with the pictures
# ---------------------------------------
# An edge detector has weights that change sign over a few pixels. We measure how
# smooth each neuron's weight image is: the correlation between horizontally neighbouring
# weights. Close to 1 means smooth blobs; near 0, salt-and-pepper noise; negative,
# fine stripes. And a neuron whose weights are all near zero never fires on anything.

for activation, clf in nets.items():
    W = clf.coefs_[0].T.reshape(-1, 28, 28)
    left, right = W[:, :, :-1].reshape(len(W), -1), W[:, :, 1:].reshape(len(W), -1)
    smooth = [np.corrcoef(a, b)[0, 1] if a.std() > 0 else np.nan for a, b in zip(left, right)]
    faint = int((np.abs(W).max(axis=(1, 2)) < 0.05 * np.abs(W).max()).sum())
    print(f"{activation:>8}: neighbour correlation median {np.nanmedian(smooth):.2f}, "
          f"{faint} of 16 neurons with all weights near zero")

# %%
# What this shows
# ---------------
# The pictures are not the tidy edge detectors the video hoped for, and the video says
# so itself. Each neuron shows broad blue and red blobs over the middle of the field,
# where strokes of some digits pass and others' do not, and nothing near the border,
# where the normalised images never have ink. The sigmoid network's blobs are the
# smoother ones (the higher neighbour correlation above); the ReLU network's are
# speckled, and some of its neurons are dead: all their weights decayed to zero under
# the L2 penalty because nothing ever made them fire. Neither looks like short edges:
# each neuron is more a template for "ink here, not there". The second layer takes
# these 16 numbers, not pixels, so it has no image-shaped weights in which to look for
# loops at all. The two networks reach a similar accuracy all the same: the network
# works, but not the way the story hoped.
