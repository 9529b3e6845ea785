"""Timing of the event-driven engine against a dense, clock-driven NumPy simulation of the same rule.

The dense simulation is the formulation of the published S4NN code: each
layer's input spikes form a raster of all t_max + 1 steps, potentials are the
weights times that raster summed cumulatively over time, and the updates use
dense masks. It is written here from the rule, for timing only.
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
    """A 784-400-10-style network simulated step by step over all t_max + 1 steps."""

    def __init__(self, weights, thresholds, learning_rates, l2, gamma, t_max):
        self.weights = [np.array(w, dtype=np.float64) for w in weights]
        self.thresholds = thresholds
        self.learning_rates = learning_rates
        self.l2 = l2
        self.gamma = gamma
        self.t_max = t_max

    def _layer(self, in_times, weights, theta):
        t_max = self.t_max
        raster = np.zeros((in_times.size, t_max + 1))
        raster[np.arange(in_times.size), in_times] = 1.0
        raster[:, t_max] = 0.0  # a spike at t_max never influences anything
        potentials = np.cumsum(weights @ raster, axis=1)[:, :t_max]
        above = potentials > theta
        crossed = above.any(axis=1)
        first = np.argmax(above, axis=1)
        return np.where(crossed, np.minimum(first + 1, t_max), t_max), potentials

    def forward(self, x_times):
        times = [x_times]
        for weights, theta in zip(self.weights, self.thresholds):
            out, _ = self._layer(times[-1], weights, theta)
            times.append(out)
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
            targets = np.where(out - tau < gamma, min(tau + gamma, t_max), out)
            targets[label] = tau
        delta = (targets - out) / t_max
        norm = np.linalg.norm(delta)
        delta = delta / norm if norm > 0 else delta
        for l in range(len(self.weights), 0, -1):
            mask = times[l - 1][None, :] < times[l][:, None]
            eta, lam = self.learning_rates[l - 1], self.l2[l - 1]
            self.weights[l - 1] -= eta * delta[:, None] * mask
            self.weights[l - 1] *= 1.0 - eta * lam
            if l > 1:
                below = (delta[:, None] * self.weights[l - 1] * mask).sum(axis=0)
                norm = np.linalg.norm(below)
                delta = below / norm if norm > 0 else below


def _microseconds(seconds: float, samples: int) -> float:
    return seconds / samples * 1e6


def run_benchmark(splits, *, train_samples: int = 2000, dense_samples: int = 30,
                  full_epoch: bool = False) -> dict:
    """Time training and evaluation per sample for the engine and the dense simulation.

    Uses the default 784-400-10 settings and the first images of the training
    and test splits. Returns the figures and printable lines.
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

    # Warm-up compiles the kernels (or loads them from the cache) outside the timing.
    network.copy().evaluate(None, eval_labels[:10], x_times=eval_x[:10])
    Trainer(settings, _Subset(splits, 20), network=network.copy()).run()

    n_train = min(train_samples, len(labels))
    start = time.perf_counter()
    Trainer(settings, _Subset(splits, n_train), network=network.copy()).run()
    engine_train = _microseconds(time.perf_counter() - start, n_train)

    start = time.perf_counter()
    network.evaluate(None, eval_labels, x_times=eval_x, parallel=True)
    engine_eval = _microseconds(time.perf_counter() - start, len(eval_labels))
    start = time.perf_counter()
    network.evaluate(None, eval_labels, x_times=eval_x, parallel=False)
    engine_eval_serial = _microseconds(time.perf_counter() - start, len(eval_labels))

    dense = DenseS4NN(initial, settings.network.thresholds, learning.learning_rates, learning.l2,
                      learning.gamma, settings.network.t_max)
    n_dense = min(dense_samples, len(labels))
    start = time.perf_counter()
    for s in range(n_dense):
        dense.train_sample(train_x[s].astype(np.int64), int(labels[s]))
    dense_train = _microseconds(time.perf_counter() - start, n_dense)
    start = time.perf_counter()
    for s in range(n_dense):
        dense.forward(eval_x[s].astype(np.int64))
    dense_eval = _microseconds(time.perf_counter() - start, n_dense)

    result = {
        "machine": f"{platform.machine()}, {_cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}",
        "network": "-".join(str(s) for s in settings.network.layer_sizes),
        "engine_train_us_per_sample": engine_train,
        "engine_eval_us_per_sample": engine_eval,
        "engine_eval_serial_us_per_sample": engine_eval_serial,
        "dense_train_us_per_sample": dense_train,
        "dense_eval_us_per_sample": dense_eval,
        "train_speedup": dense_train / engine_train,
        "eval_speedup": dense_eval / engine_eval,
        "train_samples_timed": n_train,
        "eval_samples_timed": len(eval_labels),
        "dense_samples_timed": n_dense,
    }
    lines = [
        f"machine: {result['machine']}",
        f"network {result['network']}, t_max {settings.network.t_max}",
        f"training   engine {engine_train:9.1f} us/sample ({n_train} samples)   "
        f"dense {dense_train:9.1f} us/sample ({n_dense} samples)   speed-up {result['train_speedup']:.0f}x",
        f"evaluation engine {engine_eval:9.1f} us/sample ({len(eval_labels)} samples, parallel; "
        f"serial {engine_eval_serial:.1f})   dense {dense_eval:9.1f} us/sample   speed-up {result['eval_speedup']:.0f}x",
    ]
    if full_epoch:
        n_all = len(labels)
        start = time.perf_counter()
        Trainer(settings, splits, network=network.copy()).run()
        seconds = time.perf_counter() - start
        result["full_epoch_seconds"] = seconds
        result["full_epoch_samples"] = n_all
        lines.append(f"one epoch of {n_all} training samples (with validation and test evaluation): {seconds:.1f} s")
    result["lines"] = lines
    return result


class _Subset:
    """The first ``n`` training samples of ``splits``, with its validation and test splits dropped."""

    def __init__(self, splits, n):
        self.train = splits.train.subset(np.arange(n)) if n < len(splits.train) else splits.train
        self.validation = None
        self.test = None
        self.class_names = splits.class_names


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
