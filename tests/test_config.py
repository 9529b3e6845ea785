"""Settings validation, per-layer spreading and the JSON round-trip."""

from __future__ import annotations

import math

import pytest

from s4nn_engine.config import Settings, SettingsError, make_settings, spread_per_layer


def test_defaults_are_published_setting():
    settings = make_settings()
    assert settings.network.layer_sizes == (784, 400, 10)
    assert settings.network.t_max == 256
    assert settings.network.thresholds == (100.0, 100.0)
    assert settings.learning.learning_rates == (0.2, 0.2)
    assert settings.learning.l2 == (1e-6, 1e-6)
    assert settings.learning.gamma == 3
    assert settings.network.init_ranges == ((0.0, 5.0), (0.0, 48.0))


def test_json_round_trip():
    settings = make_settings((30, 20), t_max=100, thresholds=(50, 60, 70), gamma=4, seed=9, shuffle=False)
    assert Settings.from_json(settings.to_json()) == settings


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(t_max=1), "t_max = 1 is out of range; valid: 2 … 32767"),
    (dict(t_max=40000), "t_max = 40000"),
    (dict(t_max=2.5), "t_max must be an integer"),
    (dict(thresholds=0.0), "thresholds[0] = 0.0 must be > 0"),
    (dict(thresholds=math.nan), "not finite"),
    (dict(learning_rates=-0.1), "learning_rates[0] = -0.1 must be ≥ 0"),
    (dict(l2=math.inf), "l2[0] = inf is not finite"),
    (dict(learning_rates=2.0, l2=0.5), "must be < 1"),
    (dict(gamma=300), "gamma = 300 is out of range; valid: 0 … 256"),
    (dict(gamma=-1), "gamma = -1"),
    (dict(init_ranges=[(5.0, 5.0)]), "low must be < high"),
    (dict(epochs=0), "epochs = 0"),
    (dict(hidden_sizes=(0,)), "layer_sizes[1] = 0"),
    (dict(thresholds=(1, 2, 3)), "thresholds has 3 values but the network has 2 weight layers"),
])
def test_invalid_settings_named(kwargs, fragment):
    with pytest.raises(SettingsError) as error:
        make_settings(**kwargs)
    assert fragment in str(error.value)


def test_spread_single_value():
    assert spread_per_layer("thresholds", 5.0, 3) == (5.0, 5.0, 5.0)


def test_spread_extra_hidden_layers_copy_first():
    # Two values on three weight layers: the first hidden value repeats, the last is the output's.
    assert spread_per_layer("thresholds", [50, 100], 3) == (50, 50, 100)


def test_spread_init_ranges_pair():
    assert spread_per_layer("init_ranges", (0, 5), 2) == ((0, 5), (0, 5))


def test_from_json_rejects_unknown_keys():
    text = make_settings().to_json().replace('"gamma"', '"gama"')
    with pytest.raises(SettingsError, match="gama"):
        Settings.from_json(text)


def test_from_json_rejects_garbage():
    with pytest.raises(SettingsError, match="not valid JSON"):
        Settings.from_json("{not json")
