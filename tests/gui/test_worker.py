"""The training worker and the dataset loader, on real trainers and real bundled digits."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from s4nn_engine.config import make_settings  # noqa: E402
from s4nn_engine.training import EpochReport, ProgressReport, StepReport, Trainer  # noqa: E402
from s4nn_gui import worker as worker_module  # noqa: E402
from s4nn_gui.worker import DatasetLoader, TrainingWorker, warm_up_kernels  # noqa: E402

WAIT_MS = 60_000


class SignalLog:
    """Record the name and argument of every worker signal, in arrival order."""

    NAMES = ("compiling", "started", "progressed", "epoch_finished", "settings_applied", "step_trained",
             "finished", "errored", "warned")

    def __init__(self, worker: TrainingWorker) -> None:
        self.events: list[tuple[str, object]] = []
        for name in self.NAMES:
            getattr(worker, name).connect(lambda *args, name=name: self.events.append((name, args[0] if args else None)))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def of(self, name: str) -> list:
        return [value for event, value in self.events if event == name]


@pytest.fixture
def worker(qtbot):
    worker = TrainingWorker()
    yield worker
    worker.shutdown(10.0)
    assert not worker.is_running


def make_trainer(splits, **kwargs) -> Trainer:
    options = dict(epochs=2, chunk_size=100, seed=1)
    options.update(kwargs)
    return Trainer(make_settings((20,), **options), splits)


def test_worker_run_signal_order(qtbot, worker, small_splits):
    trainer = make_trainer(small_splits)
    log = SignalLog(worker)

    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS) as finished:
        worker.start(trainer)
    assert not worker.is_running

    names = log.names()
    assert names[-1] == "finished"
    assert names.index("started") < names.index("progressed")
    assert "errored" not in names
    assert finished.args[0].reason == "completed"
    assert finished.args[0].epochs_done == 2
    epochs = log.of("epoch_finished")
    assert [report.epoch for report in epochs] == [1, 2]
    assert all(isinstance(report, EpochReport) for report in epochs)
    # 400 samples in chunks of 100 give 4 progress reports per epoch, every one delivered.
    assert len(log.of("progressed")) == 8
    assert all(isinstance(report, ProgressReport) and report.network is not None for report in log.of("progressed"))


def test_worker_reports_copies(qtbot, worker, small_splits):
    trainer = make_trainer(small_splits, epochs=1)
    log = SignalLog(worker)
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        worker.start(trainer)
    first = log.of("progressed")[0].network
    assert first is not trainer.network
    assert not np.array_equal(first.layer_weights(1), trainer.network.layer_weights(1))


def test_worker_start_twice_rejected(qtbot, worker, small_splits):
    trainer = make_trainer(small_splits, epochs=1000)
    with qtbot.waitSignal(worker.progressed, timeout=WAIT_MS):
        worker.start(trainer)
    with pytest.raises(RuntimeError, match="already running"):
        worker.start(make_trainer(small_splits))
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS) as finished:
        worker.stop()
    assert finished.args[0].reason == "stopped"


def test_worker_step_while_paused(qtbot, worker, small_splits):
    trainer = make_trainer(small_splits, epochs=1000)
    log = SignalLog(worker)
    with qtbot.waitSignal(worker.step_trained, timeout=WAIT_MS) as first:
        worker.start(trainer, start_paused=True)
        worker.step()
    with qtbot.waitSignal(worker.step_trained, timeout=WAIT_MS) as second:
        worker.step()

    assert isinstance(first.args[0], StepReport)
    assert first.args[0].samples_done == 1
    assert second.args[0].samples_done == 2
    assert first.args[0].trace.weight_changes is not None
    # A paused trainer trains nothing but the stepped samples.
    assert trainer.samples_seen == 2
    assert all(report.samples_done <= 2 for report in log.of("progressed"))

    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        worker.stop()
    assert trainer.samples_seen == 2


def test_worker_pause_resume_stop(qtbot, worker, small_splits):
    trainer = make_trainer(small_splits, epochs=1000)
    with qtbot.waitSignal(worker.progressed, timeout=WAIT_MS):
        worker.start(trainer)
    worker.pause()
    # A step proves the pause took hold: exactly one more sample is trained.
    with qtbot.waitSignal(worker.step_trained, timeout=WAIT_MS) as stepped:
        worker.step()
    seen = trainer.samples_seen
    with qtbot.waitSignal(worker.step_trained, timeout=WAIT_MS):
        worker.step()
    assert trainer.samples_seen == seen + 1
    assert stepped.args[0].samples_done >= 1

    with qtbot.waitSignal(worker.progressed, timeout=WAIT_MS,
                          check_params_cb=lambda report: report.samples_done > stepped.args[0].samples_done + 1):
        worker.resume()
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS) as finished:
        worker.stop()
    assert finished.args[0].reason == "stopped"
    assert worker.wait(1.0)


def test_worker_divergence_errored(qtbot, worker, small_splits):
    # η = 1.7e308 is near the float64 maximum, so a few updates overflow the output weights.
    trainer = make_trainer(small_splits, learning_rates=1.7e308, l2=0.0)
    log = SignalLog(worker)
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS) as finished:
        worker.start(trainer)

    assert finished.args[0].reason == "error"
    messages = log.of("errored")
    assert len(messages) == 1
    assert "finite" in messages[0]
    assert all(np.all(np.isfinite(w)) for w in trainer.network.weights())


def test_worker_unexpected_exception_errored(qtbot, worker, small_splits):
    class BrokenTrainer(Trainer):
        def run(self, report=None, *, snapshots=False, start_paused=False):
            raise MemoryError("no room for the chunk")

    trainer = BrokenTrainer(make_settings((20,), epochs=1), small_splits)
    log = SignalLog(worker)
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS) as finished:
        worker.start(trainer)

    assert finished.args[0].reason == "error"
    assert log.of("errored") == ["training failed with MemoryError: no room for the chunk"]


def test_worker_warns_silent_epoch(qtbot, worker, small_splits):
    # θ far above any reachable potential silences every output neuron.
    trainer = make_trainer(small_splits, epochs=1, thresholds=1e9)
    log = SignalLog(worker)
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        worker.start(trainer)
    warnings = log.of("warned")
    assert len(warnings) == 1
    assert "silent" in warnings[0]


def test_worker_idle_commands_harmless(qtbot, worker):
    worker.pause()
    worker.resume()
    worker.step()
    worker.stop()
    assert worker.wait(0.1)
    assert not worker.is_running
    assert worker.trainer is None


def test_worker_compiles_before_first_run(qtbot, worker, small_splits, monkeypatch):
    # A fresh event makes the worker believe the kernels are not compiled yet in this process.
    monkeypatch.setattr(worker_module, "_kernels_ready", threading.Event())
    trainer = make_trainer(small_splits, epochs=1)
    log = SignalLog(worker)
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        worker.start(trainer)
    names = log.names()
    assert names[0] == "compiling"
    assert names.index("compiling") < names.index("started")
    assert worker_module._kernels_ready.is_set()


def test_warm_up_kernels_runs(small_splits):
    warm_up_kernels(784, 10, 64)


def test_loader_loads_bundled(qtbot):
    loader = DatasetLoader()
    with qtbot.waitSignal(loader.loaded, timeout=WAIT_MS) as loaded:
        loader.load("bundled")
    assert loaded.args[0] == "bundled"
    assert len(loaded.args[1].train) == 8000
    assert not loader.is_running


def test_loader_reports_missing_folder(qtbot, tmp_path):
    loader = DatasetLoader()
    missing = tmp_path / "absent"
    with qtbot.waitSignal(loader.failed, timeout=WAIT_MS) as failed:
        loader.load(f"idx:{missing}")
    assert failed.args[0] == f"idx:{missing}"
    assert str(missing) in failed.args[1]
    assert not loader.is_running


def test_worker_drops_reports_of_an_ended_run(qtbot, worker, small_splits):
    # The GUI thread blocks in wait() while the old run trains, so all its reports are still queued
    # when shutdown() ends it and a new run with another layer size starts.
    old = make_trainer(small_splits, epochs=1)
    new = Trainer(make_settings((30,), epochs=1, chunk_size=100, seed=2), small_splits)
    log = SignalLog(worker)
    worker.start(old)
    assert worker.wait(60.0)
    assert worker.shutdown(10.0)
    assert log.names() == ["finished"]

    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        worker.start(new)

    progressed = log.of("progressed")
    assert len(progressed) == 4
    assert all(report.network.layer_sizes[1] == 30 for report in progressed)
    assert [report.epoch for report in log.of("epoch_finished")] == [1]
    assert log.names().count("started") == 1
    assert log.names().count("finished") == 2
    assert log.names()[-1] == "finished"
