"""The debugging and teaching tools on real networks, real digits and hand-worked cases."""

from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PyQt6.QtCore import QPoint, Qt  # noqa: E402

from s4nn_engine.config import make_settings  # noqa: E402
from s4nn_engine.datasets import DataSplits, Dataset  # noqa: E402
from s4nn_engine.drawing import IMAGE_CENTRE, centre_of_mass, mnist_style_image, render_strokes  # noqa: E402
from s4nn_engine.metrics import CLEAN, SILENT, TIE, accuracy_by_readout_step, decision_time_histograms  # noqa: E402
from s4nn_engine.network import Network  # noqa: E402
from s4nn_engine.runs import RUN_FILE, RUNS_DIR_ENV, RunStore, RunStoreError  # noqa: E402
from s4nn_engine.training import EpochReport, ProgressReport, Trainer  # noqa: E402
from s4nn_gui.state import SessionState  # noqa: E402
from s4nn_gui.tools.confusion import ConfusionView  # noqa: E402
from s4nn_gui.tools.decision_time import DecisionTimeView  # noqa: E402
from s4nn_gui.tools.drawing import CANVAS_SIZE, DrawingView  # noqa: E402
from s4nn_gui.tools.inspector import InspectorView, OutcomeTable  # noqa: E402
from s4nn_gui.tools.neurons import NeuronsView  # noqa: E402
from s4nn_gui.tools.presets import PRESETS  # noqa: E402
from s4nn_gui.tools.runs import RunsView  # noqa: E402
from s4nn_gui.tools.scrubber import ScrubberView  # noqa: E402
from s4nn_gui.tools.whatif import WhatIfView  # noqa: E402

WAIT_MS = 60_000

# -- a hand-worked network ------------------------------------------------------------------
#
# 4 inputs, 3 outputs (classes a, b, c), no hidden layer, t_max = 10, θ = 1, γ = 3.
# Pixels p spike at floor((255 − p) · 10 / 255): 255 → 0, 204 → 2, 153 → 4, 0 → 10 (never).
# W = [[0.6, 0.6, 0.0, 0.0],    output a
#      [0.2, 0.2, 0.7, 5.0],    output b
#      [0.1, 0.1, 0.1, 9.0]]    output c (input 3 never spikes, so its 9.0 never counts)
#
# Sample "clean", pixels [255, 204, 153, 0], times [0, 2, 4, 10], label b:
#   a: V(0) = 0.6, V(2) = 1.2 > 1 → crossing 2 → t = 3.
#   b: V(2) = 0.4, V(4) = 1.1 > 1 → crossing 4 → t = 5.   c: V = 0.3 → silent (t = 10).
#   τ = 3; a and b fired less than γ after τ → T = min(τ + γ, 10) = 6, then T_b = τ = 3; T_c = 10.
#   e = (T − t) / 10 = [0.3, −0.2, 0]; ‖e‖ = √0.13 = 0.36056; δ = [0.83205, −0.55470, 0].
# Sample "tie", pixels [255, 153, 153, 0], times [0, 4, 4, 10], label b:
#   a: V(4) = 1.2 → t = 5; b: V(4) = 1.1 → t = 5; c silent. Tie at τ = 5, a wins (1.2 > 1.1).
#   T = [8, 5, 10]; e = [0.3, 0, 0]; δ = [1, 0, 0].
# Sample "silent", pixels [255, 0, 0, 0], times [0, 10, 10, 10], label c:
#   V(9) = [0.6, 0.2, 0.1], nothing crosses 1, a wins by the silent fallback.
#   T = [10, 10, 10 − 3 = 7]; e = [0, 0, −0.3]; δ = [0, 0, −1].

HAND_WEIGHTS = np.array([[0.6, 0.6, 0.0, 0.0], [0.2, 0.2, 0.7, 5.0], [0.1, 0.1, 0.1, 9.0]])
HAND_PIXELS = np.array([[255, 204, 153, 0], [255, 153, 153, 0], [255, 0, 0, 0]], dtype=np.uint8)
HAND_LABELS = np.array([1, 1, 2])
CLASSES = ("a", "b", "c")


@pytest.fixture
def hand_state(qtbot):
    settings = make_settings((), input_size=4, output_size=3, t_max=10, thresholds=1.0, gamma=3,
                             learning_rates=1.0, l2=0.0)
    network = Network(settings.network, [HAND_WEIGHTS], class_names=CLASSES)
    dataset = Dataset("hand/test", HAND_PIXELS.reshape(3, 2, 2), HAND_LABELS, CLASSES)
    splits = DataSplits(train=dataset, validation=None, test=dataset)
    return SessionState(settings, splits, network)


