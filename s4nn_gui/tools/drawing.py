"""Drawing pad: draw a digit with the mouse and watch the network read it.

Strokes are kept in a fixed 280 × 280 canvas space, whatever the widget's size,
and turned into a 28 × 28 image the way MNIST digits were made
(``s4nn_engine.drawing``). The image becomes the probe of every view at the
end of each stroke and every 100 ms while drawing.
"""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QPainter, QPainterPath, QPen
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSpinBox, QVBoxLayout, QWidget

from s4nn_engine.drawing import IMAGE_SIZE, mnist_style_image, render_strokes
from s4nn_gui.tools.common import ToolView, read_out, row_class_name

logger = logging.getLogger(__name__)

CANVAS_SIZE = 280
DEFAULT_PEN_WIDTH = 26
UPDATE_INTERVAL_MS = 100

PAD_TOOLTIP = (
    "Draw a digit with the mouse (white on black, like MNIST). It is scaled to a 20 × 20 box, centred "
    "by its centre of mass in 28 × 28 pixels and given to the network as the probe sample."
)
PREVIEW_TOOLTIP = "What the network sees: the drawing as a 28 × 28 MNIST-style image."
PEN_TOOLTIP = "Pen diameter, in pixels of the 280 × 280 pad."


class DrawingPad(QWidget):
    """A square pad that records mouse strokes in 280 × 280 canvas coordinates.

    Signals
    -------
    stroke_started()
        The mouse button went down on the pad.
    stroke_finished()
        The mouse button was released; the stroke is complete.
    """

    stroke_started = pyqtSignal()
    stroke_finished = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._strokes: list[list[tuple[float, float]]] = []
        self._drawing = False
        self._pen_width = float(DEFAULT_PEN_WIDTH)
        self._revision = 0
        self.setMinimumSize(140, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip(PAD_TOOLTIP)

    # -- public interface --------------------------------------------------------------------

    def strokes(self) -> list[list[tuple[float, float]]]:
        """Return the strokes as lists of (x, y) points in canvas pixels (0 … 280)."""
        return [list(stroke) for stroke in self._strokes]

    def set_strokes(self, strokes) -> None:
        self._strokes = [[(float(x), float(y)) for x, y in stroke] for stroke in strokes]
        self._revision += 1
        self.update()

    def clear(self) -> None:
        self.set_strokes([])

    def is_drawing(self) -> bool:
        return self._drawing

    def revision(self) -> int:
        """Return a counter that grows with every change of the strokes."""
        return self._revision

    def pen_width(self) -> float:
        return self._pen_width

    def set_pen_width(self, width: float) -> None:
        self._pen_width = float(width)
        self._revision += 1
        self.update()

    # -- geometry ----------------------------------------------------------------------------------

    def _canvas_rect(self) -> QRectF:
        side = min(self.width(), self.height())
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def _to_canvas(self, position: QPointF) -> tuple[float, float]:
        rect = self._canvas_rect()
        scale = CANVAS_SIZE / rect.width()
        x = (position.x() - rect.left()) * scale
        y = (position.y() - rect.top()) * scale
        return float(np.clip(x, 0, CANVAS_SIZE)), float(np.clip(y, 0, CANVAS_SIZE))

    # -- events ----------------------------------------------------------------------------------------

    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self._drawing = True
        self._strokes.append([self._to_canvas(event.position())])
        self._revision += 1
        self.stroke_started.emit()
        self.update()

    def mouseMoveEvent(self, event) -> None:
        if not self._drawing:
            return
        point = self._to_canvas(event.position())
        last = self._strokes[-1][-1]
        if abs(point[0] - last[0]) + abs(point[1] - last[1]) < 1.0:
            return
        self._strokes[-1].append(point)
        self._revision += 1
        self.update()

    def mouseReleaseEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self._drawing:
            return
        self._drawing = False
        self.stroke_finished.emit()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("#202020"))
        rect = self._canvas_rect()
        painter.fillRect(rect, QColor("#000000"))
        scale = rect.width() / CANVAS_SIZE
        pen = QPen(QColor("#ffffff"), self._pen_width * scale, Qt.PenStyle.SolidLine,
                   Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        for stroke in self._strokes:
            points = [QPointF(rect.left() + x * scale, rect.top() + y * scale) for x, y in stroke]
            if len(points) == 1:
                painter.drawPoint(points[0])
                continue
            path = QPainterPath(points[0])
            for point in points[1:]:
                path.lineTo(point)
            painter.drawPath(path)
        painter.end()


class DrawingView(ToolView):
    """The drawing pad, its 28 × 28 result and the network's decision on it."""

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._image = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
        self._sent_revision = -1
        self._build()

        self._timer = QTimer(self)
        self._timer.setInterval(UPDATE_INTERVAL_MS)
        self._timer.timeout.connect(self._send_if_changed)
        self._pad.stroke_started.connect(self._timer.start)
        self._pad.stroke_finished.connect(self._on_stroke_finished)

        state.trace_changed.connect(self._mark_dirty)
        state.probe_changed.connect(self._mark_dirty)

    def _build(self) -> None:
        self._pad = DrawingPad()
        self._clear_button = QPushButton("Clear")
        self._clear_button.setToolTip("Erase the drawing.")
        self._clear_button.clicked.connect(self.clear)
        self._pen_box = QSpinBox()
        self._pen_box.setRange(6, 60)
        self._pen_box.setValue(DEFAULT_PEN_WIDTH)
        self._pen_box.setSuffix(" px")
        self._pen_box.setToolTip(PEN_TOOLTIP)
        self._pen_box.valueChanged.connect(self._on_pen_changed)

        self._preview = pg.GraphicsLayoutWidget()
        self._preview.setFixedSize(140, 140)
        self._preview.setToolTip(PREVIEW_TOOLTIP)
        view = self._preview.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        view.setMenuEnabled(False)
        self._preview_image = pg.ImageItem(axisOrder="row-major")
        view.addItem(self._preview_image)
        self._preview_image.setImage(self._image.astype(np.float32), levels=(0, 255), autoLevels=False)

        self._decision = QLabel("Draw a digit.")
        self._decision.setWordWrap(True)
        self._decision.setToolTip("The network's readout of the drawing (see the inspector for why).")

        side = QVBoxLayout()
        side.addWidget(QLabel("network input:"))
        side.addWidget(self._preview)
        side.addWidget(self._decision)
        pen_row = QHBoxLayout()
        pen_row.addWidget(QLabel("pen:"))
        pen_row.addWidget(self._pen_box)
        side.addLayout(pen_row)
        side.addWidget(self._clear_button)
        side.addStretch(1)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._pad, 1)
        layout.addLayout(side)

    # -- public interface -----------------------------------------------------------------------

    def pad(self) -> DrawingPad:
        return self._pad

    def image(self) -> np.ndarray:
        """Return the last 28 × 28 image made from the drawing."""
        return self._image.copy()

    def clear(self) -> None:
        """Erase the drawing; when the drawing is the probe, the probe becomes a blank image."""
        self._pad.clear()
        probe = self._state.probe
        if probe is not None and probe.split == "drawing":
            self._send_if_changed()

    def decision_text(self) -> str:
        return self._decision.text()

    # -- events --------------------------------------------------------------------------------------

    def hideEvent(self, event) -> None:
        self._timer.stop()
        super().hideEvent(event)

    def _on_pen_changed(self, width: int) -> None:
        self._pad.set_pen_width(width)
        if self._pad.strokes():
            self._send_if_changed()

    def _on_stroke_finished(self) -> None:
        self._timer.stop()
        self._send_if_changed()

    def _send_if_changed(self) -> None:
        revision = self._pad.revision()
        if revision == self._sent_revision:
            return
        self._sent_revision = revision
        canvas = render_strokes(self._pad.strokes(), (CANVAS_SIZE, CANVAS_SIZE), self._pad.pen_width())
        self._image = mnist_style_image(canvas)
        self._preview_image.setImage(self._image.astype(np.float32), levels=(0, 255), autoLevels=False)
        expected = self._state.network.layer_sizes[0]
        if expected != self._image.size:
            self._decision.setText(f"The network has {expected} inputs, but a drawing has {self._image.size} "
                                   "pixels (28 × 28); load a 28 × 28 dataset to use the pad.")
            return
        self._state.set_drawing_probe(self._image)

    def _redraw(self) -> None:
        probe = self._state.probe
        trace = self._state.trace
        if probe is None or probe.split != "drawing" or trace is None:
            if self._pad.strokes():
                self._decision.setText("Another sample is the probe; draw to make the drawing the probe again.")
            return
        if not np.any(probe.image):
            self._decision.setText("Draw a digit.")
            return
        readout = read_out(trace)
        name = row_class_name(self._state.network, readout.winner_row)
        when = ("no output fired" if readout.outcome_name == "silent"
                else f"first output spike at τ = {readout.decision_time}")
        self._decision.setText(f"Decision: {name} ({readout.outcome_name}, {when}).")
