"""Measure whether the window stays responsive while training and how much training speed it costs.

``python -m s4nn_gui.benchmark`` trains the same network twice on the same data:

1. headless: a :class:`Trainer` run on this thread, with no window and no snapshots;
2. in the window: Start pressed in a shown :class:`MainWindow`, with the worker thread,
   network snapshots and the 30 Hz repaint of every visible plot.

During the window run a 10 ms QTimer on the GUI thread records how late each of its
timeouts fires. A late timeout is time in which the GUI thread could not react to input. Both
runs start after the numba kernels are compiled, and both use the same seed, so they
train exactly the same samples. Speeds are training samples per second of wall time
from the run's start to its end, epoch-end evaluations included. Single runs of a
few seconds vary by about ±10 % on a 2-core machine, so the pair of runs is repeated
(3 times by default) and the report gives medians and the ratio of each pair.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from s4nn_engine.config import Settings, make_settings
from s4nn_engine.datasets import load_dataset
from s4nn_engine.runs import RUNS_DIR_ENV
from s4nn_engine.training import Trainer

logger = logging.getLogger(__name__)

PROBE_INTERVAL_MS = 10


@dataclass(frozen=True)
class BenchmarkResult:
    """Speeds in training samples per second (one per repeat) and GUI timer delays in milliseconds."""

    headless_samples_per_second: tuple[float, ...]
    window_samples_per_second: tuple[float, ...]
    timer_delays_ms: np.ndarray
    samples: int

    @property
    def speed_ratios(self) -> np.ndarray:
        """Window speed over headless speed, per repeat (each pair ran back to back)."""
        return np.asarray(self.window_samples_per_second) / np.asarray(self.headless_samples_per_second)

    def delay_percentile(self, percent: float) -> float:
        if not self.timer_delays_ms.size:
            return float("nan")
        return float(np.percentile(self.timer_delays_ms, percent))


def measure_headless(settings: Settings, splits) -> tuple[float, int]:
    """Train on this thread without a window; return (samples per second, samples trained)."""
    trainer = Trainer(settings, splits)
    started = time.perf_counter()
    trainer.run()
    seconds = time.perf_counter() - started
    return trainer.samples_seen / seconds, trainer.samples_seen


def measure_window(settings: Settings, splits, *, size: tuple[int, int] = (1600, 1000)) -> tuple[float, np.ndarray]:
    """Train in a shown window; return (samples per second, delays of a 10 ms GUI timer in ms)."""
    from PyQt6.QtCore import QEventLoop, QTimer
    from PyQt6.QtWidgets import QApplication

    from s4nn_gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(splits, dataset_spec="benchmark", settings=settings)
    window.resize(*size)
    window.show()
    app.processEvents()

    ticks: list[float] = []
    probe = QTimer()
    probe.setTimerType(probe.timerType().PreciseTimer)
    probe.setInterval(PROBE_INTERVAL_MS)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))

    loop = QEventLoop()
    finished_at: list[float] = []

    def on_finished(_record) -> None:
        finished_at.append(time.perf_counter())
        loop.quit()

    window.worker.finished.connect(on_finished)
    probe.start()
    started = time.perf_counter()
    window.start_training()
    loop.exec()
    probe.stop()

    seconds = finished_at[0] - started
    samples = window.trainer.samples_seen
    window.ask_unsaved_changes = lambda _action: "discard"
    window.close()
    window.deleteLater()
    app.processEvents()

    intervals = np.diff(np.asarray(ticks)) * 1000.0
    delays = np.clip(intervals - PROBE_INTERVAL_MS, 0.0, None)
    return samples / seconds, delays


def run_benchmark(hidden_sizes=(400,), epochs: int = 10, dataset: str = "bundled", seed: int = 0,
                  repeats: int = 3) -> BenchmarkResult:
    """Measure ``repeats`` pairs of runs (headless, then in the window) on ``dataset``."""
    from s4nn_gui.main_window import GUI_CHUNK_SIZE
    from s4nn_gui.worker import warm_up_kernels

    splits = load_dataset(dataset)
    n_pixels = int(splits.train.images[0].size)
    n_classes = len(splits.class_names)
    settings = make_settings(hidden_sizes, input_size=n_pixels, output_size=n_classes, epochs=epochs, seed=seed,
                             chunk_size=GUI_CHUNK_SIZE)
    warm_up_kernels(n_pixels, n_classes, settings.network.t_max)

    headless_speeds, window_speeds, delays = [], [], []
    # The window's run browser records every run; keep the benchmark's out of the user's runs folder.
    with tempfile.TemporaryDirectory(prefix="s4nn-benchmark-runs-") as runs_folder:
        previous = os.environ.get(RUNS_DIR_ENV)
        os.environ[RUNS_DIR_ENV] = runs_folder
        try:
            for _ in range(repeats):
                headless, samples = measure_headless(settings, splits)
                in_window, run_delays = measure_window(settings, splits)
                headless_speeds.append(headless)
                window_speeds.append(in_window)
                delays.append(run_delays)
        finally:
            if previous is None:
                del os.environ[RUNS_DIR_ENV]
            else:
                os.environ[RUNS_DIR_ENV] = previous
    return BenchmarkResult(tuple(headless_speeds), tuple(window_speeds), np.concatenate(delays), samples)


def format_result(result: BenchmarkResult, description: str) -> str:
    ratios = result.speed_ratios
    lines = [
        description,
        f"samples trained per run:        {result.samples}",
        f"repeats (headless, window):     {len(ratios)}",
        f"headless speed, median:         {np.median(result.headless_samples_per_second):,.0f} samples/s",
        f"speed with the window, median:  {np.median(result.window_samples_per_second):,.0f} samples/s",
        f"window / headless per repeat:   " + ", ".join(f"{100 * ratio:.0f} %" for ratio in ratios),
        f"10 ms GUI timer, delay p50:     {result.delay_percentile(50):.1f} ms",
        f"10 ms GUI timer, delay p95:     {result.delay_percentile(95):.1f} ms",
        f"10 ms GUI timer, delay p99:     {result.delay_percentile(99):.1f} ms",
        f"10 ms GUI timer, delay max:     {result.delay_percentile(100):.1f} ms",
        f"GUI timer samples:              {result.timer_delays_ms.size}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m s4nn_gui.benchmark",
        description="Measure GUI responsiveness while training and training speed with and without the window.",
    )
    parser.add_argument("--hidden", default="400", help="hidden layer sizes, comma-separated (default 400)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per run (default 10)")
    parser.add_argument("--dataset", default="bundled", help="dataset spec (default bundled)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="pairs of runs, headless then in the window (default 3)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    hidden = tuple(int(part) for part in args.hidden.split(",") if part.strip())
    result = run_benchmark(hidden, args.epochs, args.dataset, args.seed, args.repeats)
    layers = "-".join(str(size) for size in (784, *hidden, 10))
    description = (
        f"S4NN Explorer benchmark: {layers}, {args.epochs} epochs on {args.dataset}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"Qt platform {os.environ.get('QT_QPA_PLATFORM', 'default')}"
    )
    sys.stdout.write(format_result(result, description) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