# -- real small networks on real digits ------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_small(small_splits):
    """A 784-20-10 network trained one epoch on 400 bundled digits, with its epoch report."""
    settings = make_settings((20,), epochs=1, chunk_size=100, seed=1)
    trainer = Trainer(settings, small_splits)
    reports = []
    trainer.run(reports.append, snapshots=True)
    epoch_reports = [report for report in reports if isinstance(report, EpochReport)]
    progress = [report for report in reports if isinstance(report, ProgressReport)]
    return settings, trainer.network, epoch_reports[0], progress[-1]


@pytest.fixture
def small_state(qtbot, small_splits, trained_small):
    settings, network, _report, _progress = trained_small
    state = SessionState(settings, small_splits, network.copy())
    state.set_probe("test", 0)
    return state


def show(qtbot, widget, width: int = 900, height: int = 600):
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


# -- inspector ------------------------------------------------------------------------------------


def test_inspector_hand_worked_clean(qtbot, hand_state):
    view = show(qtbot, InspectorView(hand_state))
    hand_state.set_probe("test", 0)
    rows = {row["class"]: row for row in view.table_rows()}

    assert rows["a"]["firing time t"] == "3"
    assert rows["b"]["firing time t"] == "5"
    assert rows["c"]["firing time t"] == "silent"
    assert rows["a"]["target T"] == "6"
    assert rows["b"]["target T"] == "3"
    assert rows["c"]["target T"] == "silent"
    assert rows["a"]["error e"] == "+0.3000"
    assert rows["b"]["error e"] == "-0.2000"
    assert rows["c"]["error e"] == "+0.0000"
    assert rows["a"]["δ"] == "+0.8321"
    assert rows["b"]["δ"] == "-0.5547"
    assert rows["c"]["δ"] == "+0.0000"
    assert rows["a"]["role"] == "decision"
    assert rows["b"]["role"] == "label"
    assert view.readout().outcome == CLEAN
    assert view.summary_text().startswith("Decision: a (clean).")
    assert "The label is b: wrong." in view.summary_text()


def test_inspector_hand_worked_tie(qtbot, hand_state):
    view = show(qtbot, InspectorView(hand_state))
    hand_state.set_probe("test", 1)
    rows = {row["class"]: row for row in view.table_rows()}

    assert view.readout().outcome == TIE
    assert [rows[name]["firing time t"] for name in CLASSES] == ["5", "5", "silent"]
    assert [rows[name]["target T"] for name in CLASSES] == ["8", "5", "silent"]
    assert [rows[name]["δ"] for name in CLASSES] == ["+1.0000", "+0.0000", "+0.0000"]
    assert "Two outputs (a, b) fired first at t = 5" in view.summary_text()
    assert "potential at step 4 was higher (1.2 vs 1.1)" in view.summary_text()


def test_inspector_hand_worked_silent(qtbot, hand_state):
    view = show(qtbot, InspectorView(hand_state))
    hand_state.set_probe("test", 2)
    rows = {row["class"]: row for row in view.table_rows()}

    assert view.readout().outcome == SILENT
    assert rows["a"]["role"] == "decision"
    assert rows["c"]["role"] == "label"
    assert [rows[name]["target T"] for name in CLASSES] == ["silent", "silent", "7"]
    assert [rows[name]["error e"] for name in CLASSES] == ["+0.0000", "+0.0000", "-0.3000"]
    assert "No output reached θ = 1; the largest V(9) was 0.6 (a)" in view.summary_text()


def test_inspector_outcomes_equal_engine(qtbot, hand_state):
    view = show(qtbot, InspectorView(hand_state))
    metrics, results, _ = hand_state.network.evaluate(HAND_PIXELS.reshape(3, 2, 2), HAND_LABELS, parallel=False)
    assert (metrics.clean, metrics.tie, metrics.silent) == (1, 1, 1)
    for index in range(3):
        hand_state.set_probe("test", index)
        readout = view.readout()
        assert readout.outcome == results.outcomes[index]
        assert hand_state.network.row_classes[readout.winner_row] == results.predictions[index]
        assert readout.decision_time == results.decision_times[index]


def test_inspector_input_mask_hand_worked(qtbot, hand_state):
    view = show(qtbot, InspectorView(hand_state))
    hand_state.set_probe("test", 0)  # input times [0, 2, 4, 10]

    view.select_neuron(1, 0)  # output a fires at t = 3
    np.testing.assert_array_equal(view.input_mask(), [True, True, False, False])
    assert view.presynaptic_mask() is None  # the inputs of this output are the pixels
    view.select_neuron(1, 1)  # output b fires at t = 5
    np.testing.assert_array_equal(view.input_mask(), [True, True, True, False])
    view.select_neuron(1, 2)  # output c is silent: every input that fired counts
    np.testing.assert_array_equal(view.input_mask(), [True, True, True, False])


