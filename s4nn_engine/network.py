"""A network's weights and thresholds, its forward pass, readout and dense per-step trace."""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from s4nn_engine import kernels
from s4nn_engine.config import LearningConfig, NetworkConfig, SettingsError
from s4nn_engine.encoding import encode
from s4nn_engine.metrics import Metrics, SampleResults, score, summarise

# Numba's default threading layer aborts the process when two threads enter a
# parallel kernel at once, so a caller that finds the lock taken runs the serial twin.
_PARALLEL_LOCK = threading.Lock()


@dataclass(frozen=True)
class ForwardResult:
    """Firing times of a batch.

    ``times[l]`` is (n, N_l) int16 for every layer l, input included. For the
    output layer, ``v_cross`` is V at each neuron's crossing step (V(t_max − 1)
    if it did not fire), ``v_last`` is V(t_max − 1) and ``v_ref`` is V(t_max − 3).
    """

    times: tuple[np.ndarray, ...]
    v_cross: np.ndarray
    v_last: np.ndarray
    v_ref: np.ndarray

    @property
    def output_times(self) -> np.ndarray:
        return self.times[-1]


@dataclass(frozen=True)
class Trace:
    """Everything the per-sample plots show about one sample.

    ``potentials[l - 1]`` is V_j(k) of layer l, shape (N_l, t_max), for
    k = 0 … t_max − 1. ``times[l]`` are the firing times of layer l (index 0 is
    the input). ``thresholds[l - 1]`` is the threshold each neuron of layer l
    was simulated with. When a label row was given, ``targets`` (output layer),
    ``errors`` (e = (T − t) / t_max) and ``deltas[l - 1]`` (the normalised δ of
    layer l) are what one training step on this sample would use, and
    ``weight_changes[l - 1]`` is the change of W^l that step would make.
    """

    times: tuple[np.ndarray, ...]
    potentials: tuple[np.ndarray, ...]
    thresholds: tuple[np.ndarray, ...]
    t_max: int
    label_row: int | None = None
    targets: np.ndarray | None = None
    errors: np.ndarray | None = None
    deltas: tuple[np.ndarray, ...] | None = None
    weight_changes: tuple[np.ndarray, ...] | None = None


