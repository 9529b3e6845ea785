"""Helpers shared by the live plots: colours, layer names, value formatting and the redraw policy."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QWidget

logger = logging.getLogger(__name__)

# Ten hues that stay distinct from each other on dark and light backgrounds.
# Colours follow the class, not the output row, so class 3 has the same colour in
# every view even when a network's rows are in another order.
CLASS_COLOURS = (
    "#4e9ae6",  # blue
    "#f28e2b",  # orange
    "#59c05a",  # green
    "#e8545a",  # red
    "#b07ce0",  # violet
    "#a8734f",  # brown
    "#f08fcf",  # pink
    "#a0a0a0",  # grey
    "#d2d23a",  # olive yellow
    "#3fd0d8",  # cyan
)

# Colours of the layers in the raster and of the threshold lines.
INPUT_COLOUR = "#9aa7b8"
HIDDEN_COLOUR = "#e0b040"
OUTPUT_COLOUR = "#f0f0f0"

# Colour map of the weight maps: blue for negative, white for 0, red for positive.
DIVERGING_COLOURS = ((0.0, (33, 102, 172)), (0.25, (103, 169, 207)), (0.5, (247, 247, 247)),
                     (0.75, (239, 138, 98)), (1.0, (178, 24, 43)))


def class_colour(class_index: int) -> QColor:
    """Return the colour of class ``class_index`` (the same in every view)."""
    if 0 <= class_index < len(CLASS_COLOURS):
        return QColor(CLASS_COLOURS[class_index])
    return pg.intColor(class_index, hues=max(class_index + 1, 12))


def hidden_colour(index: int) -> QColor:
    """Return the colour of the ``index``-th user-selected hidden neuron (cycling, distinct from classes)."""
    palette = ("#ffd166", "#c4a8ff", "#8ce0a0", "#ff9e80", "#80d8ff", "#e6e6a0")
    return QColor(palette[index % len(palette)])


def diverging_colormap() -> pg.ColorMap:
    """Return the blue-white-red colour map used for weights (white is 0 when the levels are symmetric)."""
    positions = [position for position, _ in DIVERGING_COLOURS]
    colours = [colour for _, colour in DIVERGING_COLOURS]
    return pg.ColorMap(positions, colours, name="s4nn-diverging")


def layer_name(layer: int, n_layers: int) -> str:
    """Name layer ``layer`` of a network with weight layers 1 … ``n_layers``: "input", "hidden 1", …, "output"."""
    if layer == 0:
        return "input"
    if layer == n_layers:
        return "output"
    return f"hidden {layer}"


def format_value(value: Any) -> str:
    """Format a setting value for a label: floats with up to 4 significant digits, lists in brackets."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


def format_change(name: str, old: Any, new: Any) -> str:
    """Describe one setting change, e.g. "thresholds: [100, 100] → [80, 100]"."""
    return f"{name}: {format_value(old)} → {format_value(new)}"


def near_square_grid(count: int) -> tuple[int, int]:
    """Return (rows, columns) of the most square grid with at least ``count`` cells, columns ≥ rows."""
    if count <= 0:
        return 0, 0
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    return rows, columns


def tile_shape(n_inputs: int, image_shape: Sequence[int] | None) -> tuple[int, int]:
    """Choose the (height, width) that shows an input vector of ``n_inputs`` values as an image.

    The dataset's image shape wins when its pixel count matches. Otherwise a
    square input becomes a square tile, and any other length fills a near-square
    tile row by row, with the unused cells left blank.
    """
    if image_shape is not None and len(image_shape) == 2 and int(np.prod(image_shape)) == n_inputs:
        return int(image_shape[0]), int(image_shape[1])
    side = int(round(np.sqrt(n_inputs)))
    if side * side == n_inputs:
        return side, side
    rows, columns = near_square_grid(n_inputs)
    return rows, columns


class ShrinkableLabel(pg.LabelItem):
    """A pyqtgraph label whose preferred width is its text's width but whose minimum width is 0.

    ``pg.LabelItem`` makes its text width the minimum width, so a long title
    widens its layout beyond the widget and pushes items beside it out of view.
    This one lets the layout shrink it, and a text wider than the label then
    runs past its edges.
    """

    def updateMin(self) -> None:
        super().updateMin()
        self.setMinimumWidth(0)
        height = self._sizeHint[Qt.SizeHint.MinimumSize][1]
        self._sizeHint[Qt.SizeHint.MinimumSize] = (0, height)
        self.updateGeometry()


class LivePlot(QWidget):
    """Base of the live plots: stores what signals bring and redraws in :meth:`refresh`.

    Signal handlers only call :meth:`_mark_dirty`. While training runs, the
    window's timer calls :meth:`refresh` (about 30 Hz when the plot is visible).
    At any other time a change redraws at once, so the plot is right without
    the timer. Subclasses implement :meth:`_redraw`.
    """

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._dirty = True
        state.training_state_changed.connect(self._on_training_state_changed)

    @property
    def state(self):
        return self._state

    @property
    def is_dirty(self) -> bool:
        """Whether a change arrived that :meth:`refresh` has not drawn yet."""
        return self._dirty

    def refresh(self) -> None:
        """Repaint from the newest state if anything changed since the last repaint."""
        if not self._dirty:
            return
        self._dirty = False
        self._redraw()

    def _mark_dirty(self) -> None:
        self._dirty = True
        if self._state.training_state != "running":
            self.refresh()

    def _on_training_state_changed(self, training_state: str) -> None:
        if training_state != "running":
            self.refresh()

    def _redraw(self) -> None:
        raise NotImplementedError
