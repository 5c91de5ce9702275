"""Digit data: the bundled digits as 28x28 images, and MNIST (IDX files or OpenML).

IDX layout: a big-endian magic number ``0x00000800 | (type << 8) | ndim`` (0x08 is
unsigned byte, so images are 0x00000803 and labels 0x00000801), one big-endian uint32 per
dimension, then the data in C order.
"""

from __future__ import annotations

import functools
import gzip
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import fetch_openml
from sklearn.utils import Bunch

from ._typing import NDArray, PathLike

_IDX_TYPES: dict[int, Any] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4",
                              0x0D: ">f4", 0x0E: ">f8"}

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path: PathLike) -> NDArray[Any]:
    """Read one IDX file (gzip-compressed or raw) into an ndarray of its shape.

    Raises
    ------
    ValueError
        If the file is not a well-formed IDX file (bad magic number or size).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file: its magic number is {raw[:4].hex()}.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(shape) != ndim or len(raw) != expected:
        raise ValueError(
            f"{path} is truncated or padded: its header announces shape {shape} "
            f"({expected} bytes with the header) but the file holds {len(raw)} bytes."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="), copy=True)


def find_idx(directory: PathLike, stem: str) -> Path | None:
    """The path of ``stem`` or ``stem.gz`` in ``directory``, or None."""
    for name in (stem + ".gz", stem):
        candidate = Path(directory) / name
        if candidate.is_file():
            return candidate
    return None


_PARTS = {"train": ("train_images", "train_labels"), "test": ("test_images", "test_labels")}


def read_mnist_directory(directory: PathLike,
                         subsets: Iterable[str] = ("train", "test")) -> dict[str, NDArray[Any]]:
    """MNIST arrays from a folder of IDX files, reading only the files of ``subsets``.

    Each file is read once per process: later calls get a copy of the cached array
    (the cache key includes the file's size and modification time, so a replaced file
    is read again).

    Returns
    -------
    dict with, per subset asked for, 'train_images' (60000, 28, 28) uint8 and
    'train_labels' (60000,) uint8, or 'test_images' (10000, 28, 28) uint8 and
    'test_labels' (10000,) uint8.
    """
    out = {}
    for key in (k for subset in subsets for k in _PARTS[subset]):
        stem = MNIST_FILES[key]
        path = find_idx(directory, stem)
        if path is None:
            raise FileNotFoundError(
                f"{stem}(.gz) is not in {os.fspath(directory)}; put the four MNIST IDX "
                f"files there ({', '.join(MNIST_FILES.values())}, each raw or .gz)."
            )
        stat = path.stat()
        out[key] = _read_idx_cached(path.resolve(), stat.st_size, stat.st_mtime_ns).copy()
    return out


@functools.lru_cache(maxsize=4)
def _read_idx_cached(path: Path, size: int, mtime_ns: int) -> NDArray[Any]:
    """``read_idx(path)``, kept for the process (size and mtime make the key fresh)."""
    array = read_idx(path)
    array.flags.writeable = False
    return array


def _pixel_names(side: int = 28) -> list[str]:
    return [f"pixel_{r}_{c}" for r in range(side) for c in range(side)]


def _bunch(data: Any, target: Any, descr: str, as_frame: bool,
           return_X_y: bool) -> Bunch | tuple[Any, Any]:
    """A scikit-learn style Bunch (or ``(X, y)``) of flat 28x28 images and labels."""
    names = _pixel_names()
    if as_frame:
        import pandas as pd
        frame = pd.DataFrame(data, columns=names)
        frame["digit"] = target
        data, target = frame[names], frame["digit"]
    if return_X_y:
        return data, target
    images = np.asarray(data).reshape(-1, 28, 28)
    return Bunch(data=data, target=target, images=images, feature_names=names,
                 target_names=np.arange(10), frame=frame if as_frame else None, DESCR=descr)


def load_digits(*, return_X_y: bool = False, as_frame: bool = False,
                deskew: bool = True) -> Bunch | tuple[Any, Any]:
    """scikit-learn's bundled 8x8 digits as MNIST-style 28x28 images (offline).

    The 1,797 images of ``sklearn.datasets.load_digits`` (ink 0..16 on dark paper) go
    through :class:`DigitNormalizer`, so a network for 28x28 images, such as the seed's
    784-16-16-10, can learn from them and be tried on MNIST or on your own drawings.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        ``data`` as a pandas DataFrame (columns ``pixel_0_0`` .. ``pixel_27_27``) and
        ``target`` as a Series named 'digit'.
    deskew : bool, default=True
        Deskew the images too, as :class:`DigitNormalizer` does by default.

    Returns
    -------
    data : Bunch or tuple
        A Bunch with ``data`` (1797, 784) float32 in [0, 1], ``target`` (1797,) int,
        ``images`` (1797, 28, 28), ``feature_names``, ``target_names``, ``frame`` and
        ``DESCR``; with ``return_X_y=True``, the tuple ``(data, target)``.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    from ._images.normalizer import DigitNormalizer
    raw = sklearn_digits()
    norm = DigitNormalizer(image_shape=(8, 8), polarity="light_on_dark", deskew=deskew)
    data = norm.fit_transform(raw.data.astype(np.float32))
    descr = ("scikit-learn's 8x8 digits (1,797 images, 10 classes), normalised to "
             "MNIST-style 28x28 images by skdigitnet.DigitNormalizer.")
    return _bunch(data, raw.target, descr, as_frame, return_X_y)


