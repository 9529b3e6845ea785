"""The settings panel and the probe-sample panel of the main window.

:class:`ControlsPanel` edits every setting of a run. Each text field is checked as
the user types, and a value is committed when editing finishes (Enter or focus
out). An invalid value gets a red border and a message built from the
:class:`SettingsError` of ``make_settings``, and it never reaches a trainer.
Live settings (thresholds, learning rates, L2, γ, epochs) are sent out with
``live_settings_edited`` and take effect at the trainer's next chunk. The other
settings change the network's shape, data or random draws. They apply at the
next Reset, and the panel marks them until then.

:class:`ProbePanel` chooses the sample the per-sample views follow and shows the
network's decision for it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QImage, QPixmap
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from s4nn_engine.config import MAX_T_MAX, Settings, SettingsError, TrainingConfig, make_settings
from s4nn_engine.metrics import OUTCOME_NAMES, decide
from s4nn_engine.network import Network, Trace

logger = logging.getLogger(__name__)

MAX_EPOCHS = 100_000
MAX_SEED = 2**63 - 1
INVALID_STYLE = "QLineEdit { border: 2px solid #d9534f; }"
NEEDS_RESET_STYLE = "color: #e69500; font-size: 8pt;"
# Dark text on pale amber, readable with light and dark palettes alike.
NOTE_STYLE = "QLabel { background: #fff3cd; color: #4d3800; border-left: 3px solid #e69500; padding: 4px; }"

# Dataset choices: (spec, label). The IDX entry's spec gets the folder appended.
DATASET_CHOICES = (
    ("bundled", "Bundled MNIST subset"),
    ("mnist", "MNIST (downloaded once)"),
    ("fashion-mnist", "Fashion-MNIST (downloaded once)"),
    ("idx:", "IDX folder…"),
)

LIVE_NAMES = ("thresholds", "learning_rates", "l2", "gamma", "epochs")
RESET_NAMES = ("dataset", "validation_fraction", "hidden_sizes", "t_max", "init_ranges", "seed", "shuffle",
               "dead_reset")
DISPLAY_NAMES = {
    "dataset": "dataset",
    "validation_fraction": "validation fraction",
    "hidden_sizes": "hidden layers",
    "t_max": "t_max",
    "init_ranges": "initial weights",
    "seed": "seed",
    "shuffle": "shuffle",
    "dead_reset": "dead-neuron reset",
}

TOOLTIPS = {
    "preset": "Fill every control with a tested combination of settings. The network changes at the next Reset.",
    "dataset": (
        "The images the network learns from. The bundled subset has 10,000 real MNIST digits (8,000 train, "
        "1,000 validation, 1,000 test); MNIST and Fashion-MNIST have 70,000 images and are downloaded once. "
        "Takes effect at the next Reset."
    ),
    "validation_fraction": (
        "Share of the training file held out to choose the best epoch, from 0 (none) to below 1. Too high "
        "leaves fewer images to learn from. The bundled subset has fixed splits and ignores it. "
        "Takes effect at the next Reset."
    ),
    "hidden_sizes": (
        "Neurons in each hidden layer, separated by commas: \"400\" is one layer of 400, \"400, 100\" two layers, "
        "empty none. Too few cannot separate the classes; many train more slowly. Takes effect at the next Reset."
    ),
    "t_max": (
        f"Time steps per image (2 … {MAX_T_MAX}): a pixel's brightness becomes its spike time, white at step 0 "
        "and black never. Too few steps merge different intensities; many make every simulation slower. "
        "Takes effect at the next Reset."
    ),
    "thresholds": (
        "Firing threshold θ of this layer, in units of summed input weight: a neuron fires one step after its "
        "potential first exceeds θ. Too high leaves neurons silent; too low makes them fire at the first input "
        "spikes. Applies live, from the next chunk of samples."
    ),
    "learning_rates": (
        "Learning rate η of this layer: the size of each weight update. Too high makes accuracy jump or the "
        "weights diverge; too low makes learning slow. Applies live, from the next chunk of samples."
    ),
    "l2": (
        "L2 penalty λ of this layer: after each update the weights are multiplied by (1 − η·λ), which pulls "
        "them towards 0. Too high shrinks them until neurons fall silent; 0 turns the decay off. Applies live."
    ),
    "gamma": (
        "Target margin γ in time steps: the correct output neuron should fire first and the others at least γ "
        "steps later. A large γ asks for clearer decisions but makes more errors to correct; 0 only asks the "
        "correct neuron to be first. Applies live."
    ),
    "init_low": (
        "Lower end of the uniform range this layer's initial weights are drawn from. Weights that are too small "
        "leave the layer silent; too large make every neuron fire at once. Takes effect at the next Reset."
    ),
    "init_high": (
        "Upper end of the uniform range this layer's initial weights are drawn from. Weights that are too small "
        "leave the layer silent; too large make every neuron fire at once. Takes effect at the next Reset."
    ),
    "epochs": (
        "Number of passes through the training set. Raise it during or after a run to train further; "
        "applies live."
    ),
    "seed": (
        "Seed of the random generator for the initial weights, the sample order and the dead-neuron resets; "
        "the same seed repeats a run exactly. Takes effect at the next Reset (\"Reset with new seed\" draws one)."
    ),
    "shuffle": (
        "Present the training images in a new seeded random order every epoch. Off keeps the file order, as "
        "the published code does. Takes effect at the next Reset."
    ),
    "dead_reset": (
        "After each epoch but the last, give fresh initial weights to hidden neurons that fired on fewer than "
        "0.1 % of that epoch's training images, as the published code does. Takes effect at the next Reset."
    ),
}

PER_LAYER_LABELS = {
    "thresholds": "θ",
    "learning_rates": "η",
    "l2": "λ",
    "init_low": "low",
    "init_high": "high",
}


def _compact_combo() -> QComboBox:
    """Return a combo box that does not widen its panel to its longest item."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(12)
    return combo


