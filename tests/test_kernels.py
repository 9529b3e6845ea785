"""The engine's kernels against the dense NumPy twins in tests/naive.py, exactly."""

from __future__ import annotations

import numpy as np
import pytest

import naive
from s4nn_engine import kernels
from s4nn_engine.config import NetworkConfig, make_settings
from s4nn_engine.encoding import encode
from s4nn_engine.metrics import CLEAN, SILENT, TIE, decide, reference_correct
from s4nn_engine.network import Network

OUTCOME_CODES = {"clean": CLEAN, "tie": TIE, "silent": SILENT}


def make_network(sizes, t_max, thresholds, weights):
    config = NetworkConfig(layer_sizes=tuple(sizes), t_max=t_max, thresholds=tuple(thresholds),
                           init_ranges=tuple((0.0, 1.0) for _ in thresholds))
    return Network(config, weights)


def random_case(rng, sizes, t_max, negative=True):
    low = -1.0 if negative else 0.0
    weights = [rng.uniform(low, 2.0, size=(sizes[l], sizes[l - 1])) * (30.0 / sizes[l - 1] ** 0.5)
               for l in range(1, len(sizes))]
    thresholds = [float(rng.uniform(5, 20)) for _ in range(len(sizes) - 1)]
    x_times = rng.integers(0, t_max + 1, size=(40, sizes[0]))
    return weights, thresholds, x_times


def test_encode_matches_integer_formula():
    pixels = np.arange(256, dtype=np.uint8)
    for t_max in (2, 7, 100, 256, 1000, 32767):
        expected = naive.encode_naive(pixels, t_max)
        assert np.array_equal(encode(pixels, t_max)[0], expected), t_max


def test_encode_extremes():
    times = encode(np.array([[255, 0, 128]], dtype=np.uint8), 256)[0]
    assert times[0] == 0  # white spikes first
    assert times[1] == 256  # black never spikes
    assert times[2] == (255 - 128) * 256 // 255  # 127 · 256 // 255 = 127


def test_encode_float_formula():
    x = np.array([[1.0, 0.0, 0.5, 0.999]])
    assert encode(x, 256)[0].tolist() == [0, 256, 128, 0]  # floor((1 − 0.999) · 256) = floor(0.256) = 0


def test_encode_rejects_bad_input():
    with pytest.raises(ValueError, match="t_max"):
        encode(np.zeros((1, 4), np.uint8), 1)
    with pytest.raises(ValueError, match="dtype"):
        encode(np.zeros((1, 4), np.int32), 256)
    with pytest.raises(ValueError, match="NaN"):
        encode(np.array([[np.nan]]), 256)


def test_forward_hand_worked_case():
    # Two inputs at t = 1 and t = 3, weights 6 and 5, θ = 10, t_max = 8.
    # V(k): k=0 → 0, k=1,2 → 6, k=3… → 11 > 10, so the crossing is at k = 3 and t = 4.
    # A second neuron with weights 10 and 0: V stays 10, never > 10 (strict), so it is silent.
    net = make_network((2, 2), 8, [10.0], [np.array([[6.0, 5.0], [10.0, 0.0]])])
    result = net.forward(np.array([[1, 3]]), parallel=False)
    assert result.output_times[0].tolist() == [4, 8]


def test_forward_crossing_at_last_step_is_silent():
    # Input at t = 7 = t_max − 1 crosses at k = 7, so t = min(8, 8) = 8, as if silent.
    net = make_network((1, 1), 8, [1.0], [np.array([[2.0]])])
    assert net.forward(np.array([[7]]), parallel=False).output_times[0, 0] == 8


def test_forward_same_step_inputs_summed_before_test():
    # −5 and +12 arrive at the same step: V = 7 > 6 fires at once, with no dip first.
    net = make_network((2, 1), 10, [6.0], [np.array([[-5.0, 12.0]])])
    assert net.forward(np.array([[2, 2]]), parallel=False).output_times[0, 0] == 3


