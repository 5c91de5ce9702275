"""
==================================
Reading photographed digits
==================================

A network trained on clean digits meets a phone photo: dark ink on a larger sheet,
uneven lighting, sensor noise, a few specks of dirt, JPEG compression; or a drawing
exported as a PNG with a transparent background. :class:`~skdigitnet.DigitNormalizer`
(and :func:`~skdigitnet.normalize_images`, for images of any size) fits the paper under
the ink, measures the noise, keeps the digit's strokes and drops the specks, so the
photograph becomes the same 28x28 image as the clean digit. A simple normaliser (ink by
min/max, crop to what is above 10 %, no more) crops to the noise and specks instead.

The photographs are made by ``benchmarks/bench_photos.py`` from the bundled digits, so
this example needs no download. Set ``SKDIGITNET_SAVE_FIGURES=1`` to write the figure
to ``docs/photographed.png`` (the picture in the README).
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
from bench_photos import CONDITIONS, make_photo

# %%
# The photographs, and what DigitNormalizer makes of them
# -------------------------------------------------------
# The bundled digits as 28x28 images. 300 of them are held out and photographed once
# each, the benchmark's six conditions in turn. Top: one photograph per condition (the
# transparent PNG drawn on grey, to show its transparency); bottom: the 28x28 image
# ``normalize_images`` makes of it, the image the network will read.

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=300, stratify=y,
                                                    random_state=0)
kinds = list(CONDITIONS)
photos = [make_photo(digit.reshape(28, 28), np.random.default_rng(i), kinds[i % len(kinds)],
                     canvas=(96, 128)) for i, digit in enumerate(X_test)]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # a photo that came out blank would warn
    ours = normalize_images(photos)


def shown(photo):
    """A photograph as grey levels to draw: a transparent PNG by its alpha, on grey."""
    return photo if photo.ndim == 2 else 128 - photo[..., 3] / 2


fig, axes = plt.subplots(2, len(kinds), figsize=(1.6 * len(kinds), 3.1))
for col, kind in enumerate(kinds):
    axes[0, col].imshow(shown(photos[col]), cmap="gray", vmin=0, vmax=255)
    axes[0, col].set_title(kind, fontsize=9)
    axes[1, col].imshow(ours[col].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 0].set_ylabel("photograph", fontsize=9)
axes[1, 0].set_ylabel("DigitNormalizer", fontsize=9)
fig.tight_layout()
# sphinx_gallery_thumbnail_number = 2

# %%
# A simple normaliser, for comparison
# -----------------------------------
# Ink from the darkest and lightest pixels, alpha ignored, cropped to the ink above 10 %,
# fitted into a 20x20 box and centred in 28x28 (by its box, not its mass).

def simple_normalise(photo):
    grey = photo[..., :3].mean(axis=2) if photo.ndim == 3 else photo.astype(float)
    ink = (grey.max() - grey) / max(np.ptp(grey), 1e-12)
    rows, cols = np.flatnonzero((ink > 0.1).any(axis=1)), np.flatnonzero((ink > 0.1).any(axis=0))
    if rows.size == 0:
        return np.zeros(784)
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = 20 / max(crop.shape)
    h, w = (max(1, round(n * scale)) for n in crop.shape)
    small = np.asarray(Image.fromarray(crop.astype(np.float32)).resize((w, h), Image.BILINEAR))
    field = np.zeros((28, 28))
    field[(28 - h) // 2 : (28 - h) // 2 + h, (28 - w) // 2 : (28 - w) // 2 + w] = small
    return field.ravel()


simple = np.array([simple_normalise(photo) for photo in photos])

# %%
# What the network reads
# ----------------------
# A network learns from the other 1,497 clean digits, then reads the clean test digits,
# and their photographs through each normaliser.

net = DigitMLPClassifier(random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # a ConvergenceWarning, if any, is beside the point
    net.fit(X_train, y_train)
print(f"accuracy on 300 clean test digits: {net.score(X_test, y_test):.1%}; "
      f"on their photographs: {net.score(ours, y_test):.1%} with DigitNormalizer, "
      f"{net.score(simple, y_test):.1%} with the simple normaliser")

# %%
# Before and after
# ----------------
# One photograph per condition, what the simple normaliser makes of it, and what
# DigitNormalizer makes of it.

fig, axes = plt.subplots(3, len(kinds), figsize=(1.6 * len(kinds), 4.4))
for col, kind in enumerate(kinds):
    axes[0, col].imshow(shown(photos[col]), cmap="gray", vmin=0, vmax=255)
    axes[0, col].set_title(kind, fontsize=9)
    axes[1, col].imshow(simple[col].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
    axes[2, col].imshow(ours[col].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
for row, label in enumerate(["photograph", "simple crop", "DigitNormalizer"]):
    axes[row, 0].set_ylabel(label, fontsize=9)
fig.tight_layout()
if os.environ.get("SKDIGITNET_SAVE_FIGURES"):  # grey, to keep the README's PNG small
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=64)
    Image.open(buffer).convert("L").save(here.parent / "docs" / "photographed.png",
                                         optimize=True)
