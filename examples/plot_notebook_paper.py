"""
==================================
Digits on notebook paper
==================================

Students write on ruled and squared paper. The printed rules are dark against the paper,
so a normaliser that takes everything dark for ink keeps them, and the digit shrinks
inside a box of lines. :func:`~skdigitnet.normalize_images` (and
:class:`~skdigitnet.DigitNormalizer`) first finds thin, straight, regularly spaced lines
of one colour running across the whole sheet (rules, grids, a margin, rows of dots,
tilted up to 8 degrees), divides them out of the photo, and only then looks for the
digit; a stroke crossing a rule is far darker than the rule and stays whole.

The photographs are made by ``benchmarks/bench_photos.py`` from the bundled digits (its
notebook papers: blue or grey rules with a red margin, squared paper, a dot grid, in
colour and in grey, some tilted), so this example needs no download. The benchmark
itself reads MNIST test digits; its table is in the user guide (:ref:`real_digits`).
Set ``SKDIGITNET_SAVE_FIGURES=1`` to write the first figure to ``docs/paper.png`` (the
picture in the user guide).
"""

import io
import os
import sys
import warnings
from pathlib import Path

import matplotlib as mpl
import numpy as np

mpl.use("Agg")  # runs anywhere; use plt.show() in a notebook instead
import matplotlib.pyplot as plt
from PIL import Image
from sklearn.model_selection import train_test_split

from skdigitnet import DigitMLPClassifier, load_digits, normalize_images

try:
    here = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery runs an example in its folder, without __file__
    here = Path.cwd()
sys.path.insert(0, str(here.parent / "benchmarks"))
from bench_photos import PAPERS, make_photo

# %%
# Before and after
# ----------------
# One photograph per kind of paper, each of another digit (top), and the 28x28 image
# ``normalize_images`` makes of it (bottom): the image the network reads. The rules,
# grids and dots are gone; the strokes that crossed them are whole.

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=30, stratify=y,
                                                    random_state=0)
kinds = list(PAPERS)
rng = np.random.default_rng(0)
photos = {kind: [make_photo(digit.reshape(28, 28), rng, kind) for digit in X_test]
          for kind in kinds}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # a photo that came out blank would warn
    read = {kind: normalize_images(photos[kind]) for kind in kinds}

fig, axes = plt.subplots(2, len(kinds), figsize=(1.7 * len(kinds), 3.6))
for col, kind in enumerate(kinds):
    photo = photos[kind][col]
    axes[0, col].imshow(photo, cmap=None if photo.ndim == 3 else "gray", vmin=0, vmax=255)
    axes[0, col].set_title(kind.replace("_", " "), fontsize=9)
    axes[1, col].imshow(read[kind][col].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 0].set_ylabel("photograph", fontsize=9)
axes[1, 0].set_ylabel("normalize_images", fontsize=9)
fig.tight_layout()
before_after = fig

# %%
# What the network reads
# ----------------------
# A network learns from the other clean bundled digits, then reads 30 held-out digits
# (three of each), clean and photographed on each paper (one digit is 3.3 points here;
# the benchmark's 2,000 MNIST digits give the steadier numbers in the user guide).

net = DigitMLPClassifier(random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # a ConvergenceWarning, if any, is beside the point
    net.fit(X_train, y_train)
print(f"{'clean':>16s}: {net.score(X_test, y_test):.1%}")
for kind in kinds:
    print(f"{kind:>16s}: {net.score(read[kind], y_test):.1%}")

# %%
# ``SKDIGITNET_SAVE_FIGURES=1`` writes the first figure to ``docs/paper.png`` (a
# 256-colour palette keeps the PNG small).

if os.environ.get("SKDIGITNET_SAVE_FIGURES"):
    buffer = io.BytesIO()
    before_after.savefig(buffer, format="png", dpi=80)
    Image.open(buffer).convert("RGB").quantize(256).save(here.parent / "docs" / "paper.png",
                                                        optimize=True)
