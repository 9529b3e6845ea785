"""The main window with its real worker, controls, plots and checkpoints, on real bundled digits."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtGui import QImage  # noqa: E402

from s4nn_engine.checkpoint import load_checkpoint  # noqa: E402
from s4nn_engine.config import make_settings  # noqa: E402
from s4nn_engine.training import Trainer  # noqa: E402
from s4nn_engine.datasets import default_cache_dir  # noqa: E402
from s4nn_gui.app import load_with_fallback  # noqa: E402
from s4nn_gui.dataset_messages import load_failure_message  # noqa: E402
from s4nn_gui.main_window import MainWindow, SpeedEstimate  # noqa: E402
from s4nn_gui.plots.common import near_square_grid  # noqa: E402
from s4nn_gui.plots.weights import build_mosaic  # noqa: E402

WAIT_MS = 60_000
REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE_WEIGHTS = REPO_ROOT.parent / "shared" / "data" / "s4nn-reference" / "weights_pretrained.npy"


def type_into(qtbot, edit, text: str) -> None:
    """Replace the text of ``edit`` by typing, then press Enter to commit it."""
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def run_to_end(qtbot, window: MainWindow):
    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS) as finished:
        window.start_action.trigger()
    return finished.args[0]


def weights_of(network) -> list[np.ndarray]:
    return network.weights()


# -- opening ---------------------------------------------------------------------------------


def test_window_opens_on_bundled_data(qtbot, bundled_splits):
    window = MainWindow(bundled_splits, dataset_spec="bundled")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)

    assert window.state.network.layer_sizes == (784, 400, 10)
    assert window.state.probe.split == "test"
    assert window.state.trace is not None
    assert set(window.state.results) == {"validation", "test"}
    assert window.state.results["test"].labels.size == len(bundled_splits.test)
    assert window.controls.field("hidden_sizes").text() == "400"
    assert window.state_label.text() == "idle"
    assert window.start_action.isEnabled()
    assert not window.stop_action.isEnabled()
    window.close()


def test_window_lists_docks_in_view_menu(make_window):
    window = make_window()
    titles = [action.text() for action in window.view_menu.actions()]
    for title in ("Settings", "Probe sample", "Membrane potential V(t)", "Spike raster", "Hidden weights",
                  "Accuracy"):
        assert title in titles
        assert window.dock(title).isVisible()


def test_add_dock_registers_tool(qtbot, make_window):
    from PyQt6.QtWidgets import QLabel

    window = make_window()
    dock = window.add_dock("Extra tool", QLabel("tool"), Qt.DockWidgetArea.RightDockWidgetArea)
    assert dock.widget().text() == "tool"
    assert dock.toggleViewAction() in window.view_menu.actions()
    qtbot.waitUntil(lambda: bool(window.tabifiedDockWidgets(dock)))
    dock.close()
    assert not dock.toggleViewAction().isChecked()
    dock.toggleViewAction().trigger()
    assert dock.isVisible()


# -- training ---------------------------------------------------------------------------------


def test_start_feeds_every_plot(qtbot, make_window):
    window = make_window(epochs=2)
    finished = run_to_end(qtbot, window)

    assert finished.reason == "completed"
    assert window.trainer.epochs_done == 2
    assert window.state.training_state == "finished"
    assert window.state_label.text() == "finished"
    assert window.epoch_label.text() == "epoch 2/2"
    assert window.sample_label.text() == "sample 400/400"
    assert "samples/s" in window.speed_label.text()
    assert len(window.accuracy_plot.records()) == 2
    curve_x, _ = window.accuracy_plot.accuracy_curves()["validation"].getData()
    assert list(curve_x) == [1, 2]
    assert any(curve.getData()[0] is not None and len(curve.getData()[0]) for curve in
               window.membrane_plot.output_curves())
    assert sum(len(item.data) for item in window.raster_plot.scatter_items()) > 0
    assert window.weight_plot.image_item().image is not None
    assert np.array_equal(window.state.network.layer_weights(1), window.trainer.network.layer_weights(1))
    assert window.has_unsaved_training
    assert not window.start_action.isEnabled()
    assert "raise Epochs" in window.start_action.toolTip()


def test_raising_epochs_trains_further(qtbot, make_window):
    window = make_window(epochs=1)
    run_to_end(qtbot, window)
    window.controls.epochs_spin.setValue(2)
    finished = run_to_end(qtbot, window)

    assert finished.reason == "completed"
    assert window.trainer.epochs_done == 2
    assert len(window.accuracy_plot.records()) == 2


def test_start_without_epochs_left_refused(qtbot, make_window):
    window = make_window(epochs=1)
    run_to_end(qtbot, window)
    assert not window.start_action.isEnabled()
    assert not window.step_action.isEnabled()
    window.start_training()
    assert not window.worker.is_running
    assert "raise Epochs" in window.statusBar().currentMessage()


def test_speed_estimate_skips_paused_time():
    estimate = SpeedEstimate(time_constant=3.0)
    estimate.add(0, 0.0)
    estimate.add(1000, 1.0)
    assert estimate.samples_per_second == pytest.approx(1000.0)
    # Paused for 10 s: without restart() the next report would give 1000 / 11 samples/s.
    estimate.restart()
    estimate.add(1000, 11.0)
    estimate.add(2000, 12.0)
    assert estimate.samples_per_second == pytest.approx(1000.0)
    estimate.reset()
    assert estimate.samples_per_second is None


def test_status_speed_only_while_running(qtbot, make_window):
    window = make_window(epochs=1000)
    window.start_action.trigger()
    qtbot.waitUntil(lambda: window.speed_label.text()[0].isdigit(), timeout=WAIT_MS)
    assert window.time_left_label.text().endswith(" left")
    assert window.time_left_label.text() != "– left"

    window.pause_action.trigger()
    assert window.speed_label.text() == "– samples/s"
    assert window.time_left_label.text() == "– left"
    with qtbot.waitSignal(window.state.step_trained, timeout=WAIT_MS):
        window.step_action.trigger()
    window.repaint_from_latest()
    assert window.speed_label.text() == "– samples/s"

    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS):
        window.stop_action.trigger()
    assert window.speed_label.text() == "– samples/s"
    assert window.time_left_label.text() == "– left"


def test_pause_step_resume_stop(qtbot, make_window):
    window = make_window(epochs=1000)
    with qtbot.waitSignal(window.worker.progressed, timeout=WAIT_MS):
        window.start_action.trigger()
    window.pause_action.trigger()
    assert window.state.training_state == "paused"
    assert window.pause_action.text() == "Resume"
    assert window.step_action.isEnabled()

    with qtbot.waitSignal(window.state.step_trained, timeout=WAIT_MS) as first:
        window.step_action.trigger()
    seen = window.trainer.samples_seen
    with qtbot.waitSignal(window.state.step_trained, timeout=WAIT_MS) as second:
        window.step_action.trigger()
    assert window.trainer.samples_seen == seen + 1
    assert second.args[0].samples_done == first.args[0].samples_done + 1

    with qtbot.waitSignal(window.worker.progressed, timeout=WAIT_MS,
                          check_params_cb=lambda report: report.samples_done > second.args[0].samples_done):
        window.pause_action.trigger()
    assert window.state.training_state == "running"
    assert window.pause_action.text() == "Pause"

    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS) as finished:
        window.stop_action.trigger()
    assert finished.args[0].reason == "stopped"
    assert window.state.training_state == "idle"
    assert not window.stop_action.isEnabled()
    assert window.start_action.isEnabled()
    assert np.array_equal(window.state.network.layer_weights(2), window.trainer.network.layer_weights(2))


def test_step_from_idle_shows_sample(qtbot, make_window):
    window = make_window(epochs=3)
    before = window.trainer.network.copy()
    with qtbot.waitSignal(window.state.step_trained, timeout=WAIT_MS) as stepped:
        window.step_action.trigger()
    report = stepped.args[0]

    assert window.worker.is_running
    assert window.state.training_state == "paused"
    assert window.state.probe.split == "train"
    assert window.state.probe.index == report.sample_index
    assert window.state.trace is report.trace
    assert report.trace.targets is not None
    change = report.trace.weight_changes[1]
    assert np.allclose(before.layer_weights(2) + change, report.network.layer_weights(2))
    assert "train sample" in window.probe_panel.decision_label.text()

    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS):
        window.stop_action.trigger()
    assert window.trainer.samples_seen == 1


def test_step_shows_weight_change(qtbot, make_window):
    window = make_window(epochs=1000)
    with qtbot.waitSignal(window.state.step_trained, timeout=WAIT_MS) as stepped:
        window.step_action.trigger()
    report = stepped.args[0]
    hidden_change, output_change = report.trace.weight_changes
    plot = window.weight_plot

    assert plot.is_showing_step_change()
    assert not plot.step_change_box().isHidden()
    largest = float(np.abs(hidden_change).max())
    assert largest > 0
    assert f"change made by Step on training sample #{report.sample_index}" in plot.title_text()
    assert f"max |ΔW| = {largest:.3g}" in plot.title_text()
    tile, grid = plot.tile_dimensions(), near_square_grid(hidden_change.shape[0])
    np.testing.assert_array_equal(plot.image_item().image, build_mosaic(hidden_change, tile, grid))
    assert plot.image_item().getLevels() == pytest.approx((-largest, largest))

    window.tools.inspector.refresh()
    for row in window.tools.inspector.table_rows():
        assert row["Σ|ΔW| in"] == f"{np.abs(output_change[row['row']]).sum():.3f}"

    plot.set_showing_step_change(False)
    assert plot.title_text().startswith("weights into hidden 1")
    weights = window.state.network.layer_weights(1)
    np.testing.assert_array_equal(plot.image_item().image, build_mosaic(weights, tile, grid))
    plot.set_showing_step_change(True)
    assert plot.is_showing_step_change()

    window.pause_action.trigger()  # Resume: training on returns the map to the weights
    assert not plot.is_showing_step_change()
    assert plot.step_change_box().isHidden()
    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS):
        window.stop_action.trigger()
    assert plot.title_text().startswith("weights into hidden 1")


def test_reset_same_seed_redraws_network(qtbot, make_window, small_splits):
    window = make_window(epochs=1, seed=5)
    fresh = [w.copy() for w in weights_of(window.trainer.network)]
    run_to_end(qtbot, window)
    assert not np.array_equal(window.trainer.network.layer_weights(1), fresh[0])

    assert window.reset_network(new_seed=False)
    assert window.recorder.questions == ["reset the network"]
    assert window.trainer.epochs_done == 0
    assert window.accuracy_plot.records() == []
    for layer, expected in enumerate(fresh, start=1):
        assert np.array_equal(window.trainer.network.layer_weights(layer), expected)
        assert np.array_equal(window.state.network.layer_weights(layer), expected)
    assert not window.has_unsaved_training


def test_reset_new_seed_shows_seed(qtbot, make_window):
    window = make_window(epochs=1, seed=5)
    old = window.trainer.network.layer_weights(1)

    window.reset_new_seed_action.trigger()

    seed = window.trainer.settings.training.seed
    assert window.controls.field("seed").text() == str(seed)
    expected = Trainer(make_settings((20,), epochs=1, seed=seed, chunk_size=100), window.splits).network
    assert np.array_equal(window.trainer.network.layer_weights(1), expected.layer_weights(1))
    assert seed == 5 or not np.array_equal(window.trainer.network.layer_weights(1), old)


def test_reset_applies_new_shape(qtbot, make_window):
    window = make_window()
    type_into(qtbot, window.controls.field("hidden_sizes"), "16, 8")
    assert window.controls.field("thresholds", 3).text() == "100"
    assert window.controls.pending_reset_changes() == ["hidden layers"]
    button = window.toolbar.widgetForAction(window.reset_action)
    assert button.styleSheet() != ""
    assert "hidden layers" in window.reset_action.toolTip()

    window.reset_action.trigger()

    assert window.trainer.network.layer_sizes == (784, 16, 8, 10)
    assert window.state.network.layer_sizes == (784, 16, 8, 10)
    assert window.controls.pending_reset_changes() == []
    assert button.styleSheet() == ""


def test_live_threshold_change_marked(qtbot, make_window):
    window = make_window(epochs=1000)
    with qtbot.waitSignal(window.worker.progressed, timeout=WAIT_MS):
        window.start_action.trigger()

    with qtbot.waitSignal(window.state.settings_applied, timeout=WAIT_MS) as applied:
        type_into(qtbot, window.controls.field("thresholds", 2), "80")
    change = applied.args[0]

    assert change.changes["thresholds"] == ([100.0, 100.0], [100.0, 80.0])
    assert window.trainer.settings.network.thresholds == (100.0, 80.0)
    qtbot.waitUntil(lambda: len(window.accuracy_plot.setting_markers()) == 1, timeout=WAIT_MS)
    assert "thresholds" in window.accuracy_plot.setting_markers()[0].text
    qtbot.waitUntil(lambda: window.state.network.config.thresholds == (100.0, 80.0), timeout=WAIT_MS)
    assert window.controls.pending_reset_changes() == []

    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS):
        window.stop_action.trigger()


def test_idle_threshold_change_updates_trace(qtbot, make_window):
    window = make_window(epochs=1000)
    with qtbot.waitSignal(window.state.trace_changed, timeout=WAIT_MS) as traced:
        type_into(qtbot, window.controls.field("thresholds", 1), "60")
    assert np.all(traced.args[0].thresholds[0] == 60.0)
    assert window.state.settings.network.thresholds == (60.0, 100.0)

    with qtbot.waitSignal(window.state.settings_applied, timeout=WAIT_MS) as applied:
        window.start_action.trigger()
    assert applied.args[0].changes["thresholds"][1] == [60.0, 100.0]
    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS):
        window.stop_action.trigger()


def test_paused_threshold_change_updates_trace(qtbot, make_window):
    window = make_window(epochs=1000)
    with qtbot.waitSignal(window.state.step_trained, timeout=WAIT_MS):
        window.step_action.trigger()
    assert window.state.training_state == "paused"

    # Typed while paused: the probe is retraced with the new θ at once, before the trainer applies it.
    with qtbot.waitSignal(window.state.trace_changed, timeout=WAIT_MS) as traced:
        type_into(qtbot, window.controls.field("thresholds", 2), "50")
    assert np.all(traced.args[0].thresholds[-1] == 50.0)
    assert window.membrane_plot.threshold_line().value() == 50.0
    qtbot.waitUntil(lambda: window.trainer.settings.network.thresholds == (100.0, 50.0), timeout=WAIT_MS)
    assert np.all(window.state.trace.thresholds[-1] == 50.0)

    # Applied by the trainer without the control: the SettingsChange alone must update the plots.
    with qtbot.waitSignal(window.state.settings_applied, timeout=WAIT_MS):
        window.trainer.update_settings(thresholds=(100.0, 70.0))
    assert np.all(window.state.trace.thresholds[-1] == 70.0)
    assert window.state.network.config.thresholds == (100.0, 70.0)
    assert window.membrane_plot.threshold_line().value() == 70.0

    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS):
        window.stop_action.trigger()


@pytest.mark.parametrize(("field", "layer", "text", "expected"), [
    ("thresholds", 1, "-1", "must be > 0"),
    ("thresholds", 2, "nan", "not finite"),
    ("thresholds", 1, "abc", "not a number"),
    ("t_max", None, "1", "valid: 2 … 32767"),
    ("t_max", None, "2.5", "not a whole number"),
    ("gamma", None, "300", "valid: 0 … 256"),
    ("learning_rates", 1, "-0.1", "must be ≥ 0"),
    ("init_low", 2, "60", "low must be < high"),
    ("hidden_sizes", None, "20, x", "not a whole number"),
    ("hidden_sizes", None, "0", "≥ 1 neuron"),
    ("validation_fraction", None, "1", "0 ≤ value < 1"),
])
def test_invalid_value_rejected_at_control(qtbot, make_window, field, layer, text, expected):
    window = make_window()
    settings = window.trainer.settings
    edit = window.controls.field(field, layer)

    type_into(qtbot, edit, text)

    message = window.controls.message_label.text()
    assert expected in message
    assert not window.controls.message_label.isHidden()
    assert "border" in edit.styleSheet()
    assert not window.controls.is_valid()
    assert not window.start_action.isEnabled()
    assert not window.step_action.isEnabled()
    assert window.trainer.settings == settings
    assert window.controls.settings() == settings


def test_corrected_value_clears_error(qtbot, make_window):
    window = make_window()
    edit = window.controls.field("thresholds", 1)
    type_into(qtbot, edit, "-1")
    type_into(qtbot, edit, "90")
    assert window.controls.is_valid()
    assert edit.styleSheet() == ""
    assert window.controls.message_label.isHidden()
    assert window.start_action.isEnabled()
    assert window.controls.settings().network.thresholds == (90.0, 100.0)


def test_gamma_error_cleared_by_t_max(qtbot, make_window):
    window = make_window()
    type_into(qtbot, window.controls.field("t_max", None), "64")
    type_into(qtbot, window.controls.field("gamma", None), "100")
    assert not window.controls.is_valid()
    type_into(qtbot, window.controls.field("t_max", None), "128")
    assert window.controls.is_valid()
    assert window.controls.settings().learning.gamma == 100


def test_learning_rate_unlocked_by_l2_reaches_trainer(qtbot, make_window):
    # η = 200 is refused while λ = 0.01 (η·λ ≥ 1); lowering λ makes it valid, and both must reach the trainer.
    window = make_window()
    edits = []
    window.controls.live_settings_edited.connect(edits.append)
    type_into(qtbot, window.controls.field("l2", 1), "0.01")
    type_into(qtbot, window.controls.field("learning_rates", 1), "200")
    assert not window.controls.is_valid()
    type_into(qtbot, window.controls.field("l2", 1), "0.001")

    assert window.controls.is_valid()
    assert window.recorder.errors == []
    assert edits[-1]["learning_rates"][0] == 200.0
    assert edits[-1]["l2"][0] == 0.001
    learning = window.state.settings.learning
    assert (learning.learning_rates[0], learning.l2[0]) == (200.0, 0.001)
    assert window.controls.settings().learning == learning


def test_every_control_has_tooltip(make_window):
    from PyQt6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

    window = make_window()
    inputs = [widget for kind in (QLineEdit, QComboBox, QSpinBox, QCheckBox)
              for widget in window.controls.findChildren(kind)]
    assert inputs
    for widget in inputs:
        if isinstance(widget, QLineEdit) and isinstance(widget.parent(), QSpinBox):
            continue
        assert len(widget.toolTip()) > 40, widget


def test_compiling_state_shown(qtbot, make_window, monkeypatch):
    from s4nn_gui import worker as worker_module

    monkeypatch.setattr(worker_module, "_kernels_ready", threading.Event())
    window = make_window(epochs=1)
    states = []
    window.state.training_state_changed.connect(states.append)
    run_to_end(qtbot, window)
    assert "compiling" in states
    assert states.index("compiling") < len(states) - 1
    assert states[-1] == "finished"


def test_repaint_tick_redraws_one_plot(qtbot, make_window):
    window = make_window(epochs=100_000)
    with qtbot.waitSignal(window.worker.progressed, timeout=WAIT_MS) as progressed:
        window.start_action.trigger()
    window._repaint_timer.stop()
    window.state.set_network(progressed.args[0].network)
    plots = window.visible_plots()
    dirty = [plot for plot in plots if plot.is_dirty]
    assert len(dirty) >= 2

    window._on_repaint_tick()

    assert sum(plot.is_dirty for plot in plots) == len(dirty) - 1
    assert 33 <= window._repaint_timer.interval() <= 500
    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS):
        window.stop_action.trigger()
    assert not any(plot.is_dirty for plot in plots)


def test_preset_fills_controls(qtbot, make_window):
    window = make_window()
    combo = window.controls.preset_combo
    index = combo.findText("Fast demo")
    assert index > 0
    combo.setCurrentIndex(index)
    combo.activated.emit(index)

    assert window.controls.field("hidden_sizes").text() == "100"
    assert window.controls.epochs_spin.value() == 5
    assert "hidden layers" in window.controls.pending_reset_changes()
    assert not window.controls.preset_note.isHidden()
    window.reset_action.trigger()
    assert window.trainer.network.layer_sizes == (784, 100, 10)
    assert window.trainer.settings.training.epochs == 5
    assert window.trainer.settings.training.chunk_size == 100


def test_paper_preset_uses_bundled_digits(qtbot, make_window):
    window = make_window()
    combo = window.controls.preset_combo
    index = combo.findText("Paper: MNIST 784-400-10")
    assert index > 0
    combo.setCurrentIndex(index)
    combo.activated.emit(index)

    assert window.controls.dataset_spec() == "bundled"
    assert "dataset" not in window.controls.pending_reset_changes()
    note = window.controls.preset_note
    assert "full MNIST training set" in note.text()
    assert "Pick MNIST in Dataset" in note.text()
    assert "palette(mid)" not in note.styleSheet()
    note.ensurePolished()
    assert note.font().pointSizeF() >= window.controls.font().pointSizeF()


# -- probe -----------------------------------------------------------------------------------


def test_probe_panel_moves_probe(qtbot, make_window):
    window = make_window()
    with qtbot.waitSignal(window.state.trace_changed, timeout=WAIT_MS):
        window.probe_panel.next_button.click()
    assert window.state.probe.index == 1
    assert window.probe_panel.index_spin.value() == 1
    index = window.probe_panel.split_combo.findData("validation")
    window.probe_panel.split_combo.setCurrentIndex(index)
    window.probe_panel.split_combo.activated.emit(index)
    assert window.state.probe.split == "validation"
    label = window.splits.validation.labels[1]
    assert f"label: <b>{label}</b>" in window.probe_panel.decision_label.text()
    window.probe_panel.previous_button.click()
    assert window.state.probe.index == 0


def test_probe_panel_shows_drawing(qtbot, make_window):
    window = make_window()
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 12:16] = 255
    window.state.set_drawing_probe(image)
    text = window.probe_panel.decision_label.text()
    assert "your drawing" in text
    assert "label: none" in text


# -- files -------------------------------------------------------------------------------------


def test_checkpoint_round_trip(qtbot, make_window, tmp_path):
    window = make_window(epochs=1)
    run_to_end(qtbot, window)
    trained = weights_of(window.trainer.network)
    history = list(window.trainer.history)
    path = tmp_path / "run.npz"

    assert window.save_checkpoint_to(path)
    assert not window.has_unsaved_training
    stored = load_checkpoint(path)
    assert stored.metadata["dataset"] == "bundled"
    assert len(stored.history) == 1

    window.reset_network(new_seed=True)
    assert not np.array_equal(window.trainer.network.layer_weights(1), trained[0])
    assert window.accuracy_plot.records() == []

    assert window.open_checkpoint(path)
    for layer, expected in enumerate(trained, start=1):
        assert np.array_equal(window.trainer.network.layer_weights(layer), expected)
        assert np.array_equal(window.state.network.layer_weights(layer), expected)
    assert window.trainer.epochs_done == 1
    assert [record["epoch"] for record in window.accuracy_plot.records()] == [record["epoch"] for record in history]
    assert window.controls.field("seed").text() == str(stored.settings.training.seed)
    assert window.state.results["test"].labels.size == len(window.splits.test)


def test_failed_save_keeps_window_open(qtbot, make_window, tmp_path):
    window = make_window(epochs=1)
    run_to_end(qtbot, window)
    window.recorder.answer = "save"
    window.choose_save_path = lambda: str(tmp_path / "missing-folder" / "run.npz")

    window.close()

    assert window.isVisible()
    assert window.has_unsaved_training
    assert window.recorder.errors[0][0] == "Cannot save the checkpoint"
    assert "missing-folder" in window.recorder.errors[0][1]


def test_close_asks_and_cancel_keeps_window(qtbot, make_window):
    window = make_window(epochs=1)
    run_to_end(qtbot, window)
    window.recorder.answer = "cancel"
    window.close()
    assert window.isVisible()
    assert window.recorder.questions == ["quit"]


def test_close_saves_when_asked(qtbot, make_window, tmp_path):
    window = make_window(epochs=1)
    run_to_end(qtbot, window)
    window.recorder.answer = "save"
    path = tmp_path / "on-close.npz"
    window.choose_save_path = lambda: str(path)
    window.close()
    assert not window.isVisible()
    assert load_checkpoint(path).history[0]["epoch"] == 1


def test_close_during_training_stops_worker(qtbot, make_window):
    window = make_window(epochs=100_000)
    with qtbot.waitSignal(window.worker.progressed, timeout=WAIT_MS):
        window.start_action.trigger()
    threads_before = threading.active_count()
    assert window.worker.is_running

    window.close()

    assert not window.isVisible()
    assert not window.worker.is_running
    assert window.recorder.questions == ["quit"]
    assert not window._repaint_timer.isActive()
    assert threading.active_count() <= threads_before


def test_open_damaged_checkpoint_reports(qtbot, make_window, tmp_path):
    window = make_window()
    path = tmp_path / "damaged.npz"
    path.write_bytes(b"not a zip archive")
    before = window.trainer
    assert not window.open_checkpoint(path)
    assert window.trainer is before
    assert window.recorder.errors[0][0] == "Cannot open the checkpoint"
    assert str(path) in window.recorder.errors[0][1]


@pytest.mark.skipif(not REFERENCE_WEIGHTS.exists(),
                    reason=f"{REFERENCE_WEIGHTS} is absent; the import check needs the shared test data")
def test_import_reference_weights(qtbot, make_window):
    window = make_window()
    assert window.import_weights(REFERENCE_WEIGHTS)

    network = window.trainer.network
    assert network.layer_sizes == (784, 400, 10)
    assert list(network.row_classes) == [4, 1, 0, 7, 9, 2, 3, 5, 8, 6]
    assert window.controls.field("hidden_sizes").text() == "400"
    assert window.controls.pending_reset_changes() == []
    results = window.state.results["test"]
    assert results.correct.mean() > 0.9
    assert window.weight_plot.image_item().image is not None
    # The bundled digits come from the MNIST training set, which these weights learned.
    assert "MNIST training images" in window.probe_panel.note()
    assert "real MNIST test set" in window.probe_panel.note()
    assert not window.note_label.isHidden()
    assert "trained on these digits" in window.note_label.text()
    assert window.recorder.errors == []

    window.reset_network()
    assert window.probe_panel.note() == ""
    assert window.note_label.isHidden()


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file: magic 0x0000080N (N dimensions), then big-endian sizes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_test_only_folder(folder: Path, splits) -> Path:
    """Write a folder of IDX files with the t10k pair only, like a download of the MNIST test set."""
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte", splits.test.images)
    write_idx(folder / "t10k-labels-idx1-ubyte", splits.test.labels.astype(np.uint8))
    return folder


def test_dataset_without_training_split_rejected(qtbot, make_window, small_splits, tmp_path):
    window = make_window()
    test_only = write_test_only_folder(tmp_path / "t10k-only", small_splits)
    window.controls.folder_chooser = lambda: str(test_only)
    combo = window.controls.dataset_combo
    index = combo.findData("idx:")
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    assert window.controls.pending_reset_changes() == ["dataset"]
    before = window.trainer

    window.reset_action.trigger()
    qtbot.waitUntil(lambda: not window.loader.is_running and bool(window.recorder.errors), timeout=WAIT_MS)

    title, message = window.recorder.errors[0]
    assert title == "Cannot use the dataset"
    assert "has no training files" in message
    assert "s4nn evaluate" in message
    assert window.trainer is before
    assert window.dataset_spec == "bundled"
    assert window.controls.dataset_spec() == "bundled"


def test_dataset_change_resets_network(qtbot, make_window, small_splits, tmp_path):
    # 14×14 crops of real digits give a dataset whose input size differs from the window's 784.
    folder = tmp_path / "crops"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", small_splits.train.images[:, 7:21, 7:21])
    write_idx(folder / "train-labels-idx1-ubyte", small_splits.train.labels.astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte", small_splits.test.images[:, 7:21, 7:21])
    write_idx(folder / "t10k-labels-idx1-ubyte", small_splits.test.labels.astype(np.uint8))
    window = make_window(epochs=1)
    window.controls.folder_chooser = lambda: str(folder)
    combo = window.controls.dataset_combo
    combo.activated.emit(combo.findData("idx:"))

    with qtbot.waitSignal(window.loader.loaded, timeout=WAIT_MS):
        window.reset_action.trigger()

    assert window.recorder.errors == []
    assert window.dataset_spec == f"idx:{folder}"
    assert window.trainer.network.layer_sizes == (196, 20, 10)
    assert window.state.network.layer_sizes == (196, 20, 10)
    assert window.state.probe.image.shape == (14, 14)
    assert window.state.results["test"].labels.size == 100
    assert window.controls.pending_reset_changes() == []
    # 10 % of 400 training images are held out for validation.
    assert len(window.splits.train) == 360
    finished = run_to_end(qtbot, window)
    assert finished.reason == "completed"


def test_missing_dataset_folder_reported(qtbot, make_window, tmp_path):
    window = make_window()
    missing = tmp_path / "absent"
    window.controls.folder_chooser = lambda: str(missing)
    combo = window.controls.dataset_combo
    index = combo.findData("idx:")
    combo.activated.emit(index)
    assert window.controls.dataset_spec() == f"idx:{missing}"

    window.reset_action.trigger()
    qtbot.waitUntil(lambda: not window.loader.is_running and bool(window.recorder.errors), timeout=WAIT_MS)

    title, message = window.recorder.errors[0]
    assert title == "Cannot load the dataset"
    assert str(missing) in message
    assert message.index("Choose a folder that contains") < message.index("Details:")
    assert window.dataset_spec == "bundled"


def test_download_failure_message_leads_with_files():
    error = "could not download train-images-idx3-ubyte.gz from https://example.invalid/: offline"
    message = load_failure_message("mnist", error)
    folder = default_cache_dir() / "mnist"

    assert message.startswith("To use MNIST without an internet connection, copy the four files")
    assert str(folder) in message
    assert message.index(str(folder)) < message.index("Details:") < message.index(error)


@pytest.mark.parametrize("plot_name", ["membrane", "raster", "weights", "accuracy"])
def test_export_plot_files(qtbot, make_window, tmp_path, plot_name):
    window = make_window(epochs=1)
    run_to_end(qtbot, window)
    plot = window.plots[plot_name]

    png, svg, table = tmp_path / "plot.png", tmp_path / "plot.svg", tmp_path / "plot.csv"
    assert window.export_plot(plot, png, "png")
    assert window.export_plot(plot, svg, "svg")
    assert window.export_plot(plot, table, "csv")

    image = QImage(str(png))
    assert image.width() >= plot.width()
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    header, rows = plot.export_table()
    with open(table, newline="", encoding="utf-8") as stream:
        written = list(csv.reader(stream))
    assert written[0] == header
    assert len(written) == len(rows) + 1
    assert len(rows) > 0


def test_export_to_missing_folder_reported(qtbot, make_window, tmp_path):
    window = make_window()
    assert not window.export_plot(window.raster_plot, tmp_path / "absent" / "raster.csv", "csv")
    assert window.recorder.errors[0][0] == "Export failed"


# -- the command ---------------------------------------------------------------------------------


def test_app_screenshot_and_quit(tmp_path):
    screenshot = tmp_path / "window.png"
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    completed = subprocess.run(
        [sys.executable, "-m", "s4nn_gui.app", "--hidden", "20", "--epochs", "1", "--autostart",
         "--quit-after", "3", "--screenshot", str(screenshot)],
        cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    image = QImage(str(screenshot))
    assert image.width() >= 1000
    assert image.height() >= 700
    assert "training ended" in completed.stderr


def test_app_falls_back_to_bundled(tmp_path):
    screenshot = tmp_path / "window.png"
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    completed = subprocess.run(
        [sys.executable, "-m", "s4nn_gui.app", "--dataset", f"idx:{tmp_path / 'absent'}", "--hidden", "20",
         "--quit-after", "1", "--screenshot", str(screenshot)],
        cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "using the bundled dataset" in completed.stderr
    assert screenshot.exists()


def test_app_test_only_folder_falls_back(small_splits, tmp_path):
    test_only = write_test_only_folder(tmp_path / "t10k-only", small_splits)
    splits, spec, message = load_with_fallback(f"idx:{test_only}")

    assert spec == "bundled"
    assert len(splits.train) > 0
    assert "has no training files" in message
    assert f"s4nn evaluate --checkpoint FILE --dataset idx:{test_only}" in message


def test_huge_hidden_layer_refused_at_control(qtbot, make_window):
    window = make_window()
    settings = window.controls.settings()
    edit = window.controls.field("hidden_sizes")
    type_into(qtbot, edit, "10000000000000")

    message = window.controls.message_label.text()
    assert "10000000000000" in message
    assert "GiB" in message
    assert "choose smaller layers" in message
    assert "border" in edit.styleSheet()
    assert not window.controls.is_valid()
    assert window.controls.settings() == settings
    assert not window.reset_network()
    assert window.recorder.errors and "Invalid settings" in window.recorder.errors[-1][0]


@pytest.mark.parametrize("arguments, expected", [
    (["--quit-after", "inf"], "out of range"),
    (["--quit-after", "nan"], "out of range"),
    (["--quit-after", "-1"], "out of range"),
    (["--quit-after", "1e300"], "out of range"),
    (["--hidden", "10000000000000"], "choose smaller layers"),
])
def test_app_rejects_bad_arguments(qtbot, capsys, arguments, expected):
    from s4nn_gui.app import main

    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    assert expected in capsys.readouterr().err
