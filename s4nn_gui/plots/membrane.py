"""Membrane potential V(t) of the probe sample's output neurons and of chosen hidden neurons."""

from __future__ import annotations

import logging
import re

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from s4nn_gui.plots.common import (HIDDEN_COLOUR, OUTPUT_COLOUR, LivePlot, ShrinkableLabel, class_colour,
                                   hidden_colour, layer_name)

logger = logging.getLogger(__name__)

MAX_HIDDEN_CURVES = 12
THRESHOLD_TICK_COLOUR = "#f0f0f0"
LEGEND_WIDTH = 90  # pixels
_ENTRY_PATTERN = re.compile(r"^(?:(\d+)\s*:\s*)?(\d+)$")

MEMBRANE_TOOLTIP = (
    "Membrane potential V(t) of the probe sample's output neurons (one colour per class) and of the "
    "hidden neurons you choose. A neuron fires one step after V first rises above its threshold θ "
    "(dots), and the triangles on the threshold line mark the target firing times that the "
    "learning rule pushes each output neuron towards."
)
HIDDEN_TOOLTIP = (
    "Hidden neurons to draw, separated by commas: \"3, 17\" are neurons 3 and 17 of the first hidden "
    "layer, and \"2:5\" is neuron 5 of hidden layer 2. Clicking a tile of the weight map adds its neuron."
)


def parse_hidden_neurons(text: str, hidden_sizes: tuple[int, ...]) -> tuple[list[tuple[int, int]], list[str]]:
    """Parse "3, 17, 2:5" into [(layer, neuron), …] and the entries that are invalid.

    A bare number is a neuron of hidden layer 1, "L:N" is neuron N of hidden
    layer L. Entries outside the network and duplicates are reported as invalid.
    """
    selected: list[tuple[int, int]] = []
    invalid: list[str] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        match = _ENTRY_PATTERN.match(entry)
        if match is None:
            invalid.append(entry)
            continue
        layer = int(match.group(1)) if match.group(1) else 1
        neuron = int(match.group(2))
        if not 1 <= layer <= len(hidden_sizes) or not 0 <= neuron < hidden_sizes[layer - 1]:
            invalid.append(entry)
            continue
        if (layer, neuron) not in selected:
            selected.append((layer, neuron))
    return selected, invalid


def format_hidden_neurons(selected: list[tuple[int, int]]) -> str:
    """Write a hidden-neuron selection the way :func:`parse_hidden_neurons` reads it."""
    return ", ".join(str(neuron) if layer == 1 else f"{layer}:{neuron}" for layer, neuron in selected)


