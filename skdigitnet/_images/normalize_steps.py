"""``normalize_images``'s steps for one image, for the playground's "your photo" view.

Each step is the one ``normalize_images`` takes (``normalizer.py``, ``ink.py``,
``geometry.py``), kept as an image: the grey image after printed rules and grids are
taken out (``printed.py``), the ink over the fitted paper, the digit's ink alone and its
box, and the 28x28 result, equal to ``normalize_images([image])[0]`` (tested), blank
when the ink is a dot (``blank.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from skdigitnet._typing import FloatArray, NDArray

from .blank import is_dot, is_tiny
from .geometry import fit_to_field
from .ink import (
    _EIGHT,
    K_MASK,
    K_PEAK,
    K_SOFT,
    LIGHT_ERR,
    MIN_CONTRAST,
    Polarity,
    _components,
    _unit,
    digit_components,
    dtype_scale,
    paper_residual,
)
from .normalizer import _colour_to_grey, _opaque, composite_alpha
from .printed import strip_printing


def _grey(image: NDArray[Any], polarity: Polarity) -> tuple[FloatArray, float | None]:
    """A 2-D grey image as ``normalize_images`` makes it (printing taken out), and its
    full scale."""
    full_scale = dtype_scale(image.dtype)
    if image.ndim == 3 and (image.shape[2] == 3 or (image.shape[2] == 4 and _opaque(image))):
        return _colour_to_grey(image[..., :3], polarity), full_scale  # printing: done
    if image.ndim == 3 and image.shape[2] in (2, 4):
        image = composite_alpha(image)
    if image.ndim != 2:
        raise ValueError(f"Each image must be 2-D or have 2, 3 or 4 channels; got shape "
                         f"{image.shape}.")
    grey = np.asarray(image, np.float64)
    return strip_printing(grey, grey, polarity), full_scale


def normalize_steps(image: NDArray[Any], *, polarity: Polarity = "auto",
                    threshold: float = 0.1, deskew: bool = True) -> dict[str, Any]:
    """``normalize_images``'s steps for one image (see the module docstring).

    Returns
    -------
    dict
        ``"grey"`` (the image in grey), ``"paper_removed"`` (ink above the fitted paper,
        over the strongest ink), ``"ink"`` (the digit's ink alone, shown even when it is
        only a dot), all 2-D of the image's size in [0, 1] but ``"grey"`` (printed
        rules and grids already taken out); ``"box"`` ([top, left, bottom, right],
        bottom and right excluded, or None); ``"image"`` (28x28, what
        ``normalize_images`` gives) and ``"blank"``.
    """
    grey, full_scale = _grey(np.asarray(image), polarity)
    zeros = np.zeros_like(grey)
    steps: dict[str, Any] = {"grey": grey, "paper_removed": zeros, "ink": zeros,
                             "box": None, "image": np.zeros((28, 28)), "blank": True}
    lo, hi = float(grey.min()), float(grey.max())
    if not hi > lo:
        return steps
    v, s, sigma, sigma_s, lighting = paper_residual(grey, polarity, lo, hi)
    contrast = float(s.max())
    if contrast > 0:
        steps["paper_removed"] = _unit(v / contrast)
    if full_scale is None and lo >= 0 and hi <= 1:
        full_scale = 1.0
    span = max(hi - lo, full_scale or 0.0) if sigma > 0 else hi - lo
    weakest = max(MIN_CONTRAST * span, LIGHT_ERR * lighting)
    if not contrast > weakest:
        return steps
    labels, boxes, area, mass, peak = _components(
        s > max(K_MASK * sigma_s, threshold * contrast), s, sigma > 0)
    kept, box = digit_components(labels, boxes, area, mass, peak,
                                 max(K_PEAK * sigma_s, weakest))
    if kept is None or box is None:
        return steps
    ink, crop = _digit_ink(v, s, labels, kept, box, sigma, threshold,
                           clean=sigma == 0 and len(kept) == len(boxes))
    top, left, bottom, right = crop
    steps["ink"] = ink  # shown even when it is only a dot
    if is_tiny(bottom - top, right - left):
        return steps
    field = fit_to_field(ink[top:bottom, left:right].copy(), 20, 28, deskew)
    if is_dot(field, 20):
        return steps
    return {**steps, "box": crop, "blank": False, "image": field}


def _digit_ink(v: FloatArray, s: FloatArray, labels: NDArray[Any], kept: list[int],
               box: tuple[slice, ...], sigma: float, threshold: float,
               clean: bool) -> tuple[FloatArray, list[int]]:
    """The digit's ink over the whole image and its crop box, as ``_ink.extract_ink``
    and ``_ink.digit_values`` compute them."""
    rows, cols = box
    keep = np.isin(labels, np.asarray(kept) + 1)
    inside = np.zeros(v.shape, bool)
    inside[box] = True
    peak = float(s[keep].max())
    if clean:
        ink = np.where(inside, _unit(v / float(s.max())), 0.0)
    elif sigma == 0:
        ink = np.where(inside, _unit(np.where(keep | (labels == 0), v, 0.0) / peak), 0.0)
    else:
        soft = min(K_SOFT * sigma, peak / 2)
        near = ndimage.binary_dilation(keep[box], _EIGHT)
        ink = np.zeros(v.shape)
        ink[box] = _unit(np.where(near, v[box] - soft, 0.0) / (peak - soft))
        above = ink > threshold
        r, c = np.flatnonzero(above.any(axis=1)), np.flatnonzero(above.any(axis=0))
        if r.size:
            return ink, [int(r[0]), int(c[0]), int(r[-1]) + 1, int(c[-1]) + 1]
    return ink, [rows.start, cols.start, rows.stop, cols.stop]
