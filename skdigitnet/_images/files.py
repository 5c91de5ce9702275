"""Reading digit image files (PNG, JPEG, GIF, BMP, TIFF, WebP...) with Pillow.

``read_image(path)`` returns an array that :func:`normalize_images` accepts: grey images
as ``(h, w)``, colour as ``(h, w, 3)``, and images with transparency as ``(h, w, 4)``
(the alpha channel is kept, so ink drawn on a transparent background can be told from
the paper). Values are float32 in [0, 1].
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from skdigitnet._typing import NDArray, PathLike

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["read_image"]

#: Full-scale value of the integer Pillow modes returned as one grey channel.
_GREY_SCALE = {"L": 255, "I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535}
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def read_image(path: PathLike) -> NDArray[np.float32]:
    """Read one image file into a float32 array in [0, 1].

    Phone photos are turned upright by their EXIF orientation tag. Palette images with a
    transparent colour, and grey images with alpha, keep their transparency as an alpha
    channel; other modes (CMYK, YCbCr, ...) become RGB. Multi-frame files give their
    first frame.

    Parameters
    ----------
    path : str or path-like
        The image file.

    Returns
    -------
    image : ndarray of shape (h, w), (h, w, 3) or (h, w, 4), dtype float32
        Grey, RGB or RGBA; ``normalize_images`` turns colour to grey.

    Raises
    ------
    ValueError
        If the file is missing or is not an image Pillow can read; the message names the
        file and fits on one line.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from PIL import Image
    >>> from skdigitnet._images.files import read_image
    >>> path = os.path.join(tempfile.mkdtemp(), "dot.png")
    >>> Image.fromarray(np.full((3, 5), 255, dtype=np.uint8)).save(path)
    >>> image = read_image(path)
    >>> image.shape, image.dtype, float(image.max())
    ((3, 5), dtype('float32'), 1.0)
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    name = os.fspath(path)
    try:
        with Image.open(name) as image:
            return _to_array(ImageOps.exif_transpose(image))
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{name}: is a folder, not an image file") from None
    except UnidentifiedImageError:
        raise ValueError(f"{name}: not an image file that Pillow can read") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"{name}: cannot read the image ({reason})") from None


def _to_array(image: Image) -> NDArray[np.float32]:
    """A loaded Pillow image as float32 in [0, 1]: (h, w), (h, w, 3) or (h, w, 4)."""
    if image.mode == "1":
        image = image.convert("L")
    mode = image.mode
    if mode in _GREY_SCALE:
        return np.asarray(image, dtype=np.float32) / np.float32(_GREY_SCALE[mode])
    if mode in ("I", "F"):  # 32-bit integer (often 16-bit data) or float grey
        return _unit_range(np.asarray(image, dtype=np.float32), 65535 if mode == "I" else 1)
    has_alpha = mode in _ALPHA_MODES or (mode == "P" and "transparency" in image.info)
    wanted = "RGBA" if has_alpha else "RGB"
    if mode != wanted:
        image = image.convert(wanted)
    return np.asarray(image, dtype=np.float32) / np.float32(255)


def _unit_range(grey: NDArray[np.float32], full_scale: float) -> NDArray[np.float32]:
    """Grey values divided by ``full_scale`` when they lie in [0, full_scale], otherwise
    rescaled from their own minimum and maximum to [0, 1]."""
    lo, hi = float(grey.min()), float(grey.max())
    if lo >= 0 and hi <= full_scale:
        return grey / np.float32(full_scale)
    if hi == lo:
        return np.zeros_like(grey)
    return (grey - lo) / np.float32(hi - lo)
