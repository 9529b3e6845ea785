"""Timing of the event-driven engine against a dense, clock-driven NumPy simulation of the same rule.

The dense simulation follows the formulation of the published S4NN code. Each
layer's input spikes form a raster of all t_max + 1 steps, and the potentials
are the weights times that raster, summed cumulatively over time. The updates
use dense masks. It is written here from the rule, for timing only.
"""

from __future__ import annotations

import logging
import platform
import time

import numpy as np

from s4nn_engine.config import make_settings
from s4nn_engine.encoding import encode
from s4nn_engine.network import Network
from s4nn_engine.training import Trainer

logger = logging.getLogger(__name__)


class DenseS4NN:
    """A network simulated clock-driven over all t_max + 1 steps, as the published code does it.

    Every layer turns its input times into a dense raster of shape
    (N_in, t_max + 1), multiplies it by the weights, sums cumulatively over
    time and reads the first step above θ. The step t_max is forced above θ, so
    a neuron that never crosses fires at t_max. Updates use dense masks and
    temporaries, and the L2 decay is ``W −= ηλW``.
    """

    def __init__(self, weights, thresholds, learning_rates, l2, gamma, t_max):
        self.weights = [np.array(w, dtype=np.float64) for w in weights]
        self.thresholds = thresholds
        self.learning_rates = learning_rates
        self.l2 = l2
        self.gamma = gamma
        self.t_max = t_max
        self.rasters = [np.zeros((w.shape[1], t_max + 1)) for w in self.weights]

    def _layer(self, layer, in_times):
        t_max = self.t_max
        raster = self.rasters[layer]
        raster[:, :] = 0.0
        raster[np.arange(in_times.size), in_times] = 1.0
        potentials = np.cumsum(self.weights[layer] @ raster, axis=1)
        potentials[:, t_max] = self.thresholds[layer] + 1.0
        times = np.argmax(potentials > self.thresholds[layer], axis=1) + 1
        times[times > t_max] = t_max
        return times

    def forward(self, x_times):
        times = [x_times]
        for layer in range(len(self.weights)):
            times.append(self._layer(layer, times[-1]))
        return times

    def train_sample(self, x_times, label):
        t_max, gamma = self.t_max, self.gamma
        times = self.forward(x_times)
        out = times[-1]
        tau = out.min()
        if tau == t_max:
            targets = np.full(out.size, t_max)
            targets[label] = t_max - gamma
        else:
            targets = out.copy()
            targets[(out - tau) < gamma] = min(tau + gamma, t_max)
            targets[label] = tau
        delta = (targets - out) / t_max
        norm = np.linalg.norm(delta)
        if norm != 0:
            delta = delta / norm
        for l in range(len(self.weights), 0, -1):
            mask = times[l - 1][np.newaxis, :] < times[l][:, np.newaxis]
            eta, lam = self.learning_rates[l - 1], self.l2[l - 1]
            self.weights[l - 1] -= delta[:, np.newaxis] * mask * eta
            self.weights[l - 1] -= eta * lam * self.weights[l - 1]
            if l > 1:
                delta = np.multiply(delta[:, np.newaxis] * mask, self.weights[l - 1]).sum(axis=0)
                norm = np.linalg.norm(delta)
                if norm != 0:
                    delta = delta / norm


def _microseconds(seconds: float, samples: int) -> float:
    return seconds / samples * 1e6


