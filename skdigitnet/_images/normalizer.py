"""DigitNormalizer: any digit image -> an MNIST-style 28x28 image.

MNIST was made this way: each digit was fitted into a 20x20 box keeping its aspect
ratio (anti-aliased), then placed in a 28x28 field so that its centre of mass sits at
the centre. The same steps, per image:

1. ink (``ink.py``): the paper at 0 and the digit's strongest ink at 1, cropped to the
   digit's ink above ``threshold``. On a photographed or scanned sheet this also removes
   uneven lighting, sensor noise, specks away from the digit and JPEG artefacts; on a
   clean image it is the plain rescaling ``(image - paper) / (ink - paper)``;
2. geometry (``geometry.py``): resample the crop so its longer side is ``box_size``
   pixels, paste it into a ``size x size`` field with its centre of mass at the centre,
   and deskew (unless ``deskew=False``): shear rows so the digit's principal axis is
   vertical (image moments), and centre again.

``DigitNormalizer.transform`` works on chunks of images at once (``normalize_stack``, in
threads): the clean images (paper of one value, as in MNIST, the bundled digits and
drawings) take the arithmetic of ``normalize_image`` on whole stacks of images, with the
same results bit for bit; the others go one by one through ``normalize_image``.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real
from typing import Any, ClassVar, cast

import numpy as np
from numpy.typing import DTypeLike
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array

from skdigitnet._docs import DOC_LINK_MODULE, DOC_LINK_TEMPLATE
from skdigitnet._typing import ArrayLike, FloatArray, NDArray
from skdigitnet._validation import (
    BOOLEAN,
    NONE,
    Constraint,
    Interval,
    Options,
    Predicate,
    check_input_features,
    validate_params,
    validate_with_hints,
)
from skdigitnet._warnings import stacklevel

from .blank import dots, heavy_sum, is_dot, is_tiny
from .geometry import (  # noqa: F401
    centre_of_mass,
    deskew_into,
    fit_to_field,
    fit_to_field_stack,
    resample_matrix,
    windows,
)
from .ink import (
    BLANK,
    CLEAN,
    OTHER,
    Buffers,
    Polarity,
    clean_ink,
    dtype_scale,
    extract_ink,
)
from .printed import strip_printing

POLARITIES = ("auto", "light_on_dark", "dark_on_light")
LUMA = np.array([0.299, 0.587, 0.114])


def _is_shape(value: object) -> bool:
    return (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, Integral) and not isinstance(v, bool) and cast(int, v) >= 1
                    for v in value))


def default_image_shape(n_pixels: int) -> tuple[int, int]:
    """Square images when ``n_pixels`` is a perfect square (784 -> 28x28), else one row."""
    side = round(float(np.sqrt(n_pixels)))
    return (side, side) if side * side == n_pixels else (1, n_pixels)


def normalize_image(image: ArrayLike, polarity: Polarity = "auto", threshold: float = 0.1,
                    box_size: int = 20, size: int = 28, deskew_: bool = False,
                    full_scale: float | None = None, printing: bool = True,
                    steps: dict[str, Any] | None = None) -> FloatArray | None:
    """One 2-D image -> a ``size x size`` float64 array in [0, 1], or None if blank.

    ``full_scale``: the grey level of full contrast, by default from ``image``'s dtype.
    ``printing``: take printed rules and grids out first (``printed.py``). ``steps``:
    see ``extract_ink``; its ``"box"`` is taken out again when the ink is too small or
    only a dot.
    """
    image = np.asarray(image)
    if full_scale is None:
        full_scale = dtype_scale(image.dtype)
    grey = image.astype(np.float64, copy=False)
    if printing:
        grey = strip_printing(grey, grey, polarity)
    crop = extract_ink(grey, polarity, threshold, full_scale, steps)
    field = None
    if crop is not None and not is_tiny(*crop.shape):
        field = fit_to_field(crop, box_size, size, deskew_)
        field = None if is_dot(field, box_size) else field
    if field is None and steps is not None:
        steps.pop("box", None)
    return field


#: Pixels per chunk of images normalised together by ``DigitNormalizer.transform``.
CHUNK_PIXELS = 2**20
#: Threads normalising chunks at once in ``DigitNormalizer.transform``.
N_THREADS = min(4, os.cpu_count() or 1)


def normalize_stack(images: NDArray[Any], polarity: Polarity = "auto", threshold: float = 0.1,
                    box_size: int = 20, size: int = 28, deskew_: bool = False,
                    full_scale: float | None = None, out: NDArray[Any] | None = None,
                    buffers: Buffers | None = None) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """``normalize_image`` of each image of an ``(n, h, w)`` stack, bit for bit.

    Returns ``(out, blank)``: ``out`` of shape ``(n, size * size)`` (float64 unless given,
    C-contiguous and all zeros), its rows zeros where ``blank``. Clean images (see
    ``clean_ink``) go through each step together, their crops grouped by shape; the
    others one by one through ``normalize_image``. ``buffers`` lends the large arrays.
    """
    n, _, width = images.shape
    if out is None:
        out = np.zeros((n, size * size))
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    buffers = Buffers() if buffers is None else buffers
    found = clean_ink(images, polarity, threshold, buffers)
    clean = np.flatnonzero(found.kind == CLEAN)
    fields, columns = out, None
    if deskew_:
        fields = buffers.get("fields", (n, size, size), np.float64)
        fields.fill(0.0)
        columns = buffers.get("columns", (n, size), np.float64)
        columns.fill(0.0)
    box = found.box[clean]
    shape = (box[:, 1] - box[:, 0]) * (width + 1) + (box[:, 3] - box[:, 2])
    order = np.argsort(shape, kind="stable")
    for group in np.split(clean[order], np.flatnonzero(np.diff(shape[order])) + 1):
        if group.size == 0:
            continue
        top, bottom, left, right = found.box[group].T
        crops = windows(found.v, bottom[0] - top[0], right[0] - left[0])[group, top, left]
        crops /= found.peak[group][:, np.newaxis, np.newaxis]  # at most 1: the peak
        if not found.nonnegative[group].all():  # _unit(crops)
            np.maximum(crops, 0.0, out=crops)
        fit_to_field_stack(crops, box_size, size, fields, group, columns)
    if columns is not None and clean.size:  # deskew and centre again
        every = clean.size == n
        deskew_into(fields if every else fields[clean], out, clean,
                    columns if every else columns[clean])
    blank = found.kind == BLANK
    if clean.size:  # a dot is not a digit (``blank.py``): tiny crops, heavy round blobs
        top, bottom, left, right = found.box[clean].T
        tiny = is_tiny(bottom - top, right - left)
        sums = out[clean].sum(axis=1, dtype=np.float64)
        heavy = clean[sums >= heavy_sum(box_size) - 1e-6]  # only these can be dots
        dropped = np.concatenate([clean[tiny], heavy[dots(
            out[heavy].reshape(-1, size, size), box_size)]])
        blank[dropped] = True
        out[dropped] = 0.0
    for i in np.flatnonzero(found.kind == OTHER):
        field = normalize_image(images[i], polarity, threshold, box_size, size, deskew_,
                                full_scale)
        if field is None:
            blank[i] = True
        else:
            out[i] = field.ravel()
    return out, blank


def normalize_images(images: Iterable[ArrayLike], *, polarity: Polarity = "auto",
                     threshold: float = 0.1, box_size: int = 20, size: int = 28,
                     deskew: bool = True, dtype: DTypeLike = np.float32) -> NDArray[Any]:
    """Normalise images of any sizes to MNIST style.

    Parameters
    ----------
    images : iterable of array-like of shape (h, w), (h, w, 2), (h, w, 3) or (h, w, 4)
        Grey, grey+alpha, RGB or RGBA images, each of its own size. Colour is turned to
        grey by luminance (0.299 R + 0.587 G + 0.114 B). Transparent pixels are paper,
        whatever their colour (an HTML canvas stores them as black): when the opaque
        pixels cover less than half the image they are the ink, drawn on the opposite
        extreme (white behind dark ink, black behind light ink); otherwise they are a
        sheet whose median grey fills the transparent parts. Alpha is on the colour's
        scale: the dtype's maximum for integers (255 for uint8), 1 for floats up to 1
        (as ``skdigitnet._images.files.read_image`` gives), else 255.
    polarity, threshold, box_size, size, deskew
        As in :class:`DigitNormalizer`.
    dtype : dtype, default=np.float32

    Returns
    -------
    ndarray of shape (n_images, size * size)
        Blank images give rows of zeros, with a warning: no ink standing out of the
        paper and its noise, or only a dot (a pen dot, a tap): ink spanning fewer than 5
        pixels both ways, or, once normalised, a heavy round blob (the 28x28 values sum
        to at least 100, and with A the pixels above 0.5, E those on its edge and L the
        longer side of their bounding box, E**2 / 4A < 2.6 or L / (2A / E) < 2).

    Raises
    ------
    ValueError
        If an image is not of one of the shapes above.
    """
    out, blank = [], 0
    for given in images:
        image = np.asarray(given)
        full_scale = dtype_scale(image.dtype)
        colour = image.ndim == 3 and (image.shape[2] == 3
                                      or (image.shape[2] == 4 and _opaque(image)))
        if colour:  # an opaque RGBA image is RGB
            image = _colour_to_grey(image[..., :3], polarity)
        elif image.ndim == 3 and image.shape[2] in (2, 4):
            image = composite_alpha(image)
        if image.ndim != 2:
            raise ValueError(
                f"Each image must be 2-D (h, w) or have 2, 3 or 4 channels (grey+alpha, "
                f"RGB, RGBA) on a third axis; got shape {image.shape}.")
        image = check_array(image, ensure_2d=True, dtype=np.float64, input_name="image")
        field = normalize_image(image, polarity, threshold, box_size, size, deskew,
                                full_scale, printing=not colour)  # colour: done
        blank += field is None
        out.append(np.zeros(size * size) if field is None else field.ravel())
    _warn_blank(blank, len(out))
    return np.asarray(out, dtype=dtype).reshape(len(out), size * size)


def _colour_to_grey(image: NDArray[Any], polarity: Polarity) -> FloatArray:
    """RGB -> grey by luminance, printed rules and grids taken out in colour first."""
    grey = image @ LUMA
    stripped = strip_printing(image, grey, polarity)
    return grey if stripped is image else stripped @ LUMA


def _alpha_scale(image: NDArray[Any]) -> float:
    """Full opacity: the dtype's maximum for integers, 1 for floats up to 1, else 255."""
    if np.issubdtype(image.dtype, np.integer):
        return float(np.iinfo(image.dtype).max)
    return 1.0 if float(np.max(image, initial=0.0)) <= 1 else 255.0


