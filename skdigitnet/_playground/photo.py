"""Your photo, step by step: what the normaliser does to an image, as the page shows it.

``POST /api/normalize`` sends a photo (decoded by the browser, EXIF orientation
applied) to :func:`normalize_steps`; this module turns its steps into JSON-ready data:
the 2-D steps resampled (anti-aliased) to at most ``SHOWN_SIDE`` pixels a side, as grey
levels 0-255, and the box in the coordinates of the shown images.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from skdigitnet._images.geometry import resample_matrix
from skdigitnet._images.normalize_steps import normalize_steps
from skdigitnet._typing import FloatArray

#: The longest side of the step images in a reply.
SHOWN_SIDE = 160
#: The 2-D steps of ``normalize_steps`` the page shows, in order.
PICTURES = ("grey", "paper_removed", "ink")


def shown_shape(height: int, width: int, side: int = SHOWN_SIDE) -> tuple[int, int]:
    """The size of an image of ``height x width`` shown with at most ``side`` pixels a
    side (never enlarged)."""
    scale = min(1.0, side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _levels(picture: FloatArray, shape: tuple[int, int]) -> list[int]:
    """``picture`` (2-D, in [0, 1]) resampled to ``shape`` as grey levels 0-255."""
    small = resample_matrix(picture.shape[0], shape[0]) @ picture @ resample_matrix(
        picture.shape[1], shape[1]).T
    return np.rint(255 * np.clip(small, 0.0, 1.0)).astype(int).ravel().tolist()


def photo_steps(image: FloatArray, options: Mapping[str, Any]) -> dict[str, Any]:
    """The steps of the normaliser for ``image`` ((h, w), (h, w, 3) or (h, w, 4) in
    [0, 1]) with the served ``normalize_images`` options, JSON-ready.

    Returns
    -------
    dict
        ``"steps"``: ``"grey"``, ``"paper_removed"``, ``"ink"`` (lists of grey levels
        0-255 of ``"shape"``), ``"box"`` ([top, left, bottom, right] in those pixels, or
        None), ``"image"`` (the 28x28 result, floats in [0, 1]); ``"shape"``,
        ``"input_shape"`` and ``"blank"``.
    """
    keys = ("polarity", "threshold", "deskew")
    steps = normalize_steps(image, **{k: options[k] for k in keys if k in options})
    height, width = steps["grey"].shape
    shape = shown_shape(height, width)
    reply: dict[str, Any] = {name: _levels(steps[name], shape) for name in PICTURES}
    box = steps["box"]
    if box is not None:
        scale = (shape[0] / height, shape[1] / width)
        box = [round(float(v) * scale[i % 2], 2) for i, v in enumerate(box)]
    reply["box"] = box
    reply["image"] = np.asarray(steps["image"], np.float64).ravel().tolist()
    return {"steps": reply, "shape": list(shape), "input_shape": [height, width],
            "blank": bool(steps["blank"])}