def test_forward_only_first_crossing_counts():
    # +20 at t = 1 crosses θ = 10 (t = 2); −30 at t = 2 pulls V below; no second spike matters.
    net = make_network((2, 1), 10, [10.0], [np.array([[20.0, -30.0]])])
    assert net.forward(np.array([[1, 2]]), parallel=False).output_times[0, 0] == 2


@pytest.mark.parametrize("sizes", [(12, 5), (30, 8, 4), (25, 9, 6, 3), (20, 7, 6, 5, 3)])
def test_forward_matches_naive_random(sizes):
    rng = np.random.default_rng(sum(sizes))
    t_max = 40
    weights, thresholds, x_times = random_case(rng, sizes, t_max)
    net = make_network(sizes, t_max, thresholds, weights)
    for parallel in (False, True):
        result = net.forward(x_times, parallel=parallel)
        for s in range(x_times.shape[0]):
            times, potentials = naive.forward_naive(x_times[s], weights, thresholds, t_max)
            for l in range(len(sizes)):
                assert np.array_equal(result.times[l][s], times[l]), (s, l)
            V_out = potentials[-1]
            np.testing.assert_allclose(result.v_last[s], V_out[:, t_max - 1], rtol=1e-12, atol=1e-9)
            np.testing.assert_allclose(result.v_ref[s], V_out[:, t_max - 3], rtol=1e-12, atol=1e-9)


def test_trace_matches_naive_and_forward():
    rng = np.random.default_rng(7)
    sizes, t_max = (30, 8, 4), 40
    weights, thresholds, x_times = random_case(rng, sizes, t_max)
    net = make_network(sizes, t_max, thresholds, weights)
    forward = net.forward(x_times, parallel=False)
    for s in range(10):
        trace = net.trace(x_times[s])
        times, potentials = naive.forward_naive(x_times[s], weights, thresholds, t_max)
        for l in range(len(sizes)):
            assert np.array_equal(trace.times[l], forward.times[l][s])
            assert np.array_equal(trace.times[l], times[l])
        for l in range(len(sizes) - 1):
            np.testing.assert_allclose(trace.potentials[l], potentials[l], rtol=1e-12, atol=1e-9)


def test_decision_matches_naive_with_ties_and_silence():
    rng = np.random.default_rng(3)
    t_max = 20
    # Integer weights make ties frequent; high thresholds make some samples silent.
    cases = 0
    seen = set()
    for seed in range(30):
        weights = [rng.integers(-1, 4, size=(6, 15)).astype(np.float64)]
        theta = float(rng.integers(4, 14))
        net = make_network((15, 6), t_max, [theta], weights)
        x_times = rng.integers(0, t_max + 1, size=(20, 15))
        result = net.forward(x_times, parallel=False)
        decisions = decide(result.output_times, result.v_cross, result.v_last, t_max)
        label_rows = rng.integers(0, 6, size=20)
        ref = reference_correct(result.output_times, result.v_ref, label_rows, t_max)
        for s in range(20):
            times, potentials = naive.forward_naive(x_times[s], weights, [theta], t_max)
            row, outcome = naive.decide_naive(times[1], potentials[0], t_max)
            assert decisions.rows[s] == row
            assert decisions.outcomes[s] == OUTCOME_CODES[outcome]
            assert ref[s] == naive.reference_correct_naive(times[1], potentials[0], label_rows[s], t_max)
            seen.add(outcome)
            cases += 1
    assert seen == {"clean", "tie", "silent"}, seen  # every branch was exercised


