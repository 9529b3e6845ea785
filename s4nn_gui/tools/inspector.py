"""Latency-error inspector of the probe sample, and the outcome accounting table.

The inspector explains one sample: each output neuron's firing time, its target
T and error e = (T − t) / t_max, the normalised δ, who wins and why. For a chosen
neuron it shows which inputs arrived before its spike, because the S4NN update
of a weight W_ji is gated by [t_i < t_j]: only those inputs' weights change.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QBrush, QFont
from PyQt6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QTableWidget, QTableWidgetItem,
                             QVBoxLayout, QWidget)

from s4nn_engine.metrics import CLEAN, SILENT, TIE
from s4nn_gui.plots.common import class_colour, tile_shape
from s4nn_gui.tools.common import ToolView, TraceReadout, format_number, format_time, read_out, row_class_name

logger = logging.getLogger(__name__)

INSPECTOR_TOOLTIP = (
    "The probe sample's readout: every output neuron's firing time t, its target T, the error "
    "e = (T − t) / t_max and the normalised δ that a training step would use, and after a Step the "
    "total change of each output's input weights. Click a row to see which inputs arrived before "
    "that neuron's spike."
)
MASK_TOOLTIP = (
    "Inputs of the chosen neuron. Orange pixels spiked before it (t_i < t_j): only their weights "
    "change in a training step. Grey pixels spiked at or after it and do not count."
)
PRESYNAPTIC_TOOLTIP = (
    "Neurons of the layer below the chosen neuron, one cell each. Orange cells fired before it "
    "(their weights to it are updated), grey ones fired later, black ones stayed silent."
)
OUTCOME_TOOLTIP = (
    "Outcome counts and the three accuracies side by side: accuracy uses the decision rule, "
    "first-spike accuracy counts ties and silent samples as wrong, reference accuracy uses the "
    "published code's rule. Mean τ is the mean first output spike time of decided samples."
)

ARRIVED_COLOUR = np.array([255, 150, 40], dtype=np.float32)
LATE_COLOUR = np.array([110, 125, 150], dtype=np.float32)
COLUMNS = ("class", "role", "firing time t", "target T", "error e", "δ", "Σ|ΔW| in")
# Shorter header texts, so that all columns fit beside the masks; the header tooltips explain each.
HEADER_LABELS = ("class", "role", "t", "T", "error e", "δ", "Σ|ΔW|")
# Side of the input-mask images in pixels; 28×28 digits need this much to show their shape.
MASK_IMAGE_SIZE = 144


class InspectorView(ToolView):
    """Table and explanation of the probe's output layer, and the input mask of a chosen neuron.

    Signals
    -------
    neuron_selected(int, int)
        The user chose neuron (layer, neuron); layers count from 1 (first
        hidden layer) to L (output layer).
    """

    neuron_selected = pyqtSignal(int, int)

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._selected: tuple[int, int] | None = None
        # False while the selection follows the decided output. A user's choice stays until the probe changes.
        self._user_selected = False
        self._input_mask: np.ndarray | None = None
        self._presynaptic_mask: np.ndarray | None = None
        self._readout: TraceReadout | None = None
        self._row_of_table_row: list[int] = []
        self._summary_text = ""
        self._build()
        self.setToolTip(INSPECTOR_TOOLTIP)

        state.trace_changed.connect(self._mark_dirty)
        state.network_changed.connect(self._mark_dirty)
        state.probe_changed.connect(self._on_probe_changed)

    # -- construction ------------------------------------------------------------------

    def _build(self) -> None:
        self._summary = QLabel("Choose a probe sample to inspect its readout.")
        self._summary.setWordWrap(True)
        self._summary.setTextFormat(Qt.TextFormat.RichText)
        self._summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._summary.setToolTip("The decision, its outcome (clean, tie or silent) and why.")

        self._table = QTableWidget(0, len(COLUMNS))
        self._table.setHorizontalHeaderLabels(HEADER_LABELS)
        self._table.verticalHeader().setVisible(False)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._table.horizontalHeader().setStretchLastSection(True)
        self._table.setToolTip(INSPECTOR_TOOLTIP)
        self._table.cellClicked.connect(self._on_cell_clicked)
        self._table.verticalHeader().setDefaultSectionSize(18)
        self._table.setMinimumHeight(10 * 18 + 26)
        header_tips = (
            "The class this output neuron stands for.",
            "\"decision\": the readout's winner; \"label\": the true class.",
            "Firing time t (1 … t_max); \"silent\" means the neuron never crossed θ.",
            "Target firing time T of the learning rule: the label should fire first, the others at "
            "least γ steps later; \"silent\" means T = t_max.",
            "Error e = (T − t) / t_max; negative means \"fire earlier\".",
            "Normalised error δ = e / ‖e‖ that a training step on this sample would use.",
            "Sum of |ΔW| over this output neuron's input weights: how much the last Step changed them. "
            "Shown right after Step, \"–\" at other times.",
        )
        for column, tip in enumerate(header_tips):
            self._table.horizontalHeaderItem(column).setToolTip(tip)

        self._detail = QLabel("Click a row, or a hidden neuron on the weight map, to see its inputs.")
        self._detail.setWordWrap(True)
        self._detail.setToolTip("What the chosen neuron received before its spike.")
        # A wrapped label in a splitter does not ask for the height of its lines, so reserve three.
        self._detail.setMinimumHeight(3 * self._detail.fontMetrics().lineSpacing())
        self._detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)

        # The two masks sit in a column right of the table, one above the other, so that each
        # gets MASK_IMAGE_SIZE pixels without making the dock taller than the plots beside it.
        self._graphics = pg.GraphicsLayoutWidget()
        label_height = self.fontMetrics().lineSpacing() + 4  # one line of the 8 pt titles, with spacing
        self._graphics.setFixedWidth(MASK_IMAGE_SIZE + 8)
        self._graphics.setMinimumHeight(2 * (MASK_IMAGE_SIZE + label_height))
        layout = self._graphics.ci
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self._mask_label = layout.addLabel("inputs before the spike", row=0, col=0, size="8pt")
        self._mask_view, self._mask_image = _add_image_box(layout, row=1, col=0)
        self._pre_label = layout.addLabel("hidden before the spike", row=2, col=0, size="8pt")
        self._pre_view, self._pre_image = _add_image_box(layout, row=3, col=0)
        for row, stretch in ((0, 0), (1, 1), (2, 0), (3, 1)):
            layout.layout.setRowStretchFactor(row, stretch)
        self._mask_image.setToolTip(MASK_TOOLTIP)
        self._pre_image.setToolTip(PRESYNAPTIC_TOOLTIP)
        self._graphics.setToolTip(MASK_TOOLTIP)

        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.addWidget(self._table, 1)
        left.addWidget(self._detail)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.addLayout(left, 1)
        body.addWidget(self._graphics)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._summary)
        layout.addLayout(body, 1)

    # -- public interface ---------------------------------------------------------------

    def select_neuron(self, layer: int, neuron: int) -> None:
        """Show the inputs of neuron ``neuron`` of layer ``layer`` (1 … L) that arrived before its spike."""
        sizes = self._state.network.layer_sizes
        if not 1 <= layer < len(sizes) or not 0 <= neuron < sizes[layer]:
            logger.warning("neuron %d of layer %d is not in a network with layers %s", neuron, layer, sizes)
            return
        self._selected = (int(layer), int(neuron))
        self._user_selected = True
        self.neuron_selected.emit(int(layer), int(neuron))
        self._dirty = True
        self.refresh()

    def selected_neuron(self) -> tuple[int, int] | None:
        return self._selected

    def summary_text(self) -> str:
        """Return the explanation shown above the table, as plain text."""
        return self._summary_text

    def table_rows(self) -> list[dict]:
        """Return the table as dicts with the output row and the cell texts (in display order)."""
        rows = []
        for table_row, output_row in enumerate(self._row_of_table_row):
            cells = {COLUMNS[c]: self._table.item(table_row, c).text() for c in range(len(COLUMNS))}
            rows.append({"row": output_row, **cells})
        return rows

    def readout(self) -> TraceReadout | None:
        return self._readout

    def input_mask(self) -> np.ndarray | None:
        """Return the flat bool mask of input pixels that spiked before the chosen neuron (t_i < t_j)."""
        return None if self._input_mask is None else self._input_mask.copy()

    def presynaptic_mask(self) -> np.ndarray | None:
        """Return the bool mask of the chosen neuron's presynaptic hidden neurons that fired before it.

        None when the chosen neuron's inputs are the pixels themselves (first hidden layer).
        """
        return None if self._presynaptic_mask is None else self._presynaptic_mask.copy()

    def plot_items(self) -> pg.GraphicsLayout:
        """Return the GraphicsLayout of the input masks, for pyqtgraph's exporters."""
        return self._graphics.ci

    def export_table(self) -> tuple[list[str], list[list]]:
        return ["output row", *COLUMNS], [[row["row"], *(row[c] for c in COLUMNS)] for row in self.table_rows()]

    # -- drawing --------------------------------------------------------------------------

    def _on_probe_changed(self, _probe) -> None:
        self._user_selected = False
        self._mark_dirty()

    def _on_cell_clicked(self, table_row: int, _column: int) -> None:
        if 0 <= table_row < len(self._row_of_table_row):
            self.select_neuron(len(self._state.network.layer_sizes) - 1, self._row_of_table_row[table_row])

    def _redraw(self) -> None:
        trace = self._state.trace
        network = self._state.network
        if trace is None or len(trace.times) != len(network.layer_sizes):
            self._readout = None
            self._summary_text = "Choose a probe sample to inspect its readout."
            self._summary.setText(self._summary_text)
            self._table.setRowCount(0)
            self._row_of_table_row = []
            return

        self._readout = read_out(trace)
        label = self._state.probe.label if self._state.probe is not None else None
        gamma = self._state.settings.learning.gamma
        explanation = explain_decision(self._readout, trace, network, label, gamma)
        header = f"Decision: {row_class_name(network, self._readout.winner_row)} ({self._readout.outcome_name})."
        self._summary_text = f"{header} {explanation}"
        self._summary.setText(f"<b>{_escape(header)}</b> {_escape(explanation)}")
        self._fill_table(trace, network)
        if not self._user_selected or self._selected is None or self._selected[0] >= len(trace.times) \
                or self._selected[1] >= trace.times[self._selected[0]].size:
            self._selected = (len(trace.times) - 1, self._readout.winner_row)
            self._user_selected = False
        self._draw_selected(trace, network)

    def _fill_table(self, trace, network) -> None:
        t_max = trace.t_max
        times = trace.times[-1]
        order = sorted(range(times.size), key=lambda row: int(network.row_classes[row]))
        self._row_of_table_row = order
        self._table.setRowCount(len(order))
        bold = QFont()
        bold.setBold(True)
        for table_row, row in enumerate(order):
            roles = []
            if row == self._readout.winner_row:
                roles.append("decision")
            if trace.label_row is not None and row == trace.label_row:
                roles.append("label")
            target = error = delta = change = "–"
            if trace.targets is not None:
                target = format_time(trace.targets[row], t_max)
                error = f"{trace.errors[row]:+.4f}"
                delta = f"{trace.deltas[-1][row]:+.4f}"
            if trace.weight_changes is not None:
                change = f"{np.abs(trace.weight_changes[-1][row]).sum():.3f}"
            cells = (row_class_name(network, row), ", ".join(roles), format_time(times[row], t_max),
                     target, error, delta, change)
            for column, text in enumerate(cells):
                item = self._table.item(table_row, column)
                if item is None:
                    item = QTableWidgetItem()
                    self._table.setItem(table_row, column, item)
                item.setText(text)
                # The role text contains "decision" already, and in bold it would widen its column.
                item.setFont(bold if row == self._readout.winner_row and column != 1 else QFont())
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            class_item = self._table.item(table_row, 0)
            class_item.setForeground(QBrush(class_colour(int(network.row_classes[row]))))

    def _draw_selected(self, trace, network) -> None:
        layer, neuron = self._selected
        t_max = trace.t_max
        spike = int(trace.times[layer][neuron])
        input_times = np.asarray(trace.times[0], dtype=np.int64)
        # The learning rule's gate [t_i < t_j]; for a silent neuron (t_j = t_max) every input that fired counts.
        self._input_mask = input_times < spike
        fired_inputs = input_times < t_max
        image = self._state.probe.image if self._state.probe is not None else None
        shape = tile_shape(input_times.size, None if image is None else image.shape)
        intensity = (np.asarray(image, dtype=np.float32).ravel() / 255.0 if image is not None
                     and image.size == input_times.size else fired_inputs.astype(np.float32))
        self._mask_image.setImage(_mask_rgb(self._input_mask, fired_inputs, intensity, shape),
                                  levels=(0, 255), autoLevels=False)

        n_layers = len(trace.times) - 1
        if layer >= 2:
            pre_times = np.asarray(trace.times[layer - 1], dtype=np.int64)
            self._presynaptic_mask = pre_times < spike
            pre_fired = pre_times < t_max
            columns = int(np.ceil(np.sqrt(pre_times.size)))
            grid_shape = (int(np.ceil(pre_times.size / columns)), columns)
            cells = _mask_rgb(self._presynaptic_mask, pre_fired, np.ones(pre_times.size, np.float32),
                              grid_shape, pad=grid_shape[0] * grid_shape[1] - pre_times.size)
            self._pre_image.setImage(cells, levels=(0, 255), autoLevels=False)
            below = "hidden" if layer - 1 < n_layers else "output"
            self._pre_label.setText(f"{below} {layer - 1} before the spike" if n_layers > 2
                                    else "hidden before the spike", size="8pt")
            self._pre_view.setVisible(True)
            self._pre_label.setVisible(True)
        else:
            self._presynaptic_mask = None
            self._pre_image.clear()
            self._pre_view.setVisible(False)
            self._pre_label.setVisible(False)

        self._detail.setText(describe_neuron(trace, network, layer, neuron, self._input_mask,
                                             self._presynaptic_mask))
        if layer == n_layers:
            table_row = self._row_of_table_row.index(neuron) if neuron in self._row_of_table_row else -1
            if table_row >= 0 and self._table.currentRow() != table_row:
                self._table.blockSignals(True)
                self._table.selectRow(table_row)
                self._table.blockSignals(False)
        else:
            self._table.clearSelection()


