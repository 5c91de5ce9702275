"""DigitNormalizer: any digit image -> an MNIST-style 28x28 image.

MNIST was made this way: each digit was fitted into a 20x20 box keeping its aspect
ratio (anti-aliased), then placed in a 28x28 field so that its centre of mass sits at
the centre. The same steps, per image:

1. ink: rescale to [0, 1] with the paper at 0 (the paper is the more common value at
   the border, or as ``polarity`` says);
2. crop to the pixels with ink above ``threshold``;
3. resample the crop so its longer side is ``box_size`` pixels (a triangle filter as
   wide as the scale factor, so shrinking averages instead of aliasing);
4. paste it into a ``size x size`` field with its centre of mass at the centre;
5. deskew (unless ``deskew=False``): shear rows so the digit's principal axis is
   vertical (image moments), and centre again.
"""

import functools
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array

from ._validation import (
    BOOLEAN, NONE, Interval, Options, Predicate, check_input_features, validate_params,
    validate_with_hints,
)

POLARITIES = ("auto", "light_on_dark", "dark_on_light")


def _is_shape(value):
    return (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1
                    for v in value))


def default_image_shape(n_pixels):
    """Square images when ``n_pixels`` is a perfect square (784 -> 28x28), else one row."""
    side = int(round(np.sqrt(n_pixels)))
    return (side, side) if side * side == n_pixels else (1, n_pixels)


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


