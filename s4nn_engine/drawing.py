"""Turn a user's drawing into an MNIST-style digit image (NumPy only).

MNIST digits were scaled to fit a 20 × 20 box, keeping their aspect ratio and
with anti-aliasing. Each was then placed in a 28 × 28 field with its
intensity-weighted centre of mass at the field's centre. The functions here
repeat those steps for strokes drawn with a mouse, so that a drawing reaches the
network in the same form as the dataset's digits.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

IMAGE_SIZE = 28
BOX_SIZE = 20
# Centre of mass in (row, column) pixel-index coordinates. The bundled MNIST digits
# have centres of mass between 13.5 and 14.5 on both axes, so the field's centre is 14.
IMAGE_CENTRE = IMAGE_SIZE / 2


def render_strokes(strokes: Sequence[Sequence[tuple[float, float]]], shape: tuple[int, int] = (280, 280),
                   pen_width: float = 26.0) -> np.ndarray:
    """Draw polylines with a round pen onto a blank canvas.

    Parameters
    ----------
    strokes
        Each stroke is a sequence of (x, y) points in canvas pixels, x to the
        right and y downwards. Pixel (row, column) covers [column, column + 1) ×
        [row, row + 1). A stroke of one point draws a dot.
    shape
        Canvas (height, width) in pixels.
    pen_width
        Pen diameter in pixels.

    Returns
    -------
    float64 array of ``shape`` with ink coverage in [0, 1]: 1 inside the pen,
    falling linearly to 0 across the one pixel at its edge (anti-aliasing).
    """
    height, width = (int(shape[0]), int(shape[1]))
    if height < 1 or width < 1:
        raise ValueError(f"canvas shape {shape} is invalid; give a positive (height, width)")
    if not math.isfinite(pen_width) or pen_width <= 0:
        raise ValueError(f"pen_width = {pen_width} must be a finite number > 0")
    canvas = np.zeros((height, width), dtype=np.float64)
    radius = pen_width / 2

    for stroke in strokes:
        points = np.asarray(stroke, dtype=np.float64).reshape(-1, 2)
        if points.shape[0] == 0:
            continue
        if not np.all(np.isfinite(points)):
            raise ValueError("stroke points must be finite (x, y) pairs")
        if points.shape[0] == 1:
            points = np.vstack([points, points])
        for start, end in zip(points[:-1], points[1:]):
            _draw_segment(canvas, start, end, radius)
    return canvas


def _draw_segment(canvas: np.ndarray, start: np.ndarray, end: np.ndarray, radius: float) -> None:
    """Add the coverage of a round-capped segment to ``canvas`` (maximum, not sum)."""
    reach = radius + 1.0
    column_low = max(int(math.floor(min(start[0], end[0]) - reach)), 0)
    column_high = min(int(math.ceil(max(start[0], end[0]) + reach)), canvas.shape[1])
    row_low = max(int(math.floor(min(start[1], end[1]) - reach)), 0)
    row_high = min(int(math.ceil(max(start[1], end[1]) + reach)), canvas.shape[0])
    if column_low >= column_high or row_low >= row_high:
        return

    centres_x = np.arange(column_low, column_high) + 0.5
    centres_y = np.arange(row_low, row_high)[:, None] + 0.5
    direction = end - start
    length_squared = float(direction @ direction)
    if length_squared == 0.0:
        along = np.zeros((1, 1))
    else:
        along = ((centres_x - start[0]) * direction[0] + (centres_y - start[1]) * direction[1]) / length_squared
        along = np.clip(along, 0.0, 1.0)
    nearest_x = start[0] + along * direction[0]
    nearest_y = start[1] + along * direction[1]
    distance = np.hypot(centres_x - nearest_x, centres_y - nearest_y)
    coverage = np.clip(radius + 0.5 - distance, 0.0, 1.0)
    window = canvas[row_low:row_high, column_low:column_high]
    np.maximum(window, coverage, out=window)


def mnist_style_image(canvas: np.ndarray) -> np.ndarray:
    """Turn a drawing of any size into a 28 × 28 uint8 digit the way MNIST digits were made.

    1. Crop the drawing to the bounding box of its non-zero pixels.
    2. Scale the box, keeping its aspect ratio, so that its longer side is 20
       pixels, by area averaging (each output pixel is the mean of the canvas
       area it covers, which anti-aliases).
    3. Place the result in a 28 × 28 field and shift it by the rounded offset
       between its intensity-weighted centre of mass and the field's centre
       (row 14, column 14 in pixel indices, where MNIST digits have theirs).

    Parameters
    ----------
    canvas
        2-D array with ink bright: uint8 (0 … 255), bool, or floats in [0, 1].

    Returns
    -------
    uint8 array (28, 28): 0 background, 255 full ink. A blank canvas gives zeros.
    """
    ink = _as_unit_float(canvas)
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        return np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    columns = np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]

    scaled = _fit_box(crop, BOX_SIZE)
    placed = _place_by_centre_of_mass(scaled, IMAGE_SIZE)
    return np.clip(np.rint(placed * 255.0), 0, 255).astype(np.uint8)


def _as_unit_float(canvas: np.ndarray) -> np.ndarray:
    array = np.asarray(canvas)
    if array.ndim != 2:
        raise ValueError(f"the drawing must be a 2-D image, got shape {array.shape}")
    if array.dtype == np.bool_:
        return array.astype(np.float64)
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"the drawing has dtype {array.dtype}; give uint8 (0 … 255), bool or floats in [0, 1]")
    if not np.all(np.isfinite(array)):
        raise ValueError("the drawing contains NaN or infinite values; give floats in [0, 1]")
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise ValueError(
            f"the drawing's values range over {array.min()} … {array.max()}; give floats in [0, 1]"
        )
    return array.astype(np.float64)


def _fit_box(crop: np.ndarray, box: int) -> np.ndarray:
    """Scale ``crop`` by area averaging so that its longer side is ``box`` pixels."""
    height, width = crop.shape
    scale = max(height, width) / box  # canvas pixels per output pixel, on both axes
    out_height = max(1, math.ceil(height / scale - 1e-9))
    out_width = max(1, math.ceil(width / scale - 1e-9))
    rows = _area_matrix(height, out_height, scale)
    columns = _area_matrix(width, out_width, scale)
    return rows @ crop @ columns.T


def _area_matrix(n_in: int, n_out: int, scale: float) -> np.ndarray:
    """Return the (n_out, n_in) area-averaging matrix for ``scale`` input pixels per output pixel.

    The input is centred in the output span: when n_out · scale exceeds n_in the
    margin is split evenly and counts as blank.
    """
    offset = (n_out * scale - n_in) / 2
    low = np.arange(n_out)[:, None] * scale - offset
    high = low + scale
    pixel = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(high, pixel + 1) - np.maximum(low, pixel), 0.0, None)
    return overlap / scale


def _place_by_centre_of_mass(image: np.ndarray, size: int) -> np.ndarray:
    """Paste ``image`` into a ``size`` × ``size`` field with its centre of mass at the centre.

    Parts shifted beyond the field's edge are cut off. With a 20-pixel box in
    28 pixels this happens only for drawings whose mass sits near one edge.
    """
    height, width = image.shape
    centre_row, centre_column = centre_of_mass(image)
    top = int(np.rint(IMAGE_CENTRE - centre_row))
    left = int(np.rint(IMAGE_CENTRE - centre_column))

    field = np.zeros((size, size), dtype=np.float64)
    source_top, source_left = max(0, -top), max(0, -left)
    target_top, target_left = max(0, top), max(0, left)
    rows = min(height - source_top, size - target_top)
    columns = min(width - source_left, size - target_left)
    if rows > 0 and columns > 0:
        field[target_top:target_top + rows, target_left:target_left + columns] = \
            image[source_top:source_top + rows, source_left:source_left + columns]
    return field


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """Return the intensity-weighted (row, column) centre of a 2-D image in pixel indices."""
    weights = np.asarray(image, dtype=np.float64)
    total = weights.sum()
    if total <= 0:
        raise ValueError("the image is blank, so it has no centre of mass")
    row = float(weights.sum(axis=1) @ np.arange(weights.shape[0]) / total)
    column = float(weights.sum(axis=0) @ np.arange(weights.shape[1]) / total)
    return row, column
