"""The s4nn command on the bundled digits and the shared MNIST test set."""

from __future__ import annotations

import csv
import json
import os

import pytest

from conftest import shared_file
from s4nn_engine.checkpoint import load_checkpoint
from s4nn_engine.cli import main


def test_train_writes_outputs(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--hidden", "40", "--epochs", "2", "--seed", "3", "--out", str(out)])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch")]
    assert len(epoch_lines) == 2
    assert "first-spike" in epoch_lines[0]
    assert "silent" in epoch_lines[0]
    for name in ("last.npz", "best.npz", "metrics.csv", "settings.json"):
        assert (out / name).exists(), name
    with open(out / "metrics.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert 0.1 < float(rows[1]["validation_accuracy"]) <= 1.0
    assert load_checkpoint(out / "last.npz").network.layer_sizes == (784, 40, 10)


def test_train_json_lines(tmp_path, capsys):
    code = main(["train", "--hidden", "20", "--epochs", "1", "--json", "--out", str(tmp_path)])
    assert code == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["epoch"] == 1
    assert set(record) >= {"validation_accuracy", "validation_first_spike_accuracy",
                           "validation_reference_accuracy", "dead_resets", "seconds"}


def test_train_per_layer_options(tmp_path):
    code = main(["train", "--hidden", "20,10", "--threshold", "50,100", "--init", "0:5,0:48",
                 "--epochs", "1", "--out", str(tmp_path)])
    assert code == 0
    settings = load_checkpoint(tmp_path / "last.npz").settings
    # Two values on three weight layers: the extra hidden layer copies the first.
    assert settings.network.thresholds == (50.0, 50.0, 100.0)
    assert settings.network.init_ranges == ((0.0, 5.0), (0.0, 5.0), (0.0, 48.0))


@pytest.mark.parametrize("args, fragment", [
    (["--threshold", "-3"], "thresholds[0] = -3.0 must be > 0"),
    (["--tmax", "1"], "t_max = 1 is out of range"),
    (["--lr", "nan"], "not finite"),
    (["--gamma", "999"], "gamma = 999"),
    (["--dataset", "idx:/nonexistent/folder"], "/nonexistent/folder"),
])
def test_train_rejects_bad_settings(tmp_path, capsys, args, fragment):
    code = main(["train", "--epochs", "1", "--out", str(tmp_path), *args])
    assert code == 2
    assert fragment in capsys.readouterr().err


def test_train_rejects_malformed_list(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--hidden", "40,x", "--out", str(tmp_path)])
    assert "comma-separated list of integers" in capsys.readouterr().err


def test_evaluate_reference_weights_json(capsys):
    weights = shared_file("s4nn-reference", "weights_pretrained.npy")
    folder = shared_file("mnist-test")
    code = main(["evaluate", "--reference-weights", str(weights), "--dataset", f"idx:{folder}", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["samples"] == 10000
    assert summary["accuracy"] == 0.9623
    assert summary["first_spike_accuracy"] == 0.9473
    assert summary["reference_accuracy"] == 0.9669
    assert summary["outcomes"] == {"clean": 9773, "tie": 147, "silent": 80}


def test_evaluate_trained_checkpoint_on_mnist(tmp_path, capsys):
    folder = shared_file("mnist-test")
    assert main(["train", "--hidden", "40", "--epochs", "1", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    code = main(["evaluate", "--checkpoint", str(tmp_path / "best.npz"), "--dataset", f"idx:{folder}", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["samples"] == 10000
    assert summary["accuracy"] > 0.5  # one short epoch on 8,000 digits is already far above chance
    assert sum(summary["outcomes"].values()) == 10000


def test_evaluate_rejects_corrupt_checkpoint(tmp_path, capsys):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    code = main(["evaluate", "--checkpoint", str(broken)])
    assert code == 2
    assert str(broken) in capsys.readouterr().err


def test_bench_small(capsys):
    code = main(["bench", "--train-samples", "200", "--dense-samples", "3", "--repeats", "2", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["network"] == "784-400-10"
    assert result["engine_train_us_per_sample"] > 0
    assert result["dense_train_us_per_sample"] > result["engine_train_us_per_sample"]
    runs = result["runs_us_per_sample"]
    assert len(runs["engine_train"]) == len(runs["dense_train"]) == 2
    assert result["engine_train_us_per_sample"] == min(runs["engine_train"])
    assert result["dense_eval_us_per_sample"] == min(runs["dense_eval"])


def test_train_out_is_file_rejected(tmp_path, capsys):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me\n")
    code = main(["train", "--epochs", "1", "--out", str(existing)])
    assert code == 2
    assert "is a file" in capsys.readouterr().err
    assert existing.read_text() == "keep me\n"


def test_verbose_after_subcommand(tmp_path):
    assert main(["train", "-v", "--hidden", "10", "--epochs", "1", "--out", str(tmp_path)]) == 0


def test_bench_rejects_zero_samples(capsys):
    assert main(["bench", "--train-samples", "0"]) == 2
    assert "--train-samples = 0" in capsys.readouterr().err
    assert main(["bench", "--repeats", "0"]) == 2
    assert "--repeats = 0" in capsys.readouterr().err


def test_outputs_follow_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        assert main(["train", "--hidden", "10", "--epochs", "1", "--out", str(tmp_path)]) == 0
    finally:
        os.umask(previous)
    for name in ("metrics.csv", "settings.json", "last.npz"):
        mode = (tmp_path / name).stat().st_mode & 0o777
        assert mode == 0o644, f"{name} has mode {oct(mode)}"  # 0o666 less the umask 0o022


def test_train_keeps_earlier_run(tmp_path, capsys):
    assert main(["train", "--hidden", "10", "--epochs", "1", "--out", str(tmp_path)]) == 0
    before = (tmp_path / "best.npz").read_bytes()
    capsys.readouterr()
    assert main(["train", "--hidden", "10", "--epochs", "1", "--seed", "5", "--out", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "best.npz").read_bytes() == before
    assert main(["train", "--hidden", "10", "--epochs", "1", "--seed", "5", "--out", str(tmp_path),
                 "--overwrite"]) == 0
    assert (tmp_path / "best.npz").read_bytes() != before
