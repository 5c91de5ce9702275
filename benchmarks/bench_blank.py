"""A dot is not a digit: how close real digits come to the blank rule (``_images/blank.py``).

Every MNIST digit (train and test) and every bundled digit (``load_digits``) is
normalised (``DigitNormalizer``, deskewed); the script prints how many read blank (must
be 0), and, of the heavy ones (28x28 sum at least ``HEAVY``), the smallest roundness
``E**2 / 4A`` and fatness ``L / (2A / E)`` against their thresholds. Then pen taps and
dots (still, or moved up to half a pen width, sharp or blurred, on clean and on
photographed paper) must all read blank.

    python benchmarks/bench_blank.py [--data FOLDER]
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist"


def tap(radius, move=0.0, blur=0.0, noise=0.0, size=(240, 320), seed=0):
    """A pen dot of ``radius`` px, dragged ``move`` px, on a grey sheet."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[: size[0], : size[1]].astype(float)
    cy, cx = size[0] * rng.uniform(0.3, 0.7), size[1] * rng.uniform(0.3, 0.7)
    angle = rng.uniform(0, np.pi)
    t = np.clip(((ys - cy) * np.sin(angle) + (xs - cx) * np.cos(angle)) / max(move, 1e-9),
                0, 1) * move
    d = np.hypot(ys - cy - t * np.sin(angle), xs - cx - t * np.cos(angle))
    ink = np.clip(radius + 0.5 - d, 0, 1)
    if blur:
        ink = ndimage.gaussian_filter(ink, blur)
    grey = 220 - 190 * ink + rng.normal(0, noise, size)
    return np.clip(np.round(grey), 0, 255).astype(np.uint8)


def main(argv=None):
    from sklearn.datasets import load_digits

    from skdigitnet import DigitNormalizer, load_mnist, normalize_images
    from skdigitnet._images.blank import FAT, HEAVY, ROUND, blob_measures

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of MNIST IDX files")
    args = parser.parse_args(argv)
    sets = {"MNIST train": load_mnist(args.data, return_X_y=True)[0],
            "MNIST test": load_mnist(args.data, subset="test", return_X_y=True)[0],
            "bundled digits": load_digits().data}
    print(f"thresholds: sum >= {HEAVY:g}, E^2/4A < {ROUND:g} or L/(2A/E) < {FAT:g}")
    print("| digits | n | blank | heavy | smallest E^2/4A | smallest L/(2A/E) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, X in sets.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Z = DigitNormalizer().fit_transform(X).reshape(-1, 28, 28)
        blank = int(np.count_nonzero(Z.sum(axis=(1, 2)) == 0))
        heavy = Z[Z.sum(axis=(1, 2), dtype=np.float64) >= HEAVY]
        a, e, longer = (m.astype(float) for m in blob_measures(heavy))
        print(f"| {name} | {len(X):,} | {blank} | {len(heavy):,} | "
              f"{np.min(e * e / (4 * a)):.2f} | {np.min(longer * e / (2 * a)):.2f} |")
    taps = [(r, m, b, n) for r in (1, 2, 3, 5, 8, 12) for m in (0, 0.5 * r)
            for b in (0, 1.5) for n in (0, 4)]
    images = [tap(r, m, b, n, seed=i) for i, (r, m, b, n) in enumerate(taps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Z = normalize_images(images)
    read = np.flatnonzero(Z.sum(axis=1) > 0)
    print(f"\ntaps and dots (radius 1-12 px, still or moved half a pen width, sharp or "
          f"blurred, clean or noisy): {len(taps) - len(read)} of {len(taps)} blank")
    for i in read:
        print("  not blank:", dict(zip(("radius", "move", "blur", "noise"), taps[i])))


if __name__ == "__main__":
    main()