def test_inspector_row_click_selects_output(qtbot, hand_state):
    view = show(qtbot, InspectorView(hand_state))
    hand_state.set_probe("test", 0)
    table = view._table
    target_row = [row["class"] for row in view.table_rows()].index("b")
    rect = table.visualItemRect(table.item(target_row, 2))
    with qtbot.waitSignal(view.neuron_selected, timeout=WAIT_MS) as selected:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert selected.args == [1, 1]
    assert view.selected_neuron() == (1, 1)


def test_inspector_masks_real_network(qtbot, small_state):
    view = show(qtbot, InspectorView(small_state))
    for index in range(5):
        small_state.set_probe("test", index)
        trace = small_state.trace
        for neuron in (0, 7, 19):
            view.select_neuron(1, neuron)
            np.testing.assert_array_equal(view.input_mask(), trace.times[0] < trace.times[1][neuron])
            assert view.presynaptic_mask() is None
        for row in range(10):
            view.select_neuron(2, row)
            np.testing.assert_array_equal(view.input_mask(), trace.times[0] < trace.times[2][row])
            np.testing.assert_array_equal(view.presynaptic_mask(), trace.times[1] < trace.times[2][row])


def test_inspector_decisions_equal_engine(qtbot, small_state, small_splits):
    view = show(qtbot, InspectorView(small_state))
    test = small_splits.test
    _, results, _ = small_state.network.evaluate(test.images, test.labels, parallel=False)
    assert np.count_nonzero(results.outcomes == TIE) > 0
    assert np.count_nonzero(results.outcomes == SILENT) > 0
    counts = np.zeros(3, dtype=int)
    for index in range(len(test)):
        small_state.set_probe("test", index)
        readout = view.readout()
        counts[readout.outcome] += 1
        assert readout.outcome == results.outcomes[index]
        assert small_state.network.row_classes[readout.winner_row] == results.predictions[index]
    np.testing.assert_array_equal(counts, np.bincount(results.outcomes, minlength=3))


def test_inspector_hidden_neuron_from_weight_map(qtbot, small_state):
    from s4nn_gui.plots.weights import WeightMapPlot

    view = show(qtbot, InspectorView(small_state))
    weights = WeightMapPlot(small_state)
    qtbot.addWidget(weights)
    weights.neuron_clicked.connect(lambda neuron: view.select_neuron(1, neuron))
    weights.neuron_clicked.emit(4)
    assert view.selected_neuron() == (1, 4)
    assert "Hidden neuron 4" in view._detail.text()


def test_inspector_follows_decision_until_chosen(qtbot, small_state):
    view = show(qtbot, InspectorView(small_state))
    output_layer = len(small_state.network.layer_sizes) - 1
    winners = []
    for index in (0, 1):  # two test digits the trained network decides differently
        small_state.set_probe("test", index)
        winners.append(view.readout().winner_row)
        assert view.selected_neuron() == (output_layer, view.readout().winner_row)
    assert winners[0] != winners[1]

    # A neuron the user chose stays chosen for this probe, also when the network changes.
    other = (winners[1] + 1) % small_state.network.layer_sizes[-1]
    view.select_neuron(output_layer, other)
    small_state.set_network(small_state.network.copy())
    assert view.selected_neuron() == (output_layer, other)
    small_state.set_probe("test", 0)
    assert view.selected_neuron() == (output_layer, winners[0])


# -- outcome accounting ---------------------------------------------------------------------------------


def test_outcome_table_equals_epoch_metrics(qtbot, small_state, trained_small):
    _settings, _network, report, progress = trained_small
    table = show(qtbot, OutcomeTable(small_state))
    small_state.epoch_finished.emit(report)
    rows = {(row[0], row[1]): row for row in table.rows()}

    validation = rows[("1", "validation")]
    metrics = report.validation
    assert validation[2] == str(metrics.samples)
    assert validation[3:6] == [str(metrics.clean), str(metrics.tie), str(metrics.silent)]
    assert validation[6] == f"{100 * metrics.accuracy:.2f} %"
    assert validation[7] == f"{100 * metrics.first_spike_accuracy:.2f} %"
    assert validation[8] == f"{100 * metrics.reference_accuracy:.2f} %"
    train = rows[("1", "train")]
    assert train[3:6] == [str(report.train.clean), str(report.train.tie), str(report.train.silent)]
    test = rows[("1", "test")]
    assert test[3:6] == [str(report.test.clean), str(report.test.tie), str(report.test.silent)]

    table.show_progress(progress)
    qtbot.waitUntil(lambda: table.rows()[0][0] == "1 (live)", timeout=WAIT_MS)
    live = table.rows()[0]
    assert live[3:6] == [str(progress.running.clean), str(progress.running.tie), str(progress.running.silent)]


