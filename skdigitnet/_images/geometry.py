"""MNIST's geometry: a crop of ink fitted into the box, centred by mass, deskewed.

MNIST was made this way: each digit was fitted into a 20x20 box keeping its aspect
ratio (anti-aliased), then placed in a 28x28 field so that its centre of mass sits at
the centre. :func:`fit_to_field` does the same to a crop of ink, and can deskew it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from skdigitnet._typing import FloatArray, NDArray


@functools.lru_cache(maxsize=256)
def resample_matrix(n_in: int, n_out: int) -> FloatArray:
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


def centre_of_mass(ink: FloatArray) -> tuple[float, float]:
    """(row, column) centre of mass of a 2-D ``ink`` array with a positive sum."""
    rows, cols = ink.sum(axis=1), ink.sum(axis=0)
    total = rows.sum()
    return rows @ _arange(len(rows)) / total, cols @ _arange(len(cols)) / total


@functools.lru_cache(maxsize=64)
def _arange(n: int) -> FloatArray:
    """``np.arange(n)`` as float64, cached (read-only)."""
    values = np.arange(n, dtype=np.float64)
    values.flags.writeable = False
    return values


def paste_centred(ink: FloatArray, size: int) -> FloatArray:
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


def deskew(ink: FloatArray) -> FloatArray:
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


def fit_to_field(crop: FloatArray, box_size: int = 20, size: int = 28,
                 deskew_: bool = False) -> FloatArray:
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


# Many images at once (DigitNormalizer.transform): the arithmetic of ``fit_to_field`` on
# stacks of images. Every matrix product is numpy's matmul over a stack, which makes for
# each image the very BLAS call the single-image code makes (gemm, gemv or dot, with the
# same shapes and strides), so each image comes out bit for bit the same.


def _dots(a: FloatArray, b: FloatArray) -> FloatArray:
    """``a[i] @ b[i]`` (or ``a[i] @ b`` for a 1-D ``b``) for each row of the 2-D ``a``,
    with the same dot product (BLAS ddot) as ``@`` of two 1-D arrays."""
    return np.matmul(a[:, np.newaxis, :], b[..., np.newaxis])[:, 0, 0]


def centre_of_mass_stack(ink: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``centre_of_mass`` of each image of an ``(n, h, w)`` stack: rows and columns."""
    rows, cols = ink.sum(axis=2), ink.sum(axis=1)
    total = rows.sum(axis=1)
    return (_dots(rows, _arange(rows.shape[1])) / total,
            _dots(cols, _arange(cols.shape[1])) / total)


def windows(stack: NDArray[Any], h: int, w: int, writeable: bool = False) -> NDArray[Any]:
    """Every ``h x w`` window of each image of a C-contiguous ``(n, H, W)`` stack: a view
    of shape ``(n, H - h + 1, W - w + 1, h, w)``; ``[index, top, left]`` picks blocks."""
    n, height, width = stack.shape
    s0, s1, s2 = stack.strides
    return as_strided(stack, (n, height - h + 1, width - w + 1, h, w), (s0, s1, s2, s1, s2),
                      writeable=writeable)


def _rows(index: NDArray[np.intp]) -> NDArray[np.intp] | slice:
    """``index`` as a slice when it is a run of consecutive rows (cheaper to address)."""
    if index.size and index[-1] - index[0] == index.size - 1 and (np.diff(index) == 1).all():
        return slice(int(index[0]), int(index[-1]) + 1)
    return index


