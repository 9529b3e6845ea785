"""The window's shared state: current network, probe sample, trace, and the events views follow.

Views never talk to the trainer. They read this object and connect to its
signals, which are always emitted on the GUI thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal

from s4nn_engine.config import Settings
from s4nn_engine.network import Network, Trace

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Probe:
    """The sample every per-sample view follows.

    ``split`` is "train", "validation", "test" or "drawing"; ``index`` is the
    sample's row in that split (0 for a drawing). ``label`` is None for a drawing.
    """

    split: str
    index: int
    image: np.ndarray  # uint8 (h, w)
    label: int | None


class SessionState(QObject):
    """Single source of truth the views follow; owned by the main window, GUI thread only.

    Signals
    -------
    network_changed(Network)
        A new snapshot of the network (after a repaint tick, a load, a reset or a step).
    probe_changed(Probe)
        The probe sample changed.
    trace_changed(Trace)
        The probe's trace, recomputed with the current network, learning settings
        and threshold overrides.
    epoch_finished(EpochReport)
        A completed epoch, every one of them (never coalesced).
    settings_applied(SettingsChange)
        Live settings changes the trainer applied, every one of them.
    step_trained(StepReport)
        One sample trained with Step.
    results_changed(str, SampleResults)
        Per-sample results of the "validation" or "test" split for the current network.
    training_state_changed(str)
        "idle", "compiling", "running", "paused" or "finished".
    overrides_changed(dict)
        Threshold overrides of the what-if view, ``{(layer, neuron): θ}``.
    """

    network_changed = pyqtSignal(object)
    probe_changed = pyqtSignal(object)
    trace_changed = pyqtSignal(object)
    epoch_finished = pyqtSignal(object)
    settings_applied = pyqtSignal(object)
    step_trained = pyqtSignal(object)
    results_changed = pyqtSignal(str, object)
    training_state_changed = pyqtSignal(str)
    overrides_changed = pyqtSignal(object)

    def __init__(self, settings: Settings, splits, network: Network, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.splits = splits
        self.network = network
        self.probe: Probe | None = None
        self.trace: Trace | None = None
        self.threshold_overrides: dict[tuple[int, int], float] = {}
        self.training_state = "idle"
        self.results: dict[str, object] = {}

    # -- setters (each emits its signal) ---------------------------------------

    def set_network(self, network: Network, settings: Settings | None = None) -> None:
        """Show ``network``; give ``settings`` too when its shape changed, so the trace uses both together."""
        self.network = network
        if settings is not None:
            self.settings = settings
        self.network_changed.emit(network)
        self.refresh_trace()

    def set_splits(self, splits) -> None:
        """Use a newly loaded dataset; the old probe, trace and results are dropped. Set a probe next."""
        self.splits = splits
        self.results = {}
        self.probe = None
        self.trace = None

    def show_step(self, report) -> None:
        """Show a sample trained with Step: the network after the update, the sample as the probe
        and the step's own trace (targets, δ and weight changes of the update, as seen before it)."""
        self.network = report.network
        self.network_changed.emit(report.network)
        self.probe = Probe("train", report.sample_index, np.asarray(report.image), int(report.label))
        self.probe_changed.emit(self.probe)
        self.trace = report.trace
        self.trace_changed.emit(report.trace)
        self.step_trained.emit(report)

    def set_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.refresh_trace()

    def set_probe(self, split: str, index: int) -> None:
        """Make sample ``index`` of ``split`` ("train", "validation" or "test") the probe."""
        dataset = getattr(self.splits, split, None)
        if dataset is None or len(dataset) == 0:
            raise ValueError(f"the dataset has no {split} split")
        index = int(index) % len(dataset)
        self.probe = Probe(split, index, np.asarray(dataset.images[index]), int(dataset.labels[index]))
        self.probe_changed.emit(self.probe)
        self.refresh_trace()

    def set_drawing_probe(self, image: np.ndarray) -> None:
        """Make a user's drawing (uint8, the dataset's image shape) the probe."""
        self.probe = Probe("drawing", 0, np.asarray(image, dtype=np.uint8), None)
        self.probe_changed.emit(self.probe)
        self.refresh_trace()

    def set_threshold_overrides(self, overrides: dict[tuple[int, int], float]) -> None:
        self.threshold_overrides = dict(overrides)
        self.overrides_changed.emit(dict(self.threshold_overrides))
        self.refresh_trace()

    def set_training_state(self, state: str) -> None:
        if state != self.training_state:
            self.training_state = state
            self.training_state_changed.emit(state)

    def set_results(self, split: str, results) -> None:
        self.results[split] = results
        self.results_changed.emit(split, results)

    # -- derived ----------------------------------------------------------------

    def probe_times(self) -> np.ndarray | None:
        if self.probe is None:
            return None
        # encode() reads the first axis as the batch, so a single (h, w) image needs one.
        return self.network.encode(self.probe.image[np.newaxis])[0]

    def compute_trace(self, overrides: dict[tuple[int, int], float] | None = None) -> Trace | None:
        """Trace the probe with the current network, without storing or emitting it."""
        x_times = self.probe_times()
        if x_times is None:
            return None
        learning = self.settings.learning
        label = self.probe.label
        if label is not None and label not in self.network.row_classes:
            label = None
        return self.network.trace(
            x_times, label=label, gamma=learning.gamma,
            learning_rates=learning.learning_rates, l2=learning.l2,
            threshold_overrides=self.threshold_overrides if overrides is None else overrides,
        )

    def refresh_trace(self) -> None:
        trace = self.compute_trace()
        if trace is None:
            return
        self.trace = trace
        self.trace_changed.emit(trace)
