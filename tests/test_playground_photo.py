"""Your photo: the normaliser's steps (``normalize_steps``) and ``POST /api/normalize``."""

import numpy as np
import pytest

from skdigitnet import load_pretrained, normalize_images, serve
from skdigitnet._images.normalize_steps import normalize_steps
from skdigitnet._playground.photo import SHOWN_SIDE, photo_steps, shown_shape

from _playground_client import JSON, api, assert_refused, body, drawn


def on_ruled_paper(index=3):
    """``photo(index)`` on notebook paper: blue rules every 14 px and a red margin, RGB."""
    grey = photo(index, seed=4, shape=(160, 130)) / 255
    rows, cols = np.mgrid[0:160, 0:130]
    blue, red = 1 - np.array([0.55, 0.7, 0.95]), 1 - np.array([0.95, 0.45, 0.5])
    rule = np.clip(1.2 - np.abs((rows + 3) % 14 - 7), 0, 1)[..., None] * blue
    margin = np.clip(1.2 - np.abs(cols - 18), 0, 1)[..., None] * red
    rgb = grey[..., None] * (1 - np.maximum(rule, margin))
    return np.clip(np.rint(255 * rgb), 0, 255).astype(int)


def photo(index=3, seed=0, shape=(150, 120)):
    """Bundled digit ``index`` photographed: dark ink on paper lit unevenly, sensor
    noise and a speck, as grey values 0-255 (ints)."""
    from sklearn.datasets import load_digits
    rng = np.random.default_rng(seed)
    ink = np.kron(load_digits().images[index] / 16, np.ones((8, 8)))
    sheet = np.zeros(shape)
    top, left = (shape[0] - 64) // 2, (shape[1] - 64) // 2 + 5
    sheet[top : top + 64, left : left + 64] = ink
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]] / max(shape)
    paper = 200 + 30 * rows - 20 * cols
    grey = paper - sheet * (paper - 40) + rng.normal(0, 4, shape)
    grey[5:8, 5:8] = 60  # a speck in a corner
    return np.clip(np.rint(grey), 0, 255).astype(int)


@pytest.mark.parametrize("make", [
    photo, lambda: photo(7, seed=1), lambda: 255 - drawn(2),
    lambda: drawn(5, rgba=True), lambda: np.stack([photo(1, seed=2)] * 3, axis=-1),
    on_ruled_paper,
], ids=["photo", "photo 7", "light on dark", "RGBA", "RGB", "ruled paper"])
def test_the_steps_end_in_what_normalize_images_gives(make):
    image = make() / 255
    steps = normalize_steps(image)
    np.testing.assert_array_equal(np.float32(steps["image"]).ravel(),
                                  normalize_images([image])[0])
    h, w = image.shape[:2]
    assert steps["grey"].shape == steps["paper_removed"].shape == steps["ink"].shape == (h, w)
    assert steps["blank"] is False
    top, left, bottom, right = steps["box"]
    assert 0 <= top < bottom <= h and 0 <= left < right <= w
    ink = steps["ink"]
    assert ink.min() >= 0 and ink.max() == 1
    outside = np.ones((h, w), bool)
    outside[top:bottom, left:right] = False
    assert np.all(ink[outside] <= 0.1)  # the box holds every pixel of ink above threshold


def test_the_photos_steps_remove_the_paper_and_the_speck():
    image = photo() / 255
    steps = normalize_steps(image)
    top, left, bottom, right = steps["box"]
    assert steps["ink"][5:8, 5:8].max() == 0  # the speck is not the digit
    # where there is no ink, the paper is gone: what is left is at most its noise
    assert np.median(steps["paper_removed"][: top - 2]) < 0.05
    assert 100 > bottom - top > 40 and 100 > right - left > 20


