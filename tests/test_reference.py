"""The engine against outside sources: the published weights and the published code's training."""

from __future__ import annotations

import numpy as np

from conftest import REFERENCE_ORDER, shared_file
from s4nn_engine import kernels
from s4nn_engine.checkpoint import import_reference_weights
from s4nn_engine.config import make_settings
from s4nn_engine.network import Network


def test_published_weights_firing_times(mnist_test):
    images, labels = mnist_test
    network = import_reference_weights(shared_file("s4nn-reference", "weights_pretrained.npy"))
    with np.load(shared_file("s4nn-reference", "expected_times_t10k.npz")) as expected:
        hidden, output = expected["hidden"], expected["output"]
    metrics, results, forward = network.evaluate(images, labels)
    assert tuple(network.row_classes) == REFERENCE_ORDER
    assert np.array_equal(forward.times[1], hidden)
    assert np.array_equal(forward.times[2], output)


def test_published_weights_figures(mnist_test):
    images, labels = mnist_test
    network = import_reference_weights(shared_file("s4nn-reference", "weights_pretrained.npy"))
    metrics, _, _ = network.evaluate(images, labels)
    assert metrics.samples == 10000
    assert metrics.accuracy == 0.9623
    assert metrics.first_spike_accuracy == 0.9473
    assert metrics.reference_accuracy == 0.9669
    assert metrics.silent == 80
    assert metrics.tie == 147
    assert metrics.confusion.sum() == 10000


def test_published_weights_serial_equals_parallel(mnist_test):
    images, labels = mnist_test
    network = import_reference_weights(shared_file("s4nn-reference", "weights_pretrained.npy"))
    x_times = network.encode(images[:2000])
    serial = network.forward(x_times, parallel=False)
    parallel = network.forward(x_times, parallel=True)
    for a, b in zip(serial.times, parallel.times):
        assert np.array_equal(a, b)
    assert np.array_equal(serial.v_cross, parallel.v_cross)


def test_training_oracle_500(training_oracle):
    oracle = training_oracle
    settings = make_settings(shuffle=False, dead_reset=False)
    network = Network(settings.network, [oracle["W0_init"], oracle["W1_init"]])
    x_times = network.encode(oracle["pixels"])
    label_rows = oracle["labels"].astype(np.int64)
    n = x_times.shape[0]

    # Train one sample at a time so each forward pass (before its update) can be compared.
    thetas = network.neuron_thresholds()
    fire_counts = np.zeros(thetas.size, np.int64)
    hidden_mismatches = output_mismatches = 0
    for s in range(n):
        forward = network.forward(x_times[s:s + 1], parallel=False)
        hidden_mismatches += not np.array_equal(forward.times[1][0], oracle["hidden_times"][s])
        output_mismatches += not np.array_equal(forward.times[2][0], oracle["output_times"][s])
        out_times = np.empty((1, 10), np.int16)
        v = np.empty((1, 10))
        kernels._train_chunk(x_times, label_rows, np.array([s]), network._flat_u, network._scales,
                             network._sizes, network._w_offsets, thetas, network._n_offsets, 256,
                             np.array([0.2, 0.2]), np.array([1e-6, 1e-6]), 3, network._t_offsets,
                             fire_counts, out_times, v, v.copy(), v.copy())
    assert hidden_mismatches == 0
    assert output_mismatches == 0
    final = network.weights()
    for engine, expected in ((final[0], oracle["W0_final"]), (final[1], oracle["W1_final"])):
        assert np.max(np.abs(engine - expected)) <= 1e-12 * np.max(np.abs(expected))


def test_training_oracle_500_through_trainer(training_oracle):
    from types import SimpleNamespace

    from s4nn_engine.training import Trainer

    oracle = training_oracle

    class Split:
        images = oracle["pixels"].reshape(-1, 28, 28)
        labels = oracle["labels"].astype(np.int64)
        class_names = tuple(str(c) for c in range(10))
        checksum = ""

        def __len__(self):
            return 500

    settings = make_settings(shuffle=False, dead_reset=False, epochs=1, chunk_size=64)
    network = Network(settings.network, [oracle["W0_init"], oracle["W1_init"]])
    splits = SimpleNamespace(train=Split(), validation=None, test=None, class_names=Split.class_names)
    finished = Trainer(settings, splits, network=network).run()
    assert finished.reason == "completed"
    final = network.weights()
    for engine, expected in ((final[0], oracle["W0_final"]), (final[1], oracle["W1_final"])):
        assert np.max(np.abs(engine - expected)) <= 1e-12 * np.max(np.abs(expected))
