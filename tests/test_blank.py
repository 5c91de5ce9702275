"""A dot or a tap is not a digit (``skdigitnet._images.blank``): it reads as blank."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skdigitnet import DigitNormalizer, normalize_images
from skdigitnet._images.blank import FAT, MIN_SPAN, ROUND, blob_measures, dots, is_dot, is_tiny


def _sheet(ink, paper=225.0, pen=30.0, noise=0.0, seed=0):
    grey = paper - (paper - pen) * ink
    grey += np.random.default_rng(seed).normal(0, noise, ink.shape)
    return np.clip(np.round(grey), 0, 255).astype(np.uint8)


def _dot(radius, shape=(120, 160), centre=(61.3, 77.8), stretch=1.0):
    ys, xs = np.mgrid[: shape[0], : shape[1]]
    d = np.hypot(ys - centre[0], (xs - centre[1]) / stretch)
    return np.clip(radius + 0.5 - d, 0, 1)


def _normalise(images):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = normalize_images(images)
    return out, [str(w.message) for w in caught]


@pytest.mark.parametrize("radius", [0.6, 1.5, 3, 6, 12, 25])
@pytest.mark.parametrize("noise", [0, 3])
def test_pen_dots_and_taps_are_blank(radius, noise):
    out, messages = _normalise([_sheet(_dot(radius), noise=noise)])
    assert not out.any()
    assert messages == [("1 of 1 image(s) are blank (no ink standing out of the paper and "
                         "its noise, or only a dot); they are returned as all-zero images.")]


def test_a_slightly_dragged_tap_and_a_blurred_dot_are_blank():
    dragged = np.maximum(_dot(8), _dot(8, centre=(61.3, 81.8)))  # moved half a pen width
    ys, xs = np.mgrid[:120, :160]
    blurred = np.exp(-((ys - 60.0) ** 2 + (xs - 70.0) ** 2) / (2 * 4.0**2))
    out, _ = _normalise([_sheet(dragged), _sheet(blurred)])
    assert not out.any()


def test_a_speck_alone_is_blank_on_a_large_sheet():
    ink = np.zeros((200, 300))
    ink[100:102, 40:42] = 1.0
    out, _ = _normalise([_sheet(ink, noise=2)])
    assert not out.any()


def test_thin_ones_and_dashes_are_not_dots():
    one, dash = np.zeros((60, 60)), np.zeros((60, 60))
    one[10:50, 29:31] = 1.0  # a thin "1", 2 px wide
    dash[29:31, 10:50] = 1.0
    out, messages = _normalise([_sheet(one), _sheet(dash), _sheet(_dot(10, stretch=3))])
    assert out.sum(axis=1).min() > 0 and messages == []


def test_no_bundled_digit_becomes_blank_one_by_one_or_stacked():
    X = load_digits().data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no blank warning
        stacked = DigitNormalizer().fit_transform(X)
        single = normalize_images(X.reshape(-1, 8, 8), dtype=np.float64)
    assert (stacked.sum(axis=1) > 0).all()
    np.testing.assert_array_equal(stacked, single)


def test_stacked_and_single_agree_on_dots():
    shape = (40, 40)
    images = [_sheet(_dot(r, shape=shape, centre=(20.2, 19.7))) for r in (1, 4, 9)]
    digit = 255 - np.kron(load_digits().images[0] * 15, np.ones((4, 4))).astype(np.uint8)
    images.append(np.pad(digit, 4, constant_values=255))
    images.append(np.pad(digit[4:28, 4:28], 8, constant_values=255))
    X = np.stack([np.asarray(i, np.uint8).ravel() for i in images])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stacked = DigitNormalizer().fit_transform(X)
        single = normalize_images(images)
    np.testing.assert_array_equal(stacked, single)
    assert [bool(r.any()) for r in stacked] == [False, False, False, True, True]


def test_the_measures_on_a_worked_example():
    # a 4x5 block of ink in a 28x28 field whose sum is made heavy elsewhere by faint ink
    field = np.zeros((28, 28))
    field[10:14, 10:15] = 1.0
    area, edge, longer = blob_measures(field)
    # A = 20 pixels; the 6 inner ones (2x3) have all four neighbours inked, E = 14; L = 5
    assert (int(area), int(edge), int(longer)) == (20, 14, 5)
    # E^2/4A = 196/80 = 2.45 < ROUND: round; L/(2A/E) = 5/(40/14) = 1.75 < FAT: fat
    assert edge**2 / (4 * area) < ROUND and longer / (2 * area / edge) < FAT
    assert not is_dot(field)  # sum 20 < 100: not heavy, so not a dot
    field += 0.3  # faint everywhere: sum 20 + 0.3*784 = 255 (values above 1 do not matter)
    assert is_dot(field)
    bar = np.zeros((28, 28))
    bar[4:24, 12:16] = 1.0  # a "1" 4 px thick: E^2/4A = 44^2/320 = 6.05, L/(2A/E) = 3.6
    bar += 0.2
    assert not is_dot(bar)
    assert dots(np.stack([field, bar])).tolist() == [True, False]


def test_tiny_means_both_ways():
    assert is_tiny(MIN_SPAN - 1, MIN_SPAN - 1)
    assert not is_tiny(MIN_SPAN - 1, 20) and not is_tiny(20, 1)
