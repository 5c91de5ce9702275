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

from skdigitnet._typing import FloatArray, NDArray

from .ink import Polarity, dtype_scale
from .normalizer import _colour_to_grey, _opaque, composite_alpha, normalize_image
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
    steps: dict[str, Any] = {"grey": grey, "paper_removed": np.zeros_like(grey),
                             "ink": np.zeros_like(grey)}
    field = normalize_image(grey, polarity, threshold, 20, 28, deskew, full_scale,
                            printing=False, steps=steps)
    blank = field is None
    return {**steps, "box": steps.get("box"), "blank": blank,
            "image": np.zeros((28, 28)) if blank else field}