# -- confusion matrix -----------------------------------------------------------------------------------


def test_confusion_sums_to_split(qtbot, small_state, small_splits):
    view = show(qtbot, ConfusionView(small_state))
    for split in ("validation", "test"):
        view.set_split(split)
        matrix = view.matrix()
        dataset = getattr(small_splits, split)
        assert matrix.sum() == len(dataset)
        metrics, _, _ = small_state.network.evaluate(dataset.images, dataset.labels, parallel=False)
        np.testing.assert_array_equal(matrix, metrics.confusion)


def test_confusion_cell_then_thumbnail_sets_probe(qtbot, small_state):
    view = show(qtbot, ConfusionView(small_state), 1000, 600)
    view.set_split("test")
    matrix = view.matrix()
    true_class, decided_class = np.unravel_index(np.argmax(matrix), matrix.shape)

    graphics = view.graphics()
    position = graphics.mapFromScene(view.cell_centre(int(true_class), int(decided_class)))
    with qtbot.waitSignal(view.cell_chosen, timeout=WAIT_MS) as chosen:
        qtbot.mouseClick(graphics.viewport(), Qt.MouseButton.LeftButton, pos=position)
    assert chosen.args == [true_class, decided_class]

    results = view.results().results
    expected = np.flatnonzero((results.labels == true_class) & (results.predictions == decided_class))
    assert view.gallery_indices() == expected[:100].tolist()

    gallery = view.gallery()
    item = gallery.item(2)
    with qtbot.waitSignal(small_state.probe_changed, timeout=WAIT_MS):
        qtbot.mouseClick(gallery.viewport(), Qt.MouseButton.LeftButton, pos=gallery.visualItemRect(item).center())
    assert small_state.probe.split == "test"
    assert small_state.probe.index == expected[2]
    assert small_state.probe.label == true_class


def test_confusion_uses_epoch_report_while_running(qtbot, small_state, trained_small):
    _settings, _network, report, _progress = trained_small
    view = show(qtbot, ConfusionView(small_state))
    view.set_split("validation")
    small_state.set_training_state("running")
    small_state.epoch_finished.emit(report)
    view.refresh()
    np.testing.assert_array_equal(view.matrix(), report.validation.confusion)
    assert view.results().source == "end of epoch 1"
    small_state.set_training_state("idle")


# -- decision time -------------------------------------------------------------------------------------


def test_decision_time_curves_equal_engine(qtbot, small_state, small_splits):
    view = show(qtbot, DecisionTimeView(small_state))
    view.set_split("test")
    test = small_splits.test
    _, results, _ = small_state.network.evaluate(test.images, test.labels, parallel=False)
    np.testing.assert_array_equal(view.histograms(), decision_time_histograms(results, 10))
    np.testing.assert_allclose(view.accuracy_curve(), accuracy_by_readout_step(results))

    chosen = int(test.labels[0])
    view.set_class(chosen)
    mask = results.labels == chosen
    decided_correct = results.correct & (results.outcomes != SILENT) & mask
    expected_final = np.count_nonzero(decided_correct) / np.count_nonzero(mask)
    assert view.accuracy_curve()[-1] == pytest.approx(expected_final)


# -- dead neurons ---------------------------------------------------------------------------------------


def test_dead_neurons_highlighted_and_counted(qtbot, small_splits):
    # θ hidden = 10 000 is beyond any hidden potential (at most 784 · 5), so all 20 neurons are dead.
    settings = make_settings((20,), thresholds=(10000.0, 100.0), epochs=2, chunk_size=200)
    trainer = Trainer(settings, small_splits)
    reports = []
    trainer.run(lambda report: reports.append(report) if isinstance(report, EpochReport) else None)
    state = SessionState(settings, small_splits, trainer.network.copy())
    view = show(qtbot, NeuronsView(state))

    with qtbot.waitSignal(view.dead_neurons_changed, timeout=WAIT_MS) as highlighted:
        state.epoch_finished.emit(reports[0])
    assert highlighted.args[0] == set(range(20))
    state.epoch_finished.emit(reports[1])
    assert [int(sum(report.dead_resets)) for report in reports] == [20, 0]
    assert view.dead_neurons() == set(range(20))
    header, rows = view.export_table()
    assert header[2] == "firing rate"
    assert all(row[3] for row in rows)


def test_dead_neurons_measured_on_network(qtbot, small_state, small_splits):
    view = show(qtbot, NeuronsView(small_state))
    view.measure_current_network()
    network = small_state.network
    forward = network.forward(network.encode(small_splits.train.images), parallel=False)
    rates = (forward.times[1] < network.t_max).mean(axis=0)
    _, rows = view.export_table()
    np.testing.assert_allclose([row[2] for row in rows], rates)
    assert view.dead_neurons() == set(np.flatnonzero(rates < 0.001).tolist())