def _opaque(image: NDArray[Any]) -> bool:
    return bool(np.min(image[..., -1]) >= _alpha_scale(image))


def composite_alpha(image: NDArray[Any]) -> FloatArray:
    """Grey ``(h, w)`` from grey+alpha ``(h, w, 2)`` or RGBA ``(h, w, 4)``.

    Transparent pixels are paper. When the opaque pixels cover less than half the image
    they are the ink, and the paper is the opposite extreme of their mean grey (white
    behind dark ink, black behind light ink); otherwise they are a sheet, and the paper
    is their median grey. Alpha is on the colour's scale: the dtype's maximum for
    integers, 1 for floats up to 1, else 255.
    """
    colour, alpha = image[..., :-1].astype(np.float64), image[..., -1].astype(np.float64)
    grey = colour @ LUMA if colour.shape[-1] == 3 else colour[..., 0]
    full = _alpha_scale(image)
    a = np.clip(alpha / full, 0.0, 1.0)
    if a.min() >= 1:
        return grey
    weight = a.sum()
    if weight < 0.5 * a.size:
        ink_grey = (a * grey).sum() / weight if weight > 0 else 0.0
        paper = 0.0 if ink_grey > full / 2 else full
    else:
        paper = float(np.median(grey[a >= 0.5]))
    return a * grey + (1 - a) * paper


