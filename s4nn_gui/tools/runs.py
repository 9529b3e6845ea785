"""Runs browser, run recording, and the "Export all views" action.

:class:`RunRecorder` writes every training run into the runs folder
(``s4nn_engine.runs``). It learns about a run before the run starts, or from
the worker's ``started`` signal. It reserves the run's folder, makes its
``checkpoints/`` the trainer's checkpoint folder, writes ``run.json`` at the
first finished epoch, appends every epoch record and stores how the run ended.
:class:`RunsView` lists the runs, overlays the chosen ones on the accuracy plot
and opens a run's saved checkpoint.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Callable

from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QMessageBox,
                             QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from s4nn_engine.runs import CHECKPOINT_FOLDER, RunRecord, RunStore, RunStoreError

logger = logging.getLogger(__name__)

RUNS_TOOLTIP = (
    "Training runs kept in the runs folder, with their settings and per-epoch figures. Tick runs "
    "to draw their validation accuracy on the accuracy plot."
)
EXPORT_TOOLTIP = (
    "Write every visible plot as PNG and SVG, its data as CSV, and the current settings as JSON "
    "into a folder you choose."
)
OPEN_TOOLTIP = (
    "Open the chosen run's saved network: best.npz (the epoch with the best validation accuracy) if the "
    "run has one, else last.npz (its last epoch). The trainer saves both at the end of each epoch."
)
COLUMNS = ("overlay", "name", "date", "dataset", "epochs", "best validation acc.", "status")
CHECKPOINT_NAMES = ("best.npz", "last.npz")  # the trainer's file names, in order of preference


def run_checkpoint(run: RunRecord) -> Path | None:
    """Return the run's best.npz, else its last.npz, or None when it saved neither (or cannot be read)."""
    try:
        for name in CHECKPOINT_NAMES:
            path = run.checkpoint_dir / name
            if path.is_file():
                return path
    except (OSError, TypeError, ValueError) as error:
        logger.warning("could not look for the checkpoints of run %s: %s", getattr(run, "run_id", "?"), error)
    return None


def _row_cells(run: RunRecord) -> tuple[str, ...]:
    """The table cells of ``run`` after its checkbox; a record with odd values is shown as unreadable."""
    try:
        best = run.best_validation_accuracy
        return (str(run.title), str(run.created).replace("T", " ")[:19], str(run.dataset_name or "–"),
                str(run.epochs_done), "–" if best is None else f"{100 * best:.2f} %", str(run.status))
    except Exception as error:  # a damaged record must not stop the list from showing the others
        logger.warning("run %s has unreadable values: %s", getattr(run, "run_id", "?"), error)
        return (str(getattr(run, "run_id", "?")), "–", "–", "–", "–", "unreadable")


# -- recording ------------------------------------------------------------------------------


