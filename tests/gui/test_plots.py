"""The live plot widgets, fed by a real 784-20-10 network trained on bundled MNIST images."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401  (registers pg.exporters)
import pytest
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QApplication

from s4nn_engine.config import make_settings
from s4nn_engine.datasets import DataSplits
from s4nn_engine.network import Network
from s4nn_engine.training import EpochReport, ProgressReport, SettingsChange, Trainer
from s4nn_gui.export import export_svg
from s4nn_gui.plots import AccuracyPlot, MembranePlot, RasterPlot, WeightMapPlot
from s4nn_gui.plots.common import near_square_grid, tile_shape
from s4nn_gui.plots.membrane import parse_hidden_neurons
from s4nn_gui.plots.weights import TILE_GAP, build_mosaic
from s4nn_gui.state import SessionState

N_TRAIN = 300
EPOCHS = 2
CHUNK = 100


@pytest.fixture(scope="module")
def trained(bundled_splits):
    """Train 784-20-10 for two epochs on 300 bundled images and keep every report.

    A threshold change is queued after the first progress report and a learning
    rate change after the first epoch, so the run contains two setting changes.
    """
    small = DataSplits(bundled_splits.train.subset(np.arange(N_TRAIN)),
                       bundled_splits.validation.subset(np.arange(100)),
                       bundled_splits.test.subset(np.arange(100)))
    settings = make_settings((20,), epochs=EPOCHS, seed=3, chunk_size=CHUNK)
    trainer = Trainer(settings, small)
    reports = []

    def collect(report):
        reports.append(report)
        if len(reports) == 1:
            trainer.update_settings(thresholds=(80.0, 100.0))
        if isinstance(report, EpochReport) and report.epoch == 1:
            trainer.update_settings(learning_rates=(0.1, 0.15))

    trainer.run(collect, snapshots=True)
    return {"splits": small, "settings": trainer.settings, "network": trainer.network, "reports": reports}


@pytest.fixture
def state(qtbot, trained):
    session = SessionState(trained["settings"], trained["splits"], trained["network"].copy())
    yield session
    session.deleteLater()


def _probe(state, split="test", index=3):
    state.set_probe(split, index)
    assert state.trace is not None
    return state.trace


def _events(trained, kind):
    return [report for report in trained["reports"] if isinstance(report, kind)]


def _send_mouse(widget, kind, position: QPoint, button, buttons) -> None:
    """Deliver a mouse event with explicit buttons (QTest.mouseMove cannot hold a button in Qt 6)."""
    local = QPointF(position)
    event = QMouseEvent(kind, local, QPointF(widget.mapToGlobal(position)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def _viewport_point(graphics, item, x, y) -> QPoint:
    """Map data coordinates of ``item``'s view to a pixel of the GraphicsLayoutWidget's viewport."""
    scene_point = item.mapToScene(QPointF(x, y))
    return graphics.mapFromScene(scene_point)


def _curve_y(curve) -> np.ndarray:
    """Return a curve's y data, empty when it was cleared (PlotDataItem then returns None)."""
    _, y = curve.getData()
    return np.array([]) if y is None else np.asarray(y)


def _grab_has_content(widget, path) -> bool:
    image = widget.grab().toImage()
    image.save(str(path))
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    return len(colours) > 10


# -- membrane plot -----------------------------------------------------------------------------


