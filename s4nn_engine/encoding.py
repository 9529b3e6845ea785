"""Intensity-to-latency encoding of input images."""

from __future__ import annotations

import numpy as np

from s4nn_engine.config import MAX_T_MAX


def encode(images: np.ndarray, t_max: int) -> np.ndarray:
    """Turn images into input spike times, one row of int16 times per image.

    8-bit pixels p spike at ``floor((255 − p) · t_max / 255)`` in integer
    arithmetic, so white spikes at 0 and black at t_max (never). Float pixels
    x ∈ [0, 1] spike at ``floor((1 − x) · t_max)``, clipped to [0, t_max]. The
    two formulas can differ by one step, so 8-bit data is never converted to
    float first.

    Parameters
    ----------
    images
        uint8 or floating array of shape (n, ...) or a single image; every axis
        after the first is flattened.
    t_max
        Number of time steps, 2 … 32767.

    Returns
    -------
    int16 array of shape (n, pixels), C-contiguous.
    """
    if isinstance(t_max, bool) or not isinstance(t_max, (int, np.integer)) or not 2 <= t_max <= MAX_T_MAX:
        raise ValueError(f"t_max = {t_max!r} is out of range; valid: 2 … {MAX_T_MAX}")
    images = np.asarray(images)
    if images.ndim < 1:
        raise ValueError("images must have at least one axis (the pixels)")
    if images.ndim == 1:
        images = images[None, :]
    flat = images.reshape(images.shape[0], -1)

    if flat.dtype == np.uint8:
        times = (255 - flat.astype(np.int64)) * int(t_max) // 255
    elif np.issubdtype(flat.dtype, np.floating):
        if not np.all(np.isfinite(flat)):
            raise ValueError("float images contain NaN or infinite pixels; give values in [0, 1]")
        times = np.floor((1.0 - flat.astype(np.float64)) * t_max)
        times = np.clip(times, 0, t_max)
    else:
        raise ValueError(
            f"images have dtype {flat.dtype}; give uint8 pixels (0 … 255) or floats in [0, 1]"
        )
    return np.ascontiguousarray(times, dtype=np.int16)
