"""DigitNormalizer: MNIST-style 28x28 images from any digit image."""

import importlib.util
import io
import pathlib
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_global_output_transform_pandas,
    check_set_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
)

import skdigitnet
from skdigitnet import DigitMLPClassifier, DigitNormalizer, normalize_images
from skdigitnet._images.ink import BLANK, CLEAN, OTHER, clean_ink, extract_ink, stroke_width
from skdigitnet._images.normalizer import centre_of_mass, normalize_image, resample_matrix

from _checks import parametrize_with_checks


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
    with pytest.warns(UserWarning, match="are blank"):  # the wrong way round: no ink
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


@parametrize_with_checks([DigitNormalizer(),
                          DigitNormalizer(deskew=True, polarity="dark_on_light")])
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
        # the check fits on a DataFrame and transforms an array, and the other way round
        warnings.filterwarnings("ignore", message="X (does not have valid|has) feature names")
        check("DigitNormalizer", DigitNormalizer())


# --- photographs, scans and transparent images ----------------------------------------

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photos():
    """``benchmarks/bench_photos.py``, whose ``make_photo`` photographs any digit image."""
    spec = importlib.util.spec_from_file_location(
        "bench_photos", ROOT / "benchmarks" / "bench_photos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plain_ink(image, threshold=0.1):
    """The ink as the normaliser found it before photographs: min/max rescaling with the
    border median deciding the polarity, cropped to the ink above ``threshold``."""
    lo, hi = image.min(), image.max()
    border = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    paper = np.median(border)
    ink = (image - lo if paper - lo <= hi - paper else hi - image) / (hi - lo)
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    cols = np.flatnonzero((ink > threshold).any(axis=0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def sheet(h=96, w=128, paper=210.0):
    return np.full((h, w), paper)


def ink_rows_cols(field, threshold=0.05):
    field = field.reshape(28, 28)
    return (np.flatnonzero((field > threshold).any(axis=1)),
            np.flatnonzero((field > threshold).any(axis=0)))


def corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def test_clean_images_keep_the_plain_rescaling():
    """Flat noiseless paper: the ink is exactly the plain rescaling, for the 1,797
    bundled 8x8 digits, both polarities of a drawing and a 28x28 digit."""
    for image in load_digits().data.reshape(-1, 8, 8):
        np.testing.assert_array_equal(extract_ink(image), plain_ink(image))
    drawing = bar_image(h=60, w=50, top=10, left=20, height=30, width=4).astype(float)
    big = np.kron(load_digits().data[5].reshape(8, 8), np.ones((4, 4)))  # 32x32
    for image in (drawing, 255 - drawing, big, 16 - big):
        np.testing.assert_array_equal(extract_ink(image), plain_ink(image))


def test_photographed_digits_normalise_like_the_clean_ones(photos):
    """Bundled digits (as 28x28 images) photographed: noise, lighting, specks, JPEG,
    transparent PNG. A network trained on the clean digits reads the photographs almost
    as well as the clean test digits."""
    from sklearn.model_selection import train_test_split

    X, y = skdigitnet.load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=300, stratify=y, random_state=0)
    kinds = list(photos.CONDITIONS)
    shots = [photos.make_photo(d.reshape(28, 28), np.random.default_rng(i),
                               kinds[i % len(kinds)], canvas=(96, 128))
             for i, d in enumerate(X_test)]
    got = normalize_images(shots)
    clean = normalize_images(list(X_test.reshape(-1, 28, 28)))
    r = np.array([corr(a, b) for a, b in zip(got, clean)])
    assert np.median(r) > 0.92 and np.quantile(r, 0.1) > 0.8
    net = DigitMLPClassifier(random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X_train, y_train)
    clean_accuracy = net.score(clean, y_test)
    # 300 test images: one standard error of an accuracy near 0.95 is about 0.013
    assert net.score(got, y_test) >= clean_accuracy - 0.06
    assert clean_accuracy > 0.9


def test_a_speck_far_from_the_digit_does_not_widen_the_crop():
    rng = np.random.default_rng(0)
    clean = sheet()
    clean[30:70, 60:66] = 40  # the digit: a bar
    specked = clean.copy()
    specked[5:8, 5:8] = 30  # a dark speck in a corner
    noisy = np.clip(specked + rng.normal(0, 6, specked.shape), 0, 255)
    ref, got, got_noisy = normalize_images([clean, specked, noisy])
    np.testing.assert_allclose(got, ref, atol=1e-12)
    rows, cols = ink_rows_cols(got_noisy)
    assert rows.size == 20 and cols.size <= 6  # the bar's 20:3 box, no speck
    # the parts of a broken digit and a dotted stroke are kept
    broken = clean.copy()
    broken[74:80, 60:66] = 40  # a second piece of the stroke, 4 pixels below
    for top in range(30, 70, 9):
        broken[top : top + 5, 51:56] = 40  # a dotted stroke beside it, dots as wide as it
    assert extract_ink(broken).shape == (50, 15)
    broken[5:8, 5:8] = 30  # and still no speck
    assert extract_ink(np.clip(broken + rng.normal(0, 6, broken.shape), 0, 255)).shape \
        == (50, 15)


def test_a_lighting_gradient_alone_is_not_ink():
    rng = np.random.default_rng(1)
    ys, xs = np.mgrid[:96:1.0, :128:1.0]
    linear = 60 * xs / 127
    radial = 60 * ((ys - 30) ** 2 + (xs - 90) ** 2) / (66**2 + 90**2)
    digit = sheet()
    digit[24:72, 40:88] -= 10 * np.kron(load_digits().data[2].reshape(8, 8), np.ones((6, 6)))
    ref = normalize_images([digit])[0]
    for light in (linear, radial, linear / 2 + radial / 2):
        blank_sheets = [sheet() - light, np.round(sheet() - light),
                        sheet() - light + rng.normal(0, 4, light.shape)]
        with pytest.warns(UserWarning, match=r"3 of 3 image\(s\) are blank"):
            assert not normalize_images(blank_sheets).any()
        lit = np.clip(digit - light + rng.normal(0, 4, light.shape), 0, 255)
        assert corr(normalize_images([lit])[0], ref) > 0.95


def test_thin_strokes_survive():
    """A one-pixel line, clean and in noise, is the digit (and fills the box)."""
    rng = np.random.default_rng(2)
    image = sheet()
    image[20:80, 50] = 60
    image[79, 50:70] = 60  # an L of one-pixel strokes
    noisy = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
    clean_out, noisy_out = normalize_images([image, noisy], deskew=False)
    for out in (clean_out, noisy_out):
        rows, cols = ink_rows_cols(out, threshold=0.2)
        assert rows.size >= 19 and 6 <= cols.size <= 9
    assert corr(clean_out, noisy_out) > 0.9


@pytest.mark.parametrize("sigma", [0.0, 3.0, 10.0])
def test_blank_and_noise_only_images_are_blank(sigma):
    """Nothing standing clear of the paper and its noise is no digit: flat paper, noise
    alone, noise through JPEG."""
    from PIL import Image

    rng = np.random.default_rng(3)
    noise = np.clip(sheet() + rng.normal(0, sigma, (96, 128)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG", quality=60)
    jpeg = np.asarray(Image.open(buffer))
    with pytest.warns(UserWarning, match=r"2 of 2 image\(s\) are blank \(no ink standing"):
        out = normalize_images([noise, jpeg])
    assert out.shape == (2, 784) and not out.any()
    with pytest.warns(UserWarning, match=r"1 of 1 image\(s\) are blank"):
        assert not DigitNormalizer(image_shape=(96, 128)).fit_transform(
            noise.reshape(1, -1)).any()


def test_transparent_images_read_their_ink():
    """Alpha: transparent pixels are paper whatever their colour."""
    alpha = np.zeros((40, 30))
    alpha[5:25, 8:14] = 1.0
    alpha[25, 8:14] = 128 / 255  # an anti-aliased edge
    ref = normalize_images([alpha])[0]
    black = np.zeros((40, 30, 4), dtype=np.uint8)  # black ink, transparent black around
    black[..., 3] = np.round(255 * alpha)
    white = black.copy()
    white[..., :3] = 255  # white ink on transparent white
    red = black.copy()
    red[..., 0] = 200  # coloured ink
    float_rgba = black / np.float32(255)  # as skdigitnet._images.files.read_image returns it
    grey_alpha = black[..., [0, 3]]  # (h, w, 2)
    got = normalize_images([black, white, red, float_rgba, grey_alpha])
    np.testing.assert_allclose(got, np.tile(ref, (5, 1)), atol=1e-6)
    # an opaque image: alpha changes nothing; a sheet with transparent margins: the
    # margins take the sheet's colour
    rgb = np.repeat((255 - 255 * alpha).astype(np.uint8)[..., None], 3, axis=2)
    opaque = np.dstack([rgb, np.full((40, 30), 255, np.uint8)])
    margins = opaque.copy()
    margins[:, :3, 3] = 0
    got = normalize_images([rgb, opaque, margins])
    np.testing.assert_allclose(got, np.tile(ref, (3, 1)), atol=1e-6)
    with pytest.warns(UserWarning, match=r"1 of 1 image\(s\) are blank"):
        normalize_images([np.zeros((8, 8, 4), dtype=np.uint8)])


def test_image_shape_errors_name_the_accepted_shapes():
    message = ("Each image must be 2-D (h, w) or have 2, 3 or 4 channels (grey+alpha, RGB, "
               "RGBA) on a third axis; got shape (5, 5, 5).")
    with pytest.raises(ValueError, match=re.escape(message)):
        normalize_images([np.zeros((5, 5, 5))])
    with pytest.raises(ValueError, match=re.escape("got shape (2, 2, 2, 2).")):
        normalize_images([np.zeros((2, 2, 2, 2))])
    with pytest.raises(ValueError, match=re.escape(
            "The 'threshold' parameter of DigitNormalizer must be a float in the range "
            "[0.0, 1.0). Got 1.0 instead.")):
        DigitNormalizer(threshold=1.0).fit(load_digits().data[:2])


def test_photo_generator_is_deterministic_and_checks_its_kind(photos):
    digit = load_digits().data[0].reshape(8, 8)
    for kind in photos.CONDITIONS:
        a = photos.make_photo(digit, np.random.default_rng(5), kind)
        b = photos.make_photo(digit, np.random.default_rng(5), kind)
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.uint8 and a.ndim == (3 if kind == "png" else 2)
        assert min(a.shape[:2]) >= 96 and max(a.shape[:2]) <= 400
    with pytest.raises(ValueError, match=re.escape(
            "kind must be one of ['all', 'dot_grid', 'gradient', 'jpeg', 'noise', 'png', ")):
        photos.make_photo(digit, np.random.default_rng(0), "blur")


# --- DigitNormalizer.transform normalises clean images together (``normalize_stack``),
# the others one by one; each image must come out bit for bit as ``normalize_image``
# makes it alone (the per-image reference).

def reference_rows(X, shape, polarity="auto", deskew=True, threshold=0.1, box_size=20,
                   size=28):
    """``DigitNormalizer.transform`` one image at a time through ``normalize_image``."""
    X = np.asarray(X)
    out = np.zeros((len(X), size * size),
                   dtype=np.float64 if X.dtype == np.float64 else np.float32)
    for i, row in enumerate(X):
        field = normalize_image(row.reshape(shape), polarity, threshold, box_size, size,
                                deskew)
        if field is not None:
            out[i] = field.ravel()
    return out


def assert_bit_identical(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    same = (got.view(np.uint8).reshape(len(got), -1)
            == want.view(np.uint8).reshape(len(want), -1)).all(axis=1)
    assert same.all(), f"rows differ: {np.flatnonzero(~same)[:10]}"


def varied_images(side=28, seed=0):
    """uint8 digit images of ``side x side`` (light ink on black) and edge cases: the
    bundled digits enlarged, smoothed and placed anywhere (some touch the border), blank
    images, single pixels, ink on the border, specks and broken strokes, and images that
    are not clean (noise, a lighting gradient, grey paper that is not one value)."""
    rng = np.random.default_rng(seed)
    digits = load_digits().images
    k = max(1, (side - 4) // 8)
    images = []
    for i in range(48):
        big = np.kron(digits[i], np.ones((k, k)))
        big = (big + np.roll(big, 1, 0) + np.roll(big, 1, 1)) / 3
        field = np.zeros((side, side))
        top, left = rng.integers(0, side - len(big) + 1, size=2)
        field[top : top + len(big), left : left + len(big)] = big * (255 / 16)
        images.append(field)
    edge = [np.zeros((side, side)), np.full((side, side), 7.0)]
    for r, c in ((side // 2, side // 3), (0, 0), (side - 1, side - 1), (0, side // 2)):
        one = np.zeros((side, side))
        one[r, c] = 200
        edge.append(one)
    bar = np.zeros((side, side))
    bar[0, :] = 255  # ink all along the border
    edge.append(bar)
    specked = images[0].copy()
    specked[side - 2, 1] = 255  # a speck far from the digit: dropped
    edge.append(specked)
    broken = np.zeros((side, side))
    broken[4 : side - 4, side // 2 - 1 : side // 2 + 1] = 255
    broken[side // 2, :] = 0  # a stroke broken in two: both parts kept
    edge.append(broken)
    dotted = images[1].copy()
    dotted[1:3, 1:3] = 255  # a dot: kept or dropped by its size and distance
    edge.append(dotted)
    noisy = 40 + 0.8 * images[2] + rng.normal(0, 12, (side, side))  # paper with noise
    gradient = images[3] + np.linspace(0, 60, side)[None, :]  # uneven lighting
    grey = np.full((side, side), 128.0)  # grey paper, ink both darker and lighter
    grey[side // 4 : side // 2, side // 3] = 250
    grey[side // 2 :, side // 2] = 10
    edge += [noisy, gradient, grey]
    images = np.clip(np.round(np.array(images + edge)), 0, 255).astype(np.uint8)
    return np.concatenate([images, 255 - images]).reshape(len(images) * 2, -1)


@pytest.mark.parametrize("deskew", [True, False])
@pytest.mark.parametrize("dtype", [np.uint8, np.float64, np.float32])
def test_batched_transform_equals_one_image_at_a_time(deskew, dtype):
    X = varied_images().astype(dtype)
    if dtype != np.uint8:
        X /= 255
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = DigitNormalizer(deskew=deskew).fit_transform(X)
        want = reference_rows(X, (28, 28), deskew=deskew)
    assert_bit_identical(got, want)
    kind = clean_ink(X.reshape(-1, 28, 28)).kind
    n = len(X) // 2  # the first half is light on dark, the second its negative
    assert (kind[:48] == CLEAN).all() and (kind[n : n + 48] == CLEAN).all()
    assert (kind[[48, 49, n + 48, n + 49]] == BLANK).all()
    assert (kind[[n - 3, n - 2, n - 1]] == OTHER).all()  # noise, lighting, grey paper


@pytest.mark.parametrize("params", [
    {"polarity": "light_on_dark"}, {"polarity": "dark_on_light", "deskew": False},
    {"threshold": 0.0}, {"threshold": 0.5, "deskew": False},
    {"box_size": 28, "size": 28},  # the crop may be pasted partly outside the field
    {"box_size": 12, "size": 16},
])
def test_batched_transform_equals_one_image_at_a_time_for_any_parameters(params):
    X = varied_images(seed=1)[::2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = DigitNormalizer(**params).fit_transform(X)
        want = reference_rows(X, (28, 28), **params)
    assert_bit_identical(got, want)


@pytest.mark.parametrize("deskew", [True, False])
def test_batched_transform_of_small_and_odd_shapes(deskew):
    """The bundled 8x8 digits (both polarities, float and uint8), 20x30 images (wide,
    fitted paper) and rows of 10 pixels."""
    digits = load_digits().data
    rng = np.random.default_rng(2)
    wide = np.zeros((12, 20, 30))
    for i, image in enumerate(wide):
        r, c = rng.integers(0, 12), rng.integers(0, 20)
        image[r : r + 8, c : c + 10] = rng.integers(0, 256, (8, 10)) * (i % 3 > 0)
    cases = [(digits[::4], (8, 8)), (16 - digits[1::9], (8, 8)),
             (digits[::5].astype(np.uint8), (8, 8)),
             (wide.reshape(12, -1).astype(np.uint8), (20, 30)),
             (rng.integers(0, 4, (20, 10)).astype(np.float32), (1, 10))]
    for X, shape in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = DigitNormalizer(image_shape=shape, deskew=deskew).fit_transform(X)
            want = reference_rows(X, shape, deskew=deskew)
        assert_bit_identical(got, want)


def test_batched_transform_of_negative_zeros_and_chunks(monkeypatch):
    """-0.0 in a float image sends it the one-by-one way; chunks of a few images give
    the same as one chunk."""
    X = varied_images(seed=3)[:40].astype(np.float64) / 255
    X[3, 0] = -0.0
    X[5] = -X[5]  # every zero is -0.0, the ink negative: dark ink on -0.0 paper
    assert clean_ink(X[:8].reshape(-1, 28, 28)).kind[[3, 5]].tolist() == [OTHER, OTHER]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = reference_rows(X, (28, 28))
        assert_bit_identical(DigitNormalizer().fit_transform(X), want)
        monkeypatch.setattr(skdigitnet._images.normalizer, "CHUNK_PIXELS", 7 * 784)
        assert_bit_identical(DigitNormalizer().fit_transform(X), want)


def test_stroke_width_is_area_over_edge_pixels():
    """The 4-neighbour erosion of ``stroke_width`` is scipy's binary erosion."""
    from scipy import ndimage

    rng = np.random.default_rng(4)
    for shape in ((1, 1), (1, 7), (5, 5), (13, 9)):
        for _ in range(20):
            part = rng.random(shape) < 0.6
            inner = ndimage.binary_erosion(part, border_value=0)
            edges = int(np.count_nonzero(part & ~inner))
            assert stroke_width(part) == 2.0 * np.count_nonzero(part) / max(edges, 1)


def test_deskew_stack_is_deskew_of_each_image():
    """More images than one chunk of ``deskew_stack``; upright, one-row and one-pixel
    fields stay as they are."""
    from skdigitnet._images.geometry import DESKEW_CHUNK, deskew, deskew_stack

    rng = np.random.default_rng(5)
    fields = np.zeros((DESKEW_CHUNK + 40, 28, 28))
    for field in fields:
        r, c = rng.integers(0, 21, size=2)
        field[r : r + 8, c : c + 8] = rng.random((8, 8)) * (rng.random((8, 8)) < 0.5)
        field[r + 4, c + 4] = 1.0
    fields[0] = 0.0
    fields[0, 5] = 1.0  # one row: no second moment
    fields[1] = 0.0
    fields[1, 3, 4] = 1.0
    want = np.array([deskew(field) for field in fields])
    assert_bit_identical(deskew_stack(fields), want)
    np.testing.assert_array_equal(want[:2], fields[:2])