def format_number(value: float) -> str:
    """Write a number so that parsing the text gives the same value back ("100", "0.2", "1e-06")."""
    value = float(value)
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def parse_float(text: str) -> float:
    """Parse a number typed by the user; the ValueError message names the expected input."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("is empty; enter a number")
    try:
        return float(stripped)
    except ValueError:
        raise ValueError(f"{stripped!r} is not a number") from None


def parse_int(text: str) -> int:
    """Parse a whole number typed by the user; the ValueError message names the expected input."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("is empty; enter a whole number")
    try:
        return int(stripped)
    except ValueError:
        raise ValueError(f"{stripped!r} is not a whole number") from None


def parse_hidden_sizes(text: str) -> tuple[int, ...]:
    """Parse "400" or "400, 100" (or empty for no hidden layer) into layer sizes."""
    sizes = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            size = int(part)
        except ValueError:
            raise ValueError(f"{part!r} is not a whole number; write sizes like \"400\" or \"400, 100\"") from None
        if size < 1:
            raise ValueError(f"a hidden layer of {size} neurons is invalid; every layer needs ≥ 1 neuron")
        sizes.append(size)
    return tuple(sizes)


def check_weight_memory(hidden_sizes: Sequence[int], layer_sizes: Sequence[int]) -> None:
    """Raise ValueError when training a network of ``layer_sizes`` would not fit in this machine's memory.

    The same rule as ``Network.initialise`` (training keeps about three copies of the
    float64 weights), checked without allocating, so that the field turns red while
    typing instead of the Reset failing later.
    """
    count = sum(int(a) * int(b) for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
    needed = 3 * count * 8
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return
    if needed > physical:
        raise ValueError(
            f"{', '.join(map(str, hidden_sizes))} needs about {needed / 2**30:.1f} GiB for the weights "
            f"during training, more than this machine's {physical / 2**30:.1f} GiB; choose smaller layers"
        )


def layer_title(layer: int, n_layers: int, layer_sizes: Sequence[int]) -> str:
    """Name weight layer ``layer`` (1 … n_layers) with its neuron count, e.g. "hidden 1 (400)"."""
    name = "output" if layer == n_layers else f"hidden {layer}"
    return f"{name} ({layer_sizes[layer]})"


def resize_per_layer(values: Sequence[Any], n_layers: int) -> list[Any]:
    """Adapt a per-layer list to a new layer count: hidden layers keep or copy the first hidden value."""
    values = list(values)
    output = values[-1]
    hidden = values[:-1]
    fill = hidden[0] if hidden else output
    new_hidden = [hidden[i] if i < len(hidden) else fill for i in range(n_layers - 1)]
    return [*new_hidden, output]


@dataclass
class _FieldState:
    """A text field's last parse or validation error, or "" when its text is committed."""

    widget: QLineEdit
    label: str
    error: str = ""


class ControlsPanel(QWidget):
    """Every setting of a run, with validation at the control.

    Signals
    -------
    live_settings_edited(dict)
        Committed, valid changes of live settings, ``{name: value}`` with per-layer
        values as tuples (names from ``LIVE_NAMES``).
    reset_needed_changed(list)
        Display names of the settings that differ from the current network's and
        need a Reset; empty when none does.
    validity_changed(bool)
        True when every field contains a valid value.
    """

    live_settings_edited = pyqtSignal(dict)
    reset_needed_changed = pyqtSignal(list)
    validity_changed = pyqtSignal(bool)

    def __init__(self, settings: Settings, dataset_spec: str, *, validation_fraction: float = 0.1,
                 presets: Sequence[Any] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._presets = list(presets)
        self._fields: dict[Any, _FieldState] = {}
        self._per_layer_widgets: list[QWidget] = []
        self._values: dict[str, Any] = {}
        self._applied: dict[str, Any] = {}
        self._base_training = settings.training
        self._input_size = settings.network.layer_sizes[0]
        self._output_size = settings.network.layer_sizes[-1]
        self._idx_folder = ""
        self._last_valid = True
        self._rechecking = False
        self._last_reset_needed: list[str] = []
        self.folder_chooser: Callable[[], str] = self._choose_idx_folder

        self._build()
        self.set_settings(settings, dataset_spec, validation_fraction)
        self.mark_applied()

    # -- building ---------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)

        if self._presets:
            layout.addWidget(self._build_presets())
        layout.addWidget(self._build_reset_group())
        layout.addWidget(self._build_live_group())

        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("color: #d9534f;")
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()
        layout.addWidget(self.message_label)
        layout.addStretch(1)

    def _build_presets(self) -> QWidget:
        box = QGroupBox("Preset")
        layout = QVBoxLayout(box)
        self.preset_combo = _compact_combo()
        self.preset_combo.addItem("choose a preset…", None)
        for preset in self._presets:
            self.preset_combo.addItem(preset.name, preset)
            self.preset_combo.setItemData(self.preset_combo.count() - 1, preset.note,
                                          Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.setToolTip(TOOLTIPS["preset"])
        self.preset_combo.activated.connect(self._on_preset_activated)
        self.preset_note = QLabel()
        self.preset_note.setWordWrap(True)
        # Normal text colour and size: the note explains the preset's figures, so it must be easy to read.
        self.preset_note.setStyleSheet("color: palette(window-text);")
        self.preset_note.hide()
        layout.addWidget(self.preset_combo)
        layout.addWidget(self.preset_note)
        return box

    def _build_reset_group(self) -> QWidget:
        box = QGroupBox("Data and network (apply with Reset)")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._reset_markers: dict[str, QLabel] = {}

        self.dataset_combo = _compact_combo()
        for spec, label in DATASET_CHOICES:
            self.dataset_combo.addItem(label, spec)
        self.dataset_combo.setToolTip(TOOLTIPS["dataset"])
        self.dataset_combo.activated.connect(self._on_dataset_activated)
        form.addRow("Dataset", self._with_marker("dataset", self.dataset_combo))

        form.addRow("Validation share", self._with_marker(
            "validation_fraction", self._make_field("validation_fraction", "validation share")))
        form.addRow("Hidden layers", self._with_marker(
            "hidden_sizes", self._make_field("hidden_sizes", "hidden layers", placeholder="e.g. 400 or 400, 100")))
        form.addRow("t_max", self._with_marker("t_max", self._make_field("t_max", "t_max")))
        form.addRow("Seed", self._with_marker("seed", self._make_field("seed", "seed")))

        self.shuffle_check = QCheckBox("shuffle every epoch")
        self.shuffle_check.setToolTip(TOOLTIPS["shuffle"])
        self.shuffle_check.toggled.connect(lambda checked: self._commit_flag("shuffle", checked))
        form.addRow("", self._with_marker("shuffle", self.shuffle_check))
        self.dead_reset_check = QCheckBox("reset dead neurons")
        self.dead_reset_check.setToolTip(TOOLTIPS["dead_reset"])
        self.dead_reset_check.toggled.connect(lambda checked: self._commit_flag("dead_reset", checked))
        form.addRow("", self._with_marker("dead_reset", self.dead_reset_check))

        init_title = QLabel("Initial weights, uniform in [low, high)")
        init_title.setToolTip(TOOLTIPS["init_low"])
        self._init_marker = self._make_marker("init_ranges")
        title_row = QHBoxLayout()
        title_row.addWidget(init_title)
        title_row.addWidget(self._init_marker)
        title_row.addStretch(1)
        form.addRow(title_row)
        self.init_grid = QGridLayout()
        form.addRow(self.init_grid)
        return box

    def _build_live_group(self) -> QWidget:
        box = QGroupBox("Learning (applies live)")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.learning_grid = QGridLayout()
        form.addRow(self.learning_grid)
        form.addRow("γ (steps)", self._make_field("gamma", "γ"))
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, MAX_EPOCHS)
        self.epochs_spin.setToolTip(TOOLTIPS["epochs"])
        self.epochs_spin.valueChanged.connect(self._on_epochs_changed)
        form.addRow("Epochs", self.epochs_spin)
        return box

    def _make_field(self, key: Any, label: str, placeholder: str = "") -> QLineEdit:
        edit = QLineEdit()
        name = key[0] if isinstance(key, tuple) else key
        edit.setToolTip(TOOLTIPS[name])
        if placeholder:
            edit.setPlaceholderText(placeholder)
        edit.textEdited.connect(lambda _text, key=key: self._check_field(key, commit=False))
        edit.editingFinished.connect(lambda key=key: self._check_field(key, commit=True))
        self._fields[key] = _FieldState(edit, label)
        return edit

    def _make_marker(self, name: str) -> QLabel:
        marker = QLabel("needs reset")
        marker.setStyleSheet(NEEDS_RESET_STYLE)
        marker.setToolTip("This value differs from the current network's; press Reset to use it.")
        marker.hide()
        self._reset_markers[name] = marker
        return marker

    def _with_marker(self, name: str, widget: QWidget) -> QWidget:
        container = QWidget()
        row = QHBoxLayout(container)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(widget, 1)
        row.addWidget(self._make_marker(name))
        return container

    def _rebuild_per_layer(self) -> None:
        """Recreate one row per weight layer in both grids, from the committed values."""
        for widget in self._per_layer_widgets:
            widget.deleteLater()
        self._per_layer_widgets = []
        for key in [key for key in self._fields if isinstance(key, tuple)]:
            del self._fields[key]

        layer_sizes = self._layer_sizes(self._values["hidden_sizes"])
        n_layers = len(layer_sizes) - 1
        for grid, names in ((self.learning_grid, ("thresholds", "learning_rates", "l2")),
                            (self.init_grid, ("init_low", "init_high"))):
            for column, name in enumerate(names, start=1):
                header = QLabel(PER_LAYER_LABELS[name])
                header.setToolTip(TOOLTIPS[name])
                header.setAlignment(Qt.AlignmentFlag.AlignCenter)
                grid.addWidget(header, 0, column)
                self._per_layer_widgets.append(header)
            for layer in range(1, n_layers + 1):
                title = QLabel(layer_title(layer, n_layers, layer_sizes))
                title.setToolTip(f"Weights from {layer_sizes[layer - 1]} to {layer_sizes[layer]} neurons.")
                grid.addWidget(title, layer, 0)
                self._per_layer_widgets.append(title)
                for column, name in enumerate(names, start=1):
                    label = f"{PER_LAYER_LABELS[name]} of {title.text()}"
                    edit = self._make_field((name, layer - 1), label)
                    edit.setText(format_number(self._per_layer_value(name, layer - 1)))
                    edit.setMinimumWidth(40)
                    grid.addWidget(edit, layer, column)
                    self._per_layer_widgets.append(edit)
            grid.setColumnStretch(0, 0)

    # -- reading and writing the settings ------------------------------------------------

    def settings(self) -> Settings:
        """Return the committed settings, which are valid: an invalid field keeps its last valid value."""
        return self._build_settings(self._values)

    def dataset_spec(self) -> str:
        return self._values["dataset"]

    def validation_fraction(self) -> float:
        return self._values["validation_fraction"]

    def is_valid(self) -> bool:
        """Return whether every field contains a valid, committed value."""
        return not any(state.error for state in self._fields.values())

    def errors(self) -> dict[str, str]:
        """Messages of the fields that hold an invalid value, by field label."""
        return {state.label: state.error for state in self._fields.values() if state.error}

    def field(self, name: str, layer: int | None = None) -> QLineEdit:
        """Return the line edit of setting ``name``, of weight layer ``layer`` (1-based) for per-layer values."""
        key = (name, layer - 1) if layer is not None else name
        return self._fields[key].widget

    def set_data_shape(self, n_pixels: int, n_classes: int) -> None:
        """Use these input and output sizes for the settings (from the dataset or a loaded network)."""
        self._input_size = int(n_pixels)
        self._output_size = int(n_classes)
        self._rebuild_per_layer()

    def set_settings(self, settings: Settings, dataset_spec: str | None = None,
                     validation_fraction: float | None = None) -> None:
        """Show ``settings`` in every control without sending any signal."""
        network, learning, training = settings.network, settings.learning, settings.training
        self._base_training = training
        self._input_size = network.layer_sizes[0]
        self._output_size = network.layer_sizes[-1]
        values = dict(self._values)
        values.update(
            hidden_sizes=tuple(network.hidden_sizes),
            t_max=network.t_max,
            thresholds=tuple(network.thresholds),
            init_ranges=tuple(tuple(pair) for pair in network.init_ranges),
            learning_rates=tuple(learning.learning_rates),
            l2=tuple(learning.l2),
            gamma=learning.gamma,
            epochs=training.epochs,
            seed=training.seed,
            shuffle=training.shuffle,
            dead_reset=training.dead_reset,
        )
        if dataset_spec is not None:
            values["dataset"] = dataset_spec
        if validation_fraction is not None:
            values["validation_fraction"] = float(validation_fraction)
        values.setdefault("dataset", "bundled")
        values.setdefault("validation_fraction", 0.1)
        self._values = values
        self._show_values()

    def set_dataset(self, spec: str, validation_fraction: float) -> None:
        """Show ``spec`` and ``validation_fraction`` as committed values (after a failed dataset change)."""
        self._values["dataset"] = spec
        self._values["validation_fraction"] = float(validation_fraction)
        self._show_dataset(spec)
        self._set_text("validation_fraction", format_number(validation_fraction))
        self._set_error("validation_fraction", "")
        self._update_reset_markers()

    def set_seed(self, seed: int) -> None:
        """Show and commit a new seed (used by "Reset with new seed")."""
        self._values["seed"] = int(seed)
        self._fields["seed"].widget.setText(str(int(seed)))
        self._set_error("seed", "")
        self._update_reset_markers()

    def set_epochs(self, epochs: int) -> None:
        """Show ``epochs`` without sending a live edit."""
        self._values["epochs"] = int(epochs)
        self.epochs_spin.blockSignals(True)
        self.epochs_spin.setValue(int(epochs))
        self.epochs_spin.blockSignals(False)

    def mark_applied(self) -> None:
        """Record the committed settings as the current network's, which clears every "needs reset" mark."""
        self._applied = {name: self._values[name] for name in RESET_NAMES}
        self._update_reset_markers()

    def pending_reset_changes(self) -> list[str]:
        """Display names of committed settings that differ from the current network's."""
        return [DISPLAY_NAMES[name] for name in RESET_NAMES if self._differs_from_applied(name)]

    def _differs_from_applied(self, name: str) -> bool:
        value = self._values[name]
        applied = self._applied.get(name)
        if name == "init_ranges" and applied is not None:
            # A new layer count fills in ranges by itself; only ranges the user typed count as a change.
            applied = tuple(resize_per_layer(applied, len(value)))
        return value != applied

    def _show_values(self) -> None:
        values = self._values
        self._set_text("validation_fraction", format_number(values["validation_fraction"]))
        self._set_text("hidden_sizes", ", ".join(str(size) for size in values["hidden_sizes"]))
        self._set_text("t_max", str(values["t_max"]))
        self._set_text("seed", str(values["seed"]))
        self._set_text("gamma", str(values["gamma"]))
        for widget, value in ((self.shuffle_check, values["shuffle"]), (self.dead_reset_check, values["dead_reset"])):
            widget.blockSignals(True)
            widget.setChecked(bool(value))
            widget.blockSignals(False)
        self.set_epochs(values["epochs"])
        self._show_dataset(values["dataset"])
        for state in self._fields.values():
            state.error = ""
            state.widget.setStyleSheet("")
        self._rebuild_per_layer()
        self._update_messages()
        self._update_reset_markers()

    def _set_text(self, key: str, text: str) -> None:
        self._fields[key].widget.setText(text)

    def _show_dataset(self, spec: str) -> None:
        combo = self.dataset_combo
        combo.blockSignals(True)
        if spec.lower().startswith("idx:"):
            self._idx_folder = spec[4:]
            index = combo.findData("idx:")
            combo.setItemText(index, f"IDX folder: {self._idx_folder}")
            combo.setCurrentIndex(index)
        else:
            index = combo.findData(spec.lower())
            combo.setCurrentIndex(max(index, 0))
        combo.blockSignals(False)

    def _layer_sizes(self, hidden_sizes: Sequence[int]) -> tuple[int, ...]:
        return (self._input_size, *hidden_sizes, self._output_size)

    def _per_layer_value(self, name: str, index: int) -> float:
        if name == "init_low":
            return self._values["init_ranges"][index][0]
        if name == "init_high":
            return self._values["init_ranges"][index][1]
        return self._values[name][index]

    def _build_settings(self, values: dict[str, Any]) -> Settings:
        training = self._base_training
        extra = {field.name: getattr(training, field.name) for field in dataclasses.fields(TrainingConfig)}
        extra.update(epochs=values["epochs"], seed=values["seed"], shuffle=values["shuffle"],
                     dead_reset=values["dead_reset"])
        return make_settings(
            values["hidden_sizes"], input_size=self._input_size, output_size=self._output_size,
            t_max=values["t_max"], thresholds=values["thresholds"], learning_rates=values["learning_rates"],
            l2=values["l2"], init_ranges=values["init_ranges"], gamma=values["gamma"], **extra,
        )

    # -- validation -----------------------------------------------------------------------

    def _candidate(self, key: Any, text: str) -> dict[str, Any]:
        """Return the committed values with field ``key`` set from ``text``; raise ValueError or SettingsError."""
        values = dict(self._values)
        if isinstance(key, tuple):
            name, index = key
            number = parse_float(text)
            if name in ("init_low", "init_high"):
                ranges = [list(pair) for pair in values["init_ranges"]]
                ranges[index][0 if name == "init_low" else 1] = number
                values["init_ranges"] = tuple(tuple(pair) for pair in ranges)
            else:
                per_layer = list(values[name])
                per_layer[index] = number
                values[name] = tuple(per_layer)
        elif key == "hidden_sizes":
            sizes = parse_hidden_sizes(text)
            n_layers = len(sizes) + 1
            check_weight_memory(sizes, self._layer_sizes(sizes))
            values["hidden_sizes"] = sizes
            for name in ("thresholds", "learning_rates", "l2", "init_ranges"):
                values[name] = tuple(resize_per_layer(values[name], n_layers))
        elif key in ("t_max", "gamma", "seed"):
            values[key] = parse_int(text)
            if key == "seed" and not 0 <= values[key] <= MAX_SEED:
                raise ValueError(f"seed = {values[key]} is out of range; valid: 0 … {MAX_SEED}")
        elif key == "validation_fraction":
            fraction = parse_float(text)
            if not (math.isfinite(fraction) and 0 <= fraction < 1):
                raise ValueError(f"validation share = {text.strip()} is out of range; valid: 0 ≤ value < 1")
            values[key] = fraction
        else:
            raise KeyError(key)
        self._build_settings(values)  # raises SettingsError naming the value and the valid range
        return values

    def _check_field(self, key: Any, *, commit: bool) -> bool:
        state = self._fields.get(key)
        if state is None:
            return False
        text = state.widget.text()
        try:
            values = self._candidate(key, text)
        except (ValueError, SettingsError) as error:
            self._set_error(key, f"{state.label}: {error}")
            return False
        self._set_error(key, "")
        if commit:
            self._commit(key, values)
        return True

    def _set_error(self, key: Any, message: str) -> None:
        state = self._fields[key]
        if state.error == message:
            return
        state.error = message
        state.widget.setStyleSheet(INVALID_STYLE if message else "")
        self._update_messages()

    def _update_messages(self) -> None:
        messages = [state.error for state in self._fields.values() if state.error]
        self.message_label.setText("\n".join(messages))
        self.message_label.setVisible(bool(messages))
        valid = not messages
        if valid != self._last_valid:
            self._last_valid = valid
            self.validity_changed.emit(valid)

    def _commit(self, key: Any, values: dict[str, Any]) -> None:
        old = self._values
        self._values = values
        if key == "hidden_sizes":
            self._rebuild_per_layer()  # new layer count, or new sizes in the row titles
        if self._rechecking:
            # A field committed while rechecking: the outer commit reports every change at once.
            return
        self._rechecking = True
        try:
            self._recheck_invalid_fields()
        finally:
            self._rechecking = False
        # Compare with the values after the recheck, so a field that became valid through this
        # commit (η after lowering λ) reaches the trainer together with it, in one update.
        final = self._values
        live = {name: final[name] for name in LIVE_NAMES if final[name] != old[name]}
        if live:
            logger.debug("live settings edited: %s", live)
            self.live_settings_edited.emit(live)
        self._update_reset_markers()

    def _recheck_invalid_fields(self) -> None:
        # A committed value can make another field's rejected text valid (γ after raising t_max,
        # η after lowering λ). Each commit can unlock another, so repeat until nothing changes.
        for _ in range(len(self._fields) + 1):
            committed = False
            for key, state in list(self._fields.items()):
                if state.error and self._check_field(key, commit=True):
                    committed = True
            if not committed:
                return

    def _commit_flag(self, name: str, checked: bool) -> None:
        self._values[name] = bool(checked)
        self._update_reset_markers()

    def _on_epochs_changed(self, epochs: int) -> None:
        if epochs == self._values["epochs"]:
            return
        self._values["epochs"] = int(epochs)
        self.live_settings_edited.emit({"epochs": int(epochs)})

    def _update_reset_markers(self) -> None:
        if not self._applied:
            return
        for name, marker in self._reset_markers.items():
            marker.setVisible(self._differs_from_applied(name))
        needed = self.pending_reset_changes()
        if needed != self._last_reset_needed:
            self._last_reset_needed = needed
            self.reset_needed_changed.emit(needed)

    # -- dataset and presets ---------------------------------------------------------------

    def _choose_idx_folder(self) -> str:
        return QFileDialog.getExistingDirectory(self, "Choose a folder of IDX files", self._idx_folder)

    def _on_dataset_activated(self, index: int) -> None:
        spec = self.dataset_combo.itemData(index)
        if spec == "idx:":
            folder = self.folder_chooser()
            if not folder:
                self._show_dataset(self._values["dataset"])
                return
            spec = f"idx:{folder}"
        self._values["dataset"] = spec
        self._show_dataset(spec)
        self._update_reset_markers()

    def _on_preset_activated(self, index: int) -> None:
        preset = self.preset_combo.itemData(index)
        if preset is None:
            return
        self.apply_preset(preset)

    def apply_preset(self, preset: Any) -> None:
        """Fill the controls from a preset; live values are sent out, the rest wait for Reset."""
        kwargs = dict(preset.settings_kwargs)
        kwargs.setdefault("input_size", self._input_size)
        kwargs.setdefault("output_size", self._output_size)
        # Reporting settings the panel does not show keep their values unless the preset sets them.
        kwargs.setdefault("chunk_size", self._base_training.chunk_size)
        kwargs.setdefault("dead_reset_fraction", self._base_training.dead_reset_fraction)
        try:
            settings = make_settings(**kwargs)
        except SettingsError as error:
            logger.error("preset %r has invalid settings: %s", preset.name, error)
            self.message_label.setText(f"Preset {preset.name!r} is invalid: {error}")
            self.message_label.show()
            return
        old = dict(self._values)
        dataset = getattr(preset, "dataset", None) or old["dataset"]
        self.set_settings(settings, dataset)
        if hasattr(self, "preset_note"):
            self.preset_note.setText(preset.note)
            self.preset_note.setVisible(bool(preset.note))
        live = {name: self._values[name] for name in LIVE_NAMES if self._values[name] != old[name]}
        if live:
            self.live_settings_edited.emit(live)


# ---------------------------------------------------------------------------------------
# Probe sample


def decision_of_trace(trace: Trace, network: Network) -> tuple[int, str, int]:
    """Return (decided class, outcome name, decision time) of a traced sample, by the product's readout.

    The decision time is t_max for a silent sample.
    """
    t_max = trace.t_max
    out_times = np.asarray(trace.times[-1], dtype=np.int64)
    potentials = trace.potentials[-1]
    fired = out_times < t_max
    rows = np.arange(out_times.size)
    v_cross = np.where(fired, potentials[rows, np.clip(out_times - 1, 0, t_max - 1)], potentials[:, t_max - 1])
    v_last = potentials[:, t_max - 1]
    decisions = decide(out_times[None, :], v_cross[None, :], v_last[None, :], t_max)
    row = int(decisions.rows[0])
    return (int(network.row_classes[row]), OUTCOME_NAMES[int(decisions.outcomes[0])],
            int(decisions.decision_times[0]))


class ProbePanel(QWidget):
    """Choose the probe sample (split, index) and show its image, label and the network's decision."""

    SPLITS = ("test", "validation", "train")
    IMAGE_SIZE = 112

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        row = QHBoxLayout()
        self.split_combo = QComboBox()
        self.split_combo.setToolTip("Which split the probe sample comes from. The per-sample views follow it.")
        for split in self.SPLITS:
            dataset = getattr(state.splits, split, None)
            if dataset is not None and len(dataset):
                self.split_combo.addItem(split, split)
        self.split_combo.activated.connect(self._on_choice_edited)
        self.index_spin = QSpinBox()
        self.index_spin.setToolTip("Index of the probe sample in its split.")
        self.index_spin.setKeyboardTracking(False)
        self.index_spin.valueChanged.connect(self._on_choice_edited)
        self.previous_button = QPushButton("◀")
        self.previous_button.setToolTip("Previous sample of the split.")
        self.previous_button.setFixedWidth(32)
        self.previous_button.clicked.connect(lambda: self._move(-1))
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("Next sample of the split.")
        self.next_button.setFixedWidth(32)
        self.next_button.clicked.connect(lambda: self._move(1))
        row.addWidget(self.split_combo, 1)
        row.addWidget(self.previous_button)
        row.addWidget(self.index_spin, 1)
        row.addWidget(self.next_button)
        layout.addLayout(row)

        body = QHBoxLayout()
        self.image_label = QLabel()
        self.image_label.setFixedSize(self.IMAGE_SIZE, self.IMAGE_SIZE)
        self.image_label.setStyleSheet("background: black;")
        self.image_label.setToolTip("The probe image as the network sees it: brighter pixels spike earlier.")
        self.decision_label = QLabel()
        self.decision_label.setWordWrap(True)
        self.decision_label.setTextFormat(Qt.TextFormat.RichText)
        self.decision_label.setToolTip(
            "The true class and the network's decision: the first output neuron to fire wins (clean); on a tie "
            "the larger potential at the crossing step wins; when no output fires (silent) the largest final "
            "potential wins."
        )
        self.decision_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        body.addWidget(self.image_label)
        body.addWidget(self.decision_label, 1)
        layout.addLayout(body)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.note_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note_label.setStyleSheet(NOTE_STYLE)
        self.note_label.hide()
        layout.addWidget(self.note_label)
        layout.addStretch(1)

        state.probe_changed.connect(self._show_probe)
        state.trace_changed.connect(self._show_trace)
        if state.probe is not None:
            self._show_probe(state.probe)
        if state.trace is not None:
            self._show_trace(state.trace)

    def set_note(self, text: str) -> None:
        """Show a caveat about the figures of the current network and data under the decision; "" hides it."""
        self.note_label.setText(text)
        self.note_label.setVisible(bool(text))

    def note(self) -> str:
        return self.note_label.text() if not self.note_label.isHidden() else ""

    def set_splits(self, splits) -> None:
        """Offer the splits of a newly loaded dataset."""
        self.split_combo.blockSignals(True)
        self.split_combo.clear()
        for split in self.SPLITS:
            dataset = getattr(splits, split, None)
            if dataset is not None and len(dataset):
                self.split_combo.addItem(split, split)
        self.split_combo.blockSignals(False)

    def _move(self, offset: int) -> None:
        probe = self._state.probe
        split = self.split_combo.currentData()
        if split is None:
            return
        index = (probe.index if probe is not None and probe.split == split else self.index_spin.value()) + offset
        self._state.set_probe(split, index)

    def _on_choice_edited(self, *_args) -> None:
        split = self.split_combo.currentData()
        if split is None:
            return
        self._state.set_probe(split, self.index_spin.value())

    def _show_probe(self, probe) -> None:
        if probe.split != "drawing":
            dataset = getattr(self._state.splits, probe.split)
            self.split_combo.blockSignals(True)
            self.split_combo.setCurrentIndex(max(self.split_combo.findData(probe.split), 0))
            self.split_combo.blockSignals(False)
            self.index_spin.blockSignals(True)
            self.index_spin.setRange(0, len(dataset) - 1)
            self.index_spin.setValue(probe.index)
            self.index_spin.blockSignals(False)
        image = np.ascontiguousarray(probe.image, dtype=np.uint8)
        height, width = image.shape
        qimage = QImage(image.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
        pixmap = QPixmap.fromImage(qimage).scaled(self.IMAGE_SIZE, self.IMAGE_SIZE,
                                                  Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.FastTransformation)
        self.image_label.setPixmap(pixmap)

    def _show_trace(self, trace: Trace) -> None:
        probe = self._state.probe
        network = self._state.network
        if probe is None or trace.times[-1].size != network.layer_sizes[-1]:
            return
        names = network.class_names
        decided, outcome, time = decision_of_trace(trace, network)
        if probe.split == "drawing":
            source = "your drawing"
            label_text = "label: none"
            colour = "palette(text)"
        else:
            source = f"{probe.split} sample {probe.index}"
            label_text = f"label: <b>{names[probe.label]}</b>"
            colour = "#3cb043" if decided == probe.label else "#d9534f"
        when = "no output fired" if outcome == "silent" else f"first spike at t = {time}"
        self.decision_label.setText(
            f"{source}<br>{label_text}<br>"
            f"decision: <b style='color:{colour}'>{names[decided]}</b><br>"
            f"{outcome}, {when}"
        )
