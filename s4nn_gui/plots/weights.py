"""The first hidden layer's input weights, one image tile per neuron, updated live."""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from s4nn_gui.plots.common import LivePlot, diverging_colormap, layer_name, near_square_grid, tile_shape

logger = logging.getLogger(__name__)

TILE_GAP = 1  # blank pixels between two tiles

WEIGHTS_TOOLTIP = (
    "Input weights of every neuron of the first hidden layer, one tile per neuron laid out like the "
    "input image: red pixels excite the neuron, blue pixels inhibit it, white is 0. Click a tile to "
    "follow that neuron in the other views."
)
CHANGE_TOOLTIP = (
    "Show the weight change ΔW that the last Step made to the first hidden layer, with the same colours "
    "(red: the weight grew, blue: it shrank). Untick to see the weights themselves. Training on, "
    "resetting or loading another network returns to the weights."
)
NORMALISE_TOOLTIP = (
    "Scale each tile by its own largest |w|, so that neurons with small weights show their pattern too. "
    "The colour bar then reads as a fraction of each tile's maximum."
)


def build_mosaic(weights: np.ndarray, tile: tuple[int, int], grid: tuple[int, int],
                 gap: int = TILE_GAP) -> np.ndarray:
    """Arrange the rows of ``weights`` (neurons × inputs) as image tiles in a grid.

    Neuron n goes to grid row n // columns and column n % columns. Each input
    vector fills its (height, width) tile row by row, inputs beyond the vector's
    length and the ``gap`` pixels between tiles are NaN (drawn transparent).
    Returns a float32 C-contiguous image of shape
    (rows · (height + gap) − gap, columns · (width + gap) − gap), row-major.
    """
    n_neurons, n_inputs = weights.shape
    height, width = tile
    rows, columns = grid
    cells = np.full((rows * columns, height * width), np.nan, dtype=np.float32)
    cells[:n_neurons, :n_inputs] = weights
    cells = cells.reshape(rows, columns, height, width)
    padded = np.full((rows, columns, height + gap, width + gap), np.nan, dtype=np.float32)
    padded[:, :, :height, :width] = cells
    mosaic = padded.transpose(0, 2, 1, 3).reshape(rows * (height + gap), columns * (width + gap))
    return np.ascontiguousarray(mosaic[:mosaic.shape[0] - gap, :mosaic.shape[1] - gap])