def paste_stack(ink: FloatArray, top: NDArray[np.intp], left: NDArray[np.intp],
                out: NDArray[Any], index: NDArray[np.intp]) -> None:
    """Each image ``ink[k]`` of an ``(n, h, w)`` stack into the zeros of ``out[index[k]]``
    (``out``: a C-contiguous stack of square fields, flattened or not, of any float
    dtype), its top-left corner at ``(top[k], left[k])``; what falls outside the field
    is cut off, as in ``paste_centred``."""
    _, h, w = ink.shape
    size = round(float(np.sqrt(out[0].size)))
    out = out.reshape(-1, size, size)
    if top.min() >= 0 and top.max() + h <= size and left.min() >= 0 and left.max() + w <= size:
        windows(out, h, w, writeable=True)[index, top, left] = ink
        return
    rows = top[:, np.newaxis] + np.arange(h)  # some ink falls outside: cut it off
    cols = left[:, np.newaxis] + np.arange(w)
    at = (index * (size * size))[:, np.newaxis] + rows * size
    at = at[:, :, np.newaxis] + cols[:, np.newaxis, :]
    inside = (((rows >= 0) & (rows < size))[:, :, np.newaxis]
              & ((cols >= 0) & (cols < size))[:, np.newaxis, :])
    out.reshape(-1)[at[inside]] = ink[inside]


def shift_stack(fields: FloatArray, top: NDArray[np.intp], left: NDArray[np.intp],
                out: NDArray[Any], index: NDArray[np.intp]) -> None:
    """``paste_stack`` for whole fields (``(n, size, size)``) moved by a few pixels (most
    of them not at all): the fields moved alike are copied together, as blocks."""
    n, size = fields.shape[:2]
    out = out.reshape(-1, size, size)
    key = (top - top.min()) * (int(left.max() - left.min()) + 1) + (left - left.min())
    order = np.argsort(key, kind="stable")
    for group in np.split(order, np.flatnonzero(np.diff(key[order])) + 1):
        t, lft = int(top[group[0]]), int(left[group[0]])
        r0, r1, c0, c1 = max(t, 0), min(t + size, size), max(lft, 0), min(lft + size, size)
        if r1 > r0 and c1 > c0:
            source = _rows(group) if group.size == n else group
            out[_rows(index[group]), r0:r1, c0:c1] = fields[source, r0 - t : r1 - t,
                                                            c0 - lft : c1 - lft]


def fit_to_field_stack(crops: FloatArray, box_size: int, size: int, out: NDArray[Any],
                       index: NDArray[np.intp], columns: FloatArray | None = None) -> None:
    """``fit_to_field`` (without deskewing) of an ``(n, h, w)`` stack of crops in [0, 1],
    pasted into the zeros of ``out[index]`` (see ``paste_stack``).

    ``columns[index]`` (zeros, if given) receive the column sums of the fields, which
    are those of the resized crops: each is a sum down a column, in order, and the
    paper above and below adds exact zeros. NaN where some ink fell outside the field.
    """
    _, h, w = crops.shape
    scale = box_size / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized = np.matmul(np.matmul(resample_matrix(h, new_h), crops),
                        resample_matrix(w, new_w).T)
    np.minimum(resized, 1.0, out=resized)  # clipped to [0, 1]: nothing is negative
    rows, cols = resized.sum(axis=2), resized.sum(axis=1)  # paste_centred's offsets
    total = rows.sum(axis=1)
    top = np.round((size - 1) / 2 - _dots(rows, _arange(new_h)) / total).astype(np.intp)
    left = np.round((size - 1) / 2 - _dots(cols, _arange(new_w)) / total).astype(np.intp)
    paste_stack(resized, top, left, out, index)
    if columns is not None:
        inside = (top >= 0) & (top + new_h <= size) & (left >= 0) & (left + new_w <= size)
        if inside.all():
            windows(columns[:, np.newaxis, :], 1, new_w, writeable=True)[
                index, 0, left] = cols[:, np.newaxis, :]
        else:
            columns[index] = np.nan
            windows(columns[:, np.newaxis, :], 1, new_w, writeable=True)[
                index[inside], 0, left[inside]] = cols[inside, np.newaxis, :]


#: Images deskewed together (their arrays stay in the processor's cache).
DESKEW_CHUNK = 128


@functools.lru_cache(maxsize=8)
def _deskew_grid(n: int, h: int, w: int) -> tuple[FloatArray, NDArray[np.intp]]:
    """For ``n`` images ``h x w``: the column of each pixel, ``(n * h * w,)`` floats, and
    the flat index of column 0 of its row in the padded stack of ``deskew_stack``."""
    columns = np.tile(_arange(w), n * h)
    start = np.repeat(np.arange(n * h) * (w + 4) + 2, w).reshape(n, h, w)
    columns.flags.writeable = start.flags.writeable = False
    return columns, start


