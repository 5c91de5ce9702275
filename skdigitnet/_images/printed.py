"""Paper that is not ink: printed rules, grids and margins taken out of a photo.

Notebook paper is printed with thin, straight lines of one colour running across the
whole sheet (ruled paper, squared paper, a margin line). They are dark against the
paper, so without this step the normaliser would take them for ink. For each direction
(lines across, then lines down):

1. darkness: the darkest channel of each pixel (a blue or red rule is dark in one of
   them, pen ink in all) over the paper's level, one minus that;
2. thin dark structure: the darkness minus its grey opening along the other direction
   (``OPEN`` pixels), so only structures thinner than that remain; those standing four
   noise deviations clear of the paper are marked;
3. the lines: at each angle up to ``MAX_ANGLE`` degrees, the marks are counted along
   each (sheared) row; printing runs along the sheet, so at the right angle a row
   of a printed line is covered over at least ``MIN_COVER`` of its length (ink over it
   counts), while a digit's strokes cover a part only. The angle with the most such
   coverage wins; its covered rows, grouped, are the lines;
4. the lines' own colour: across each line, in quarter-pixel steps, the ratio of each
   pixel to the paper under it (the grey closing over ``CLOSING`` pixels across the
   lines, which fills thin dark lines with the paper beside them), channel by channel,
   its median along the lines. Whether a line is light enough to be printing is judged
   against the lighter of its two sides (``SIDE`` pixels away): a line whose centre
   keeps less than ``LIGHTEST_LINE`` of the paper's light is as dark as pen ink, a
   stroke (a "1" down a tight crop), not printing, and stays; in a lattice of three or
   more lines, one a little darker than the others (``LATTICE_SPREAD``) is printing;
5. every pixel under a printed line is divided by that profile: the paper under the
   line becomes paper again, while ink (far darker than the line) stays ink, so
   strokes crossing a rule stay whole.

It runs only for dark ink on light paper, on images at least ``MIN_SIDE`` pixels a side
whose paper is not flat and noiseless (clean images skip it and are unchanged).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from skdigitnet._typing import FloatArray, NDArray

from .ink import border_pixels, clean_paper, ink_sign

LUMA = np.array([0.299, 0.587, 0.114])

#: Smaller images are left alone (a 28x28 MNIST digit has no printing).
MIN_SIDE = 48
#: Steepest line searched for, in degrees from the horizontal (or the vertical).
MAX_ANGLE = 8.0
#: Length of the opening across the lines: thicker structures are not lines.
OPEN = 7
#: Least share of its row that a printed line covers.
MIN_COVER = 0.5
#: Half-width of the band around a line's centre that is corrected, in pixels.
HALF = 3
#: The sides of a line are this many pixels from its centre.
SIDE = 5
#: A line keeping less light than this at its centre is ink, not printing ...
LIGHTEST_LINE = 0.55
#: ... unless it is one of a lattice of lines (three or more, their median level at least
#: ``LIGHTEST_LINE``) and within ``LATTICE_SPREAD`` of that median, down to ``DARKEST_LINE``.
LATTICE_SPREAD = 0.15
DARKEST_LINE = 0.45
#: The paper under a line: the grey closing of this many pixels across the lines.
CLOSING = 5


def remove_printing(image: FloatArray) -> FloatArray:
    """``image`` (``(h, w)`` or ``(h, w, c)``, dark ink on light paper, any scale) with
    its printed lines divided out; ``image`` itself when none are found."""
    out = image
    for axis in (0, 1):
        # (lines down: the lines across of the transposed image, made contiguous, which
        # every step after reads several times)
        view = out if axis == 0 else np.ascontiguousarray(np.swapaxes(out, 0, 1))
        darkest = view if view.ndim == 2 else view.min(axis=2)
        found = find_lines(darkest)
        if found is not None:
            erased = erase_lines(view, darkest, *found)
            if erased is not None:
                out = erased if axis == 0 else np.ascontiguousarray(np.swapaxes(erased, 0, 1))
    return out


def _darkness(darkest: FloatArray) -> FloatArray | None:
    """One minus the reflectance over the paper's level (the 90th percentile)."""
    paper = float(np.quantile(darkest[::3, ::3], 0.9))
    if not paper > 0:
        return None
    return 1.0 - darkest / paper


def find_lines(darkest: FloatArray) -> tuple[float, FloatArray] | None:
    """Printed lines running across ``darkest`` (2-D): ``(slope, centres)``, a line
    being the pixels where ``y - slope * x`` is near one of ``centres``; None if none."""
    h, w = darkest.shape
    dark = _darkness(darkest)
    if dark is None:
        return None
    thin = dark - ndimage.grey_opening(dark, size=(OPEN, 1))
    spread = 1.4826 * float(np.median(np.abs(thin[::2, ::2] - np.median(thin[::2, ::2]))))
    ys, xs = np.nonzero(thin > max(4 * spread, 0.04))
    if ys.size < w * MIN_COVER:
        return None
    gy, gx = np.mgrid[0:h, 0:w:2]
    offset = int(np.ceil(w * np.tan(np.radians(MAX_ANGLE + 1)))) + 2
    n = h + 2 * offset

    def cover(slope: float) -> FloatArray:
        marks = np.bincount(np.rint(ys - xs * slope).astype(np.intp) + offset, minlength=n)
        length = 2 * np.bincount(np.rint(gy - gx * slope).astype(np.intp).ravel() + offset,
                                 minlength=n)
        both = marks[:-1] + marks[1:]  # a line may fall across two rows
        share = np.minimum(both / np.maximum(length[:-1], 1), 1.0)
        share[length[:-1] < w / 2] = 0.0  # corners: too short a row to tell
        return share

    def score(angle: float) -> float:  # sharpness of the marks' profile
        marks = np.bincount(np.rint(ys - xs * np.tan(angle)).astype(np.intp) + offset)
        return float(np.dot(marks, marks))

    best = 0.0
    for step, reach in ((1.0, MAX_ANGLE), (0.25, 0.75), (0.05, 0.2)):
        angles = best + np.radians(np.arange(-reach, reach + step / 2, step))
        best = max(np.clip(angles, -np.radians(MAX_ANGLE), np.radians(MAX_ANGLE)), key=score)
    best = float(np.tan(best))
    share = cover(best)
    on = share >= MIN_COVER
    if not on.any():
        return None
    labels, count = ndimage.label(on)
    index = np.arange(len(share))
    centres = np.asarray(ndimage.mean(index + 0.5, labels, np.arange(1, count + 1)))
    return best, centres - offset


