"""Array helpers of the generator: seeded streams, intervals, report times, noise, rounding.

Everything here works on whole arrays (sorted disjoint intervals, jittered
report times, smooth noise, display rounding, change-only reporting); nothing
knows about homes or devices.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt

from .config import GeneratorConfig

FloatArray = npt.NDArray[np.float64]


IntArray = npt.NDArray[np.int32]


BoolArray = npt.NDArray[np.bool_]


Int64Array = npt.NDArray[np.int64]


def _rng(config: GeneratorConfig, home_index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(home_index, stream)))


def _inside(t: FloatArray, lo: FloatArray, hi: FloatArray) -> BoolArray:
    """Return whether each time lies in one of the sorted disjoint [lo, hi) intervals."""
    if lo.size == 0:
        return np.zeros(t.shape, dtype=np.bool_)
    idx = np.searchsorted(lo, t, side="right") - 1
    result: BoolArray = (idx >= 0) & (t < hi[np.maximum(idx, 0)])
    return result


def _floor_div(x: FloatArray, step: float) -> FloatArray:
    """Return `x // step` for finite x (|x / step| < 2**52), several times faster.

    `//` is the exact floor of the quotient; the rounded quotient's floor is
    it or one more (rounding is monotonic and integers are exact), and one
    more shows as `k * step > x` (k * step is exact).
    """
    k: FloatArray = np.floor(x / step)
    k -= k * step > x
    return k


def _floor_mod(x: FloatArray, step: float) -> FloatArray:
    """Return `x % step` for finite x and a whole-number step (the same, exact, faster).

    x - (x // step) * step is the exact remainder, which `%` (fmod based) returns.
    """
    result: FloatArray = x - _floor_div(x, step) * step
    return result


def _union(lo: FloatArray, hi: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Merge intervals into sorted, disjoint ones (empty ones are dropped)."""
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    if lo.size <= 1:
        return lo.astype(np.float64), hi.astype(np.float64)
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], hi[order]
    reach = np.maximum.accumulate(hi)
    new = np.ones(lo.size, dtype=np.bool_)
    new[1:] = lo[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, lo.size - 1)
    return lo[first], reach[last]


def _intervals(pairs: Sequence[tuple[float, float]]) -> tuple[FloatArray, FloatArray]:
    if not pairs:
        return np.empty(0), np.empty(0)
    arr = np.asarray(pairs, dtype=np.float64)
    return arr[:, 0].copy(), arr[:, 1].copy()


def _report_times(
    rng: np.random.Generator, t0: float, t1: float, interval: float, jitter: float
) -> FloatArray:
    """Return t0 followed by jittered periodic report times in (t0, t1)."""
    span = t1 - t0
    n = int(span / interval * (1.0 + jitter)) + 16
    # Uniform jitter of relative standard deviation `jitter` (cheaper than log-normal).
    spread = interval * jitter * math.sqrt(3.0)
    gaps = rng.uniform(interval - spread, interval + spread, n)
    times = t0 + rng.uniform(0.0, interval) + np.cumsum(gaps)
    while times[-1] < t1:
        more = rng.uniform(interval - spread, interval + spread, n)
        times = np.concatenate([times, times[-1] + np.cumsum(more)])
    times = times[: int(np.searchsorted(times, t1))]
    return np.concatenate([[t0], times])


def _times_between(rng: np.random.Generator, lo: float, hi: float, n: int) -> FloatArray:
    """Return n sorted uniform times in [lo, hi] (none if the span is empty)."""
    if hi <= lo:
        return np.empty(0)
    return np.sort(rng.uniform(lo, hi, n))


def _smooth_noise(
    rng: np.random.Generator, t0: float, t1: float, spacing: float, sigma: float, t: FloatArray
) -> FloatArray:
    """Return slowly varying Gaussian noise (random knots, linearly interpolated)."""
    n = int((t1 - t0) / spacing) + 4
    knots = t0 - spacing + spacing * np.arange(n)
    result: FloatArray = np.interp(t, knots, rng.normal(0.0, sigma, n))
    return result


def _quantize(x: FloatArray, step: float, decimals: int) -> FloatArray:
    """Round to the display precision (a -0.0 becomes 0.0)."""
    result: FloatArray = np.round(np.round(x / step) * step, decimals) + 0.0
    return result


def _change_mask(t: FloatArray, x: FloatArray, threshold: float, heartbeat: float) -> BoolArray:
    """Return which samples a device reports: threshold crossings plus a heartbeat."""
    bucket = np.floor(x / threshold)
    beat = np.floor((t - t[0]) / heartbeat)
    mask = np.empty(t.shape, dtype=np.bool_)
    mask[0] = True
    mask[1:] = (bucket[1:] != bucket[:-1]) | (beat[1:] != beat[:-1])
    return mask


def _merge_sessions(starts: FloatArray, duration: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Merge overlapping (start, start + duration) sessions; return starts and ends."""
    if starts.size == 0:
        return starts, starts.copy()
    ends = starts + duration
    reach = np.maximum.accumulate(ends)
    new = np.ones(starts.size, dtype=np.bool_)
    new[1:] = starts[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, starts.size - 1)
    return starts[first], reach[last]


def _shift_out(t: FloatArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """Move times that fall inside [lo, hi) windows to just after the window."""
    if lo.size == 0 or t.size == 0:
        return t
    idx = np.searchsorted(lo, t, side="right") - 1
    inside = (idx >= 0) & (t < hi[np.maximum(idx, 0)])
    result: FloatArray = np.where(inside, hi[np.maximum(idx, 0)] + 1.0, t)
    return result


def _floats(values: FloatArray) -> list[float]:
    return cast("list[float]", values.tolist())


def _spans(lo: FloatArray, hi: FloatArray) -> list[tuple[float, float]]:
    return list(zip(_floats(lo), _floats(hi), strict=True))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _pick(rng: np.random.Generator, items: Sequence[str], weights: Sequence[float]) -> str:
    p = np.asarray(weights, dtype=np.float64)
    return items[int(rng.choice(len(items), p=p / p.sum()))]
