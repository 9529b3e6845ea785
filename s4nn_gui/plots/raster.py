"""Spike raster of the probe sample: input, hidden and output firing times in one picture."""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QVBoxLayout, QWidget

from s4nn_gui.plots.common import HIDDEN_COLOUR, INPUT_COLOUR, LivePlot, class_colour, layer_name

logger = logging.getLogger(__name__)

# Vertical extent of each layer's band in plot units. The output band is taller so
# that its class labels on the right axis stay readable. Every neuron of a layer
# gets an equal share of its band, whatever the layer's size.
BAND_HEIGHT = 1.0
OUTPUT_BAND_HEIGHT = 2.0
BAND_GAP = 0.3
DIM_ALPHA = 40

RASTER_TOOLTIP = (
    "Spike raster of the probe sample: each dot is one neuron's single spike, at its firing time "
    "(x) and the neuron's place in its layer (y). Inputs fire earlier the brighter the pixel; "
    "neurons that never fire are not drawn."
)
SORT_TOOLTIP = (
    "Order the neurons of each layer by firing time, so the earliest spike of a layer is at the "
    "bottom of its band."
)


class RasterPlot(LivePlot):
    """Firing times of every layer of the probe sample, one horizontal band per layer.

    Bands are stacked from the input (bottom) to the output (top) and named on
    the left axis. The right axis names the class of each output neuron. A
    neuron that did not fire (t = t_max) is not drawn.
    """

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._current_step: int | None = None
        self._layout_key: tuple | None = None
        self._band_base: list[float] = []
        self._band_height: list[float] = []
        self._scatters: list[pg.ScatterPlotItem] = []
        self._shown: list[dict] = []
        self._brushes: dict[tuple[str, bool], pg.QtGui.QBrush] = {}

        self._sort_box = QCheckBox("sort by firing time")
        self._sort_box.setToolTip(SORT_TOOLTIP)
        self._sort_box.toggled.connect(self._on_sort_toggled)
        controls = QHBoxLayout()
        controls.setContentsMargins(4, 2, 4, 0)
        controls.addWidget(self._sort_box)
        controls.addStretch(1)

        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.setToolTip(RASTER_TOOLTIP)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(controls)
        layout.addWidget(self._graphics, 1)

        plot = self._graphics.addPlot()
        plot.setLabel("bottom", "firing time t")
        plot.showAxis("right")
        plot.getAxis("right").setStyle(tickFont=_small_font())
        plot.getAxis("left").setWidth(62)
        plot.setMenuEnabled(False)
        plot.getViewBox().setMouseEnabled(x=True, y=False)
        self._plot = plot
        self._step_line = pg.InfiniteLine(angle=90, movable=False,
                                          pen=pg.mkPen("#ffffff", width=1, style=Qt.PenStyle.DotLine))
        self._step_line.setVisible(False)
        plot.addItem(self._step_line, ignoreBounds=True)
        self._separators = pg.PlotCurveItem(pen=pg.mkPen("#808080", width=1, style=Qt.PenStyle.DotLine),
                                            connect="pairs")
        plot.addItem(self._separators, ignoreBounds=True)
        self.setToolTip(RASTER_TOOLTIP)

        state.trace_changed.connect(self._mark_dirty)
        state.network_changed.connect(self._mark_dirty)
        self._mark_dirty()

    # -- public interface -----------------------------------------------------------

    def set_sorted(self, sort_by_time: bool) -> None:
        """Order each layer's neurons by firing time (True) or by index (False)."""
        self._sort_box.setChecked(bool(sort_by_time))

    def is_sorted(self) -> bool:
        return self._sort_box.isChecked()

    def set_current_step(self, step: int | None) -> None:
        """Dim the spikes after time step ``step`` (the scrubber's position); None shows all at full strength."""
        self._current_step = None if step is None else max(0, int(step))
        self._mark_dirty()

    def current_step(self) -> int | None:
        return self._current_step

    def scatter_items(self) -> list[pg.ScatterPlotItem]:
        """Return one scatter item per layer, input first."""
        return list(self._scatters)

    def plot_items(self) -> pg.GraphicsLayout:
        """Return the GraphicsLayout holding the plot, for a pyqtgraph exporter."""
        return self._graphics.ci

    def export_table(self) -> tuple[list[str], list[list]]:
        """Return one row per drawn spike: layer, neuron, class (output layer only) and firing time."""
        header = ["layer", "neuron", "class", "firing time"]
        rows = []
        for layer in self._shown:
            for neuron, time in zip(layer["neurons"], layer["times"]):
                class_name = layer["classes"][neuron] if layer["classes"] is not None else ""
                rows.append([layer["name"], int(neuron), class_name, int(time)])
        return header, rows

    # -- drawing --------------------------------------------------------------------------

    def _on_sort_toggled(self, _checked: bool) -> None:
        self._mark_dirty()

    def _redraw(self) -> None:
        trace = self._state.trace
        if trace is None:
            for scatter in self._scatters:
                scatter.setData([], [])
            self._shown = []
            self._plot.setTitle("Choose a probe sample to see its spikes.", size="9pt")
            return
        network = self._state.network
        sizes = tuple(int(times.shape[0]) for times in trace.times)
        self._ensure_layout(sizes, trace.t_max)
        n_layers = len(sizes) - 1
        t_max = trace.t_max
        step = self._current_step
        sort = self._sort_box.isChecked()

        self._shown = []
        output_ticks = []
        for layer, times in enumerate(trace.times):
            times = np.asarray(times, dtype=np.int64)
            n = times.shape[0]
            fired = np.flatnonzero(times < t_max)
            if sort:
                # The neurons that fired share the whole band in order of firing time, earliest
                # at the bottom. Silent neurons are not drawn, so they get no share of it.
                fired = fired[np.argsort(times[fired], kind="stable")]
                slots = max(fired.size, 1)
                y_of = np.full(n, np.nan)
                y_of[fired] = (np.arange(fired.size) + 0.5) / slots
            else:
                y_of = (np.arange(n) + 0.5) / n
            y_of = self._band_base[layer] + y_of * self._band_height[layer]
            x = times[fired].astype(np.float64)
            y = y_of[fired]
            is_output = layer == n_layers
            classes = None
            if is_output:
                classes = [network.class_names[int(c)] for c in network.row_classes[:n]]
                colours = [class_colour(int(network.row_classes[k])).name() for k in fired]
                output_ticks = [(float(y_of[k]), classes[k]) for k in range(n) if np.isfinite(y_of[k])]
            else:
                colours = [INPUT_COLOUR if layer == 0 else HIDDEN_COLOUR] * fired.size
            late = np.zeros(fired.size, dtype=bool) if step is None else x > step
            brushes = [self._brush(colour, dim) for colour, dim in zip(colours, late)]
            sizes_px = self._symbol_sizes(layer, n_layers, fired, trace.label_row)
            name = layer_name(layer, n_layers)
            tips = [f"{name} #{k}" + (f" ({classes[k]})" if classes else "") + f": t = {int(times[k])}"
                    for k in fired]
            self._scatters[layer].setData(x=x, y=y, brush=brushes, size=sizes_px, data=tips)
            self._shown.append({"name": name, "neurons": fired, "times": times[fired], "classes": classes})

        self._plot.getAxis("right").setTicks([output_ticks, []])
        self._step_line.setVisible(step is not None)
        if step is not None:
            self._step_line.setValue(min(step, t_max))
        self._plot.setTitle(self._title(trace), size="9pt")

    def _ensure_layout(self, sizes: tuple[int, ...], t_max: int) -> None:
        """Lay out the bands and create one scatter item per layer when the network's shape changes."""
        key = (sizes, t_max)
        if key == self._layout_key:
            return
        self._layout_key = key
        n_layers = len(sizes) - 1
        for scatter in self._scatters:
            self._plot.removeItem(scatter)
        self._scatters = []
        self._band_base = []
        self._band_height = []

        base = 0.0
        ticks = []
        separator_y = []
        for layer in range(n_layers + 1):
            height = OUTPUT_BAND_HEIGHT if layer == n_layers else BAND_HEIGHT
            self._band_base.append(base)
            self._band_height.append(height)
            ticks.append((base + height / 2, f"{layer_name(layer, n_layers)}\n({sizes[layer]})"))
            if layer < n_layers:
                separator_y.append(base + height + BAND_GAP / 2)
            base += height + BAND_GAP
            scatter = pg.ScatterPlotItem(symbol="s" if layer == 0 else "o", pen=None,
                                         hoverable=True, tip=_spike_tip)
            scatter.setZValue(5 + layer)
            self._plot.addItem(scatter)
            self._scatters.append(scatter)

        top = base - BAND_GAP
        self._plot.getAxis("left").setTicks([ticks, []])
        xs = np.repeat(np.array([[0.0, float(t_max)]]), len(separator_y), axis=0).ravel()
        ys = np.repeat(np.asarray(separator_y, dtype=np.float64), 2)
        self._separators.setData(xs, ys)
        self._plot.setYRange(0, top, padding=0.02)
        self._plot.setXRange(0, t_max, padding=0.01)
        self._plot.setLimits(xMin=-0.05 * t_max, xMax=1.05 * t_max, yMin=-0.2, yMax=top + 0.2)

    def _symbol_sizes(self, layer: int, n_layers: int, fired: np.ndarray, label_row: int | None) -> np.ndarray:
        if layer == 0:
            return np.full(fired.size, 3.0)
        if layer < n_layers:
            return np.full(fired.size, 5.0)
        sizes = np.full(fired.size, 9.0)
        if label_row is not None:
            sizes[fired == label_row] = 13.0
        return sizes

    def _brush(self, colour: str, dim: bool):
        key = (colour, bool(dim))
        brush = self._brushes.get(key)
        if brush is None:
            qcolour = QColor(colour)
            if dim:
                qcolour.setAlpha(DIM_ALPHA)
            brush = pg.mkBrush(qcolour)
            self._brushes[key] = brush
        return brush

    def _title(self, trace) -> str:
        counts = []
        n_layers = len(trace.times) - 1
        for layer, times in enumerate(trace.times):
            fired = int(np.count_nonzero(np.asarray(times) < trace.t_max))
            counts.append(f"{layer_name(layer, n_layers)} {fired}/{len(times)}")
        return "spikes: " + ", ".join(counts)


def _spike_tip(x, y, data) -> str:
    return str(data)


def _small_font():
    font = pg.QtGui.QFont()
    font.setPointSize(8)
    return font
