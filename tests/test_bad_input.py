"""Bad input to the engine's public API raises its documented errors with the value named."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from s4nn_engine.config import Settings, SettingsError, make_settings
from s4nn_engine.datasets import DatasetError, load_dataset
from s4nn_engine.network import Network
from s4nn_engine.training import Trainer


@pytest.fixture()
def small_network():
    settings = make_settings((6,), input_size=10, output_size=3, t_max=30)
    return Network.initialise(settings.network, np.random.default_rng(0))


def write_idx(path, array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape)
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.astype(">u1" if type_code == 0x08 else array.dtype).tobytes())


def test_forward_rejects_wrapping_times(small_network):
    # 65539 would wrap to 3 in int16; the range check must see the value as given.
    x_times = np.full((1, 10), 65539, dtype=np.int64)
    with pytest.raises(ValueError, match="65539"):
        small_network.forward(x_times)


def test_set_layer_weights_rejects_layer_zero(small_network):
    with pytest.raises(SettingsError, match="layer = 0"):
        small_network.set_layer_weights(0, np.zeros((3, 6)))


def test_evaluate_rejects_float_labels(small_network):
    x_times = np.zeros((2, 10), dtype=np.int16)
    with pytest.raises(ValueError, match="labels must be integers"):
        small_network.evaluate(None, np.array([0.5, 1.0]), x_times=x_times)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(gamma=-100), "gamma = -100"),
    (dict(gamma=10**6), "gamma = 1000000"),
    (dict(learning_rates=[float("nan"), 0.1]), "not finite"),
])
def test_trace_validates_learning_settings(small_network, kwargs, fragment):
    with pytest.raises(SettingsError, match=fragment):
        small_network.trace(np.zeros(10, dtype=np.int16), label=0, **kwargs)


def test_make_settings_none_threshold():
    with pytest.raises(SettingsError, match="thresholds = None"):
        make_settings(thresholds=None)


def test_settings_json_wrong_type():
    text = make_settings().to_json().replace('"learning_rates": [\n      0.2,\n      0.2\n    ]',
                                             '"learning_rates": 5')
    assert '"learning_rates": 5' in text
    with pytest.raises(SettingsError):
        Settings.from_json(text)


def test_huge_network_rejected_before_allocation():
    settings = make_settings((20_000_000,))
    with pytest.raises(SettingsError, match="choose smaller layers"):
        Network.initialise(settings.network, np.random.default_rng(0))


def test_update_settings_spreads_scalar():
    splits = load_dataset("bundled")
    trainer = Trainer(make_settings((8,), epochs=1), splits)
    trainer.update_settings(thresholds=80.0, learning_rates=0.1)
    trainer._apply_pending(lambda record: None, 1, 0)
    assert trainer.settings.network.thresholds == (80.0, 80.0)
    assert trainer.settings.learning.learning_rates == (0.1, 0.1)


def test_idx_huge_label_rejected(tmp_path):
    images = np.zeros((3, 4, 4), dtype=np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    labels = np.array([0, 1, 2_000_000], dtype=">i4")
    header = bytes([0, 0, 0x0C, 1]) + (3).to_bytes(4, "big")
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as stream:
        stream.write(header + labels.tobytes())
    with pytest.raises(DatasetError, match="2000000"):
        load_dataset(f"idx:{tmp_path}")


def test_idx_empty_images_rejected(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 0, 0), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DatasetError, match="t10k-images"):
        load_dataset(f"idx:{tmp_path}")