def erase_lines(view: FloatArray, darkest: FloatArray, slope: float,
                centres: FloatArray) -> FloatArray | None:
    """``view`` with the lines divided out (see the module docstring), or None when
    none of them is light enough to be printing."""
    colour = view if view.ndim == 3 else view[:, :, np.newaxis]
    luma = colour[..., 0] if colour.shape[2] == 1 else colour[..., :3] @ LUMA
    h, w = darkest.shape
    ys, xs = np.mgrid[0:h, 0:w]
    u = ys - xs * slope
    k = np.clip(np.searchsorted(centres, u), 1, len(centres)) - 1
    nearer = np.clip(k + 1, 0, len(centres) - 1)
    pick = np.where(np.abs(u - centres[nearer]) < np.abs(u - centres[k]), nearer, k)
    o = u - centres[pick]
    grey = luma / np.maximum(np.maximum(luma[np.clip(ys - SIDE, 0, h - 1), xs],
                                        luma[np.clip(ys + SIDE, 0, h - 1), xs]), 1e-9)
    for _ in range(3):  # each line's centre and the common slope: by their darkness
        weight = np.where((np.abs(o) <= HALF - 0.5) & (grey >= DARKEST_LINE),
                          np.clip(1 - grey, 0, 0.5), 0.0)  # ink does not move a line
        total = np.bincount(pick.ravel(), weight.ravel(), len(centres))
        moved = np.bincount(pick.ravel(), (weight * o).ravel(), len(centres))
        centres = centres + np.where(total > 0, moved / np.maximum(total, 1e-12), 0.0)
        o = u - centres[pick]
        x = xs - float((weight * xs).sum() / max(float(weight.sum()), 1e-12))
        tilt = float((weight * o * x).sum() / max(float((weight * x * x).sum()), 1e-12))
        slope += tilt
        u = ys - xs * slope
        o = u - centres[pick]
    band = np.abs(o) <= HALF + 0.5
    centre = band & (np.abs(o) <= 0.75)
    level = _medians(grey[centre], pick[centre], len(centres))  # each line's; 0 if none
    cut = LIGHTEST_LINE
    if len(centres) >= 3 and np.median(level) >= LIGHTEST_LINE:
        cut = max(DARKEST_LINE, min(cut, float(np.median(level)) - LATTICE_SPREAD))
    light = level >= cut
    band &= light[pick]
    if not band.any():
        return None
    bins = np.rint(o[band] * 4).astype(np.intp) + 4 * HALF + 2
    paper = ndimage.grey_closing(colour, size=(CLOSING, 1, 1))  # thin dark lines filled
    values = colour[band] / np.maximum(paper[band], 1e-9)
    profile = _medians(values, bins, 8 * HALF + 5)
    profile[np.bincount(bins, minlength=len(profile)) == 0] = 1.0  # no pixel that far out
    profile = np.clip(profile, 0.05, 1.0)
    profile[np.all(profile > 0.97, axis=1)] = 1.0
    out = colour.copy()
    out[band] = colour[band] / profile[bins]
    top = np.max(colour, axis=(0, 1))
    np.minimum(out, top, out=out)
    return out if view.ndim == 3 else out[:, :, 0]


def _medians(values: FloatArray, groups: NDArray[Any], n: int) -> FloatArray:
    """The median of the ``values`` (or of the rows of ``values``) in each group ``0 ..
    n - 1`` (``groups``: each value's group), 0 for a group with none: each group's
    values taken together once, by a stable sort, rather than picked out of all of them
    for each group."""
    order = np.argsort(groups, kind="stable")
    ends = np.cumsum(np.bincount(groups, minlength=n))
    medians = np.zeros((n, *values.shape[1:]))
    for group in range(n):
        start = ends[group - 1] if group else 0
        if ends[group] > start:
            medians[group] = np.median(values[order[start: ends[group]]], axis=0)
    return medians


def strip_printing(image: NDArray[Any], grey: FloatArray, polarity: str) -> NDArray[Any]:
    """``remove_printing`` of ``image`` (grey or colour; ``grey`` its grey levels) when it
    may hold printing: at least ``MIN_SIDE`` a side, dark ink on light paper, and paper
    that is not flat and noiseless (as ``_ink.clean_paper`` sees it). Else ``image``."""
    if min(grey.shape) < MIN_SIDE or polarity == "light_on_dark":
        return image
    lo, hi = float(grey.min()), float(grey.max())
    border = border_pixels(grey)
    sign = ink_sign(border, polarity, lo, hi)  # type: ignore[arg-type]
    if sign > 0:  # light ink on dark paper
        return image
    flat = grey.reshape(1, -1)
    if clean_paper(flat, border[np.newaxis], np.array([sign]))[1][0]:
        return image
    return remove_printing(np.asarray(image, dtype=np.float64))