# -- scrubber ----------------------------------------------------------------------------------------------


def test_scrubber_lights_inputs_up_to_step(qtbot, small_state):
    view = show(qtbot, ScrubberView(small_state))
    trace = small_state.trace
    t_max = trace.t_max
    image = small_state.probe.image.ravel()
    for step in (0, 1, 40, 100, 200, t_max - 1, t_max):
        view.set_step(step)
        expected = (trace.times[0] <= step) & (trace.times[0] < t_max)
        np.testing.assert_array_equal(view.lit_inputs(), expected)
        drawn = view.input_image().reshape(-1, 3).any(axis=1)
        np.testing.assert_array_equal(drawn, expected & (image > 0))
        np.testing.assert_array_equal(view.lit_hidden(), (trace.times[1] <= step) & (trace.times[1] < t_max))
        column = min(step, t_max - 1)
        bars = view.output_bars()
        for row, height in bars.items():
            assert height == pytest.approx(trace.potentials[-1][row, column] / trace.thresholds[-1][row])


def test_scrubber_drives_plots_and_stops_when_hidden(qtbot, small_state):
    view = show(qtbot, ScrubberView(small_state))
    steps = []
    view.step_changed.connect(steps.append)
    view.set_step(30)
    assert steps[-1] == 30
    view.set_speed(256)
    view.play()
    assert view.is_playing()
    qtbot.waitUntil(lambda: view.step() > 60, timeout=WAIT_MS)
    view.hide()
    assert not view.is_playing()
    assert steps[-1] is None


def test_scrubber_play_stops_at_end(qtbot, small_state):
    view = show(qtbot, ScrubberView(small_state))
    view.set_step(240)
    view.set_speed(256)
    view.play()
    qtbot.waitUntil(lambda: not view.is_playing(), timeout=WAIT_MS)
    assert view.step() == small_state.network.t_max


# -- what-if ----------------------------------------------------------------------------------------------


def test_whatif_leaves_network_unchanged(qtbot, small_state):
    view = show(qtbot, WhatIfView(small_state))
    network = small_state.network
    weights_before = [matrix.copy() for matrix in network.weights()]
    thresholds_before = network.config.thresholds
    winner = int(np.argmin(small_state.trace.times[-1]))
    before = view.before_text()

    with qtbot.waitSignal(small_state.trace_changed, timeout=WAIT_MS):
        view.set_override(2, winner, 1e6)
    assert small_state.trace.times[-1][winner] == small_state.network.t_max  # the old winner is now silent
    assert view.after_text() != "with overrides: (none)"
    assert view.before_text() == before
    view.set_override(1, 3, 5.0)
    view.set_output_threshold(50.0)
    qtbot.waitUntil(lambda: small_state.threshold_overrides.get((2, 0)) == 50.0, timeout=WAIT_MS)

    assert small_state.network is network
    for old, new in zip(weights_before, network.weights()):
        np.testing.assert_array_equal(old, new)
    assert network.config.thresholds == thresholds_before
    assert small_state.settings.network.thresholds == thresholds_before
    view.clear_overrides()
    assert small_state.threshold_overrides == {}


def test_whatif_changes_decision_hand_worked(qtbot, hand_state):
    view = show(qtbot, WhatIfView(hand_state))
    hand_state.set_probe("test", 0)  # a fires at 3, b at 5 (see the hand-worked network)
    view.set_override(1, 0, 1.5)  # a now needs V > 1.5, which it never reaches (max 1.2)
    trace = hand_state.trace
    assert list(trace.times[-1]) == [10, 5, 10]
    assert view.before_text().startswith("trained thresholds: a (clean, τ = 3)")
    assert view.after_text().startswith("with overrides: b (clean, τ = 5), correct")


def test_whatif_disabled_while_running(qtbot, small_state):
    view = show(qtbot, WhatIfView(small_state))
    view.set_override(2, 1, 20.0)
    editing = []
    view.threshold_editing_changed.connect(editing.append)
    small_state.set_training_state("running")
    assert small_state.threshold_overrides == {}
    assert not view.is_editable()
    assert editing[-1] is False
    with pytest.raises(RuntimeError, match="paused"):
        view.set_override(2, 1, 20.0)
    small_state.set_training_state("paused")
    assert view.is_editable()


# -- drawing ---------------------------------------------------------------------------------------------


def _pad_point(pad, x: float, y: float) -> QPoint:
    side = min(pad.width(), pad.height())
    left = (pad.width() - side) / 2
    top = (pad.height() - side) / 2
    return QPoint(int(left + x / CANVAS_SIZE * side), int(top + y / CANVAS_SIZE * side))


