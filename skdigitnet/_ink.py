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

from itertools import pairwise

import numpy as np
from scipy import ndimage

MIN_FIT_SIDE = 16  # smaller images are taken to be clean: too little paper to fit
K_MASK, K_PEAK, K_SOFT = 4.0, 8.0, 2.0  # thresholds, in units of the noise sigma
MIN_CONTRAST = 0.05  # weakest digit, as a fraction of the image's range ...
LIGHT_ERR = 0.25  # ... and of the lighting removed (a quadratic may miss this much)
REACH = 0.15  # components this close (times the digit's size) belong to the digit
MIN_DOT = 0.5  # ... if their area is at least this times the squared stroke width
_EIGHT = np.ones((3, 3), dtype=bool)


def border_pixels(image):
    """The pixels on the edge of a 2-D image (all of it when under 3x3)."""
    if min(image.shape) < 3:
        return image.ravel()
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])


def _median(values):
    """``np.median`` of a 1-D array, by sorting (faster for a few hundred values)."""
    ordered = np.sort(values)
    n = len(ordered)
    return float(ordered[n // 2]) if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def ink_sign(border, polarity, lo, hi):
    """+1 when ink is lighter than paper, -1 when darker ('auto': the median of the
    ``border`` pixels is the paper, and ink lies on the farther side of it)."""
    if polarity == "auto":
        paper = _median(border)
        polarity = "light_on_dark" if paper - lo <= hi - paper else "dark_on_light"
    return 1.0 if polarity == "light_on_dark" else -1.0


def lower_sigma(values):
    """Noise of ``values`` from their lower half alone: the root mean square of its
    deviations from the median (for a Gaussian, exactly sigma). Ink, above the paper,
    cannot inflate it; unlike the MAD, it does not collapse when most values are equal
    (JPEG flattens noise into runs of one grey level)."""
    half = np.partition(values, len(values) // 2)[: len(values) // 2 + 1]
    centre = half.max()  # the median (the upper one for an even count)
    return float(np.sqrt(np.mean((half - centre) ** 2)))


def fit_paper(ink, border, n_iter=4):
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


def lower_quarter_by_tile(grid, tiles=4):
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


def _components(mask, strength, noisy):
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


def stroke_width(part):
    """Mean width of the strokes of a boolean image: twice the area over the number of
    edge pixels (a stroke of width w and length l has area w*l and about 2*l edge
    pixels)."""
    inner = ndimage.binary_erosion(part, border_value=0)
    return 2.0 * np.count_nonzero(part) / max(np.count_nonzero(part & ~inner), 1)


def _gap(a, b):
    """Pixels between two boxes (tuples of slices); 0 when they touch or overlap."""
    dy = max(a[0].start - b[0].stop, b[0].start - a[0].stop, 0)
    dx = max(a[1].start - b[1].stop, b[1].start - a[1].stop, 0)
    return max(dy, dx)


def _union(a, b):
    return tuple(slice(min(p.start, q.start), max(p.stop, q.stop)) for p, q in zip(a, b))


def digit_components(labels, boxes, area, mass, peak, min_peak):
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


def paper_residual(image, polarity, lo, hi):
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


def smoothed_noise(v, s, sigma):
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


def dtype_scale(dtype):
    """Full scale of an image's grey levels when its dtype says it: 255 for uint8,
    65535 for uint16, else None."""
    return {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(np.dtype(dtype))


def extract_ink(image, polarity="auto", threshold=0.1, full_scale=None):
    """The digit's ink, cropped to it: a 2-D float array in [0, 1], or None if blank.

    ``image`` is a 2-D float array; ``full_scale`` the grey level of full contrast if
    known (see ``dtype_scale``; floats within [0, 1] have 1). See the module docstring
    for the steps.
    """
    lo, hi = float(image.min()), float(image.max())
    if not hi > lo:
        return None
    v, s, sigma, sigma_s, lighting = paper_residual(image, polarity, lo, hi)
    contrast = float(s.max())
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
    if kept is None:
        return None
    if sigma == 0 and len(kept) == len(boxes):  # clean: the plain rescaling
        return _unit(v[box] / contrast)
    table = np.zeros(len(boxes) + 1, dtype=bool)
    table[np.asarray(kept) + 1] = True
    return digit_values(v[box], s[box], labels[box], table, sigma, threshold)


def digit_values(v, s, labels, table, sigma, threshold):
    """The digit's ink in [0, 1] from the residual ``v`` (and ``s``) in its box.

    ``table[labels]`` is True on the kept components. Without noise, the pixels of
    dropped components become paper. With noise, the pixels farther than one pixel from
    the kept components become paper, the rest are soft-thresholded at ``K_SOFT * sigma``,
    and the result is cropped again to the ink above ``threshold``.
    """
    keep = table[labels]
    peak = float(s[keep].max())
    if sigma == 0:
        return _unit(np.where(keep | (labels == 0), v, 0.0) / peak)
    soft = min(K_SOFT * sigma, peak / 2)
    near = ndimage.binary_dilation(keep, _EIGHT)
    ink = _unit(np.where(near, v - soft, 0.0) / (peak - soft))
    above = ink > threshold
    rows, cols = np.flatnonzero(above.any(axis=1)), np.flatnonzero(above.any(axis=0))
    if rows.size == 0:
        return ink
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _unit(values):
    """``values`` clipped to [0, 1], in place."""
    return np.minimum(np.maximum(values, 0.0, out=values), 1.0, out=values)
