"""The main window: docks for the settings, the probe sample and every plot; menus; the run buttons.

The window owns the :class:`SessionState` every view follows, the one
:class:`TrainingWorker` and the current :class:`Trainer`. Reports from the worker
arrive on the GUI thread. Progress reports are coalesced: only the newest is kept
and a ~30 Hz timer repaints from it. Epoch results, setting changes and steps are
events, and each one is passed on to the state when it arrives.

The state only ever gets copies of the network, because the worker thread
changes the trainer's own network while it runs.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import secrets
import time
from pathlib import Path

from PyQt6.QtCore import QByteArray, QEvent, Qt, QTimer
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence
from PyQt6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QToolBar,
    QWidget,
)

from s4nn_engine.checkpoint import CheckpointError, import_reference_weights, load_checkpoint, save_checkpoint
from s4nn_engine.config import Settings, SettingsError, make_settings
from s4nn_engine.network import Network
from s4nn_engine.training import EpochReport, ProgressReport, RunFinished, SettingsChange, StepReport, Trainer
from s4nn_gui import export
from s4nn_gui.controls import ControlsPanel, ProbePanel
from s4nn_gui.dataset_messages import has_training_split, load_failure_message, missing_training_split_message
from s4nn_gui.plots import AccuracyPlot, MembranePlot, RasterPlot, WeightMapPlot
from s4nn_gui.state import SessionState
from s4nn_gui.tools import install_tools
from s4nn_gui.tools.presets import PRESETS
from s4nn_gui.worker import DatasetLoader, TrainingWorker

logger = logging.getLogger(__name__)

REPAINT_INTERVAL_MS = 33  # about 30 Hz at most; faster would only take time from training
MAX_REPAINT_INTERVAL_MS = 500
MAX_GUI_SHARE = 0.25  # share of wall time the repaint timer may spend drawing while training runs
# Samples per chunk in the window's default settings. The trainer reports, checks for pause and
# stop, and applies live settings between chunks; 1000 samples take about 25 ms for 784-400-10,
# and fewer, larger chunks let the worker wait less often for the GIL that the GUI thread holds.
GUI_CHUNK_SIZE = 1000
DEFAULT_SETTINGS_WIDTH = 380
# Time constant of the moving average behind the speed and time left in the status bar.
SPEED_TIME_CONSTANT_S = 3.0
# Tool docks about the probe sample, tabbed with the spike raster (see MainWindow.add_dock).
PER_SAMPLE_TOOLS = frozenset({"Time scrubber", "Inspector", "What-if", "Draw a digit"})
SHUTDOWN_TIMEOUT_S = 10.0
STATUS_MESSAGE_LENGTH = 110  # characters; longer errors would run under the status figures
RESET_MARK_STYLE = "QToolButton { background: #e69500; color: black; font-weight: bold; }"
CHECKPOINT_FILTER = "S4NN checkpoints (*.npz);;All files (*)"
# All splits of the bundled dataset are MNIST training digits, which the published network learned from.
# The 96.23 % is `s4nn evaluate --reference-weights weights_pretrained.npy --dataset idx:DIR` on the
# 10,000 MNIST t10k digits, with this program's decision rule.
BUNDLED_IMPORT_NOTE = (
    "The bundled digits are MNIST training images, and the published network was trained on them, so its "
    "accuracy on them is inflated. For its published figure, evaluate it on the real MNIST test set: choose "
    "MNIST, or an IDX folder with the t10k files, in Dataset, or run s4nn evaluate (96.23 % on the "
    "10,000 MNIST test digits)."
)
BUNDLED_IMPORT_SHORT_NOTE = "Accuracy inflated: the published weights were trained on these digits"
PROBE_DOCK_TITLE_HEIGHT = 30  # pixels above the probe panel in its dock: the title bar and margins


def settings_for_network(network: Network, base: Settings) -> Settings:
    """Return ``base`` with the shape, t_max, thresholds and initial ranges of ``network``.

    Used for networks that come without run settings (imported weights); the
    learning and training settings stay those of ``base``.
    """
    config = network.config
    n_layers = config.n_layers
    learning = base.learning
    rates = learning.learning_rates if len(learning.learning_rates) == n_layers else learning.learning_rates[-1]
    l2 = learning.l2 if len(learning.l2) == n_layers else learning.l2[-1]
    training = dataclasses.asdict(base.training)
    return make_settings(
        config.hidden_sizes, input_size=config.layer_sizes[0], output_size=config.layer_sizes[-1],
        t_max=config.t_max, thresholds=config.thresholds, init_ranges=config.init_ranges,
        learning_rates=rates, l2=l2, gamma=min(learning.gamma, config.t_max), **training,
    )


def with_live_changes(settings: Settings, changes: dict) -> Settings:
    """Return ``settings`` with live changes (thresholds, learning_rates, l2, gamma, epochs) applied."""
    network = settings.network
    learning = settings.learning
    training = settings.training
    if "thresholds" in changes:
        network = dataclasses.replace(network, thresholds=tuple(changes["thresholds"]))
    for name in ("learning_rates", "l2"):
        if name in changes:
            learning = dataclasses.replace(learning, **{name: tuple(changes[name])})
    if "gamma" in changes:
        learning = dataclasses.replace(learning, gamma=changes["gamma"])
    if "epochs" in changes:
        training = dataclasses.replace(training, epochs=changes["epochs"])
    return Settings(network=network, learning=learning, training=training)


def format_duration(seconds: float) -> str:
    """Format seconds as "42 s", "3 min 05 s" or "1 h 02 min"; "–" when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class SpeedEstimate:
    """Training speed from the progress reports of a run, as an exponential moving average.

    :meth:`add` takes the samples trained so far in the run and the run's elapsed
    seconds. Each report after the first gives the speed since the one before,
    averaged with a time constant of ``time_constant`` seconds. :meth:`restart`
    drops the last report without forgetting the speed, so that the time spent
    paused between two reports never counts.
    """

    def __init__(self, time_constant: float = SPEED_TIME_CONSTANT_S) -> None:
        self.time_constant = time_constant
        self.samples_per_second: float | None = None
        self._last: tuple[int, float] | None = None

    def reset(self) -> None:
        """Forget everything, for a new run."""
        self.samples_per_second = None
        self._last = None

    def restart(self) -> None:
        """Measure again from the next report on (after a pause, a step or a resume)."""
        self._last = None

    def add(self, samples: int, elapsed: float) -> None:
        last = self._last
        self._last = (samples, elapsed)
        if last is None:
            return
        done = samples - last[0]
        seconds = elapsed - last[1]
        if done <= 0 or seconds <= 0:
            return
        rate = done / seconds
        if self.samples_per_second is None:
            self.samples_per_second = rate
            return
        weight = 1.0 - math.exp(-seconds / self.time_constant)
        self.samples_per_second += weight * (rate - self.samples_per_second)