def test_membrane_curves_match_trace(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    trace = _probe(state)
    plot.select_hidden(1, 3)
    plot.select_hidden(1, 17)

    curves = plot.output_curves()
    assert len(curves) == 10
    for row, curve in enumerate(curves):
        x, y = curve.getData()
        assert len(y) == trace.t_max
        np.testing.assert_array_equal(x, np.arange(trace.t_max))
        np.testing.assert_array_equal(y, trace.potentials[-1][row])

    hidden = plot.hidden_curves()
    assert len(hidden) == 2
    np.testing.assert_array_equal(hidden[0].getData()[1], trace.potentials[0][3])
    np.testing.assert_array_equal(hidden[1].getData()[1], trace.potentials[0][17])
    assert hidden[1].isVisible()


def test_membrane_label_row_thicker(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    trace = _probe(state)

    widths = [curve.opts["pen"].widthF() for curve in plot.output_curves()]
    assert trace.label_row is not None
    assert widths[trace.label_row] == max(widths)
    assert widths.count(max(widths)) == 1


def test_membrane_firing_markers_at_trace_times(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    trace = _probe(state)
    # Hidden neurons whose V still changes at the firing step tell V(t − 1) from V(t).
    hidden_times = trace.times[1]
    telling = [int(j) for j in np.flatnonzero(hidden_times < trace.t_max)
               if trace.potentials[0][j, hidden_times[j]] != trace.potentials[0][j, hidden_times[j] - 1]]
    assert len(telling) >= 2
    chosen = telling[:3]
    for neuron in chosen:
        plot.select_hidden(1, neuron)

    expected = []
    for row, t in enumerate(trace.times[-1]):
        if t < trace.t_max:
            expected.append((float(t), float(trace.potentials[-1][row, t - 1])))
    for neuron in chosen:
        t = trace.times[1][neuron]
        if t < trace.t_max:
            expected.append((float(t), float(trace.potentials[0][neuron, t - 1])))
    x, y = plot.firing_markers().getData()
    assert sorted(zip(x.tolist(), y.tolist())) == sorted(expected)
    assert len(expected) > 0


def test_membrane_target_markers_at_targets(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    trace = _probe(state)

    x, y = plot.target_markers().getData()
    assert trace.targets is not None
    np.testing.assert_array_equal(x, trace.targets.astype(np.float64))
    np.testing.assert_array_equal(y, trace.thresholds[-1])


def test_membrane_current_step_truncates(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    trace = _probe(state)
    step = 40

    plot.set_current_step(step)
    for row, curve in enumerate(plot.output_curves()):
        x, y = curve.getData()
        assert len(y) == step + 1
        np.testing.assert_array_equal(y, trace.potentials[-1][row, :step + 1])
    x, _ = plot.firing_markers().getData()
    assert np.all(x <= step)
    header, rows = plot.export_table()
    assert header[-1] == f"V({step})"

    plot.set_current_step(None)
    assert all(len(curve.getData()[1]) == trace.t_max for curve in plot.output_curves())


def test_membrane_follows_probe_change(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    _probe(state, "test", 3)

    with qtbot.waitSignal(state.trace_changed):
        state.set_probe("validation", 11)
    np.testing.assert_array_equal(plot.output_curves()[0].getData()[1], state.trace.potentials[-1][0])


def test_membrane_redraws_on_refresh_while_running(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    _probe(state, "test", 3)
    before = plot.output_curves()[0].getData()[1].copy()

    state.set_training_state("running")
    state.set_probe("test", 4)
    assert plot.is_dirty
    np.testing.assert_array_equal(plot.output_curves()[0].getData()[1], before)
    plot.refresh()
    assert not plot.is_dirty
    np.testing.assert_array_equal(plot.output_curves()[0].getData()[1], state.trace.potentials[-1][0])


def test_membrane_threshold_drag_emits(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    plot.resize(800, 500)
    plot.show()
    qtbot.waitExposed(plot)
    trace = _probe(state)
    plot.set_threshold_editable(True)
    line = plot.threshold_line()
    assert line.movable
    theta = float(trace.thresholds[-1][0])
    assert line.value() == theta

    graphics = plot._graphics
    view = plot.plot_item().getViewBox()
    qtbot.waitUntil(lambda: view.viewRange()[1][0] < theta * 0.6 < theta < view.viewRange()[1][1])
    start = _viewport_point(graphics, view.childGroup, trace.t_max / 2, theta)
    end = _viewport_point(graphics, view.childGroup, trace.t_max / 2, theta * 0.6)
    viewport = graphics.viewport()
    left = Qt.MouseButton.LeftButton
    none = Qt.MouseButton.NoButton
    with qtbot.waitSignal(plot.threshold_dragged, timeout=2000) as dragged, \
            qtbot.waitSignal(plot.threshold_drag_finished, timeout=2000) as finished:
        _send_mouse(viewport, QEvent.Type.MouseButtonPress, start, left, left)
        for fraction in (0.25, 0.5, 0.75, 1.0):
            point = start + (end - start) * fraction
            _send_mouse(viewport, QEvent.Type.MouseMove, point, none, left)
        _send_mouse(viewport, QEvent.Type.MouseButtonRelease, end, left, none)
    assert dragged.args[0] < theta
    assert finished.args[0] == pytest.approx(theta * 0.6, rel=0.1)


def test_membrane_threshold_fixed_when_not_editable(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    _probe(state)
    line = plot.threshold_line()

    assert not line.movable
    with qtbot.assertNotEmitted(plot.threshold_dragged):
        line.sigDragged.emit(line)


def test_membrane_threshold_labels_on_axis(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    trace = _probe(state)
    hidden_theta = float(trace.thresholds[0][0])
    output_theta = float(trace.thresholds[-1][0])
    assert (hidden_theta, output_theta) == (80.0, 100.0)  # the fixture's run changed θ of hidden 1

    # The θ values sit on the right axis, outside the curves; the lines carry no label of their own.
    assert plot.threshold_ticks() == [(100.0, "θ out = 100")]
    assert getattr(plot.threshold_line(), "label", None) is None
    plot.select_hidden(1, 3)
    assert sorted(plot.threshold_ticks()) == [(80.0, "θ h1 = 80"), (100.0, "θ out = 100")]

    state.set_settings(state.settings)  # retrace; the ticks follow a dragged or changed line
    plot.threshold_line().setValue(80.0)
    assert plot.threshold_ticks() == [(80.0, "θ h1, out = 80")]


def test_membrane_legend_fits_beside_long_title(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    plot.resize(560, 420)
    plot.show()
    qtbot.waitExposed(plot)
    _probe(state, "validation", 7)
    plot.select_hidden(1, 3)
    assert len(plot.title_text()) > 40

    # Before the title became a shrinkable label, a long title widened the layout past the widget.
    legend = plot._legend
    qtbot.waitUntil(lambda: legend.geometry().left() > 0, timeout=5000)
    assert plot.plot_items().geometry().width() <= plot._graphics.width()
    assert legend.geometry().right() <= plot._graphics.width()
    assert plot._threshold_axis.geometry().right() <= legend.geometry().left() + 1


def test_membrane_hidden_entry_parsing(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    _probe(state)

    plot._hidden_edit.setText("3, 99, x, 1:5, 3")
    plot._hidden_edit.editingFinished.emit()
    assert plot.hidden_neurons() == [(1, 3), (1, 5)]
    assert "99" in plot._hidden_message.text()
    assert "x" in plot._hidden_message.text()
    assert len(plot.hidden_curves()) == 2


def test_parse_hidden_neurons_layers():
    selected, invalid = parse_hidden_neurons("4, 2:7, 3:1, 2:30", (10, 20))
    assert selected == [(1, 4), (2, 7)]
    assert invalid == ["3:1", "2:30"]


def test_membrane_export_table(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    trace = _probe(state)
    plot.select_hidden(1, 2)

    header, rows = plot.export_table()
    assert header[:6] == ["layer", "neuron", "class", "threshold", "firing time", "target"]
    assert len(header) == 6 + trace.t_max
    assert len(rows) == 11
    assert rows[0][:2] == ["output", 0]
    assert rows[0][4] == int(trace.times[-1][0])
    assert rows[0][5] == int(trace.targets[0])
    np.testing.assert_array_equal(rows[0][6:], trace.potentials[-1][0])
    assert rows[10][:2] == ["hidden 1", 2]
    np.testing.assert_array_equal(rows[10][6:], trace.potentials[0][2])


def test_membrane_without_probe(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)

    assert plot.export_table()[1] == []
    assert plot._message.toPlainText() != ""


def test_membrane_override_line_drawn(qtbot, state):
    plot = MembranePlot(state)
    qtbot.addWidget(plot)
    _probe(state)

    state.set_threshold_overrides({(2, 4): 60.0})
    override = plot._output_overrides[4]
    assert override.isVisible()
    assert override.getData()[1].tolist() == [60.0, 60.0]
    assert plot.threshold_line().value() == 100.0
    assert not plot._output_overrides[3].isVisible()


# -- raster plot -----------------------------------------------------------------------------------


def test_raster_point_counts_per_layer(qtbot, state):
    plot = RasterPlot(state)
    qtbot.addWidget(plot)
    trace = _probe(state)

    scatters = plot.scatter_items()
    assert len(scatters) == 3
    for layer, scatter in enumerate(scatters):
        times = trace.times[layer]
        fired = times < trace.t_max
        assert scatter.data.size == int(np.count_nonzero(fired))
        x, _ = scatter.getData()
        np.testing.assert_array_equal(np.sort(x), np.sort(times[fired].astype(np.float64)))


def test_raster_bands_stay_separate(qtbot, state):
    plot = RasterPlot(state)
    qtbot.addWidget(plot)
    _probe(state)

    bands = []
    for scatter in plot.scatter_items():
        _, y = scatter.getData()
        bands.append((y.min(), y.max()))
    assert bands[0][1] < bands[1][0]
    assert bands[1][1] < bands[2][0]


def test_raster_axis_labels(qtbot, state):
    plot = RasterPlot(state)
    qtbot.addWidget(plot)
    _probe(state)
    axes = plot.plot_items().getItem(0, 0)

    left = [text for _, text in axes.getAxis("left")._tickLevels[0]]
    assert [text.split("\n")[0] for text in left] == ["input", "hidden 1", "output"]
    right = [text for _, text in axes.getAxis("right")._tickLevels[0]]
    assert right == [str(c) for c in range(10)]


def test_raster_sort_orders_by_time(qtbot, state):
    plot = RasterPlot(state)
    qtbot.addWidget(plot)
    _probe(state)

    plot.set_sorted(True)
    for scatter in plot.scatter_items():
        x, y = scatter.getData()
        order = np.argsort(y)
        assert np.all(np.diff(x[order]) >= 0)


def test_raster_current_step_dims_late_spikes(qtbot, state):
    plot = RasterPlot(state)
    qtbot.addWidget(plot)
    _probe(state)
    hidden = plot.scatter_items()[1]
    x, _ = hidden.getData()
    step = int(np.median(x))

    plot.set_current_step(step)
    alphas = np.array([brush.color().alpha() for brush in hidden.data["brush"]])
    assert np.all(alphas[x > step] < 255)
    assert np.all(alphas[x <= step] == 255)
    assert np.any(x > step)

    plot.set_current_step(None)
    alphas = np.array([brush.color().alpha() for brush in hidden.data["brush"]])
    assert np.all(alphas == 255)


def test_raster_export_table(qtbot, state):
    plot = RasterPlot(state)
    qtbot.addWidget(plot)
    trace = _probe(state)

    header, rows = plot.export_table()
    assert header == ["layer", "neuron", "class", "firing time"]
    expected = sum(int(np.count_nonzero(times < trace.t_max)) for times in trace.times)
    assert len(rows) == expected
    output_rows = [row for row in rows if row[0] == "output"]
    for name, neuron, class_name, time in output_rows:
        assert time == trace.times[-1][neuron]
        assert class_name == str(neuron)


# -- weight map ---------------------------------------------------------------------------------------


def test_weight_tile_equals_weights(qtbot, state):
    plot = WeightMapPlot(state)
    qtbot.addWidget(plot)
    weights = state.network.layer_weights(1)
    image = plot.image_item().image

    assert image.dtype == np.float32
    assert image.flags["C_CONTIGUOUS"]
    assert plot.tile_dimensions() == (28, 28)
    for neuron in (0, 7, 19):
        x0, y0 = plot.tile_origin(neuron)
        tile = image[y0:y0 + 28, x0:x0 + 28]
        np.testing.assert_array_equal(tile, weights[neuron].reshape(28, 28).astype(np.float32))


def test_weight_levels_symmetric(qtbot, state):
    plot = WeightMapPlot(state)
    qtbot.addWidget(plot)
    limit = float(np.abs(state.network.layer_weights(1)).max())

    low, high = plot.image_item().getLevels()
    assert high == pytest.approx(limit)
    assert low == pytest.approx(-limit)
    assert plot.colour_bar().levels() == pytest.approx((-limit, limit))


def test_weight_click_emits_neuron(qtbot, state):
    plot = WeightMapPlot(state)
    qtbot.addWidget(plot)
    plot.resize(700, 600)
    plot.show()
    qtbot.waitExposed(plot)
    neuron = 13
    x0, y0 = plot.tile_origin(neuron)
    point = _viewport_point(plot._graphics, plot.image_item(), x0 + 14, y0 + 14)

    with qtbot.waitSignal(plot.neuron_clicked, timeout=2000) as clicked:
        QTest.mouseClick(plot._graphics.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert clicked.args == [neuron]
    assert plot.selected_neuron() == neuron


def test_weight_hover_shows_value(qtbot, state):
    plot = WeightMapPlot(state)
    qtbot.addWidget(plot)
    plot.resize(700, 600)
    plot.show()
    qtbot.waitExposed(plot)
    neuron = 6
    x0, y0 = plot.tile_origin(neuron)
    point = _viewport_point(plot._graphics, plot.image_item(), x0 + 10.5, y0 + 3.5)

    none = Qt.MouseButton.NoButton
    _send_mouse(plot._graphics.viewport(), QEvent.Type.MouseMove, point, none, none)
    weight = state.network.layer_weights(1)[neuron, 3 * 28 + 10]
    qtbot.waitUntil(lambda: plot._hover_label.text().startswith(f"neuron {neuron},"))
    assert plot._hover_label.text() == f"neuron {neuron}, pixel (3, 10): w = {weight:.4g}"


def test_weight_neuron_at_gap_is_none(qtbot, state):
    plot = WeightMapPlot(state)
    qtbot.addWidget(plot)

    assert plot.neuron_at(28.5, 3) is None
    assert plot.neuron_at(29.5, 3) == 1
    assert plot.neuron_at(3, 29.5) == near_square_grid(20)[1]


def test_weight_highlight_outlines(qtbot, state):
    plot = WeightMapPlot(state)
    qtbot.addWidget(plot)

    plot.set_highlighted({2, 5, 11})
    x, _ = plot._highlight_outline.getData()
    assert int(np.count_nonzero(np.isnan(x))) == 3
    assert plot.highlighted() == {2, 5, 11}


def test_weight_map_updates_live(qtbot, state, trained):
    plot = WeightMapPlot(state)
    qtbot.addWidget(plot)
    epoch_one = _events(trained, EpochReport)[0].network

    with qtbot.waitSignal(state.network_changed):
        state.set_network(epoch_one)
    x0, y0 = plot.tile_origin(4)
    tile = plot.image_item().image[y0:y0 + 28, x0:x0 + 28]
    np.testing.assert_array_equal(tile, epoch_one.layer_weights(1)[4].reshape(28, 28).astype(np.float32))


def test_weight_map_many_neurons(qtbot, trained):
    settings = make_settings((1000,), epochs=1)
    network = Network.initialise(settings.network, np.random.default_rng(0))
    session = SessionState(settings, trained["splits"], network)
    plot = WeightMapPlot(session)
    qtbot.addWidget(plot)

    rows, columns = near_square_grid(1000)
    assert (rows, columns) == (32, 32)
    image = plot.image_item().image
    assert image.shape == (rows * (28 + TILE_GAP) - TILE_GAP, columns * (28 + TILE_GAP) - TILE_GAP)
    x0, y0 = plot.tile_origin(999)
    np.testing.assert_array_equal(image[y0:y0 + 28, x0:x0 + 28],
                                  network.layer_weights(1)[999].reshape(28, 28).astype(np.float32))
    session.deleteLater()


def test_mosaic_non_square_input():
    weights = np.arange(3 * 10, dtype=np.float64).reshape(3, 10)
    tile = tile_shape(10, None)
    assert tile == (3, 4)

    mosaic = build_mosaic(weights, tile, near_square_grid(3), gap=1)
    assert mosaic.shape == (2 * 4 - 1, 2 * 5 - 1)
    np.testing.assert_array_equal(mosaic[0, :4], [0, 1, 2, 3])
    np.testing.assert_array_equal(mosaic[2, :2], [8, 9])
    assert np.isnan(mosaic[2, 2])
    np.testing.assert_array_equal(mosaic[4, :4], [20, 21, 22, 23])
    assert np.all(np.isnan(mosaic[4:, 5:]))


def test_weight_export_table(qtbot, state):
    plot = WeightMapPlot(state)
    qtbot.addWidget(plot)
    weights = state.network.layer_weights(1)

    header, rows = plot.export_table()
    assert len(header) == 1 + 784
    assert len(rows) == 20
    assert rows[5][0] == 5
    np.testing.assert_array_equal(rows[5][1:], weights[5])


def test_weight_normalised_tiles(qtbot, state):
    plot = WeightMapPlot(state)
    qtbot.addWidget(plot)
    weights = state.network.layer_weights(1)

    plot._normalise_box.setChecked(True)
    x0, y0 = plot.tile_origin(2)
    tile = plot.image_item().image[y0:y0 + 28, x0:x0 + 28]
    expected = weights[2] / np.abs(weights[2]).max()
    np.testing.assert_allclose(tile, expected.reshape(28, 28), rtol=1e-6)
    assert plot.image_item().getLevels() == pytest.approx((-1.0, 1.0))


# -- accuracy plot ---------------------------------------------------------------------------------------


def _feed_events(state, trained):
    for report in trained["reports"]:
        if isinstance(report, EpochReport):
            state.epoch_finished.emit(report)
        elif isinstance(report, SettingsChange):
            state.settings_applied.emit(report)


def test_accuracy_one_point_per_epoch(qtbot, state, trained):
    plot = AccuracyPlot(state)
    qtbot.addWidget(plot)
    _feed_events(state, trained)
    epochs = _events(trained, EpochReport)

    assert len(epochs) == EPOCHS
    for split in ("train", "validation", "test"):
        x, y = plot.accuracy_curves()[split].getData()
        np.testing.assert_array_equal(x, [1.0, 2.0])
        expected = [100 * report.record[f"{split}_accuracy"] for report in epochs]
        np.testing.assert_allclose(y, expected)
    np.testing.assert_allclose(plot.accuracy_curves()["validation"].getData()[1],
                               [100 * report.validation.accuracy for report in epochs])


def test_accuracy_marker_per_setting_change(qtbot, state, trained):
    plot = AccuracyPlot(state)
    qtbot.addWidget(plot)
    _feed_events(state, trained)
    changes = _events(trained, SettingsChange)

    assert len(changes) == 2
    markers = plot.setting_markers()
    lines = plot.marker_lines()
    assert len(markers) == 2
    assert len(lines) == 2
    expected_x = [change.epoch - 1 + change.samples_done / N_TRAIN for change in changes]
    assert [marker.x for marker in markers] == pytest.approx(expected_x)
    assert [line.value() for line in lines] == pytest.approx(expected_x)
    assert expected_x[0] == pytest.approx(CHUNK / N_TRAIN)
    assert "thresholds: [100, 100] → [80, 100]" in lines[0].toolTip()
    assert "learning_rates: [0.2, 0.2] → [0.1, 0.15]" in lines[1].toolTip()
    assert not lines[0].movable


def test_accuracy_metric_choice_switches_curves(qtbot, state, trained):
    plot = AccuracyPlot(state)
    qtbot.addWidget(plot)
    _feed_events(state, trained)
    epochs = _events(trained, EpochReport)

    for key in ("first_spike_accuracy", "reference_accuracy", "accuracy"):
        plot._metric_box.setCurrentIndex(plot._metric_box.findData(key))
        assert plot.current_metric() == key
        _, y = plot.accuracy_curves()["validation"].getData()
        np.testing.assert_allclose(y, [100 * report.record[f"validation_{key}"] for report in epochs])
    assert epochs[-1].record["validation_first_spike_accuracy"] != epochs[-1].record["validation_reference_accuracy"]
    with pytest.raises(ValueError, match="unknown accuracy"):
        plot.set_metric("top5")


def test_accuracy_running_point_position(qtbot, state, trained):
    plot = AccuracyPlot(state)
    qtbot.addWidget(plot)
    progress = _events(trained, ProgressReport)[1]

    plot.set_running(progress)
    x, y = plot.running_point().getData()
    assert x.tolist() == pytest.approx([progress.epoch - 1 + progress.samples_done / progress.samples_total])
    assert y.tolist() == pytest.approx([100 * progress.running.accuracy])


def test_accuracy_running_point_cleared_by_epoch(qtbot, state, trained):
    plot = AccuracyPlot(state)
    qtbot.addWidget(plot)
    first_epoch_progress = [p for p in _events(trained, ProgressReport) if p.epoch == 1][-1]

    plot.set_running(first_epoch_progress)
    state.epoch_finished.emit(_events(trained, EpochReport)[0])
    assert plot.running_point().getData()[0].size == 0


def test_accuracy_outcomes_per_epoch(qtbot, state, trained):
    plot = AccuracyPlot(state)
    qtbot.addWidget(plot)
    _feed_events(state, trained)
    epochs = _events(trained, EpochReport)
    curves = plot.outcome_curves()

    for name in ("clean", "tie", "silent"):
        np.testing.assert_array_equal(curves[name].getData()[1],
                                      [getattr(report.validation, name) for report in epochs])
    np.testing.assert_allclose(curves["mean decision time"].getData()[1],
                               [report.validation.mean_decision_time for report in epochs])


def test_accuracy_waits_for_refresh_while_running(qtbot, state, trained):
    plot = AccuracyPlot(state)
    qtbot.addWidget(plot)
    state.set_training_state("running")

    _feed_events(state, trained)
    assert _curve_y(plot.accuracy_curves()["train"]).size == 0
    assert len(plot.setting_markers()) == 2
    plot.refresh()
    assert len(plot.accuracy_curves()["train"].getData()[0]) == EPOCHS


def test_accuracy_load_history_and_clear(qtbot, state):
    plot = AccuracyPlot(state)
    qtbot.addWidget(plot)
    history = [
        {"epoch": 1, "train_accuracy": 0.5, "validation_accuracy": 0.6, "test_accuracy": None,
         "thresholds": [100.0, 100.0], "gamma": 3},
        {"epoch": 2, "train_accuracy": 0.7, "validation_accuracy": 0.8, "test_accuracy": None,
         "thresholds": [90.0, 100.0], "gamma": 3},
    ]

    plot.load_history(history)
    np.testing.assert_allclose(plot.accuracy_curves()["validation"].getData()[1], [60.0, 80.0])
    assert _curve_y(plot.accuracy_curves()["test"]).size == 0
    markers = plot.setting_markers()
    assert len(markers) == 1
    assert markers[0].x == 1.5
    assert markers[0].text == "thresholds: [100, 100] → [90, 100]"

    plot.clear()
    assert _curve_y(plot.accuracy_curves()["validation"]).size == 0
    assert plot.marker_lines() == []


def test_accuracy_overlays_dashed(qtbot, state):
    plot = AccuracyPlot(state)
    qtbot.addWidget(plot)
    other = [{"epoch": 1, "validation_accuracy": 0.4}, {"epoch": 2, "validation_accuracy": 0.55}]
    no_validation = [{"epoch": 1, "validation_accuracy": None, "train_accuracy": 0.3}]

    plot.set_overlays([("run A", other), ("run B", no_validation)])
    curves = plot.overlay_curves()
    assert len(curves) == 2
    np.testing.assert_allclose(curves[0].getData()[1], [40.0, 55.0])
    np.testing.assert_allclose(curves[1].getData()[1], [30.0])
    assert curves[0].opts["pen"].style() == Qt.PenStyle.DashLine
    names = [label.text for _, label in plot._accuracy_legend.items]
    assert "run A" in names

    plot.set_overlays([])
    assert plot.overlay_curves() == []


def test_accuracy_overlay_without_epochs():
    # Records of a damaged or foreign run: no "epoch", a text epoch, a value that is no number, no dict.
    # The helpers are what set_overlays and the redraw use; a widget here would only add a plot to tear down.
    from s4nn_gui.plots.accuracy import _numbered_records, _overlay_series

    records = [{"validation_accuracy": 0.4}, {"epoch": "two", "validation_accuracy": 0.5},
               "not a record", {"epoch": 4, "validation_accuracy": "high"}]
    epochs, values = _overlay_series(_numbered_records(records), "accuracy")
    assert epochs == [1, 2, 4]
    assert values == [0.4, 0.5, None]


def test_accuracy_export_table(qtbot, state, trained):
    plot = AccuracyPlot(state)
    qtbot.addWidget(plot)
    _feed_events(state, trained)

    header, rows = plot.export_table()
    assert header[:5] == ["x (epochs)", "kind", "train accuracy (%)", "validation accuracy (%)",
                          "test accuracy (%)"]
    kinds = [row[1] for row in rows]
    assert kinds.count("epoch") == EPOCHS
    assert kinds.count("setting change") == 2
    epoch_two = [row for row in rows if row[1] == "epoch"][1]
    record = _events(trained, EpochReport)[1].record
    assert epoch_two[3] == pytest.approx(100 * record["validation_accuracy"])
    assert epoch_two[6] == record["validation_clean"]
    xs = [float(row[0]) for row in rows]
    assert xs == sorted(xs)


# -- all plots -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("plot_class", [MembranePlot, RasterPlot, WeightMapPlot, AccuracyPlot])
def test_plot_grab_and_export(qtbot, state, trained, tmp_path, plot_class):
    plot = plot_class(state)
    qtbot.addWidget(plot)
    plot.resize(800, 500)
    _probe(state)
    if plot_class is AccuracyPlot:
        _feed_events(state, trained)
    if plot_class is MembranePlot:
        plot.select_hidden(1, 2)

    assert _grab_has_content(plot, tmp_path / "grab.png")
    assert plot.toolTip()
    exporter = pg.exporters.ImageExporter(plot.plot_items())
    exporter.parameters()["width"] = 600
    exporter.export(str(tmp_path / "export.png"))
    assert (tmp_path / "export.png").stat().st_size > 1000


def test_plot_svg_export(qtbot, state, tmp_path):
    # pyqtgraph 0.14.0's SVGExporter fails on Qt 6.11's closed paths, so export_svg
    # falls back to QSvgGenerator; either way the file must be a real drawing.
    plot = RasterPlot(state)
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    _probe(state)

    path = export_svg(plot, tmp_path / "export.svg")
    text = path.read_text()
    assert "<svg" in text
    assert "<path" in text or "<polyline" in text