class MembranePlot(LivePlot):
    """V(t) of the probe sample over 0 … t_max − 1, with thresholds, firing times and targets.

    Each output neuron has one curve in its class colour, the label's neuron
    drawn thicker. Dots mark the firing times at (t, V(t − 1)): the spike comes
    one step after the crossing. Triangles on the threshold line mark the
    targets T of the learning rule (T = t_max means "stay silent"). Horizontal
    lines show each layer's θ, and a dashed line in a neuron's colour shows a
    threshold that the what-if view overrode for that neuron.

    Signals
    -------
    threshold_dragged(float)
        The user is dragging the output threshold line (see :meth:`set_threshold_editable`).
    threshold_drag_finished(float)
        The user released the output threshold line.
    hidden_selection_changed(list)
        The chosen hidden neurons changed, as ``[(layer, neuron), …]``.
    """

    threshold_dragged = pyqtSignal(float)
    threshold_drag_finished = pyqtSignal(float)
    hidden_selection_changed = pyqtSignal(object)

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._hidden: list[tuple[int, int]] = []
        self._current_step: int | None = None
        self._threshold_editable = False
        self._n_outputs = 0
        self._drawn_rows: list[dict] = []

        self._build_controls()
        self._build_plot()
        self.setToolTip(MEMBRANE_TOOLTIP)

        state.trace_changed.connect(self._mark_dirty)
        state.network_changed.connect(self._on_network_changed)
        self._mark_dirty()

    # -- construction -------------------------------------------------------------

    def _build_controls(self) -> None:
        self._hidden_edit = QLineEdit()
        self._hidden_edit.setPlaceholderText("e.g. 3, 17")
        self._hidden_edit.setToolTip(HIDDEN_TOOLTIP)
        self._hidden_edit.editingFinished.connect(self._on_hidden_edited)
        self._hidden_message = QLabel()
        self._hidden_message.setToolTip("Entries of the hidden-neuron list that are not neurons of this network.")
        self._hidden_message.setStyleSheet("color: #e8545a;")
        label = QLabel("hidden neurons:")
        label.setToolTip(HIDDEN_TOOLTIP)

        row = QHBoxLayout()
        row.setContentsMargins(4, 2, 4, 0)
        row.addWidget(label)
        row.addWidget(self._hidden_edit, 1)
        row.addWidget(self._hidden_message)

        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.setToolTip(MEMBRANE_TOOLTIP)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self._graphics, 1)

    def _build_plot(self) -> None:
        ## The title is a label of its own that the layout may shrink, so that a long title never
        ## pushes the legend out of the widget.
        self._title_label = ShrinkableLabel("", size="9pt")
        self._graphics.addItem(self._title_label, row=0, col=0)
        plot = self._graphics.addPlot(row=1, col=0)
        plot.setLabel("bottom", "time step t")
        plot.setLabel("left", "membrane potential V(t)")
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setMenuEnabled(False)
        self._plot = plot
        ## The legend sits in its own column so that it never hides a curve.
        self._legend = pg.LegendItem(labelTextSize="8pt")
        self._graphics.addItem(self._legend, row=1, col=1)
        # Wide enough for "8 (label)" and "h1 #123", because the layout would otherwise give that room to the θ axis.
        self._graphics.ci.layout.setColumnMinimumWidth(1, LEGEND_WIDTH)

        ## The θ values are written on the right axis, level with their lines, so that no label
        ## lies over the curves.
        plot.showAxis("right")
        self._threshold_axis = plot.getAxis("right")
        self._threshold_axis.setTextPen(THRESHOLD_TICK_COLOUR)
        self._threshold_axis.setTicks([[], []])
        self._output_threshold = pg.InfiniteLine(angle=0, movable=False,
                                                 pen=pg.mkPen(OUTPUT_COLOUR, width=1, style=Qt.PenStyle.DashLine))
        self._output_threshold.setZValue(5)
        # A bound method, not a lambda: a lambda would keep this widget alive after Qt deletes it,
        # and its later garbage collection deletes items that a scene still holds.
        self._output_threshold.sigPositionChanged.connect(self._on_threshold_moved)
        self._output_threshold.sigDragged.connect(self._on_threshold_dragged)
        self._output_threshold.sigPositionChangeFinished.connect(self._on_threshold_released)
        plot.addItem(self._output_threshold, ignoreBounds=False)
        self._hidden_thresholds: dict[int, pg.InfiniteLine] = {}
        self._threshold_tick_list: list[tuple[float, str]] = []

        self._step_line = pg.InfiniteLine(angle=90, movable=False,
                                          pen=pg.mkPen("#ffffff", width=1, style=Qt.PenStyle.DotLine))
        self._step_line.setVisible(False)
        plot.addItem(self._step_line, ignoreBounds=True)

        self._output_curves: list[pg.PlotDataItem] = []
        self._output_overrides: list[pg.PlotDataItem] = []
        self._hidden_curves: list[pg.PlotDataItem] = []
        self._hidden_overrides: list[pg.PlotDataItem] = []
        for index in range(MAX_HIDDEN_CURVES):
            curve = pg.PlotDataItem(pen=pg.mkPen(hidden_colour(index), width=1.2, style=Qt.PenStyle.DashDotLine))
            curve.setVisible(False)
            plot.addItem(curve)
            self._hidden_curves.append(curve)
            override = pg.PlotDataItem(pen=pg.mkPen(hidden_colour(index), width=1, style=Qt.PenStyle.DashLine))
            override.setVisible(False)
            plot.addItem(override)
            self._hidden_overrides.append(override)

        self._firing_markers = pg.ScatterPlotItem(symbol="o", size=8, pen=pg.mkPen("#000000", width=1),
                                                  hoverable=True, tip=self._marker_tip)
        self._firing_markers.setZValue(10)
        plot.addItem(self._firing_markers)
        self._target_markers = pg.ScatterPlotItem(symbol="t1", size=13, pen=pg.mkPen("#000000", width=1),
                                                  hoverable=True, tip=self._marker_tip)
        self._target_markers.setZValue(11)
        plot.addItem(self._target_markers)

        self._message = pg.TextItem("", anchor=(0.5, 0.5))
        plot.addItem(self._message, ignoreBounds=True)

    def _ensure_output_curves(self, n_outputs: int) -> None:
        """Create the per-row output curves once per output-layer size."""
        if n_outputs == self._n_outputs:
            return
        for curve in self._output_curves + self._output_overrides:
            self._legend.removeItem(curve)
            self._plot.removeItem(curve)
        self._output_curves = []
        self._output_overrides = []
        for row in range(n_outputs):
            curve = pg.PlotDataItem(name=f"row {row}")
            self._plot.addItem(curve)
            self._output_curves.append(curve)
            override = pg.PlotDataItem()
            override.setVisible(False)
            self._plot.addItem(override)
            self._output_overrides.append(override)
        self._n_outputs = n_outputs

    # -- public interface -----------------------------------------------------------

    def select_hidden(self, layer: int, neuron: int) -> None:
        """Add hidden neuron ``neuron`` of hidden layer ``layer`` (1-based) to the drawn curves.

        The oldest choice is dropped beyond 12 curves. Out-of-range neurons are
        ignored with a log message.
        """
        hidden_sizes = self._state.network.layer_sizes[1:-1]
        if not 1 <= layer <= len(hidden_sizes) or not 0 <= neuron < hidden_sizes[layer - 1]:
            logger.warning("hidden neuron %d of layer %d is not in a network with hidden layers %s",
                           neuron, layer, hidden_sizes)
            return
        if (layer, neuron) in self._hidden:
            return
        self.set_hidden_neurons([*self._hidden, (layer, neuron)])

    def set_hidden_neurons(self, selected: list[tuple[int, int]]) -> None:
        """Draw exactly these hidden neurons, given as ``[(layer, neuron), …]`` with 1-based layers."""
        selected = list(dict.fromkeys((int(layer), int(neuron)) for layer, neuron in selected))
        self._hidden = selected[-MAX_HIDDEN_CURVES:]
        self._hidden_edit.setText(format_hidden_neurons(self._hidden))
        self._hidden_message.clear()
        self.hidden_selection_changed.emit(list(self._hidden))
        self._mark_dirty()

    def hidden_neurons(self) -> list[tuple[int, int]]:
        """Return the chosen hidden neurons as ``[(layer, neuron), …]``."""
        return list(self._hidden)

    def set_current_step(self, step: int | None) -> None:
        """Draw the curves only up to time step ``step`` (the scrubber's position), or fully for None."""
        self._current_step = None if step is None else max(0, int(step))
        self._mark_dirty()

    def current_step(self) -> int | None:
        return self._current_step

    def set_threshold_editable(self, editable: bool) -> None:
        """Let the user drag the output threshold line, which emits :attr:`threshold_dragged`."""
        self._threshold_editable = bool(editable)
        self._output_threshold.setMovable(self._threshold_editable)
        hover = pg.mkPen("#ffcc00", width=3) if editable else None
        if hover is not None:
            self._output_threshold.setHoverPen(hover)
        self._output_threshold.setToolTip(
            "Drag to try another output threshold on this sample." if editable
            else "Threshold θ of the output layer: a neuron fires one step after V rises above it."
        )

    def title_text(self) -> str:
        return self._title_label.text

    def threshold_ticks(self) -> list[tuple[float, str]]:
        """Return the (value, text) labels of the drawn threshold lines on the right axis."""
        return list(self._threshold_tick_list)

    def threshold_line(self) -> pg.InfiniteLine:
        """Return the output threshold line (draggable after ``set_threshold_editable(True)``)."""
        return self._output_threshold

    def output_curves(self) -> list[pg.PlotDataItem]:
        """Return the curve of each output row, in row order."""
        return list(self._output_curves)

    def hidden_curves(self) -> list[pg.PlotDataItem]:
        """Return the curves of the chosen hidden neurons, in :meth:`hidden_neurons` order."""
        return self._hidden_curves[:len(self._hidden)]

    def firing_markers(self) -> pg.ScatterPlotItem:
        return self._firing_markers

    def target_markers(self) -> pg.ScatterPlotItem:
        return self._target_markers

    def plot_item(self) -> pg.PlotItem:
        """Return the PlotItem of the curves (its title is a separate label above it)."""
        return self._plot

    def plot_items(self) -> pg.GraphicsLayout:
        """Return the GraphicsLayout holding the plot, for a pyqtgraph exporter."""
        return self._graphics.ci

    def export_table(self) -> tuple[list[str], list[list]]:
        """Return one row per drawn curve: layer, neuron, class, θ, firing time, target, then V(0) … V(t_last).

        Curves cut by :meth:`set_current_step` are exported only up to that step.
        Firing time t_max means the neuron did not fire. The class and target are
        empty for hidden neurons.
        """
        rows = [list(row["cells"]) + list(row["values"]) for row in self._drawn_rows]
        length = max((len(row["values"]) for row in self._drawn_rows), default=0)
        header = ["layer", "neuron", "class", "threshold", "firing time", "target"]
        header += [f"V({t})" for t in range(length)]
        return header, rows

    # -- signal handlers --------------------------------------------------------------

    def _on_network_changed(self, network) -> None:
        hidden_sizes = network.layer_sizes[1:-1]
        kept = [(layer, neuron) for layer, neuron in self._hidden
                if layer <= len(hidden_sizes) and neuron < hidden_sizes[layer - 1]]
        if kept != self._hidden:
            self.set_hidden_neurons(kept)
        self._mark_dirty()

    def _on_hidden_edited(self) -> None:
        hidden_sizes = tuple(self._state.network.layer_sizes[1:-1])
        selected, invalid = parse_hidden_neurons(self._hidden_edit.text(), hidden_sizes)
        self._hidden = selected[-MAX_HIDDEN_CURVES:]
        self.hidden_selection_changed.emit(list(self._hidden))
        if invalid:
            sizes = ", ".join(f"layer {i}: 0 … {size - 1}" for i, size in enumerate(hidden_sizes, start=1))
            self._hidden_message.setText(f"not in this network: {', '.join(invalid)}")
            self._hidden_message.setToolTip(f"Valid hidden neurons are {sizes or 'none (no hidden layer)'}.")
        else:
            self._hidden_message.clear()
        self._mark_dirty()

    def _on_threshold_dragged(self, line: pg.InfiniteLine) -> None:
        if self._threshold_editable:
            self.threshold_dragged.emit(float(line.value()))

    def _on_threshold_released(self, line: pg.InfiniteLine) -> None:
        if self._threshold_editable:
            self.threshold_drag_finished.emit(float(line.value()))

    # -- drawing ------------------------------------------------------------------------

    def _redraw(self) -> None:
        trace = self._state.trace
        network = self._state.network
        if trace is None:
            self._show_empty("Choose a probe sample to see its membrane potentials.")
            return
        n_outputs = trace.potentials[-1].shape[0]
        self._ensure_output_curves(n_outputs)
        self._message.setText("")
        t_max = trace.t_max
        end = t_max if self._current_step is None else min(t_max, self._current_step + 1)
        steps = np.arange(end, dtype=np.float64)
        n_layers = len(trace.potentials)

        self._drawn_rows = []
        fire_x, fire_y, fire_brush, fire_data = [], [], [], []
        target_x, target_y, target_brush, target_data = [], [], [], []
        output_theta = _common_threshold(trace.thresholds[-1])

        for row, curve in enumerate(self._output_curves):
            class_index = int(network.row_classes[row]) if row < len(network.row_classes) else row
            class_name = network.class_names[class_index] if class_index < len(network.class_names) else str(row)
            colour = class_colour(class_index)
            is_label = trace.label_row == row
            curve.setPen(pg.mkPen(colour, width=3.2 if is_label else 1.3))
            curve.setZValue(3 if is_label else 2)
            values = trace.potentials[-1][row, :end]
            curve.setData(steps, values)
            self._set_legend_name(curve, f"{class_name} (label)" if is_label else class_name)

            theta = float(trace.thresholds[-1][row])
            self._draw_override(self._output_overrides[row], theta, output_theta, colour, t_max)
            fired_at = int(trace.times[-1][row])
            if fired_at < t_max and fired_at <= end:
                fire_x.append(fired_at)
                fire_y.append(float(trace.potentials[-1][row, fired_at - 1]))
                fire_brush.append(pg.mkBrush(colour))
                fire_data.append(f"{class_name}: fires at t = {fired_at}")
            target = None
            if trace.targets is not None:
                target = int(trace.targets[row])
                target_x.append(target)
                target_y.append(theta)
                target_brush.append(pg.mkBrush(colour))
                wording = "stay silent" if target >= t_max else f"fire at t = {target}"
                target_data.append(f"{class_name}: target {wording}")
            self._drawn_rows.append({
                "cells": ["output", row, class_name, theta, fired_at, "" if target is None else target],
                "values": values.tolist(),
            })

        self._draw_hidden(trace, steps, end, fire_x, fire_y, fire_brush, fire_data)

        self._firing_markers.setData(x=np.asarray(fire_x, dtype=np.float64), y=np.asarray(fire_y, dtype=np.float64),
                                     brush=fire_brush, data=fire_data)
        self._target_markers.setData(x=np.asarray(target_x, dtype=np.float64),
                                     y=np.asarray(target_y, dtype=np.float64), brush=target_brush, data=target_data)

        if not self._output_threshold.moving:
            self._output_threshold.setValue(output_theta)
        self._update_threshold_ticks()
        self._step_line.setVisible(self._current_step is not None)
        if self._current_step is not None:
            self._step_line.setValue(min(self._current_step, t_max))
        self._plot.setXRange(0, t_max, padding=0.01)
        self._plot.enableAutoRange(axis=pg.ViewBox.YAxis)
        self._plot.setLimits(xMin=-0.05 * t_max, xMax=1.05 * t_max)
        self._title_label.setText(self._title(trace, network), size="9pt")

    def _draw_hidden(self, trace, steps, end, fire_x, fire_y, fire_brush, fire_data) -> None:
        t_max = trace.t_max
        n_layers = len(trace.potentials)
        layers_shown = set()
        for index, curve in enumerate(self._hidden_curves):
            override = self._hidden_overrides[index]
            if index >= len(self._hidden):
                curve.setVisible(False)
                override.setVisible(False)
                self._legend.removeItem(curve)
                continue
            layer, neuron = self._hidden[index]
            if layer >= n_layers or neuron >= trace.potentials[layer - 1].shape[0]:
                curve.setVisible(False)
                override.setVisible(False)
                self._legend.removeItem(curve)
                continue
            layers_shown.add(layer)
            name = f"h{layer} #{neuron}" if n_layers > 2 else f"hidden #{neuron}"
            values = trace.potentials[layer - 1][neuron, :end]
            curve.setData(steps, values)
            curve.setVisible(True)
            self._set_legend_name(curve, name)
            theta = float(trace.thresholds[layer - 1][neuron])
            layer_theta = _common_threshold(trace.thresholds[layer - 1])
            self._draw_override(override, theta, layer_theta, hidden_colour(index), t_max)
            fired_at = int(trace.times[layer][neuron])
            if fired_at < t_max and fired_at <= end:
                fire_x.append(fired_at)
                fire_y.append(float(trace.potentials[layer - 1][neuron, fired_at - 1]))
                fire_brush.append(pg.mkBrush(hidden_colour(index)))
                fire_data.append(f"{name}: fires at t = {fired_at}")
            self._drawn_rows.append({
                "cells": [layer_name(layer, n_layers), neuron, "", theta, fired_at, ""],
                "values": values.tolist(),
            })

        self._draw_hidden_thresholds(trace, layers_shown)

    def _draw_hidden_thresholds(self, trace, layers_shown: set[int]) -> None:
        """Show the θ line of each hidden layer that has a drawn neuron and hide the others."""
        for layer, line in self._hidden_thresholds.items():
            line.setVisible(layer in layers_shown)
        for layer in sorted(layers_shown):
            line = self._hidden_thresholds.get(layer)
            if line is None:
                line = self._make_hidden_threshold_line(layer)
                self._hidden_thresholds[layer] = line
            line.setValue(_common_threshold(trace.thresholds[layer - 1]))
            line.setVisible(True)

    def _make_hidden_threshold_line(self, layer: int) -> pg.InfiniteLine:
        line = pg.InfiniteLine(angle=0, movable=False,
                               pen=pg.mkPen(HIDDEN_COLOUR, width=1, style=Qt.PenStyle.DashLine))
        line.setToolTip(f"Threshold θ of hidden layer {layer}.")
        line.setZValue(5)
        self._plot.addItem(line)
        return line

    def _on_threshold_moved(self, _line) -> None:
        self._update_threshold_ticks()

    def _update_threshold_ticks(self) -> None:
        """Label each drawn θ line on the right axis ("θ h1, out = 100"); lines with equal values share a label."""
        names_by_value: dict[float, list[str]] = {}
        lines = [(f"h{layer}", line) for layer, line in sorted(self._hidden_thresholds.items()) if line.isVisible()]
        lines.append(("out", self._output_threshold))
        for name, line in lines:
            names_by_value.setdefault(round(float(line.value()), 6), []).append(name)
        ticks = []
        for value, names in names_by_value.items():
            ticks.append((value, f"θ {', '.join(names)} = {value:.4g}"))
        self._threshold_tick_list = ticks
        self._threshold_axis.setTicks([ticks, []])

    def _draw_override(self, item: pg.PlotDataItem, theta: float, layer_theta: float, colour, t_max: int) -> None:
        if theta == layer_theta:
            item.setVisible(False)
            return
        item.setPen(pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine))
        item.setData([0.0, float(t_max)], [theta, theta])
        item.setVisible(True)

    def _set_legend_name(self, curve: pg.PlotDataItem, name: str) -> None:
        for sample, label in self._legend.items:
            if sample.item is curve:
                if label.text != name:
                    label.setText(name)
                return
        self._legend.addItem(curve, name)

    def _show_empty(self, message: str) -> None:
        self._drawn_rows = []
        for curve in self._output_curves + self._output_overrides + self._hidden_overrides:
            curve.setData([], [])
        for curve in self._hidden_curves:
            curve.setData([], [])
        self._firing_markers.setData([], [])
        self._target_markers.setData([], [])
        self._message.setText(message)
        self._message.setPos(0.5, 0.5)
        self._plot.setRange(xRange=(0, 1), yRange=(0, 1))
        self._title_label.setText("", size="9pt")

    def _title(self, trace, network) -> str:
        probe = self._state.probe
        parts = []
        if probe is not None:
            where = "drawing" if probe.split == "drawing" else f"{probe.split} #{probe.index}"
            if probe.label is not None and probe.label < len(network.class_names):
                where += f", label {network.class_names[probe.label]}"
            parts.append(where)
        output_times = np.asarray(trace.times[-1])
        first = int(output_times.min())
        if first >= trace.t_max:
            parts.append("no output neuron fired")
        else:
            rows = np.flatnonzero(output_times == first)
            names = ", ".join(network.class_names[int(network.row_classes[row])] for row in rows)
            parts.append(f"first output spike at t = {first} ({names})")
        return " · ".join(parts)

    @staticmethod
    def _marker_tip(x, y, data) -> str:
        return str(data)


def _common_threshold(thresholds: np.ndarray) -> float:
    """Return the threshold most neurons of a layer share (overrides change single neurons)."""
    values, counts = np.unique(np.asarray(thresholds, dtype=np.float64), return_counts=True)
    return float(values[np.argmax(counts)])
