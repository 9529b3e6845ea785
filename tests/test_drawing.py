"""Drawings to MNIST-style images: bounding box to 20 × 20, centre of mass at the centre, 8-bit ink."""

from __future__ import annotations

import numpy as np
import pytest

from s4nn_engine.datasets import load_dataset
from s4nn_engine.drawing import IMAGE_CENTRE, centre_of_mass, mnist_style_image, render_strokes
from s4nn_engine.encoding import encode

T_MAX = 256


@pytest.fixture(scope="module")
def test_digits():
    return load_dataset("bundled").test


def _bounding_box(image: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero(image.any(axis=1))
    columns = np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, columns[-1] - columns[0] + 1


def test_enlarged_dataset_digit_comes_back_unchanged(test_digits):
    # A digit blown up 10× (each pixel a 10 × 10 block) has a 200-pixel long side,
    # so scaling it to 20 pixels averages exactly those blocks. Dataset digits are
    # already 20 pixels high or wide and centred by mass, so the original must come back.
    for image in test_digits.images[:60]:
        canvas = np.kron(image, np.ones((10, 10), dtype=np.uint8))
        result = mnist_style_image(canvas)
        assert result.dtype == np.uint8
        assert result.shape == (28, 28)
        np.testing.assert_array_equal(result, image)


def test_enlarged_digit_centred_by_mass(test_digits):
    for image in test_digits.images[60:120]:
        canvas = np.kron(image, np.ones((7, 7), dtype=np.uint8))
        row, column = centre_of_mass(mnist_style_image(canvas))
        assert abs(row - IMAGE_CENTRE) <= 0.5
        assert abs(column - IMAGE_CENTRE) <= 0.5


def test_enlarged_digit_encodes_like_dataset(test_digits):
    images = test_digits.images[:40]
    drawn = np.stack([mnist_style_image(np.kron(image, np.ones((9, 9), dtype=np.uint8))) for image in images])
    drawn_times = encode(drawn, T_MAX)
    dataset_times = encode(images, T_MAX)
    assert drawn_times.dtype == np.int16
    assert drawn_times.min() == 0  # full ink spikes at once, as in the dataset
    assert drawn_times.max() == T_MAX  # background never spikes
    assert dataset_times.min() == drawn_times.min()
    assert dataset_times.max() == drawn_times.max()
    # The share of pixels that spike at all matches the dataset within a few per cent.
    drawn_share = np.mean(drawn_times < T_MAX)
    dataset_share = np.mean(dataset_times < T_MAX)
    assert abs(drawn_share - dataset_share) < 0.03


def test_vertical_stroke_fills_20_rows():
    # A vertical line from y = 40 to 240 with a 26-pixel round pen covers rows
    # 27 … 253 (227 rows) and 27 columns, so its long side becomes 20 pixels.
    canvas = render_strokes([[(140.0, 40.0), (140.0, 240.0)]], shape=(280, 280), pen_width=26.0)
    image = mnist_style_image(canvas)
    height, width = _bounding_box(image)
    assert height == 20
    assert width <= 4
    row, column = centre_of_mass(image)
    assert abs(row - IMAGE_CENTRE) <= 0.5
    assert abs(column - IMAGE_CENTRE) <= 0.5
    assert image.max() >= 250


def test_wide_stroke_keeps_aspect_ratio():
    # An L-shaped stroke 200 wide and 100 tall (plus the pen) must come out about
    # 20 wide and 10–11 tall: the aspect ratio is kept, not stretched to 20 × 20.
    canvas = render_strokes([[(40.0, 100.0), (40.0, 200.0), (240.0, 200.0)]], shape=(280, 280), pen_width=20.0)
    height, width = _bounding_box(mnist_style_image(canvas))
    assert width == 20
    assert 10 <= height <= 12


def test_off_centre_drawing_is_recentred():
    # The same stroke drawn in a corner and in the middle of the canvas gives the same image.
    stroke = [(0.0, 0.0), (30.0, 60.0), (60.0, 10.0)]
    corner = render_strokes([[(x + 10, y + 10) for x, y in stroke]], pen_width=12.0)
    middle = render_strokes([[(x + 120, y + 110) for x, y in stroke]], pen_width=12.0)
    np.testing.assert_array_equal(mnist_style_image(corner), mnist_style_image(middle))


def test_dot_and_blank_canvas():
    blank = mnist_style_image(np.zeros((100, 120)))
    assert blank.shape == (28, 28)
    assert not blank.any()
    dot = mnist_style_image(render_strokes([[(50.0, 50.0)]], shape=(100, 100), pen_width=10.0))
    row, column = centre_of_mass(dot)
    assert abs(row - IMAGE_CENTRE) <= 0.5
    assert abs(column - IMAGE_CENTRE) <= 0.5


def test_render_strokes_antialiased_edge():
    canvas = render_strokes([[(10.0, 10.0), (30.0, 10.0)]], shape=(21, 41), pen_width=6.0)
    assert canvas.max() == 1.0
    assert canvas.min() == 0.0
    # The pen edge lies 3 pixels from the line, so pixel centres 3.5 away get half coverage.
    assert canvas[13, 20] == pytest.approx(0.0)  # centre y = 13.5, distance 3.5: 3 + 0.5 − 3.5 = 0
    assert canvas[12, 20] == pytest.approx(1.0)  # centre y = 12.5, distance 2.5: fully inside
    partial = render_strokes([[(10.0, 10.2), (30.0, 10.2)]], shape=(21, 41), pen_width=6.0)
    assert 0.0 < partial[13, 20] < 1.0


@pytest.mark.parametrize("canvas, message", [
    (np.zeros((2, 2, 2)), "2-D"),
    (np.full((4, 4), 1.5), r"\[0, 1\]"),
    (np.full((4, 4), np.nan), "NaN"),
    (np.zeros((4, 4), dtype=np.int32), "dtype"),
])
def test_invalid_canvas_rejected(canvas, message):
    with pytest.raises(ValueError, match=message):
        mnist_style_image(canvas)