def to_ink(image, polarity="auto"):
    """The image rescaled to [0, 1] with paper at 0 and the strongest ink at 1.

    ``polarity='auto'`` takes the paper to be the median of the border pixels (the
    median of the whole image for images under 3x3). Returns None for a blank image
    (one value everywhere).
    """
    lo, hi = float(image.min()), float(image.max())
    if not hi > lo:
        return None
    if polarity == "auto":
        border = image if min(image.shape) < 3 else np.concatenate(
            [image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
        paper = float(np.median(border))
        polarity = "light_on_dark" if paper - lo <= hi - paper else "dark_on_light"
    ink = (image - lo) if polarity == "light_on_dark" else (hi - image)
    return ink / (hi - lo)


def centre_of_mass(ink):
    """(row, column) centre of mass of a 2-D ``ink`` array with a positive sum."""
    total = ink.sum()
    rows = ink.sum(axis=1) @ np.arange(ink.shape[0]) / total
    cols = ink.sum(axis=0) @ np.arange(ink.shape[1]) / total
    return rows, cols


def paste_centred(ink, size):
    """A ``size x size`` field with ``ink`` pasted so its centre of mass is central
    (to the nearest pixel); ink that would fall outside the field is cut off."""
    field = np.zeros((size, size))
    r, c = centre_of_mass(ink)
    top = int(round((size - 1) / 2 - r))
    left = int(round((size - 1) / 2 - c))
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
    total = ink.sum()
    cy, cx = centre_of_mass(ink)
    dy = np.arange(h) - cy
    dx = np.arange(w) - cx
    mu02 = (dy * dy) @ ink.sum(axis=1) / total
    if mu02 <= 1e-12:
        return ink
    skew = dy @ ink @ dx / total / mu02
    xs = np.arange(w)[np.newaxis, :] + skew * dy[:, np.newaxis]  # where each output reads
    x0 = np.floor(xs).astype(int)
    frac = xs - x0
    padded = np.pad(ink, ((0, 0), (1, 2)))  # paper on both sides
    rows = np.arange(h)[:, np.newaxis]
    left = padded[rows, np.clip(x0 + 1, 0, w + 2)]
    right = padded[rows, np.clip(x0 + 2, 0, w + 2)]
    return (1 - frac) * left + frac * right


def normalize_image(image, polarity="auto", threshold=0.1, box_size=20, size=28,
                    deskew_=False):
    """One 2-D image -> a ``size x size`` float64 array in [0, 1], or None if blank."""
    ink = to_ink(np.asarray(image, dtype=np.float64), polarity)
    if ink is None:
        return None
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    cols = np.flatnonzero((ink > threshold).any(axis=0))
    if rows.size == 0:
        return None
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = box_size / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized = resample_matrix(h, new_h) @ crop @ resample_matrix(w, new_w).T
    field = paste_centred(np.clip(resized, 0.0, 1.0), size)
    if deskew_:
        field = deskew(field)
        if field.sum() > 0:
            field = paste_centred(field, size)
    return field


def normalize_images(images, *, polarity="auto", threshold=0.1, box_size=20, size=28,
                     deskew=True, dtype=np.float32):
    """Normalise images of any sizes to MNIST style.

    Parameters
    ----------
    images : iterable of array-like of shape (h, w) or (h, w, 3 or 4)
        Greyscale or RGB(A) images, each of its own size. Colour is turned to grey by
        luminance (0.299 R + 0.587 G + 0.114 B); alpha is ignored.
    polarity, threshold, box_size, size, deskew
        As in :class:`DigitNormalizer`.
    dtype : dtype, default=np.float32

    Returns
    -------
    ndarray of shape (n_images, size * size)
        Blank images give rows of zeros (with a warning).
    """
    out, blank = [], 0
    for image in images:
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[2] in (3, 4):
            image = image[..., :3] @ np.array([0.299, 0.587, 0.114])
        if image.ndim != 2:
            raise ValueError(
                f"Each image must be 2-D (h, w) or colour (h, w, 3 or 4); got shape "
                f"{image.shape}.")
        image = check_array(image, ensure_2d=True, dtype=np.float64, input_name="image")
        field = normalize_image(image, polarity, threshold, box_size, size, deskew)
        blank += field is None
        out.append(np.zeros(size * size) if field is None else field.ravel())
    _warn_blank(blank, len(out))
    return np.asarray(out, dtype=dtype).reshape(len(out), size * size)


def _warn_blank(blank, total):
    if blank:
        warnings.warn(
            f"{blank} of {total} image(s) are blank (no ink above the threshold); they are "
            "returned as all-zero images.", UserWarning)


class DigitNormalizer(TransformerMixin, BaseEstimator):
    """Turn digit images of any size and polarity into MNIST-style 28x28 images.

    A stateless transformer: each row of ``X`` is one image of ``image_shape``,
    flattened in C order. Each image is rescaled so the paper is 0 and the strongest ink
    1, cropped to its ink, resampled (anti-aliased) so its longer side fills a
    ``box_size`` box, and pasted into a ``size x size`` field with its centre of mass at
    the centre — the way MNIST itself was made — optionally deskewed.

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
        Ink (on the 0..1 scale) above which a pixel counts when cropping; fainter
        specks at the edges of a scan do not widen the crop.
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

    _parameter_constraints = {
        "image_shape": [Predicate(_is_shape, "a tuple of two ints >= 1"), NONE],
        "polarity": [Options(*POLARITIES)],
        "deskew": [BOOLEAN],
        "threshold": [Interval(Real, 0, 1, closed="left")],
        "box_size": [Interval(Integral, 1, None, closed="left")],
        "size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, image_shape=None, polarity="auto", *, deskew=True, threshold=0.1,
                 box_size=20, size=28):
        self.image_shape = image_shape
        self.polarity = polarity
        self.deskew = deskew
        self.threshold = threshold
        self.box_size = box_size
        self.size = size

    def _shape_for(self, n_features):
        if self.image_shape is not None:
            h, w = self.image_shape
            if h * w != n_features:
                raise ValueError(
                    f"image_shape={tuple(self.image_shape)} holds {h * w} pixels but X has "
                    f"{n_features} features per row; give the shape of your images.")
            return (h, w)
        return default_image_shape(n_features)

    def _check(self, X, reset):
        validate_params(self, self._parameter_constraints)
        if self.box_size > self.size:
            raise ValueError(f"box_size={self.box_size} does not fit in size={self.size}.")
        return validate_with_hints(self, X, reset=reset, dtype="numeric")

    def fit(self, X, y=None):
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

    def transform(self, X):
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
        blank = 0
        for i, row in enumerate(X):
            field = normalize_image(row.reshape(shape), self.polarity, self.threshold,
                                    self.box_size, self.size, self.deskew)
            if field is None:
                blank += 1
            else:
                out[i] = field.ravel()
        _warn_blank(blank, X.shape[0])
        return out

    def get_feature_names_out(self, input_features=None):
        """Pixel names of the output: ``pixel_{row}_{column}``.

        Returns
        -------
        ndarray of str objects, shape (size * size,)
        """
        check_input_features(self, input_features)
        return np.asarray([f"pixel_{r}_{c}" for r in range(self.size) for c in range(self.size)],
                          dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
