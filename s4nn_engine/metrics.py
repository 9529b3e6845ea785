"""Readout of the output layer: decisions, outcomes, the three accuracies and their statistics.

All functions take the output layer's firing times in row order (column k is
output neuron k) and labels already mapped to rows, unless their docstring states otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLEAN, TIE, SILENT = 0, 1, 2
OUTCOME_NAMES = ("clean", "tie", "silent")


@dataclass(frozen=True)
class Decisions:
    """Readout of a batch of samples, in output-row space."""

    rows: np.ndarray  # int64 (n,): the winning output row
    outcomes: np.ndarray  # int8 (n,): CLEAN, TIE or SILENT
    decision_times: np.ndarray  # int64 (n,): τ, the first output spike; t_max when silent


def decide(out_times: np.ndarray, v_cross: np.ndarray, v_last: np.ndarray, t_max: int) -> Decisions:
    """Name the winner of each sample.

    One output neuron fires first at τ < t_max: it wins (clean). Several tie at
    τ < t_max: the tied neuron with the larger potential at the crossing step
    τ − 1 wins, then the lower row (tie). No output fires: the neuron with the
    largest V(t_max − 1) wins, then the lower row (silent).
    """
    out_times = np.asarray(out_times)
    tau = out_times.min(axis=1).astype(np.int64)
    earliest = out_times == tau[:, None]
    n_earliest = earliest.sum(axis=1)
    silent = tau >= t_max

    # np.argmax returns the first maximum, which is the lower-row rule.
    tie_scores = np.where(earliest, v_cross, -np.inf)
    rows = np.argmax(tie_scores, axis=1)
    rows = np.where(silent, np.argmax(v_last, axis=1), rows)

    outcomes = np.full(out_times.shape[0], CLEAN, dtype=np.int8)
    outcomes[n_earliest > 1] = TIE
    outcomes[silent] = SILENT
    return Decisions(rows=rows.astype(np.int64), outcomes=outcomes, decision_times=tau)


def reference_correct(out_times: np.ndarray, v_ref: np.ndarray, label_rows: np.ndarray,
                      t_max: int) -> np.ndarray:
    """Score samples by the published S4NN code's rule, for comparison with its reported accuracy.

    A sample that fired is correct when the label's neuron is among the earliest
    (so a tie counts as correct); a silent sample is decided by the largest
    V(t_max − 3).
    """
    out_times = np.asarray(out_times)
    label_rows = np.asarray(label_rows, dtype=np.int64)
    tau = out_times.min(axis=1)
    index = np.arange(out_times.shape[0])
    among_earliest = out_times[index, label_rows] == tau
    silent_right = np.argmax(v_ref, axis=1) == label_rows
    return np.where(tau >= t_max, silent_right, among_earliest)


@dataclass(frozen=True)
class Metrics:
    """Figures of one evaluated set of samples.

    ``accuracy``: the decision equals the label. ``first_spike_accuracy``: the
    label's neuron alone fires first. ``reference_accuracy``: the published
    code's rule. ``mean_decision_time``: mean τ over samples that were not
    silent (NaN when every sample was silent). ``confusion[true, predicted]`` counts
    samples by class (not by output row).
    """

    samples: int
    accuracy: float
    first_spike_accuracy: float
    reference_accuracy: float
    clean: int
    tie: int
    silent: int
    mean_decision_time: float
    confusion: np.ndarray

    @property
    def outcomes(self) -> dict[str, int]:
        return {"clean": self.clean, "tie": self.tie, "silent": self.silent}

    def to_dict(self) -> dict:
        return {
            "samples": self.samples,
            "accuracy": self.accuracy,
            "first_spike_accuracy": self.first_spike_accuracy,
            "reference_accuracy": self.reference_accuracy,
            "outcomes": self.outcomes,
            "mean_decision_time": None if np.isnan(self.mean_decision_time) else self.mean_decision_time,
        }


@dataclass(frozen=True)
class SampleResults:
    """Per-sample readout of an evaluation, in class space, for the debugging views."""

    labels: np.ndarray  # int64 (n,): true class
    predictions: np.ndarray  # int64 (n,): decided class
    outcomes: np.ndarray  # int8 (n,)
    decision_times: np.ndarray  # int64 (n,), t_max when silent
    correct: np.ndarray  # bool (n,): prediction == label
    first_spike_correct: np.ndarray  # bool (n,)
    reference_correct: np.ndarray  # bool (n,)
    t_max: int


def score(out_times: np.ndarray, v_cross: np.ndarray, v_last: np.ndarray, v_ref: np.ndarray,
          labels: np.ndarray, row_classes: np.ndarray, t_max: int) -> SampleResults:
    """Read out every sample and compare it with its class label.

    ``row_classes[k]`` is the class that output row k stands for; ``labels`` are classes.
    """
    row_classes = np.asarray(row_classes, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    rows_of_class = np.full(max(int(row_classes.max()), int(labels.max(initial=0))) + 1, -1, np.int64)
    rows_of_class[row_classes] = np.arange(row_classes.size)
    label_rows = rows_of_class[labels]

    decisions = decide(out_times, v_cross, v_last, t_max)
    predictions = row_classes[decisions.rows]
    correct = predictions == labels
    first_spike = correct & (decisions.outcomes == CLEAN)
    reference = reference_correct(out_times, v_ref, np.maximum(label_rows, 0), t_max) & (label_rows >= 0)
    return SampleResults(
        labels=labels,
        predictions=predictions,
        outcomes=decisions.outcomes,
        decision_times=decisions.decision_times,
        correct=correct,
        first_spike_correct=first_spike,
        reference_correct=reference,
        t_max=int(t_max),
    )


def summarise(results: SampleResults, n_classes: int) -> Metrics:
    """Reduce per-sample results to the figures of :class:`Metrics`."""
    n = int(results.labels.size)
    decided = results.outcomes != SILENT
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    if n:
        np.add.at(confusion, (results.labels, results.predictions), 1)
    mean_time = float(results.decision_times[decided].mean()) if decided.any() else float("nan")
    return Metrics(
        samples=n,
        accuracy=_share(results.correct),
        first_spike_accuracy=_share(results.first_spike_correct),
        reference_accuracy=_share(results.reference_correct),
        clean=int(np.count_nonzero(results.outcomes == CLEAN)),
        tie=int(np.count_nonzero(results.outcomes == TIE)),
        silent=int(np.count_nonzero(results.outcomes == SILENT)),
        mean_decision_time=mean_time,
        confusion=confusion,
    )


def accuracy_by_readout_step(results: SampleResults) -> np.ndarray:
    """Accuracy if the readout stops at step s, for s = 0 … t_max.

    A sample counts as correct at s when its decision time is ≤ s and its
    decision is correct; silent samples never count.
    """
    t_max = results.t_max
    n = max(results.labels.size, 1)
    hits = results.correct & (results.outcomes != SILENT)
    counts = np.bincount(results.decision_times[hits], minlength=t_max + 1)[: t_max + 1]
    return np.cumsum(counts) / n


def decision_time_histograms(results: SampleResults, n_classes: int) -> np.ndarray:
    """Count decided samples per true class and decision time: shape (n_classes, t_max + 1)."""
    t_max = results.t_max
    histogram = np.zeros((n_classes, t_max + 1), dtype=np.int64)
    decided = results.outcomes != SILENT
    np.add.at(histogram, (results.labels[decided], results.decision_times[decided]), 1)
    return histogram


def _share(flags: np.ndarray) -> float:
    return float(np.count_nonzero(flags) / flags.size) if flags.size else float("nan")
