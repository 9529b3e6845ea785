"""Decision times per class and accuracy as a function of the readout step ("how early can it answer?").

The decision time τ of a sample is its first output spike; a silent sample is
undecided. Accuracy if the readout stops at step s counts a sample as correct
when τ ≤ s and its decision is correct, so undecided samples count as wrong.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from s4nn_engine.metrics import SILENT, SampleResults, accuracy_by_readout_step, decision_time_histograms
from s4nn_gui.plots.common import class_colour
from s4nn_gui.tools.common import SPLITS, ResultsCache, SplitResults, ToolView

logger = logging.getLogger(__name__)

ALL_CLASSES = "all classes"
HISTOGRAM_TOOLTIP = (
    "How many samples of each true class were decided at each time step (their first output "
    "spike), in bins of the chosen width. Silent samples are undecided and not counted here."
)
ACCURACY_TOOLTIP = (
    "Accuracy if the readout stopped at step s: a sample counts when its first output spike came "
    "at or before s and its decision is correct; undecided samples count as wrong."
)
BIN_TOOLTIP = "Width of the histogram bins, in time steps."
CLASS_TOOLTIP = "Show every true class, or only one (the accuracy curve then covers that class only)."


def select_class(results: SampleResults, class_index: int) -> SampleResults:
    """Return the results of the samples whose true class is ``class_index``."""
    keep = results.labels == class_index
    arrays = {field.name: getattr(results, field.name)[keep] for field in dataclasses.fields(results)
              if field.name != "t_max"}
    return SampleResults(**arrays, t_max=results.t_max)


def bin_counts(histograms: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum per-step counts (rows, steps) into bins of ``width`` steps starting at 0.

    Returns the bin edges (n_bins + 1,) and the binned counts (rows, n_bins) as float64.
    """
    rows, steps = histograms.shape
    n_bins = max(1, -(-steps // width))
    padded = np.zeros((rows, n_bins * width), dtype=np.float64)
    padded[:, :steps] = histograms
    edges = np.arange(n_bins + 1, dtype=np.float64) * width
    return edges, padded.reshape(rows, n_bins, width).sum(axis=2)


class DecisionTimeView(ToolView):
    """Histogram of decision times per class and the accuracy-by-readout-step curve of a split."""

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._cache = ResultsCache.of(state)
        self._entry: SplitResults | None = None
        self._curves: list[pg.PlotDataItem] = []
        self._histograms = np.zeros((0, 0), dtype=np.int64)
        self._accuracy = np.zeros(0)
        self._build()
        self.setToolTip(HISTOGRAM_TOOLTIP)

        self._cache.updated.connect(self._on_results_updated)
        state.network_changed.connect(self._mark_dirty)

    def _build(self) -> None:
        self._split_box = QComboBox()
        self._split_box.addItems(SPLITS)
        self._split_box.setToolTip("Split whose decision times are shown.")
        self._split_box.currentTextChanged.connect(self._mark_dirty)
        self._class_box = QComboBox()
        self._class_box.addItem(ALL_CLASSES)
        self._class_box.setToolTip(CLASS_TOOLTIP)
        self._class_box.currentIndexChanged.connect(self._mark_dirty)
        self._bin_box = QSpinBox()
        self._bin_box.setRange(1, 128)
        self._bin_box.setValue(8)
        self._bin_box.setSuffix(" steps")
        self._bin_box.setToolTip(BIN_TOOLTIP)
        self._bin_box.valueChanged.connect(self._mark_dirty)
        self._summary = QLabel()
        self._summary.setWordWrap(True)
        self._summary.setToolTip(ACCURACY_TOOLTIP)

        controls = QHBoxLayout()
        for label, widget in (("split:", self._split_box), ("class:", self._class_box), ("bin:", self._bin_box)):
            caption = QLabel(label)
            caption.setToolTip(widget.toolTip())
            controls.addWidget(caption)
            controls.addWidget(widget)
        controls.addStretch(1)

        self._graphics = pg.GraphicsLayoutWidget()
        histogram = self._graphics.addPlot(row=0, col=0)
        histogram.setLabel("bottom", "decision time τ (first output spike)")
        histogram.setLabel("left", "samples")
        histogram.showGrid(x=True, y=True, alpha=0.15)
        histogram.setMenuEnabled(False)
        self._legend = histogram.addLegend(offset=(-8, 8), labelTextSize="8pt", colCount=2)
        self._histogram_plot = histogram
        accuracy = self._graphics.addPlot(row=1, col=0)
        accuracy.setLabel("bottom", "readout stops at step s")
        accuracy.setLabel("left", "accuracy")
        accuracy.showGrid(x=True, y=True, alpha=0.15)
        accuracy.setMenuEnabled(False)
        accuracy.setXLink(histogram)
        accuracy.setYRange(0, 1, padding=0.02)
        self._accuracy_plot = accuracy
        self._accuracy_curve = accuracy.plot(pen=pg.mkPen("#f0c040", width=2))
        self._final_line = pg.InfiniteLine(angle=0, movable=False,
                                           pen=pg.mkPen("#a0a0a0", style=Qt.PenStyle.DashLine),
                                           label="at t_max: {value:.3f}",
                                           labelOpts={"position": 0.02, "anchors": [(0, 0), (0, 0)]})
        accuracy.addItem(self._final_line)
        self._reach_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#60a0ff", width=1),
                                            label="90 % of final at s = {value:.0f}",
                                            labelOpts={"position": 0.25, "anchors": [(0, 0), (0, 0)]})
        accuracy.addItem(self._reach_line)
        histogram.getViewBox().setToolTip(HISTOGRAM_TOOLTIP)
        accuracy.getViewBox().setToolTip(ACCURACY_TOOLTIP)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self._summary)
        layout.addWidget(self._graphics, 1)

    # -- public interface ------------------------------------------------------------------

    def set_split(self, split: str) -> None:
        self._split_box.setCurrentText(split)

    def set_class(self, class_index: int | None) -> None:
        """Show one true class, or every class for None."""
        self._class_box.setCurrentIndex(0 if class_index is None else int(class_index) + 1)

    def set_bin_width(self, steps: int) -> None:
        self._bin_box.setValue(int(steps))

    def histograms(self) -> np.ndarray:
        """Return the per-class decision-time counts, shape (n_classes, t_max + 1), unbinned."""
        return self._histograms.copy()

    def reach_label(self) -> pg.InfLineLabel:
        """Return the label of the "90 % of final" line."""
        return self._reach_line.label

    def accuracy_curve(self) -> np.ndarray:
        """Return the plotted accuracy for readout steps 0 … t_max."""
        return self._accuracy.copy()

    def plot_items(self) -> pg.GraphicsLayout:
        """Return the GraphicsLayout of both plots, for pyqtgraph's exporters."""
        return self._graphics.ci

    def export_table(self) -> tuple[list[str], list[list]]:
        """Return one row per time step: s, the accuracy at s and each class's count of decisions at s."""
        names = self._class_names()
        header = ["step", "accuracy if stopped at step", *[f"decided at step: class {name}" for name in names]]
        rows = []
        for step in range(self._accuracy.size):
            counts = self._histograms[:, step].tolist() if self._histograms.size else []
            rows.append([step, float(self._accuracy[step]), *counts])
        return header, rows

    # -- drawing -----------------------------------------------------------------------------

    def _on_results_updated(self, split: str) -> None:
        if split == self._split_box.currentText():
            self._mark_dirty()

    def _class_names(self) -> tuple[str, ...]:
        return tuple(self._state.network.class_names)

    def _ensure_curves(self, names: tuple[str, ...]) -> None:
        if len(self._curves) == len(names) and self._class_box.count() == len(names) + 1:
            return
        for curve in self._curves:
            self._legend.removeItem(curve)
            self._histogram_plot.removeItem(curve)
        self._curves = []
        for class_index, name in enumerate(names):
            curve = pg.PlotDataItem(stepMode="center", pen=pg.mkPen(class_colour(class_index), width=1.6), name=name)
            self._histogram_plot.addItem(curve)
            self._curves.append(curve)
        self._class_box.blockSignals(True)
        current = self._class_box.currentIndex()
        self._class_box.clear()
        self._class_box.addItem(ALL_CLASSES)
        self._class_box.addItems([f"class {name}" for name in names])
        self._class_box.setCurrentIndex(current if 0 <= current <= len(names) else 0)
        self._class_box.blockSignals(False)

    def _redraw(self) -> None:
        names = self._class_names()
        self._ensure_curves(names)
        split = self._split_box.currentText()
        entry = self._cache.get(split)
        self._entry = entry
        if entry is None:
            for curve in self._curves:
                curve.setData([], [])
            self._accuracy_curve.setData([], [])
            self._histograms = np.zeros((len(names), 0), dtype=np.int64)
            self._accuracy = np.zeros(0)
            self._summary.setText(f"The dataset has no {split} split.")
            return

        results = entry.results
        t_max = results.t_max
        n_classes = max(len(names), int(results.labels.max(initial=0)) + 1)
        self._histograms = decision_time_histograms(results, n_classes)
        chosen = self._class_box.currentIndex() - 1
        selected = select_class(results, chosen) if chosen >= 0 else results
        self._accuracy = accuracy_by_readout_step(selected)

        edges, binned = bin_counts(self._histograms, self._bin_box.value())
        for class_index, curve in enumerate(self._curves):
            curve.setVisible(chosen < 0 or chosen == class_index)
            curve.setData(edges, binned[class_index])

        steps = np.arange(t_max + 1, dtype=np.float64)
        self._accuracy_curve.setData(steps, self._accuracy)
        final = float(self._accuracy[-1]) if self._accuracy.size else 0.0
        self._final_line.setValue(final)
        reach = np.flatnonzero(self._accuracy >= 0.9 * final) if final > 0 else np.zeros(0, dtype=np.int64)
        self._reach_line.setVisible(reach.size > 0)
        if reach.size:
            self._reach_line.setValue(float(reach[0]))
            # The label runs right of the line in the left half and left of it in the right half,
            # so that the plot's edge never cuts it.
            anchor = (1, 0) if reach[0] > t_max / 2 else (0, 0)
            self._reach_line.label.anchors = [anchor, anchor]
            self._reach_line.label.updatePosition()
        self._histogram_plot.setXRange(0, t_max, padding=0.01)

        decided = selected.outcomes != SILENT
        undecided = int(np.count_nonzero(~decided))
        median = float(np.median(selected.decision_times[decided])) if decided.any() else float("nan")
        subject = "all classes" if chosen < 0 else f"class {names[chosen]}"
        median_text = "–" if np.isnan(median) else f"{median:.0f}"
        reach_text = f"; 90 % of that by step {int(reach[0])}" if reach.size else ""
        self._summary.setText(
            f"{split} split, {subject}: {selected.labels.size} samples ({entry.source}), {undecided} undecided, "
            f"median τ = {median_text}. Accuracy with the full {t_max} steps: {100 * final:.2f} %{reach_text}.")
