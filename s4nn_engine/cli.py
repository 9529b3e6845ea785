"""Headless commands: ``s4nn train``, ``s4nn evaluate`` and ``s4nn bench``."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from s4nn_engine.config import SettingsError, make_settings
from s4nn_engine.files import write_text_atomically

logger = logging.getLogger(__name__)

EXIT_INVALID = 2
RUN_OUTPUTS = ("last.npz", "best.npz", "metrics.csv")
EXIT_INTERRUPTED = 130


def _positive_int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers, e.g. 400 or 400,100")
    return values


def _float_list(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers, e.g. 100 or 100,80")


def _range_list(text: str) -> list[tuple[float, float]]:
    ranges = []
    for part in text.split(","):
        try:
            low, high = (float(v) for v in part.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not a LOW:HIGH range; give one range or one per layer, e.g. 0:5,0:48"
            )
        ranges.append((low, high))
    return ranges


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s4nn",
        description="Train and evaluate S4NN spiking networks (one spike per neuron) without a window.",
    )
    verbosity = argparse.ArgumentParser(add_help=False)
    verbosity.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                           help="log details, per-epoch figures included (DEBUG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details, per-epoch figures included (DEBUG)")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", parents=[verbosity],
                                help="train a network and write checkpoints and a metrics CSV")
    _add_dataset_options(train)
    train.add_argument("--hidden", type=_positive_int_list, default=[400],
                       help="hidden layer sizes, comma-separated (default 400)")
    train.add_argument("--tmax", type=int, default=256, help="number of time steps t_max (default 256)")
    train.add_argument("--threshold", type=_float_list, default=[100.0],
                       help="firing threshold θ per weight layer, comma-separated; one value applies to all (default 100)")
    train.add_argument("--lr", type=_float_list, default=[0.2],
                       help="learning rate η per weight layer (default 0.2)")
    train.add_argument("--l2", type=_float_list, default=[1e-6], help="L2 penalty λ per weight layer (default 1e-6)")
    train.add_argument("--gamma", type=int, default=3, help="target margin γ in time steps (default 3)")
    train.add_argument("--init", type=_range_list, default=None,
                       help="uniform initial weight range LOW:HIGH per weight layer (default 0:5 hidden, 0:48 output)")
    train.add_argument("--epochs", type=int, default=10, help="number of epochs (default 10)")
    train.add_argument("--seed", type=int, default=0, help="seed of initial weights, shuffling and resets (default 0)")
    train.add_argument("--no-shuffle", action="store_true", help="train in file order every epoch")
    train.add_argument("--no-dead-reset", action="store_true",
                       help="do not give fresh weights to hidden neurons that fired on < 0.1 %% of an epoch's samples")
    train.add_argument("--chunk-size", type=int, default=500, help="samples between progress updates (default 500)")
    train.add_argument("--out", type=Path, default=Path("s4nn-run"),
                       help="folder for last.npz, best.npz and metrics.csv (default ./s4nn-run)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the checkpoints and metrics of an earlier run in --out")
    train.add_argument("--json", action="store_true", help="print one JSON object per epoch instead of text")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    evaluate = commands.add_parser("evaluate", parents=[verbosity],
                                   help="evaluate a checkpoint or the published S4NN weights")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="checkpoint written by s4nn train or the window")
    source.add_argument("--reference-weights", type=Path,
                        help="the published S4NN weights file (a .npy pickle with CuPy arrays inside)")
    _add_dataset_options(evaluate)
    evaluate.add_argument("--split", choices=("test", "validation", "train"), default="test",
                          help="which split to evaluate (default test)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")

    bench = commands.add_parser("bench", parents=[verbosity],
                                help="time the engine against a dense NumPy simulation")
    bench.add_argument("--train-samples", type=int, default=2000,
                       help="training samples timed for the engine (default 2000)")
    bench.add_argument("--dense-samples", type=int, default=30,
                       help="samples timed for the dense simulation, which is slow (default 30)")
    bench.add_argument("--repeats", type=int, default=3,
                       help="runs of every timing, the engine and the dense simulation taking turns; "
                            "the fastest counts (default 3)")
    bench.add_argument("--dataset", default="bundled", help="dataset for the timing (default bundled)")
    bench.add_argument("--validation-fraction", type=float, default=0.1,
                       help="share of the training file held out (mnist, fashion-mnist, idx; default 0.1); "
                            "0 times the full training file with --full-epoch")
    bench.add_argument("--full-epoch", action="store_true",
                       help="also time one epoch over the dataset's whole training split")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _add_dataset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="bundled",
                        help="bundled, mnist, fashion-mnist or idx:DIR (a folder of IDX files); default bundled")
    parser.add_argument("--validation-fraction", type=float, default=0.1,
                        help="share of the training file held out for validation (mnist, fashion-mnist, idx; default 0.1)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from s4nn_engine.checkpoint import CheckpointError
    from s4nn_engine.datasets import DatasetError
    from s4nn_engine.training import TrainingError

    try:
        if args.command == "train":
            return _train(args)
        if args.command == "evaluate":
            return _evaluate(args)
        return _bench(args)
    except (SettingsError, DatasetError, CheckpointError, TrainingError) as error:
        print(f"s4nn {args.command}: error: {error}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as error:
        # Folders and files the user named: --out, metrics.csv, settings.json.
        print(f"s4nn {args.command}: error: {error.strerror or error}: {error.filename or ''}. "
              "Check the path and its permissions.", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print(f"s4nn {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _load(dataset: str, validation_fraction: float, seed: int = 0):
    from s4nn_engine.datasets import load_dataset

    return load_dataset(dataset, validation_fraction=validation_fraction, seed=seed)


def _train(args) -> int:
    from tqdm import tqdm

    from s4nn_engine.training import EpochReport, ProgressReport, SettingsChange, Trainer

    splits = _load(args.dataset, args.validation_fraction, args.seed)
    if splits.train is None or len(splits.train) == 0:
        raise SettingsError(f"dataset {args.dataset} has no training split; give a dataset with training images")
    n_classes = len(splits.class_names)
    settings = make_settings(
        tuple(args.hidden), input_size=int(np.prod(splits.train.images.shape[1:])), output_size=n_classes,
        t_max=args.tmax, thresholds=args.threshold, learning_rates=args.lr, l2=args.l2,
        init_ranges=args.init, gamma=args.gamma, epochs=args.epochs, seed=args.seed,
        shuffle=not args.no_shuffle, dead_reset=not args.no_dead_reset, chunk_size=args.chunk_size,
    )
    out = args.out
    if out.exists() and not out.is_dir():
        raise SettingsError(f"--out {out} is a file; give a folder for the checkpoints and metrics.csv")
    earlier = [name for name in RUN_OUTPUTS if (out / name).exists()]
    if earlier and not args.overwrite:
        raise SettingsError(
            f"--out {out} already contains {', '.join(earlier)} from an earlier run; choose another "
            "folder, or pass --overwrite to replace them"
        )
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(out / "settings.json", settings.to_json() + "\n")
    trainer = Trainer(settings, splits, checkpoint_dir=out, dataset_name=args.dataset)

    bar = None
    show_progress = not args.no_progress and sys.stderr.isatty() or os.environ.get("S4NN_PROGRESS") == "1"
    if not args.json:
        sizes = "-".join(str(s) for s in settings.network.layer_sizes)
        print(f"training {sizes} on {args.dataset}: {len(splits.train)} training, "
              f"{len(splits.validation) if splits.validation is not None else 0} validation samples, "
              f"{args.epochs} epochs, checkpoints in {out}")

    def report(record) -> None:
        nonlocal bar
        if isinstance(record, ProgressReport) and show_progress:
            if bar is None:
                bar = tqdm(total=record.samples_total, desc=f"epoch {record.epoch}", unit="sample",
                           leave=False, file=sys.stderr)
            bar.update(record.samples_done - bar.n)
            bar.set_postfix(acc=f"{record.running.accuracy:.3f}")
        elif isinstance(record, EpochReport):
            if bar is not None:
                bar.close()
                bar = None
            _write_metrics_csv(out / "metrics.csv", trainer.history)
            if args.json:
                print(json.dumps(_json_safe(record.record)), flush=True)
            else:
                print(_epoch_line(record), flush=True)
        elif isinstance(record, SettingsChange):
            logger.info("settings changed: %s", record.changes)

    try:
        trainer.run(report)
    finally:
        if bar is not None:
            bar.close()
    return 0


def _epoch_line(report) -> str:
    figures = report.validation if report.validation is not None else report.train
    name = "validation" if report.validation is not None else "train"
    resets = "/".join(str(r) for r in report.dead_resets) or "0"
    return (
        f"epoch {report.epoch:3d}/{report.epochs}  {name}: accuracy {figures.accuracy:.4f}  "
        f"first-spike {figures.first_spike_accuracy:.4f}  reference {figures.reference_accuracy:.4f}  "
        f"clean {figures.clean} tie {figures.tie} silent {figures.silent}  "
        f"train accuracy {report.train.accuracy:.4f}  resets {resets}  {report.seconds:.1f} s"
    )


def _write_metrics_csv(path: Path, history: list[dict]) -> None:
    if not history:
        return
    columns = [key for key in history[0] if not isinstance(history[0][key], (list, dict))]
    columns += [key for key in history[0] if isinstance(history[0][key], list)]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for record in history:
        row = []
        for key in columns:
            value = record.get(key)
            if isinstance(value, list):
                value = ";".join(str(v) for v in value)
            elif value is None or (isinstance(value, float) and math.isnan(value)):
                value = ""
            row.append(value)
        writer.writerow(row)
    write_text_atomically(path, buffer.getvalue())


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def _evaluate(args) -> int:
    from s4nn_engine.checkpoint import import_reference_weights, load_checkpoint

    if args.checkpoint is not None:
        network = load_checkpoint(args.checkpoint).network
    else:
        network = import_reference_weights(args.reference_weights)
    splits = _load(args.dataset, args.validation_fraction)
    split = getattr(splits, args.split)
    if split is None or len(split) == 0:
        raise SettingsError(f"dataset {args.dataset} has no {args.split} split; choose another --split")
    pixels = int(np.prod(split.images.shape[1:]))
    if pixels != network.layer_sizes[0]:
        raise SettingsError(
            f"the network has {network.layer_sizes[0]} inputs but {args.dataset} images have {pixels} pixels"
        )
    try:
        metrics, _, _ = network.evaluate(split.images, split.labels)
    except ValueError as error:
        raise SettingsError(f"cannot evaluate {args.dataset} {args.split}: {error}") from error
    summary = metrics.to_dict()
    summary["dataset"] = args.dataset
    summary["split"] = args.split
    if args.json:
        print(json.dumps(_json_safe(summary)))
    else:
        outcomes = metrics.outcomes
        print(f"{args.dataset} {args.split}: {metrics.samples} samples")
        print(f"  accuracy             {metrics.accuracy:.4f}  (decision: ties by potential, silent by V(t_max-1))")
        print(f"  first-spike accuracy {metrics.first_spike_accuracy:.4f}  (the label's neuron alone fires first)")
        print(f"  reference accuracy   {metrics.reference_accuracy:.4f}  (published code's rule)")
        print(f"  outcomes             clean {outcomes['clean']}, tie {outcomes['tie']}, silent {outcomes['silent']}")
        print(f"  mean decision time   {metrics.mean_decision_time:.1f} steps")
    return 0


def _bench(args) -> int:
    from s4nn_engine.benchmark import run_benchmark

    for name in ("train_samples", "dense_samples", "repeats"):
        value = getattr(args, name)
        if value < 1:
            raise SettingsError(f"--{name.replace('_', '-')} = {value} must be at least 1")

    splits = _load(args.dataset, args.validation_fraction)
    if splits.train is None or len(splits.train) == 0:
        raise SettingsError(f"dataset {args.dataset} has no training split; give a dataset with training images")
    result = run_benchmark(splits, train_samples=args.train_samples, dense_samples=args.dense_samples,
                           full_epoch=args.full_epoch, repeats=args.repeats)
    if args.json:
        print(json.dumps(_json_safe(result)))
    else:
        for line in result["lines"]:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
