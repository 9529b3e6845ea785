"""Save a plot as a PNG or SVG image and its data as CSV.

A plot widget offers ``plot_items()`` (the pyqtgraph ``GraphicsLayout`` it draws in),
or ``graphics_scene()`` or ``plot_item()``, and ``export_table() -> (header, rows)``.
Images go through pyqtgraph's ``ImageExporter`` and ``SVGExporter``; tables through
the csv module. Every failure raises :class:`ExportError` naming the file.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from PyQt6.QtCore import QBuffer, QIODevice, QRectF, QSize
from PyQt6.QtGui import QPainter
from PyQt6.QtSvg import QSvgGenerator
from PyQt6.QtWidgets import QGraphicsItem
from pyqtgraph.exporters import ImageExporter, SVGExporter

logger = logging.getLogger(__name__)

IMAGE_SCALE = 2  # PNGs are rendered at twice the on-screen size, so text stays sharp in documents


class ExportError(Exception):
    """A plot or table that could not be written, with the file and the reason."""


def exportable_item(plot: Any):
    """Return the graphics item or scene of ``plot`` that pyqtgraph's exporters accept."""
    for name in ("plot_items", "plot_item", "graphics_scene"):
        method = getattr(plot, name, None)
        if callable(method):
            return method()
    raise ExportError(f"{type(plot).__name__} has no plot_items(), plot_item() or graphics_scene() to export")


def can_export(plot: Any) -> bool:
    """Return whether ``plot`` offers both an exportable graphics item and a data table."""
    has_item = any(callable(getattr(plot, name, None)) for name in ("plot_items", "plot_item", "graphics_scene"))
    return has_item and callable(getattr(plot, "export_table", None))


def export_png(plot: Any, path: str | os.PathLike, *, scale: int = IMAGE_SCALE) -> Path:
    """Render ``plot`` into a PNG file at ``scale`` times its on-screen size."""
    target = Path(path)
    _check_folder(target)
    exporter = ImageExporter(exportable_item(plot))
    width = int(exporter.parameters()["width"])
    if width <= 0:
        raise ExportError(f"cannot export {target}: the plot has no size yet; show its dock and try again")
    exporter.parameters()["width"] = width * scale
    image = exporter.export(toBytes=True)
    if image is None or not image.save(str(target), "PNG"):
        raise ExportError(f"cannot write the image {target}; check that the folder is writable")
    logger.info("exported plot image %s", target)
    return target


def export_svg(plot: Any, path: str | os.PathLike) -> Path:
    """Write ``plot`` as an SVG vector image.

    pyqtgraph's SVGExporter is tried first because it clips curves to their
    plot area. pyqtgraph 0.14.0 raises ValueError on the closed paths ("Z") that
    Qt 6.11 writes; then Qt's own SVG generator renders the scene instead, and
    it does not clip, so points outside a zoomed view may show.
    """
    target = Path(path)
    _check_folder(target)
    item = exportable_item(plot)
    try:
        data = SVGExporter(item).export(toBytes=True)
    except ValueError as error:
        logger.info("pyqtgraph's SVG export failed (%s); rendering with QSvgGenerator", error)
        data = _render_svg(item, target.stem)
    try:
        target.write_bytes(data)
    except OSError as error:
        raise ExportError(f"cannot write the SVG file {target}: {error}") from error
    logger.info("exported plot SVG %s", target)
    return target


def _render_svg(item: Any, title: str) -> bytes:
    """Render a graphics item (or a whole scene) with QSvgGenerator and return the SVG document."""
    if isinstance(item, QGraphicsItem):
        scene = item.scene()
        source = item.sceneBoundingRect()
    else:
        scene = item
        source = scene.sceneRect()
    if scene is None or source.width() <= 0 or source.height() <= 0:
        raise ExportError("cannot export an SVG: the plot has no size yet; show its dock and try again")
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(QSize(int(source.width()), int(source.height())))
    generator.setViewBox(QRectF(0, 0, source.width(), source.height()))
    generator.setTitle(title)
    painter = QPainter(generator)
    try:
        scene.render(painter, QRectF(0, 0, source.width(), source.height()), source)
    finally:
        painter.end()
    return bytes(buffer.data())


def export_csv(plot: Any, path: str | os.PathLike) -> Path:
    """Write the data shown by ``plot`` (its ``export_table()``) as a CSV file with a header row."""
    header, rows = plot.export_table()
    return write_csv(path, header, rows)


def write_csv(path: str | os.PathLike, header: list[str], rows: list[list]) -> Path:
    """Write ``header`` and ``rows`` as CSV; None and NaN become empty cells."""
    target = Path(path)
    _check_folder(target)
    try:
        with open(target, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(header)
            for row in rows:
                writer.writerow([_cell(value) for value in row])
    except OSError as error:
        raise ExportError(f"cannot write the CSV file {target}: {error}") from error
    logger.info("exported %d rows to %s", len(rows), target)
    return target


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return " ".join(str(_cell(item)) for item in value)
    return value


def _check_folder(target: Path) -> None:
    if not target.parent.is_dir():
        raise ExportError(f"cannot write {target}: folder {target.parent} does not exist")
