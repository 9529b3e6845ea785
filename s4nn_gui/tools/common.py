"""Helpers shared by the debugging and teaching tools: redraw policy, readout of a trace, results cache."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QObject, QTimer, pyqtSignal
from PyQt6.QtWidgets import QWidget

from s4nn_engine.metrics import OUTCOME_NAMES, Decisions, SampleResults, decide
from s4nn_engine.network import Network, Trace
from s4nn_gui.plots.common import LivePlot

logger = logging.getLogger(__name__)

# While training runs, a tool redraws at most this often; at any other time at once.
RUNNING_REDRAW_INTERVAL_MS = 200
SPLITS = ("validation", "test")


class ToolView(LivePlot):
    """Base of the tool views: redraws when something changed and the view is visible.

    Signal handlers call :meth:`_mark_dirty`. A visible view redraws at once
    unless training runs, in which case a single-shot timer coalesces changes
    into at most one redraw per ``RUNNING_REDRAW_INTERVAL_MS``. A hidden view
    only remembers that it is out of date and redraws when it is shown.
    """

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(RUNNING_REDRAW_INTERVAL_MS)
        self._redraw_timer.timeout.connect(self.refresh)

    def refresh(self) -> None:
        """Redraw now if anything changed since the last redraw."""
        self._redraw_timer.stop()
        super().refresh()

    def _mark_dirty(self, *_args) -> None:
        self._dirty = True
        if not self.isVisible():
            return
        if self._state.training_state == "running":
            if not self._redraw_timer.isActive():
                self._redraw_timer.start()
        else:
            self.refresh()

    def _on_training_state_changed(self, training_state: str) -> None:
        if training_state != "running" and self._dirty and self.isVisible():
            self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._dirty:
            self.refresh()

    def hideEvent(self, event) -> None:
        self._redraw_timer.stop()
        super().hideEvent(event)

    def _redraw(self) -> None:
        raise NotImplementedError


# -- readout of one trace ----------------------------------------------------------------


@dataclass(frozen=True)
class TraceReadout:
    """The decision of one traced sample, by the same rule as ``metrics.decide``.

    ``v_cross[k]`` is output row k's potential at its crossing step t_k − 1. For a
    row that did not fire it is V(t_max − 1), which ``v_last`` holds for every row.
    """

    winner_row: int
    outcome: int
    decision_time: int
    output_times: np.ndarray
    v_cross: np.ndarray
    v_last: np.ndarray
    t_max: int

    @property
    def outcome_name(self) -> str:
        return OUTCOME_NAMES[self.outcome]

    @property
    def first_rows(self) -> np.ndarray:
        """Output rows that fired at the decision time (empty when silent)."""
        if self.decision_time >= self.t_max:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.output_times == self.decision_time)


def read_out(trace: Trace) -> TraceReadout:
    """Decide a traced sample with the engine's readout rule (clean, tie by V(τ − 1), silent by V(t_max − 1))."""
    t_max = trace.t_max
    times = np.asarray(trace.times[-1], dtype=np.int64)
    potentials = trace.potentials[-1]
    rows = np.arange(times.size)
    fired = times < t_max
    cross_step = np.where(fired, times - 1, t_max - 1)
    v_cross = potentials[rows, cross_step]
    v_last = potentials[:, t_max - 1].copy()
    decisions: Decisions = decide(times[None, :], v_cross[None, :], v_last[None, :], t_max)
    return TraceReadout(
        winner_row=int(decisions.rows[0]),
        outcome=int(decisions.outcomes[0]),
        decision_time=int(decisions.decision_times[0]),
        output_times=times,
        v_cross=v_cross,
        v_last=v_last,
        t_max=t_max,
    )


def row_class_name(network: Network, row: int) -> str:
    """Return the name of the class that output row ``row`` stands for."""
    class_index = int(network.row_classes[row])
    if class_index < len(network.class_names):
        return network.class_names[class_index]
    return str(class_index)