def test_drawing_becomes_probe(qtbot, small_state):
    view = show(qtbot, DrawingView(small_state), 600, 400)
    pad = view.pad()
    corners = [(70, 60), (210, 60), (160, 150), (120, 240)]  # a "7"
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=_pad_point(pad, *corners[0]))
    for start, end in zip(corners[:-1], corners[1:]):
        for fraction in np.linspace(0.1, 1.0, 10):
            x = start[0] + (end[0] - start[0]) * fraction
            y = start[1] + (end[1] - start[1]) * fraction
            qtbot.mouseMove(pad, _pad_point(pad, x, y))
    # While the button is down, the throttle timer already sends the drawing.
    qtbot.waitUntil(lambda: small_state.probe.split == "drawing", timeout=WAIT_MS)
    # The end of the stroke sends whatever the timer has not sent yet.
    qtbot.mouseMove(pad, _pad_point(pad, 110, 250))
    with qtbot.waitSignal(small_state.probe_changed, timeout=WAIT_MS):
        qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=_pad_point(pad, 110, 250))

    strokes = pad.strokes()
    assert len(strokes) == 1
    assert len(strokes[0]) > 20
    expected = mnist_style_image(render_strokes(strokes, (CANVAS_SIZE, CANVAS_SIZE), pad.pen_width()))
    np.testing.assert_array_equal(small_state.probe.image, expected)
    row, column = centre_of_mass(small_state.probe.image)
    assert abs(row - IMAGE_CENTRE) <= 0.5
    assert abs(column - IMAGE_CENTRE) <= 0.5
    times = small_state.network.encode(small_state.probe.image[np.newaxis])
    assert times.min() == 0
    assert times.max() == small_state.network.t_max
    assert small_state.trace is not None
    assert view.decision_text().startswith("Decision: ")

    view.clear()
    assert not small_state.probe.image.any()


# -- presets ------------------------------------------------------------------------------------------------


def test_presets_build_valid_settings():
    names = [preset.name for preset in PRESETS]
    assert "Paper: MNIST 784-400-10" in names
    for preset in PRESETS:
        settings = preset.settings()
        assert settings.network.layer_sizes[0] == 784
        assert preset.note.count(". ") >= 1
    paper = PRESETS[names.index("Paper: MNIST 784-400-10")].settings()
    assert paper.network.layer_sizes == (784, 400, 10)
    assert paper.network.thresholds == (100.0, 100.0)
    assert paper.learning.learning_rates == (0.2, 0.2)
    assert paper.network.init_ranges == ((0.0, 5.0), (0.0, 48.0))


def test_silence_preset_is_silent(small_splits):
    preset = next(preset for preset in PRESETS if "silence" in preset.name)
    settings = preset.settings()
    trainer = Trainer(make_settings(**{**preset.settings_kwargs, "epochs": 1}), small_splits)
    reports = []
    trainer.run(lambda report: reports.append(report) if isinstance(report, EpochReport) else None)
    assert settings.network.thresholds[0] > 784 * settings.network.init_ranges[0][1]
    assert reports[0].train.silent == reports[0].train.samples


# -- runs -----------------------------------------------------------------------------------------------------


def test_runs_view_overlays_and_skips_corrupt(qtbot, tmp_path):
    store = RunStore(tmp_path)
    first = store.create(make_settings((5,)), "bundled", "")
    first.append_epoch({"epoch": 1, "validation_accuracy": 0.5})
    broken = store.create(make_settings((5,)), "bundled", "")
    (broken.path / RUN_FILE).write_text("{", encoding="utf-8")
    view = show(qtbot, RunsView(store))

    assert [run.run_id for run in view.runs()] == [first.run_id]
    with qtbot.waitSignal(view.overlays_changed, timeout=WAIT_MS) as overlays:
        view.set_checked(first.run_id, True)
    assert overlays.args[0] == [(first.run_id, [{"epoch": 1, "validation_accuracy": 0.5}])]
    with qtbot.waitSignal(view.overlays_changed, timeout=WAIT_MS) as overlays:
        view.set_checked(first.run_id, False)
    assert overlays.args[0] == []


def test_runs_view_survives_damaged_run_files(qtbot, tmp_path):
    store = RunStore(tmp_path)
    good = store.create(make_settings((5,)), "bundled", "")
    good.append_epoch({"epoch": 1, "validation_accuracy": 0.5})
    contents = [b"\xff\xfe not UTF-8", b"[" * 100_000 + b"]" * 100_000]
    for key, value in (("metadata", "abc"), ("checkpoints", 5)):
        data = json.loads((good.path / RUN_FILE).read_text(encoding="utf-8"))
        data[key] = value
        contents.append(json.dumps(data).encode("utf-8"))
    for content in contents:
        damaged = store.create(make_settings((5,)), "bundled", "")
        (damaged.path / RUN_FILE).write_bytes(content)

    view = show(qtbot, RunsView(store))
    assert good.run_id in [run.run_id for run in view.runs()]
    view.refresh()
    assert good.run_id in [run.run_id for run in view.runs()]


