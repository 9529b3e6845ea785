"""The runs folder: create, append epochs, list, load, and skip corrupt runs."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from s4nn_engine.config import Settings, make_settings
from s4nn_engine.datasets import DataSplits, load_dataset
from s4nn_engine.runs import RUN_FILE, RUNS_DIR_ENV, RunStore, RunStoreError, default_runs_dir
from s4nn_engine.training import EpochReport, Trainer


@pytest.fixture(scope="module")
def tiny_splits():
    bundled = load_dataset("bundled")
    return DataSplits(train=bundled.train.subset(range(200)), validation=bundled.validation.subset(range(50)),
                      test=None)


def test_run_round_trip(tmp_path):
    store = RunStore(tmp_path)
    settings = make_settings((20,), epochs=3, seed=7)
    record = store.create(settings, "bundled", "abc123", name="first try")
    record.append_epoch({"epoch": 1, "validation_accuracy": 0.5, "train_accuracy": np.float64(0.4),
                         "validation_mean_decision_time": float("nan"), "dead_resets": np.array([2])})
    record.append_epoch({"epoch": 2, "validation_accuracy": 0.75, "dead_resets": [0]},
                        checkpoints=[record.checkpoint_dir / "last.npz", "/elsewhere/best.npz"])
    record.finish("completed")

    loaded = store.load(record.run_id)
    assert loaded.name == "first try"
    assert loaded.dataset_name == "bundled"
    assert loaded.dataset_checksum == "abc123"
    assert loaded.seed == 7
    assert loaded.status == "completed"
    assert loaded.settings_object() == settings
    assert [r["epoch"] for r in loaded.history] == [1, 2]
    assert loaded.history[0]["train_accuracy"] == 0.4
    assert loaded.history[0]["validation_mean_decision_time"] is None  # NaN is stored as null
    assert loaded.history[0]["dead_resets"] == [2]
    assert loaded.best_validation_accuracy == 0.75
    assert loaded.checkpoints == ["checkpoints/last.npz", "/elsewhere/best.npz"]
    assert [run.run_id for run in store.list_runs()] == [record.run_id]


def test_run_json_is_strict_json(tmp_path):
    record = RunStore(tmp_path).create(make_settings((5,)), "bundled", "")
    record.append_epoch({"epoch": 1, "validation_accuracy": float("inf")})
    text = (record.path / RUN_FILE).read_text(encoding="utf-8")
    data = json.loads(text, parse_constant=lambda name: pytest.fail(f"run.json contains {name}"))
    assert data["history"][0]["validation_accuracy"] is None
    assert not list(record.path.glob(".run-*"))  # no temporary file left behind


def test_corrupt_run_skipped_with_warning(tmp_path, caplog):
    store = RunStore(tmp_path)
    good = store.create(make_settings((5,)), "bundled", "")
    broken = store.create(make_settings((5,)), "bundled", "")
    (broken.path / RUN_FILE).write_text('{"format": 1, "run_id": ', encoding="utf-8")
    wrong_shape = store.create(make_settings((5,)), "bundled", "")
    (wrong_shape.path / RUN_FILE).write_text('{"format": 1, "history": 3}', encoding="utf-8")
    (tmp_path / "not-a-run").mkdir()

    with caplog.at_level(logging.WARNING, logger="s4nn_engine.runs"):
        runs = store.list_runs()
    assert [run.run_id for run in runs] == [good.run_id]
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert any(broken.run_id in message and "not valid JSON" in message for message in warnings)
    with pytest.raises(RunStoreError, match="not valid JSON"):
        store.load(broken.run_id)
    with pytest.raises(RunStoreError, match="not found"):
        store.load("20000101-000000-000000")


def test_runs_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "from-env"))
    assert default_runs_dir() == tmp_path / "from-env"
    assert RunStore().root == tmp_path / "from-env"
    assert RunStore(tmp_path / "given").root == tmp_path / "given"
    monkeypatch.delenv(RUNS_DIR_ENV)
    assert default_runs_dir().parts[-2:] == ("s4nn-explorer", "runs")


def test_list_runs_of_missing_folder(tmp_path):
    assert RunStore(tmp_path / "absent").list_runs() == []


def test_trainer_history_recorded(tmp_path, tiny_splits):
    settings = make_settings((10,), epochs=2, seed=3, chunk_size=100)
    store = RunStore(tmp_path)
    record = store.create(settings, "bundled", tiny_splits.train.checksum)
    trainer = Trainer(settings, tiny_splits, checkpoint_dir=record.checkpoint_dir)

    def on_report(report) -> None:
        if isinstance(report, EpochReport):
            record.append_epoch(report.record, report.checkpoints)

    finished = trainer.run(on_report)
    record.finish(finished.reason, finished.message)

    loaded = store.load(record.run_id)
    assert loaded.status == "completed"
    assert len(loaded.history) == 2
    assert loaded.history[1]["validation_accuracy"] == pytest.approx(trainer.history[1]["validation_accuracy"])
    assert "checkpoints/last.npz" in loaded.checkpoints
    assert (record.path / "checkpoints" / "last.npz").is_file()
    assert Settings.from_dict(loaded.settings) == settings


@pytest.mark.parametrize("content", [
    b"\xff\xfe not utf-8",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"run_id": "x", "metadata": "abc"}',
    b'{"run_id": "x", "checkpoints": 5}',
    b"[1, 2, 3]",
])
def test_damaged_run_json_skipped(tmp_path, content):
    store = RunStore(tmp_path)
    folder = tmp_path / "20260101-000000-bad"
    folder.mkdir()
    (folder / "run.json").write_bytes(content)
    assert store.list_runs() == []
