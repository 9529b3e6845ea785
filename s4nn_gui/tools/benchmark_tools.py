"""Measure how fast the tools react on a 784-400-10 network and a 10,000-image split.

Run ``python -m s4nn_gui.tools.benchmark_tools`` (offscreen by default). It uses
the published S4NN weights and the MNIST test set from ``../shared/data`` beside
the checkout when they exist, otherwise a freshly drawn 784-400-10 network and
the bundled test digits repeated to 10,000 images, and prints which it used.
Targets: inspector, scrubber and what-if updates under 50 ms; the confusion
matrix and decision-time curves of 10,000 images under 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _load_network(log: Callable[[str], None]):
    from s4nn_engine.checkpoint import import_reference_weights
    from s4nn_engine.config import make_settings
    from s4nn_engine.network import Network

    weights = SHARED_DATA / "s4nn-reference" / "weights_pretrained.npy"
    if weights.exists():
        log(f"network: published S4NN weights ({weights})")
        return import_reference_weights(weights)
    log("network: a freshly drawn 784-400-10 network (published weights not found)")
    return Network.initialise(make_settings().network, np.random.default_rng(0))


def _load_splits(log: Callable[[str], None]):
    from s4nn_engine.datasets import DataSplits, Dataset, load_dataset, read_idx

    bundled = load_dataset("bundled")
    folder = SHARED_DATA / "mnist-test"
    images_file = folder / "t10k-images-idx3-ubyte.gz"
    if images_file.exists():
        images = read_idx(images_file)
        labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
        log(f"10,000-image split: MNIST test set ({folder})")
    else:
        repeats = -(-10_000 // len(bundled.test))
        images = np.tile(bundled.test.images, (repeats, 1, 1))[:10_000]
        labels = np.tile(bundled.test.labels, repeats)[:10_000]
        log("10,000-image split: the bundled test digits repeated (MNIST test set not found)")
    test = Dataset("mnist/test", images, labels, bundled.test.class_names)
    return DataSplits(train=bundled.train, validation=bundled.validation, test=test)


def _time_ms(action: Callable[[], None], repeats: int) -> tuple[float, float]:
    """Return the median and maximum wall time in milliseconds of ``action`` and the repaint it causes."""
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance()
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        app.processEvents()  # paint events run here, so drawing is part of the figure
        durations.append((time.perf_counter() - started) * 1000)
    return statistics.median(durations), max(durations)


def run_benchmark(repeats: int = 30, log: Callable[[str], None] = print) -> dict[str, tuple[float, float]]:
    """Measure each tool's update and return {name: (median ms, max ms)}."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])

    from s4nn_engine.config import make_settings
    from s4nn_gui.plots import MembranePlot, RasterPlot
    from s4nn_gui.state import SessionState
    from s4nn_gui.tools.common import ResultsCache
    from s4nn_gui.tools.confusion import ConfusionView
    from s4nn_gui.tools.decision_time import DecisionTimeView
    from s4nn_gui.tools.inspector import InspectorView
    from s4nn_gui.tools.scrubber import ScrubberView
    from s4nn_gui.tools.whatif import WhatIfView

    network = _load_network(log)
    splits = _load_splits(log)
    state = SessionState(make_settings(), splits, network)
    state.set_probe("test", 0)  # compiles or loads the trace kernels

    inspector = InspectorView(state)
    scrubber = ScrubberView(state)
    whatif = WhatIfView(state)
    membrane = MembranePlot(state)
    raster = RasterPlot(state)
    scrubber.step_changed.connect(membrane.set_current_step)
    scrubber.step_changed.connect(raster.set_current_step)
    views = (inspector, scrubber, whatif, membrane, raster)
    for view in views:
        view.resize(900, 600)
        view.show()
    app.processEvents()

    results: dict[str, tuple[float, float]] = {}
    n_test = len(splits.test)
    probes = iter(range(1, 10 * repeats))
    results["trace of one sample (state.compute_trace)"] = _time_ms(state.compute_trace, repeats)

    # Only the inspector follows the probe here, so its share of a probe change is measured alone.
    for view in (scrubber, whatif, membrane, raster):
        view.hide()
    results["inspector: new probe (trace + table + masks)"] = _time_ms(
        lambda: state.set_probe("test", next(probes) % n_test), repeats)
    results["inspector: choose another neuron"] = _time_ms(
        lambda: inspector.select_neuron(1, int(np.random.default_rng().integers(400))), repeats)

    scrubber.show()
    membrane.show()
    raster.show()
    steps = iter(range(0, 10 * repeats))
    results["scrubber: one step (with membrane and raster plots)"] = _time_ms(
        lambda: scrubber.set_step(next(steps) % network.t_max), repeats)

    inspector.show()
    whatif.show()
    scrubber.set_step(network.t_max)
    thetas = iter(np.linspace(60.0, 140.0, 10 * repeats))
    results["what-if: override one threshold (all five views update)"] = _time_ms(
        lambda: whatif.set_override(2, 0, float(next(thetas))), repeats)
    whatif.clear_overrides()
    for view in views:
        view.hide()

    confusion = ConfusionView(state)
    decision = DecisionTimeView(state)
    confusion.set_split("test")
    decision.set_split("test")
    cache = ResultsCache.of(state)
    for view in (confusion, decision):
        view.resize(900, 600)
        view.show()
    app.processEvents()

    def confusion_from_scratch() -> None:
        cache._entries.clear()
        confusion._dirty = True
        confusion.refresh()

    def decision_from_scratch() -> None:
        cache._entries.clear()
        decision._dirty = True
        decision.refresh()

    def decision_cached() -> None:
        decision._dirty = True
        decision.refresh()

    short = max(3, repeats // 5)
    results[f"confusion matrix, {n_test} images (evaluate + draw)"] = _time_ms(confusion_from_scratch, short)
    results[f"decision-time curves, {n_test} images (evaluate + draw)"] = _time_ms(decision_from_scratch, short)
    results[f"decision-time curves, {n_test} images (results cached)"] = _time_ms(decision_cached, short)
    for view in (confusion, decision, *views):
        view.close()
        view.deleteLater()
    app.processEvents()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="measurements per figure (default 30)")
    args = parser.parse_args(argv)
    results = run_benchmark(args.repeats)
    width = max(len(name) for name in results)
    print(f"{'update':<{width}}  median ms   max ms")
    for name, (median, maximum) in results.items():
        print(f"{name:<{width}}  {median:9.2f}  {maximum:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
