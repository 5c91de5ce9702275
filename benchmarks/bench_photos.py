"""Accuracy on photographed digits: MNIST test digits as a phone would see them.

Each MNIST *test* digit becomes, deterministically from ``--seed``, a photograph of dark
ink on a larger sheet (96x128 up to 300x400 pixels, portrait or landscape): the digit at
a random place and scale, paper not pure white, and per condition:

- ``noise``: a clean sheet and mild sensor noise (sigma 3 of 255);
- ``gradient``: uneven lighting, linear and/or radial, up to 60 grey levels across the
  sheet, noise sigma 3-10;
- ``specks``: 2-6 specks and small dirt blobs anywhere on the sheet, noise sigma 3-10;
- ``jpeg``: noise sigma 3-10, then JPEG compression at quality 50-90 (Pillow);
- ``all``: lighting, specks, noise and JPEG together;
- ``png``: an RGBA image with black ink on a fully transparent background (RGB 0,0,0
  everywhere, as an HTML canvas exports it).

``make_pipeline(DigitNormalizer(), DigitMLPClassifier(random_state=0))`` is trained
with its defaults on the 60,000 clean training images (about 40 s); the photographs go
through ``normalize_images`` (the same normaliser, for images of any size) and the
trained network. Nothing is written to disk.

    python benchmarks/bench_photos.py [--data FOLDER] [--n-test 2000] [--seed 0]

The generator (:func:`make_photo`) is importable, so tests can photograph the bundled
digits with it.
"""

import argparse
import io
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist"

#: What each condition adds to the photograph.
CONDITIONS = {
    "noise": {"sigma": (3, 3)},
    "gradient": {"sigma": (3, 10), "gradient": True},
    "specks": {"sigma": (3, 10), "specks": True},
    "jpeg": {"sigma": (3, 10), "jpeg": True},
    "all": {"sigma": (3, 10), "gradient": True, "specks": True, "jpeg": True},
    "png": {"rgba": True},
}


def random_canvas(rng, smallest=(96, 128), largest=(300, 400)):
    """A (height, width) between ``smallest`` and ``largest`` (3:4), either orientation."""
    short = int(rng.integers(smallest[0], largest[0] + 1))
    long = round(short * largest[1] / largest[0])
    return (short, long) if rng.random() < 0.5 else (long, short)


def place_digit(digit, rng, canvas):
    """Ink in [0, 1] on a ``canvas``-sized field: ``digit`` (light on dark, any scale)
    cropped to its ink (with a 2-pixel margin, so no stroke is cut), resized (bicubic) so
    the ink is 25-70 % of the canvas height, and put at a random place."""
    from PIL import Image

    digit = np.asarray(digit, dtype=np.float32)
    digit = digit / max(float(digit.max()), 1e-12)
    rows = np.flatnonzero((digit > 0.05).any(axis=1))
    cols = np.flatnonzero((digit > 0.05).any(axis=0))
    digit = np.pad(digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], 2)
    H, W = canvas
    scale = rng.uniform(0.25, 0.7) * H / (digit.shape[0] - 4)
    scale = min(scale, 0.9 * W / digit.shape[1])
    h, w = (max(2, round(n * scale)) for n in digit.shape)
    big = np.asarray(Image.fromarray(digit, mode="F").resize((w, h), Image.BICUBIC))
    field = np.zeros(canvas, dtype=np.float32)
    top, left = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
    field[top : top + h, left : left + w] = np.clip(big, 0, 1)
    return field


def lighting(shape, rng, amplitude):
    """Darkening in grey levels, 0 to ``amplitude``: linear, radial or both."""
    ys, xs = np.indices(shape, dtype=np.float32)
    ys, xs = ys / max(shape), xs / max(shape)
    kind = rng.choice(["linear", "radial", "both"])
    total = np.zeros(shape, dtype=np.float32)
    if kind in ("linear", "both"):
        angle = rng.uniform(0, 2 * np.pi)
        total += np.cos(angle) * xs + np.sin(angle) * ys
    if kind in ("radial", "both"):
        cy, cx = rng.uniform(0, shape[0] / max(shape)), rng.uniform(0, shape[1] / max(shape))
        total += np.hypot(ys - cy, xs - cx) ** rng.uniform(1, 2)
    total -= total.min()
    return amplitude * total / max(float(total.max()), 1e-12)