class RunRecorder(QObject):
    """Record training runs into a :class:`RunStore`.

    Connect :meth:`watch` to the start of a run, :meth:`record_epoch` to every
    ``EpochReport`` and :meth:`finish` to the ``RunFinished`` record. A trainer
    that is trained again (more epochs) continues its run; a new trainer starts
    a new run. :meth:`watch` reserves the run's folder and sets the trainer's
    ``checkpoint_dir`` to its ``checkpoints/`` subfolder, so call it before the
    trainer starts: the trainer saves last.npz and best.npz at the end of each
    epoch. ``run.json`` is written at the first finished epoch, and the folder of
    a run that never completes an epoch is removed when the run finishes.

    Signals
    -------
    run_updated(RunRecord)
        A run was created, got an epoch or finished.
    """

    run_updated = pyqtSignal(object)

    def __init__(self, store: RunStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._trainer = None
        self._dataset_name = ""
        self._dataset_checksum = ""
        self._record: RunRecord | None = None
        self._reserved: Path | None = None

    @property
    def current(self) -> RunRecord | None:
        """The run being recorded, once its first epoch finished."""
        return self._record

    def watch(self, trainer, dataset_name: str, dataset_checksum: str = "") -> None:
        """Record the epochs of ``trainer`` from now on; call it before the run starts (again is harmless)."""
        if trainer is self._trainer:
            if self._record is not None:
                self._record.status = "running"  # trained further; saved with the next epoch
                return
        else:
            self._release_reserved()
            self._trainer = trainer
            self._dataset_name = str(dataset_name)
            self._dataset_checksum = str(dataset_checksum or getattr(trainer, "dataset_checksum", ""))
            self._record = None
        self._reserve_folder()

    def _reserve_folder(self) -> None:
        """Give the trainer a reserved run folder's checkpoints/ as its ``checkpoint_dir``."""
        trainer = self._trainer
        if self._reserved is not None and self._reserved.is_dir():
            trainer.checkpoint_dir = self._reserved / CHECKPOINT_FOLDER
            return
        if getattr(trainer, "checkpoint_dir", None) is not None:
            return  # set by the code that created the trainer, so its checkpoints stay there
        try:
            self._reserved = self.store.reserve()
        except (OSError, RunStoreError) as error:
            logger.error("reserving a run folder in %s failed, so this run saves no checkpoints: %s",
                         self.store.root, error)
            self._reserved = None
            return
        trainer.checkpoint_dir = self._reserved / CHECKPOINT_FOLDER

    def _release_reserved(self) -> None:
        """Remove the reserved folder of a run that recorded no epoch, and stop the trainer saving there."""
        folder = self._reserved
        self._reserved = None
        if folder is None or self._record is not None:
            return
        if self._trainer is not None and getattr(self._trainer, "checkpoint_dir", None) == folder / CHECKPOINT_FOLDER:
            self._trainer.checkpoint_dir = None
        self.store.release(folder)

    def record_epoch(self, report) -> None:
        """Append an EpochReport's record to the run, creating the run at its first epoch."""
        if self._trainer is None:
            return
        try:
            if self._record is None:
                folder = self._reserved if self._reserved is not None and self._reserved.is_dir() else None
                self._record = self.store.create(self._trainer.settings, self._dataset_name,
                                                 self._dataset_checksum, folder=folder)
                self._reserved = None
                # Epochs trained before this run (a loaded checkpoint's history) come first.
                earlier = [dict(record) for record in list(self._trainer.history)
                           if int(record.get("epoch", 0)) < report.epoch]
                for record in earlier:
                    self._record.history.append(record)
            self._record.append_epoch(report.record, report.checkpoints)
        except (OSError, RunStoreError) as error:
            logger.error("recording epoch %d in the runs folder %s failed: %s", report.epoch, self.store.root, error)
            return
        self.run_updated.emit(self._record)

    def finish(self, finished) -> None:
        """Store a RunFinished record's reason and message in the run, if one was created."""
        if self._record is None:
            self._release_reserved()
            return
        try:
            self._record.finish(finished.reason, finished.message)
        except OSError as error:
            logger.error("writing the end of run %s failed: %s", self._record.run_id, error)
            return
        self.run_updated.emit(self._record)


# -- export of every view ----------------------------------------------------------------------


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "view"


def exportable_views(window) -> dict[str, QWidget]:
    """Return the window's visible views that can be exported, by dock title."""
    from s4nn_gui import export

    views: dict[str, QWidget] = {}
    docks = window.docks() if callable(getattr(window, "docks", None)) else {}
    for title, dock in docks.items():
        widget = dock.widget()
        if widget is not None and widget.isVisible() and export.can_export(widget):
            views[title] = widget
    return views


def export_all_views(window, folder: str | Path) -> tuple[list[Path], list[str]]:
    """Write every visible view of ``window`` as PNG, SVG and CSV, and the settings as JSON, into ``folder``.

    Returns the files written and a message for each file that failed; one
    failure does not stop the others.
    """
    from s4nn_gui import export

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failures: list[str] = []
    for title, widget in exportable_views(window).items():
        stem = _slug(title)
        for suffix, writer in (("png", export.export_png), ("svg", export.export_svg), ("csv", export.export_csv)):
            path = target / f"{stem}.{suffix}"
            try:
                written.append(writer(widget, path))
            except export.ExportError as error:
                logger.error("exporting %s failed: %s", path, error)
                failures.append(str(error))
    settings_path = target / "settings.json"
    try:
        settings_path.write_text(window.state.settings.to_json() + "\n", encoding="utf-8")
        written.append(settings_path)
    except OSError as error:
        logger.error("writing %s failed: %s", settings_path, error)
        failures.append(f"cannot write {settings_path}: {error}")
    logger.info("exported %d files into %s", len(written), target)
    return written, failures


# -- runs browser -----------------------------------------------------------------------------


class RunsView(QWidget):
    """List of recorded runs with overlay checkboxes, and the "Open checkpoint" and "Export all views…" buttons.

    Signals
    -------
    overlays_changed(list)
        The ticked runs as ``[(title, history records), …]``, for
        ``AccuracyPlot.set_overlays``.
    checkpoint_requested(Path)
        The user asked to open this checkpoint of the chosen run (best.npz or last.npz).
    """

    overlays_changed = pyqtSignal(object)
    checkpoint_requested = pyqtSignal(object)

    def __init__(self, store: RunStore, *, exporter: Callable[[Path], tuple[list[Path], list[str]]] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._exporter = exporter
        self._runs: list[RunRecord] = []
        self._checked: set[str] = set()
        self._build()
        self.refresh()

    def _build(self) -> None:
        self._folder_label = QLabel()
        self._folder_label.setWordWrap(True)
        self._folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._folder_label.setToolTip("The runs folder; set S4NN_RUNS_DIR to use another one.")
        self._table = QTableWidget(0, len(COLUMNS))
        self._table.setHorizontalHeaderLabels(COLUMNS)
        self._table.verticalHeader().setVisible(False)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._table.horizontalHeader().setStretchLastSection(True)
        self._table.setToolTip(RUNS_TOOLTIP)
        self._table.itemChanged.connect(self._on_item_changed)
        self._table.itemSelectionChanged.connect(self._update_open_button)
        self._open_button = QPushButton("Open checkpoint")
        self._open_button.setToolTip(OPEN_TOOLTIP)
        self._open_button.setEnabled(False)
        self._open_button.clicked.connect(self.open_selected_checkpoint)
        self._refresh_button = QPushButton("Refresh")
        self._refresh_button.setToolTip("Read the runs folder again.")
        self._refresh_button.clicked.connect(self.refresh)
        self._export_button = QPushButton("Export all views…")
        self._export_button.setToolTip(EXPORT_TOOLTIP)
        self._export_button.clicked.connect(self.export_with_dialog)
        self._export_button.setEnabled(self._exporter is not None)
        self._message = QLabel()
        self._message.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self._refresh_button)
        buttons.addWidget(self._open_button)
        buttons.addStretch(1)
        buttons.addWidget(self._export_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._folder_label)
        layout.addWidget(self._table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self._message)
        self.setToolTip(RUNS_TOOLTIP)

    # -- public interface ------------------------------------------------------------------------

    def runs(self) -> list[RunRecord]:
        return list(self._runs)

    def refresh(self) -> None:
        """Read the runs folder and list its runs, newest first; ticked runs stay ticked."""
        self._folder_label.setText(f"runs folder: {self.store.root}")
        chosen = self.selected_run()
        self._runs = list(reversed(self._read_runs()))
        known = {run.run_id for run in self._runs}
        self._checked &= known
        self._table.blockSignals(True)
        self._table.setRowCount(len(self._runs))
        for row, run in enumerate(self._runs):
            check = QTableWidgetItem()
            check.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            check.setCheckState(Qt.CheckState.Checked if run.run_id in self._checked else Qt.CheckState.Unchecked)
            check.setData(Qt.ItemDataRole.UserRole, run.run_id)
            check.setToolTip("Draw this run's validation accuracy on the accuracy plot.")
            self._table.setItem(row, 0, check)
            cells = _row_cells(run)
            for column, text in enumerate(cells, start=1):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{run.run_id} in {run.path}")
                self._table.setItem(row, column, item)
        self._table.clearSelection()
        for row, run in enumerate(self._runs):
            if chosen is not None and run.run_id == chosen.run_id:
                self._table.selectRow(row)
        self._table.blockSignals(False)
        self._update_open_button()
        self._emit_overlays()

    def _read_runs(self) -> list[RunRecord]:
        """Return the readable runs, oldest first; a damaged run folder is skipped with a warning.

        Nothing raised while reading the runs folder escapes: a damaged ``run.json`` must
        never keep the window from opening. When listing the whole folder fails, each
        run is read on its own so that one bad run does not hide the others.
        """
        try:
            return list(self.store.list_runs())
        except Exception as error:
            logger.warning("listing the runs in %s failed (%s: %s); reading each run on its own",
                           self.store.root, type(error).__name__, error)
        runs, unreadable = [], []
        try:
            folders = sorted(path for path in Path(self.store.root).iterdir() if path.is_dir())
        except OSError as error:
            logger.warning("could not read the runs folder %s: %s", self.store.root, error)
            self._message.setText(f"Could not read the runs folder: {error}")
            return []
        for folder in folders:
            try:
                runs.append(self.store.load(folder.name))
            except Exception as error:  # RunStoreError, or anything a damaged file provokes
                logger.warning("skipping run folder %s: %s: %s", folder, type(error).__name__, error)
                unreadable.append(folder.name)
        if unreadable:
            self._message.setText(f"{len(unreadable)} run folders could not be read and are not listed: "
                                  + ", ".join(unreadable[:3]) + (" …" if len(unreadable) > 3 else ""))
        try:
            runs.sort(key=lambda run: (str(run.created), str(run.run_id)))
        except Exception as error:  # keep the folder order
            logger.warning("could not sort the runs: %s", error)
        return runs

    def select_run(self, run_id: str) -> None:
        """Make run ``run_id`` the chosen row, as a click on it would."""
        for row, run in enumerate(self._runs):
            if run.run_id == run_id:
                self._table.selectRow(row)
                return
        raise KeyError(f"run {run_id!r} is not listed; refresh the list first")

    def selected_run(self) -> RunRecord | None:
        rows = self._table.selectionModel().selectedRows()
        if not rows or not 0 <= rows[0].row() < len(self._runs):
            return None
        return self._runs[rows[0].row()]

    def open_button(self) -> QPushButton:
        return self._open_button

    def open_selected_checkpoint(self) -> None:
        """Ask to open the chosen run's best.npz, else its last.npz (``checkpoint_requested``)."""
        run = self.selected_run()
        path = None if run is None else run_checkpoint(run)
        if path is None:
            self._message.setText("The chosen run saved no checkpoint." if run is not None else "Choose a run first.")
            return
        logger.info("opening checkpoint %s of run %s", path, run.run_id)
        self.checkpoint_requested.emit(path)

    def _update_open_button(self) -> None:
        run = self.selected_run()
        path = None if run is None else run_checkpoint(run)
        self._open_button.setEnabled(path is not None)
        if path is not None:
            self._open_button.setToolTip(f"{OPEN_TOOLTIP}\n\nOpens {path}")
        elif run is not None:
            self._open_button.setToolTip(f"{OPEN_TOOLTIP}\n\nThis run saved no checkpoint.")
        else:
            self._open_button.setToolTip(OPEN_TOOLTIP)

    def set_checked(self, run_id: str, checked: bool) -> None:
        """Tick or untick the overlay of run ``run_id``."""
        for row, run in enumerate(self._runs):
            if run.run_id == run_id:
                self._table.item(row, 0).setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                return
        raise KeyError(f"run {run_id!r} is not listed; refresh the list first")

    def overlays(self) -> list[tuple[str, list[dict]]]:
        """Return the ticked runs as (title, history) pairs, in list order."""
        pairs = []
        for run in self._runs:
            if run.run_id not in self._checked:
                continue
            try:
                pairs.append((str(run.title), list(run.history)))
            except Exception as error:  # a damaged history draws nothing instead of failing
                logger.warning("run %s has an unreadable history: %s", run.run_id, error)
        return pairs

    def choose_folder(self) -> str:
        """Ask for the export folder (tests replace this)."""
        return QFileDialog.getExistingDirectory(self, "Export all views into")

    def export_to(self, folder: str | Path) -> tuple[list[Path], list[str]]:
        """Run the exporter into ``folder`` and show what happened."""
        if self._exporter is None:
            raise RuntimeError("this runs view has no exporter; install_tools gives it the window's")
        written, failures = self._exporter(Path(folder))
        text = f"Wrote {len(written)} files into {folder}."
        if failures:
            text += f" {len(failures)} failed: " + "; ".join(failures[:3])
        self._message.setText(text)
        return written, failures

    def on_run_updated(self, _record) -> None:
        self.refresh()

    # -- events ------------------------------------------------------------------------------------

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        run_id = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked:
            self._checked.add(run_id)
        else:
            self._checked.discard(run_id)
        self._emit_overlays()

    def _emit_overlays(self) -> None:
        self.overlays_changed.emit(self.overlays())

    def export_with_dialog(self) -> None:
        """Ask for a folder and export every view into it."""
        folder = self.choose_folder()
        if not folder:
            return
        _written, failures = self.export_to(folder)
        if failures:
            QMessageBox.warning(self, "Some views were not exported", "\n".join(failures))
