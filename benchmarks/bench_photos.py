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

- notebook paper, RGB with blue or black pen ink: ``ruled`` (blue rules, a red margin),
  ``squared``, both also ``_tilted`` (up to 6 degrees), ``dot_grid``, and
  ``ruled_grey``, ``squared_grey`` (grey photos of grey printing), noise sigma 3-6.

The shipped model (``load_pretrained()``, trained on the clean MNIST training set) reads
the photographs after ``normalize_images`` (the same normaliser, for images of any
size). Nothing is written to disk. ``--no-printing`` leaves the printed lines in (the
normaliser as it was before it took them out).

    python benchmarks/bench_photos.py [--data FOLDER] [--n-test 2000] [--seed 0]
                                      [--kinds all|paper|noise,ruled,...] [--no-printing]

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
#: Notebook paper (``--kinds paper``): printed rules, grids and dots under the digit.
PAPERS = {
    "ruled": {"sigma": (3, 6), "paper": "ruled", "colour": True},
    "ruled_tilted": {"sigma": (3, 6), "paper": "ruled", "colour": True, "tilt": 6},
    "squared": {"sigma": (3, 6), "paper": "squared", "colour": True},
    "squared_tilted": {"sigma": (3, 6), "paper": "squared", "colour": True, "tilt": 6},
    "dot_grid": {"sigma": (3, 6), "paper": "dots", "colour": True},
    "ruled_grey": {"sigma": (3, 6), "paper": "ruled"},
    "squared_grey": {"sigma": (3, 6), "paper": "squared"},
}
PAPER_KINDS = list(PAPERS)
KINDS = {**CONDITIONS, **PAPERS}


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


def printed_paper(canvas, rng, paper, colour, tilt):
    """The printing of a notebook sheet as ``(cover, rgb)``: ``cover`` in [0, 1] per pixel
    (how much of the printing's colour shows), ``rgb`` its colour per pixel (reflectance,
    3 channels). ``paper``: 'ruled' (lines across every 3-6 % of the sheet, and a red
    margin down it), 'squared' (both ways) or 'dots' (a dot grid); lines 0.8-2 px wide,
    tilted by up to ``tilt`` degrees."""
    H, W = canvas
    ys, xs = np.indices(canvas, dtype=np.float32)
    angle = np.radians(rng.uniform(-tilt, tilt))
    across = ys * np.cos(angle) - xs * np.sin(angle)  # distance down the sheet
    down = xs * np.cos(angle) + ys * np.sin(angle)
    spacing = max(7.0, rng.uniform(0.03, 0.06) * max(H, W))
    width = rng.uniform(0.8, 2.0)
    if colour:
        line_rgb = np.array(rng.choice([[0.55, 0.7, 0.95], [0.6, 0.75, 0.9],
                                        [0.62, 0.62, 0.66]]))
    else:
        line_rgb = np.full(3, rng.uniform(0.55, 0.8))

    def lines(coordinate):
        phase = rng.uniform(0, spacing)
        d = np.abs((coordinate - phase + spacing / 2) % spacing - spacing / 2)
        return np.clip(width / 2 + 0.5 - d, 0, 1)

    rgb = np.broadcast_to(line_rgb, (*canvas, 3)).copy()
    if paper == "dots":
        cover = lines(across) * lines(down)
        cover = np.clip(cover * 1.5, 0, 1)
    elif paper == "squared":
        cover = np.maximum(lines(across), lines(down))
    else:
        cover = lines(across)
        margin = np.clip(1.4 - np.abs(down - rng.uniform(0.08, 0.2) * W), 0, 1)
        margin_rgb = np.array([0.95, 0.45, 0.5]) if colour else np.full(3, 0.65)
        rgb[margin > cover] = margin_rgb
        cover = np.maximum(cover, margin)
    return cover, rgb


