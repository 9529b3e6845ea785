"""Numba kernels of the event-driven S4NN simulation (private: call them through network/training).

Memory layout shared by every kernel:

- ``sizes``: int64 (L + 1,), the neuron count of every layer, input first.
- ``flat_u``: float64, every weight layer stored *transposed*, so that layer l
  (1 … L) is the block ``U^l`` of shape (N_{l-1}, N_l) starting at ``w_offsets[l-1]``.
  The true weights are ``W^l = scales[l-1] · (U^l)ᵀ``. The scalar scale turns the
  L2 decay ``W ← W · (1 − ηλ)`` into one multiplication per layer instead of one per weight.
- ``thetas``: float64, one threshold per non-input neuron, layer l at ``n_offsets[l-1]``.
- ``times``: int16, one firing time per neuron of every layer (input included),
  layer l at ``t_offsets[l]``.

Potentials are summed in the order of the event-driven rule: input spikes in
order of time, ties in index order, and ``V_j(k) = s · Σ_{i : t_i ≤ k} U_ij``.
Every kernel here uses that same order, so firing times from a trace equal firing
times from a forward pass bit for bit.
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = dict(nogil=True, cache=True)


@numba.njit(**_JIT)
def _sort_by_time(in_times, t_max, order, counts):
    """Fill ``order`` with the indices of inputs with t < t_max, sorted by (time, index).

    Counting sort; ``counts`` has t_max + 1 entries and is overwritten. Returns
    the number of sorted inputs.
    """
    for t in range(t_max + 1):
        counts[t] = 0
    for i in range(in_times.shape[0]):
        t = in_times[i]
        if t < t_max:
            counts[t + 1] += 1
    for t in range(t_max):
        counts[t + 1] += counts[t]
    n_active = counts[t_max]
    for i in range(in_times.shape[0]):
        t = in_times[i]
        if t < t_max:
            order[counts[t]] = i
            counts[t] += 1
    return n_active


@numba.njit(**_JIT)
def _layer_forward(in_times, u, scale, thetas, t_max, full, out_times, v_cross, v_last, v_ref,
                   acc, order, n_active, waiting):
    """Fire one layer: t_j = c_j + 1, c_j the first step k ≤ t_max − 1 with V_j(k) > θ_j.

    ``u`` is the layer's (N_in, N_out) block; ``out_times`` gets t_max for a
    neuron that never crosses. When ``full`` is true every input is integrated
    and ``v_cross`` (V at the crossing step, or V(t_max − 1) for a silent
    neuron), ``v_last`` (V(t_max − 1)) and ``v_ref`` (V(t_max − 3)) are filled;
    otherwise the loop stops once every neuron has crossed and only the times
    are valid. ``order[:n_active]`` are the inputs sorted by ``_sort_by_time``.
    """
    if full:
        _layer_forward_full(in_times, u, scale, thetas, t_max, out_times, v_cross, v_last, v_ref,
                            acc, order, n_active)
    else:
        _layer_forward_times(in_times, u, scale, thetas, t_max, out_times, acc, order, n_active,
                             waiting)


@numba.njit(**_JIT)
def _step_end(in_times, order, start, n_active):
    """Return the position after the last sorted input that spikes at the same step as ``order[start]``."""
    t = in_times[order[start]]
    end = start + 1
    while end < n_active and in_times[order[end]] == t:
        end += 1
    return end


@numba.njit(**_JIT)
def _add_rows(acc, u, order, start, stop):
    """Add the rows u[order[start]] … u[order[stop − 1]] to acc, one after another in that order.

    Up to four rows share one pass over ``acc``: ``(((acc + a) + b) + c) + d``
    rounds exactly as four passes do, with a quarter of the loads and stores of acc.
    """
    n_out = u.shape[1]
    p = start
    while stop - p >= 4:
        r0 = order[p]
        r1 = order[p + 1]
        r2 = order[p + 2]
        r3 = order[p + 3]
        for j in range(n_out):
            acc[j] = (((acc[j] + u[r0, j]) + u[r1, j]) + u[r2, j]) + u[r3, j]
        p += 4
    left = stop - p
    if left == 3:
        r0 = order[p]
        r1 = order[p + 1]
        r2 = order[p + 2]
        for j in range(n_out):
            acc[j] = ((acc[j] + u[r0, j]) + u[r1, j]) + u[r2, j]
    elif left == 2:
        r0 = order[p]
        r1 = order[p + 1]
        for j in range(n_out):
            acc[j] = (acc[j] + u[r0, j]) + u[r1, j]
    elif left == 1:
        r0 = order[p]
        for j in range(n_out):
            acc[j] += u[r0, j]


@numba.njit(**_JIT)
def _layer_forward_times(in_times, u, scale, thetas, t_max, out_times, acc, order, n_active,
                         waiting):
    """Compute one layer's firing times only.

    ``acc`` is float scratch of 2 · N_out values, ``waiting`` int64 scratch of
    N_out. The last input of each time step is added in the same pass as the
    threshold test. A neuron's sum becomes −∞ once it crosses, so it never crosses
    again, and its firing time is added to ``fired_at`` (0 until then). Both get a
    computed value, never "the old value unless": LLVM turns that pattern into a
    masked store, which made the test several times slower on the AMD EPYC used
    for docs/benchmarks.md. Once fewer than a quarter of the neurons wait, the
    rest of the pass visits only them.
    """
    n_out = u.shape[1]
    sums = acc[:n_out]
    fired_at = acc[n_out:2 * n_out]
    for j in range(n_out):
        sums[j] = 0.0
        fired_at[j] = 0.0
    n_fired = 0
    position = 0
    while position < n_active and 4 * (n_out - n_fired) >= n_out:
        t = in_times[order[position]]
        end = _step_end(in_times, order, position, n_active)
        _add_rows(sums, u, order, position, end - 1)
        last = order[end - 1]
        position = end
        t_fire = float(min(t + 1, t_max))
        for j in range(n_out):
            v = sums[j] + u[last, j]
            crossed = scale * v > thetas[j]
            sums[j] = v + (-np.inf if crossed else 0.0)
            fired_at[j] = fired_at[j] + (t_fire if crossed else 0.0)
            n_fired += crossed
    n_waiting = 0
    for j in range(n_out):
        if fired_at[j] == 0.0:
            waiting[n_waiting] = j
            n_waiting += 1
    while position < n_active and n_waiting > 0:
        t = in_times[order[position]]
        # All inputs of step t are summed before the threshold test of step t.
        while position < n_active and in_times[order[position]] == t:
            row = order[position]
            for w in range(n_waiting):
                j = waiting[w]
                sums[j] += u[row, j]
            position += 1
        w = 0
        while w < n_waiting:
            j = waiting[w]
            if scale * sums[j] > thetas[j]:
                fired_at[j] = min(t + 1, t_max)
                n_waiting -= 1
                waiting[w] = waiting[n_waiting]
            else:
                w += 1
    for j in range(n_out):
        out_times[j] = int(fired_at[j]) if fired_at[j] > 0.0 else t_max


@numba.njit(**_JIT)
def _layer_forward_full(in_times, u, scale, thetas, t_max, out_times, v_cross, v_last, v_ref,
                        acc, order, n_active):
    n_out = u.shape[1]
    # ``waiting[:n_waiting]`` lists the neurons that have not crossed yet, so the
    # threshold test skips the ones that fired.
    waiting = np.empty(n_out, np.int64)
    for j in range(n_out):
        acc[j] = 0.0
        out_times[j] = t_max
        waiting[j] = j
    n_waiting = n_out
    ref_step = t_max - 3
    ref_taken = False
    position = 0
    while position < n_active:
        t = in_times[order[position]]
        if not ref_taken and t > ref_step:
            for j in range(n_out):
                v_ref[j] = scale * acc[j]
            ref_taken = True
        while position < n_active and in_times[order[position]] == t:
            row = order[position]
            for j in range(n_out):
                acc[j] += u[row, j]
            position += 1
        w = 0
        while w < n_waiting:
            j = waiting[w]
            v = scale * acc[j]
            if v > thetas[j]:
                out_times[j] = min(t + 1, t_max)
                v_cross[j] = v
                n_waiting -= 1
                waiting[w] = waiting[n_waiting]
            else:
                w += 1
    for j in range(n_out):
        v = scale * acc[j]
        v_last[j] = v
        if not ref_taken:
            v_ref[j] = v
        if out_times[j] == t_max:
            v_cross[j] = v


@numba.njit(**_JIT)
def _forward_sample(x_times, flat_u, scales, sizes, w_offsets, thetas, n_offsets, t_max,
                    times, t_offsets, v_cross, v_last, v_ref, acc, orders, n_actives, counts, picks):
    """Run every layer of one sample; ``times`` gets all layers' firing times (input copied in).

    ``orders`` (flat, layout of ``times``) receives each layer's inputs sorted by
    time and ``n_actives[l - 1]`` how many of them spiked before t_max, so the
    update can reuse them. ``acc`` is float scratch of twice the widest layer,
    ``picks`` int64 scratch of the widest layer.
    """
    n_layers = sizes.shape[0] - 1
    for i in range(sizes[0]):
        times[i] = x_times[i]
    for l in range(1, n_layers + 1):
        n_in = sizes[l - 1]
        n_out = sizes[l]
        u = flat_u[w_offsets[l - 1]:w_offsets[l - 1] + n_in * n_out].reshape((n_in, n_out))
        in_times = times[t_offsets[l - 1]:t_offsets[l - 1] + n_in]
        out_times = times[t_offsets[l]:t_offsets[l] + n_out]
        layer_thetas = thetas[n_offsets[l - 1]:n_offsets[l - 1] + n_out]
        order = orders[t_offsets[l - 1]:t_offsets[l - 1] + n_in]
        n_actives[l - 1] = _sort_by_time(in_times, t_max, order, counts)
        _layer_forward(in_times, u, scales[l - 1], layer_thetas, t_max, l == n_layers,
                       out_times, v_cross, v_last, v_ref, acc, order, n_actives[l - 1], picks)


def _forward_batch_impl(x_times, flat_u, scales, sizes, w_offsets, thetas, n_offsets, t_max,
                        t_offsets, times_out, v_cross, v_last, v_ref):
    """Forward pass of many samples; row s of each output array belongs to sample s."""
    n_samples = x_times.shape[0]
    max_width = 0
    for l in range(sizes.shape[0]):
        max_width = max(max_width, sizes[l])
    for s in numba.prange(n_samples):
        acc = np.empty(2 * max_width, np.float64)
        orders = np.empty(times_out.shape[1], np.int64)
        n_actives = np.empty(sizes.shape[0], np.int64)
        counts = np.empty(t_max + 1, np.int64)
        picks = np.empty(max_width, np.int64)
        _forward_sample(x_times[s], flat_u, scales, sizes, w_offsets, thetas, n_offsets, t_max,
                        times_out[s], t_offsets, v_cross[s], v_last[s], v_ref[s],
                        acc, orders, n_actives, counts, picks)


_forward_batch_parallel = numba.njit(parallel=True, **_JIT)(_forward_batch_impl)
_forward_batch_serial = numba.njit(**_JIT)(_forward_batch_impl)


@numba.njit(**_JIT)
def _output_targets(out_times, label, gamma, t_max, targets):
    """Relative targets T of the output layer.

    Nothing fired (τ = t_max): T_k = t_max, T_y = t_max − γ. Otherwise
    T_k = t_k, then T_k = min(τ + γ, t_max) for every k with t_k − τ < γ, then T_y = τ.
    """
    n_out = out_times.shape[0]
    tau = t_max
    for k in range(n_out):
        tau = min(tau, out_times[k])
    if tau == t_max:
        for k in range(n_out):
            targets[k] = t_max
        targets[label] = t_max - gamma
        return
    for k in range(n_out):
        t_k = out_times[k]
        if t_k - tau < gamma:
            targets[k] = min(tau + gamma, t_max)
        else:
            targets[k] = t_k
    targets[label] = tau


@numba.njit(**_JIT)
def _normalise(delta):
    norm = 0.0
    for k in range(delta.shape[0]):
        norm += delta[k] * delta[k]
    norm = np.sqrt(norm)
    if norm > 0.0:
        for k in range(delta.shape[0]):
            delta[k] = delta[k] / norm


@numba.njit(**_JIT)
def _subtract_rows(u, order, start, stop, step, later, t):
    """Subtract step[j] from u[order[p], j] for start ≤ p < stop and every j with t < later[j].

    The rows share the spike time t, so the masked step is formed once for up to
    four rows. Masked-out entries subtract −0.0, which leaves every weight
    unchanged except that −0.0 becomes +0.0, equal in every comparison and sum.
    With a plain 0.0, LLVM proves those entries unchanged and emits a masked
    store, which is slow on the same processor as in ``_layer_forward_times``.
    """
    n_out = u.shape[1]
    p = start
    while stop - p >= 4:
        r0 = order[p]
        r1 = order[p + 1]
        r2 = order[p + 2]
        r3 = order[p + 3]
        for j in range(n_out):
            # step[j] is read outside the condition, which LLVM would otherwise turn into a masked load.
            s = step[j]
            d = s if t < later[j] else -0.0
            u[r0, j] -= d
            u[r1, j] -= d
            u[r2, j] -= d
            u[r3, j] -= d
        p += 4
    while p < stop:
        r0 = order[p]
        for j in range(n_out):
            s = step[j]
            u[r0, j] -= s if t < later[j] else -0.0
        p += 1


@numba.njit(**_JIT)
def _train_sample(x_times, label, flat_u, scales, sizes, w_offsets, thetas, n_offsets, t_max,
                  learning_rates, l2, gamma, times, t_offsets, targets, deltas,
                  v_cross, v_last, v_ref, acc, orders, n_actives, counts, steps, picks):
    """Train one sample online: forward pass, relative targets, update from the output down.

    Output: e_k = (T_k − t_k) / t_max, δ^L = e / ‖e‖, W^L_kj −= η δ_k [t_j < t_k],
    then W^L ·= (1 − ηλ). Hidden layers l = L−1 … 1, with W^{l+1} as just updated:
    δ^l_j = Σ_k δ^{l+1}_k W^{l+1}_kj [t^l_j < t^{l+1}_k], normalised, then the same
    update. ``acc`` and ``steps`` are float scratch of twice the widest layer,
    ``picks`` int64 scratch of the widest layer. ``deltas`` (flat, like ``thetas``)
    receives every layer's δ and ``targets`` the output targets; ``times`` receives
    the forward pass's firing times.
    """
    n_layers = sizes.shape[0] - 1
    _forward_sample(x_times, flat_u, scales, sizes, w_offsets, thetas, n_offsets, t_max,
                    times, t_offsets, v_cross, v_last, v_ref, acc, orders, n_actives, counts, picks)

    n_out = sizes[n_layers]
    out_times = times[t_offsets[n_layers]:t_offsets[n_layers] + n_out]
    _output_targets(out_times, label, gamma, t_max, targets)
    delta_out = deltas[n_offsets[n_layers - 1]:n_offsets[n_layers - 1] + n_out]
    for k in range(n_out):
        delta_out[k] = (targets[k] - out_times[k]) / t_max
    _normalise(delta_out)

    for l in range(n_layers, 0, -1):
        n_in = sizes[l - 1]
        n_here = sizes[l]
        u = flat_u[w_offsets[l - 1]:w_offsets[l - 1] + n_in * n_here].reshape((n_in, n_here))
        in_times = times[t_offsets[l - 1]:t_offsets[l - 1] + n_in]
        here_times = times[t_offsets[l]:t_offsets[l] + n_here]
        delta = deltas[n_offsets[l - 1]:n_offsets[l - 1] + n_here]
        eta = learning_rates[l - 1]

        half = steps.shape[0] // 2
        step = steps[:n_here]
        later = steps[half:half + n_here]
        t_limit = 0
        for j in range(n_here):
            step[j] = eta * delta[j] / scales[l - 1]
            later[j] = here_times[j]
            if step[j] != 0.0 and here_times[j] > t_limit:
                t_limit = here_times[j]
        # Inputs at or after the last useful spike change nothing.
        order = orders[t_offsets[l - 1]:t_offsets[l - 1] + n_in]
        n_active = n_actives[l - 1]
        position = 0
        while position < n_active:
            t = in_times[order[position]]
            if t >= t_limit:
                break
            end = _step_end(in_times, order, position, n_active)
            _subtract_rows(u, order, position, end, step, later, float(t))
            position = end
        scales[l - 1] *= 1.0 - eta * l2[l - 1]

        # δ of the layer below uses W^l as just updated and decayed.
        if l == 1:
            break
        delta_below = deltas[n_offsets[l - 2]:n_offsets[l - 2] + n_in]
        # Only neurons with δ ≠ 0 contribute. Leaving out the others' ±0 terms changes
        # nothing, because a sum that starts at +0 never becomes −0 and adding ±0 keeps it.
        scaled_delta = steps[:n_here]
        n_useful = 0
        for j in range(n_here):
            if delta[j] != 0.0:
                scaled_delta[n_useful] = delta[j] * scales[l - 1]
                picks[n_useful] = j
                n_useful += 1
        for i in range(n_in):
            total = 0.0
            t_i = in_times[i]
            if t_i < t_max:
                for m in range(n_useful):
                    j = picks[m]
                    w = u[i, j]
                    total += scaled_delta[m] * w if t_i < here_times[j] else 0.0
            delta_below[i] = total
        _normalise(delta_below)


@numba.njit(**_JIT)
def _train_chunk(x_times, labels, sample_order, flat_u, scales, sizes, w_offsets, thetas,
                 n_offsets, t_max, learning_rates, l2, gamma, t_offsets, fire_counts,
                 out_times, v_cross, v_last, v_ref):
    """Train on ``sample_order`` in order; row s of the outputs belongs to the s-th trained sample.

    ``fire_counts`` (one per non-input neuron, layout of ``thetas``) is increased
    for every neuron that fired (t < t_max) in a sample's forward pass.
    ``out_times`` gets the output layer's firing times of each forward pass, which
    is what the running training accuracy is computed from. Returns the number of
    samples trained.
    """
    n_layers = sizes.shape[0] - 1
    max_width = 0
    for l in range(sizes.shape[0]):
        max_width = max(max_width, sizes[l])
    total_neurons = t_offsets[n_layers] + sizes[n_layers]
    times = np.empty(total_neurons, np.int16)
    deltas = np.zeros(thetas.shape[0], np.float64)
    targets = np.empty(sizes[n_layers], np.int64)
    acc = np.empty(2 * max_width, np.float64)
    orders = np.empty(total_neurons, np.int64)
    n_actives = np.empty(n_layers + 1, np.int64)
    counts = np.empty(t_max + 1, np.int64)
    steps = np.empty(2 * max_width, np.float64)
    picks = np.empty(max_width, np.int64)
    n_out = sizes[n_layers]
    for s in range(sample_order.shape[0]):
        sample = sample_order[s]
        _train_sample(x_times[sample], labels[sample], flat_u, scales, sizes, w_offsets, thetas,
                      n_offsets, t_max, learning_rates, l2, gamma, times, t_offsets, targets,
                      deltas, v_cross[s], v_last[s], v_ref[s], acc, orders, n_actives, counts, steps,
                      picks)
        _fold_small_scales(flat_u, scales, sizes, w_offsets)
        for k in range(n_out):
            out_times[s, k] = times[t_offsets[n_layers] + k]
        for n in range(thetas.shape[0]):
            if times[sizes[0] + n] < t_max:
                fire_counts[n] += 1
    return sample_order.shape[0]


@numba.njit(**_JIT)
def _fold_small_scales(flat_u, scales, sizes, w_offsets):
    """Multiply a layer's scale into its weights once it drops below 0.5, so U never grows large.

    It depends only on the sequence of updates, not on how training is chunked.
    """
    for l in range(sizes.shape[0] - 1):
        if scales[l] < 0.5:
            size = sizes[l] * sizes[l + 1]
            for n in range(w_offsets[l], w_offsets[l] + size):
                flat_u[n] *= scales[l]
            scales[l] = 1.0


@numba.njit(**_JIT)
def _trace_sample(x_times, flat_u, scales, sizes, w_offsets, thetas, n_offsets, t_max,
                  times, t_offsets, potentials, p_offsets, order, counts):
    """Dense trace of one sample: V_j(k) for every non-input neuron and k = 0 … t_max − 1.

    ``potentials`` is flat; neuron n of the non-input layers (layout of ``thetas``)
    owns ``potentials[n · t_max:(n + 1) · t_max]``. V keeps integrating after the
    crossing (no leak, no reset). Firing times go to ``times`` and equal
    ``_forward_sample``'s, because the sums are formed in the same order.
    """
    n_layers = sizes.shape[0] - 1
    for i in range(sizes[0]):
        times[i] = x_times[i]
    for l in range(1, n_layers + 1):
        n_in = sizes[l - 1]
        n_out = sizes[l]
        u = flat_u[w_offsets[l - 1]:w_offsets[l - 1] + n_in * n_out].reshape((n_in, n_out))
        in_times = times[t_offsets[l - 1]:t_offsets[l - 1] + n_in]
        layer_thetas = thetas[n_offsets[l - 1]:n_offsets[l - 1] + n_out]
        scale = scales[l - 1]
        base = p_offsets[l - 1]
        acc = np.zeros(n_out, np.float64)
        n_active = _sort_by_time(in_times, t_max, order, counts)
        for j in range(n_out):
            times[t_offsets[l] + j] = t_max
        position = 0
        for k in range(t_max):
            while position < n_active and in_times[order[position]] == k:
                row = order[position]
                for j in range(n_out):
                    acc[j] += u[row, j]
                position += 1
            for j in range(n_out):
                v = scale * acc[j]
                potentials[base + j * t_max + k] = v
                if times[t_offsets[l] + j] == t_max and v > layer_thetas[j]:
                    times[t_offsets[l] + j] = min(k + 1, t_max)


@numba.njit(**_JIT)
def _all_finite(values):
    """Return whether no value is NaN or infinite (stops at the first that is)."""
    for n in range(values.shape[0]):
        if not np.isfinite(values[n]):
            return False
    return True