def load_mnist(data_home: PathLike | None = None, *, subset: str = "train",
               return_X_y: bool = False, as_frame: bool = False) -> Bunch | tuple[Any, Any]:
    """The MNIST digits (60,000 training and 10,000 test images of 28x28 pixels).

    Looks for the four IDX files (``train-images-idx3-ubyte`` and the rest, each raw or
    ``.gz``) in ``data_home``, else in the folder named by the ``SKDIGITNET_DATA``
    environment variable; with neither, fetches ``mnist_784`` with scikit-learn's
    ``fetch_openml`` into scikit-learn's data cache. Without a network and without the
    files, the error says where to put them.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding the IDX files.
    subset : {'train', 'test', 'all'}, default='train'
        The standard split: the first 60,000 images are 'train', the last 10,000 'test'.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        As in :func:`load_digits`.

    Returns
    -------
    data : Bunch or tuple
        A Bunch with ``data`` (n, 784) uint8 (ink 0..255 on dark paper), ``target``
        (n,) int, ``images`` (n, 28, 28), ``feature_names``, ``target_names``,
        ``frame`` and ``DESCR``; with ``return_X_y=True``, the tuple
        ``(data, target)``.
    """
    if subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test' or 'all'; got {subset!r}.")
    folder = data_home if data_home is not None else os.environ.get("SKDIGITNET_DATA")
    if folder is not None:
        chosen = ["train", "test"] if subset == "all" else [subset]
        arrays = read_mnist_directory(folder, chosen)
        data = np.concatenate([arrays[_PARTS[s][0]].reshape(-1, 784) for s in chosen])
        target = np.concatenate([arrays[_PARTS[s][1]] for s in chosen]).astype(np.int64)
        source = f"IDX files in {os.fspath(folder)}"
    else:
        data, target = _fetch_mnist_784()
        data, target = {"train": (data[:60000], target[:60000]),
                        "test": (data[60000:], target[60000:]), "all": (data, target)}[subset]
        source = "OpenML's mnist_784"
    descr = f"MNIST handwritten digits ({subset}: {len(target):,} images), from {source}."
    return _bunch(data, target, descr, as_frame, return_X_y)


def _fetch_mnist_784() -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    try:
        X, y = fetch_openml("mnist_784", version=1, return_X_y=True, as_frame=False,
                            parser="auto")
    except Exception as exc:  # no network, a proxy, a server error: all say the same
        raise OSError(
            "MNIST is not on this machine and could not be fetched from OpenML "
            f"({type(exc).__name__}: {exc}). Put the four IDX files "
            f"({', '.join(MNIST_FILES.values())}, each raw or .gz) in a folder and pass "
            "load_mnist(data_home=that_folder), or set the SKDIGITNET_DATA environment "
            "variable to it."
        ) from exc
    return np.asarray(X, dtype=np.uint8), np.asarray(y).astype(np.int64)
