"""Settings of an S4NN network and of its training, with validation and JSON round-trip.

Settings are stored as given and checked by ``validate()``, which raises
:class:`SettingsError` with a message that names the setting, the value and the
valid range. Per-layer settings are tuples with one entry per non-input layer
(hidden layers first, output layer last).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

MAX_T_MAX = 32767  # firing times are stored as int16


class SettingsError(ValueError):
    """An invalid setting, named with its value and its valid range."""


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        valid = f"{low} … {high}" if high is not None else f"≥ {low}"
        raise SettingsError(f"{name} = {value} is out of range; valid: {valid}")


def _check_finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise SettingsError(f"{name} = {value} is not finite; give a finite number")
    return float(value)


@dataclass(frozen=True)
class NetworkConfig:
    """Shape and firing rule of a network.

    ``layer_sizes`` lists every layer, input first and output last, so a
    784-400-10 network has ``(784, 400, 10)``. ``thresholds`` and
    ``init_ranges`` have one entry per non-input layer; ``init_ranges[l]`` is the
    (low, high) of the uniform distribution of that layer's initial weights.
    """

    layer_sizes: tuple[int, ...] = (784, 400, 10)
    t_max: int = 256
    thresholds: tuple[float, ...] = (100.0, 100.0)
    init_ranges: tuple[tuple[float, float], ...] = ((0.0, 5.0), (0.0, 48.0))

    @property
    def n_layers(self) -> int:
        """Number of non-input layers (weight matrices)."""
        return len(self.layer_sizes) - 1

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return tuple(self.layer_sizes[1:-1])

    def validate(self) -> None:
        if len(self.layer_sizes) < 2:
            raise SettingsError(
                f"layer_sizes = {self.layer_sizes!r} needs at least an input and an output layer"
            )
        for index, size in enumerate(self.layer_sizes):
            _check_int(f"layer_sizes[{index}]", size, 1)
        _check_int("t_max", self.t_max, 2, MAX_T_MAX)
        _check_per_layer("thresholds", self.thresholds, self.n_layers)
        for index, theta in enumerate(self.thresholds):
            theta = _check_finite(f"thresholds[{index}]", theta)
            if theta <= 0:
                raise SettingsError(f"thresholds[{index}] = {theta} must be > 0")
        _check_per_layer("init_ranges", self.init_ranges, self.n_layers)
        for index, pair in enumerate(self.init_ranges):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise SettingsError(f"init_ranges[{index}] = {pair!r} must be a (low, high) pair")
            low = _check_finite(f"init_ranges[{index}] low", pair[0])
            high = _check_finite(f"init_ranges[{index}] high", pair[1])
            if not low < high:
                raise SettingsError(
                    f"init_ranges[{index}] = ({low}, {high}) is invalid; low must be < high"
                )

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer_sizes": list(self.layer_sizes),
            "t_max": self.t_max,
            "thresholds": list(self.thresholds),
            "init_ranges": [list(pair) for pair in self.init_ranges],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetworkConfig":
        _check_keys("network settings", data, cls)
        config = cls(
            layer_sizes=tuple(data["layer_sizes"]),
            t_max=data["t_max"],
            thresholds=tuple(data["thresholds"]),
            init_ranges=tuple(tuple(pair) for pair in data["init_ranges"]),
        )
        config.validate()
        return config


@dataclass(frozen=True)
class LearningConfig:
    """Settings of the learning rule that may change between chunks of training.

    ``learning_rates`` (η) and ``l2`` (λ) have one entry per non-input layer.
    ``gamma`` (γ) is the target margin in time steps.
    """

    learning_rates: tuple[float, ...] = (0.2, 0.2)
    l2: tuple[float, ...] = (1e-6, 1e-6)
    gamma: int = 3

    def validate(self, n_layers: int, t_max: int) -> None:
        _check_per_layer("learning_rates", self.learning_rates, n_layers)
        _check_per_layer("l2", self.l2, n_layers)
        for index, (eta, lam) in enumerate(zip(self.learning_rates, self.l2)):
            eta = _check_finite(f"learning_rates[{index}]", eta)
            lam = _check_finite(f"l2[{index}]", lam)
            if eta < 0:
                raise SettingsError(f"learning_rates[{index}] = {eta} must be ≥ 0")
            if lam < 0:
                raise SettingsError(f"l2[{index}] = {lam} must be ≥ 0")
            if eta * lam >= 1:
                raise SettingsError(
                    f"learning_rates[{index}] · l2[{index}] = {eta} · {lam} = {eta * lam} "
                    "must be < 1, otherwise the L2 decay flips or zeroes the weights"
                )
        _check_int("gamma", self.gamma, 0, t_max)

    def to_dict(self) -> dict[str, Any]:
        return {
            "learning_rates": list(self.learning_rates),
            "l2": list(self.l2),
            "gamma": self.gamma,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LearningConfig":
        _check_keys("learning settings", data, cls)
        return cls(
            learning_rates=tuple(data["learning_rates"]),
            l2=tuple(data["l2"]),
            gamma=data["gamma"],
        )


@dataclass(frozen=True)
class TrainingConfig:
    """Order, length and between-epoch rules of a training run.

    ``dead_reset_fraction``: after each complete epoch but the last, a hidden
    neuron that fired on fewer than this share of the epoch's training samples
    gets fresh initial weights (published default 0.001, that is 0.1 %).
    ``chunk_size``: samples trained between two checks for stop, pause and
    setting changes, and between two progress reports.
    """

    epochs: int = 10
    seed: int = 0
    shuffle: bool = True
    dead_reset: bool = True
    dead_reset_fraction: float = 0.001
    chunk_size: int = 200

    def validate(self) -> None:
        _check_int("epochs", self.epochs, 1)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        if not isinstance(self.shuffle, bool):
            raise SettingsError(f"shuffle must be true or false, got {self.shuffle!r}")
        if not isinstance(self.dead_reset, bool):
            raise SettingsError(f"dead_reset must be true or false, got {self.dead_reset!r}")
        fraction = _check_finite("dead_reset_fraction", self.dead_reset_fraction)
        if not 0 <= fraction <= 1:
            raise SettingsError(f"dead_reset_fraction = {fraction} is out of range; valid: 0 … 1")
        _check_int("chunk_size", self.chunk_size, 1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainingConfig":
        _check_keys("training settings", data, cls)
        return cls(**data)


@dataclass(frozen=True)
class Settings:
    """Everything that defines a run: the network, the learning rule and the training loop."""

    network: NetworkConfig = field(default_factory=NetworkConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def validate(self) -> None:
        self.network.validate()
        self.learning.validate(self.network.n_layers, self.network.t_max)
        self.training.validate()

    def to_dict(self) -> dict[str, Any]:
        return {
            "network": self.network.to_dict(),
            "learning": self.learning.to_dict(),
            "training": self.training.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Settings":
        if not isinstance(data, dict):
            raise SettingsError(f"settings must be a JSON object, got {type(data).__name__}")
        _check_keys("settings", data, cls)
        try:
            settings = cls(
                network=NetworkConfig.from_dict(data["network"]),
                learning=LearningConfig.from_dict(data["learning"]),
                training=TrainingConfig.from_dict(data["training"]),
            )
        except TypeError as error:
            # For example a number where a list of per-layer values belongs.
            raise SettingsError(f"settings have a value of the wrong type: {error}") from error
        settings.validate()
        return settings

    @classmethod
    def from_json(cls, text: str) -> "Settings":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SettingsError(f"settings are not valid JSON: {error}") from error
        return cls.from_dict(data)


def make_settings(
    hidden_sizes: Sequence[int] = (400,),
    *,
    input_size: int = 784,
    output_size: int = 10,
    t_max: int = 256,
    thresholds: Sequence[float] | float = 100.0,
    learning_rates: Sequence[float] | float = 0.2,
    l2: Sequence[float] | float = 1e-6,
    init_ranges: Sequence[tuple[float, float]] | None = None,
    gamma: int = 3,
    **training: Any,
) -> Settings:
    """Build validated settings, spreading per-layer values over the layers.

    A single value applies to every layer. A list shorter than the number of
    layers is padded: the output layer's value is the list's last entry and
    extra hidden layers take the first hidden layer's value. So
    ``thresholds=(50, 100)`` on two hidden layers gives (50, 50, 100).
    ``init_ranges`` defaults to (0, 5) for hidden layers and (0, 48) for the output.
    """
    layer_sizes = (input_size, *hidden_sizes, output_size)
    n_layers = len(layer_sizes) - 1
    if init_ranges is None:
        init_ranges = [(0.0, 5.0)] * (n_layers - 1) + [(0.0, 48.0)]
    settings = Settings(
        network=NetworkConfig(
            layer_sizes=tuple(layer_sizes),
            t_max=t_max,
            thresholds=spread_per_layer("thresholds", thresholds, n_layers),
            init_ranges=tuple(tuple(pair) for pair in spread_per_layer("init_ranges", init_ranges, n_layers)),
        ),
        learning=LearningConfig(
            learning_rates=spread_per_layer("learning_rates", learning_rates, n_layers),
            l2=spread_per_layer("l2", l2, n_layers),
            gamma=gamma,
        ),
        training=TrainingConfig(**training),
    )
    settings.validate()
    return settings


def spread_per_layer(name: str, values: Any, n_layers: int) -> tuple:
    """Expand a per-layer setting to exactly ``n_layers`` entries (see ``make_settings``)."""
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        return (values,) * n_layers
    try:
        values = list(values)
    except TypeError:
        raise SettingsError(
            f"{name} = {values!r} is invalid; give one number, or one per weight layer"
        ) from None
    if name == "init_ranges" and len(values) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    ):
        return (tuple(values),) * n_layers
    if not values:
        raise SettingsError(f"{name} is empty; give one value, or one per layer")
    if len(values) > n_layers:
        raise SettingsError(
            f"{name} has {len(values)} values but the network has {n_layers} weight layers; "
            f"give one value, or at most {n_layers}"
        )
    if len(values) == n_layers:
        return tuple(values)
    if len(values) == 1:
        return tuple(values) * n_layers
    hidden, output = values[:-1], values[-1]
    hidden = hidden + [hidden[0]] * (n_layers - 1 - len(hidden))
    return (*hidden, output)


def _check_per_layer(name: str, values: Sequence[Any], n_layers: int) -> None:
    if not isinstance(values, (tuple, list)) or len(values) != n_layers:
        raise SettingsError(
            f"{name} = {values!r} must have one entry per weight layer ({n_layers})"
        )


def _check_keys(what: str, data: Any, cls: type) -> None:
    if not isinstance(data, dict):
        raise SettingsError(f"{what} must be a JSON object, got {type(data).__name__}")
    expected = {f.name for f in dataclasses.fields(cls)}
    missing = expected - data.keys()
    unknown = data.keys() - expected
    problems = []
    if missing:
        problems.append(f"missing keys: {', '.join(sorted(missing))}")
    if unknown:
        problems.append(f"unknown keys: {', '.join(sorted(unknown))}")
    if problems:
        raise SettingsError(f"{what} have {' and '.join(problems)}")
