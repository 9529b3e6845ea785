"""Debugging and teaching tools: inspector, outcome table, confusion matrix, decision times,
dead neurons, time scrubber, what-if, drawing pad, presets and the runs browser.

:func:`install_tools` adds them to the main window as docks and connects them to
the window's plots and worker. Every view also works on its own with a
:class:`s4nn_gui.state.SessionState`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDockWidget

from s4nn_engine.runs import RunStore
from s4nn_gui.tools.confusion import ConfusionView
from s4nn_gui.tools.decision_time import DecisionTimeView
from s4nn_gui.tools.drawing import DrawingView
from s4nn_gui.tools.inspector import InspectorView, OutcomeTable
from s4nn_gui.tools.neurons import NeuronsView
from s4nn_gui.tools.presets import PRESETS, Preset
from s4nn_gui.tools.runs import RunRecorder, RunsView, export_all_views
from s4nn_gui.tools.scrubber import ScrubberView
from s4nn_gui.tools.whatif import WhatIfView

logger = logging.getLogger(__name__)

__all__ = ["PRESETS", "Preset", "ToolSet", "install_tools"]


@dataclass
class ToolSet:
    """The tool views :func:`install_tools` created, their docks by title, and the run recorder."""

    inspector: InspectorView
    outcomes: OutcomeTable
    confusion: ConfusionView
    decision_time: DecisionTimeView
    neurons: NeuronsView
    scrubber: ScrubberView
    whatif: WhatIfView
    drawing: DrawingView
    runs: RunsView
    recorder: RunRecorder
    docks: dict[str, QDockWidget]


def install_tools(window) -> ToolSet:
    """Create the tool docks in ``window`` and connect them to its plots and worker.

    The window must offer ``state`` (SessionState), ``add_dock(title, widget,
    area) -> QDockWidget``, ``worker`` (TrainingWorker), ``trainer``,
    ``dataset_spec`` and ``splits``, and the plots ``membrane_plot``,
    ``raster_plot``, ``weight_plot`` and ``accuracy_plot``. Runs are recorded in
    ``window.run_store`` when the window has one, otherwise in the default runs
    folder (``S4NN_RUNS_DIR`` or the user data folder). The tool set is also
    stored as ``window.tools``.
    """
    state = window.state
    store = getattr(window, "run_store", None) or RunStore()
    tools = ToolSet(
        inspector=InspectorView(state),
        outcomes=OutcomeTable(state),
        confusion=ConfusionView(state),
        decision_time=DecisionTimeView(state),
        neurons=NeuronsView(state),
        scrubber=ScrubberView(state),
        whatif=WhatIfView(state),
        drawing=DrawingView(state),
        runs=RunsView(store, exporter=lambda folder: export_all_views(window, folder)),
        recorder=RunRecorder(store, window),
        docks={},
    )
    _add_docks(window, tools)
    _connect_plots(window, tools)
    _connect_worker(window, tools)
    window.tools = tools
    logger.debug("installed %d tool docks", len(tools.docks))
    return tools


def _add_docks(window, tools: ToolSet) -> None:
    """Add the tool docks to the bottom area, scrubber first; the window decides where that area goes."""
    bottom = Qt.DockWidgetArea.BottomDockWidgetArea
    placements = (
        ("Time scrubber", tools.scrubber),
        ("Inspector", tools.inspector),
        ("What-if", tools.whatif),
        ("Draw a digit", tools.drawing),
        ("Outcomes", tools.outcomes),
        ("Confusion", tools.confusion),
        ("Decision time", tools.decision_time),
        ("Dead neurons", tools.neurons),
        ("Runs", tools.runs),
    )
    for title, widget in placements:
        tools.docks[title] = window.add_dock(title, widget, bottom)


def _connect_plots(window, tools: ToolSet) -> None:
    membrane = getattr(window, "membrane_plot", None)
    raster = getattr(window, "raster_plot", None)
    weights = getattr(window, "weight_plot", None)
    accuracy = getattr(window, "accuracy_plot", None)

    tools.inspector.neuron_selected.connect(tools.whatif.set_target)
    scrubber_dock = tools.docks.get("Time scrubber")
    if scrubber_dock is not None:
        scrubber_dock.visibilityChanged.connect(tools.scrubber.set_on_screen)
    if membrane is not None:
        tools.scrubber.step_changed.connect(membrane.set_current_step)
        tools.whatif.threshold_editing_changed.connect(membrane.set_threshold_editable)
        membrane.threshold_dragged.connect(tools.whatif.set_output_threshold)
    if raster is not None:
        tools.scrubber.step_changed.connect(raster.set_current_step)
    if weights is not None:
        layer = weights.shown_layer if callable(getattr(weights, "shown_layer", None)) else (lambda: 1)
        weights.neuron_clicked.connect(lambda neuron: tools.inspector.select_neuron(layer(), neuron))
        tools.neurons.dead_neurons_changed.connect(weights.set_highlighted)
    if accuracy is not None:
        tools.runs.overlays_changed.connect(accuracy.set_overlays)
    open_checkpoint = getattr(window, "open_checkpoint", None)
    if callable(open_checkpoint):
        # The window's own open path, which offers to save unsaved training first.
        tools.runs.checkpoint_requested.connect(open_checkpoint)

    export_menu = getattr(window, "export_menu", None)
    if export_menu is not None:
        export_menu.addSeparator()
        action = export_menu.addAction("All views…")
        action.setToolTip("Write every visible plot as PNG, SVG and CSV, and the settings as JSON, into a folder.")
        action.triggered.connect(lambda _checked=False: tools.runs.export_with_dialog())


def _connect_worker(window, tools: ToolSet) -> None:
    state = window.state
    worker = getattr(window, "worker", None)
    if worker is not None:
        worker.progressed.connect(tools.outcomes.show_progress)

        def watch_run() -> None:
            train = getattr(window.splits, "train", None)
            tools.recorder.watch(window.trainer, getattr(window, "dataset_spec", ""),
                                 getattr(train, "checksum", ""))

        worker.started.connect(watch_run)
        worker.epoch_finished.connect(tools.recorder.record_epoch)
        worker.finished.connect(tools.recorder.finish)
    tools.recorder.run_updated.connect(tools.runs.on_run_updated)

    # A new trainer (reset, opened checkpoint) brings its own history.
    last_seen = {"trainer": getattr(window, "trainer", None)}

    def follow_trainer(_network) -> None:
        trainer = getattr(window, "trainer", None)
        if trainer is None or trainer is last_seen["trainer"]:
            return
        last_seen["trainer"] = trainer
        history = list(trainer.history)
        tools.outcomes.set_history(history)
        tools.neurons.set_history(history)

    state.network_changed.connect(follow_trainer)
    trainer = last_seen["trainer"]
    if trainer is not None and trainer.history:
        tools.outcomes.set_history(list(trainer.history))
        tools.neurons.set_history(list(trainer.history))

