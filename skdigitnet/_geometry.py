"""MNIST's geometry: a crop of ink fitted into the box, centred by mass, deskewed.

MNIST was made this way: each digit was fitted into a 20x20 box keeping its aspect
ratio (anti-aliased), then placed in a 28x28 field so that its centre of mass sits at
the centre. :func:`fit_to_field` does the same to a crop of ink, and can deskew it.
"""

import functools

import numpy as np


@functools.lru_cache(maxsize=256)
def resample_matrix(n_in, n_out):
    """Matrix (n_out, n_in) that resamples a line of ``n_in`` pixels to ``n_out``.

    Each output pixel averages the input under a triangle filter centred on it, as wide
    as one output pixel measured in input pixels (at least one input pixel), so
    enlarging interpolates linearly and shrinking averages: anti-aliased both ways. Rows
    sum to one, so intensities are preserved.
    """
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale - 0.5  # output centres in input coordinates
    offsets = np.arange(n_in)[np.newaxis, :] - centres[:, np.newaxis]
    weights = np.clip(1.0 - np.abs(offsets) / support, 0.0, None)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights


def centre_of_mass(ink):
    """(row, column) centre of mass of a 2-D ``ink`` array with a positive sum."""
    rows, cols = ink.sum(axis=1), ink.sum(axis=0)
    total = rows.sum()
    return rows @ _arange(len(rows)) / total, cols @ _arange(len(cols)) / total


@functools.lru_cache(maxsize=64)
def _arange(n):
    """``np.arange(n)`` as float64, cached (read-only)."""
    values = np.arange(n, dtype=np.float64)
    values.flags.writeable = False
    return values


def paste_centred(ink, size):
    """A ``size x size`` field with ``ink`` pasted so its centre of mass is central
    (to the nearest pixel); ink that would fall outside the field is cut off."""
    field = np.zeros((size, size))
    r, c = centre_of_mass(ink)
    top = round((size - 1) / 2 - r)
    left = round((size - 1) / 2 - c)
    h, w = ink.shape
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + h, size), min(left + w, size)
    if r1 > r0 and c1 > c0:
        field[r0:r1, c0:c1] = ink[r0 - top : r1 - top, c0 - left : c1 - left]
    return field


def deskew(ink):
    """Shear rows so the ink's principal axis is vertical (second image moments).

    Row ``y`` is read at ``x + skew * (y - cy)`` with ``skew = mu11 / mu02``, with linear
    interpolation between pixels and paper beyond the edges.
    """
    h, w = ink.shape
    row_sums = ink.sum(axis=1)
    total = row_sums.sum()
    cy, cx = centre_of_mass(ink)
    dy = _arange(h) - cy
    mu02 = (dy * dy) @ row_sums / total
    if mu02 <= 1e-12:
        return ink
    skew = dy @ ink @ (_arange(w) - cx) / total / mu02
    xs = _arange(w)[np.newaxis, :] + skew * dy[:, np.newaxis]  # where each output reads
    x0 = np.floor(xs)
    frac = xs - x0
    padded = np.zeros((h, w + 4))  # two columns of paper on each side of the ink
    padded[:, 2 : w + 2] = ink
    col = np.minimum(np.maximum(x0, -2.0), float(w)).astype(np.intp)
    col += (w + 4) * np.arange(h)[:, np.newaxis] + 2  # flat index of column x0 of each row
    left, right = padded.take(col), padded.take(col + 1)
    return left + frac * (right - left)


def fit_to_field(crop, box_size=20, size=28, deskew_=False):
    """A crop of ink (2-D, in [0, 1]) -> a ``size x size`` float64 field in [0, 1].

    The crop is resampled so its longer side is ``box_size`` pixels (a triangle filter
    as wide as the scale factor, so shrinking averages instead of aliasing), pasted with
    its centre of mass at the centre, and, with ``deskew_``, deskewed and centred again.
    """
    h, w = crop.shape
    scale = box_size / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized = resample_matrix(h, new_h) @ crop @ resample_matrix(w, new_w).T
    field = paste_centred(np.minimum(np.maximum(resized, 0.0, out=resized), 1.0,
                                     out=resized), size)
    if deskew_:
        field = deskew(field)
        if field.sum() > 0:
            field = paste_centred(field, size)
    return field