def test_runs_view_catches_listing_failures(qtbot, tmp_path):
    # Whatever the store raises while listing, the view reads each run on its own and skips the bad ones.
    class FailingStore(RunStore):
        def list_runs(self):
            raise RecursionError("maximum recursion depth exceeded")

        def load(self, run_id):
            if run_id == broken.run_id:
                raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
            return super().load(run_id)

    store = FailingStore(tmp_path)
    good = store.create(make_settings((5,)), "bundled", "")
    good.append_epoch({"epoch": 1, "validation_accuracy": 0.5})
    broken = store.create(make_settings((5,)), "bundled", "")

    view = show(qtbot, RunsView(store))
    assert [run.run_id for run in view.runs()] == [good.run_id]
    assert broken.run_id in view._message.text()
    with qtbot.waitSignal(view.overlays_changed, timeout=WAIT_MS) as overlays:
        view.set_checked(good.run_id, True)
    assert overlays.args[0] == [(good.run_id, [{"epoch": 1, "validation_accuracy": 0.5}])]


def test_run_store_reserved_folder(tmp_path):
    # A check of the engine, kept with the GUI tests because the window's run recorder is its only user.
    store = RunStore(tmp_path)
    unused = store.reserve()
    assert (unused / "checkpoints").is_dir()
    assert store.list_runs() == []
    assert store.release(unused)
    assert not unused.exists()

    folder = store.reserve()
    (folder / "checkpoints" / "last.npz").write_bytes(b"")
    assert not store.release(folder)  # it contains a checkpoint, so it stays
    run = store.create(make_settings((5,)), "bundled", "", folder=folder)
    assert run.path == folder
    assert run.run_id == folder.name
    assert [listed.run_id for listed in store.list_runs()] == [folder.name]
    with pytest.raises(RunStoreError, match="already contains a run"):
        store.create(make_settings((5,)), "bundled", "", folder=folder)
    with pytest.raises(RunStoreError, match="not a reserved run folder"):
        store.create(make_settings((5,)), "bundled", "", folder=tmp_path / "elsewhere")


# -- the tools in the main window ---------------------------------------------------------------------------


def test_tools_installed_in_window(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    window = make_window()
    tools = window.tools
    for title in ("Inspector", "Time scrubber", "What-if", "Draw a digit", "Outcomes", "Confusion",
                  "Decision time", "Dead neurons", "Runs"):
        assert window.dock(title) is tools.docks[title]

    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS):
        window.start_action.trigger()
    qtbot.waitUntil(lambda: tools.recorder.current is not None and tools.recorder.current.status == "completed",
                    timeout=WAIT_MS)
    runs = RunStore(tmp_path / "runs").list_runs()
    assert len(runs) == 1
    assert len(runs[0].history) == window.trainer.epochs_done
    assert runs[0].dataset_name == "bundled"
    qtbot.waitUntil(lambda: len(tools.runs.runs()) == 1, timeout=WAIT_MS)

    with qtbot.waitSignal(tools.runs.overlays_changed, timeout=WAIT_MS):
        tools.runs.set_checked(runs[0].run_id, True)
    assert len(window.accuracy_plot.overlay_curves()) == 1


def test_window_scrubber_and_whatif_drive_plots(qtbot, make_window, raise_tab, tmp_path, monkeypatch):
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    window = make_window()
    tools = window.tools
    raise_tab(window, "Time scrubber")
    qtbot.waitUntil(tools.scrubber.is_on_screen, timeout=WAIT_MS)
    tools.scrubber.set_step(42)
    assert window.membrane_plot.current_step() == 42

    window.dock("What-if").raise_()
    qtbot.waitUntil(tools.whatif.isVisible, timeout=WAIT_MS)
    tools.whatif._drag_box.setChecked(True)
    assert window.membrane_plot.threshold_line().movable
    with qtbot.waitSignal(window.state.trace_changed, timeout=WAIT_MS):
        window.membrane_plot.threshold_dragged.emit(60.0)
    outputs = window.state.network.layer_sizes[-1]
    assert window.state.threshold_overrides == {(2, row): 60.0 for row in range(outputs)}


