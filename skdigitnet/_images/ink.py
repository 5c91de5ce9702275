"""From any digit image to its ink: paper at 0, the digit's strokes up to 1, nothing else.

A clean image (MNIST, the bundled digits, a drawing) needs only its paper and ink
levels. A photographed or scanned sheet adds uneven lighting, sensor noise, specks of
dirt and JPEG artefacts. One path serves both; on a clean image each step reduces to
the plain rescaling ``(image - paper) / (ink - paper)`` and the crop to the ink above
``threshold``:

1. polarity: which way is ink (the paper is the median of the border);
2. paper: a quadratic surface fitted to the paper, ink rejected by iterated one-sided
   sigma clipping (starting from the lowest quarter of each of 4x4 tiles), so lighting
   that varies smoothly is not ink. The noise ``sigma`` is that of the paper around
   the surface (``lower_sigma``). A clean image has paper of one value: when the lowest
   quarter of the image is one value, or the border is one value that more than half
   the image shares, that is the paper and ``sigma = 0``, known without fitting. Images
   under 16 pixels a side hold too little paper to fit: they are taken to be clean,
   their paper the extreme value opposite the ink;
3. significant ink: the residual, smoothed by a 1-pixel Gaussian when there is noise,
   above ``max(4 sigma_s, threshold * contrast)``: ``sigma_s`` is the noise of the
   paper after smoothing (JPEG's blotches included: see ``smoothed_noise``), the
   contrast the strongest smoothed ink;
4. the digit: 8-connected components of that mask. A component whose peak stays under
   ``8 sigma_s`` is noise. The heaviest of the rest is the digit's main part; others
   join it, again and again, when they are near the box built so far (within 0.15 of
   its longer side, plus their share of the main part's mass) and no finer than a dot
   as wide as the pen (``stroke_width``): the parts of a broken 4 or 5 and dotted
   strokes join, specks much finer than the pen or away from the digit do not. The
   image is blank when nothing is left, or when its strongest ink is under a quarter
   of the lighting removed (what a quadratic may miss of a sharply peaked light) or
   under 5 % of the image's range; of a noisy image's full scale, too, when its dtype
   tells it (13 grey levels for uint8), for JPEG turns noise into blotches;
5. values: without noise, ink over the digit's strongest ink, with dropped components
   made paper. With noise, pixels farther than one pixel from the kept components are
   paper, the rest are soft-thresholded at ``2 sigma`` (so the paper between strokes
   reads 0) and divided by the digit's strongest smoothed ink, and the result is
   cropped again to the ink above ``threshold``.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import DTypeLike
from scipy import ndimage

from skdigitnet._typing import FloatArray, IntArray, NDArray

#: A 2-D box of an image: (rows, columns).
Box = tuple[slice, ...]
Polarity = Literal["auto", "light_on_dark", "dark_on_light"]

MIN_FIT_SIDE = 16  # smaller images are taken to be clean: too little paper to fit
K_MASK, K_PEAK, K_SOFT = 4.0, 8.0, 2.0  # thresholds, in units of the noise sigma
MIN_CONTRAST = 0.05  # weakest digit, as a fraction of the image's range ...
LIGHT_ERR = 0.25  # ... and of the lighting removed (a quadratic may miss this much)
REACH = 0.15  # components this close (times the digit's size) belong to the digit
MIN_DOT = 0.5  # ... if their area is at least this times the squared stroke width
_EIGHT = np.ones((3, 3), dtype=bool)


def border_pixels(image: FloatArray) -> FloatArray:
    """The pixels on the edge of a 2-D image (all of it when under 3x3)."""
    if min(image.shape) < 3:
        return image.ravel()
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])


def _median(values: FloatArray) -> float:
    """``np.median`` of a 1-D array, by sorting (faster for a few hundred values)."""
    ordered = np.sort(values)
    n = len(ordered)
    return float(ordered[n // 2]) if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def ink_sign(border: FloatArray, polarity: Polarity, lo: float, hi: float) -> float:
    """+1 when ink is lighter than paper, -1 when darker ('auto': the median of the
    ``border`` pixels is the paper, and ink lies on the farther side of it)."""
    if polarity == "auto":
        paper = _median(border)
        polarity = "light_on_dark" if paper - lo <= hi - paper else "dark_on_light"
    return 1.0 if polarity == "light_on_dark" else -1.0


def lower_sigma(values: FloatArray) -> float:
    """Noise of ``values`` from their lower half alone: the root mean square of its
    deviations from the median (for a Gaussian, exactly sigma). Ink, above the paper,
    cannot inflate it; unlike the MAD, it does not collapse when most values are equal
    (JPEG flattens noise into runs of one grey level)."""
    half = np.partition(values, len(values) // 2)[: len(values) // 2 + 1]
    centre = half.max()  # the median (the upper one for an even count)
    return float(np.sqrt(np.mean((half - centre) ** 2)))


def fit_paper(ink: FloatArray, border: FloatArray,
              n_iter: int = 4) -> tuple[float | FloatArray, float]:
    """Paper level under ``ink`` (ink coordinates: ink is high) and the noise sigma.

    ``border`` holds the border pixels of ``ink``. Returns ``(paper, sigma)``, ``paper``
    a float or an array of ``ink``'s shape.
    """
    h, w = ink.shape
    if min(h, w) < MIN_FIT_SIDE:
        return float(ink.min()), 0.0
    level = border[0]
    if (border == level).all() and 2 * np.count_nonzero(ink == level) > ink.size:
        return float(level), 0.0  # flat noiseless paper, known without fitting
    step = max(1, int(np.sqrt(h * w / 4096)))
    grid = ink[::step, ::step]
    low = float(np.quantile(grid, 0.25))
    if grid.min() == low:  # a quarter of the image is one lowest value: clean paper
        return low, 0.0
    keep = lower_quarter_by_tile(grid).ravel()
    z = grid.ravel()
    Y, X = np.meshgrid(np.linspace(-1, 1, h)[::step], np.linspace(-1, 1, w)[::step],
                       indexing="ij")
    A = np.column_stack([np.ones(z.size), X.ravel(), Y.ravel(), X.ravel() ** 2,
                         X.ravel() * Y.ravel(), Y.ravel() ** 2])
    for _ in range(n_iter):
        Ak = A[keep]  # least squares by the normal equations: 6 unknowns, well scaled
        coef = np.linalg.lstsq(Ak.T @ Ak, Ak.T @ z[keep], rcond=None)[0]
        r = z - A @ coef
        centre = np.median(r[keep])
        sigma = lower_sigma(r[keep])
        if sigma <= 1e-9 * (z.max() - z.min()):  # rounding error: noiseless paper
            sigma = 0.0
            break
        keep = r <= centre + 2.5 * sigma
    y, x = np.linspace(-1, 1, h)[:, None], np.linspace(-1, 1, w)[None, :]
    c = coef
    paper = c[0] + centre + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y
    return paper, sigma


def lower_quarter_by_tile(grid: FloatArray, tiles: int = 4) -> NDArray[np.bool_]:
    """Where ``grid`` is at or below the lowest quarter of its tile (of a ``tiles`` x
    ``tiles`` split): surely paper, wherever the lighting sets the paper's level."""
    keep = np.zeros(grid.shape, dtype=bool)
    rows = np.linspace(0, grid.shape[0], tiles + 1).astype(int)
    cols = np.linspace(0, grid.shape[1], tiles + 1).astype(int)
    for r0, r1 in pairwise(rows):
        for c0, c1 in pairwise(cols):
            tile = grid[r0:r1, c0:c1]
            keep[r0:r1, c0:c1] = tile <= np.quantile(tile, 0.25)
    return keep