def _warn_blank(blank: int, total: int) -> None:
    if blank:
        warnings.warn(
            f"{blank} of {total} image(s) are blank (no ink standing out of the paper and "
            "its noise, or only a dot); they are returned as all-zero images.", UserWarning,
            stacklevel=stacklevel())


class DigitNormalizer(TransformerMixin, BaseEstimator):
    """Turn digit images of any size and polarity into MNIST-style 28x28 images.

    A stateless transformer: each row of ``X`` is one image of ``image_shape``,
    flattened in C order. Each image is rescaled so the paper is 0 and the strongest ink
    1, cropped to its ink, resampled (anti-aliased) so its longer side fills a
    ``box_size`` box, and pasted into a ``size x size`` field with its centre of mass at
    the centre — the way MNIST itself was made — optionally deskewed.

    Photographs and scans work too. The paper is a smooth surface fitted under the ink,
    so uneven lighting is not ink; the noise is measured on the paper, and ink counts
    only where it stands clear of it; the digit is its heaviest connected stroke with
    the strokes and dots near it, so specks of dirt elsewhere neither widen the crop
    nor appear in the output; what is left of the paper reads 0. An image with nothing
    standing clear of its paper and noise (blank paper, noise alone, a lighting
    gradient alone) is blank, and so is a dot or a tap: ink spanning fewer than 5
    pixels both ways, or, once normalised, a heavy round blob (the 28x28 values sum to
    at least 100, and with A the pixels above 0.5, E those on its edge and L the longer
    side of their bounding box, E**2 / 4A < 2.6 or L / (2A / E) < 2). Clean images
    (MNIST, the bundled digits, drawings) have flat noiseless paper, and for them all
    this reduces to the plain rescaling.

    Parameters
    ----------
    image_shape : (int, int) or None, default=None
        Height and width of the input images. None means square images when the number
        of features is a perfect square (64 -> 8x8, 784 -> 28x28), and otherwise a
        single row of pixels.
    polarity : {'auto', 'light_on_dark', 'dark_on_light'}, default='auto'
        Which value is ink. 'auto' decides per image: the paper is the median of the
        border pixels, so dark ink on light paper and light ink on dark paper both work.
    deskew : bool, default=True
        Shear each image so its principal axis is vertical (from its second moments),
        then centre it again. It makes digits easier to learn: the default network's
        MNIST test accuracy rises by about 1 %.
    threshold : float, default=0.1
        Ink (on the 0..1 scale) above which a pixel counts when cropping, so a faint
        haze at the edges of a scan does not widen the crop. On a noisy image, ink must
        also stand four noise deviations clear of the paper.
    box_size : int, default=20
        The longer side of the digit after resampling.
    size : int, default=28
        Side of the output field.

    Attributes
    ----------
    n_features_in_ : int
        Number of pixels per input image (set by ``fit``).
    image_shape_ : tuple of int
        The input image shape used.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdigitnet import DigitNormalizer
    >>> X = load_digits().data  # 8x8 images, ink 0..16 on dark paper
    >>> X28 = DigitNormalizer().fit_transform(X)
    >>> X28.shape, X28.dtype, float(X28.max())
    ((1797, 784), dtype('float64'), 1.0)
    """

    # The "?" of the notebook HTML repr links to this class's page of the API reference
    _doc_link_module = DOC_LINK_MODULE
    _doc_link_template = DOC_LINK_TEMPLATE

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "image_shape": [Predicate(_is_shape, "a tuple of two ints >= 1"), NONE],
        "polarity": [Options(*POLARITIES)],
        "deskew": [BOOLEAN],
        "threshold": [Interval(Real, 0, 1, closed="left")],
        "box_size": [Interval(Integral, 1, None, closed="left")],
        "size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, image_shape: tuple[int, int] | None = None, polarity: Polarity = "auto",
                 *, deskew: bool = True, threshold: float = 0.1, box_size: int = 20,
                 size: int = 28) -> None:
        self.image_shape = image_shape
        self.polarity = polarity
        self.deskew = deskew
        self.threshold = threshold
        self.box_size = box_size
        self.size = size

    def _shape_for(self, n_features: int) -> tuple[int, int]:
        if self.image_shape is not None:
            h, w = self.image_shape
            if h * w != n_features:
                raise ValueError(
                    f"image_shape={tuple(self.image_shape)} holds {h * w} pixels but X has "
                    f"{n_features} features per row; give the shape of your images.")
            return (h, w)
        return default_image_shape(n_features)

    def _check(self, X: ArrayLike, reset: bool) -> NDArray[Any]:
        validate_params(self, self._parameter_constraints)
        if self.box_size > self.size:
            raise ValueError(f"box_size={self.box_size} does not fit in size={self.size}.")
        return validate_with_hints(self, X, reset=reset, dtype="numeric")

    def fit(self, X: ArrayLike, y: object = None) -> DigitNormalizer:
        """Check ``X`` and record the image shape; nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)
        y : None
            Ignored.

        Returns
        -------
        self : DigitNormalizer
        """
        X = self._check(X, reset=True)
        self.image_shape_ = self._shape_for(X.shape[1])
        return self

    def transform(self, X: ArrayLike) -> FloatArray:
        """Normalise every image (row) of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)

        Returns
        -------
        X_new : ndarray of shape (n_samples, size * size)
            In [0, 1]; float64 for float64 input, float32 otherwise. Blank images become
            rows of zeros, with a warning.
        """
        X = self._check(X, reset=False)
        shape = self._shape_for(X.shape[1])
        dtype = np.float64 if X.dtype == np.float64 else np.float32
        out = np.zeros((X.shape[0], self.size * self.size), dtype=dtype)
        full_scale = dtype_scale(X.dtype)
        step = max(1, CHUNK_PIXELS // X.shape[1])
        local = threading.local()  # each thread's buffers

        def chunk(start: int) -> int:  # normalise rows start:start + step; count blanks
            if not hasattr(local, "buffers"):
                local.buffers = Buffers()
            images = X[start : start + step]
            blank = normalize_stack(
                images.reshape(len(images), *shape), self.polarity, self.threshold,
                self.box_size, self.size, self.deskew, full_scale,
                out=out[start : start + len(images)], buffers=local.buffers)[1]
            return int(np.count_nonzero(blank))

        starts = range(0, X.shape[0], step)
        if len(starts) > 1 and N_THREADS > 1:  # numpy leaves the GIL for most of the work
            with ThreadPoolExecutor(min(N_THREADS, len(starts))) as pool:
                blank = sum(pool.map(chunk, starts))
        else:
            blank = sum(map(chunk, starts))
        _warn_blank(blank, X.shape[0])
        return out

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> NDArray[np.object_]:
        """Pixel names of the output: ``pixel_{row}_{column}``.

        Returns
        -------
        ndarray of str objects, shape (size * size,)
        """
        check_input_features(self, input_features)
        return np.asarray([f"pixel_{r}_{c}" for r in range(self.size) for c in range(self.size)],
                          dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
