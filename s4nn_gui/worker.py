"""The training worker: the only thread that runs a trainer, and a background dataset loader.

:class:`TrainingWorker` runs :meth:`Trainer.run` on its own ``QThread``. The trainer's
callback runs on that thread and does nothing but emit the worker's signals, which
Qt queues to the GUI thread because the worker object lives there. No widget is
touched from the worker thread.

Every run gets a new run number. The worker thread emits each report tagged with the
number of its run, and the GUI thread passes it on only while that run is still the
current one. Reports that a stopped run queued before it ended are dropped, so they
cannot reach the views after a Reset or after opening a checkpoint.

Signals are past-tense facts (``started``, ``progressed``, ``finished`` …); commands are
verbs (``start``, ``pause``, ``stop`` …). Stopping is cooperative: the trainer checks
for a stop request between two chunks of samples, so a stop takes effect within
one chunk.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import threading
import time

import numpy as np
from PyQt6.QtCore import QObject, QThread, pyqtSignal

from s4nn_engine.config import make_settings
from s4nn_engine.datasets import DataSplits, Dataset, DatasetError, load_dataset
from s4nn_engine.training import (
    EpochReport,
    ProgressReport,
    RunFinished,
    SettingsChange,
    StepReport,
    Trainer,
    TrainingError,
)

logger = logging.getLogger(__name__)

# Share of an epoch's training samples that were silent above which the worker warns.
SILENT_WARNING_SHARE = 0.5

# Set once the numba kernels have been compiled (or loaded from numba's cache) in this process.
_kernels_ready = threading.Event()


def warm_up_kernels(n_pixels: int, n_outputs: int, t_max: int) -> None:
    """Run every kernel the trainer and the views use once, on a throwaway tiny network.

    The first call of a numba kernel compiles it (several seconds) or loads it from
    numba's cache. Calling them here, on the worker thread, keeps that pause out of
    the GUI thread and out of the measured training speed. Kernel signatures depend
    on dtypes only, so a 2-neuron hidden layer on 4 random images compiles the same
    code that a large network runs.
    """
    if _kernels_ready.is_set():
        return
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    n_samples = 4
    images = rng.integers(0, 256, size=(n_samples, 1, n_pixels), dtype=np.uint8)
    labels = np.arange(n_samples) % n_outputs
    class_names = tuple(str(c) for c in range(n_outputs))
    tiny = Dataset("warm-up", images, labels, class_names)
    splits = DataSplits(train=tiny, validation=tiny, test=tiny)
    settings = make_settings((2,), input_size=n_pixels, output_size=n_outputs, t_max=t_max,
                             epochs=1, chunk_size=n_samples, dead_reset=False)
    trainer = Trainer(settings, splits)
    trainer.run()
    network = trainer.network
    x_times = network.encode(images.reshape(n_samples, -1))
    network.trace(x_times[0], label=int(labels[0]), gamma=settings.learning.gamma,
                  learning_rates=settings.learning.learning_rates, l2=settings.learning.l2,
                  weight_changes=True)
    network.forward(x_times, parallel=False)
    _kernels_ready.set()
    logger.info("numba kernels ready after %.1f s", time.perf_counter() - started)


def _wait_for(thread: QThread | None, timeout: float | None) -> bool:
    """Block until ``thread`` has ended or ``timeout`` seconds passed (None: no limit); True when ended."""
    if thread is None:
        return True
    if timeout is None:
        return thread.wait()
    return thread.wait(max(0, int(math.ceil(timeout * 1000))))


class _FunctionThread(QThread):
    """A QThread that runs one Python callable.

    ``ended(thread)`` follows ``finished`` on the thread that owns this object and names
    the thread, so a receiver can tell a late signal of an old thread from the current one.
    It never arrives once the object has been deleted.
    """

    ended = pyqtSignal(object)

    def __init__(self, function, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._function = function
        self.finished.connect(self._announce_end)

    def _announce_end(self) -> None:
        self.ended.emit(self)

    def run(self) -> None:
        self._function()


class TrainingWorker(QObject):
    """Run a :class:`Trainer` on a dedicated thread and report what happens as signals.

    Signals
    -------
    compiling()
        The numba kernels are being compiled or loaded before the first run.
    started()
        The trainer started its run.
    progressed(ProgressReport)
        After every chunk. Many arrive per second, so a view keeps only the newest one.
    epoch_finished(EpochReport), settings_applied(SettingsChange), step_trained(StepReport)
        Events: every one of them is delivered.
    warned(str)
        Something the user should know that does not stop training (mostly silent epochs).
    errored(str)
        The run failed. The trainer keeps its last finite weights, and ``finished`` follows.
    finished(RunFinished)
        Always last, once the thread has ended, so ``is_running`` is already False.
    """

    compiling = pyqtSignal()
    started = pyqtSignal()
    progressed = pyqtSignal(object)
    epoch_finished = pyqtSignal(object)
    settings_applied = pyqtSignal(object)
    step_trained = pyqtSignal(object)
    finished = pyqtSignal(object)
    errored = pyqtSignal(str)
    warned = pyqtSignal(str)

    # Emitted on the worker thread as (run number, signal name, argument); queued to the GUI thread.
    _tagged = pyqtSignal(int, str, object)

    # Signals whose argument is passed on; the others are emitted without one.
    _SIGNALS_WITH_ARGUMENT = frozenset({"progressed", "epoch_finished", "settings_applied", "step_trained",
                                        "errored", "warned"})

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: _FunctionThread | None = None
        self._trainer: Trainer | None = None
        self._finished_record: RunFinished | None = None
        self._run_numbers = itertools.count(1)
        self._current_run: int | None = None
        self._tagged.connect(self._pass_on)

    # -- state ------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    @property
    def trainer(self) -> Trainer | None:
        """The trainer of the current run, or None when no run is active."""
        return self._trainer if self._thread is not None else None

    # -- commands -----------------------------------------------------------------

    def start(self, trainer: Trainer, start_paused: bool = False) -> None:
        """Run ``trainer`` on the worker thread until it completes, is stopped or fails."""
        if self._thread is not None:
            raise RuntimeError("the worker is already running a trainer; stop it and wait for finished first")
        self._trainer = trainer
        self._finished_record = None
        run = next(self._run_numbers)
        self._current_run = run
        thread = _FunctionThread(functools.partial(self._run, trainer, start_paused, run))
        thread.setObjectName("s4nn-training")
        thread.ended.connect(self._on_thread_finished)
        self._thread = thread
        thread.start()

    def pause(self) -> None:
        if self._trainer is not None:
            self._trainer.pause()

    def resume(self) -> None:
        if self._trainer is not None:
            self._trainer.resume()

    def step(self) -> None:
        """Train exactly one sample, then stay paused (the trainer sends a StepReport)."""
        if self._trainer is not None and self._thread is not None:
            self._trainer.request_step()

    def stop(self) -> None:
        """Ask the trainer to stop after its current chunk; ``finished`` follows."""
        if self._trainer is not None and self._thread is not None:
            self._trainer.request_stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker thread has ended, or ``timeout`` seconds passed.

        Returns True when no thread is left running. The queued ``finished`` signal
        is still delivered later by the event loop.
        """
        return _wait_for(self._thread, timeout)

    def shutdown(self, timeout: float | None = 10.0) -> bool:
        """Stop any run and wait for its thread, ``timeout`` seconds at most (None: no limit).

        Returns False if the thread is still running; otherwise ``finished`` has
        been emitted before this returns.
        """
        if self._thread is None:
            return True
        logger.info("stopping the training thread")
        self.stop()
        if not self.wait(timeout):
            logger.error("the training thread did not end within %.1f s", timeout)
            return False
        self._on_thread_finished(self._thread)
        return True

    # -- the worker thread ----------------------------------------------------------

    def _run(self, trainer: Trainer, start_paused: bool, run: int) -> None:
        try:
            if not _kernels_ready.is_set():
                self._tagged.emit(run, "compiling", None)
                sizes = trainer.network.layer_sizes
                warm_up_kernels(sizes[0], sizes[-1], trainer.network.t_max)
            self._tagged.emit(run, "started", None)
            trainer.run(functools.partial(self._report, run), snapshots=True, start_paused=start_paused)
        except TrainingError as error:
            # The trainer already sent RunFinished("error") through the callback.
            logger.warning("training stopped with an error: %s", error)
            self._tagged.emit(run, "errored", str(error))
        except Exception as error:  # any other failure is reported as errored too, so the GUI can show it
            logger.exception("training failed")
            message = f"training failed with {type(error).__name__}: {error}"
            self._tagged.emit(run, "errored", message)
            if self._finished_record is None:
                self._finished_record = RunFinished("error", trainer.epochs_done, message)

    def _report(self, run: int, record) -> None:
        # Runs on the worker thread: emit only; Qt queues each signal to the GUI thread.
        if isinstance(record, ProgressReport):
            self._tagged.emit(run, "progressed", record)
        elif isinstance(record, EpochReport):
            self._tagged.emit(run, "epoch_finished", record)
            self._warn_about_epoch(run, record)
        elif isinstance(record, SettingsChange):
            self._tagged.emit(run, "settings_applied", record)
        elif isinstance(record, StepReport):
            self._tagged.emit(run, "step_trained", record)
        elif isinstance(record, RunFinished):
            self._finished_record = record
        else:
            logger.warning("ignored an unknown report record %r", type(record).__name__)

    def _warn_about_epoch(self, run: int, report: EpochReport) -> None:
        train = report.train
        if train.samples and train.silent / train.samples > SILENT_WARNING_SHARE:
            self._tagged.emit(
                run, "warned",
                f"epoch {report.epoch}: {train.silent} of {train.samples} training samples left every "
                "output neuron silent; lower the thresholds or raise the initial weight ranges"
            )

    # -- back on the GUI thread --------------------------------------------------------

    def _pass_on(self, run: int, name: str, argument: object) -> None:
        """Emit the public signal ``name`` if ``run`` is still the current run; drop it otherwise."""
        if run != self._current_run:
            logger.debug("dropped %s from the ended run %d", name, run)
            return
        signal = getattr(self, name)
        if name in self._SIGNALS_WITH_ARGUMENT:
            signal.emit(argument)
        else:
            signal.emit()

    def _on_thread_finished(self, thread: _FunctionThread) -> None:
        if thread is None or thread is not self._thread:
            # The queued end of a thread that shutdown() has already dealt with.
            return
        thread.wait()
        self._thread = None
        self._current_run = None
        record = self._finished_record or RunFinished("stopped", self._trainer.epochs_done)
        self._finished_record = None
        thread.deleteLater()
        self.finished.emit(record)


