"""The ``s4nn-explorer`` command: open the window on a dataset, optionally train, screenshot and quit."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

from s4nn_engine.config import SettingsError, make_settings
from s4nn_engine.datasets import DatasetError, load_dataset
from s4nn_gui.dataset_messages import has_training_split, load_failure_message, missing_training_split_message
from s4nn_gui.main_window import GUI_CHUNK_SIZE, MainWindow

logger = logging.getLogger(__name__)

FALLBACK_DATASET = "bundled"
DEFAULT_SCREENSHOT_DELAY_S = 10.0
WINDOW_SIZE = (1600, 1000)
# QTimer takes a 32-bit count of milliseconds, so about 24.8 days is the longest delay.
MAX_QUIT_AFTER_S = (2**31 - 1) // 1000


def parse_hidden(text: str) -> tuple[int, ...]:
    """Parse "400" or "400,100" for argparse; an empty string means no hidden layer."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid hidden layer sizes {text!r}; write e.g. 400 or 400,100") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"invalid hidden layer sizes {text!r}; every size must be ≥ 1")
    return sizes


def positive_float(text: str) -> float:
    """Parse a delay in seconds for argparse: finite, > 0 and short enough for a Qt timer."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and 0 < value <= MAX_QUIT_AFTER_S):
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; valid: 0 < seconds ≤ {MAX_QUIT_AFTER_S}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s4nn-explorer",
        description="Train, watch and debug S4NN spiking networks (one spike per neuron).",
    )
    parser.add_argument("--dataset", default=FALLBACK_DATASET,
                        help="dataset to open: bundled (default, ships with the program), mnist, fashion-mnist "
                             "or idx:DIR for a folder of IDX files; if it cannot be loaded the bundled one is used")
    parser.add_argument("--checkpoint", metavar="FILE", type=Path,
                        help="open this checkpoint at start")
    parser.add_argument("--hidden", type=parse_hidden, default=(400,), metavar="SIZES",
                        help="hidden layer sizes, comma-separated (default 400)")
    parser.add_argument("--epochs", type=int, default=10, help="number of epochs to train (default 10)")
    parser.add_argument("--autostart", action="store_true", help="press Start once the window is open")
    parser.add_argument("--screenshot", metavar="FILE", type=Path,
                        help="save a PNG of the whole window just before quitting "
                             f"(quits after {DEFAULT_SCREENSHOT_DELAY_S:.0f} s unless --quit-after is given)")
    parser.add_argument("--quit-after", metavar="SECONDS", type=positive_float,
                        help="quit this many seconds after the window opened, discarding unsaved training")
    return parser


def load_with_fallback(spec: str) -> tuple[object, str, str]:
    """Load ``spec``; when it fails or has no training split, load the bundled dataset.

    Returns (splits, spec used, message for the user or ""). The message starts
    with what to do and ends with the loader's error.
    """
    try:
        splits = load_dataset(spec)
    except DatasetError as error:
        if spec == FALLBACK_DATASET:
            raise
        logger.error("could not load dataset %s: %s; using the bundled dataset", spec, error)
        return load_dataset(FALLBACK_DATASET), FALLBACK_DATASET, load_failure_message(spec, error)
    if not has_training_split(splits):
        message = missing_training_split_message(spec)
        logger.error("%s; using the bundled dataset", message)
        return load_dataset(FALLBACK_DATASET), FALLBACK_DATASET, message
    return splits, spec, ""


def main(argv: list[str] | None = None) -> int:
    """Run the S4NN Explorer; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("S4NN Explorer")

    try:
        splits, spec, dataset_error = load_with_fallback(args.dataset)
    except DatasetError as error:
        logger.error("cannot load the bundled dataset: %s", error)
        return 2
    n_pixels = int(splits.train.images[0].size)
    n_classes = max(len(splits.class_names), int(splits.train.labels.max()) + 1)
    try:
        settings = make_settings(args.hidden, input_size=n_pixels, output_size=n_classes, epochs=args.epochs,
                                 chunk_size=GUI_CHUNK_SIZE)
    except SettingsError as error:
        parser.error(str(error))
    try:
        window = MainWindow(splits, dataset_spec=spec, settings=settings)
    except SettingsError as error:  # a network too large for this machine's memory, for one
        parser.error(str(error))
    window.resize(*WINDOW_SIZE)
    window.show()
    if dataset_error:
        window.show_error("Dataset not available",
                          f"Could not use {args.dataset}; the window shows the bundled MNIST digits instead.\n\n"
                          f"{dataset_error}")
    if args.checkpoint is not None:
        window.open_checkpoint(args.checkpoint)
    if args.autostart:
        QTimer.singleShot(0, window.start_training)

    failures: list[str] = []
    quit_after = args.quit_after
    if quit_after is None and args.screenshot is not None:
        quit_after = DEFAULT_SCREENSHOT_DELAY_S
    if quit_after is not None:
        def finish() -> None:
            if args.screenshot is not None:
                window.repaint_from_latest()
                if window.grab().save(str(args.screenshot)):
                    logger.info("saved a screenshot of the window to %s", args.screenshot)
                else:
                    logger.error("could not write the screenshot %s", args.screenshot)
                    failures.append("screenshot")
            window.ask_unsaved_changes = lambda _action: "discard"
            window.close()

        QTimer.singleShot(int(quit_after * 1000), finish)
    status = app.exec()
    return status or (1 if failures else 0)


if __name__ == "__main__":
    sys.exit(main())
