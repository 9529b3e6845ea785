"""Confusion matrix of the validation or test split, with a gallery of the samples in a cell."""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QIcon, QImage, QPixmap
from PyQt6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem,
                             QPushButton, QSplitter, QVBoxLayout, QWidget)

from s4nn_engine.metrics import OUTCOME_NAMES
from s4nn_gui.tools.common import SPLITS, ResultsCache, SplitResults, ToolView

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
THUMBNAIL_SIZE = 56

MATRIX_TOOLTIP = (
    "Confusion matrix: row = true class, column = decided class, each cell the number of samples. "
    "Colours use a logarithmic scale so that rare confusions show. Click a cell to see its samples."
)
GALLERY_TOOLTIP = "Samples of the chosen cell. Click one to make it the probe sample of every view."
SPLIT_TOOLTIP = "Split whose samples the matrix counts, decided by the current network."


class ConfusionView(ToolView):
    """Counts of (true class, decided class) for a split, and a gallery of the samples in a chosen cell.

    Results come from the shared :class:`ResultsCache`: the newest epoch report
    while training runs, otherwise an evaluation of the current network.

    Signals
    -------
    cell_chosen(int, int)
        The user clicked cell (true class, decided class).
    """

    cell_chosen = pyqtSignal(int, int)

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._cache = ResultsCache.of(state)
        self._entry: SplitResults | None = None
        self._matrix = np.zeros((0, 0), dtype=np.int64)
        self._cell: tuple[int, int] | None = None
        self._cell_indices = np.zeros(0, dtype=np.int64)
        self._page = 0
        self._texts: list[pg.TextItem] = []
        self._class_names: tuple[str, ...] = ()
        self._build()
        self.setToolTip(MATRIX_TOOLTIP)

        self._cache.updated.connect(self._on_results_updated)
        state.network_changed.connect(self._mark_dirty)

    # -- construction ------------------------------------------------------------------

    def _build(self) -> None:
        self._split_box = QComboBox()
        self._split_box.addItems(SPLITS)
        self._split_box.setToolTip(SPLIT_TOOLTIP)
        self._split_box.currentTextChanged.connect(self._on_split_changed)
        self._source = QLabel()
        self._source.setToolTip("What the matrix was computed from.")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("split:"))
        controls.addWidget(self._split_box)
        controls.addWidget(self._source, 1)

        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.setToolTip(MATRIX_TOOLTIP)
        plot = self._graphics.addPlot()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.invertY(True)
        plot.setAspectLocked(True)
        plot.setLabel("bottom", "decided class")
        plot.setLabel("left", "true class")
        self._plot = plot
        self._image = pg.ImageItem(axisOrder="row-major")
        self._image.setColorMap(pg.colormap.get("viridis"))
        plot.addItem(self._image)
        self._highlight = pg.QtWidgets.QGraphicsRectItem(0, 0, 1, 1)
        self._highlight.setPen(pg.mkPen("#ff4040", width=3))
        self._highlight.setVisible(False)
        plot.addItem(self._highlight)
        self._graphics.scene().sigMouseClicked.connect(self._on_scene_clicked)

        self._gallery_title = QLabel("Click a cell to list its samples.")
        self._gallery_title.setWordWrap(True)
        self._gallery = QListWidget()
        self._gallery.setViewMode(QListView.ViewMode.IconMode)
        self._gallery.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self._gallery.setResizeMode(QListView.ResizeMode.Adjust)
        self._gallery.setMovement(QListView.Movement.Static)
        self._gallery.setSpacing(2)
        self._gallery.setUniformItemSizes(True)
        self._gallery.setToolTip(GALLERY_TOOLTIP)
        self._gallery.itemClicked.connect(self._on_thumbnail_clicked)
        self._previous = QPushButton("◀ previous")
        self._previous.setToolTip(f"Show the previous {PAGE_SIZE} samples of the cell.")
        self._previous.clicked.connect(lambda: self._show_page(self._page - 1))
        self._more = QPushButton("more ▶")
        self._more.setToolTip(f"Show the next {PAGE_SIZE} samples of the cell.")
        self._more.clicked.connect(lambda: self._show_page(self._page + 1))
        pager = QHBoxLayout()
        pager.addWidget(self._previous)
        pager.addStretch(1)
        pager.addWidget(self._more)

        gallery_box = QWidget()
        gallery_layout = QVBoxLayout(gallery_box)
        gallery_layout.setContentsMargins(0, 0, 0, 0)
        gallery_layout.addWidget(self._gallery_title)
        gallery_layout.addWidget(self._gallery, 1)
        gallery_layout.addLayout(pager)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._graphics)
        splitter.addWidget(gallery_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(splitter, 1)
        self._update_pager()

    # -- public interface ---------------------------------------------------------------

    def set_split(self, split: str) -> None:
        """Count the "validation" or "test" split."""
        self._split_box.setCurrentText(split)

    def split(self) -> str:
        return self._split_box.currentText()

    def matrix(self) -> np.ndarray:
        """Return the shown counts, ``[true class, decided class]``."""
        return self._matrix.copy()

    def results(self) -> SplitResults | None:
        return self._entry

    def open_cell(self, true_class: int, decided_class: int) -> None:
        """List the samples of cell (true class, decided class) in the gallery, first page."""
        if self._entry is None:
            return
        n_classes = self._matrix.shape[0]
        if not (0 <= true_class < n_classes and 0 <= decided_class < n_classes):
            return
        results = self._entry.results
        self._cell = (int(true_class), int(decided_class))
        self._cell_indices = np.flatnonzero((results.labels == true_class) & (results.predictions == decided_class))
        self._highlight.setRect(decided_class - 0.5, true_class - 0.5, 1, 1)
        self._highlight.setVisible(True)
        self.cell_chosen.emit(int(true_class), int(decided_class))
        self._show_page(0)

    def cell_indices(self) -> np.ndarray:
        """Return the split indices of the samples in the open cell."""
        return self._cell_indices.copy()

    def gallery_indices(self) -> list[int]:
        """Return the split indices of the thumbnails on the current page."""
        return [self._gallery.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self._gallery.count())]

    def gallery(self) -> QListWidget:
        return self._gallery

    def cell_centre(self, true_class: int, decided_class: int):
        """Return the plot's scene position of a cell's centre (for tests and automation)."""
        return self._plot.getViewBox().mapViewToScene(pg.Point(decided_class, true_class))

    def graphics(self) -> pg.GraphicsLayoutWidget:
        return self._graphics

    def plot_items(self) -> pg.GraphicsLayout:
        """Return the GraphicsLayout of the matrix, for pyqtgraph's exporters."""
        return self._graphics.ci

    def export_table(self) -> tuple[list[str], list[list]]:
        names = list(self._class_names)
        header = ["true \\ decided", *names]
        return header, [[names[row], *self._matrix[row].tolist()] for row in range(self._matrix.shape[0])]

    # -- drawing ----------------------------------------------------------------------------

    def _on_split_changed(self, _split: str) -> None:
        self._close_cell()
        self._mark_dirty()

    def _on_results_updated(self, split: str) -> None:
        if split == self.split():
            self._mark_dirty()

    def _redraw(self) -> None:
        split = self.split()
        entry = self._cache.get(split)
        network = self._state.network
        n_classes = len(network.class_names)
        if entry is None:
            self._entry = None
            self._matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
            self._source.setText(f"The dataset has no {split} split.")
        else:
            self._entry = entry
            results = entry.results
            n_classes = max(n_classes, int(results.labels.max(initial=0)) + 1,
                            int(results.predictions.max(initial=0)) + 1)
            matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
            np.add.at(matrix, (results.labels, results.predictions), 1)
            self._matrix = matrix
            accuracy = np.trace(matrix) / max(matrix.sum(), 1)
            timing = f", evaluated in {entry.seconds:.2f} s" if entry.seconds else ""
            self._source.setText(f"{matrix.sum()} samples, {entry.source}{timing}; accuracy {100 * accuracy:.2f} %")

        self._ensure_texts(network, n_classes)
        counts = self._matrix.astype(np.float32)
        log_counts = np.ascontiguousarray(np.log1p(counts), dtype=np.float32)
        top = float(log_counts.max()) if log_counts.size else 1.0
        self._image.setImage(log_counts, levels=(0.0, max(top, 1.0)), autoLevels=False)
        self._image.setRect(-0.5, -0.5, n_classes, n_classes)
        for index, text in enumerate(self._texts):
            true_class, decided_class = divmod(index, n_classes)
            count = int(self._matrix[true_class, decided_class]) if self._matrix.size else 0
            text.setText(str(count) if count else "")
            text.setColor("#000000" if log_counts.size and log_counts[true_class, decided_class] > 0.6 * top else "#ffffff")
        self._plot.setRange(xRange=(-0.5, n_classes - 0.5), yRange=(-0.5, n_classes - 0.5), padding=0.02)
        if self._cell is not None and self._entry is not None:
            # The cell stays open across network changes; its samples are recounted.
            results = self._entry.results
            true_class, decided_class = self._cell
            self._cell_indices = np.flatnonzero((results.labels == true_class)
                                                & (results.predictions == decided_class))
            self._show_page(self._page)
        elif self._entry is None:
            self._close_cell()

    def _ensure_texts(self, network, n_classes: int) -> None:
        names = tuple(network.class_names[c] if c < len(network.class_names) else str(c) for c in range(n_classes))
        if names == self._class_names and len(self._texts) == n_classes * n_classes:
            return
        for text in self._texts:
            self._plot.removeItem(text)
        self._texts = []
        for index in range(n_classes * n_classes):
            true_class, decided_class = divmod(index, n_classes)
            text = pg.TextItem("", anchor=(0.5, 0.5))
            text.setPos(decided_class, true_class)
            self._plot.addItem(text)
            self._texts.append(text)
        ticks = [list(enumerate(names))]
        self._plot.getAxis("bottom").setTicks(ticks)
        self._plot.getAxis("left").setTicks(ticks)
        self._class_names = names

    # -- gallery ------------------------------------------------------------------------------

    def _on_scene_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        view_box = self._plot.getViewBox()
        if not view_box.sceneBoundingRect().contains(event.scenePos()):
            return
        point = view_box.mapSceneToView(event.scenePos())
        decided_class = int(np.floor(point.x() + 0.5))
        true_class = int(np.floor(point.y() + 0.5))
        self.open_cell(true_class, decided_class)

    def _close_cell(self) -> None:
        self._cell = None
        self._cell_indices = np.zeros(0, dtype=np.int64)
        self._highlight.setVisible(False)
        self._gallery.clear()
        self._gallery_title.setText("Click a cell to list its samples.")
        self._page = 0
        self._update_pager()

    def _show_page(self, page: int) -> None:
        if self._cell is None or self._entry is None:
            return
        pages = max(1, int(np.ceil(self._cell_indices.size / PAGE_SIZE)))
        self._page = int(np.clip(page, 0, pages - 1))
        start = self._page * PAGE_SIZE
        page_indices = self._cell_indices[start:start + PAGE_SIZE]
        split = self._entry.split
        dataset = getattr(self._state.splits, split)
        results = self._entry.results
        names = self._class_names
        true_class, decided_class = self._cell

        self._gallery.clear()
        for index in page_indices.tolist():
            item = QListWidgetItem(_thumbnail(dataset.images[index]), "")
            item.setData(Qt.ItemDataRole.UserRole, int(index))
            outcome = OUTCOME_NAMES[int(results.outcomes[index])]
            time_text = ("undecided" if int(results.outcomes[index]) == 2
                         else f"τ = {int(results.decision_times[index])}")
            item.setToolTip(f"{split} #{index}: label {names[true_class]}, decided {names[decided_class]} "
                            f"({outcome}, {time_text}). Click to make it the probe.")
            self._gallery.addItem(item)
        total = self._cell_indices.size
        if total:
            self._gallery_title.setText(
                f"true {names[true_class]} → decided {names[decided_class]}: {total} samples, "
                f"showing {start + 1}–{start + page_indices.size}")
        else:
            self._gallery_title.setText(f"true {names[true_class]} → decided {names[decided_class]}: no samples")
        self._update_pager()

    def _update_pager(self) -> None:
        total = self._cell_indices.size
        self._previous.setEnabled(self._page > 0)
        self._more.setEnabled((self._page + 1) * PAGE_SIZE < total)

    def _on_thumbnail_clicked(self, item: QListWidgetItem) -> None:
        if self._entry is None:
            return
        index = item.data(Qt.ItemDataRole.UserRole)
        self._state.set_probe(self._entry.split, int(index))


def _thumbnail(image: np.ndarray) -> QIcon:
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = pixels.shape
    qimage = QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
    pixmap = QPixmap.fromImage(qimage).scaled(THUMBNAIL_SIZE, THUMBNAIL_SIZE,
                                              Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.FastTransformation)
    return QIcon(pixmap)