def format_time(time_step: int, t_max: int) -> str:
    """Format a firing time, with "silent" for t_max (did not fire)."""
    return "silent" if int(time_step) >= t_max else str(int(time_step))


def format_number(value: float, digits: int = 4) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.{digits}g}"


# -- results of whole splits for the current network ------------------------------------------


@dataclass(frozen=True)
class SplitResults:
    """Per-sample results of one split with what they were computed for.

    ``source`` names their origin ("current network" or "end of epoch N").
    ``network`` is the network they belong to, when known.
    """

    split: str
    results: SampleResults
    source: str
    network: Network | None
    dataset: object
    seconds: float = 0.0


class ResultsCache(QObject):
    """Per-sample results of the validation and test splits, shared by the confusion and decision-time views.

    Results published with ``state.set_results`` (for the current network, by
    the state's contract) and those of epoch reports are stored. While training
    runs nothing is evaluated on the GUI thread. At any other time :meth:`get`
    evaluates the current network (serial kernels, because the GUI thread may
    not enter parallel ones) when the stored results belong to another network
    or dataset, and publishes them with ``state.set_results``.

    Signals
    -------
    updated(str)
        An epoch report brought results of the named split, or training stopped
        running so that the stored results may be stale. Views also follow
        ``state.network_changed``; :meth:`get` itself emits nothing.
    """

    updated = pyqtSignal(str)

    def __init__(self, state) -> None:
        super().__init__(state)
        self.setObjectName("s4nn-results-cache")
        self._state = state
        self._entries: dict[str, SplitResults] = {}
        self._publishing = False
        state.epoch_finished.connect(self._on_epoch_finished)
        state.results_changed.connect(self._on_results_changed)
        state.training_state_changed.connect(self._on_training_state_changed)

    @classmethod
    def of(cls, state) -> "ResultsCache":
        """Return the state's cache, creating it on first use, so every view shares one."""
        cache = state.findChild(ResultsCache, "s4nn-results-cache")
        return cache if cache is not None else cls(state)

    def available_splits(self) -> list[str]:
        splits = self._state.splits
        return [name for name in SPLITS if getattr(splits, name, None) is not None and len(getattr(splits, name))]

    def is_current(self, split: str) -> bool:
        entry = self._entries.get(split)
        return (entry is not None and entry.network is self._state.network
                and entry.dataset is getattr(self._state.splits, split, None))

    def get(self, split: str) -> SplitResults | None:
        """Return results of ``split``, evaluating the current network first if they are stale and training is not running."""
        dataset = getattr(self._state.splits, split, None)
        if dataset is None or len(dataset) == 0:
            return None
        if self._state.training_state == "running" or self.is_current(split):
            return self._entries.get(split)

        network = self._state.network
        started = time.perf_counter()
        _, results, _ = network.evaluate(dataset.images, dataset.labels, parallel=False)
        seconds = time.perf_counter() - started
        logger.debug("evaluated %d %s samples in %.3f s", len(dataset), split, seconds)
        entry = SplitResults(split, results, "current network", network, dataset, seconds)
        self._entries[split] = entry
        self._publishing = True
        try:
            self._state.set_results(split, results)
        finally:
            self._publishing = False
        return entry

    def _on_results_changed(self, split: str, results) -> None:
        # By the state's contract, published results belong to the current network.
        if self._publishing or split not in SPLITS:
            return
        dataset = getattr(self._state.splits, split, None)
        self._entries[split] = SplitResults(split, results, "current network", self._state.network, dataset)
        self.updated.emit(split)

    def _on_epoch_finished(self, report) -> None:
        for split, results in (("validation", report.validation_results), ("test", report.test_results)):
            if results is None:
                continue
            dataset = getattr(self._state.splits, split, None)
            self._entries[split] = SplitResults(split, results, f"end of epoch {report.epoch}",
                                                report.network, dataset)
            self.updated.emit(split)

    def _on_training_state_changed(self, training_state: str) -> None:
        if training_state != "running":
            for split in self.available_splits():
                self.updated.emit(split)