def _components(
    mask: NDArray[np.bool_], strength: FloatArray, noisy: bool,
) -> tuple[IntArray, list[Box], IntArray, NDArray[Any], FloatArray]:
    """The 8-connected components of ``mask``: labels, boxes (tuples of slices), and per
    component its area, mass (sum of ``strength``) and peak (maximum of ``strength``,
    inf unless ``noisy``)."""
    labels, n = ndimage.label(mask, _EIGHT)
    boxes = ndimage.find_objects(labels)
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:]
    mass = np.bincount(flat, strength.ravel(), minlength=n + 1)[1:]
    peak = np.full(n, np.inf)
    if noisy:
        for i, box in enumerate(boxes):
            peak[i] = strength[box][labels[box] == i + 1].max()
    return labels, boxes, area, mass, peak


def stroke_width(part: NDArray[np.bool_]) -> float:
    """Mean width of the strokes of a boolean image: twice the area over the number of
    edge pixels (a stroke of width w and length l has area w*l and about 2*l edge
    pixels)."""
    padded = np.zeros((part.shape[0] + 2, part.shape[1] + 2), dtype=bool)
    padded[1:-1, 1:-1] = part
    # part minus its erosion by the 4-neighbour cross (paper beyond the edges)
    edge = part & ~(padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return 2.0 * np.count_nonzero(part) / max(int(np.count_nonzero(edge)), 1)


def _gap(a: Box, b: Box) -> int:
    """Pixels between two boxes (tuples of slices); 0 when they touch or overlap."""
    dy = max(a[0].start - b[0].stop, b[0].start - a[0].stop, 0)
    dx = max(a[1].start - b[1].stop, b[1].start - a[1].stop, 0)
    return max(dy, dx)


def _union(a: Box, b: Box) -> Box:
    return tuple(slice(min(p.start, q.start), max(p.stop, q.stop)) for p, q in zip(a, b))


def digit_components(
    labels: IntArray, boxes: list[Box], area: IntArray, mass: NDArray[Any], peak: FloatArray,
    min_peak: float,
) -> tuple[list[int], Box] | tuple[None, None]:
    """Indices of the digit's components and their common box, or (None, None).

    The heaviest component with ``peak >= min_peak`` is the main part. A component with
    such a peak joins when it lies within ``REACH`` times the longer side of the box
    built so far, and is no smaller than a dot a third of the main part's stroke width
    across (``area >= MIN_DOT * width**2``): broken strokes and dotted strokes join,
    specks much finer than the pen do not.
    """
    candidates = [i for i in np.argsort(-mass) if peak[i] >= min_peak]
    if not candidates:
        return None, None
    main = candidates[0]
    box = boxes[main]
    rest = candidates[1:]
    if rest:
        width = stroke_width(labels[box] == main + 1)
        rest = [i for i in rest if area[i] >= MIN_DOT * width * width]
    kept = [main]
    while rest:
        side = max(box[0].stop - box[0].start, box[1].stop - box[1].start)
        near = [i for i in rest if _gap(boxes[i], box)
                <= max(2.0, side * (REACH + mass[i] / mass[main]))]
        if not near:
            break
        for i in near:
            kept.append(i)
            box = _union(box, boxes[i])
        rest = [i for i in rest if i not in near]
    return kept, box


def paper_residual(
    image: FloatArray, polarity: Polarity, lo: float, hi: float,
) -> tuple[FloatArray, FloatArray, float, float, float]:
    """The ink standing above the paper, and what is known of its noise.

    Returns ``(v, s, sigma, sigma_s, lighting)``: ``v`` the image in ink coordinates
    minus the fitted paper, ``s`` the same smoothed by a 1-pixel Gaussian (``v`` itself
    when there is no noise), ``sigma`` and ``sigma_s`` their noise (robust standard
    deviations) and ``lighting`` the range of the paper surface removed.
    """
    border = border_pixels(image)
    sign = ink_sign(border, polarity, lo, hi)
    ink = image if sign > 0 else -image
    paper, sigma = fit_paper(ink, border * sign)
    v = ink - paper
    lighting = float(np.ptp(paper))
    if sigma == 0:
        return v, v, 0.0, 0.0, lighting
    s = ndimage.gaussian_filter(v, 1.0)
    return v, s, sigma, smoothed_noise(v, s, sigma), lighting


def smoothed_noise(v: FloatArray, s: FloatArray, sigma: float) -> float:
    """The noise of the smoothed paper ``s``: its ``lower_sigma``, or more if its tail is
    heavier than a Gaussian's (JPEG turns noise into sparse blotches): the 99th
    percentile of the absolute deviations over 2.576.

    Paper is where ``v <= 2.5 sigma``, two pixels away from anything else (smoothing
    spreads the ink that far).
    """
    paper = ndimage.binary_erosion(v <= 2.5 * sigma, _EIGHT, iterations=2, border_value=1)
    step = max(1, int(np.sqrt(s.size / 16384)))
    values = s[::step, ::step][paper[::step, ::step]]
    if values.size < 16:
        values = s.ravel()
    tail = np.quantile(np.abs(values - np.median(values)), 0.99) / 2.576
    return max(lower_sigma(values), float(tail))


def dtype_scale(dtype: DTypeLike) -> float | None:
    """Full scale of an image's grey levels when its dtype says it: 255 for uint8,
    65535 for uint16, else None."""
    return {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(np.dtype(dtype))


def extract_ink(image: FloatArray, polarity: Polarity = "auto", threshold: float = 0.1,
                full_scale: float | None = None,
                steps: dict[str, Any] | None = None) -> FloatArray | None:
    """The digit's ink, cropped to it: a 2-D float array in [0, 1], or None if blank.

    ``image`` is a 2-D float array; ``full_scale`` the grey level of full contrast if
    known (see ``dtype_scale``; floats within [0, 1] have 1). See the module docstring
    for the steps. ``steps``, if given, receives them as images of ``image``'s size (the
    playground's "your photo"): ``"paper_removed"`` (the ink above the fitted paper,
    over the strongest ink), ``"ink"`` (the digit's ink, where the crop is) and
    ``"box"`` (the crop, ``[top, left, bottom, right]``); left out when blank before
    them.
    """
    lo, hi = float(image.min()), float(image.max())
    if not hi > lo:
        return None
    v, s, sigma, sigma_s, lighting = paper_residual(image, polarity, lo, hi)
    contrast = float(s.max())
    if steps is not None and contrast > 0:
        steps["paper_removed"] = _unit(v / contrast)
    if full_scale is None and lo >= 0 and hi <= 1:
        full_scale = 1.0
    span = max(hi - lo, full_scale or 0.0) if sigma > 0 else hi - lo
    weakest = max(MIN_CONTRAST * span, LIGHT_ERR * lighting)
    if not contrast > weakest:
        return None
    mask = s > max(K_MASK * sigma_s, threshold * contrast)
    labels, boxes, area, mass, peak = _components(mask, s, sigma > 0)
    kept, box = digit_components(labels, boxes, area, mass, peak,
                                 max(K_PEAK * sigma_s, weakest))
    if kept is None or box is None:
        return None
    if sigma == 0 and len(kept) == len(boxes):  # clean: the plain rescaling
        ink, crop = _unit(v[box] / contrast), box
    else:
        table = np.zeros(len(boxes) + 1, dtype=bool)
        table[np.asarray(kept) + 1] = True
        ink, (rows, cols) = digit_values(v[box], s[box], labels[box], table, sigma, threshold)
        crop = (slice(box[0].start + rows.start, box[0].start + rows.stop),
                slice(box[1].start + cols.start, box[1].start + cols.stop))
    if steps is not None:
        steps["ink"] = np.zeros(image.shape)
        steps["ink"][crop] = ink
        steps["box"] = [crop[0].start, crop[1].start, crop[0].stop, crop[1].stop]
    return ink


def digit_values(v: FloatArray, s: FloatArray, labels: IntArray, table: NDArray[np.bool_],
                 sigma: float, threshold: float) -> tuple[FloatArray, tuple[slice, slice]]:
    """The digit's ink in [0, 1] from the residual ``v`` (and ``s``) in its box, and
    where that ink lies in the box (rows, columns).

    ``table[labels]`` is True on the kept components. Without noise, the pixels of
    dropped components become paper. With noise, the pixels farther than one pixel from
    the kept components become paper, the rest are soft-thresholded at ``K_SOFT * sigma``,
    and the result is cropped again to the ink above ``threshold``.
    """
    keep = table[labels]
    peak = float(s[keep].max())
    whole = (slice(0, v.shape[0]), slice(0, v.shape[1]))
    if sigma == 0:
        return _unit(np.where(keep | (labels == 0), v, 0.0) / peak), whole
    soft = min(K_SOFT * sigma, peak / 2)
    near = ndimage.binary_dilation(keep, _EIGHT)
    ink = _unit(np.where(near, v - soft, 0.0) / (peak - soft))
    above = ink > threshold
    rows, cols = np.flatnonzero(above.any(axis=1)), np.flatnonzero(above.any(axis=0))
    if rows.size == 0:
        return ink, whole
    crop = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    return ink[crop], crop


def _unit(values: FloatArray) -> FloatArray:
    """``values`` clipped to [0, 1], in place."""
    return np.minimum(np.maximum(values, 0.0, out=values), 1.0, out=values)


# Many images of one shape at once (DigitNormalizer.transform). A clean image (paper of
# one value, known without fitting) takes exactly the arithmetic of ``extract_ink``,
# done on whole stacks of images; any other image is left to ``extract_ink``.

CLEAN, BLANK, OTHER = 0, 1, 2  # the kinds of image found by ``clean_ink``


class CleanInk(NamedTuple):
    """What ``clean_ink`` finds in a stack of ``n`` images of one shape.

    ``kind`` is per image ``CLEAN``, ``BLANK`` (``extract_ink`` gives None) or ``OTHER``
    (not clean: ask ``extract_ink``). For a clean image ``i``, ``extract_ink`` gives
    ``_unit(v[i, top:bottom, left:right] / peak[i])`` with ``top, bottom, left, right =
    box[i]``; other rows of ``v``, ``box`` and ``peak`` mean nothing.
    """

    kind: NDArray[np.int8]
    v: FloatArray
    box: IntArray
    peak: FloatArray
    #: Per image: ``v`` is nowhere negative (its paper is its lowest ink).
    nonnegative: NDArray[np.bool_]


def border_pixels_stack(images: NDArray[Any]) -> NDArray[Any]:
    """``border_pixels`` of each image of an ``(n, h, w)`` stack, as ``(n, m)``."""
    if min(images.shape[1:]) < 3:
        return images.reshape(len(images), -1)
    return np.concatenate([images[:, 0], images[:, -1], images[:, 1:-1, 0],
                           images[:, 1:-1, -1]], axis=1)


def ink_signs(border: NDArray[Any], polarity: Polarity, lo: FloatArray,
              hi: FloatArray) -> FloatArray:
    """``ink_sign`` of each row of ``border`` (``lo``, ``hi``: each image's range)."""
    if polarity != "auto":
        return np.full(len(border), ink_sign(border[:0], polarity, 0.0, 0.0))
    n = border.shape[1]
    middle = np.partition(border, (n - 1) // 2 if n % 2 else (n // 2 - 1, n // 2), axis=1)
    if n % 2:
        paper = middle[:, n // 2].astype(np.float64)
    else:
        paper = (middle[:, n // 2 - 1].astype(np.float64) + middle[:, n // 2]) / 2
    return np.where(paper - lo <= hi - paper, 1.0, -1.0)


def clean_paper(flat: NDArray[Any], border: NDArray[Any],
                sign: FloatArray) -> tuple[FloatArray, NDArray[np.bool_]]:
    """``fit_paper`` of each image (a row of ``flat``, at least ``MIN_FIT_SIDE`` a side)
    whose paper is one value known without fitting (``sigma = 0``): ``(paper, clean)``,
    ``paper`` meaning nothing where ``clean`` is False. ``border``: the border pixels;
    ``sign``: +1 or -1, the ink coordinates."""
    size = flat.shape[1]
    level = border[:, :1]  # the top-left pixel, flat[:, 0]
    clean = (border == level).all(axis=1) & (2 * np.count_nonzero(flat == level, axis=1) > size)
    paper = level[:, 0].astype(np.float64) * sign
    rest = np.flatnonzero(~clean)
    if rest.size and max(1, int(np.sqrt(size / 4096))) == 1:
        grid = flat[rest].astype(np.float64) * sign[rest, np.newaxis]
        low = np.quantile(grid, 0.25, axis=1)
        one = grid.min(axis=1) == low  # a quarter of the image is one lowest value
        paper[rest[one]], clean[rest[one]] = low[one], True
    return paper, clean


class Buffers:
    """Arrays that one thread reuses from one stack of images to the next (fresh large
    arrays cost the system's zeroing of their memory pages, every time)."""

    def __init__(self) -> None:
        self._arrays: dict[str, NDArray[Any]] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: DTypeLike) -> NDArray[Any]:
        """A C-contiguous array of ``shape`` and ``dtype``; what it holds is undefined."""
        size = int(np.prod(shape))
        array = self._arrays.get(name)
        if array is None or array.size < size or array.dtype != np.dtype(dtype):
            array = self._arrays[name] = np.empty(size, dtype)
        return array[:size].reshape(shape)


#: Grey levels whose float64 values are exact and one-to-one (compared as they are).
_EXACT_DTYPES = frozenset(np.dtype(t) for t in (
    np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.float16, np.float32,
    np.float64))


def clean_ink(images: NDArray[Any], polarity: Polarity = "auto", threshold: float = 0.1,
              buffers: Buffers | None = None) -> CleanInk:
    """``extract_ink`` of the clean images of an ``(n, h, w)`` stack of grey levels (any
    real dtype; ``extract_ink`` sees them as float64): see ``CleanInk``.

    Each step is ``extract_ink``'s own arithmetic, on many images at once (comparisons
    and order statistics on the grey levels as they are). The connected components are
    labelled in one call (the images stacked, a row of paper between them); only an
    image with several components goes through ``digit_components`` alone, with those
    labels. ``buffers`` lends the large arrays (``v`` among them).
    """
    n, h, w = images.shape
    buffers = Buffers() if buffers is None else buffers
    if images.dtype not in _EXACT_DTYPES:
        images = images.astype(np.float64)
    flat = images.reshape(n, -1)
    lo, hi = flat.min(axis=1).astype(np.float64), flat.max(axis=1).astype(np.float64)
    border = border_pixels_stack(images)
    sign = ink_signs(border, polarity, lo, hi)
    dark = sign < 0
    lowest = np.where(dark, -hi, lo)  # of the ink: -image where the ink is dark
    if min(h, w) < MIN_FIT_SIDE:
        paper, clean = lowest, np.ones(n, dtype=bool)  # ink.min()
    else:
        paper, clean = clean_paper(flat, border, sign)
    v = buffers.get("v", (n, h, w), np.float64)
    np.copyto(v, images)
    if dark.any():  # ink coordinates: ink is high
        v[dark] *= -1.0
    if (paper != 0).any() or np.signbit(paper).any():  # x - 0.0 is x
        np.subtract(v, paper[:, np.newaxis, np.newaxis], out=v)
    contrast = np.where(dark, -lo, hi) - paper  # v.max(): subtraction is monotonic
    weakest = MIN_CONTRAST * (hi - lo)  # max(..., LIGHT_ERR * lighting): no lighting
    if images.dtype.kind == "f":  # -0.0 in the image: max(-0.0, 0.0) is either zero
        zero = np.flatnonzero((lo <= 0) & (hi >= 0))
        bits = np.dtype(f"i{images.dtype.itemsize}")
        some = (flat if zero.size == n else flat[zero]).view(bits)
        clean[zero[(some == np.iinfo(bits).min).any(axis=1)]] = False
    kind = np.where(clean, CLEAN, OTHER).astype(np.int8)
    kind[~(hi > lo) | (clean & ~(contrast > weakest))] = BLANK
    go = np.flatnonzero(kind == CLEAN)
    box = np.zeros((n, 4), dtype=np.intp)
    found = CleanInk(kind, v, box, contrast, paper == lowest)
    if go.size:
        _crop_boxes(found, go, threshold * contrast[go], weakest, buffers)
    return found


def _crop_boxes(found: CleanInk, go: NDArray[np.intp], cut: FloatArray, weakest: FloatArray,
                buffers: Buffers) -> None:
    """Fill ``found.box`` (and ``found.peak``) of images ``go``, whose ink is above
    ``cut``: the box of the ink, or of the digit's components when there are several."""
    n, h, w = found.v.shape
    v, box, contrast = found.v, found.box, found.peak
    mask = buffers.get("mask", (go.size * h + 1, w), bool)
    mask[-1] = False  # a row of paper, to put between images
    np.greater(v if go.size == n else v[go], cut[:, np.newaxis, np.newaxis],
               out=mask[:-1].reshape(go.size, h, w))
    word = next(k for k in (8, 4, 2, 1) if w % k == 0)  # rows as machine words
    words = mask[:-1].view(f"u{word}").reshape(go.size, h, -1)
    rows = np.any(words, axis=2)
    cols = np.bitwise_or.reduce(words, axis=1).view(bool)
    top, bottom = rows.argmax(axis=1), h - rows[:, ::-1].argmax(axis=1)
    box[go] = np.stack([top, bottom, cols.argmax(axis=1), w - cols[:, ::-1].argmax(axis=1)],
                       axis=1)
    # the rows of ink of each image, then a row of paper, image after image
    height = bottom - top + 1
    start = np.cumsum(height) - height
    source = np.arange(height.sum()) + np.repeat(np.arange(go.size) * h + top - start, height)
    source[start + height - 1] = go.size * h  # the row of paper
    mosaic = mask.take(source, axis=0)
    labels = buffers.get("labels", mosaic.shape, np.int32)
    total = ndimage.label(mosaic, _EIGHT, output=labels)
    # labels run in raster order, image after image: the first pixel of ink starts each
    offset = labels[start, mosaic[start].argmax(axis=1)] - 1
    parts = np.diff(offset, append=total)
    for j in np.flatnonzero(parts > 1):
        i = go[j]
        band = labels[start[j] : start[j] + height[j] - 1]
        local = np.zeros((h, w), dtype=labels.dtype)
        local[top[j] : bottom[j]] = np.where(band > 0, band - offset[j], 0)
        box[i], contrast[i] = _several_parts(v[i], local, int(parts[j]), float(contrast[i]),
                                             float(weakest[i]))


def _several_parts(v: FloatArray, labels: IntArray, n: int, contrast: float,
                   weakest: float) -> tuple[list[int], float]:
    """The box and divisor of a clean image whose ink has ``n`` components (``labels``,
    as ``_components`` labels them), as ``extract_ink`` (and ``digit_values``) find
    them; the pixels of dropped components of ``v`` are made paper, in place."""
    boxes = ndimage.find_objects(labels)
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:]
    mass = np.bincount(flat, v.ravel(), minlength=n + 1)[1:]
    kept, box = digit_components(labels, boxes, area, mass, np.full(n, np.inf), weakest)
    if kept is None or box is None:  # cannot be: every component has an infinite peak
        raise RuntimeError("no component kept in a clean image")
    bounds = [box[0].start, box[0].stop, box[1].start, box[1].stop]
    if len(kept) == len(boxes):
        return bounds, contrast
    table = np.zeros(len(boxes) + 1, dtype=bool)
    table[np.asarray(kept) + 1] = True
    keep = table[labels[box]]
    part = v[box]
    divisor = float(part[keep].max())
    part[~(keep | (labels[box] == 0))] = 0.0
    return bounds, divisor