class WeightMapPlot(LivePlot):
    """Mosaic of the first hidden layer's weights with a diverging colour map centred on 0.

    A network with several hidden layers still shows its first hidden layer,
    because only that layer's inputs are pixels. A network without hidden
    layers shows its output layer. The colour levels are symmetric, ±max|w|.

    After a Step (``state.step_trained``) the map shows the change ΔW that the
    step made to the same layer, and a check box switches between ΔW and the
    weights. The change is dropped when training runs again or the shown
    network no longer has the step's weights (a reset or a loaded network).

    Signals
    -------
    neuron_clicked(int)
        The user clicked the tile of this neuron (index in the layer shown).
    """

    neuron_clicked = pyqtSignal(int)

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._selected: int | None = None
        self._highlighted: set[int] = set()
        self._weights: np.ndarray | None = None
        self._tile: tuple[int, int] = (1, 1)
        self._grid: tuple[int, int] = (0, 0)
        self._geometry_key: tuple | None = None
        self._shown: np.ndarray | None = None
        self._step_change: np.ndarray | None = None
        self._step_weights: np.ndarray | None = None
        self._step_sample = 0

        self._change_box = QCheckBox("show last step's change")
        self._change_box.setToolTip(CHANGE_TOOLTIP)
        self._change_box.toggled.connect(self._on_display_option_toggled)
        self._change_box.hide()
        self._normalise_box = QCheckBox("scale each tile separately")
        self._normalise_box.setToolTip(NORMALISE_TOOLTIP)
        self._normalise_box.toggled.connect(self._on_display_option_toggled)
        self._hover_label = QLabel(" ")
        self._hover_label.setToolTip("The weight under the mouse pointer.")
        controls = QHBoxLayout()
        controls.setContentsMargins(4, 2, 4, 0)
        controls.addWidget(self._change_box)
        controls.addWidget(self._normalise_box)
        controls.addStretch(1)
        controls.addWidget(self._hover_label)

        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.setToolTip(WEIGHTS_TOOLTIP)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(controls)
        layout.addWidget(self._graphics, 1)
        self._build_view()
        self.setToolTip(WEIGHTS_TOOLTIP)

        state.network_changed.connect(self._mark_dirty)
        state.step_trained.connect(self._on_step_trained)
        state.training_state_changed.connect(self._on_training_state_for_change)
        self._mark_dirty()

    def _build_view(self) -> None:
        self._title = self._graphics.addLabel("", row=0, col=0, colspan=2, size="9pt")
        view = self._graphics.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMenu=False)
        self._view = view
        ## Row-major so that mosaic[row, column] is drawn at (x = column, y = row) like the input images.
        self._image = pg.ImageItem(axisOrder="row-major")
        view.addItem(self._image)
        self._colour_bar = pg.ColorBarItem(values=(-1.0, 1.0), colorMap=diverging_colormap(), interactive=False,
                                           label="weight", width=14, colorMapMenu=False)
        self._colour_bar.setImageItem(self._image)
        self._graphics.addItem(self._colour_bar, row=1, col=1)

        self._highlight_outline = pg.PlotCurveItem(pen=pg.mkPen("#00e0ff", width=2), connect="finite")
        self._highlight_outline.setZValue(10)
        view.addItem(self._highlight_outline)
        self._selection_outline = pg.PlotCurveItem(pen=pg.mkPen("#ffd000", width=3), connect="finite")
        self._selection_outline.setZValue(11)
        view.addItem(self._selection_outline)

        scene = self._graphics.scene()
        scene.sigMouseClicked.connect(self._on_scene_clicked)
        scene.sigMouseMoved.connect(self._on_scene_moved)

    # -- public interface -----------------------------------------------------------

    def shown_layer(self) -> int:
        """Return the weight layer shown: 1 (the first hidden layer, or the output layer without hidden layers)."""
        return 1

    def set_highlighted(self, neurons) -> None:
        """Outline the tiles of ``neurons`` (for example the neurons below the dead-neuron cut-off)."""
        self._highlighted = {int(neuron) for neuron in neurons}
        self._draw_outlines()

    def highlighted(self) -> set[int]:
        return set(self._highlighted)

    def is_showing_step_change(self) -> bool:
        """Return whether the map shows the last Step's ΔW instead of the weights."""
        return self._step_change is not None and self._change_box.isChecked()

    def set_showing_step_change(self, shown: bool) -> None:
        """Switch between the last Step's ΔW (when there is one) and the weights."""
        self._change_box.setChecked(bool(shown))

    def step_change_box(self) -> QCheckBox:
        return self._change_box

    def title_text(self) -> str:
        return self._title.text

    def select_neuron(self, neuron: int | None, *, emit: bool = False) -> None:
        """Outline the tile of ``neuron`` as the selection (None clears it), emitting ``neuron_clicked`` if asked."""
        if neuron is not None and self._weights is not None and not 0 <= neuron < self._weights.shape[0]:
            logger.warning("neuron %d is not in the weight map of %d neurons", neuron, self._weights.shape[0])
            return
        self._selected = None if neuron is None else int(neuron)
        self._draw_outlines()
        if emit and self._selected is not None:
            self.neuron_clicked.emit(self._selected)

    def selected_neuron(self) -> int | None:
        return self._selected

    def neuron_at(self, x: float, y: float) -> int | None:
        """Return the neuron whose tile contains image position (x = column, y = row), or None for a gap."""
        if self._weights is None:
            return None
        height, width = self._tile
        rows, columns = self._grid
        column, within_x = divmod(int(np.floor(x)), width + TILE_GAP)
        row, within_y = divmod(int(np.floor(y)), height + TILE_GAP)
        if not (0 <= row < rows and 0 <= column < columns) or within_x >= width or within_y >= height:
            return None
        neuron = row * columns + column
        return neuron if neuron < self._weights.shape[0] else None

    def tile_origin(self, neuron: int) -> tuple[int, int]:
        """Return the image position (x = column, y = row) of the top-left pixel of ``neuron``'s tile."""
        height, width = self._tile
        columns = self._grid[1]
        row, column = divmod(int(neuron), columns)
        return column * (width + TILE_GAP), row * (height + TILE_GAP)

    def tile_dimensions(self) -> tuple[int, int]:
        """Return the (height, width) of one tile."""
        return self._tile

    def image_item(self) -> pg.ImageItem:
        return self._image

    def colour_bar(self) -> pg.ColorBarItem:
        return self._colour_bar

    def plot_items(self) -> pg.GraphicsLayout:
        """Return the GraphicsLayout holding the mosaic and its colour bar, for pyqtgraph's exporters."""
        return self._graphics.ci

    def export_table(self) -> tuple[list[str], list[list]]:
        """Return one row per neuron: its index, then its weights (or the step's ΔW when shown) by input.

        The values are unscaled, also when the tiles are scaled separately.
        """
        values = self._shown if self._shown is not None else self._weights
        if values is None:
            return ["neuron"], []
        name = "dW" if self.is_showing_step_change() else "w"
        header = ["neuron"] + [f"{name}[{i}]" for i in range(values.shape[1])]
        rows = [[neuron] + values[neuron].tolist() for neuron in range(values.shape[0])]
        return header, rows

    # -- drawing --------------------------------------------------------------------------

    def _on_display_option_toggled(self, _checked: bool) -> None:
        self._mark_dirty()

    def _on_step_trained(self, report) -> None:
        changes = getattr(report.trace, "weight_changes", None)
        if not changes:
            return
        self._step_change = np.asarray(changes[0], dtype=np.float64)
        self._step_weights = report.network.layer_weights(1)
        self._step_sample = int(report.sample_index)
        self._change_box.show()
        self._change_box.blockSignals(True)
        self._change_box.setChecked(True)
        self._change_box.blockSignals(False)
        self._mark_dirty()

    def _on_training_state_for_change(self, training_state: str) -> None:
        if training_state == "running":
            self._drop_step_change()

    def _drop_step_change(self) -> None:
        if self._step_change is None:
            return
        self._step_change = None
        self._step_weights = None
        self._change_box.hide()
        self._mark_dirty()

    def _redraw(self) -> None:
        network = self._state.network
        weights = network.layer_weights(1)
        if self._step_change is not None and (self._step_weights.shape != weights.shape
                                              or not np.array_equal(self._step_weights, weights)):
            # Another network is shown now (reset, loaded, trained further), so the change no longer applies.
            self._step_change = None
            self._step_weights = None
            self._change_box.hide()
        self._weights = weights
        showing_change = self.is_showing_step_change()
        values = self._step_change if showing_change else weights
        self._shown = values
        n_neurons, n_inputs = weights.shape
        image_shape = None
        train = getattr(self._state.splits, "train", None)
        if train is not None:
            image_shape = train.images.shape[1:]
        self._tile = tile_shape(n_inputs, image_shape)
        self._grid = near_square_grid(n_neurons)
        geometry = (self._tile, self._grid)

        largest = float(np.abs(values).max()) if values.size else 0.0
        if self._normalise_box.isChecked():
            scale = np.abs(values).max(axis=1, keepdims=True)
            shown = values / np.where(scale > 0, scale, 1.0)
            limit = 1.0
        else:
            shown = values
            limit = largest
        limit = limit if limit > 0 else 1.0

        mosaic = build_mosaic(shown, self._tile, self._grid)
        self._image.setImage(mosaic, autoLevels=False, levels=(-limit, limit))
        self._colour_bar.setLevels(values=(-limit, limit))
        if geometry != self._geometry_key:
            self._geometry_key = geometry
            self._view.autoRange(padding=0.01)
            if self._selected is not None and self._selected >= n_neurons:
                self._selected = None
            self._highlighted = {neuron for neuron in self._highlighted if neuron < n_neurons}
            self._draw_outlines()

        what = layer_name(1, network.n_layers)
        symbol = "ΔW" if showing_change else "w"
        scale_note = f", each tile scaled to its own max |{symbol}|" if self._normalise_box.isChecked() else ""
        self._colour_bar.getAxis("left").setLabel("ΔW" if showing_change else "weight")
        if showing_change:
            self._title.setText(f"change made by Step on training sample #{self._step_sample}: "
                                f"max |ΔW| = {largest:.3g}{scale_note}")
        else:
            self._title.setText(f"weights into {what}: {n_neurons} neurons × {n_inputs} inputs, "
                                f"max |w| = {largest:.3g}{scale_note}")

    def _draw_outlines(self) -> None:
        self._highlight_outline.setData(*self._rectangles(sorted(self._highlighted)))
        selected = [] if self._selected is None else [self._selected]
        self._selection_outline.setData(*self._rectangles(selected))

    def _rectangles(self, neurons) -> tuple[np.ndarray, np.ndarray]:
        """Return NaN-separated outlines of the tiles of ``neurons``, drawn just outside each tile."""
        if self._weights is None or not neurons:
            return np.array([]), np.array([])
        height, width = self._tile
        xs, ys = [], []
        for neuron in neurons:
            if not 0 <= neuron < self._weights.shape[0]:
                continue
            left, top = self._tile_edges(neuron)
            right, bottom = left + width + TILE_GAP, top + height + TILE_GAP
            xs += [left, right, right, left, left, np.nan]
            ys += [top, top, bottom, bottom, top, np.nan]
        return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)

    def _tile_edges(self, neuron: int) -> tuple[float, float]:
        x, y = self.tile_origin(neuron)
        return x - 0.5 * TILE_GAP, y - 0.5 * TILE_GAP

    # -- mouse ------------------------------------------------------------------------------

    def _image_position(self, scene_position: QPointF) -> QPointF | None:
        if self._image.image is None or not self._image.sceneBoundingRect().contains(scene_position):
            return None
        return self._image.mapFromScene(scene_position)

    def _on_scene_clicked(self, event) -> None:
        position = self._image_position(event.scenePos())
        if position is None:
            return
        neuron = self.neuron_at(position.x(), position.y())
        if neuron is not None:
            event.accept()
            self.select_neuron(neuron, emit=True)

    def _on_scene_moved(self, scene_position: QPointF) -> None:
        position = self._image_position(scene_position)
        neuron = None if position is None else self.neuron_at(position.x(), position.y())
        if neuron is None:
            self._hover_label.setText(" ")
            return
        x0, y0 = self.tile_origin(neuron)
        row = int(np.floor(position.y())) - y0
        column = int(np.floor(position.x())) - x0
        index = row * self._tile[1] + column
        if index >= self._weights.shape[1]:
            self._hover_label.setText(f"neuron {neuron}")
            return
        values = self._shown if self._shown is not None else self._weights
        symbol = "ΔW" if self.is_showing_step_change() else "w"
        self._hover_label.setText(f"neuron {neuron}, pixel ({row}, {column}): "
                                  f"{symbol} = {values[neuron, index]:.4g}")
