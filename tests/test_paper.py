"""Paper that is not ink: printed rules and grids taken out (``skdigitnet._images.printed``)."""

import numpy as np
import pytest

from skdigitnet._images.normalizer import LUMA
from skdigitnet._images.printed import strip_printing


def _ruled(tilt=0.0, colour=True, squared=False, seed=0, shape=(200, 260)):
    """Blue (or grey) rules every 16 px, a dark vertical stroke crossing them."""
    rng = np.random.default_rng(seed)
    ys, xs = np.indices(shape, dtype=float)
    angle = np.radians(tilt)
    across = ys * np.cos(angle) - xs * np.sin(angle)
    def lines(coordinate, phase):  # 1.5 px wide, every 16 px
        return np.clip(1.25 - np.abs((coordinate - phase + 8) % 16 - 8), 0, 1)

    cover = lines(across, 5.3)
    if squared:
        cover = np.maximum(cover, lines(xs * np.cos(angle) + ys * np.sin(angle), 3.7))
    line = np.array([0.55, 0.7, 0.95]) if colour else np.full(3, 0.65)
    sheet = 0.85 * (1 - cover[..., None] * (1 - line))
    stroke = (np.abs(xs - 130) < 2.5) & (ys > 40) & (ys < 160)
    rgb = np.where(stroke[..., None], 0.1, sheet)
    rgb = 255 * rgb + rng.normal(0, 3, (*shape, 1))
    rgb = np.clip(np.round(rgb), 0, 255)
    return (rgb if colour else rgb[..., 1]), stroke


@pytest.mark.parametrize("tilt", [0.0, 2.5, 6.0])
@pytest.mark.parametrize("colour", [True, False])
def test_rules_go_and_a_crossing_stroke_stays_whole(tilt, colour):
    image, stroke = _ruled(tilt, colour)
    grey = image @ LUMA if colour else image
    out = strip_printing(image, grey, "auto")
    after = out @ LUMA if colour else out
    paper = np.median(grey)
    away = np.zeros_like(stroke)
    away[30:170, 10:100] = True  # paper and rules only, away from the edges
    assert grey[away].min() < 0.8 * paper  # the rules were there
    assert after[away].min() > 0.85 * paper  # and are gone
    assert after[stroke].max() < 0.4 * paper  # the stroke is whole, rules crossing it


def test_squared_paper_goes():
    image, stroke = _ruled(2.0, True, squared=True)
    out = strip_printing(image, image @ LUMA, "auto") @ LUMA
    away = np.zeros_like(stroke)
    away[10:190, 10:100] = True
    assert out[away].min() > 0.85 * np.median(out)
    assert out[stroke].max() < 0.4 * np.median(out)


def test_a_rule_a_little_darker_than_its_lattice_goes():
    """Grey rules printed at 0.5, one at 0.35 (its centre darker than ``LIGHTEST_LINE``
    alone would take for printing): all of them are printing, divided by the lattice's
    common profile (so the darker one keeps part of the difference); the pen stroke
    (0.1) stays."""
    shape = (200, 260)
    ys, xs = np.indices(shape, dtype=float)
    cover = np.clip(1.25 - np.abs((ys - 5.3 + 8) % 16 - 8), 0, 1)
    level = np.where((ys > 60) & (ys < 72), 0.35, 0.5)  # the rule at y = 69 is darker
    grey = 0.85 * (1 - cover * (1 - level))
    stroke = (np.abs(xs - 130) < 2.5) & (ys > 40) & (ys < 160)
    grey = np.where(stroke, 0.1, grey)
    grey = np.clip(np.round(255 * grey + np.random.default_rng(0).normal(0, 3, shape)), 0, 255)
    out = strip_printing(grey, grey, "auto")
    paper = np.median(grey)
    dark_rule = np.zeros(shape, dtype=bool)
    dark_rule[66:72, 10:100] = True
    assert grey[dark_rule].min() < 0.6 * paper  # the darker rule was there
    assert out[dark_rule].min() > 0.75 * paper  # and is mostly gone
    assert out[stroke].max() < 0.4 * paper


def test_nothing_is_removed_without_printing():
    image, stroke = _ruled()
    plain = np.where(stroke[..., None], image, np.median(image, axis=(0, 1)))
    plain = plain + np.random.default_rng(1).normal(0, 3, plain.shape)
    assert strip_printing(plain, plain @ LUMA, "auto") is plain


def test_a_one_down_a_tight_crop_is_not_a_margin():
    image, _ = _ruled(colour=False)
    crop = image[45:155, 110:150]  # the stroke runs down the whole crop
    out = strip_printing(crop, crop, "auto")
    assert out[:, 18:23].max() < 0.4 * np.median(crop)