class DatasetLoader(QObject):
    """Load a dataset on a background thread, because downloads and large IDX files take seconds.

    Signals ``loaded(spec, DataSplits)`` or ``failed(spec, message)`` arrive on the GUI thread.
    """

    loaded = pyqtSignal(str, object)
    failed = pyqtSignal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: _FunctionThread | None = None
        self._outcome: tuple[str, object, str] | None = None

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    def load(self, spec: str, validation_fraction: float = 0.1, seed: int = 0) -> None:
        if self._thread is not None:
            raise RuntimeError("a dataset is already loading; wait for it to finish")
        self._outcome = None
        thread = _FunctionThread(lambda: self._load(spec, validation_fraction, seed))
        thread.setObjectName("s4nn-dataset")
        thread.finished.connect(self._on_thread_finished)
        self._thread = thread
        thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        return _wait_for(self._thread, timeout)

    def _load(self, spec: str, validation_fraction: float, seed: int) -> None:
        logger.info("loading dataset %s", spec)
        try:
            splits = load_dataset(spec, validation_fraction=validation_fraction, seed=seed, progress=False)
        except DatasetError as error:
            logger.warning("could not load dataset %s: %s", spec, error)
            self._outcome = (spec, None, str(error))
        except Exception as error:  # reported to the user instead of killing the thread silently
            logger.exception("loading dataset %s failed", spec)
            self._outcome = (spec, None, f"loading {spec} failed with {type(error).__name__}: {error}")
        else:
            self._outcome = (spec, splits, "")

    def _on_thread_finished(self) -> None:
        thread = self._thread
        if thread is None:
            return
        thread.wait()
        self._thread = None
        thread.deleteLater()
        spec, splits, message = self._outcome or ("", None, "loading the dataset ended without a result")
        if splits is None:
            self.failed.emit(spec, message)
        else:
            self.loaded.emit(spec, splits)
