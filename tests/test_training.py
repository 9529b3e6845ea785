"""The trainer on the bundled real data: reports, pause, step, stop, live settings, resets, seeds."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from s4nn_engine.checkpoint import load_checkpoint
from s4nn_engine.config import SettingsError, make_settings
from s4nn_engine.datasets import load_dataset
from s4nn_engine.network import Network
from s4nn_engine.training import (
    EpochReport,
    ProgressReport,
    RunFinished,
    SettingsChange,
    StepReport,
    Trainer,
    TrainingError,
)


class SmallSplits:
    """The first images of each bundled split, to keep the tests quick."""

    def __init__(self, bundled, n_train=400, n_eval=200):
        self.train = bundled.train.subset(np.arange(n_train))
        self.validation = bundled.validation.subset(np.arange(n_eval))
        self.test = bundled.test.subset(np.arange(n_eval))
        self.class_names = bundled.class_names


@pytest.fixture(scope="module")
def bundled():
    return load_dataset("bundled")


@pytest.fixture()
def small(bundled):
    return SmallSplits(bundled)


def small_settings(**overrides):
    values = dict(epochs=2, seed=1, chunk_size=100)
    values.update(overrides)
    return make_settings((30,), **values)


def run_collecting(trainer, **kwargs):
    records = []
    trainer.run(records.append, **kwargs)
    return records


def test_run_reports_in_order(small):
    records = run_collecting(Trainer(small_settings(), small), snapshots=True)
    kinds = [type(r).__name__ for r in records]
    assert kinds.count("EpochReport") == 2
    assert kinds.count("ProgressReport") == 8  # 400 samples / 100 per chunk, two epochs
    assert isinstance(records[-1], RunFinished)
    assert records[-1].reason == "completed"
    progress = [r for r in records if isinstance(r, ProgressReport)]
    assert [p.samples_done for p in progress[:4]] == [100, 200, 300, 400]
    assert all(p.network is not None for p in progress)


def test_epoch_report_figures(small):
    records = run_collecting(Trainer(small_settings(), small))
    epoch = next(r for r in records if isinstance(r, EpochReport))
    assert epoch.validation.samples == 200
    assert epoch.test.samples == 200
    assert epoch.validation.clean + epoch.validation.tie + epoch.validation.silent == 200
    assert epoch.train.samples == 400
    assert epoch.firing_rates[0].shape == (30,)
    assert epoch.record["validation_accuracy"] == epoch.validation.accuracy


def test_training_learns_bundled(bundled):
    splits = SmallSplits(bundled, n_train=2000, n_eval=500)
    trainer = Trainer(make_settings((100,), epochs=3, seed=0, chunk_size=500), splits)
    records = run_collecting(trainer)
    accuracies = [r.validation.accuracy for r in records if isinstance(r, EpochReport)]
    assert accuracies[-1] > 0.75  # far above chance (0.1) after three short epochs


def test_same_seed_bit_identical(small):
    first = Trainer(small_settings(), small)
    second = Trainer(small_settings(), small)
    first.run()
    second.run()
    for a, b in zip(first.network.weights(), second.network.weights()):
        assert np.array_equal(a, b)
    assert first.history == [dict(r, seconds=r["seconds"]) for r in first.history]
    assert [r["validation_accuracy"] for r in first.history] == [r["validation_accuracy"] for r in second.history]


def test_chunk_size_does_not_change_result(small):
    a = Trainer(small_settings(chunk_size=7), small)
    b = Trainer(small_settings(chunk_size=400), small)
    a.run()
    b.run()
    for wa, wb in zip(a.network.weights(), b.network.weights()):
        assert np.array_equal(wa, wb)


def test_other_seed_differs(small):
    a = Trainer(small_settings(seed=1), small)
    b = Trainer(small_settings(seed=2), small)
    assert not np.array_equal(a.network.weights()[0], b.network.weights()[0])


def test_fixed_order_without_shuffle(small):
    trainer = Trainer(small_settings(shuffle=False, epochs=1, chunk_size=1), small)
    order = []
    original = trainer._train_chunk

    def spy(chunk, *args):
        order.extend(chunk.tolist())
        return original(chunk, *args)

    trainer._train_chunk = spy
    trainer.run()
    assert order == list(range(400))


def test_live_threshold_change_applied(small):
    trainer = Trainer(small_settings(epochs=1), small)
    records = []

    def report(record):
        records.append(record)
        if isinstance(record, ProgressReport) and record.samples_done == 100:
            trainer.update_settings(thresholds=(80.0, 90.0), gamma=5)

    trainer.run(report)
    changes = [r for r in records if isinstance(r, SettingsChange)]
    assert len(changes) == 1
    assert changes[0].samples_done == 100
    assert changes[0].changes["thresholds"] == ([100.0, 100.0], [80.0, 90.0])
    assert changes[0].changes["gamma"] == (3, 5)
    assert trainer.network.config.thresholds == (80.0, 90.0)
    assert trainer.settings.learning.gamma == 5


def test_invalid_live_settings_rejected(small):
    trainer = Trainer(small_settings(), small)
    with pytest.raises(SettingsError, match="thresholds"):
        trainer.update_settings(thresholds=(-1.0, 100.0))
    with pytest.raises(SettingsError, match="learning_rates"):
        trainer.update_settings(learning_rates=(float("nan"), 0.2))
    with pytest.raises(SettingsError, match="gamma"):
        trainer.update_settings(gamma=10_000)
    with pytest.raises(SettingsError, match="cannot change during training"):
        trainer.update_settings(t_max=100)


def test_raise_epochs_trains_further(small):
    trainer = Trainer(small_settings(epochs=1), small)
    trainer.run()
    trainer.update_settings(epochs=2)
    trainer._apply_pending(lambda record: None, 1, 0)
    records = run_collecting(trainer)
    assert [r.epoch for r in records if isinstance(r, EpochReport)] == [2]
    assert len(trainer.history) == 2


def test_stop_mid_epoch_keeps_updates(small):
    trainer = Trainer(small_settings(epochs=3), small)
    before = trainer.network.weights()[1]

    def report(record):
        if isinstance(record, ProgressReport) and record.samples_done == 200:
            trainer.request_stop()

    finished = trainer.run(report)
    assert finished.reason == "stopped"
    assert trainer.epochs_done == 0
    assert trainer.history == []
    assert not np.array_equal(trainer.network.weights()[1], before)


def test_pause_resume_and_step_from_another_thread(small):
    trainer = Trainer(small_settings(epochs=1), small)
    records = []
    steps = threading.Event()

    def report(record):
        records.append(record)
        if isinstance(record, StepReport):
            steps.set()

    thread = threading.Thread(target=trainer.run, args=(report,), kwargs={"start_paused": True})
    thread.start()
    trainer.request_step()
    assert steps.wait(30)
    step = next(r for r in records if isinstance(r, StepReport))
    assert step.samples_done == 1
    assert trainer.is_paused
    assert not any(isinstance(r, ProgressReport) and r.samples_done > 1 for r in records)
    # The step's weight changes are exactly what the update did.
    after = step.network.weights()
    assert step.trace.weight_changes is not None
    assert step.trace.targets is not None
    trainer.resume()
    thread.join(60)
    assert not thread.is_alive()
    assert isinstance(records[-1], RunFinished)
    assert records[-1].reason == "completed"
    assert after[0].shape == (30, 784)


def test_step_report_matches_update(small):
    trainer = Trainer(small_settings(epochs=1), small)
    before = trainer.network.weights()
    records = []
    trainer.request_step()
    thread = threading.Thread(target=trainer.run, args=(records.append,), kwargs={"start_paused": True})
    thread.start()
    try:
        for _ in range(600):
            if any(isinstance(r, StepReport) for r in records):
                break
            thread.join(0.05)
        step = next(r for r in records if isinstance(r, StepReport))
    finally:
        trainer.request_stop()
        thread.join(30)
    for layer, change in enumerate(step.trace.weight_changes):
        expected = before[layer] + change
        np.testing.assert_allclose(step.network.weights()[layer], expected, rtol=0, atol=1e-12)


def test_dead_neurons_reset_after_epoch(small):
    # Hidden threshold so high that no hidden neuron ever fires: all are dead after epoch 1.
    # With λ = 0 and δ = 0 for silent hidden neurons, their weights stay exactly as drawn.
    settings = small_settings(thresholds=(1e9, 100.0), l2=0.0, epochs=2)
    trainer = Trainer(settings, small)
    weights_before = trainer.network.weights()[0]
    records = []

    def report(record):
        records.append(record)
        if isinstance(record, EpochReport) and record.epoch == 1:
            record_weights.append(trainer.network.weights()[0])

    record_weights = []
    trainer.run(report)
    epochs = [r for r in records if isinstance(r, EpochReport)]
    assert epochs[0].dead_resets == (30,)
    assert epochs[1].dead_resets == (0,)  # never after the last epoch
    assert np.all(epochs[0].firing_rates[0] == 0)
    # The report (and its checkpoint) saw the weights as trained, before the reset.
    assert np.array_equal(record_weights[0], weights_before)
    assert not np.array_equal(trainer.network.weights()[0], weights_before)


def test_no_dead_reset_option(small):
    settings = small_settings(thresholds=(1e9, 100.0), l2=0.0, epochs=2, dead_reset=False)
    trainer = Trainer(settings, small)
    before = trainer.network.weights()[0]
    records = run_collecting(trainer)
    assert [r.dead_resets for r in records if isinstance(r, EpochReport)] == [(0,), (0,)]
    assert np.array_equal(trainer.network.weights()[0], before)


def test_divergence_keeps_last_finite_weights(small):
    trainer = Trainer(small_settings(learning_rates=1e308, l2=0.0, epochs=1, chunk_size=50), small)
    records = []
    with pytest.raises(TrainingError, match="finite"):
        trainer.run(records.append)
    assert all(np.all(np.isfinite(w)) for w in trainer.network.weights())
    assert records[-1].reason == "error"


def test_checkpoints_written(small, tmp_path):
    trainer = Trainer(small_settings(), small, checkpoint_dir=tmp_path, dataset_name="bundled")
    trainer.run()
    last = load_checkpoint(tmp_path / "last.npz")
    best = load_checkpoint(tmp_path / "best.npz")
    assert len(last.history) == 2
    assert last.metadata["epoch"] == 2
    assert best.metadata["kind"] == "best"
    for a, b in zip(last.network.weights(), trainer.network.weights()):
        assert np.array_equal(a, b)
    assert last.settings == trainer.settings


def test_continue_from_checkpoint(small, tmp_path):
    trainer = Trainer(small_settings(epochs=1), small, checkpoint_dir=tmp_path)
    trainer.run()
    saved = load_checkpoint(tmp_path / "last.npz")
    resumed = Trainer(small_settings(epochs=2), small, network=saved.network, history=saved.history)
    records = run_collecting(resumed)
    assert [r.epoch for r in records if isinstance(r, EpochReport)] == [2]


def test_wrong_network_shape_rejected(small):
    other = Network.initialise(make_settings((12,)).network, np.random.default_rng(0))
    with pytest.raises(SettingsError, match="reset the network"):
        Trainer(small_settings(), small, network=other)


def test_input_size_mismatch_rejected(small):
    with pytest.raises(SettingsError, match="784 pixels"):
        Trainer(make_settings((10,), input_size=100), small)


def test_two_hidden_layers_train(small):
    trainer = Trainer(make_settings((30, 20), epochs=1, seed=3, chunk_size=200), small)
    records = run_collecting(trainer)
    epoch = next(r for r in records if isinstance(r, EpochReport))
    assert len(epoch.firing_rates) == 2
    assert len(epoch.dead_resets) == 2