def train_both(sizes, t_max, thresholds, etas, lambdas, gamma, x_times, label_rows, weights):
    """Train the engine and the naive twin on the same samples; return both weight lists."""
    net = make_network(sizes, t_max, thresholds, weights)
    naive_weights = [w.copy() for w in weights]
    thetas = net.neuron_thresholds()
    fire_counts = np.zeros(thetas.size, np.int64)
    n = x_times.shape[0]
    out_times = np.empty((n, sizes[-1]), np.int16)
    v = np.empty((n, sizes[-1]))
    kernels._train_chunk(x_times.astype(np.int16), label_rows.astype(np.int64), np.arange(n), net._flat_u,
                         net._scales, net._sizes, net._w_offsets, thetas, net._n_offsets, t_max,
                         np.asarray(etas, float), np.asarray(lambdas, float), gamma, net._t_offsets,
                         fire_counts, out_times, v, v.copy(), v.copy())
    naive_out = []
    for s in range(n):
        times, _, _ = naive.train_sample_naive(x_times[s], int(label_rows[s]), naive_weights, thresholds,
                                               etas, lambdas, gamma, t_max)
        naive_out.append(times[-1])
    assert np.array_equal(out_times, np.array(naive_out))
    return net.weights(), naive_weights


def assert_weights_close(engine, reference):
    for a, b in zip(engine, reference):
        # Relative to the largest weight, since single weights near zero lose digits to cancellation.
        assert np.max(np.abs(a - b)) <= 1e-12 * np.max(np.abs(b))


@pytest.mark.parametrize("sizes", [(30, 10, 4), (30, 10, 8, 4), (30, 12, 8, 6, 4)])
def test_training_matches_naive_200_samples(sizes):
    rng = np.random.default_rng(len(sizes))
    t_max = 50
    weights = [rng.uniform(-0.5, 2.0, size=(sizes[l], sizes[l - 1])) * (40.0 / sizes[l - 1] ** 0.5)
               for l in range(1, len(sizes))]
    thresholds = [10.0] * (len(sizes) - 1)
    x_times = rng.integers(0, t_max + 1, size=(200, sizes[0]))
    labels = rng.integers(0, sizes[-1], size=200)
    engine, reference = train_both(sizes, t_max, thresholds, [0.2] * (len(sizes) - 1),
                                   [1e-3] * (len(sizes) - 1), 3, x_times, labels, weights)
    assert_weights_close(engine, reference)


def test_training_silent_outputs_learn():
    # Threshold so high that no output fires: targets are t_max except T_y = t_max − γ,
    # so only the label's output has a non-zero error and only its weights move.
    rng = np.random.default_rng(11)
    sizes, t_max = (20, 6, 3), 30
    weights = [rng.uniform(0, 1, size=(6, 20)) * 3, rng.uniform(0, 1, size=(3, 6))]
    x_times = rng.integers(0, t_max, size=(5, 20))
    labels = np.array([1, 1, 1, 1, 1])
    engine, reference = train_both(sizes, t_max, [5.0, 1e6], [0.5, 0.5], [0.0, 0.0], 3, x_times, labels,
                                   weights)
    assert_weights_close(engine, reference)
    changed = np.any(engine[1] != weights[1], axis=1)
    assert changed.tolist() == [False, True, False]


def test_training_zero_error_keeps_weights():
    # One output fires alone and early, the other γ steps later or more: e = 0, δ = 0, no change.
    weights = [np.array([[20.0, 0.0], [0.0, 20.0]])]
    x_times = np.array([[1, 9]])  # output 0 fires at t = 2, output 1 at t = 10, γ = 3
    engine, reference = train_both((2, 2), 20, [10.0], [0.3], [0.0], 3, x_times, np.array([0]), weights)
    assert np.array_equal(engine[0], weights[0])
    assert np.array_equal(reference[0], weights[0])


def test_training_matches_naive_with_ties_and_negative_weights():
    rng = np.random.default_rng(5)
    sizes, t_max = (16, 6, 4), 24
    weights = [rng.integers(-2, 5, size=(6, 16)).astype(float), rng.integers(-1, 6, size=(4, 6)).astype(float)]
    x_times = rng.integers(0, t_max + 1, size=(200, 16))
    labels = rng.integers(0, 4, size=200)
    engine, reference = train_both(sizes, t_max, [6.0, 6.0], [0.1, 0.1], [1e-4, 1e-4], 2, x_times, labels,
                                   weights)
    assert_weights_close(engine, reference)