def _add_image_box(layout: pg.GraphicsLayout, row: int, col: int) -> tuple[pg.ViewBox, pg.ImageItem]:
    view = layout.addViewBox(row=row, col=col, lockAspect=True, invertY=True, enableMouse=False)
    view.setMenuEnabled(False)
    view.setDefaultPadding(0.0)
    image = pg.ImageItem(axisOrder="row-major")
    view.addItem(image)
    return view, image


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mask_rgb(arrived: np.ndarray, fired: np.ndarray, intensity: np.ndarray, shape: tuple[int, int],
              pad: int = 0) -> np.ndarray:
    """Colour cells that arrived before the spike orange and later ones grey, scaled by intensity."""
    weight = (0.35 + 0.65 * np.clip(intensity, 0.0, 1.0))[:, None]
    colours = np.zeros((arrived.size, 3), dtype=np.float32)
    colours[fired & ~arrived] = LATE_COLOUR
    colours[arrived] = ARRIVED_COLOUR
    colours *= np.where(fired[:, None], weight, 0.0)
    if pad:
        colours = np.vstack([colours, np.full((pad, 3), 30.0, dtype=np.float32)])
    height, width = shape
    return np.ascontiguousarray(colours.reshape(height, width, 3).astype(np.uint8))


# -- explanations ----------------------------------------------------------------------------