def make_photo(digit, rng, kind="all", canvas=None):
    """A photographed version of one digit image.

    Parameters
    ----------
    digit : array-like of shape (h, w)
        Light ink on dark paper (MNIST style), any scale: it is divided by its maximum.
    rng : numpy.random.Generator
    kind : str, default='all'
        The condition (see the module docstring).
    canvas : (int, int) or None, default=None
        Height and width of the sheet; None draws one from 96x128 up to 300x400.

    Returns
    -------
    photo : ndarray of uint8, shape (H, W), (H, W, 4) for ``kind='png'`` or (H, W, 3)
        for the colour papers
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}; got {kind!r}.")
    spec = KINDS[kind]
    canvas = random_canvas(rng) if canvas is None else tuple(canvas)
    ink = place_digit(digit, rng, canvas)
    if spec.get("rgba"):
        photo = np.zeros((*canvas, 4), dtype=np.uint8)
        photo[..., 3] = np.round(255 * ink)
        return photo
    paper, pen = rng.uniform(0.72, 0.92), rng.uniform(0.04, 0.3)
    if spec.get("paper"):
        return _on_paper(ink, rng, spec, canvas, paper, pen)
    reflectance = paper - ink * (paper - pen)
    if spec.get("specks"):
        add_specks(reflectance, rng, int(rng.integers(2, 7)))
    grey = 255 * reflectance
    if spec.get("gradient"):
        grey -= lighting(canvas, rng, rng.uniform(20, 60)) * reflectance / paper
    grey += rng.normal(0, rng.uniform(*spec["sigma"]), size=canvas)
    grey = np.clip(np.round(grey), 0, 255).astype(np.uint8)
    return jpeg(grey, rng) if spec.get("jpeg") else grey


def _on_paper(ink, rng, spec, canvas, paper, pen):
    """Pen ink (black or blue) over printed notebook paper, RGB uint8 (grey if not
    ``spec['colour']``), with noise."""
    cover, line_rgb = printed_paper(canvas, rng, spec["paper"], spec.get("colour", False),
                                    spec.get("tilt", 0.5))
    sheet = paper * (1 - cover[..., None] * (1 - line_rgb))
    pen_rgb = (np.array([pen, pen, pen]) if rng.random() < 0.5 or not spec.get("colour")
               else np.array([pen * 0.6, pen * 0.8, min(1.0, pen * 2.5 + 0.2)]))
    rgb = sheet * (1 - ink[..., None]) + pen_rgb * ink[..., None]
    rgb = 255 * rgb + rng.normal(0, rng.uniform(*spec["sigma"]), size=(*canvas, 1))
    rgb = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    return rgb if spec.get("colour") else rgb[..., 1]


def photograph(digits, kind, seed):
    """``make_photo`` of every digit, photo ``i`` from its own seed (seed, kind, i)."""
    k = list(KINDS).index(kind)
    return [make_photo(d, np.random.default_rng([seed, k, i]), kind)
            for i, d in enumerate(digits)]


def main(argv=None):
    from skdigitnet import DigitNormalizer, load_mnist, load_pretrained, normalize_images

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of MNIST IDX files")
    parser.add_argument("--n-test", type=int, default=2000,
                        help="test digits photographed (a seeded random subset)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default="all",
                        help="comma-separated conditions, 'paper' (the notebook papers) "
                             "or 'all' (default)")
    parser.add_argument("--no-printing", action="store_true",
                        help="leave printed lines in (the normaliser before it removed them)")
    args = parser.parse_args(argv)
    kinds = (list(KINDS) if args.kinds == "all" else PAPER_KINDS
             if args.kinds == "paper" else args.kinds.split(","))
    if args.no_printing:
        from skdigitnet._images import printed

        printed.remove_printing = lambda image: image
    X_test, y_test = load_mnist(args.data, subset="test", return_X_y=True)
    pick = np.sort(np.random.default_rng(args.seed).choice(
        len(y_test), min(args.n_test, len(y_test)), replace=False))
    model = load_pretrained()
    clf = model[-1] if hasattr(model, "steps") else model  # the shipped classifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = float(np.mean(clf.predict(DigitNormalizer().fit_transform(X_test[pick]))
                              == y_test[pick]))
    print(f"\n| test images ({len(pick)} MNIST test digits, shipped model) | accuracy | "
          "vs clean | blank | normalise ms/image |")
    print("|---|---:|---:|---:|---:|")
    print(f"| clean MNIST | {clean:.2%} | | | |", flush=True)
    digits = X_test[pick].reshape(-1, 28, 28)
    for kind in kinds:
        photos = photograph(digits, kind, args.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tic = time.perf_counter()
            X28 = normalize_images(photos)
            ms = 1000 * (time.perf_counter() - tic) / len(photos)
        accuracy = float(np.mean(clf.predict(X28) == y_test[pick]))
        blank = int(np.count_nonzero(X28.sum(axis=1) == 0))
        print(f"| photographed: {kind} | {accuracy:.2%} | {100 * (accuracy - clean):+.1f} | "
              f"{blank} | {ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