def run_benchmark(splits, *, train_samples: int = 2000, dense_samples: int = 30,
                  full_epoch: bool = False, repeats: int = 3) -> dict:
    """Time training and evaluation per sample for the engine and the dense simulation.

    Uses the default 784-400-10 settings and the first images of the training
    and test splits. Each figure is timed ``repeats`` times, the engine and the
    dense simulation taking turns, and the fastest run counts: other programs on
    the machine only ever slow a run down, so the fastest is the closest to what
    the code itself costs. Every run starts from the same initial weights.
    Returns the figures, all runs included, and printable lines.
    """
    settings = make_settings(input_size=int(np.prod(splits.train.images.shape[1:])),
                             epochs=1, dead_reset=False, chunk_size=500)
    rng = np.random.default_rng(0)
    network = Network.initialise(settings.network, rng)
    initial = network.weights()
    learning = settings.learning
    eval_split = splits.test if splits.test is not None else splits.train

    train_x = encode(splits.train.images, settings.network.t_max)
    labels = np.asarray(splits.train.labels, dtype=np.int64)
    eval_x = encode(eval_split.images, settings.network.t_max)
    eval_labels = np.asarray(eval_split.labels, dtype=np.int64)
    n_train = min(train_samples, len(labels))
    n_dense = min(dense_samples, len(labels))
    n_eval = len(eval_labels)

    # Warm-up compiles the kernels (or loads them from the cache) outside the timing.
    network.copy().evaluate(None, eval_labels[:10], x_times=eval_x[:10])
    Trainer(settings, _Subset(splits, 20), network=network.copy()).run()

    def engine_train():
        trainer = Trainer(settings, _Subset(splits, n_train), network=network.copy())
        start = time.perf_counter()
        trainer.run()
        return _microseconds(time.perf_counter() - start, n_train)

    def engine_eval(parallel):
        start = time.perf_counter()
        network.evaluate(None, eval_labels, x_times=eval_x, parallel=parallel)
        return _microseconds(time.perf_counter() - start, n_eval)

    def dense_runs():
        dense = DenseS4NN(initial, settings.network.thresholds, learning.learning_rates, learning.l2,
                          learning.gamma, settings.network.t_max)
        start = time.perf_counter()
        for s in range(n_dense):
            dense.train_sample(train_x[s].astype(np.int64), int(labels[s]))
        train = _microseconds(time.perf_counter() - start, n_dense)
        start = time.perf_counter()
        for s in range(n_dense):
            dense.forward(eval_x[s].astype(np.int64))
        return train, _microseconds(time.perf_counter() - start, n_dense)

    runs = {name: [] for name in ("engine_train", "engine_eval", "engine_eval_serial",
                                  "dense_train", "dense_eval")}
    for _ in range(repeats):
        runs["engine_train"].append(engine_train())
        runs["engine_eval"].append(engine_eval(True))
        runs["engine_eval_serial"].append(engine_eval(False))
        dense_train, dense_eval = dense_runs()
        runs["dense_train"].append(dense_train)
        runs["dense_eval"].append(dense_eval)
    best = {name: min(values) for name, values in runs.items()}
    engine_train_us, dense_train_us = best["engine_train"], best["dense_train"]
    engine_eval_us, dense_eval_us = best["engine_eval"], best["dense_eval"]

    result = {
        "machine": f"{platform.machine()}, {_cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}",
        "network": "-".join(str(s) for s in settings.network.layer_sizes),
        "engine_train_us_per_sample": engine_train_us,
        "engine_eval_us_per_sample": engine_eval_us,
        "engine_eval_serial_us_per_sample": best["engine_eval_serial"],
        "dense_train_us_per_sample": dense_train_us,
        "dense_eval_us_per_sample": dense_eval_us,
        "train_speedup": dense_train_us / engine_train_us,
        "eval_speedup": dense_eval_us / engine_eval_us,
        "train_samples_timed": n_train,
        "eval_samples_timed": n_eval,
        "dense_samples_timed": n_dense,
        "repeats": repeats,
        "runs_us_per_sample": runs,
    }
    lines = [
        f"machine: {result['machine']}",
        f"network {result['network']}, t_max {settings.network.t_max}; fastest of {repeats} runs each",
        f"training   engine {engine_train_us:9.1f} us/sample ({n_train} samples)   "
        f"dense {dense_train_us:9.1f} us/sample ({n_dense} samples)   speed-up {result['train_speedup']:.0f}x",
        f"evaluation engine {engine_eval_us:9.1f} us/sample ({n_eval} samples, parallel; "
        f"serial {best['engine_eval_serial']:.1f})   dense {dense_eval_us:9.1f} us/sample   "
        f"speed-up {result['eval_speedup']:.0f}x",
    ]
    if full_epoch:
        n_all = len(labels)
        start = time.perf_counter()
        Trainer(settings, splits, network=network.copy()).run()
        seconds = time.perf_counter() - start
        result["full_epoch_seconds"] = seconds
        result["full_epoch_samples"] = n_all
        evaluated = [f"{len(split)} {name}" for name, split in (("validation", splits.validation),
                                                                 ("test", splits.test)) if split is not None]
        lines.append(f"one epoch of {n_all} training samples, then evaluation of "
                     f"{' and '.join(evaluated) or 'nothing'}: {seconds:.1f} s")
    result["lines"] = lines
    return result


class _Subset:
    """Splits that keep the first ``n`` training samples of ``splits`` and drop validation and test."""

    def __init__(self, splits, n):
        self.train = splits.train.subset(np.arange(n)) if n < len(splits.train) else splits.train
        self.validation = None
        self.test = None
        self.class_names = splits.class_names


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