def test_learning_signal_matches_naive():
    rng = np.random.default_rng(21)
    sizes, t_max = (25, 9, 5), 40
    weights, thresholds, x_times = random_case(rng, sizes, t_max)
    net = make_network(sizes, t_max, thresholds, weights)
    for s in range(8):
        label = int(rng.integers(0, 5))
        trace = net.trace(x_times[s], label=label, gamma=3, learning_rates=[0.2, 0.2], l2=[1e-6, 1e-6],
                          weight_changes=True)
        twin = [w.copy() for w in weights]
        times, targets, deltas = naive.train_sample_naive(x_times[s], label, twin, thresholds, [0.2, 0.2],
                                                          [1e-6, 1e-6], 3, t_max)
        assert np.array_equal(trace.targets, targets)
        np.testing.assert_allclose(trace.errors, (targets - times[-1]) / t_max, rtol=0, atol=1e-15)
        for l in range(2):
            np.testing.assert_allclose(trace.deltas[l], deltas[l], rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(weights[l] + trace.weight_changes[l], twin[l], rtol=1e-12, atol=1e-12)
    assert np.array_equal(net.weights()[0], weights[0])  # tracing never changes the network


def test_scale_folding_keeps_weights():
    # λ large enough that the scale drops below 0.5 and is folded into the weights mid-run.
    rng = np.random.default_rng(8)
    sizes, t_max = (20, 6, 3), 30
    weights = [rng.uniform(0, 1, size=(6, 20)) * 4, rng.uniform(0, 1, size=(3, 6)) * 4]
    x_times = rng.integers(0, t_max + 1, size=(60, 20))
    labels = rng.integers(0, 3, size=60)
    engine, reference = train_both(sizes, t_max, [5.0, 5.0], [0.5, 0.5], [0.05, 0.05], 3, x_times, labels,
                                   weights)
    assert_weights_close(engine, reference)


def test_threshold_override_changes_one_neuron():
    settings = make_settings((6,), input_size=10, output_size=3, t_max=30, thresholds=5.0)
    net = Network.initialise(settings.network, np.random.default_rng(2))
    x = np.random.default_rng(3).integers(0, 31, size=10)
    plain = net.trace(x)
    raised = net.trace(x, threshold_overrides={(2, 1): 1e9})
    assert raised.times[2][1] == 30
    assert raised.thresholds[1][1] == 1e9
    assert np.array_equal(raised.times[1], plain.times[1])
    assert net.config.thresholds == (5.0, 5.0)


def test_training_matches_naive_on_bundled_digits():
    # The default 784-400-10 network on real digits: many inputs per time step, and
    # most hidden neurons fire long before the last one, so the forward pass finishes
    # on the few neurons still waiting.
    from s4nn_engine.datasets import load_dataset

    splits = load_dataset("bundled")
    rng = np.random.default_rng(4)
    sizes, t_max = (784, 400, 10), 256
    weights = [rng.uniform(0.0, 5.0, size=(400, 784)), rng.uniform(0.0, 48.0, size=(10, 400))]
    x_times = encode(splits.train.images[:120], t_max).astype(np.int64)
    labels = np.asarray(splits.train.labels[:120], dtype=np.int64)
    engine, reference = train_both(sizes, t_max, [100.0, 100.0], [0.2, 0.2], [1e-6, 1e-6], 3, x_times,
                                   labels, weights)
    assert_weights_close(engine, reference)
    # The late path was taken: in the network as trained, some sample has a time
    # step after which fewer than a quarter of the hidden neurons are still to fire.
    times, _ = naive.forward_naive(x_times[-1], reference, [100.0, 100.0], t_max)
    hidden = times[1]
    spikes = np.unique(x_times[-1][x_times[-1] < t_max])
    assert any(4 * np.count_nonzero(hidden > t) < 400 for t in spikes if t < hidden.max())
