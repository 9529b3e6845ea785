"""Time scrubber: replay the probe sample step by step, from the first input spike to t_max.

At step s an input pixel is lit when its spike time t_i ≤ s, a hidden neuron when
its firing time t_j ≤ s, and each output's bar shows V(s) / θ, lit once it has
fired. Neurons with t = t_max never fire and stay dark.
"""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QSpinBox, QStyle,
                             QToolButton, QVBoxLayout, QWidget)

from s4nn_gui.plots.common import class_colour, tile_shape
from s4nn_gui.tools.common import ToolView, row_class_name

logger = logging.getLogger(__name__)

SPEEDS = (8, 16, 32, 64, 128, 256)  # time steps per second
DEFAULT_SPEED = 32
FRAME_INTERVAL_MS = 33
JUST_FIRED_COLOUR = np.array([255, 150, 40], dtype=np.float32)
FIRED_COLOUR = np.array([235, 200, 90], dtype=np.float32)
PENDING_COLOUR = np.array([45, 45, 55], dtype=np.float32)

SCRUBBER_TOOLTIP = (
    "Replay the probe sample in time. Inputs light up when they spike (brighter pixels spike "
    "earlier), hidden neurons when they fire, and the output bars show each output's potential "
    "as a share of its threshold: an output fires one step after its bar passes 1."
)
SLIDER_TOOLTIP = "Time step s shown by the scrubber (0 … t_max)."
PLAY_TOOLTIP = "Play or pause the replay."
SPEED_TOOLTIP = "Replay speed, in time steps per second."
FOLLOW_TOOLTIP = "Also draw the membrane potentials and the raster only up to the scrubber's step."
OUTPUTS_TOOLTIP = (
    "Race of the outputs: bar height is V(s) / θ of each output neuron. A bar turns bright once its "
    "neuron has fired; the first to fire decides the class."
)


