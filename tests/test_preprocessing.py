"""DigitNormalizer: MNIST-style 28x28 images from any digit image."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency, check_global_output_transform_pandas,
    check_set_output_transform_pandas, check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas, parametrize_with_checks,
)

from skdigitnet import DigitMLPClassifier, DigitNormalizer, normalize_images
from skdigitnet._preprocessing import centre_of_mass, resample_matrix


def bar_image(h=40, w=30, top=5, left=8, height=20, width=6, ink=200, paper=30):
    """A dark-paper image with a light rectangle of ink."""
    img = np.full((h, w), paper, dtype=np.uint8)
    img[top : top + height, left : left + width] = ink
    return img


def ink_box(field, threshold=0.05):
    rows = np.flatnonzero((field > threshold).any(axis=1))
    cols = np.flatnonzero((field > threshold).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_fits_box_keeps_aspect_and_centres_mass():
    img = bar_image(height=20, width=6)
    out = DigitNormalizer(image_shape=(40, 30)).fit_transform(img.reshape(1, -1))
    field = out.reshape(28, 28)
    assert out.dtype == np.float32 and field.min() >= 0 and field.max() == pytest.approx(1)
    h, w = ink_box(field, threshold=0.5)
    assert h == 20 and w == 6  # the longer side fills the 20-pixel box; 20:6 is kept
    r, c = centre_of_mass(field)
    assert abs(r - 13.5) <= 0.5 and abs(c - 13.5) <= 0.5


def test_small_image_is_enlarged_and_wide_image_keeps_ratio():
    img = bar_image(h=10, w=12, top=2, left=1, height=3, width=10)  # wide: 3 x 10
    field = DigitNormalizer(image_shape=(10, 12)).fit_transform(img.reshape(1, -1))[0]
    h, w = ink_box(field.reshape(28, 28), threshold=0.5)
    assert w == 20 and h == 6


@pytest.mark.parametrize("polarity", ["auto", "dark_on_light"])
def test_dark_ink_on_light_paper_gives_the_same_image(polarity):
    light_on_dark = bar_image(ink=250, paper=5)
    dark_on_light = 255 - light_on_dark
    ref = DigitNormalizer(image_shape=(40, 30)).fit_transform(light_on_dark.reshape(1, -1))
    got = DigitNormalizer(image_shape=(40, 30), polarity=polarity).fit_transform(
        dark_on_light.reshape(1, -1))
    np.testing.assert_allclose(got, ref, atol=1e-6)
    wrong = DigitNormalizer(image_shape=(40, 30), polarity="light_on_dark").fit_transform(
        dark_on_light.reshape(1, -1))
    assert not np.allclose(wrong, ref)


def test_shrinking_is_anti_aliased():
    """A fine checkerboard shrunk 4x averages to grey instead of aliasing to black/white."""
    A = resample_matrix(80, 20)
    np.testing.assert_allclose(A.sum(axis=1), 1)
    checker = (np.indices((80, 80)).sum(axis=0) % 2).astype(float)
    small = A @ checker @ A.T
    assert np.ptp(small[2:-2, 2:-2]) < 0.05 and small.mean() == pytest.approx(0.5, abs=0.02)
    # enlarging interpolates: a step becomes a ramp
    ramp = resample_matrix(2, 8) @ np.array([0.0, 1.0])
    assert np.all(np.diff(ramp) >= 0) and 0 < ramp[3] < 1


def test_blank_images_give_zeros_and_a_warning():
    X = np.vstack([np.zeros(64), np.full(64, 7.0), load_digits().data[0]])
    with pytest.warns(UserWarning, match=r"2 of 3 image\(s\) are blank"):
        out = DigitNormalizer().fit_transform(X)
    assert np.all(out[:2] == 0) and np.isfinite(out).all() and out[2].max() > 0


def test_deskew_makes_a_slanted_bar_upright():
    img = np.zeros((40, 40))
    for y in range(8, 32):  # a bar leaning right by 0.5 px per row
        x = 14 + int(0.5 * (y - 8))
        img[y, x : x + 4] = 1.0
    plain = DigitNormalizer(image_shape=(40, 40), deskew=False).fit_transform(img.reshape(1, -1))
    upright = DigitNormalizer(image_shape=(40, 40), deskew=True).fit_transform(
        img.reshape(1, -1))

    def skew(field):
        f = field.reshape(28, 28)
        cy, cx = centre_of_mass(f)
        ys, xs = np.mgrid[:28, :28]
        return ((ys - cy) * (xs - cx) * f).sum() / ((ys - cy) ** 2 * f).sum()
    assert abs(skew(plain)) > 0.3 and abs(skew(upright)) < 0.05


def test_dtypes_and_shapes():
    X = load_digits().data[:5]
    assert DigitNormalizer().fit_transform(X).dtype == np.float64
    assert DigitNormalizer().fit_transform(X.astype(np.float32)).dtype == np.float32
    assert DigitNormalizer().fit_transform(X.astype(np.uint8)).dtype == np.float32
    assert DigitNormalizer(size=16, box_size=12).fit_transform(X).shape == (5, 256)
    with pytest.raises(ValueError, match=r"image_shape=\(7, 7\) holds 49 pixels but X has 64"):
        DigitNormalizer(image_shape=(7, 7)).fit(X)
    with pytest.raises(ValueError, match="box_size=30 does not fit in size=28"):
        DigitNormalizer(box_size=30).fit(X)
    with pytest.raises(ValueError, match="The 'polarity' parameter of DigitNormalizer must be"):
        DigitNormalizer(polarity="white").fit(X)


def test_pandas_output_and_pipeline():
    digits = load_digits(as_frame=True)
    norm = DigitNormalizer().set_output(transform="pandas")
    out = norm.fit_transform(digits.data)
    assert isinstance(out, pd.DataFrame) and out.shape == (1797, 784)
    assert out.columns[0] == "pixel_0_0" and out.columns[-1] == "pixel_27_27"
    pipe = make_pipeline(DigitNormalizer(), DigitMLPClassifier(max_iter=30, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(digits.data[:1200], digits.target[:1200])
    assert pipe.score(digits.data[1200:], digits.target[1200:]) > 0.85


def test_normalize_images_of_any_size_and_colour():
    small = bar_image(h=12, w=9, top=1, left=3, height=10, width=3)
    big = np.kron(small, np.ones((5, 5), dtype=np.uint8))  # the same digit, 5x larger
    rgb = np.repeat((255 - big)[..., None], 3, axis=2)  # dark ink on white, in colour
    out = normalize_images([small, big, rgb])
    assert out.shape == (3, 784) and out.dtype == np.float32
    np.testing.assert_allclose(out[1], out[2], atol=1e-6)
    assert np.abs(out[0] - out[1]).mean() < 0.05  # resolution hardly matters
    with pytest.raises(ValueError, match="Each image must be 2-D"):
        normalize_images([np.zeros((2, 2, 2, 2))])


def test_stateless_transform_without_fit():
    X = load_digits().data[:3]
    np.testing.assert_array_equal(DigitNormalizer().transform(X),
                                  DigitNormalizer().fit(X).transform(X))


@parametrize_with_checks([DigitNormalizer(), DigitNormalizer(deskew=True, polarity="dark_on_light")])
def test_sklearn_compatible_transformer(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*are blank")
        check(estimator)


@pytest.mark.parametrize("check", [
    check_set_output_transform_pandas, check_global_output_transform_pandas,
    check_transformer_get_feature_names_out, check_transformer_get_feature_names_out_pandas,
    check_dataframe_column_names_consistency,
], ids=lambda c: c.__name__)
def test_checks_outside_check_estimator(check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*are blank")
        check("DigitNormalizer", DigitNormalizer())