class MainWindow(QMainWindow):
    """The S4NN Explorer window.

    Parameters
    ----------
    splits
        The loaded dataset (train, validation, test).
    dataset_spec
        The spec it was loaded with ("bundled", "mnist", "fashion-mnist" or "idx:DIR").
    settings
        The run settings; by default 784-400-10 with the published values, sized
        to the dataset's images and classes.
    validation_fraction
        The share of the training file the dataset holds out for validation.
    """

    def __init__(self, splits, *, dataset_spec: str = "bundled", settings: Settings | None = None,
                 validation_fraction: float = 0.1, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("S4NN Explorer")
        self.splits = splits
        self.dataset_spec = dataset_spec
        self.validation_fraction = validation_fraction
        if settings is None:
            settings = make_settings((400,), input_size=self._n_pixels(splits), output_size=self._n_classes(splits),
                                     chunk_size=GUI_CHUNK_SIZE)
        self._trainer = Trainer(settings, splits, dataset_name=dataset_spec)

        self.state = SessionState(settings, splits, self._trainer.network.copy(), parent=self)
        self.worker = TrainingWorker(self)
        self.loader = DatasetLoader(self)
        self._latest_progress: ProgressReport | None = None
        self._last_progress: ProgressReport | None = None
        self._speed = SpeedEstimate()
        self._step_position: tuple[int, int] | None = None
        self._unsaved = False
        self._checkpoint_path: Path | None = None
        self._pending_reset: dict | None = None
        self._docks: dict[str, QDockWidget] = {}
        self._unplaced_docks: list[tuple[QDockWidget, Qt.DockWidgetArea]] = []
        self._sized = False
        self._laid_out = False
        self._exportable: dict[str, QWidget] = {}
        self._default_layout: QByteArray | None = None
        self._reset_needed: list[str] = []
        self._closing = False

        self._repaint_timer = QTimer(self)
        self._repaint_timer.setInterval(REPAINT_INTERVAL_MS)
        self._repaint_timer.timeout.connect(self._on_repaint_tick)
        self._next_plot = 0
        self._last_paint_seconds = 0.0

        self._build_actions()
        self._build_menus_and_toolbar()
        self._build_docks()
        self._build_status_bar()
        self._connect_worker()

        self._set_default_probe()
        self._evaluate_current_network()
        install_tools(self)
        self._update_actions()
        self._show_status_figures(None)

    # -- construction ----------------------------------------------------------------

    @staticmethod
    def _n_pixels(splits) -> int:
        return int(splits.train.images[0].size)

    @staticmethod
    def _n_classes(splits) -> int:
        names = splits.class_names
        return max(len(names), int(splits.train.labels.max()) + 1)

    def _make_action(self, text: str, slot, *, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        action.triggered.connect(lambda _checked=False: slot())
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        return action

    def _build_actions(self) -> None:
        self.start_action = self._make_action("Start", self.start_training, shortcut="F5",
                                              tip="Train the current network until the set number of epochs is done.")
        self.pause_action = self._make_action("Pause", self.toggle_pause, shortcut="F6",
                                              tip="Pause training after the current chunk of samples, or resume it.")
        self.step_action = self._make_action("Step", self.step_training, shortcut="F7",
                                             tip="Train on the next training sample only and show it with its "
                                                 "targets in the per-sample views; the weight map and the "
                                                 "inspector show the weight change it made.")
        self.stop_action = self._make_action("Stop", self.stop_training, shortcut="F8",
                                             tip="Stop training after the current chunk; the network keeps its "
                                                 "updates and Start begins a new epoch.")
        self.reset_action = self._make_action("Reset", lambda: self.reset_network(new_seed=False),
                                              tip="Draw a fresh network with the current settings and the same seed.")
        self.reset_new_seed_action = self._make_action(
            "Reset with new seed", lambda: self.reset_network(new_seed=True),
            tip="Draw a new seed, then a fresh network with the current settings.")
        self.new_action = self._make_action("&New run", lambda: self.reset_network(new_seed=False),
                                            shortcut=QKeySequence.StandardKey.New,
                                            tip="Start over with a fresh network (same as Reset).")
        self.open_action = self._make_action("&Open checkpoint…", self.choose_and_open_checkpoint,
                                             shortcut=QKeySequence.StandardKey.Open)
        self.save_action = self._make_action("&Save checkpoint…", self.choose_and_save_checkpoint,
                                             shortcut=QKeySequence.StandardKey.Save)
        self.import_action = self._make_action(
            "&Import published S4NN weights…", self.choose_and_import_weights,
            tip="Load weights_pretrained.npy of the published S4NN code as a 784-400-10 network.")
        self.quit_action = self._make_action("&Quit", self.close, shortcut=QKeySequence.StandardKey.Quit)
        self.restore_layout_action = self._make_action("Restore default layout", self.restore_default_layout)

    def _build_menus_and_toolbar(self) -> None:
        menu_bar = self.menuBar()
        file_menu = menu_bar.addMenu("&File")
        file_menu.addAction(self.new_action)
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.import_action)
        file_menu.addSeparator()
        self.export_menu = file_menu.addMenu("&Export plot")
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        run_menu = menu_bar.addMenu("&Run")
        for action in (self.start_action, self.pause_action, self.step_action, self.stop_action):
            run_menu.addAction(action)
        run_menu.addSeparator()
        run_menu.addAction(self.reset_action)
        run_menu.addAction(self.reset_new_seed_action)

        self.view_menu = menu_bar.addMenu("&View")
        self._view_separator = self.view_menu.addSeparator()
        self.view_menu.addAction(self.restore_layout_action)

        self.toolbar = QToolBar("Run")
        self.toolbar.setObjectName("run-toolbar")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action in (self.start_action, self.pause_action, self.step_action, self.stop_action):
            self.toolbar.addAction(action)
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.reset_action)
        self.toolbar.addAction(self.reset_new_seed_action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)

    def _build_docks(self) -> None:
        # Every view lives in a dock, so the central widget is an empty placeholder.
        placeholder = QWidget()
        placeholder.hide()
        self.setCentralWidget(placeholder)
        self.setDockNestingEnabled(True)
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        right = Qt.DockWidgetArea.RightDockWidgetArea

        self.controls = ControlsPanel(self.state.settings, self.dataset_spec,
                                      validation_fraction=self.validation_fraction, presets=PRESETS)
        self.controls.live_settings_edited.connect(self._on_live_settings_edited)
        self.controls.reset_needed_changed.connect(self._on_reset_needed_changed)
        self.controls.validity_changed.connect(lambda _valid: self._update_actions())
        # The per-layer grids need this width to show θ, η and λ side by side without cutting them off.
        self.controls.setMinimumWidth(DEFAULT_SETTINGS_WIDTH)
        self.probe_panel = ProbePanel(self.state)

        self.membrane_plot = MembranePlot(self.state)
        self.raster_plot = RasterPlot(self.state)
        self.weight_plot = WeightMapPlot(self.state)
        self.accuracy_plot = AccuracyPlot(self.state)
        self.weight_plot.neuron_clicked.connect(
            lambda neuron: self.membrane_plot.select_hidden(self.weight_plot.shown_layer(), neuron))

        controls_dock = self._create_dock("Settings", self.controls, left)
        probe_dock = self._create_dock("Probe sample", self.probe_panel, left)
        membrane_dock = self._create_dock("Membrane potential V(t)", self.membrane_plot, right)
        raster_dock = self._create_dock("Spike raster", self.raster_plot, right)
        weights_dock = self._create_dock("Hidden weights", self.weight_plot, right)
        # Short titles, because the tool docks join this one's tab bar and long titles are cut short there.
        accuracy_dock = self._create_dock("Accuracy", self.accuracy_plot, right)
        self.splitDockWidget(controls_dock, probe_dock, Qt.Orientation.Vertical)
        self.splitDockWidget(membrane_dock, weights_dock, Qt.Orientation.Vertical)
        self.splitDockWidget(membrane_dock, raster_dock, Qt.Orientation.Horizontal)
        self.splitDockWidget(weights_dock, accuracy_dock, Qt.Orientation.Horizontal)
        # The settings column runs the full height; docks added at the bottom sit under the plots.
        self.setCorner(Qt.Corner.TopLeftCorner, left)
        self.setCorner(Qt.Corner.BottomLeftCorner, left)
        self.plots = {
            "membrane": self.membrane_plot,
            "raster": self.raster_plot,
            "weights": self.weight_plot,
            "accuracy": self.accuracy_plot,
        }

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.state_label = QLabel()
        self.epoch_label = QLabel()
        self.sample_label = QLabel()
        self.speed_label = QLabel()
        self.time_left_label = QLabel()
        tips = {
            self.state_label: "What the trainer is doing.",
            self.epoch_label: "The epoch being trained, of the epochs set.",
            self.sample_label: "Training samples done in this epoch, of the training split's size.",
            self.speed_label: "Training speed over the last few seconds, in samples per second; shown only "
                              "while training runs.",
            self.time_left_label: "Estimated time until the set number of epochs is done, at the recent speed.",
        }
        self.note_label = QLabel()
        self.note_label.setStyleSheet("QLabel { color: #e69500; font-weight: bold; }")
        self.note_label.hide()
        bar.addPermanentWidget(self.note_label)
        for label, tip in tips.items():
            label.setToolTip(tip)
            label.setMinimumWidth(90)
            bar.addPermanentWidget(label)
        self.state.training_state_changed.connect(lambda _state: self._show_training_state())
        self._show_training_state()

    def _show_training_state(self) -> None:
        self.state_label.setText(self.state.training_state)
        # Time spent paused or stepping must not count towards the speed.
        self._speed.restart()
        self._show_speed()

    def _create_dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        self.view_menu.insertAction(self._view_separator, dock.toggleViewAction())
        self._docks[title] = dock
        if export.can_export(widget):
            self._add_export_menu(title, widget)
        return dock

    def add_dock(self, title: str, widget: QWidget,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        """Add ``widget`` in a dock titled ``title`` and list it in the View menu.

        The dock becomes a tab of a plot dock, because at 1600×1000 another row
        or column of docks leaves the plots too little room. Bottom docks named
        in ``PER_SAMPLE_TOOLS`` join the spike raster's tabs, other bottom and
        right docks the accuracy plot's, left docks the probe panel's and top
        docks the membrane plot's. Docks added before the window is first shown
        stay hidden until then, because Qt tabs docks reliably only once the
        window is laid out.
        """
        dock = self._create_dock(title, widget, area)
        if self._sized:
            self._place_tool_dock(dock, area)
        else:
            dock.hide()
            self._unplaced_docks.append((dock, area))
        return dock

    def _place_tool_dock(self, dock: QDockWidget, area: Qt.DockWidgetArea) -> None:
        targets = {
            Qt.DockWidgetArea.LeftDockWidgetArea: "Probe sample",
            Qt.DockWidgetArea.TopDockWidgetArea: "Membrane potential V(t)",
        }
        if area == Qt.DockWidgetArea.BottomDockWidgetArea and dock.windowTitle() in PER_SAMPLE_TOOLS:
            target = self.dock("Spike raster")
        else:
            target = self.dock(targets.get(area, "Accuracy"))
        self.tabifyDockWidget(target, dock)
        dock.show()
        # The new tab is raised; raise the plot again once the tab bar exists.
        QTimer.singleShot(0, target.raise_)

    def dock(self, title: str) -> QDockWidget:
        return self._docks[title]

    def docks(self) -> dict[str, QDockWidget]:
        return dict(self._docks)

    def _add_export_menu(self, title: str, widget: QWidget) -> None:
        self._exportable[title] = widget
        menu = self.export_menu.addMenu(title)
        for text, kind in (("Image (PNG)…", "png"), ("Vector image (SVG)…", "svg"), ("Data (CSV)…", "csv")):
            action = menu.addAction(text)
            action.triggered.connect(lambda _checked=False, t=title, k=kind: self.choose_and_export(t, k))

    def _connect_worker(self) -> None:
        worker = self.worker
        worker.compiling.connect(self._on_compiling)
        worker.started.connect(self._on_started)
        worker.progressed.connect(self._on_progressed)
        worker.epoch_finished.connect(self._on_epoch_finished)
        worker.settings_applied.connect(self._on_settings_applied)
        worker.step_trained.connect(self._on_step_trained)
        worker.finished.connect(self._on_finished)
        worker.errored.connect(self._on_errored)
        worker.warned.connect(self._on_warned)
        self.loader.loaded.connect(self._on_dataset_loaded)
        self.loader.failed.connect(self._on_dataset_failed)

    # -- public state --------------------------------------------------------------------

    @property
    def trainer(self) -> Trainer:
        """The trainer of the current network (its network changes while the worker runs)."""
        return self._trainer

    @property
    def has_unsaved_training(self) -> bool:
        """Whether the network was trained since it was created, opened or last saved."""
        return self._unsaved

    def visible_plots(self) -> list[QWidget]:
        return [widget for widget in self.plots.values() if widget.isVisible()]

    # -- run commands -----------------------------------------------------------------------

    def start_training(self) -> None:
        """Start (or resume) training the current network."""
        if self.worker.is_running:
            if self._trainer.is_paused:
                self.toggle_pause()
            return
        if not self._can_start():
            return
        self._begin_run(start_paused=False)

    def _can_start(self) -> bool:
        if not self.controls.is_valid():
            self.show_error("Invalid settings", "Correct the settings marked in red first:\n"
                            + "\n".join(self.controls.errors().values()))
            return False
        if self.loader.is_running:
            self.statusBar().showMessage("The dataset is still loading.", 5000)
            return False
        target_epochs = self.controls.settings().training.epochs
        if self._trainer.epochs_done >= target_epochs:
            self.statusBar().showMessage(
                f"All {target_epochs} epochs are done; raise Epochs to train further, or Reset.", 8000)
            return False
        return True

    def _begin_run(self, *, start_paused: bool) -> None:
        if self._reset_needed:
            self.statusBar().showMessage(
                "Training the current network; these settings wait for Reset: " + ", ".join(self._reset_needed),
                8000)
        self._latest_progress = None
        self._last_progress = None
        self._step_position = None
        self._speed.reset()
        self._prepare_run_record()
        self.worker.start(self._trainer, start_paused=start_paused)
        self.state.set_training_state("paused" if start_paused else "running")
        self._repaint_timer.start()
        self._update_actions()

    def _prepare_run_record(self) -> None:
        """Let the run recorder give the trainer its run's checkpoint folder before the run starts.

        The trainer writes last.npz and best.npz at the end of each epoch, which can
        come before the worker's ``started`` signal reaches the GUI thread.
        """
        tools = getattr(self, "tools", None)
        if tools is None:
            return
        train = self.splits.train
        tools.recorder.watch(self._trainer, self.dataset_spec, getattr(train, "checksum", ""))

    def toggle_pause(self) -> None:
        """Pause a running trainer after its current chunk, or resume a paused one."""
        if not self.worker.is_running:
            return
        if self._trainer.is_paused:
            self.worker.resume()
            self.state.set_training_state("running")
        else:
            self.worker.pause()
            self.state.set_training_state("paused")
        self._update_actions()

    def step_training(self) -> None:
        """Train on exactly one more training sample and show it; training stays paused afterwards."""
        if not self.worker.is_running:
            if not self._can_start():
                return
            self._begin_run(start_paused=True)
        self.worker.step()
        self.state.set_training_state("paused")
        self._update_actions()

    def stop_training(self) -> None:
        """Ask the trainer to stop after its current chunk."""
        if self.worker.is_running:
            self.worker.stop()
            self.statusBar().showMessage("Stopping after the current chunk…", 3000)

    def reset_network(self, *, new_seed: bool = False) -> bool:
        """Replace the network by a fresh one drawn with the settings shown; returns False if cancelled."""
        if not self.controls.is_valid():
            self.show_error("Invalid settings", "Correct the settings marked in red first:\n"
                            + "\n".join(self.controls.errors().values()))
            return False
        if not self._confirm_discard("reset the network"):
            return False
        self._shutdown_worker()
        if new_seed:
            seed = secrets.randbelow(2**31)
            self.controls.set_seed(seed)
            logger.info("drew the new seed %d", seed)
        spec = self.controls.dataset_spec()
        fraction = self.controls.validation_fraction()
        if (spec, fraction) != (self.dataset_spec, self.validation_fraction):
            self._pending_reset = {"spec": spec, "fraction": fraction}
            self.statusBar().showMessage(f"Loading dataset {spec}…")
            self.loader.load(spec, fraction)
            self._update_actions()
            return True
        return self._reset_trainer()

    def _reset_trainer(self) -> bool:
        settings = self.controls.settings()
        try:
            trainer = Trainer(settings, self.splits, dataset_name=self.dataset_spec)
        except SettingsError as error:
            self.show_error("Cannot reset the network", str(error))
            return False
        self._install_trainer(trainer, history=())
        self.controls.mark_applied()
        self._unsaved = False
        self._checkpoint_path = None
        self.statusBar().showMessage(
            f"New network {'-'.join(map(str, settings.network.layer_sizes))}, seed {settings.training.seed}.", 5000)
        return True

    def _install_trainer(self, trainer: Trainer, history) -> None:
        """Make ``trainer`` the current one and show its network everywhere."""
        self._trainer = trainer
        self._latest_progress = None
        self._set_data_note("")
        self.state.set_threshold_overrides({})
        self.state.set_network(trainer.network.copy(), trainer.settings)
        if self.state.probe is None:
            self._set_default_probe()
        if history:
            self.accuracy_plot.load_history(list(history))
        else:
            self.accuracy_plot.clear()
        self._evaluate_current_network()
        self.state.set_training_state("idle")
        self._update_actions()
        self._show_status_figures(None)

    def _set_default_probe(self) -> None:
        test = self.splits.test
        self.state.set_probe("test" if test is not None and len(test) else "train", 0)

    def _evaluate_current_network(self) -> None:
        """Compute the validation and test results of the shown network (serial, on the GUI thread)."""
        network = self.state.network
        for split in ("validation", "test"):
            dataset = getattr(self.splits, split, None)
            if dataset is None or not len(dataset):
                continue
            _metrics, results, _forward = network.evaluate(dataset.images, dataset.labels, parallel=False)
            self.state.set_results(split, results)

    def _shutdown_worker(self) -> None:
        if not self.worker.shutdown(SHUTDOWN_TIMEOUT_S):
            logger.error("still waiting for the training thread to end")
            self.worker.shutdown(None)
        self.repaint_from_latest()
        self._repaint_timer.stop()

    # -- live settings ----------------------------------------------------------------------------

    def _on_live_settings_edited(self, changes: dict) -> None:
        trainer_settings = self._trainer.settings
        n_layers = trainer_settings.network.n_layers
        mismatched = [name for name, value in changes.items()
                      if isinstance(value, tuple) and len(value) != n_layers]
        if mismatched:
            self.statusBar().showMessage(
                "The layer count differs from the current network's, so "
                f"{', '.join(mismatched)} apply at the next Reset.", 8000)
            changes = {name: value for name, value in changes.items() if name not in mismatched}
        if not changes:
            return
        try:
            self._trainer.update_settings(**changes)
        except SettingsError as error:
            self.show_error("Invalid setting", str(error))
            return
        logger.info("queued live settings %s", changes)
        if not self.worker.is_running or self._trainer.is_paused:
            # Nothing trains now, so the probe shows the effect at once. The trainer applies the
            # changes before its next chunk, or within 50 ms when paused, and reports them.
            self._show_live_settings(with_live_changes(trainer_settings, changes))
            self._update_actions()

    def _show_live_settings(self, settings: Settings) -> None:
        """Give the shown network the thresholds of ``settings`` and retrace the probe with both."""
        network = self.state.network.copy()
        network.set_thresholds(settings.network.thresholds)
        self.state.set_network(network, settings)

    def _on_reset_needed_changed(self, names: list) -> None:
        self._reset_needed = list(names)
        button = self.toolbar.widgetForAction(self.reset_action)
        if names:
            button.setStyleSheet(RESET_MARK_STYLE)
            tip = "Press Reset to apply: " + ", ".join(names)
        else:
            button.setStyleSheet("")
            tip = "Draw a fresh network with the current settings and the same seed."
        self.reset_action.setToolTip(tip)
        self.reset_action.setStatusTip(tip)

    # -- worker reports (GUI thread) -------------------------------------------------------------

    def _on_compiling(self) -> None:
        self.state.set_training_state("compiling")
        self.statusBar().showMessage("Compiling the numba kernels (only the first time)…")

    def _on_started(self) -> None:
        self.state.set_training_state("paused" if self._trainer.is_paused else "running")
        self.statusBar().clearMessage()
        self._update_actions()

    def _on_progressed(self, report: ProgressReport) -> None:
        self._latest_progress = report
        self._last_progress = report
        self._unsaved = True
        # Only chunks trained while running count: a step's report comes while paused.
        if self.state.training_state == "running":
            self._speed.add((report.epoch - 1) * report.samples_total + report.samples_done, report.elapsed)

    def repaint_from_latest(self) -> None:
        """Show the newest progress report and repaint every visible plot that changed."""
        self._show_latest_report()
        for plot in self.visible_plots():
            plot.refresh()

    def _show_latest_report(self) -> None:
        report = self._latest_progress
        self._latest_progress = None
        if report is None:
            return
        stepped = self._step_position == (report.epoch, report.samples_done)
        if report.network is not None and not stepped:
            self.state.set_network(report.network)
        self.accuracy_plot.set_running(report)
        self._show_status_figures(report)

    def _on_repaint_tick(self) -> None:
        # Each tick redraws one changed plot, in turn, so the GUI thread does not block for
        # all four paints at once. The GUI thread keeps the GIL while it paints, which
        # stalls the worker between its kernels. So the next interval is this tick's
        # drawing time (redraw plus the last window paint) divided by MAX_GUI_SHARE,
        # within REPAINT_INTERVAL_MS … MAX_REPAINT_INTERVAL_MS.
        started = time.perf_counter()
        self._show_latest_report()
        visible = self.visible_plots()
        for offset in range(len(visible)):
            plot = visible[(self._next_plot + offset) % len(visible)]
            if plot.is_dirty:
                plot.refresh()
                self._next_plot = (self._next_plot + offset + 1) % len(visible)
                break
        cost = time.perf_counter() - started + self._last_paint_seconds
        interval = max(REPAINT_INTERVAL_MS, int(1000 * cost / MAX_GUI_SHARE))
        self._repaint_timer.setInterval(min(interval, MAX_REPAINT_INTERVAL_MS))

    def event(self, event: QEvent) -> bool:
        # UpdateRequest paints every dirty child of the window in one go; its duration is
        # the paint cost that the repaint interval adapts to.
        if event.type() != QEvent.Type.UpdateRequest:
            return super().event(event)
        started = time.perf_counter()
        handled = super().event(event)
        self._last_paint_seconds = time.perf_counter() - started
        return handled

    def _on_epoch_finished(self, report: EpochReport) -> None:
        self._unsaved = True
        if report.network is not None:
            self.state.set_network(report.network)
        if report.validation_results is not None:
            self.state.set_results("validation", report.validation_results)
        if report.test_results is not None:
            self.state.set_results("test", report.test_results)
        self.state.epoch_finished.emit(report)
        figures = report.validation or report.test or report.train
        self.statusBar().showMessage(
            f"Epoch {report.epoch}/{report.epochs}: accuracy {100 * figures.accuracy:.1f} %, "
            f"first-spike {100 * figures.first_spike_accuracy:.1f} %"
            + (f", {sum(report.dead_resets)} dead neurons reset" if any(report.dead_resets) else ""), 10000)

    def _on_settings_applied(self, change: SettingsChange) -> None:
        # The newest network snapshot may predate the change, so it gets the new thresholds here.
        self._show_live_settings(self._trainer.settings)
        self.state.settings_applied.emit(change)
        if "epochs" in change.changes:
            self.controls.set_epochs(change.changes["epochs"][1])

    def _on_step_trained(self, report: StepReport) -> None:
        self._unsaved = True
        self._step_position = (report.epoch, report.samples_done)
        self.state.show_step(report)
        self.probe_panel.setFocus()

    def _on_finished(self, record: RunFinished) -> None:
        self.repaint_from_latest()
        self._repaint_timer.stop()
        if not self._closing:
            self.state.set_network(self._trainer.network.copy())
            if record.reason != "completed":
                self._evaluate_current_network()
        self.state.set_training_state("finished" if record.reason == "completed" else "idle")
        self._update_actions()
        if record.reason == "completed":
            self.statusBar().showMessage(f"Training finished after {record.epochs_done} epochs.", 10000)
        elif record.reason == "stopped":
            self.statusBar().showMessage(f"Training stopped ({record.message or 'on request'}).", 10000)
        logger.info("run finished: %s", record)

    def _on_errored(self, message: str) -> None:
        self.show_error("Training failed", f"{message}\n\nThe network keeps its last good weights.")

    def _on_warned(self, message: str) -> None:
        logger.warning("%s", message)
        self.statusBar().showMessage(message, 15000)

    # -- dataset loading ---------------------------------------------------------------------

    def _on_dataset_loaded(self, spec: str, splits) -> None:
        pending = self._pending_reset or {"fraction": self.validation_fraction}
        self._pending_reset = None
        if not has_training_split(splits):
            self._reject_dataset("Cannot use the dataset", missing_training_split_message(spec))
            return
        old_shape = (self._n_pixels(self.splits), self._n_classes(self.splits))
        self.controls.set_data_shape(self._n_pixels(splits), self._n_classes(splits))
        settings = self.controls.settings()
        try:
            trainer = Trainer(settings, splits, dataset_name=spec)
        except SettingsError as error:
            self.controls.set_data_shape(*old_shape)
            self._reject_dataset("Cannot use the dataset", f"{spec}: {error}")
            return
        self._apply_dataset(splits, spec, pending["fraction"])
        self._install_trainer(trainer, history=())
        self.controls.mark_applied()
        self._unsaved = False
        self._checkpoint_path = None
        self.statusBar().showMessage(
            f"Loaded {spec}: {len(splits.train)} training images; new network "
            f"{'-'.join(map(str, settings.network.layer_sizes))}.", 8000)

    def _on_dataset_failed(self, spec: str, message: str) -> None:
        self._pending_reset = None
        self._reject_dataset("Cannot load the dataset", load_failure_message(spec, message))

    def _reject_dataset(self, title: str, message: str) -> None:
        self.show_error(title, f"The window keeps the current dataset ({self.dataset_spec}).\n\n{message}")
        self.controls.set_dataset(self.dataset_spec, self.validation_fraction)
        self._update_actions()

    def _apply_dataset(self, splits, spec: str, validation_fraction: float) -> None:
        """Use a newly loaded dataset; the caller installs a network that fits it next."""
        self.splits = splits
        self.dataset_spec = spec
        self.validation_fraction = validation_fraction
        self.state.set_splits(splits)
        self.probe_panel.set_splits(splits)
        logger.info("using dataset %s", spec)

    # -- files --------------------------------------------------------------------------------

    def choose_and_save_checkpoint(self) -> bool:
        path = self.choose_save_path()
        if not path:
            return False
        return self.save_checkpoint_to(path)

    def choose_save_path(self) -> str:
        sizes = "-".join(map(str, self.state.network.layer_sizes))
        suggestion = str(self._checkpoint_path or Path.cwd() / f"s4nn-{sizes}-epoch{self._trainer.epochs_done}.npz")
        path, _filter = QFileDialog.getSaveFileName(self, "Save checkpoint", suggestion, CHECKPOINT_FILTER)
        return path

    def save_checkpoint_to(self, path: str | Path) -> bool:
        """Save the network with its settings and history; shows the error and returns False on failure."""
        trainer = self._trainer
        # While training, the trainer's own network is changing on the worker thread; the newest
        # snapshot is the consistent copy to save.
        network = self.state.network if self.worker.is_running else trainer.network
        metadata = {
            "dataset": self.dataset_spec,
            "dataset_checksum": getattr(self.splits.train, "checksum", ""),
            "seed": trainer.settings.training.seed,
            "epoch": trainer.epochs_done,
            "samples_seen": trainer.samples_seen,
            "saved_by": "s4nn-explorer",
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        try:
            save_checkpoint(path, network, settings=trainer.settings, history=list(trainer.history),
                            metadata=metadata)
        except CheckpointError as error:
            self.show_error("Cannot save the checkpoint", str(error))
            return False
        self._unsaved = False
        self._checkpoint_path = Path(path)
        self.statusBar().showMessage(f"Saved {path}", 8000)
        logger.info("saved checkpoint %s", path)
        return True

    def choose_and_open_checkpoint(self) -> bool:
        path, _filter = QFileDialog.getOpenFileName(self, "Open checkpoint", str(Path.cwd()), CHECKPOINT_FILTER)
        if not path:
            return False
        return self.open_checkpoint(path)

    def open_checkpoint(self, path: str | Path) -> bool:
        """Load a checkpoint as the current network with its settings and history."""
        if not self._confirm_discard("open another network"):
            return False
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError as error:
            self.show_error("Cannot open the checkpoint", str(error))
            return False
        settings = checkpoint.settings or settings_for_network(checkpoint.network, self.controls.settings())
        if not self._use_network(checkpoint.network, settings, checkpoint.history, f"checkpoint {path}"):
            return False
        self._checkpoint_path = Path(path)
        dataset = checkpoint.metadata.get("dataset")
        message = f"Opened {path} ({len(checkpoint.history)} epochs trained)."
        if dataset and dataset != self.dataset_spec:
            message += f" It was trained on {dataset}, the window shows {self.dataset_spec}."
        self.statusBar().showMessage(message, 10000)
        return True

    def choose_and_import_weights(self) -> bool:
        path, _filter = QFileDialog.getOpenFileName(self, "Import published S4NN weights", str(Path.cwd()),
                                                    "NumPy arrays (*.npy);;All files (*)")
        if not path:
            return False
        return self.import_weights(path)

    def import_weights(self, path: str | Path) -> bool:
        """Use the published S4NN weights (784-400-10, published class order) as the current network."""
        if not self._confirm_discard("import other weights"):
            return False
        try:
            network = import_reference_weights(path)
        except CheckpointError as error:
            self.show_error("Cannot import the weights", str(error))
            return False
        settings = settings_for_network(network, self.controls.settings())
        if not self._use_network(network, settings, (), f"weights {path}"):
            return False
        self._checkpoint_path = None
        self.statusBar().showMessage(f"Imported the published weights from {path}.", 10000)
        if self.dataset_spec == "bundled":
            self._set_data_note(BUNDLED_IMPORT_NOTE, BUNDLED_IMPORT_SHORT_NOTE)
        return True

    def _set_data_note(self, text: str, short: str = "") -> None:
        """Show a caveat about the current network's figures in the probe panel and the status bar."""
        self.probe_panel.set_note(text)
        self.note_label.setText(short)
        self.note_label.setToolTip(text)
        self.note_label.setVisible(bool(text))
        if text:
            # The probe dock is short by default; make room for the note's lines.
            dock = self.dock("Probe sample")
            needed = self.probe_panel.heightForWidth(self.probe_panel.width()) + PROBE_DOCK_TITLE_HEIGHT
            if needed > dock.height():
                self.resizeDocks([dock], [needed], Qt.Orientation.Vertical)

    def _use_network(self, network: Network, settings: Settings, history, source: str) -> bool:
        self._shutdown_worker()
        try:
            trainer = Trainer(settings, self.splits, network=network, history=history,
                              dataset_name=self.dataset_spec)
        except SettingsError as error:
            self.show_error("The network does not fit the dataset", f"{source}: {error}")
            return False
        self.controls.set_settings(settings, self.dataset_spec, self.validation_fraction)
        self.controls.mark_applied()
        self._install_trainer(trainer, history)
        self._unsaved = False
        logger.info("using the network of %s", source)
        return True

    def choose_and_export(self, title: str, kind: str) -> bool:
        widget = self._exportable[title]
        filters = {"png": "PNG images (*.png)", "svg": "SVG images (*.svg)", "csv": "CSV tables (*.csv)"}
        stem = title.lower().replace(" ", "-").replace("(", "").replace(")", "")
        path, _filter = QFileDialog.getSaveFileName(self, f"Export {title}", str(Path.cwd() / f"{stem}.{kind}"),
                                                    filters[kind])
        if not path:
            return False
        return self.export_plot(widget, path, kind)

    def export_plot(self, widget: QWidget, path: str | Path, kind: str) -> bool:
        """Write ``widget`` as "png", "svg" or "csv"; shows the error and returns False on failure."""
        writers = {"png": export.export_png, "svg": export.export_svg, "csv": export.export_csv}
        try:
            writers[kind](widget, path)
        except export.ExportError as error:
            self.show_error("Export failed", str(error))
            return False
        self.statusBar().showMessage(f"Exported {path}", 8000)
        return True

    # -- dialogs (tests replace these) -------------------------------------------------------------

    def show_error(self, title: str, message: str) -> None:
        """Show ``message`` in a non-blocking message box and in the log."""
        logger.error("%s: %s", title, message)
        summary = f"{title}: {message.splitlines()[0]}"
        if len(summary) > STATUS_MESSAGE_LENGTH:
            summary = summary[:STATUS_MESSAGE_LENGTH - 1] + "…"
        self.statusBar().showMessage(summary, 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def ask_unsaved_changes(self, action: str) -> str:
        """Ask whether to save the trained network before ``action``: "save", "discard" or "cancel"."""
        answer = QMessageBox.question(
            self, "Unsaved network",
            f"The network was trained since it was last saved. Save it before you {action}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return "save"
        if answer == QMessageBox.StandardButton.Discard:
            return "discard"
        return "cancel"

    def _confirm_discard(self, action: str) -> bool:
        """Return True when the trained network is saved, may be discarded, or was saved just now."""
        if not self._unsaved:
            return True
        was_running = self.worker.is_running and not self._trainer.is_paused
        if was_running:
            self.worker.pause()
        answer = self.ask_unsaved_changes(action)
        if answer == "save":
            self._shutdown_worker()
            path = self.choose_save_path()
            saved = bool(path) and self.save_checkpoint_to(path)
            if not saved:
                self._update_actions()
            return saved
        if answer == "discard":
            return True
        if was_running:
            self.worker.resume()
        return False

    # -- window ----------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._confirm_discard("quit"):
            event.ignore()
            return
        self._closing = True
        # A QThread destroyed while it runs aborts the process, so after the timeout the window
        # keeps waiting: a training chunk or the kernel compilation ends by itself, a download may not.
        if not self.worker.shutdown(SHUTDOWN_TIMEOUT_S):
            logger.error("still waiting for the training thread to end")
            self.worker.shutdown(None)
        if not self.loader.wait(SHUTDOWN_TIMEOUT_S):
            logger.error("still waiting for the dataset download or read to end")
            self.loader.wait()
        self._repaint_timer.stop()
        logger.info("window closed")
        event.accept()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._sized:
            self._sized = True
            # Tabs and dock sizes only hold once the window is laid out, so arrange them after the first show.
            QTimer.singleShot(0, self._apply_default_sizes)

    def _apply_default_sizes(self) -> None:
        for dock, area in self._unplaced_docks:
            self._place_tool_dock(dock, area)
        self._unplaced_docks = []
        horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
        controls = self.dock("Settings")
        self.resizeDocks([controls], [DEFAULT_SETTINGS_WIDTH], horizontal)
        self.resizeDocks([controls, self.dock("Probe sample")], [self.height() - 200, 200], vertical)
        rows = [self.dock("Membrane potential V(t)"), self.dock("Hidden weights")]
        self.resizeDocks(rows, [self.height(), self.height()], vertical)
        columns = [self.dock("Membrane potential V(t)"), self.dock("Spike raster")]
        self.resizeDocks(columns, [self.width(), self.width()], horizontal)
        # Placing a tool dock queued a raise of its tab group's plot; this runs after those.
        QTimer.singleShot(0, self._finish_default_layout)

    def _finish_default_layout(self) -> None:
        self._default_layout = self.saveState()
        self._laid_out = True

    def is_laid_out(self) -> bool:
        """Return whether the docks have their default places, tabs and sizes (shortly after the first show)."""
        return self._laid_out

    def restore_default_layout(self) -> None:
        if self._default_layout is not None:
            self.restoreState(self._default_layout)

    # -- display -----------------------------------------------------------------------------------

    def _update_actions(self) -> None:
        running = self.worker.is_running
        paused = running and self._trainer.is_paused
        loading = self.loader.is_running
        valid = self.controls.is_valid()
        epochs_left = self._trainer.epochs_done < self.controls.settings().training.epochs
        self.start_action.setEnabled(valid and not loading and (paused or (not running and epochs_left)))
        self.start_action.setToolTip(
            "Train the current network until the set number of epochs is done." if epochs_left or running
            else "All epochs are done; raise Epochs to train further, or Reset.")
        self.pause_action.setEnabled(running)
        self.pause_action.setText("Resume" if paused else "Pause")
        self.step_action.setEnabled(valid and not loading and (paused or (not running and epochs_left)))
        self.stop_action.setEnabled(running)
        for action in (self.reset_action, self.reset_new_seed_action, self.new_action, self.open_action,
                       self.import_action):
            action.setEnabled(not loading)

    def _show_status_figures(self, report: ProgressReport | None) -> None:
        trainer = self._trainer
        if report is None:
            epochs = trainer.settings.training.epochs
            self.epoch_label.setText(f"epoch {trainer.epochs_done}/{epochs}")
            self.sample_label.setText(f"sample 0/{len(self.splits.train)}")
        else:
            self.epoch_label.setText(f"epoch {report.epoch}/{report.epochs}")
            self.sample_label.setText(f"sample {report.samples_done}/{report.samples_total}")
        self._show_speed()

    def _show_speed(self) -> None:
        """Show the recent speed and the time left while training runs, and "–" at any other time."""
        rate = self._speed.samples_per_second
        report = self._last_progress
        if self.state.training_state != "running" or rate is None or report is None:
            self.speed_label.setText("– samples/s")
            self.time_left_label.setText("– left")
            return
        remaining = (report.samples_total - report.samples_done) + report.samples_total * (report.epochs - report.epoch)
        self.speed_label.setText(f"{rate:,.0f} samples/s")
        self.time_left_label.setText(f"{format_duration(remaining / rate)} left")
