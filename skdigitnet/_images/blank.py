"""A dot or a tap is not a digit: the rule that reads such ink as blank.

An image whose ink is too small or too simple to be a digit is blank, like paper alone:

- *tiny*: the ink (above the crop threshold) spans fewer than ``MIN_SPAN`` (5) pixels
  both ways in the image;
- *a heavy round blob*: once normalised (the digit's longer side filling the 20x20 box),
  the 28x28 values sum to at least ``HEAVY`` (100), and the pixels above 0.5 form a round
  or fat blob: with ``A`` the number of those pixels, ``E`` the number of them on its
  edge (a 4-neighbour at or below 0.5, or outside the field) and ``L`` the longer side of
  their bounding box, ``E**2 / (4 A) < ROUND`` (2.6: a disk gives about 2.5, a stroke
  far more) or ``L / (2 A / E) < FAT`` (2: ``2 A / E`` is the blob's thickness, so it is
  less than twice as long as it is thick).

Digits are strokes: long against their thickness, with a long edge for their area; a pen
dot, a tap on a touch screen or a blot, blown up to the 20x20 box, is a filled disk.
No MNIST digit (train or test) nor bundled digit is blank by this rule
(``benchmarks/bench_blank.py`` prints the smallest measures).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from skdigitnet._typing import NDArray

#: Ink spanning fewer pixels than this both ways is blank.
MIN_SPAN = 5
#: Sum of a normalised 28x28 image (20x20 box) from which a round blob is blank.
HEAVY = 100.0
#: Blank if E**2 / (4 A) is below this (round) ...
ROUND = 2.6
#: ... or L / (2 A / E) below this (fat).
FAT = 2.0


def heavy_sum(box_size: int = 20) -> float:
    """``HEAVY`` for a digit box of ``box_size`` pixels (the sum grows with its area)."""
    return HEAVY * (box_size / 20) ** 2


def is_tiny(height: Any, width: Any) -> Any:
    """Ink spanning fewer than ``MIN_SPAN`` pixels both ways (ints or int arrays)."""
    return np.logical_and(np.less(height, MIN_SPAN), np.less(width, MIN_SPAN))


def blob_measures(fields: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """``(A, E, L)`` of normalised images ``(..., h, w)``: pixels above 0.5, those on its
    edge, and the longer side of their bounding box (0 when there are none). Computed in
    float32, so a float64 field and its float32 copy give the same measures."""
    ink: NDArray[np.bool_] = np.asarray(np.asarray(fields, dtype=np.float32) > 0.5)
    area = np.count_nonzero(ink, axis=(-2, -1))
    pad = [(0, 0)] * (ink.ndim - 2) + [(1, 1), (1, 1)]
    p = np.pad(ink, pad)
    inner = (p[..., :-2, 1:-1] & p[..., 2:, 1:-1] & p[..., 1:-1, :-2] & p[..., 1:-1, 2:])
    edge = np.count_nonzero(ink & ~inner, axis=(-2, -1))
    longer = np.maximum(_extent(np.asarray(ink.any(axis=-1))),
                        _extent(np.asarray(ink.any(axis=-2))))
    return area, edge, longer


def _extent(present: NDArray[np.bool_]) -> NDArray[Any]:
    """From the first to the last True along the last axis, inclusive (0 if none)."""
    n = present.shape[-1]
    first = np.argmax(present, axis=-1)
    last = n - 1 - np.argmax(present[..., ::-1], axis=-1)
    return np.where(present.any(axis=-1), last - first + 1, 0)


def dots(fields: NDArray[Any], box_size: int = 20) -> NDArray[np.bool_]:
    """Which normalised images ``(..., h, w)`` are heavy round blobs (see the module
    docstring)."""
    fields = np.asarray(fields)
    heavy = fields.sum(axis=(-2, -1), dtype=np.float64) >= heavy_sum(box_size)
    area, edge, longer = blob_measures(fields)
    ok = heavy & (area > 0) & (edge > 0)
    a, e = np.maximum(area, 1), np.maximum(edge, 1)
    return np.asarray(ok & ((e * e / (4 * a) < ROUND) | (longer * e / (2 * a) < FAT)))


def is_dot(field: NDArray[Any], box_size: int = 20) -> bool:
    """A normalised image (2-D) that is a heavy round blob (see the module docstring)."""
    return bool(dots(field, box_size))
