"""Datasets: bundled digits as 28x28 images; MNIST from small IDX files the tests write."""

import gzip
import struct

import numpy as np
import pandas as pd
import pytest

import skdigitnet._datasets as datasets
from skdigitnet import load_digits, load_mnist
from skdigitnet._datasets import read_idx


def write_idx(path, array, compress):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(payload)


@pytest.fixture
def mnist_dir(tmp_path, rng):
    """A tiny MNIST: 5 training and 3 test images, half the files compressed."""
    arrays = {
        "train-images-idx3-ubyte": rng.randint(0, 256, (5, 28, 28)),
        "train-labels-idx1-ubyte": np.array([5, 0, 4, 1, 9]),
        "t10k-images-idx3-ubyte": rng.randint(0, 256, (3, 28, 28)),
        "t10k-labels-idx1-ubyte": np.array([7, 2, 1]),
    }
    for i, (name, array) in enumerate(arrays.items()):
        compress = i % 2 == 0
        write_idx(tmp_path / (name + (".gz" if compress else "")), array, compress)
    return tmp_path, arrays


def test_read_idx_roundtrip_and_errors(tmp_path, rng):
    images = rng.randint(0, 256, (4, 3, 2)).astype(np.uint8)
    write_idx(tmp_path / "a.gz", images, True)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), images)
    (tmp_path / "bad").write_bytes(b"\x12\x34\x56\x78rest")
    with pytest.raises(ValueError, match="is not an IDX file: its magic number is 12345678"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", images, False)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    with pytest.raises(ValueError, match=r"truncated or padded: its header announces shape "
                                         r"\(4, 3, 2\) \(40 bytes with the header\) but the "
                                         r"file holds 37 bytes"):
        read_idx(tmp_path / "short")


@pytest.mark.parametrize("subset, n", [("train", 5), ("test", 3), ("all", 8)])
def test_load_mnist_from_a_folder(mnist_dir, subset, n):
    folder, arrays = mnist_dir
    bunch = load_mnist(folder, subset=subset)
    assert bunch.data.shape == (n, 784) and bunch.data.dtype == np.uint8
    assert bunch.images.shape == (n, 28, 28)
    expected = {"train": [5, 0, 4, 1, 9], "test": [7, 2, 1], "all": [5, 0, 4, 1, 9, 7, 2, 1]}
    np.testing.assert_array_equal(bunch.target, expected[subset])
    first = arrays["train-images-idx3-ubyte" if subset != "test" else "t10k-images-idx3-ubyte"]
    np.testing.assert_array_equal(bunch.images[0], first[0])
    assert bunch.feature_names[29] == "pixel_1_1"


def test_load_mnist_reads_only_the_subset_asked_for_and_once(mnist_dir, monkeypatch):
    folder, arrays = mnist_dir
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        for path in folder.glob(name + "*"):
            path.unlink()  # without the training files, the test set still loads
    datasets._read_idx_cached.cache_clear()
    reads = []
    monkeypatch.setattr(datasets, "read_idx", lambda path: reads.append(path.name) or
                        read_idx(path))
    X, _ = load_mnist(folder, subset="test", return_X_y=True)
    assert sorted(reads) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte"]
    X[0, 0] = 255 - X[0, 0]  # the caller's copy: the cache is not touched
    X2, _ = load_mnist(folder, subset="test", return_X_y=True)
    assert len(reads) == 2  # read once per process
    np.testing.assert_array_equal(X2, arrays["t10k-images-idx3-ubyte"].reshape(3, 784))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.array([1, 1, 1, 1]), False)
    assert list(load_mnist(folder, subset="test", return_X_y=True)[1]) == [1, 1, 1, 1]
    assert len(reads) == 3  # a replaced file (new size and time) is read again
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(folder, subset="all")


def test_load_mnist_from_the_environment_and_as_frame(mnist_dir, monkeypatch):
    folder, _ = mnist_dir
    monkeypatch.setenv("SKDIGITNET_DATA", str(folder))
    X, y = load_mnist(subset="test", return_X_y=True, as_frame=True)
    assert isinstance(X, pd.DataFrame) and X.shape == (3, 784) and list(y) == [7, 2, 1]
    assert y.name == "digit" and X.columns[-1] == "pixel_27_27"


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte\(.gz\) is not in"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match="subset must be 'train', 'test' or 'all'"):
        load_mnist(tmp_path, subset="validation")


def test_offline_without_files_explains_the_fix(monkeypatch):
    monkeypatch.delenv("SKDIGITNET_DATA", raising=False)

    def no_network(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(datasets, "fetch_openml", no_network)
    with pytest.raises(OSError, match=r"could not be fetched from OpenML .*Put the four IDX "
                                      r"files .* SKDIGITNET_DATA"):
        load_mnist()


def test_fetch_path_converts_and_splits(monkeypatch):
    monkeypatch.delenv("SKDIGITNET_DATA", raising=False)
    X = np.arange(70000 * 784, dtype=np.float64).reshape(70000, 784) % 256
    y = np.array([str(i % 10) for i in range(70000)], dtype=object)
    monkeypatch.setattr(datasets, "fetch_openml", lambda *a, **k: (X, y))
    bunch = load_mnist(subset="test")
    assert bunch.data.dtype == np.uint8 and bunch.data.shape == (10000, 784)
    assert bunch.target[0] == 60000 % 10 and bunch.target.dtype == np.int64


def test_bundled_digits_as_28x28_images():
    bunch = load_digits()
    assert bunch.data.shape == (1797, 784) and bunch.data.dtype == np.float32
    assert bunch.data.min() == 0 and bunch.data.max() == 1
    assert list(bunch.target[:3]) == [0, 1, 2]
    # every image fills its 20x20 box and sits at the centre of the field
    for image in bunch.images[:50]:
        rows = np.flatnonzero((image > 0.1).any(axis=1))
        cols = np.flatnonzero((image > 0.1).any(axis=0))
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (19, 20, 21)
    X, y = load_digits(return_X_y=True, as_frame=True)
    assert isinstance(X, pd.DataFrame) and X.shape == (1797, 784) and y.name == "digit"
