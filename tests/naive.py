"""Slow, readable NumPy twins of the engine's kernels: dense, clock-driven, one step at a time.

They follow the rule as written, with W^l of shape (N_l, N_{l-1}), and share no
code with ``s4nn_engine``. Tests compare the engine with them exactly.
"""

from __future__ import annotations

import numpy as np


def encode_naive(pixels: np.ndarray, t_max: int) -> np.ndarray:
    """t = floor((255 − p) · t_max / 255) for each 8-bit pixel, computed pixel by pixel."""
    flat = np.asarray(pixels).reshape(-1)
    return np.array([((255 - int(p)) * t_max) // 255 for p in flat], dtype=np.int64)


def potentials_naive(in_times: np.ndarray, weights: np.ndarray, t_max: int) -> np.ndarray:
    """V_j(k) = Σ_{i : t_i ≤ k} W_ji for k = 0 … t_max − 1, shape (N_out, t_max).

    The input raster has one column per step; V is its weighted cumulative sum.
    """
    raster = np.zeros((weights.shape[1], t_max))
    for i, t in enumerate(in_times):
        if t < t_max:
            raster[i, t] = 1.0
    return np.cumsum(weights @ raster, axis=1)


def fire_naive(potentials: np.ndarray, thresholds: np.ndarray, t_max: int) -> np.ndarray:
    """t_j = (first k with V_j(k) > θ_j) + 1, capped at t_max; t_max when V never crosses."""
    times = np.full(potentials.shape[0], t_max, dtype=np.int64)
    for j in range(potentials.shape[0]):
        for k in range(t_max):
            if potentials[j, k] > thresholds[j]:
                times[j] = min(k + 1, t_max)
                break
    return times


def forward_naive(x_times, weights, thresholds, t_max):
    """Return (times of every layer, input first; potentials of every non-input layer)."""
    times = [np.asarray(x_times, dtype=np.int64)]
    potentials = []
    for W, theta in zip(weights, thresholds):
        V = potentials_naive(times[-1], W, t_max)
        theta = np.broadcast_to(np.asarray(theta, dtype=np.float64), (W.shape[0],))
        potentials.append(V)
        times.append(fire_naive(V, theta, t_max))
    return times, potentials


def decide_naive(out_times, V_out, t_max):
    """Winner row and outcome ("clean", "tie", "silent") of one sample."""
    tau = int(min(out_times))
    if tau == t_max:
        return int(np.argmax(V_out[:, t_max - 1])), "silent"
    earliest = [k for k in range(len(out_times)) if out_times[k] == tau]
    if len(earliest) == 1:
        return earliest[0], "clean"
    best = earliest[0]
    for k in earliest[1:]:
        if V_out[k, tau - 1] > V_out[best, tau - 1]:
            best = k
    return best, "tie"


def reference_correct_naive(out_times, V_out, label_row, t_max):
    tau = int(min(out_times))
    if tau == t_max:
        step = max(t_max - 3, -1)
        scores = V_out[:, step] if step >= 0 else np.zeros(V_out.shape[0])
        return int(np.argmax(scores)) == label_row
    return int(out_times[label_row]) == tau


def targets_naive(out_times, label_row, gamma, t_max):
    out_times = np.asarray(out_times, dtype=np.int64)
    tau = int(out_times.min())
    if tau == t_max:
        targets = np.full(out_times.size, t_max, dtype=np.int64)
        targets[label_row] = t_max - gamma
        return targets
    targets = out_times.copy()
    for k in range(out_times.size):
        if out_times[k] - tau < gamma:
            targets[k] = min(tau + gamma, t_max)
    targets[label_row] = tau
    return targets


def normalise_naive(vector):
    norm = np.sqrt(np.sum(vector ** 2))
    return vector / norm if norm > 0 else vector


def train_sample_naive(x_times, label_row, weights, thresholds, learning_rates, l2, gamma, t_max):
    """One online training step; ``weights`` (a list of arrays) is updated in place.

    Returns the times of the forward pass, the targets and every layer's δ.
    """
    times, _ = forward_naive(x_times, weights, thresholds, t_max)
    L = len(weights)
    targets = targets_naive(times[L], label_row, gamma, t_max)
    deltas = [None] * L
    deltas[L - 1] = normalise_naive((targets - times[L]) / t_max)

    for l in range(L, 0, -1):
        t_in, t_here = times[l - 1], times[l]
        mask = (t_in[None, :] < t_here[:, None]).astype(np.float64)
        weights[l - 1] -= learning_rates[l - 1] * deltas[l - 1][:, None] * mask
        weights[l - 1] *= 1.0 - learning_rates[l - 1] * l2[l - 1]
        if l > 1:
            W = weights[l - 1]
            back_mask = (t_in[None, :] < t_here[:, None]).astype(np.float64)  # (N_l, N_{l-1})
            delta_below = (deltas[l - 1][:, None] * W * back_mask).sum(axis=0)
            deltas[l - 2] = normalise_naive(delta_below)
    return times, targets, deltas


def dead_neurons_naive(fire_counts, n_samples, fraction):
    """Hidden neurons that fired on fewer than ``fraction`` of the epoch's samples."""
    return np.flatnonzero(np.asarray(fire_counts) < fraction * n_samples)
