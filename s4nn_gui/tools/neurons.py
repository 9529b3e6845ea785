"""Dead and silent hidden neurons: firing rates over the last epoch, the reset cut-off and resets per epoch.

A hidden neuron that fired on fewer than ``dead_reset_fraction`` of an epoch's
training samples is "dead": after the epoch the trainer gives it fresh initial
weights (when ``dead_reset`` is on and the epoch was not the last).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from s4nn_gui.tools.common import ToolView

logger = logging.getLogger(__name__)

RATES_TOOLTIP = (
    "Each hidden neuron's firing rate (share of samples on which it fired), sorted from the "
    "quietest. Red points are under the dead-neuron cut-off (dashed line): after an epoch the "
    "trainer gives them fresh random weights. Neurons that never fired sit at the bottom edge."
)
RESETS_TOOLTIP = "Number of hidden neurons the trainer re-initialised after each epoch."
MEASURE_TOOLTIP = (
    "Count, for the current network, on how many training samples each hidden neuron fires "
    "(the trainer's figures come from the training passes of the last epoch)."
)
HIGHLIGHT_TOOLTIP = "Mark the neurons under the cut-off on the weight maps of the first hidden layer."
MAX_LISTED = 40


class NeuronsView(ToolView):
    """Firing rates of hidden neurons against the dead-neuron cut-off, and resets per epoch.

    Signals
    -------
    dead_neurons_changed(set)
        Neurons of hidden layer 1 under the cut-off, for the weight maps'
        ``set_highlighted`` (an empty set when highlighting is off).
    """

    dead_neurons_changed = pyqtSignal(object)

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._rates: tuple[np.ndarray, ...] = ()
        self._rates_source = ""
        self._samples = 0
        self._records: list[dict] = []
        self._dead: set[int] = set()
        self._build()
        self.setToolTip(RATES_TOOLTIP)

        state.epoch_finished.connect(self._on_epoch_finished)
        state.network_changed.connect(self._on_network_changed)

    def _build(self) -> None:
        self._layer_box = QComboBox()
        self._layer_box.setToolTip("Hidden layer whose neurons are shown.")
        self._layer_box.currentIndexChanged.connect(self._mark_dirty)
        self._highlight_box = QCheckBox("highlight on weight maps")
        self._highlight_box.setChecked(True)
        self._highlight_box.setToolTip(HIGHLIGHT_TOOLTIP)
        self._highlight_box.toggled.connect(self._emit_dead)
        self._measure_button = QPushButton("Measure on current network")
        self._measure_button.setToolTip(MEASURE_TOOLTIP)
        self._measure_button.clicked.connect(self.measure_current_network)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("hidden layer:"))
        controls.addWidget(self._layer_box)
        controls.addWidget(self._highlight_box)
        controls.addStretch(1)
        controls.addWidget(self._measure_button)

        self._summary = QLabel("No epoch finished yet. Train an epoch, or measure the current network.")
        self._summary.setWordWrap(True)
        self._summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self._graphics = pg.GraphicsLayoutWidget()
        rates = self._graphics.addPlot(row=0, col=0)
        rates.setLogMode(x=False, y=True)
        rates.setLabel("bottom", "hidden neurons, sorted by firing rate")
        rates.setLabel("left", "firing rate")
        rates.showGrid(x=False, y=True, alpha=0.15)
        rates.setMenuEnabled(False)
        rates.getViewBox().setToolTip(RATES_TOOLTIP)
        self._rates_plot = rates
        self._rates_curve = rates.plot(pen=pg.mkPen("#60a0ff", width=1.5))
        self._dead_points = rates.plot(pen=None, symbol="o", symbolSize=6, symbolBrush=pg.mkBrush("#ff4040"),
                                       symbolPen=None)
        self._cutoff_line = pg.InfiniteLine(angle=0, movable=False,
                                            pen=pg.mkPen("#ff8080", width=1, style=Qt.PenStyle.DashLine))
        self._cutoff_label = pg.TextItem("", color="#ff8080", anchor=(0, 1))
        rates.addItem(self._cutoff_line, ignoreBounds=True)
        rates.addItem(self._cutoff_label, ignoreBounds=True)

        resets = self._graphics.addPlot(row=1, col=0)
        resets.setLabel("bottom", "epoch")
        resets.setLabel("left", "neurons reset")
        resets.setMenuEnabled(False)
        resets.getViewBox().setToolTip(RESETS_TOOLTIP)
        self._resets_plot = resets
        self._resets_bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush="#e0a040")
        resets.addItem(self._resets_bars)
        self._graphics.ci.layout.setRowStretchFactor(0, 3)
        self._graphics.ci.layout.setRowStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self._summary)
        layout.addWidget(self._graphics, 1)

    # -- public interface ---------------------------------------------------------------

    def set_firing_rates(self, rates, samples: int, source: str) -> None:
        """Show per-hidden-layer firing rates (shares in [0, 1]) measured on ``samples`` samples."""
        self._rates = tuple(np.asarray(layer, dtype=np.float64) for layer in rates)
        self._samples = int(samples)
        self._rates_source = source
        self._update_layer_box()
        self._mark_dirty()

    def set_history(self, records) -> None:
        """Show the resets of these epoch records (a trainer's ``history``)."""
        self._records = [dict(record) for record in records]
        self._mark_dirty()

    def measure_current_network(self) -> None:
        """Measure each hidden neuron's firing rate on the training split with the current network."""
        splits = self._state.splits
        dataset = next((getattr(splits, name) for name in ("train", "validation", "test")
                        if getattr(splits, name, None) is not None and len(getattr(splits, name))), None)
        network = self._state.network
        if dataset is None or network.n_layers < 2:
            self._summary.setText("Nothing to measure: the network has no hidden layer or the dataset is empty.")
            return
        started = time.perf_counter()
        # The GUI thread may only run serial kernels.
        forward = network.forward(network.encode(dataset.images), parallel=False)
        rates = tuple((forward.times[layer] < network.t_max).mean(axis=0) for layer in range(1, network.n_layers))
        logger.debug("measured hidden firing rates on %d samples in %.3f s", len(dataset),
                     time.perf_counter() - started)
        self.set_firing_rates(rates, len(dataset), f"current network on the {dataset.name} samples")

    def dead_neurons(self, layer: int = 1) -> set[int]:
        """Return the neurons of hidden layer ``layer`` whose firing rate is under the cut-off."""
        if not 1 <= layer <= len(self._rates):
            return set()
        return set(np.flatnonzero(self._rates[layer - 1] < self._cutoff()).tolist())

    def plot_items(self) -> pg.GraphicsLayout:
        return self._graphics.ci

    def export_table(self) -> tuple[list[str], list[list]]:
        """Return one row per hidden neuron: layer, neuron, firing rate and whether it is under the cut-off."""
        cutoff = self._cutoff()
        rows = [[layer, neuron, float(rate), bool(rate < cutoff)]
                for layer, rates in enumerate(self._rates, start=1) for neuron, rate in enumerate(rates)]
        return ["hidden layer", "neuron", "firing rate", "under cut-off"], rows

    # -- events ----------------------------------------------------------------------------

    def _cutoff(self) -> float:
        return float(self._state.settings.training.dead_reset_fraction)

    def _on_epoch_finished(self, report) -> None:
        self._records.append(dict(report.record))
        if report.firing_rates:
            samples = int(report.train.samples)
            self.set_firing_rates(report.firing_rates, samples,
                                  f"training passes of epoch {report.epoch}")
        else:
            self._mark_dirty()

    def _on_network_changed(self, network) -> None:
        hidden = network.layer_sizes[1:-1]
        if tuple(rates.size for rates in self._rates) != tuple(hidden):
            self._rates = ()
            self._rates_source = ""
            self._update_layer_box()
            self._mark_dirty()

    def _update_layer_box(self) -> None:
        count = len(self._rates)
        if self._layer_box.count() == count:
            return
        self._layer_box.blockSignals(True)
        self._layer_box.clear()
        self._layer_box.addItems([f"hidden {layer}" for layer in range(1, count + 1)])
        self._layer_box.blockSignals(False)
        self._layer_box.setEnabled(count > 1)

    def _emit_dead(self) -> None:
        self.dead_neurons_changed.emit(set(self._dead) if self._highlight_box.isChecked() else set())

    def _redraw(self) -> None:
        self._draw_resets()
        layer = self._layer_box.currentIndex() + 1
        cutoff = self._cutoff()
        if not self._rates or layer < 1:
            self._rates_curve.setData([], [])
            self._dead_points.setData([], [])
            self._cutoff_line.setVisible(False)
            self._cutoff_label.setText("")
            if self._dead:
                self._dead = set()
                self._emit_dead()
            return

        rates = self._rates[layer - 1]
        order = np.argsort(rates, kind="stable")
        sorted_rates = rates[order]
        # Log axis: a rate of 0 is drawn at half of the smallest possible non-zero rate.
        floor = 0.5 / max(self._samples, 1)
        plotted = np.maximum(sorted_rates, floor)
        positions = np.arange(rates.size, dtype=np.float64)
        self._rates_curve.setData(positions, plotted)
        under = sorted_rates < cutoff
        self._dead_points.setData(positions[under], plotted[under])
        self._cutoff_line.setVisible(cutoff > 0)
        if cutoff > 0:
            self._cutoff_line.setValue(math.log10(cutoff))
            self._cutoff_label.setText(f"cut-off {100 * cutoff:g} %")
            self._cutoff_label.setPos(0, math.log10(cutoff))
        self._rates_plot.setXRange(-0.5, rates.size - 0.5, padding=0.01)
        low = math.log10(min(floor, cutoff if cutoff > 0 else 1.0))
        self._rates_plot.setYRange(low - 0.2, 0.05, padding=0)

        dead = np.flatnonzero(rates < cutoff)
        dead_layer_one = set(dead.tolist()) if layer == 1 else self.dead_neurons(1)
        if dead_layer_one != self._dead:
            self._dead = dead_layer_one
            self._emit_dead()
        never = int(np.count_nonzero(rates == 0))
        listed = ", ".join(str(int(n)) for n in dead[:MAX_LISTED]) + (" …" if dead.size > MAX_LISTED else "")
        self._summary.setText(
            f"{rates.size} neurons of hidden layer {layer} ({self._rates_source}, {self._samples} samples): "
            f"{dead.size} under the cut-off of {100 * cutoff:g} %, {never} never fired, median rate "
            f"{100 * float(np.median(rates)):.1f} %." + (f" Under the cut-off: {listed}." if dead.size else ""))

    def _draw_resets(self) -> None:
        epochs = [int(record.get("epoch", index)) for index, record in enumerate(self._records, start=1)]
        counts = [float(sum(record.get("dead_resets") or [0])) for record in self._records]
        self._resets_bars.setOpts(x=np.asarray(epochs, dtype=np.float64), height=np.asarray(counts),
                                  width=0.7)
        if epochs:
            spacing = max(1, math.ceil((max(epochs) - min(epochs) + 1) / 10))
            self._resets_plot.getAxis("bottom").setTickSpacing(major=spacing, minor=spacing)
            self._resets_plot.setXRange(min(epochs) - 0.6, max(epochs) + 0.6, padding=0)
            self._resets_plot.setYRange(0, max(max(counts), 1.0) * 1.1, padding=0)