class ScrubberView(ToolView):
    """Slider and play button over time steps 0 … t_max for the probe sample.

    Signals
    -------
    step_changed(object)
        The step the plots should draw up to, or None when the scrubber is
        hidden or off screen (another tab of its dock is raised), at t_max, or
        "cut the plots" is off. The plots then show every step.
    """

    step_changed = pyqtSignal(object)

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._step = state.network.t_max
        self._on_screen = True
        self._steps_per_frame = 1
        self._lit_inputs = np.zeros(0, dtype=bool)
        self._lit_hidden = np.zeros(0, dtype=bool)
        self._input_rgb = np.zeros((1, 1, 3), dtype=np.uint8)
        self._bar_heights = np.zeros(0)
        self._bar_rows: list[int] = []
        self._y_range: tuple[float, float] | None = None
        self._trace_for_range = None
        self._build()
        self.setToolTip(SCRUBBER_TOOLTIP)

        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_INTERVAL_MS)
        self._timer.timeout.connect(self._advance)
        self._set_speed(DEFAULT_SPEED)

        state.trace_changed.connect(self._mark_dirty)
        state.network_changed.connect(self._on_network_changed)

    # -- construction -------------------------------------------------------------------

    def _build(self) -> None:
        t_max = self._state.network.t_max
        self._play_button = QToolButton()
        self._play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self._play_button.setCheckable(True)
        self._play_button.setToolTip(PLAY_TOOLTIP)
        self._play_button.toggled.connect(self._on_play_toggled)
        self._start_button = QToolButton()
        self._start_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaSkipBackward))
        self._start_button.setToolTip("Go back to step 0.")
        self._start_button.clicked.connect(lambda: self.set_step(0))
        self._slider = QSlider(Qt.Orientation.Horizontal)
        self._slider.setRange(0, t_max)
        self._slider.setValue(self._step)
        self._slider.setToolTip(SLIDER_TOOLTIP)
        self._slider.valueChanged.connect(self.set_step)
        self._spin = QSpinBox()
        self._spin.setRange(0, t_max)
        self._spin.setValue(self._step)
        self._spin.setToolTip(SLIDER_TOOLTIP)
        self._spin.valueChanged.connect(self.set_step)
        self._speed_box = QComboBox()
        self._speed_box.addItems([f"{speed} steps/s" for speed in SPEEDS])
        self._speed_box.setCurrentIndex(SPEEDS.index(DEFAULT_SPEED))
        self._speed_box.setToolTip(SPEED_TOOLTIP)
        self._speed_box.currentIndexChanged.connect(lambda index: self._set_speed(SPEEDS[index]))
        self._follow_box = QCheckBox("cut the plots at this step")
        self._follow_box.setChecked(True)
        self._follow_box.setToolTip(FOLLOW_TOOLTIP)
        self._follow_box.toggled.connect(lambda _checked: self._emit_step())
        self._layer_box = QComboBox()
        self._layer_box.setToolTip("Hidden layer shown in the grid.")
        self._layer_box.currentIndexChanged.connect(self._mark_dirty)

        controls = QHBoxLayout()
        controls.addWidget(self._start_button)
        controls.addWidget(self._play_button)
        controls.addWidget(self._slider, 1)
        controls.addWidget(self._spin)
        controls.addWidget(self._speed_box)
        options = QHBoxLayout()
        options.addWidget(self._follow_box)
        options.addWidget(self._layer_box)
        options.addStretch(1)

        self._status = QLabel()
        self._status.setWordWrap(True)

        self._graphics = pg.GraphicsLayoutWidget()
        layout = self._graphics.ci
        layout.addLabel("input spikes so far", row=0, col=0, size="9pt")
        self._hidden_title = layout.addLabel("hidden neurons fired", row=0, col=1, size="9pt")
        layout.addLabel("outputs: V(s) / θ", row=0, col=2, size="9pt")
        self._input_view = layout.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMouse=False)
        self._input_image = pg.ImageItem(axisOrder="row-major")
        self._input_view.addItem(self._input_image)
        self._hidden_view = layout.addViewBox(row=1, col=1, lockAspect=True, invertY=True, enableMouse=False)
        self._hidden_image = pg.ImageItem(axisOrder="row-major")
        self._hidden_view.addItem(self._hidden_image)
        for view in (self._input_view, self._hidden_view):
            view.setMenuEnabled(False)
        self._bars_plot = layout.addPlot(row=1, col=2)
        self._bars_plot.setMenuEnabled(False)
        self._bars_plot.setMouseEnabled(x=False, y=False)
        self._bars_plot.hideButtons()
        self._bars_plot.getViewBox().setToolTip(OUTPUTS_TOOLTIP)
        self._bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self._bars_plot.addItem(self._bars)
        self._threshold_line = pg.InfiniteLine(pos=1.0, angle=0, movable=False,
                                               pen=pg.mkPen("#f0f0f0", style=Qt.PenStyle.DashLine),
                                               label="θ", labelOpts={"position": 0.95})
        self._bars_plot.addItem(self._threshold_line)
        layout.layout.setRowStretchFactor(0, 0)
        layout.layout.setRowStretchFactor(1, 1)
        layout.layout.setColumnStretchFactor(2, 2)
        self._input_image.setToolTip("Input pixels that have spiked by step s; orange ones spike at s.")
        self._hidden_image.setToolTip("Hidden neurons, one cell each: bright once fired, orange at the step "
                                      "they fire, dark grey while they have not fired yet.")

        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        box.addLayout(controls)
        box.addLayout(options)
        box.addWidget(self._status)
        box.addWidget(self._graphics, 1)

    # -- public interface -----------------------------------------------------------------

    def step(self) -> int:
        return self._step

    def set_step(self, step: int) -> None:
        """Show time step ``step`` (clipped to 0 … t_max)."""
        step = int(np.clip(step, 0, self._state.network.t_max))
        if step == self._step and not self._dirty:
            return
        self._step = step
        for control in (self._slider, self._spin):
            if control.value() != step:
                control.blockSignals(True)
                control.setValue(step)
                control.blockSignals(False)
        self._dirty = True
        self.refresh()
        self._emit_step()

    def play(self) -> None:
        """Start the replay from the current step (from 0 when it is at the end)."""
        self._play_button.setChecked(True)

    def pause(self) -> None:
        self._play_button.setChecked(False)

    def is_playing(self) -> bool:
        return self._timer.isActive()

    def set_on_screen(self, on_screen: bool) -> None:
        """Tell the scrubber whether the user sees it; connect its dock's ``visibilityChanged``.

        A dock in a tab group stays "visible" to Qt while another tab is raised,
        so hide events alone miss the user leaving the scrubber's tab. Off screen,
        the replay pauses and the plots show every step again; back on screen,
        they are cut at the scrubber's step again.
        """
        on_screen = bool(on_screen)
        if on_screen == self._on_screen:
            return
        self._on_screen = on_screen
        if not on_screen:
            self.pause()
        self._emit_step()

    def is_on_screen(self) -> bool:
        return self._on_screen and self.isVisible()

    def set_speed(self, steps_per_second: int) -> None:
        """Replay at one of ``SPEEDS`` time steps per second."""
        self._speed_box.setCurrentIndex(SPEEDS.index(int(steps_per_second)))

    def lit_inputs(self) -> np.ndarray:
        """Return the flat bool mask of input pixels shown lit at the current step (t_i ≤ s and t_i < t_max)."""
        return self._lit_inputs.copy()

    def lit_hidden(self) -> np.ndarray:
        """Return the bool mask of the shown hidden layer's neurons that fired by the current step."""
        return self._lit_hidden.copy()

    def input_image(self) -> np.ndarray:
        """Return the RGB uint8 image drawn for the inputs at the current step."""
        return self._input_rgb.copy()

    def output_bars(self) -> dict[int, float]:
        """Return V(s) / θ of each output row, as drawn."""
        return {row: float(height) for row, height in zip(self._bar_rows, self._bar_heights)}

    def plot_items(self) -> pg.GraphicsLayout:
        return self._graphics.ci

    def export_table(self) -> tuple[list[str], list[list]]:
        network = self._state.network
        rows = [[row_class_name(network, row), float(height)] for row, height in zip(self._bar_rows,
                                                                                       self._bar_heights)]
        return ["output class", f"V({self._step}) / θ"], rows

    # -- events ----------------------------------------------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._emit_step()

    def hideEvent(self, event) -> None:
        self.pause()
        super().hideEvent(event)
        self.step_changed.emit(None)

    def closeEvent(self, event) -> None:
        self.pause()
        super().closeEvent(event)

    def _emit_step(self) -> None:
        # At t_max every spike has happened, so the plots may as well show everything.
        follow = (self._follow_box.isChecked() and self._on_screen and self.isVisible()
                  and self._step < self._state.network.t_max)
        self.step_changed.emit(self._step if follow else None)

    def _set_speed(self, steps_per_second: int) -> None:
        # Slow speeds advance one step per tick; fast ones tick at the frame rate and skip steps.
        if steps_per_second * FRAME_INTERVAL_MS < 1000:
            self._steps_per_frame = 1
            self._timer.setInterval(round(1000 / steps_per_second))
        else:
            self._steps_per_frame = round(steps_per_second * FRAME_INTERVAL_MS / 1000)
            self._timer.setInterval(FRAME_INTERVAL_MS)

    def _on_play_toggled(self, playing: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self._play_button.setIcon(self.style().standardIcon(icon))
        if playing:
            if self._step >= self._state.network.t_max:
                self.set_step(0)
            self._timer.start()
        else:
            self._timer.stop()

    def _advance(self) -> None:
        t_max = self._state.network.t_max
        self.set_step(min(self._step + self._steps_per_frame, t_max))
        if self._step >= t_max:
            self.pause()

    def _on_network_changed(self, network) -> None:
        t_max = network.t_max
        if self._slider.maximum() != t_max:
            for control in (self._slider, self._spin):
                control.blockSignals(True)
                control.setRange(0, t_max)
                control.blockSignals(False)
            self.set_step(min(self._step, t_max))
        self._mark_dirty()

    # -- drawing ----------------------------------------------------------------------------------

    def _redraw(self) -> None:
        trace = self._state.trace
        network = self._state.network
        if trace is None or len(trace.times) != len(network.layer_sizes):
            self._status.setText("Choose a probe sample to replay it.")
            return
        step = min(self._step, trace.t_max)
        t_max = trace.t_max
        self._update_layer_box(len(trace.times) - 2)

        input_times = np.asarray(trace.times[0], dtype=np.int64)
        self._lit_inputs = (input_times <= step) & (input_times < t_max)
        image = self._state.probe.image if self._state.probe is not None else None
        shape = tile_shape(input_times.size, None if image is None else image.shape)
        if image is not None and image.size == input_times.size:
            intensity = np.asarray(image, dtype=np.float32).ravel()
        else:
            intensity = np.full(input_times.size, 255.0, dtype=np.float32)
        rgb = np.repeat(np.where(self._lit_inputs, intensity, 0.0)[:, None], 3, axis=1)
        just = self._lit_inputs & (input_times == step)
        rgb[just] = JUST_FIRED_COLOUR * (0.4 + 0.6 * intensity[just, None] / 255.0)
        self._input_rgb = np.ascontiguousarray(rgb.reshape(*shape, 3).astype(np.uint8))
        self._input_image.setImage(self._input_rgb, levels=(0, 255), autoLevels=False)

        hidden_layers = len(trace.times) - 2
        fired_hidden = 0
        if hidden_layers > 0:
            layer = self._layer_box.currentIndex() + 1 if self._layer_box.currentIndex() >= 0 else 1
            times = np.asarray(trace.times[layer], dtype=np.int64)
            self._lit_hidden = (times <= step) & (times < t_max)
            fired_hidden = int(self._lit_hidden.sum())
            self._hidden_image.setImage(_hidden_grid(times, step, t_max), levels=(0, 255), autoLevels=False)
            self._hidden_view.setVisible(True)
            self._hidden_title.setText(f"hidden layer {layer}: fired by s" if hidden_layers > 1
                                       else "hidden neurons fired by s", size="9pt")
        else:
            self._lit_hidden = np.zeros(0, dtype=bool)
            self._hidden_image.clear()
            self._hidden_view.setVisible(False)
            self._hidden_title.setText("", size="9pt")

        fired_outputs = self._draw_outputs(trace, network, step)
        parts = [f"step {step} of {t_max}: {int(self._lit_inputs.sum())} of "
                 f"{int(np.count_nonzero(input_times < t_max))} input spikes"]
        if hidden_layers > 0:
            parts.append(f"{fired_hidden} of {self._lit_hidden.size} hidden neurons fired")
        parts.append(("outputs fired: " + fired_outputs) if fired_outputs else "no output has fired yet")
        self._status.setText(", ".join(parts) + ".")

    def _update_layer_box(self, hidden_layers: int) -> None:
        if self._layer_box.count() == hidden_layers:
            return
        self._layer_box.blockSignals(True)
        self._layer_box.clear()
        self._layer_box.addItems([f"hidden layer {layer}" for layer in range(1, hidden_layers + 1)])
        self._layer_box.blockSignals(False)
        self._layer_box.setVisible(hidden_layers > 1)

    def _draw_outputs(self, trace, network, step: int) -> str:
        t_max = trace.t_max
        potentials = trace.potentials[-1]
        thresholds = np.asarray(trace.thresholds[-1], dtype=np.float64)
        times = np.asarray(trace.times[-1], dtype=np.int64)
        rows = sorted(range(times.size), key=lambda row: int(network.row_classes[row]))
        column = min(step, t_max - 1)  # V(k) exists for k = 0 … t_max − 1
        heights = potentials[rows, column] / thresholds[rows]
        self._bar_rows = rows
        self._bar_heights = heights

        brushes, pens = [], []
        for row in rows:
            colour = QColor(class_colour(int(network.row_classes[row])))
            fired = times[row] <= step and times[row] < t_max
            if not fired:
                colour.setAlpha(70)
            brushes.append(pg.mkBrush(colour))
            pens.append(pg.mkPen("#ffffff", width=2) if fired else pg.mkPen(None))
        positions = np.arange(len(rows), dtype=np.float64)
        self._bars.setOpts(x=positions, height=heights, width=0.7, brushes=brushes, pens=pens)
        self._bars_plot.getAxis("bottom").setTicks([[(i, row_class_name(network, row)) for i, row in enumerate(rows)]])

        if self._trace_for_range is not trace:
            ratios = potentials / thresholds[:, None]
            low = min(0.0, float(ratios.min()))
            high = max(1.25, min(float(ratios.max()), 4.0) * 1.05)
            self._y_range = (low, high)
            self._trace_for_range = trace
        self._bars_plot.setYRange(*self._y_range, padding=0)
        self._bars_plot.setXRange(-0.6, len(rows) - 0.4, padding=0)

        fired_rows = [row for row in rows if times[row] <= step and times[row] < t_max]
        fired_rows.sort(key=lambda row: times[row])
        return ", ".join(f"{row_class_name(network, row)} (t = {int(times[row])})" for row in fired_rows)


def _hidden_grid(times: np.ndarray, step: int, t_max: int) -> np.ndarray:
    """Colour hidden neurons: pending (fires later) dark grey, fired bright, firing at ``step`` orange, silent black."""
    colours = np.zeros((times.size, 3), dtype=np.float32)
    colours[(times > step) & (times < t_max)] = PENDING_COLOUR
    colours[(times < step)] = FIRED_COLOUR
    colours[times == step] = JUST_FIRED_COLOUR
    colours[times >= t_max] = 0.0
    columns = int(np.ceil(np.sqrt(times.size)))
    rows = int(np.ceil(times.size / columns))
    grid = np.full((rows * columns, 3), 20.0, dtype=np.float32)
    grid[:times.size] = colours
    return np.ascontiguousarray(grid.reshape(rows, columns, 3).astype(np.uint8))
