"""The trainer: online S4NN training in chunks, with pause, stop, live settings and reports.

One trainer serves the CLI and the window. :meth:`Trainer.run` blocks the calling
thread and sends report records to a callback. The command methods (``pause``,
``resume``, ``request_step``, ``request_stop``, ``update_settings``) may be called
from any other thread, and they take effect between two chunks.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from s4nn_engine import kernels
from s4nn_engine.config import LearningConfig, Settings, SettingsError, spread_per_layer
from s4nn_engine.encoding import encode
from s4nn_engine.metrics import CLEAN, SILENT, Metrics, SampleResults, score, summarise
from s4nn_engine.network import Network, Trace

logger = logging.getLogger(__name__)

LIVE_SETTINGS = ("thresholds", "learning_rates", "l2", "gamma", "epochs")


class TrainingError(RuntimeError):
    """Training cannot go on (for example the weights stopped being finite)."""


# -- report records -------------------------------------------------------------


@dataclass(frozen=True)
class RunningFigures:
    """Figures of the training passes of the current epoch so far."""

    samples: int
    accuracy: float
    first_spike_accuracy: float
    reference_accuracy: float
    clean: int
    tie: int
    silent: int
    mean_decision_time: float


@dataclass(frozen=True)
class ProgressReport:
    """Sent after every chunk. ``network`` is a private copy when snapshots were requested."""

    epoch: int
    epochs: int
    samples_done: int
    samples_total: int
    running: RunningFigures
    elapsed: float
    samples_per_second: float
    seconds_left: float
    network: Network | None = None


@dataclass(frozen=True)
class EpochReport:
    """Sent once per completed epoch, after evaluation and before the dead-neuron reset.

    ``dead_resets[h]`` counts the neurons of hidden layer h + 1 that were given
    fresh weights after this epoch. ``firing_rates[h]`` is, for each of its
    neurons, the share of this epoch's training samples on which it fired.
    """

    epoch: int
    epochs: int
    train: RunningFigures
    validation: Metrics | None
    test: Metrics | None
    validation_results: SampleResults | None
    test_results: SampleResults | None
    dead_resets: tuple[int, ...]
    firing_rates: tuple[np.ndarray, ...]
    seconds: float
    record: dict
    network: Network | None = None
    checkpoints: tuple[str, ...] = ()


@dataclass(frozen=True)
class SettingsChange:
    """Sent when pending setting changes were applied; ``changes`` maps a name to (old, new)."""

    epoch: int
    samples_done: int
    samples_seen: int
    changes: dict


@dataclass(frozen=True)
class StepReport:
    """One sample trained by :meth:`Trainer.request_step`.

    ``trace`` is the sample as the network saw it before the update, with its
    targets, errors, δ and the weight changes the update made. ``network`` is a
    copy of the network after the update.
    """

    epoch: int
    samples_done: int
    sample_index: int
    image: np.ndarray
    label: int
    trace: Trace
    network: Network


@dataclass(frozen=True)
class RunFinished:
    """Sent last by every run: ``reason`` is "completed", "stopped" or "error"."""

    reason: str
    epochs_done: int
    message: str = ""


Report = ProgressReport | EpochReport | SettingsChange | StepReport | RunFinished


@dataclass
class _Running:
    samples: int = 0
    correct: int = 0
    first_spike: int = 0
    reference: int = 0
    clean: int = 0
    tie: int = 0
    silent: int = 0
    decision_time_sum: int = 0

    def add(self, results: SampleResults) -> None:
        self.samples += int(results.labels.size)
        self.correct += int(np.count_nonzero(results.correct))
        self.first_spike += int(np.count_nonzero(results.first_spike_correct))
        self.reference += int(np.count_nonzero(results.reference_correct))
        self.clean += int(np.count_nonzero(results.outcomes == CLEAN))
        self.silent += int(np.count_nonzero(results.outcomes == SILENT))
        self.tie = self.samples - self.clean - self.silent
        decided = results.outcomes != SILENT
        self.decision_time_sum += int(results.decision_times[decided].sum())

    def figures(self) -> RunningFigures:
        n = self.samples
        decided = n - self.silent
        return RunningFigures(
            samples=n,
            accuracy=self.correct / n if n else float("nan"),
            first_spike_accuracy=self.first_spike / n if n else float("nan"),
            reference_accuracy=self.reference / n if n else float("nan"),
            clean=self.clean,
            tie=self.tie,
            silent=self.silent,
            mean_decision_time=self.decision_time_sum / decided if decided else float("nan"),
        )


@dataclass
class _Pending:
    changes: dict = field(default_factory=dict)


class Trainer:
    """Train a network on the training split of ``splits`` with ``settings``.

    Parameters
    ----------
    settings
        Validated on construction; :class:`SettingsError` names a bad value.
    splits
        An object with ``train``, ``validation`` and ``test`` datasets (each with
        ``images`` uint8 (n, h, w) and ``labels``), as returned by
        ``s4nn_engine.datasets.load_dataset``. ``train`` is required.
    network
        Continue from this network (its thresholds are replaced by the
        settings'); by default a new one is drawn from the seeded generator.
    history
        Epoch records of earlier training of ``network``, kept and extended.
    checkpoint_dir
        When given, ``last.npz`` is written after every epoch and ``best.npz``
        whenever the validation accuracy is the best so far (the training
        accuracy when there is no validation split).
    """

    def __init__(self, settings: Settings, splits: Any, *, network: Network | None = None,
                 history: Sequence[dict] = (), checkpoint_dir: str | Path | None = None,
                 dataset_name: str = "", dataset_checksum: str = "") -> None:
        settings.validate()
        if getattr(splits, "train", None) is None or len(splits.train) == 0:
            raise SettingsError("the dataset has no training split; choose a dataset with training images")
        self._settings = settings
        self._splits = splits
        net_config = settings.network
        self._rng = np.random.default_rng(settings.training.seed)

        n_pixels = int(np.prod(splits.train.images.shape[1:]))
        if n_pixels != net_config.layer_sizes[0]:
            raise SettingsError(
                f"the network has {net_config.layer_sizes[0]} inputs but the images have {n_pixels} pixels; "
                f"set the input layer size to {n_pixels}"
            )
        class_names = tuple(getattr(splits, "class_names", None) or getattr(splits.train, "class_names", ()))
        n_classes = max(len(class_names), int(splits.train.labels.max()) + 1)
        if n_classes > net_config.layer_sizes[-1]:
            raise SettingsError(
                f"the dataset has {n_classes} classes but the output layer has "
                f"{net_config.layer_sizes[-1]} neurons; set the output size to at least {n_classes}"
            )

        if network is None:
            network = Network.initialise(net_config, self._rng, class_names=class_names or None)
        else:
            if network.layer_sizes != net_config.layer_sizes or network.t_max != net_config.t_max:
                raise SettingsError(
                    f"the network has layers {network.layer_sizes} and t_max {network.t_max}, "
                    f"but the settings ask for {net_config.layer_sizes} and t_max {net_config.t_max}; "
                    "reset the network or change the settings"
                )
            network.set_thresholds(net_config.thresholds)
        self.network = network

        t_max = net_config.t_max
        self._train_x = encode(splits.train.images, t_max)
        self._train_labels = np.asarray(splits.train.labels, dtype=np.int64)
        self._train_label_rows = np.array([network.row_of_class(c) for c in range(n_classes)])[self._train_labels]
        self._eval_x = {}
        for name in ("validation", "test"):
            split = getattr(splits, name, None)
            if split is not None and len(split):
                self._eval_x[name] = encode(split.images, t_max)

        self.history: list[dict] = [dict(record) for record in history]
        self.epochs_done = len(self.history)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.dataset_name = dataset_name
        self.dataset_checksum = dataset_checksum or getattr(splits.train, "checksum", "")
        self._best_score = max((r.get("selection_accuracy", float("-inf")) for r in self.history),
                               default=float("-inf"))
        self.samples_seen = sum(int(r.get("train_samples", 0)) for r in self.history)

        self._lock = threading.Lock()
        self._pending = _Pending()
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._step_requests = 0
        self._running = False
        # Weights before the current chunk, restored if the chunk makes them non-finite.
        self._backup_u: np.ndarray | None = None
        self._backup_scales: np.ndarray | None = None

    # -- state ----------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        with self._lock:
            return self._settings

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def is_paused(self) -> bool:
        return not self._resume.is_set()

    # -- commands (any thread) ------------------------------------------------

    def request_stop(self) -> None:
        """Ask the run to end after the current chunk; it also wakes a paused run."""
        self._stop.set()
        self._resume.set()

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    def request_step(self) -> None:
        """Train exactly one more sample while paused and report it as a :class:`StepReport`."""
        with self._lock:
            self._step_requests += 1
        self.pause()

    def update_settings(self, **changes: Any) -> None:
        """Queue changes of ``thresholds``, ``learning_rates``, ``l2``, ``gamma`` or ``epochs``.

        They are validated now (:class:`SettingsError` names a bad value) and
        applied before the next chunk. Per-layer values take one entry per weight layer.
        """
        n_layers = self._settings.network.n_layers
        for name in ("thresholds", "learning_rates", "l2"):
            if name in changes:
                changes[name] = spread_per_layer(name, changes[name], n_layers)
        unknown = set(changes) - set(LIVE_SETTINGS)
        if unknown:
            raise SettingsError(
                f"{', '.join(sorted(unknown))} cannot change during training; "
                f"live settings are {', '.join(LIVE_SETTINGS)}. Reset the network to change the others"
            )
        with self._lock:
            merged = {**self._pending.changes, **changes}
            self._candidate_settings(merged).validate()
            self._pending.changes = merged

    def _candidate_settings(self, changes: dict) -> Settings:
        settings = self._settings
        network = settings.network
        learning = settings.learning
        training = settings.training
        if "thresholds" in changes:
            network = dataclasses.replace(network, thresholds=tuple(changes["thresholds"]))
        learning = LearningConfig(
            learning_rates=tuple(changes.get("learning_rates", learning.learning_rates)),
            l2=tuple(changes.get("l2", learning.l2)),
            gamma=changes.get("gamma", learning.gamma),
        )
        if "epochs" in changes:
            training = dataclasses.replace(training, epochs=changes["epochs"])
        return Settings(network=network, learning=learning, training=training)

    # -- the run --------------------------------------------------------------

    def run(self, report: Callable[[Report], None] | None = None, *, snapshots: bool = False,
            start_paused: bool = False) -> RunFinished:
        """Train until the configured number of epochs is done or a stop is requested.

        ``report`` receives every record, on this thread. With ``snapshots``,
        progress and epoch reports carry a copy of the network. An epoch stopped
        part-way keeps its updates, gets no evaluation and no dead-neuron reset,
        and the next run starts a fresh epoch. Raises :class:`TrainingError`
        (after restoring the last finite weights) when training diverges.
        """
        emit = report or (lambda record: None)
        self._stop.clear()
        if start_paused:
            self.pause()
        else:
            self.resume()
        self._running = True
        started = time.perf_counter()
        logger.info("training started: %s", self._describe())
        try:
            finished = self._run_epochs(emit, snapshots, started)
        except TrainingError as error:
            finished = RunFinished("error", self.epochs_done, str(error))
            emit(finished)
            raise
        finally:
            self._running = False
            logger.info("training ended after %.1f s, %d epochs done", time.perf_counter() - started,
                        self.epochs_done)
        emit(finished)
        return finished

    def _describe(self) -> str:
        settings = self._settings
        return (f"layers {settings.network.layer_sizes}, t_max {settings.network.t_max}, "
                f"{len(self._train_labels)} training samples, seed {settings.training.seed}")

    def _run_epochs(self, emit, snapshots, started) -> RunFinished:
        samples_this_run = 0
        # Changes queued between runs (such as more epochs) apply before the epoch count is read.
        self._apply_pending(emit, self.epochs_done + 1, 0)
        while self.epochs_done < self._settings.training.epochs:
            epoch = self.epochs_done + 1
            completed, trained = self._train_epoch(epoch, emit, snapshots, started, samples_this_run)
            samples_this_run += trained
            if not completed:
                return RunFinished("stopped", self.epochs_done, f"stopped during epoch {epoch}")
        return RunFinished("completed", self.epochs_done)

    def _train_epoch(self, epoch, emit, snapshots, run_started, samples_before) -> tuple[bool, int]:
        n_train = self._train_x.shape[0]
        training = self._settings.training
        order = self._rng.permutation(n_train) if training.shuffle else np.arange(n_train)
        network = self.network
        n_outputs = network.layer_sizes[-1]
        fire_counts = np.zeros(int(network._n_offsets[-1]), dtype=np.int64)
        running = _Running()
        epoch_started = time.perf_counter()
        position = 0

        while position < n_train:
            self._apply_pending(emit, epoch, position)
            if not self._wait_while_paused(emit, epoch, order, position, fire_counts, running):
                return False, position
            if self._stop.is_set():
                return False, position
            with self._lock:
                take_one = self._step_requests > 0
                if take_one:
                    self._step_requests -= 1
            size = 1 if take_one else training.chunk_size
            chunk = np.ascontiguousarray(order[position:position + size])
            trace = self._trace_step(int(chunk[0])) if take_one else None
            results = self._train_chunk(chunk, fire_counts, n_outputs)
            running.add(results)
            position += chunk.size
            self.samples_seen += chunk.size
            if trace is not None:
                sample = int(chunk[0])
                emit(StepReport(epoch=epoch, samples_done=position, sample_index=sample,
                                image=np.array(self._splits.train.images[sample]),
                                label=int(self._train_labels[sample]), trace=trace,
                                network=self.network.copy()))

            elapsed = time.perf_counter() - run_started
            done_this_run = samples_before + position
            rate = done_this_run / elapsed if elapsed > 0 else 0.0
            remaining = (n_train - position) + n_train * (self._settings.training.epochs - epoch)
            emit(ProgressReport(
                epoch=epoch, epochs=self._settings.training.epochs, samples_done=position,
                samples_total=n_train, running=running.figures(), elapsed=elapsed,
                samples_per_second=rate, seconds_left=remaining / rate if rate > 0 else float("nan"),
                network=network.copy() if snapshots else None,
            ))

        self._finish_epoch(epoch, emit, snapshots, running, fire_counts, n_train, epoch_started)
        return True, n_train

    def _train_chunk(self, chunk, fire_counts, n_outputs) -> SampleResults:
        network = self.network
        settings = self._settings
        learning = settings.learning
        if self._backup_u is None or self._backup_u.shape != network._flat_u.shape:
            self._backup_u = np.empty_like(network._flat_u)
            self._backup_scales = np.empty_like(network._scales)
        np.copyto(self._backup_u, network._flat_u)
        np.copyto(self._backup_scales, network._scales)
        out_times = np.empty((chunk.size, n_outputs), dtype=np.int16)
        v_cross = np.empty((chunk.size, n_outputs))
        v_last = np.empty((chunk.size, n_outputs))
        v_ref = np.empty((chunk.size, n_outputs))
        kernels._train_chunk(
            self._train_x, self._train_label_rows, chunk, network._flat_u, network._scales,
            network._sizes, network._w_offsets, network.neuron_thresholds(), network._n_offsets,
            settings.network.t_max, np.asarray(learning.learning_rates, np.float64),
            np.asarray(learning.l2, np.float64), int(learning.gamma), network._t_offsets,
            fire_counts, out_times, v_cross, v_last, v_ref,
        )
        if not (kernels._all_finite(network._flat_u) and kernels._all_finite(network._scales)):
            np.copyto(network._flat_u, self._backup_u)
            np.copyto(network._scales, self._backup_scales)
            raise TrainingError(
                "the weights stopped being finite (overflow), so training stopped and the weights "
                "from before the failing chunk were restored; checkpoints already written are those "
                f"of completed epochs. Lower the learning rates (now {list(learning.learning_rates)}) "
                "and start again"
            )
        return score(out_times, v_cross, v_last, v_ref, self._train_labels[chunk],
                     network.row_classes, settings.network.t_max)

    def _trace_step(self, sample) -> Trace:
        # The trace runs the training kernel on a copy of the weights, so its weight
        # changes are exactly those of the update that follows.
        learning = self._settings.learning
        return self.network.trace(self._train_x[sample], label=int(self._train_labels[sample]),
                                  gamma=learning.gamma, learning_rates=learning.learning_rates,
                                  l2=learning.l2, weight_changes=True)

    def _wait_while_paused(self, emit, epoch, order, position, fire_counts, running) -> bool:
        while not self._resume.is_set():
            self._resume.wait(0.05)
            if self._stop.is_set():
                return False
            self._apply_pending(emit, epoch, position)
            with self._lock:
                if self._step_requests > 0:
                    return True
        return True

    def _apply_pending(self, emit, epoch, position) -> None:
        with self._lock:
            changes = self._pending.changes
            if not changes:
                return
            self._pending.changes = {}
            old = self._settings
            new = self._candidate_settings(changes)
            self._settings = new
        self.network.set_thresholds(new.network.thresholds)
        described = {}
        for name in changes:
            before, after = _setting_value(old, name), _setting_value(new, name)
            if before != after:
                described[name] = (before, after)
        if described:
            logger.info("settings changed in epoch %d at sample %d: %s", epoch, position, described)
            emit(SettingsChange(epoch=epoch, samples_done=position, samples_seen=self.samples_seen,
                                changes=described))

    def _finish_epoch(self, epoch, emit, snapshots, running, fire_counts, n_train, epoch_started) -> None:
        network = self.network
        network.fold_scales()
        evaluations = {}
        for name, x_times in self._eval_x.items():
            split = getattr(self._splits, name)
            metrics, results, _ = network.evaluate(None, split.labels, x_times=x_times)
            evaluations[name] = (metrics, results)

        hidden_counts = [
            fire_counts[network._n_offsets[l - 1]:network._n_offsets[l]]
            for l in range(1, network.n_layers)
        ]
        firing_rates = tuple(counts / n_train for counts in hidden_counts)
        seconds = time.perf_counter() - epoch_started
        train_figures = running.figures()
        validation = evaluations.get("validation", (None, None))
        test = evaluations.get("test", (None, None))
        selection = validation[0].accuracy if validation[0] is not None else train_figures.accuracy

        is_last = epoch >= self._settings.training.epochs
        dead = [np.flatnonzero(counts < self._settings.training.dead_reset_fraction * n_train)
                for counts in hidden_counts]
        resets = tuple(int(d.size) for d in dead) if self._settings.training.dead_reset and not is_last \
            else tuple(0 for _ in dead)

        record = self._epoch_record(epoch, seconds, train_figures, validation[0], test[0], resets, selection)
        self.history.append(record)
        self.epochs_done = epoch
        checkpoints = self._save_checkpoints(record, selection)
        logger.debug("epoch %d: %s", epoch, record)
        emit(EpochReport(
            epoch=epoch, epochs=self._settings.training.epochs, train=train_figures,
            validation=validation[0], test=test[0], validation_results=validation[1],
            test_results=test[1], dead_resets=resets, firing_rates=firing_rates, seconds=seconds,
            record=dict(record), network=network.copy() if snapshots else None,
            checkpoints=checkpoints,
        ))

        # The reset comes after evaluation and checkpoints, which use the weights as trained.
        if any(resets):
            for layer, neurons in enumerate(dead, start=1):
                network.reinitialise_neurons(layer, neurons, self._rng)

    def _epoch_record(self, epoch, seconds, train, validation, test, resets, selection) -> dict:
        settings = self._settings
        record: dict[str, Any] = {
            "epoch": epoch,
            "seconds": round(seconds, 4),
            "train_samples": train.samples,
        }
        for prefix, figures in (("train", train), ("validation", validation), ("test", test)):
            for name in ("accuracy", "first_spike_accuracy", "reference_accuracy", "clean", "tie",
                         "silent", "mean_decision_time"):
                value = getattr(figures, name) if figures is not None else None
                record[f"{prefix}_{name}"] = value
        record["dead_resets"] = list(resets)
        record["selection_accuracy"] = selection
        record["thresholds"] = list(settings.network.thresholds)
        record["learning_rates"] = list(settings.learning.learning_rates)
        record["l2"] = list(settings.learning.l2)
        record["gamma"] = settings.learning.gamma
        return record

    def _save_checkpoints(self, record, selection) -> tuple[str, ...]:
        if self.checkpoint_dir is None:
            return ()
        from s4nn_engine.checkpoint import save_checkpoint

        metadata = {
            "epoch": record["epoch"],
            "dataset": self.dataset_name,
            "dataset_checksum": self.dataset_checksum,
            "seed": self._settings.training.seed,
        }
        written = []
        path = save_checkpoint(self.checkpoint_dir / "last.npz", self.network, settings=self._settings,
                               history=self.history, metadata={**metadata, "kind": "last"})
        written.append(str(path))
        if selection > self._best_score:
            self._best_score = selection
            path = save_checkpoint(self.checkpoint_dir / "best.npz", self.network, settings=self._settings,
                                   history=self.history, metadata={**metadata, "kind": "best"})
            written.append(str(path))
        return tuple(written)


def _setting_value(settings: Settings, name: str):
    if name == "thresholds":
        return list(settings.network.thresholds)
    if name == "epochs":
        return settings.training.epochs
    if name == "gamma":
        return settings.learning.gamma
    return list(getattr(settings.learning, name))
