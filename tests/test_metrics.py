"""Readout rules on hand-made output times."""

from __future__ import annotations

import numpy as np

from s4nn_engine.metrics import (
    CLEAN,
    SILENT,
    TIE,
    accuracy_by_readout_step,
    decide,
    decision_time_histograms,
    score,
    summarise,
)

T_MAX = 10


def test_decide_clean_tie_silent():
    out_times = np.array([[3, 5, 7], [4, 4, 9], [10, 10, 10], [6, 6, 6]])
    v_cross = np.array([[0, 0, 0], [1.0, 2.0, 0], [0, 0, 0], [5.0, 5.0, 5.0]])
    v_last = np.array([[0, 0, 0], [0, 0, 0], [1.0, 3.0, 2.0], [0, 0, 0]])
    decisions = decide(out_times, v_cross, v_last, T_MAX)
    assert decisions.rows.tolist() == [0, 1, 1, 0]  # last: equal potentials, lower row wins
    assert decisions.outcomes.tolist() == [CLEAN, TIE, SILENT, TIE]
    assert decisions.decision_times.tolist() == [3, 4, 10, 6]


def test_score_three_accuracies():
    out_times = np.array([[3, 5], [4, 4], [10, 10], [2, 8]])
    v_cross = np.array([[0, 0], [1.0, 2.0], [0, 0], [0, 0]])
    v_last = np.array([[0, 0], [0, 0], [1.0, 3.0], [0, 0]])
    v_ref = np.array([[0, 0], [0, 0], [4.0, 3.0], [0, 0]])
    labels = np.array([0, 0, 1, 1])
    results = score(out_times, v_cross, v_last, v_ref, labels, np.array([0, 1]), T_MAX)
    # Sample 0: clean and right. 1: tie won by row 1, wrong, but the reference rule counts it.
    # 2: silent, V(t_max − 1) picks 1 (right), V(t_max − 3) picks 0 (reference wrong). 3: clean, wrong.
    assert results.correct.tolist() == [True, False, True, False]
    assert results.first_spike_correct.tolist() == [True, False, False, False]
    assert results.reference_correct.tolist() == [True, True, False, False]
    metrics = summarise(results, 2)
    assert metrics.accuracy == 0.5
    assert metrics.first_spike_accuracy == 0.25
    assert metrics.reference_accuracy == 0.5
    assert (metrics.clean, metrics.tie, metrics.silent) == (2, 1, 1)
    assert metrics.mean_decision_time == 3.0  # (3 + 4 + 2) / 3 decided samples
    assert metrics.confusion.tolist() == [[1, 1], [1, 1]]


def test_score_maps_rows_to_classes():
    # Row 0 stands for class 1 and row 1 for class 0.
    out_times = np.array([[3, 5]])
    results = score(out_times, np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 2)), np.array([1]),
                    np.array([1, 0]), T_MAX)
    assert results.predictions.tolist() == [1]
    assert results.correct.tolist() == [True]


def test_accuracy_by_readout_step():
    out_times = np.array([[3, 5], [6, 9], [10, 10]])
    results = score(out_times, np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2)), np.array([0, 0, 0]),
                    np.array([0, 1]), T_MAX)
    curve = accuracy_by_readout_step(results)
    assert curve.shape == (T_MAX + 1,)
    assert curve[2] == 0
    assert curve[3] == 1 / 3
    assert curve[6] == 2 / 3
    assert curve[T_MAX] == 2 / 3  # the silent sample never counts


def test_decision_time_histograms():
    out_times = np.array([[3, 5], [6, 9], [10, 10]])
    results = score(out_times, np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2)), np.array([0, 1, 1]),
                    np.array([0, 1]), T_MAX)
    histogram = decision_time_histograms(results, 2)
    assert histogram[0, 3] == 1
    assert histogram[1, 6] == 1
    assert histogram.sum() == 2