def _threshold_phrase(thresholds: np.ndarray) -> str:
    values = np.unique(np.asarray(thresholds, dtype=np.float64))
    if values.size == 1:
        return f"θ = {values[0]:g}"
    return "its threshold (some thresholds are overridden)"


def _names(network, rows) -> str:
    return ", ".join(row_class_name(network, int(row)) for row in rows)


def explain_decision(readout: TraceReadout, trace, network, label: int | None, gamma: int) -> str:
    """Explain in plain sentences why the readout of ``trace`` chose its winner and what training would target."""
    t_max = readout.t_max
    tau = readout.decision_time
    winner = row_class_name(network, readout.winner_row)
    times = readout.output_times
    sentences = []

    if readout.outcome == CLEAN:
        later = times[times > tau]
        later = later[later < t_max]
        if later.size == 0:
            sentences.append(f"Output {winner} fired first at t = {tau}, and no other output fired.")
        else:
            second = int(later.min())
            rows = np.flatnonzero(times == second)
            sentences.append(f"Output {winner} fired first at t = {tau}, {second - tau} steps before the next "
                             f"({_names(network, rows)} at t = {second}).")
    elif readout.outcome == TIE:
        rows = readout.first_rows
        count = {2: "Two", 3: "Three"}.get(rows.size, str(rows.size))
        others = [row for row in rows if row != readout.winner_row]
        winner_v = readout.v_cross[readout.winner_row]
        other_values = " and ".join(f"{readout.v_cross[row]:.1f}" for row in others)
        if np.any(readout.v_cross[others] == winner_v):
            reason = (f"the potentials at step {tau - 1} were equal ({winner_v:.1f}), so {winner} wins as "
                      "the lowest output row")
        else:
            reason = (f"{winner} wins because its potential at step {tau - 1} was higher "
                      f"({winner_v:.1f} vs {other_values})")
        sentences.append(f"{count} outputs ({_names(network, rows)}) fired first at t = {tau}; {reason}.")
    else:
        best = readout.v_last.max()
        sharing = np.flatnonzero(readout.v_last == best)
        phrase = _threshold_phrase(trace.thresholds[-1])
        if sharing.size > 1:
            sentences.append(f"No output reached {phrase}; the largest V({t_max - 1}), {best:.1f}, is shared by "
                             f"{_names(network, sharing)}, so {winner} wins as the lowest output row.")
        else:
            sentences.append(f"No output reached {phrase}; the largest V({t_max - 1}) was {best:.1f} "
                             f"({winner}), so {winner} wins by the silent fallback.")

    if label is not None:
        label_name = network.class_names[label] if label < len(network.class_names) else str(label)
        correct = int(network.row_classes[readout.winner_row]) == label
        if not correct:
            sentences.append(f"The label is {label_name}: wrong.")
        elif readout.outcome == CLEAN:
            sentences.append(f"The label is {label_name}: correct.")
        elif readout.outcome == TIE:
            sentences.append(f"The label is {label_name}: correct by the tie rule, but first-spike "
                             "accuracy counts a tie as wrong.")
        else:
            sentences.append(f"The label is {label_name}: correct by the silent fallback, but first-spike "
                             "accuracy counts a silent sample as wrong.")

    if trace.targets is not None and trace.label_row is not None:
        label_name = row_class_name(network, trace.label_row)
        if readout.outcome == SILENT:
            sentences.append(f"Targets: no output fired, so {label_name} should fire at T = t_max − γ = "
                             f"{t_max - gamma} and the others stay silent.")
        else:
            margin = min(tau + gamma, t_max)
            sentences.append(f"Targets: {label_name} should fire at T = τ = {tau}; any other output that fired "
                             f"less than γ = {gamma} steps after τ should fire at T = {format_time(margin, t_max)}.")
    return " ".join(sentences)