def deskew_stack(ink: FloatArray, out: FloatArray | None = None) -> FloatArray:
    """``deskew`` of each image of a C-contiguous ``(n, h, w)`` stack, into ``out`` (a
    new stack by default)."""
    out = np.empty_like(ink) if out is None else out
    for a in range(0, len(ink), DESKEW_CHUNK):
        _deskew_part(ink[a : a + DESKEW_CHUNK], out[a : a + DESKEW_CHUNK])
    return out


def deskew_into(fields: FloatArray, out: NDArray[Any], index: NDArray[np.intp],
                columns: FloatArray | None = None) -> None:
    """``fit_to_field``'s last steps for a C-contiguous stack of fields ``(n, size,
    size)``: ``deskew``, then ``paste_centred`` where there is ink, into the zeros of
    ``out[index]`` (see ``paste_stack``); a few images at a time, while their arrays are
    in the processor's cache. ``columns``: the column sums of ``fields``, if known (NaN
    where not)."""
    n, size, _ = fields.shape
    upright = np.empty((min(n, DESKEW_CHUNK), size, size))
    middle = (size - 1) / 2
    for a in range(0, n, DESKEW_CHUNK):
        part = upright[: min(DESKEW_CHUNK, n - a)]
        _deskew_part(fields[a : a + DESKEW_CHUNK], part,
                     None if columns is None else columns[a : a + DESKEW_CHUNK])
        rows, cols = part.sum(axis=2), part.sum(axis=1)  # paste_centred's offsets
        total = rows.sum(axis=1)
        inked = total > 0  # ``sum() > 0``: no ink is negative
        rows_, cols_, total_, part_ = rows, cols, total, part
        if not inked.all():
            rows_, cols_, total_, part_ = rows[inked], cols[inked], total[inked], part[inked]
        top = np.round(middle - _dots(rows_, _arange(size)) / total_).astype(np.intp)
        left = np.round(middle - _dots(cols_, _arange(size)) / total_).astype(np.intp)
        shift_stack(part_, top, left, out, index[a : a + DESKEW_CHUNK][inked])


def _deskew_part(ink: FloatArray, out: FloatArray, columns: FloatArray | None = None) -> None:
    n, h, w = ink.shape
    rows = ink.sum(axis=2)
    if columns is None:
        cols = ink.sum(axis=1)
    else:
        cols = columns.copy()
        unknown = np.flatnonzero(np.isnan(cols[:, 0]))
        if unknown.size:
            cols[unknown] = ink[unknown].sum(axis=1)
    total = rows.sum(axis=1)
    cy = _dots(rows, _arange(h)) / total  # centre_of_mass
    cx = _dots(cols, _arange(w)) / total
    dy = _arange(h) - cy[:, np.newaxis]
    mu02 = _dots(dy * dy, rows) / total
    flat = mu02 <= 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = (_dots(np.matmul(dy[:, np.newaxis, :], ink)[:, 0],
                      _arange(w) - cx[:, np.newaxis]) / total / mu02)
    skew[flat] = 0.0  # those images stay as they are
    columns, start = _deskew_grid(max(n, DESKEW_CHUNK), h, w)
    xs = np.repeat(np.multiply(skew[:, np.newaxis], dy).ravel(), w)
    xs += columns[: xs.size]  # where each output pixel reads: x + skew * dy
    col = np.floor(xs)
    xs -= col  # the fraction
    np.clip(col, -2.0, float(w), out=col)
    at = col.astype(np.intp).reshape(n, h, w)
    at += start[:n]
    padded = np.zeros((n, h, w + 4))  # two columns of paper on each side
    padded[:, :, 2 : w + 2] = ink
    padded = padded.reshape(-1)
    left = padded.take(at)
    right = padded[1:].take(at)
    right -= left
    right *= xs.reshape(n, h, w)
    np.add(left, right, out=out)
    out[flat] = ink[flat]