class Network:
    """Weights, thresholds and class order of an S4NN network.

    Weights are float64; ``weights[l - 1]`` of layer l has shape (N_l, N_{l-1}).
    Internally each layer is stored transposed with a scalar scale (see
    ``kernels``), so read weights with :meth:`weights` (copies) and change
    them with :meth:`set_weights`.

    ``row_classes[k]`` is the class output row k stands for (the identity for
    networks trained here) and ``class_names[c]`` the name of class c.
    """

    def __init__(self, config: NetworkConfig, weights: Sequence[np.ndarray], *,
                 class_names: Sequence[str] | None = None,
                 row_classes: Sequence[int] | None = None) -> None:
        config.validate()
        self._config = config
        sizes = np.asarray(config.layer_sizes, dtype=np.int64)
        self._sizes = sizes
        blocks = sizes[:-1] * sizes[1:]
        self._w_offsets = np.concatenate([[0], np.cumsum(blocks)]).astype(np.int64)
        self._n_offsets = np.concatenate([[0], np.cumsum(sizes[1:])]).astype(np.int64)
        self._t_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._flat_u = _allocate_weights(config, int(self._w_offsets[-1]))
        self._scales = np.ones(config.n_layers, dtype=np.float64)
        self.set_weights(weights)

        n_out = config.layer_sizes[-1]
        if row_classes is None:
            row_classes = np.arange(n_out)
        row_classes = np.asarray(row_classes, dtype=np.int64)
        if row_classes.shape != (n_out,) or len(set(row_classes.tolist())) != n_out or row_classes.min() < 0:
            raise SettingsError(
                f"row_classes = {row_classes.tolist()} must give each of the {n_out} output rows "
                "a different class index ≥ 0"
            )
        if class_names is None:
            class_names = [str(c) for c in range(int(row_classes.max()) + 1)]
        class_names = tuple(str(name) for name in class_names)
        if len(class_names) <= row_classes.max():
            raise SettingsError(
                f"class_names has {len(class_names)} names but row_classes uses class {row_classes.max()}"
            )
        self.row_classes = row_classes
        self.class_names = class_names

    # -- construction ---------------------------------------------------------

    @classmethod
    def initialise(cls, config: NetworkConfig, rng: np.random.Generator, *,
                   class_names: Sequence[str] | None = None) -> "Network":
        """Draw every layer's weights from its uniform initial range."""
        config.validate()
        _allocate_weights(config, sum(a * b for a, b in zip(config.layer_sizes[:-1], config.layer_sizes[1:])))
        weights = [
            rng.uniform(low, high, size=(config.layer_sizes[l], config.layer_sizes[l - 1]))
            for l, (low, high) in enumerate(config.init_ranges, start=1)
        ]
        return cls(config, weights, class_names=class_names)

    def copy(self) -> "Network":
        """Return an independent copy (weights, scales and thresholds)."""
        twin = object.__new__(Network)
        twin.__dict__.update(self.__dict__)
        twin._flat_u = self._flat_u.copy()
        twin._scales = self._scales.copy()
        return twin

    # -- weights and thresholds -------------------------------------------------

    @property
    def config(self) -> NetworkConfig:
        return self._config

    @property
    def t_max(self) -> int:
        return self._config.t_max

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return self._config.layer_sizes

    @property
    def n_layers(self) -> int:
        return self._config.n_layers

    def weights(self) -> list[np.ndarray]:
        """Return a copy of every layer's weights, W^l of shape (N_l, N_{l-1})."""
        return [self.layer_weights(l) for l in range(1, self.n_layers + 1)]

    def layer_weights(self, layer: int) -> np.ndarray:
        """Return a C-contiguous copy of W^layer (1 … L), shape (N_layer, N_layer−1)."""
        block = self._block(layer)
        return np.ascontiguousarray(block.T) * self._scales[layer - 1]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Replace every layer's weights; shapes must match the configuration."""
        sizes = self._config.layer_sizes
        if len(weights) != self.n_layers:
            raise SettingsError(
                f"got {len(weights)} weight matrices for a network with {self.n_layers} weight layers"
            )
        checked = []
        for l, matrix in enumerate(weights, start=1):
            matrix = np.asarray(matrix, dtype=np.float64)
            expected = (sizes[l], sizes[l - 1])
            if matrix.shape != expected:
                raise SettingsError(
                    f"weights of layer {l} have shape {matrix.shape}; expected {expected}"
                )
            if not np.all(np.isfinite(matrix)):
                raise SettingsError(f"weights of layer {l} contain NaN or infinite values")
            checked.append(matrix)
        for l, matrix in enumerate(checked, start=1):
            self._block(l)[...] = matrix.T
        self._scales[:] = 1.0

    def set_layer_weights(self, layer: int, matrix: np.ndarray) -> None:
        """Replace the weights of one layer (1 … L)."""
        if not 1 <= layer <= self.n_layers:
            raise SettingsError(f"layer = {layer} is out of range; valid: 1 … {self.n_layers}")
        weights = self.weights()
        weights[layer - 1] = matrix
        self.set_weights(weights)

    def fold_scales(self) -> None:
        """Multiply each layer's pending L2 scale into its stored weights."""
        for l in range(1, self.n_layers + 1):
            if self._scales[l - 1] != 1.0:
                self._block(l)[...] *= self._scales[l - 1]
                self._scales[l - 1] = 1.0

    def set_thresholds(self, thresholds: Sequence[float]) -> None:
        """Change θ of every non-input layer (one value per layer)."""
        config = dataclasses.replace(self._config, thresholds=tuple(float(t) for t in thresholds))
        config.validate()
        self._config = config

    def reinitialise_neurons(self, layer: int, neurons: Sequence[int], rng: np.random.Generator) -> None:
        """Give the listed neurons of ``layer`` fresh input weights from the layer's initial range.

        The draw is in the unscaled weight space, so W = s · U receives exactly
        the drawn values.
        """
        neurons = np.asarray(neurons, dtype=np.int64)
        if neurons.size == 0:
            return
        low, high = self._config.init_ranges[layer - 1]
        n_in = self._config.layer_sizes[layer - 1]
        fresh = rng.uniform(low, high, size=(neurons.size, n_in))
        self._block(layer)[:, neurons] = fresh.T / self._scales[layer - 1]

    def neuron_thresholds(self, overrides: Mapping[tuple[int, int], float] | None = None) -> np.ndarray:
        """Return the flat per-neuron thresholds, with ``{(layer, neuron): θ}`` overrides applied."""
        thetas = np.repeat(np.asarray(self._config.thresholds, dtype=np.float64),
                           np.asarray(self._config.layer_sizes[1:]))
        for (layer, neuron), theta in (overrides or {}).items():
            if not 1 <= layer <= self.n_layers or not 0 <= neuron < self._config.layer_sizes[layer]:
                raise SettingsError(f"threshold override for layer {layer}, neuron {neuron} is out of range")
            if not np.isfinite(theta) or theta <= 0:
                raise SettingsError(f"threshold override {theta} for layer {layer}, neuron {neuron} must be finite and > 0")
            thetas[self._n_offsets[layer - 1] + neuron] = theta
        return thetas

    def _block(self, layer: int) -> np.ndarray:
        sizes = self._config.layer_sizes
        start = self._w_offsets[layer - 1]
        return self._flat_u[start:start + sizes[layer - 1] * sizes[layer]].reshape(sizes[layer - 1], sizes[layer])

    # -- simulation -------------------------------------------------------------

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Encode images into input spike times with this network's t_max."""
        return encode(images, self.t_max)

    def _check_inputs(self, x_times: np.ndarray) -> np.ndarray:
        x_times = np.asarray(x_times)
        if x_times.ndim != 2 or x_times.shape[1] != self.layer_sizes[0]:
            raise ValueError(
                f"input spike times have shape {x_times.shape}; expected (samples, {self.layer_sizes[0]})"
            )
        if not np.issubdtype(x_times.dtype, np.integer):
            raise ValueError(f"input spike times must be integers, got {x_times.dtype}")
        if x_times.size and (x_times.min() < 0 or x_times.max() > self.t_max):
            raise ValueError(
                f"input spike times must lie in 0 … t_max = {self.t_max}; "
                f"got {x_times.min()} … {x_times.max()}"
            )
        return np.ascontiguousarray(x_times, dtype=np.int16)

    def forward(self, x_times: np.ndarray, *, parallel: bool = True,
                threshold_overrides: Mapping[tuple[int, int], float] | None = None) -> ForwardResult:
        """Run the event-driven forward pass of a batch of encoded inputs (n, N_0)."""
        x_times = self._check_inputs(x_times)
        n = x_times.shape[0]
        n_out = self.layer_sizes[-1]
        all_times = np.empty((n, int(self._t_offsets[-1])), dtype=np.int16)
        v_cross = np.empty((n, n_out))
        v_last = np.empty((n, n_out))
        v_ref = np.empty((n, n_out))
        args = (x_times, self._flat_u, self._scales, self._sizes, self._w_offsets,
                self.neuron_thresholds(threshold_overrides), self._n_offsets, self.t_max,
                self._t_offsets, all_times, v_cross, v_last, v_ref)
        if parallel and n > 1 and _PARALLEL_LOCK.acquire(blocking=False):
            try:
                kernels._forward_batch_parallel(*args)
            finally:
                _PARALLEL_LOCK.release()
        else:
            kernels._forward_batch_serial(*args)
        times = tuple(
            all_times[:, self._t_offsets[l]:self._t_offsets[l + 1]] for l in range(self.n_layers + 1)
        )
        return ForwardResult(times=times, v_cross=v_cross, v_last=v_last, v_ref=v_ref)

    def score(self, forward: ForwardResult, labels: np.ndarray) -> SampleResults:
        """Read out a forward pass and compare it with class labels."""
        return score(forward.output_times, forward.v_cross, forward.v_last, forward.v_ref,
                     labels, self.row_classes, self.t_max)

    def evaluate(self, images: np.ndarray, labels: np.ndarray, *, parallel: bool = True,
                 x_times: np.ndarray | None = None) -> tuple[Metrics, SampleResults, ForwardResult]:
        """Forward ``images`` (or pre-encoded ``x_times``) and score them against class ``labels``."""
        labels = np.asarray(labels)
        if labels.size and not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers (class indices), got {labels.dtype}")
        labels = labels.astype(np.int64)
        if x_times is None:
            x_times = self.encode(images)
        if labels.shape != (x_times.shape[0],):
            raise ValueError(f"labels have shape {labels.shape}; expected ({x_times.shape[0]},)")
        if labels.size and (labels.min() < 0 or labels.max() >= len(self.class_names)):
            raise ValueError(
                f"labels range over {labels.min()} … {labels.max()}, but the network knows "
                f"{len(self.class_names)} classes"
            )
        forward = self.forward(x_times, parallel=parallel)
        results = self.score(forward, labels)
        return summarise(results, len(self.class_names)), results, forward

    def row_of_class(self, label: int) -> int:
        """Return the output row that stands for class ``label``."""
        matches = np.flatnonzero(self.row_classes == label)
        if matches.size == 0:
            raise ValueError(f"class {label} has no output row in this network")
        return int(matches[0])

    def trace(self, x_times: np.ndarray, *, label: int | None = None, gamma: int = 3,
              learning_rates: Sequence[float] | None = None, l2: Sequence[float] | None = None,
              threshold_overrides: Mapping[tuple[int, int], float] | None = None,
              weight_changes: bool = False) -> Trace:
        """Simulate one sample step by step and, given its class ``label``, its learning signal.

        The learning signal (targets, errors, δ and, with ``weight_changes``, the
        change of every weight) comes from running the training kernel on a copy
        of the weights, so it is exactly what a training step would do. The
        network itself is left unchanged.
        """
        x_times = self._check_inputs(np.asarray(x_times).reshape(1, -1))[0]
        t_max = self.t_max
        if label is not None:
            LearningConfig(
                learning_rates=tuple(learning_rates) if learning_rates is not None else (1.0,) * self.n_layers,
                l2=tuple(l2) if l2 is not None else (0.0,) * self.n_layers,
                gamma=gamma,
            ).validate(self.n_layers, t_max)
        thetas = self.neuron_thresholds(threshold_overrides)
        n_neurons = int(self._n_offsets[-1])
        potentials = np.empty(n_neurons * t_max, dtype=np.float64)
        p_offsets = (self._n_offsets * t_max).astype(np.int64)
        times = np.empty(int(self._t_offsets[-1]), dtype=np.int16)
        width = int(self._sizes.max())
        kernels._trace_sample(x_times, self._flat_u, self._scales, self._sizes, self._w_offsets,
                              thetas, self._n_offsets, t_max, times, self._t_offsets, potentials,
                              p_offsets, np.empty(width, np.int64), np.empty(t_max + 1, np.int64))

        layers = range(self.n_layers + 1)
        trace_times = tuple(times[self._t_offsets[l]:self._t_offsets[l + 1]].copy() for l in layers)
        trace_potentials = tuple(
            potentials[p_offsets[l - 1]:p_offsets[l]].reshape(self.layer_sizes[l], t_max)
            for l in range(1, self.n_layers + 1)
        )
        trace_thresholds = tuple(
            thetas[self._n_offsets[l - 1]:self._n_offsets[l]].copy() for l in range(1, self.n_layers + 1)
        )
        if label is None:
            return Trace(trace_times, trace_potentials, trace_thresholds, t_max)

        label_row = self.row_of_class(int(label))
        signal = self._learning_signal(x_times, label_row, gamma, thetas, learning_rates, l2,
                                       weight_changes)
        return Trace(trace_times, trace_potentials, trace_thresholds, t_max, label_row, *signal)

    def _learning_signal(self, x_times, label_row, gamma, thetas, learning_rates, l2, with_changes):
        n_layers = self.n_layers
        etas = np.asarray(learning_rates if learning_rates is not None else [1.0] * n_layers, np.float64)
        lambdas = np.asarray(l2 if l2 is not None else [0.0] * n_layers, np.float64)
        if etas.shape != (n_layers,) or lambdas.shape != (n_layers,):
            raise SettingsError(f"learning_rates and l2 need one value per weight layer ({n_layers})")
        flat_u = self._flat_u.copy()
        scales = self._scales.copy()
        n_out = self.layer_sizes[-1]
        width = int(self._sizes.max())
        times = np.empty(int(self._t_offsets[-1]), dtype=np.int16)
        targets = np.empty(n_out, dtype=np.int64)
        deltas = np.zeros(int(self._n_offsets[-1]), dtype=np.float64)
        kernels._train_sample(x_times, label_row, flat_u, scales, self._sizes, self._w_offsets, thetas,
                              self._n_offsets, self.t_max, etas, lambdas, int(gamma), times,
                              self._t_offsets, targets, deltas, np.empty(n_out), np.empty(n_out),
                              np.empty(n_out), np.empty(2 * width), np.empty(int(self._t_offsets[-1]), np.int64),
                              np.empty(n_layers + 1, np.int64), np.empty(self.t_max + 1, np.int64),
                              np.empty(2 * width), np.empty(width, np.int64))
        out_times = times[self._t_offsets[-2]:].astype(np.int64)
        errors = (targets - out_times) / self.t_max
        layer_deltas = tuple(
            deltas[self._n_offsets[l - 1]:self._n_offsets[l]].copy() for l in range(1, n_layers + 1)
        )
        if not with_changes:
            return targets, errors, layer_deltas, None
        changes = []
        for l in range(1, n_layers + 1):
            start = self._w_offsets[l - 1]
            shape = (self.layer_sizes[l - 1], self.layer_sizes[l])
            after = flat_u[start:start + shape[0] * shape[1]].reshape(shape) * scales[l - 1]
            before = self._block(l) * self._scales[l - 1]
            changes.append(np.ascontiguousarray((after - before).T))
        return targets, errors, layer_deltas, tuple(changes)


def _allocate_weights(config: NetworkConfig, count: int) -> np.ndarray:
    """Allocate the flat weight buffer, turning an out-of-memory failure into a SettingsError.

    Training keeps about three copies of the weights (the network, the backup of
    the last finite weights, and a snapshot for reports), so a network whose three
    copies exceed the physical memory is rejected before anything is allocated.
    Without the check, Linux may grant the memory lazily and kill the process later.
    """
    needed = 3 * count * 8
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        physical = None
    if physical is not None and needed > physical:
        raise SettingsError(
            f"a network with layers {config.layer_sizes} needs about {needed / 2**30:.1f} GiB for "
            f"its weights during training, more than this machine's {physical / 2**30:.1f} GiB; "
            "choose smaller layers"
        )
    try:
        return np.empty(count, dtype=np.float64)
    except (MemoryError, ValueError) as error:
        gib = count * 8 / 2**30
        raise SettingsError(
            f"a network with layers {config.layer_sizes} needs {gib:.1f} GiB for its weights alone, "
            f"which could not be allocated ({type(error).__name__}); choose smaller layers"
        ) from error