def test_the_steps_take_the_rules_out_first():
    image = on_ruled_paper() / 255
    steps = normalize_steps(image)
    top = steps["box"][0]
    grey = image @ np.array([0.299, 0.587, 0.114])
    rules = grey[:top - 3, 30:] < 0.8 * np.median(grey)
    assert rules.mean() > 0.05  # the photo has rules above the digit ...
    assert steps["paper_removed"][:top - 3, 30:].max() < 0.2  # ... the steps do not
    assert steps["ink"][:top - 3].max() == 0


def test_a_dot_is_blank_but_its_ink_is_shown():
    image = np.full((120, 100), 0.9)
    rows, cols = np.mgrid[0:120, 0:100]
    image[np.hypot(rows - 60, cols - 50) < 6] = 0.1  # a pen dot
    steps = normalize_steps(image)
    assert steps["blank"] is True and steps["box"] is None and not steps["image"].any()
    assert steps["ink"].max() == 1
    with pytest.warns(UserWarning, match="only a dot"):
        assert not normalize_images([image]).any()


def test_a_blank_photo_has_no_box():
    steps = normalize_steps(np.full((40, 50), 0.8))
    assert steps["blank"] is True and steps["box"] is None
    assert not steps["image"].any() and not steps["ink"].any()


def test_reply_images_are_shrunk_and_the_box_follows():
    assert shown_shape(640, 480) == (SHOWN_SIDE, 120) and shown_shape(30, 20) == (30, 20)
    image = np.kron(photo(), np.ones((2, 2)))[:300, :240] / 255  # 300 x 240
    reply = photo_steps(image, {})
    assert reply["shape"] == [160, 128] and reply["input_shape"] == [300, 240]
    box = normalize_steps(image)["box"]
    assert reply["steps"]["box"] == pytest.approx([v * 160 / 300 for v in box], abs=0.01)
    for name in ("grey", "paper_removed", "ink"):
        levels = np.asarray(reply["steps"][name])
        assert levels.shape == (160 * 128,) and levels.min() >= 0 and levels.max() <= 255


@pytest.fixture(scope="module")
def server():
    handle = serve(port=0, block=False)
    yield handle
    handle.stop()


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_normalize_answers_the_steps_and_the_network(server, mode):
    image = photo(7, seed=1)
    sent = image if mode == "L" else np.stack([image] * 3, axis=-1)
    status, reply = api(server, "POST", "/api/normalize", body(sent))
    assert status == 200
    row = normalize_images([image / 255])[0]
    np.testing.assert_array_equal(np.float32(reply["steps"]["image"]), row)
    proba = load_pretrained(with_normalizer=False).predict_proba(row[np.newaxis])[0]
    np.testing.assert_array_equal(np.float32(reply["probabilities"]), proba)
    assert reply["label"] == int(np.argmax(proba)) == 7 and reply["blank"] is False
    assert {"grey", "paper_removed", "ink", "box", "image"} <= set(reply["steps"])
    assert reply["input_shape"] == [150, 120] and reply["weights_version"] == 0


def test_normalize_says_blank(server):
    status, reply = api(server, "POST", "/api/normalize", body(np.full((20, 20), 200)))
    assert status == 200 and reply["blank"] is True and reply["label"] is None
    assert reply["steps"]["box"] is None


@pytest.mark.parametrize("data, message", [
    (b'{"width": 1, "height": 1, "pixels": [0], "target": 3}',
     'unknown field "target"; the fields are width, height, pixels, mode'),
    (b'{"width": 2, "height": 1, "pixels": [0, 0, 0], "mode": "RGB"}',
     '"pixels" has 3 values; a 2x1 RGB image needs 6'),
    (b'{"width": 2000, "height": 1, "pixels": []}',
     "the image is 2000x1 pixels; the limit is 1024x1024"),
])
def test_bad_photos_get_a_4xx_and_one_line_of_json(server, data, message):
    status = 413 if b"2000" in data else 400
    assert_refused(server.port, "POST", "/api/normalize", data, JSON, status, message)
