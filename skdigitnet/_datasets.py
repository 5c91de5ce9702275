"""Digit data: MNIST's IDX files.

IDX layout: a big-endian magic number ``0x00000800 | (type << 8) | ndim`` (0x08 is
unsigned byte, so images are 0x00000803 and labels 0x00000801), one big-endian uint32 per
dimension, then the data in C order.
"""

import gzip
import os
from pathlib import Path

import numpy as np

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path):
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


def find_idx(directory, stem):
    """The path of ``stem`` or ``stem.gz`` in ``directory``, or None."""
    for name in (stem + ".gz", stem):
        candidate = Path(directory) / name
        if candidate.is_file():
            return candidate
    return None


def read_mnist_directory(directory):
    """The four MNIST arrays from a folder of IDX files.

    Returns
    -------
    dict with 'train_images' (60000, 28, 28) uint8, 'train_labels' (60000,) uint8,
    'test_images' (10000, 28, 28) uint8 and 'test_labels' (10000,) uint8.
    """
    out = {}
    for key, stem in MNIST_FILES.items():
        path = find_idx(directory, stem)
        if path is None:
            raise FileNotFoundError(
                f"{stem}(.gz) is not in {os.fspath(directory)}; put the four MNIST IDX "
                f"files there ({', '.join(MNIST_FILES.values())}, each raw or .gz)."
            )
        out[key] = read_idx(path)
    return out