def describe_neuron(trace, network, layer: int, neuron: int, input_mask: np.ndarray,
                    presynaptic_mask: np.ndarray | None) -> str:
    """Describe what neuron (layer, neuron) received before its spike and how a training step would treat it."""
    t_max = trace.t_max
    n_layers = len(trace.times) - 1
    spike = int(trace.times[layer][neuron])
    fired_inputs = int(np.count_nonzero(np.asarray(trace.times[0]) < t_max))
    if layer == n_layers:
        name = f"Output {row_class_name(network, neuron)}"
    else:
        name = f"Hidden neuron {neuron}" + (f" of layer {layer}" if n_layers > 2 else "")
    when = "silent" if spike >= t_max else f"t = {spike}"
    arrived = f"{int(input_mask.sum())} of {fired_inputs} spiking pixels"
    if presynaptic_mask is not None:
        pre_fired = int(np.count_nonzero(np.asarray(trace.times[layer - 1]) < t_max))
        below = "hidden" if n_layers == 2 else f"layer {layer - 1}"
        parts = [f"{name} ({when}): {arrived} and {int(presynaptic_mask.sum())} of {pre_fired} firing {below} "
                 "neurons arrived before it; only the weights from those neurons change ([t_i < t_j])."]
    else:
        parts = [f"{name} ({when}): {arrived} arrived before it; only their weights change ([t_i < t_j])."]
    if trace.deltas is not None:
        delta = float(trace.deltas[layer - 1][neuron])
        parts.append(f"δ = {delta:+.4f}.")
        if spike >= t_max and layer < n_layers:
            parts.append("A silent hidden neuron gets δ = 0, so none of its weights change on this sample.")
    return " ".join(parts)