def test_window_scrubber_off_screen_uncuts_plots(qtbot, make_window, raise_tab):
    window = make_window()
    scrubber = window.tools.scrubber
    membrane, raster = window.membrane_plot, window.raster_plot
    raise_tab(window, "Time scrubber")
    qtbot.waitUntil(scrubber.is_on_screen, timeout=WAIT_MS)
    scrubber.set_step(50)
    assert membrane.current_step() == 50
    assert raster.current_step() == 50

    # Another tab of the same dock area: Qt still calls the scrubber visible, but the user cannot see it.
    raise_tab(window, "Draw a digit")
    qtbot.waitUntil(lambda: membrane.current_step() is None, timeout=WAIT_MS)
    assert raster.current_step() is None
    window.state.set_probe("test", 3)
    assert membrane.current_step() is None

    raise_tab(window, "Time scrubber")
    qtbot.waitUntil(lambda: membrane.current_step() == 50, timeout=WAIT_MS)
    assert raster.current_step() == 50
    scrubber.set_speed(256)
    scrubber.play()
    qtbot.waitUntil(lambda: not scrubber.is_playing(), timeout=WAIT_MS)
    assert membrane.current_step() is None
    assert raster.current_step() is None


def test_window_runs_keep_checkpoints(qtbot, make_window, runs_folder):
    window = make_window(epochs=1)
    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS):
        window.start_action.trigger()
    runs_view = window.tools.runs
    qtbot.waitUntil(lambda: len(runs_view.runs()) == 1, timeout=WAIT_MS)
    run = runs_view.runs()[0]

    assert (run.checkpoint_dir / "last.npz").is_file()
    assert (run.checkpoint_dir / "best.npz").is_file()
    assert sorted(run.checkpoints) == ["checkpoints/best.npz", "checkpoints/last.npz"]
    assert not runs_view.open_button().isEnabled()
    runs_view.select_run(run.run_id)
    assert runs_view.open_button().isEnabled()

    trained = window.trainer.network.layer_weights(1)
    window.reset_network()
    assert window.recorder.questions == ["reset the network"]
    qtbot.mouseClick(runs_view.open_button(), Qt.MouseButton.LeftButton)
    assert window.recorder.errors == []
    assert np.array_equal(window.trainer.network.layer_weights(1), trained)
    assert window.trainer.epochs_done == 1


def test_window_run_without_epoch_leaves_no_folder(qtbot, make_window, runs_folder):
    window = make_window(epochs=1000)
    with qtbot.waitSignal(window.state.step_trained, timeout=WAIT_MS):
        window.step_action.trigger()
    assert window.trainer.checkpoint_dir is not None
    assert window.trainer.checkpoint_dir.parent.parent == runs_folder
    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS):
        window.stop_action.trigger()

    # Stopped within the first epoch: nothing to record, so the reserved folder is gone.
    assert window.trainer.epochs_done == 0
    assert list(runs_folder.iterdir()) == []
    assert window.trainer.checkpoint_dir is None


def test_window_inspector_images_large(qtbot, make_window, raise_tab):
    window = make_window()
    inspector = window.tools.inspector
    raise_tab(window, "Inspector")
    image = inspector._mask_image
    qtbot.waitUntil(lambda: image.sceneBoundingRect().width() >= 140, timeout=WAIT_MS)
    assert image.sceneBoundingRect().height() >= 140
    output_layer = len(window.state.network.layer_sizes) - 1
    assert inspector.selected_neuron() == (output_layer, inspector.readout().winner_row)


def test_window_tab_titles_not_cut(qtbot, make_window):
    from PyQt6.QtWidgets import QStyle, QTabBar

    window = make_window()
    qtbot.waitUntil(window.is_laid_out, timeout=WAIT_MS)
    bars = [bar for bar in window.findChildren(QTabBar) if bar.isVisible() and bar.count() > 1]
    assert len(bars) >= 2
    for bar in bars:
        # A tab narrower than its text plus the style's padding shows the text elided ("Accuracy per ep…").
        padding = bar.style().pixelMetric(QStyle.PixelMetric.PM_TabBarTabHSpace, None, bar)
        for index in range(bar.count()):
            text = bar.tabText(index)
            assert bar.tabRect(index).width() >= bar.fontMetrics().horizontalAdvance(text) + padding, text


def test_window_export_all_views(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    window = make_window()
    written, failures = window.tools.runs.export_to(tmp_path / "export")
    names = {path.name for path in written}
    assert failures == []
    assert "settings.json" in names
    for stem in ("membrane-potential-v-t", "hidden-weights"):
        for suffix in ("png", "svg", "csv"):
            assert f"{stem}.{suffix}" in names
    assert (tmp_path / "export" / "settings.json").read_text(encoding="utf-8").startswith("{")


def test_dead_neuron_highlight_reaches_weight_map(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    window = make_window(thresholds=(10000.0, 100.0), epochs=1)
    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS):
        window.start_action.trigger()
    qtbot.waitUntil(lambda: window.weight_plot.highlighted() == set(range(20)), timeout=WAIT_MS)
