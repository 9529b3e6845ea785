"""What-if: try other thresholds on the frozen probe sample and compare the decision before and after.

Overrides change the threshold of single neurons in the probe's trace only
(``state.set_threshold_overrides``); the trained network keeps one threshold per
layer and its weights. Because a training run would not use the overrides, the
view is enabled only while training is idle, paused or finished, and it clears
the overrides when training starts running.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox,
                             QHBoxLayout, QHeaderView, QLabel, QPushButton, QSpinBox, QTableWidget,
                             QTableWidgetItem, QVBoxLayout, QWidget)

from s4nn_engine.config import SettingsError
from s4nn_gui.tools.common import ToolView, format_time, read_out, row_class_name

logger = logging.getLogger(__name__)

EDITABLE_STATES = ("idle", "paused", "finished")
DRAG_COALESCE_MS = 15

WHATIF_TOOLTIP = (
    "Try other thresholds on this one sample: the firing times and the decision are recomputed at "
    "once, while the trained network keeps its weights and one threshold per layer."
)
DRAG_TOOLTIP = (
    "Let the output threshold line of the membrane plot be dragged; dragging sets the same "
    "threshold for every output neuron of this sample."
)
NEURON_TOOLTIP = "Neuron index within the chosen layer (for the output layer, the output row)."
THETA_TOOLTIP = "Threshold θ to try for that neuron (must be > 0)."


class WhatIfView(ToolView):
    """Per-neuron threshold overrides on the probe sample, with the decision before and after.

    Signals
    -------
    threshold_editing_changed(bool)
        Whether the membrane plot's output threshold line should be draggable.
    """

    threshold_editing_changed = pyqtSignal(bool)

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._baseline = None
        self._baseline_key = None
        self._pending_output_theta: float | None = None
        self._drag_timer = QTimer(self)
        self._drag_timer.setSingleShot(True)
        self._drag_timer.setInterval(DRAG_COALESCE_MS)
        self._drag_timer.timeout.connect(self._apply_pending_output_theta)
        self._build()
        self.setToolTip(WHATIF_TOOLTIP)

        state.trace_changed.connect(self._mark_dirty)
        state.overrides_changed.connect(self._mark_dirty)
        state.network_changed.connect(self._on_network_changed)
        state.training_state_changed.connect(self._on_training_state)
        self._on_training_state(state.training_state)

    # -- construction ------------------------------------------------------------------------

    def _build(self) -> None:
        self._status = QLabel()
        self._status.setWordWrap(True)

        self._before = QLabel()
        self._before.setWordWrap(True)
        self._before.setToolTip("The decision of the network as trained (one threshold per layer).")
        self._after = QLabel()
        self._after.setWordWrap(True)
        self._after.setToolTip("The decision of the same weights with the overridden thresholds.")
        decisions = QGroupBox("decision")
        decision_layout = QVBoxLayout(decisions)
        decision_layout.addWidget(self._before)
        decision_layout.addWidget(self._after)

        self._layer_box = QComboBox()
        self._layer_box.setToolTip("Layer of the neuron whose threshold to override.")
        self._layer_box.currentIndexChanged.connect(self._on_layer_changed)
        self._neuron_box = QSpinBox()
        self._neuron_box.setToolTip(NEURON_TOOLTIP)
        self._theta_box = QDoubleSpinBox()
        self._theta_box.setDecimals(2)
        self._theta_box.setRange(0.01, 1e7)
        self._theta_box.setToolTip(THETA_TOOLTIP)
        self._set_button = QPushButton("Set")
        self._set_button.setToolTip("Override this neuron's threshold on the probe sample.")
        self._set_button.clicked.connect(self._on_set_clicked)
        editor = QGridLayout()
        editor.addWidget(QLabel("layer"), 0, 0)
        editor.addWidget(QLabel("neuron"), 0, 1)
        editor.addWidget(QLabel("θ"), 0, 2)
        editor.addWidget(self._layer_box, 1, 0)
        editor.addWidget(self._neuron_box, 1, 1)
        editor.addWidget(self._theta_box, 1, 2)
        editor.addWidget(self._set_button, 1, 3)

        self._drag_box = QCheckBox("drag the output threshold line in the membrane plot")
        self._drag_box.setToolTip(DRAG_TOOLTIP)
        self._drag_box.toggled.connect(self._on_drag_toggled)

        self._overrides_table = QTableWidget(0, 3)
        self._overrides_table.setHorizontalHeaderLabels(("layer", "neuron", "θ"))
        self._overrides_table.verticalHeader().setVisible(False)
        self._overrides_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._overrides_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._overrides_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self._overrides_table.setToolTip("Thresholds overridden on the probe sample.")
        self._remove_button = QPushButton("Remove")
        self._remove_button.setToolTip("Drop the selected override.")
        self._remove_button.clicked.connect(self._on_remove_clicked)
        self._clear_button = QPushButton("Clear all")
        self._clear_button.setToolTip("Drop every override and go back to the trained thresholds.")
        self._clear_button.clicked.connect(self.clear_overrides)
        buttons = QHBoxLayout()
        buttons.addWidget(self._remove_button)
        buttons.addWidget(self._clear_button)
        buttons.addStretch(1)

        self._changes = QTableWidget(0, 3)
        self._changes.setHorizontalHeaderLabels(("output", "t before", "t after"))
        self._changes.verticalHeader().setVisible(False)
        self._changes.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._changes.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self._changes.setToolTip("Output neurons whose firing time the overrides changed.")

        self._controls = QWidget()
        controls_layout = QVBoxLayout(self._controls)
        controls_layout.setContentsMargins(0, 0, 0, 0)
        controls_layout.addLayout(editor)
        controls_layout.addWidget(self._drag_box)
        controls_layout.addWidget(self._overrides_table, 1)
        controls_layout.addLayout(buttons)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._status)
        layout.addWidget(decisions)
        layout.addWidget(self._controls, 2)
        layout.addWidget(QLabel("changed output firing times:"))
        layout.addWidget(self._changes, 1)
        self._fill_layer_box()

    # -- public interface ------------------------------------------------------------------------

    def is_editable(self) -> bool:
        return self._state.training_state in EDITABLE_STATES

    def set_override(self, layer: int, neuron: int, theta: float) -> None:
        """Override the threshold of neuron ``neuron`` of layer ``layer`` (1 … L) on the probe sample."""
        if not self.is_editable():
            raise RuntimeError("thresholds can be overridden only while training is idle, paused or finished")
        overrides = dict(self._state.threshold_overrides)
        overrides[(int(layer), int(neuron))] = float(theta)
        self._apply(overrides)

    def remove_override(self, layer: int, neuron: int) -> None:
        overrides = dict(self._state.threshold_overrides)
        overrides.pop((int(layer), int(neuron)), None)
        self._apply(overrides)

    def clear_overrides(self) -> None:
        if self._state.threshold_overrides:
            self._apply({})

    def set_output_threshold(self, theta: float) -> None:
        """Give every output neuron threshold ``theta`` on the probe sample (the dragged line); coalesced."""
        if not self.is_editable() or not math.isfinite(theta) or theta <= 0:
            return
        self._pending_output_theta = float(theta)
        if not self._drag_timer.isActive():
            self._drag_timer.start()

    def set_target(self, layer: int, neuron: int) -> None:
        """Fill the editor with a neuron (for example the one chosen in the inspector) and its current θ."""
        if not 1 <= layer <= self._layer_box.count():
            return
        self._layer_box.setCurrentIndex(layer - 1)
        self._neuron_box.setValue(int(neuron))
        trace = self._state.trace
        if trace is not None and layer - 1 < len(trace.thresholds) and neuron < trace.thresholds[layer - 1].size:
            self._theta_box.setValue(float(trace.thresholds[layer - 1][neuron]))

    def before_text(self) -> str:
        return self._before.text()

    def after_text(self) -> str:
        return self._after.text()

    def export_table(self) -> tuple[list[str], list[list]]:
        rows = [[layer, neuron, theta] for (layer, neuron), theta in sorted(self._state.threshold_overrides.items())]
        return ["layer", "neuron", "threshold"], rows

    # -- events ------------------------------------------------------------------------------------

    def _apply(self, overrides: dict) -> None:
        try:
            self._state.network.neuron_thresholds(overrides)
        except SettingsError as error:
            self._status.setText(f"Invalid override: {error}.")
            return
        self._state.set_threshold_overrides(overrides)

    def _apply_pending_output_theta(self) -> None:
        theta = self._pending_output_theta
        self._pending_output_theta = None
        if theta is None or not self.is_editable():
            return
        output_layer = self._state.network.n_layers
        overrides = {key: value for key, value in self._state.threshold_overrides.items() if key[0] != output_layer}
        overrides.update({(output_layer, row): theta for row in range(self._state.network.layer_sizes[-1])})
        self._apply(overrides)

    def _on_set_clicked(self) -> None:
        self.set_override(self._layer_box.currentIndex() + 1, self._neuron_box.value(), self._theta_box.value())

    def _on_remove_clicked(self) -> None:
        row = self._overrides_table.currentRow()
        if row < 0:
            return
        layer = self._overrides_table.item(row, 0).data(Qt.ItemDataRole.UserRole)
        neuron = self._overrides_table.item(row, 1).data(Qt.ItemDataRole.UserRole)
        self.remove_override(layer, neuron)

    def _on_drag_toggled(self, checked: bool) -> None:
        self.threshold_editing_changed.emit(bool(checked) and self.is_editable())

    def _on_layer_changed(self, index: int) -> None:
        sizes = self._state.network.layer_sizes
        layer = index + 1
        if 1 <= layer < len(sizes):
            self._neuron_box.setRange(0, sizes[layer] - 1)
            self._theta_box.setValue(float(self._state.network.config.thresholds[layer - 1]))

    def _fill_layer_box(self) -> None:
        network = self._state.network
        names = [f"hidden {layer}" for layer in range(1, network.n_layers)] + ["output"]
        if [self._layer_box.itemText(i) for i in range(self._layer_box.count())] == names:
            return
        self._layer_box.blockSignals(True)
        self._layer_box.clear()
        self._layer_box.addItems(names)
        self._layer_box.setCurrentIndex(len(names) - 1)
        self._layer_box.blockSignals(False)
        self._on_layer_changed(len(names) - 1)

    def _on_network_changed(self, _network) -> None:
        self._fill_layer_box()
        self._mark_dirty()

    def _on_training_state(self, training_state: str) -> None:
        editable = training_state in EDITABLE_STATES
        self._controls.setEnabled(editable)
        if not editable:
            self._drag_timer.stop()
            self._pending_output_theta = None
            if self._state.threshold_overrides:
                logger.info("clearing %d threshold overrides because training is %s",
                            len(self._state.threshold_overrides), training_state)
                self._state.set_threshold_overrides({})
        self.threshold_editing_changed.emit(editable and self._drag_box.isChecked())
        self._mark_dirty()

    # -- drawing -------------------------------------------------------------------------------------

    def _baseline_trace(self):
        """Trace of the probe with the trained thresholds, recomputed when the network or probe changes."""
        key = (self._state.network, self._state.probe, self._state.settings)
        stored = self._baseline_key
        if stored is None or any(new is not old for new, old in zip(key, stored)):
            self._baseline = self._state.compute_trace(overrides={})
            self._baseline_key = key
        return self._baseline

    def _redraw(self) -> None:
        network = self._state.network
        overrides = self._state.threshold_overrides
        if self.is_editable():
            self._status.setText(f"{len(overrides)} threshold override(s) on this sample; the trained network "
                                 "is unchanged." if overrides else
                                 "No overrides: set a neuron's threshold or drag the output threshold line.")
        else:
            self._status.setText(f"Training is {self._state.training_state}: pause it to try other thresholds.")
        self._fill_overrides_table(network)

        trace = self._state.trace
        baseline = self._baseline_trace() if trace is not None else None
        if trace is None or baseline is None:
            self._before.setText("Choose a probe sample first.")
            self._after.setText("")
            self._changes.setRowCount(0)
            return
        label = self._state.probe.label if self._state.probe is not None else None
        self._before.setText("trained thresholds: " + _decision_text(baseline, network, label))
        if overrides:
            self._after.setText("with overrides: " + _decision_text(trace, network, label))
        else:
            self._after.setText("with overrides: (none)")

        before_times = np.asarray(baseline.times[-1])
        after_times = np.asarray(trace.times[-1])
        changed = [row for row in range(after_times.size) if before_times[row] != after_times[row]]
        self._changes.setRowCount(len(changed))
        for index, row in enumerate(changed):
            cells = (row_class_name(network, row), format_time(before_times[row], trace.t_max),
                     format_time(after_times[row], trace.t_max))
            for column, text in enumerate(cells):
                self._changes.setItem(index, column, QTableWidgetItem(text))

    def _fill_overrides_table(self, network) -> None:
        items = sorted(self._state.threshold_overrides.items())
        self._overrides_table.setRowCount(len(items))
        for row, ((layer, neuron), theta) in enumerate(items):
            name = "output" if layer == network.n_layers else f"hidden {layer}"
            layer_item = QTableWidgetItem(name)
            layer_item.setData(Qt.ItemDataRole.UserRole, int(layer))
            neuron_text = str(neuron)
            if layer == network.n_layers:
                neuron_text += f" (class {row_class_name(network, neuron)})"
            neuron_item = QTableWidgetItem(neuron_text)
            neuron_item.setData(Qt.ItemDataRole.UserRole, int(neuron))
            self._overrides_table.setItem(row, 0, layer_item)
            self._overrides_table.setItem(row, 1, neuron_item)
            self._overrides_table.setItem(row, 2, QTableWidgetItem(f"{theta:g}"))
        self._remove_button.setEnabled(bool(items))
        self._clear_button.setEnabled(bool(items))


def _decision_text(trace, network, label: int | None) -> str:
    readout = read_out(trace)
    winner = row_class_name(network, readout.winner_row)
    if readout.outcome_name == "silent":
        when = "no output fired"
    else:
        when = f"τ = {readout.decision_time}"
    text = f"{winner} ({readout.outcome_name}, {when})"
    if label is not None:
        text += ", correct" if int(network.row_classes[readout.winner_row]) == label else ", wrong"
    return text
