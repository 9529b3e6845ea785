"""Accuracy, outcome counts and decision time per epoch, with markers where settings changed."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from s4nn_gui.plots.common import LivePlot, format_change, format_value, hidden_colour

logger = logging.getLogger(__name__)

# (record key suffix, combo box text); the suffix completes "train_", "validation_" or "test_".
METRICS = (
    ("accuracy", "accuracy (decision)"),
    ("first_spike_accuracy", "first-spike accuracy"),
    ("reference_accuracy", "reference accuracy (published rule)"),
)
SPLITS = ("train", "validation", "test")
SPLIT_COLOURS = {"train": "#f28e2b", "validation": "#4e9ae6", "test": "#59c05a"}
OUTCOME_COLOURS = {"clean": "#59c05a", "tie": "#e0b040", "silent": "#e8545a"}
DECISION_TIME_COLOUR = "#c4a8ff"
DEAD_RESET_COLOUR = "#a0a0a0"
MARKER_COLOUR = "#d0d0d0"
# Heights (as a fraction of the view) at which successive setting-change labels sit,
# so that labels of changes close together do not print over each other.
LABEL_POSITIONS = (0.97, 0.82, 0.67, 0.52, 0.37)
AXIS_WIDTH = 56

ACCURACY_TOOLTIP = (
    "Accuracy after each epoch on the training samples (measured while training), the validation "
    "split and the test split. The hollow point is the training accuracy of the epoch running now, "
    "and vertical lines mark live setting changes (hover over a label for the full change)."
)
OUTCOMES_TOOLTIP = (
    "How the samples of the validation split (the training split when there is none) were decided "
    "after each epoch: clean (one neuron fired first), tie (several fired first) or silent (no output "
    "fired). The right axis shows the mean decision time, the first output spike of the decided samples."
)
METRIC_TOOLTIP = (
    "Which accuracy to plot. Decision: the prediction the product shows (ties go to the larger "
    "potential). First-spike: the label's neuron alone fires first, the strictest figure. Reference: "
    "the published code's rule, which counts a tie as correct when the label is among the earliest."
)


@dataclass(frozen=True)
class SettingMarker:
    """A setting change drawn at ``x`` epochs; ``text`` describes every change it made, old and new values."""

    x: float
    epoch: int
    text: str
    label: str  # the short form shown next to the line: new values only
    exact: bool  # False when restored from history, where only the epoch is known


class AccuracyPlot(LivePlot):
    """Per-epoch accuracy (top) and outcome counts with mean decision time (bottom).

    The x axis counts epochs: the figures of epoch e sit at x = e, and x = e − 1
    is the start of epoch e. Epoch results come from ``state.epoch_finished`` and
    setting changes from ``state.settings_applied``; every one of them is kept.
    Call :meth:`clear` when the network is reset and :meth:`load_history` when
    one is loaded.
    """

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._records: list[dict] = []
        self._markers: list[SettingMarker] = []
        self._marker_lines: list[pg.InfiniteLine] = []
        self._running: tuple[float, dict] | None = None
        self._overlays: list[tuple[str, list[dict]]] = []
        self._overlay_curves: list[pg.PlotDataItem] = []

        self._metric_box = QComboBox()
        for key, text in METRICS:
            self._metric_box.addItem(text, key)
        self._metric_box.setToolTip(METRIC_TOOLTIP)
        self._metric_box.currentIndexChanged.connect(self._on_metric_changed)
        label = QLabel("show:")
        label.setToolTip(METRIC_TOOLTIP)
        controls = QHBoxLayout()
        controls.setContentsMargins(4, 2, 4, 0)
        controls.addWidget(label)
        controls.addWidget(self._metric_box)
        controls.addStretch(1)

        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.setToolTip(ACCURACY_TOOLTIP)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(controls)
        layout.addWidget(self._graphics, 1)
        self._build_accuracy_plot()
        self._build_outcome_plot()
        self.setToolTip(ACCURACY_TOOLTIP)

        state.epoch_finished.connect(self._on_epoch_finished)
        state.settings_applied.connect(self._on_settings_applied)
        self._mark_dirty()

    # -- construction -------------------------------------------------------------

    def _build_accuracy_plot(self) -> None:
        plot = self._graphics.addPlot(row=0, col=0)
        plot.setLabel("left", "accuracy (%)")
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setMenuEnabled(False)
        plot.getAxis("bottom").setStyle(showValues=False)
        plot.setLimits(yMin=-2, yMax=102)
        plot.setToolTip(ACCURACY_TOOLTIP)
        self._accuracy_plot = plot
        self._accuracy_legend = plot.addLegend(offset=(-8, -8), labelTextSize="8pt")

        self._curves: dict[str, pg.PlotDataItem] = {}
        for split in SPLITS:
            colour = SPLIT_COLOURS[split]
            curve = pg.PlotDataItem(name=split, pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=6,
                                    symbolBrush=colour, symbolPen=None, connect="finite")
            plot.addItem(curve)
            self._curves[split] = curve
        colour = SPLIT_COLOURS["train"]
        self._running_segment = pg.PlotDataItem(pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DotLine))
        plot.addItem(self._running_segment)
        self._running_point = pg.ScatterPlotItem(symbol="o", size=10, brush=None, pen=pg.mkPen(colour, width=2))
        plot.addItem(self._running_point)

    def _build_outcome_plot(self) -> None:
        plot = self._graphics.addPlot(row=1, col=0)
        plot.setLabel("left", "samples")
        plot.setLabel("bottom", "epoch")
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setMenuEnabled(False)
        plot.setXLink(self._accuracy_plot)
        plot.setToolTip(OUTCOMES_TOOLTIP)
        self._outcome_plot = plot
        ## The legend gets its own layout row below the plot so that it never hides a curve.
        self._outcome_legend = pg.LegendItem(labelTextSize="7pt", colCount=5)
        self._graphics.addItem(self._outcome_legend, row=2, col=0)
        self._outcome_curves: dict[str, pg.PlotDataItem] = {}
        for name, colour in OUTCOME_COLOURS.items():
            curve = pg.PlotDataItem(name=name, pen=pg.mkPen(colour, width=1.5), symbol="s", symbolSize=4,
                                    symbolBrush=colour, symbolPen=None, connect="finite")
            plot.addItem(curve)
            self._outcome_legend.addItem(curve, name)
            self._outcome_curves[name] = curve
        self._dead_curve = pg.PlotDataItem(name="dead neurons reset",
                                           pen=pg.mkPen(DEAD_RESET_COLOUR, width=1, style=Qt.PenStyle.DotLine),
                                           symbol="x", symbolSize=6, symbolPen=DEAD_RESET_COLOUR, connect="finite")
        plot.addItem(self._dead_curve)
        self._outcome_legend.addItem(self._dead_curve, "dead neurons reset")

        ## A second ViewBox sharing the x axis carries the decision time on the right axis,
        ## because steps and sample counts have unrelated scales.
        self._time_view = pg.ViewBox(enableMenu=False)
        plot.showAxis("right")
        plot.setLabel("right", "mean decision time (steps)")
        plot.scene().addItem(self._time_view)
        plot.getAxis("right").linkToView(self._time_view)
        self._time_view.setXLink(plot)
        self._time_curve = pg.PlotDataItem(pen=pg.mkPen(DECISION_TIME_COLOUR, width=1.5, style=Qt.PenStyle.DashLine),
                                           symbol="d", symbolSize=6, symbolBrush=DECISION_TIME_COLOUR,
                                           symbolPen=None, connect="finite")
        self._time_view.addItem(self._time_curve)
        self._outcome_legend.addItem(self._time_curve, "decision time")
        plot.getViewBox().sigResized.connect(self._sync_time_view)

        # Equal axis widths keep the x axes of both plots aligned.
        for item in (self._accuracy_plot, plot):
            item.getAxis("left").setWidth(AXIS_WIDTH)
            item.showAxis("right")
            item.getAxis("right").setWidth(AXIS_WIDTH)
        self._accuracy_plot.getAxis("right").setStyle(showValues=False)
        self._graphics.ci.layout.setRowStretchFactor(0, 3)
        self._graphics.ci.layout.setRowStretchFactor(1, 2)

    def _sync_time_view(self) -> None:
        self._time_view.setGeometry(self._outcome_plot.getViewBox().sceneBoundingRect())
        self._time_view.linkedViewChanged(self._outcome_plot.getViewBox(), self._time_view.XAxis)

    # -- public interface -----------------------------------------------------------

    def current_metric(self) -> str:
        """Return the record key suffix of the accuracy shown: "accuracy", "first_spike_accuracy" or …"""
        return self._metric_box.currentData()

    def set_metric(self, metric: str) -> None:
        """Show ``metric``: "accuracy", "first_spike_accuracy" or "reference_accuracy"."""
        index = self._metric_box.findData(metric)
        if index < 0:
            valid = ", ".join(key for key, _ in METRICS)
            raise ValueError(f"unknown accuracy {metric!r}; valid: {valid}")
        self._metric_box.setCurrentIndex(index)

    def set_running(self, report) -> None:
        """Place the live training point of a ProgressReport at x = epoch − 1 + samples_done / samples_total."""
        if report.samples_total <= 0:
            return
        x = report.epoch - 1 + report.samples_done / report.samples_total
        running = report.running
        figures = {key: getattr(running, key) for key, _ in METRICS}
        self._running = (x, figures)
        self._mark_dirty()

    def clear(self) -> None:
        """Forget every epoch, setting change and live point (overlays stay)."""
        self._records = []
        self._markers = []
        self._running = None
        self._sync_marker_lines()
        self._mark_dirty()

    def load_history(self, records: list[dict]) -> None:
        """Show the epoch records of a loaded run, replacing what is shown.

        A setting that differs between two consecutive records changed during
        the later epoch. The records do not say at which sample, so its marker
        sits in the middle of that epoch.
        """
        self._records = sorted((dict(record) for record in records), key=lambda record: record["epoch"])
        self._running = None
        self._markers = _markers_from_history(self._records)
        self._sync_marker_lines()
        self._mark_dirty()

    def records(self) -> list[dict]:
        """Return copies of the epoch records shown, in epoch order."""
        return [dict(record) for record in self._records]

    def set_overlays(self, runs: list[tuple[str, list[dict]]]) -> None:
        """Draw the validation curve (training curve if a run has no validation) of other runs, dashed."""
        self._overlays = [(str(name), _numbered_records(records)) for name, records in runs]
        for curve in self._overlay_curves:
            self._accuracy_legend.removeItem(curve)
            self._accuracy_plot.removeItem(curve)
        self._overlay_curves = []
        for index, (name, _) in enumerate(self._overlays):
            colour = hidden_colour(index)
            curve = pg.PlotDataItem(pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine), symbol="t",
                                    symbolSize=5, symbolBrush=colour, symbolPen=None, connect="finite")
            curve.setZValue(-1)
            self._accuracy_plot.addItem(curve)
            self._accuracy_legend.addItem(curve, name)
            self._overlay_curves.append(curve)
        self._mark_dirty()

    def accuracy_curves(self) -> dict[str, pg.PlotDataItem]:
        """Return the curves of "train", "validation" and "test"."""
        return dict(self._curves)

    def overlay_curves(self) -> list[pg.PlotDataItem]:
        return list(self._overlay_curves)

    def outcome_curves(self) -> dict[str, pg.PlotDataItem]:
        """Return the curves of "clean", "tie", "silent", "dead neurons reset" and "mean decision time"."""
        return {**self._outcome_curves, "dead neurons reset": self._dead_curve,
                "mean decision time": self._time_curve}

    def running_point(self) -> pg.ScatterPlotItem:
        return self._running_point

    def setting_markers(self) -> list[SettingMarker]:
        return list(self._markers)

    def marker_lines(self) -> list[pg.InfiniteLine]:
        return list(self._marker_lines)

    def plot_items(self) -> pg.GraphicsLayout:
        """Return the GraphicsLayout holding both plots, for a pyqtgraph exporter."""
        return self._graphics.ci

    def export_table(self) -> tuple[list[str], list[list]]:
        """Return the plotted values, one row per epoch, live point, setting change and overlay point.

        ``kind`` is "epoch", "running", "setting change" or "overlay NAME".
        Accuracies are in percent for the metric chosen in the combo box, and
        empty cells mean the value does not exist (for example no test split).
        """
        metric = self.current_metric()
        header = ["x (epochs)", "kind", f"train {metric} (%)", f"validation {metric} (%)", f"test {metric} (%)",
                  "outcome split", "clean", "tie", "silent", "mean decision time", "dead neurons reset",
                  "setting change"]
        rows = []
        for record in self._records:
            accuracies = [_percent(record.get(f"{split}_{metric}")) for split in SPLITS]
            prefix = _outcome_prefix(record)
            outcomes = [_cell(record.get(f"{prefix}_{name}")) for name in ("clean", "tie", "silent",
                                                                          "mean_decision_time")]
            rows.append([record["epoch"], "epoch", *accuracies, prefix, *outcomes,
                         sum(record.get("dead_resets") or []), ""])
        if self._running is not None:
            x, figures = self._running
            rows.append([x, "running", _percent(figures[metric]), "", "", "", "", "", "", "", "", ""])
        for marker in self._markers:
            rows.append([marker.x, "setting change", "", "", "", "", "", "", "", "", "", marker.text])
        for name, records in self._overlays:
            for epoch, value in zip(*_overlay_series(records, metric)):
                rows.append([epoch, f"overlay {name}", "", _percent(value), "", "", "", "", "", "", "", ""])
        rows.sort(key=lambda row: (float(row[0]), row[1] != "epoch"))
        return header, rows

    # -- signal handlers --------------------------------------------------------------

    def _on_metric_changed(self, _index: int) -> None:
        self._mark_dirty()

    def _on_epoch_finished(self, report) -> None:
        record = dict(report.record)
        epoch = record["epoch"]
        if self._records and epoch <= self._records[-1]["epoch"]:
            # A lower epoch number means a new run from an earlier network; its
            # figures replace those of the abandoned epochs from there on.
            logger.info("epoch %d arrived after epoch %d; replacing the later records",
                        epoch, self._records[-1]["epoch"])
            self._records = [kept for kept in self._records if kept["epoch"] < epoch]
        self._records.append(record)
        if self._running is not None and self._running[0] <= epoch:
            self._running = None
        self._mark_dirty()

    def _on_settings_applied(self, change) -> None:
        train = getattr(self._state.splits, "train", None)
        samples_total = len(train) if train is not None else 0
        fraction = change.samples_done / samples_total if samples_total else 0.0
        text = "; ".join(format_change(name, old, new) for name, (old, new) in change.changes.items())
        label = ", ".join(f"{name} → {format_value(new)}" for name, (_, new) in change.changes.items())
        self._markers.append(SettingMarker(change.epoch - 1 + fraction, change.epoch, text, label, True))
        self._sync_marker_lines()
        self._mark_dirty()

    # -- drawing ------------------------------------------------------------------------

    def _sync_marker_lines(self) -> None:
        """Create a line for each new marker and remove lines of forgotten markers."""
        while len(self._marker_lines) > len(self._markers):
            line = self._marker_lines.pop()
            self._accuracy_plot.removeItem(line)
        for index in range(len(self._marker_lines), len(self._markers)):
            marker = self._markers[index]
            style = Qt.PenStyle.DashLine if marker.exact else Qt.PenStyle.DashDotLine
            where = "" if marker.exact else f" (during epoch {marker.epoch}; the exact sample was not recorded)"
            line = pg.InfiniteLine(pos=marker.x, angle=90, movable=False,
                                   pen=pg.mkPen(MARKER_COLOUR, width=1, style=style),
                                   label=marker.label, labelOpts={
                                       "position": LABEL_POSITIONS[index % len(LABEL_POSITIONS)],
                                       "rotateAxis": (1, 0), "anchors": [(1, 0), (1, 0)],
                                       "color": MARKER_COLOUR,
                                   })
            line.label.setFont(_small_font())
            line.setToolTip(marker.text + where)
            line.label.setToolTip(marker.text + where)
            self._accuracy_plot.addItem(line, ignoreBounds=True)
            self._marker_lines.append(line)

    def _redraw(self) -> None:
        metric = self.current_metric()
        epochs = np.array([record["epoch"] for record in self._records], dtype=np.float64)
        for split, curve in self._curves.items():
            values = np.array([_percent_or_nan(record.get(f"{split}_{metric}")) for record in self._records])
            _set_curve(curve, epochs, values)
        self._draw_running(metric)
        self._draw_overlays(metric)
        self._draw_outcomes(epochs)

        last_x = max([epochs.max() if epochs.size else 0.0,
                      self._running[0] if self._running is not None else 0.0,
                      max((marker.x for marker in self._markers), default=0.0)])
        planned = getattr(getattr(self._state.settings, "training", None), "epochs", 1)
        self._accuracy_plot.setXRange(0, max(float(planned), math.ceil(last_x), 1.0), padding=0.02)
        name = self._metric_box.currentText()
        self._accuracy_plot.setTitle(name, size="9pt")

    def _draw_running(self, metric: str) -> None:
        if self._running is None:
            self._running_point.setData([], [])
            self._running_segment.setData([], [])
            return
        x, figures = self._running
        y = _percent_or_nan(figures[metric])
        self._running_point.setData([x], [y])
        previous = [record for record in self._records if record["epoch"] <= x]
        if previous:
            start_x = float(previous[-1]["epoch"])
            start_y = _percent_or_nan(previous[-1].get(f"train_{metric}"))
            self._running_segment.setData([start_x, x], [start_y, y])
        else:
            self._running_segment.setData([], [])

    def _draw_overlays(self, metric: str) -> None:
        for curve, (_, records) in zip(self._overlay_curves, self._overlays):
            epochs, values = _overlay_series(records, metric)
            _set_curve(curve, np.asarray(epochs, dtype=np.float64),
                       np.array([_percent_or_nan(value) for value in values]))

    def _draw_outcomes(self, epochs: np.ndarray) -> None:
        prefixes = [_outcome_prefix(record) for record in self._records]
        for name, curve in self._outcome_curves.items():
            values = np.array([_float_or_nan(record.get(f"{prefix}_{name}"))
                               for record, prefix in zip(self._records, prefixes)])
            _set_curve(curve, epochs, values)
        times = np.array([_float_or_nan(record.get(f"{prefix}_mean_decision_time"))
                          for record, prefix in zip(self._records, prefixes)])
        _set_curve(self._time_curve, epochs, times)
        dead = np.array([_float_or_nan(sum(record["dead_resets"])) if record.get("dead_resets") is not None
                         else float("nan") for record in self._records])
        _set_curve(self._dead_curve, epochs, dead)
        self._time_view.enableAutoRange(axis=pg.ViewBox.YAxis)
        split = prefixes[-1] if prefixes else "validation"
        self._outcome_plot.setTitle(f"outcomes on the {split} split", size="9pt")


# -- record helpers ------------------------------------------------------------------


def _outcome_prefix(record: dict) -> str:
    return "validation" if record.get("validation_clean") is not None else "train"


def _numbered_records(records) -> list[dict]:
    """Copy another run's history records for an overlay, each with a usable epoch number.

    A run recorded by another program, or a damaged one, may hold records that are not
    dicts (skipped) or that lack a numeric "epoch" (numbered by their position instead),
    and values that are not numbers (drawn as gaps).
    """
    numbered = []
    for position, record in enumerate(records or (), start=1):
        if not isinstance(record, dict):
            continue
        record = dict(record)
        epoch = record.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, (int, float)) or not math.isfinite(epoch):
            record["epoch"] = position
        numbered.append(record)
    return numbered


def _overlay_series(records: list[dict], metric: str) -> tuple[list[int], list]:
    epochs, values = [], []
    for record in sorted(records, key=lambda record: record["epoch"]):
        value = record.get(f"validation_{metric}")
        if value is None:
            value = record.get(f"train_{metric}")
        epochs.append(record["epoch"])
        values.append(value if _is_number(value) else None)
    return epochs, values


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _markers_from_history(records: list[dict]) -> list[SettingMarker]:
    markers = []
    for before, after in zip(records, records[1:]):
        names = [name for name in ("thresholds", "learning_rates", "l2", "gamma")
                 if name in before and name in after and before[name] != after[name]]
        if names:
            epoch = after["epoch"]
            text = "; ".join(format_change(name, before[name], after[name]) for name in names)
            label = ", ".join(f"{name} → {format_value(after[name])}" for name in names)
            markers.append(SettingMarker(epoch - 0.5, epoch, text, label, False))
    return markers


def _set_curve(curve: pg.PlotDataItem, x: np.ndarray, y: np.ndarray) -> None:
    """Set a curve's data, or clear it when no value is finite (an all-NaN curve has no bounds)."""
    if not np.any(np.isfinite(y)):
        curve.setData([], [])
        return
    curve.setData(x, y)


def _float_or_nan(value) -> float:
    if value is None:
        return float("nan")
    return float(value)


def _percent_or_nan(value) -> float:
    return 100.0 * _float_or_nan(value)


def _percent(value):
    return "" if value is None else 100.0 * float(value)


def _cell(value):
    return "" if value is None else value


def _small_font():
    font = pg.QtGui.QFont()
    font.setPointSize(7)
    return font