def add_specks(reflectance, rng, n):
    """Darken ``n`` small soft blobs (radii 0.7-3.5 px) anywhere on the sheet, in place."""
    H, W = reflectance.shape
    for _ in range(n):
        cy, cx = rng.uniform(0, H), rng.uniform(0, W)
        ay, ax = rng.uniform(0.7, 3.5, size=2)
        r0, r1 = max(int(cy - ay - 2), 0), min(int(cy + ay + 3), H)
        c0, c1 = max(int(cx - ax - 2), 0), min(int(cx + ax + 3), W)
        ys, xs = np.mgrid[r0:r1, c0:c1]
        d = np.hypot((ys + 0.5 - cy) / ay, (xs + 0.5 - cx) / ax)
        blob = np.clip(1.5 - d, 0, 1) * rng.uniform(0.3, 0.8)
        reflectance[r0:r1, c0:c1] *= 1 - blob


def jpeg(grey, rng, quality=(50, 90)):
    """``grey`` (uint8) through JPEG at a random quality, decoded again."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="JPEG", quality=int(rng.integers(*quality) + 1))
    return np.asarray(Image.open(buffer).convert("L"))


def make_photo(digit, rng, kind="all", canvas=None):
    """A photographed version of one digit image.

    Parameters
    ----------
    digit : array-like of shape (h, w)
        Light ink on dark paper (MNIST style), any scale: it is divided by its maximum.
    rng : numpy.random.Generator
    kind : {'noise', 'gradient', 'specks', 'jpeg', 'all', 'png'}, default='all'
        The condition (see the module docstring).
    canvas : (int, int) or None, default=None
        Height and width of the sheet; None draws one from 96x128 up to 300x400.

    Returns
    -------
    photo : ndarray of uint8, shape (H, W), or (H, W, 4) for ``kind='png'``
    """
    if kind not in CONDITIONS:
        raise ValueError(f"kind must be one of {sorted(CONDITIONS)}; got {kind!r}.")
    spec = CONDITIONS[kind]
    canvas = random_canvas(rng) if canvas is None else tuple(canvas)
    ink = place_digit(digit, rng, canvas)
    if spec.get("rgba"):
        photo = np.zeros((*canvas, 4), dtype=np.uint8)
        photo[..., 3] = np.round(255 * ink)
        return photo
    paper, pen = rng.uniform(0.72, 0.92), rng.uniform(0.04, 0.3)
    reflectance = paper - ink * (paper - pen)
    if spec.get("specks"):
        add_specks(reflectance, rng, int(rng.integers(2, 7)))
    grey = 255 * reflectance
    if spec.get("gradient"):
        grey -= lighting(canvas, rng, rng.uniform(20, 60)) * reflectance / paper
    grey += rng.normal(0, rng.uniform(*spec["sigma"]), size=canvas)
    grey = np.clip(np.round(grey), 0, 255).astype(np.uint8)
    return jpeg(grey, rng) if spec.get("jpeg") else grey


def photograph(digits, kind, seed):
    """``make_photo`` of every digit, photo ``i`` from its own seed (seed, kind, i)."""
    k = list(CONDITIONS).index(kind)
    return [make_photo(d, np.random.default_rng([seed, k, i]), kind)
            for i, d in enumerate(digits)]


def main(argv=None):
    from sklearn.pipeline import make_pipeline

    from skdigitnet import DigitMLPClassifier, DigitNormalizer, load_mnist, normalize_images

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of MNIST IDX files")
    parser.add_argument("--n-test", type=int, default=2000,
                        help="test digits photographed (a seeded random subset)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    X, y = load_mnist(args.data, return_X_y=True)
    X_test, y_test = load_mnist(args.data, subset="test", return_X_y=True)
    pick = np.sort(np.random.default_rng(args.seed).choice(
        len(y_test), min(args.n_test, len(y_test)), replace=False))
    model = make_pipeline(DigitNormalizer(), DigitMLPClassifier(random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tic = time.perf_counter()
        model.fit(X, y)
    print(f"fit on 60,000 clean images: {time.perf_counter() - tic:.1f} s")
    clean_all = model.score(X_test, y_test)
    clean = model.score(X_test[pick], y_test[pick])
    print(f"\n| test images ({len(pick)} MNIST test digits unless said) | accuracy | "
          "vs clean | normalise ms/image |")
    print("|---|---:|---:|---:|")
    print(f"| clean MNIST, all 10,000 | {clean_all:.2%} | | |")
    print(f"| clean MNIST | {clean:.2%} | | |", flush=True)
    digits = X_test[pick].reshape(-1, 28, 28)
    for kind in CONDITIONS:
        photos = photograph(digits, kind, args.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tic = time.perf_counter()
            X28 = normalize_images(photos)
            ms = 1000 * (time.perf_counter() - tic) / len(photos)
        accuracy = float(np.mean(model[-1].predict(X28) == y_test[pick]))
        print(f"| photographed: {kind} | {accuracy:.2%} | {100 * (accuracy - clean):+.1f} | "
              f"{ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