# -- outcome accounting ------------------------------------------------------------------------


OUTCOME_COLUMNS = ("epoch", "split", "samples", "clean", "tie", "silent", "accuracy", "first-spike acc.",
                   "reference acc.", "mean τ")
_FIGURES = ("clean", "tie", "silent", "accuracy", "first_spike_accuracy", "reference_accuracy",
            "mean_decision_time")


class OutcomeTable(QWidget):
    """Outcome counts, the three accuracies and the mean decision time, live and per epoch.

    The first row follows the running figures of the epoch in progress
    (:meth:`show_progress`, throttled). Below it each finished epoch has a row
    per split, newest first, from the trainer's epoch records.
    """

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._records: list[dict] = []
        self._live: tuple[int, object] | None = None
        self._pending_progress = None
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(250)
        self._progress_timer.timeout.connect(self._apply_progress)

        self._table = QTableWidget(0, len(OUTCOME_COLUMNS))
        self._table.setHorizontalHeaderLabels(OUTCOME_COLUMNS)
        self._table.verticalHeader().setVisible(False)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._table.horizontalHeader().setStretchLastSection(True)
        self._table.setToolTip(OUTCOME_TOOLTIP)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._table)
        self.setToolTip(OUTCOME_TOOLTIP)

        state.epoch_finished.connect(self._on_epoch_finished)

    def set_history(self, records) -> None:
        """Show these epoch records (a trainer's ``history``), replacing the ones shown."""
        self._records = [dict(record) for record in records]
        self._rebuild()

    def show_progress(self, report) -> None:
        """Show a ProgressReport's running figures; updates are applied at most 4 times a second."""
        self._pending_progress = report
        if not self._progress_timer.isActive():
            self._progress_timer.start()

    def rows(self) -> list[list[str]]:
        """Return the table's cell texts, row by row."""
        return [[self._table.item(r, c).text() if self._table.item(r, c) else ""
                 for c in range(len(OUTCOME_COLUMNS))] for r in range(self._table.rowCount())]

    def export_table(self) -> tuple[list[str], list[list]]:
        return list(OUTCOME_COLUMNS), self.rows()

    def hideEvent(self, event) -> None:
        self._progress_timer.stop()
        self._apply_progress()
        super().hideEvent(event)

    def _apply_progress(self) -> None:
        report = self._pending_progress
        if report is None:
            return
        self._pending_progress = None
        self._live = (report.epoch, report.running)
        self._rebuild()

    def _on_epoch_finished(self, report) -> None:
        self._records.append(dict(report.record))
        self._live = None
        self._pending_progress = None
        self._progress_timer.stop()
        self._rebuild()

    def _rebuild(self) -> None:
        lines: list[list[str]] = []
        if self._live is not None:
            epoch, running = self._live
            lines.append(_figure_cells(f"{epoch} (live)", "train", running.samples,
                                       {name: getattr(running, name) for name in _FIGURES}))
        for record in reversed(self._records):
            epoch = str(record.get("epoch", ""))
            for split in ("train", "validation", "test"):
                figures = {name: record.get(f"{split}_{name}") for name in _FIGURES}
                if figures["accuracy"] is None:
                    continue
                counted = [figures[name] for name in ("clean", "tie", "silent")]
                samples = record.get("train_samples") if split == "train" else None
                if samples is None and all(isinstance(value, int) for value in counted):
                    samples = sum(counted)
                lines.append(_figure_cells(epoch, split, samples, figures))
        self._table.setRowCount(len(lines))
        for row, cells in enumerate(lines):
            for column, text in enumerate(cells):
                item = self._table.item(row, column)
                if item is None:
                    item = QTableWidgetItem()
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    self._table.setItem(row, column, item)
                item.setText(text)
                font = item.font()
                font.setItalic("live" in cells[0])
                item.setFont(font)


def _figure_cells(epoch: str, split: str, samples, figures: dict) -> list[str]:
    def percent(value) -> str:
        return "–" if value is None or not math.isfinite(value) else f"{100 * value:.2f} %"

    def count(value) -> str:
        return "–" if value is None else str(int(value))

    return [epoch, split, count(samples), count(figures["clean"]), count(figures["tie"]),
            count(figures["silent"]), percent(figures["accuracy"]), percent(figures["first_spike_accuracy"]),
            percent(figures["reference_accuracy"]), format_number(figures["mean_decision_time"])]
