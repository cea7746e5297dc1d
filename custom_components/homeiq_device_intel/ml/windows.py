"""Window arithmetic over (devices, hours) arrays: prefix sums, trailing windows, runs and slopes.

Hour h of a row covers [h, h + 1); an evaluation hour e sees hours < e. The
features and the labels read a device's rhythm through these.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .grid import F32

DAY = 24  # hours
USUAL_WINDOW_HOURS = 14 * DAY  # a device's own rhythm is judged on two weeks
UNUSUAL_FACTOR = 2.0  # silent twice as long as its longest silence of two weeks
UNUSUAL_MIN_HOURS = 24.0
# Slopes and means are given to this many decimals (units a day, units). Their
# least-squares sums leave rounding (about 1e-12 near 0, 1e-10 relative elsewhere)
# that depends on where the window sits and on how it is summed; a flat stretch's
# slope then had either sign, and trees split on it. Real differences are far
# larger (a 1 % fall in 30 days is a slope of 0.03).
DECIMALS = 7


def prefix_sums(a: npt.NDArray[np.float64] | npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Cumulative sum along hours with a leading zero column: (n, H+1)."""
    out = np.zeros((a.shape[0], a.shape[1] + 1))
    np.cumsum(a, axis=1, out=out[:, 1:])
    return out


def to_decimals(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """`values` (slopes, means) to DECIMALS decimals: the sums' rounding of either sign around 0 is 0."""
    return np.round(values, DECIMALS) + 0.0  # + 0.0: -0.0 becomes 0.0


def window_sums(
    prefix: npt.NDArray[np.float64], ends: npt.NDArray[np.int64], hours: int
) -> npt.NDArray[np.float64]:
    """Sum over [end - hours, end) for every device and end: (n, m)."""
    return prefix[:, ends] - prefix[:, np.maximum(ends - hours, 0)]


FEW_ENDS = 8  # up to this many evaluation hours, Counts sums window by window


class Counts:
    """Sums of a (n, H) array of whole numbers (counts, flags) over windows of hours.

    Whole numbers sum exactly in float64 in any order, so the sums are the same
    whether read from prefix sums (many evaluation hours: training) or added up
    window by window (a few: the hourly scoring, which then makes no pass over
    every hour of the window).
    """

    def __init__(self, values: npt.NDArray[np.generic]) -> None:
        """`values`: whole numbers only (bool, integers, or floats holding whole numbers)."""
        self.values = values
        self._prefix: npt.NDArray[np.float64] | None = None

    @property
    def prefix(self) -> npt.NDArray[np.float64]:
        """The prefix sums (n, H+1), computed once when first asked for."""
        if self._prefix is None:
            self._prefix = prefix_sums(self.values.astype(np.float64, copy=False))
        return self._prefix

    def window(self, ends: npt.NDArray[np.int64], hours: int) -> npt.NDArray[np.float64]:
        """Sum over [end - hours, end) for every device and end: (n, m), as `window_sums`."""
        return self.between(np.maximum(ends - hours, 0), ends)

    def between(self, lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Sum over [lo, hi) per device and end: lo (m,) or (n, m), hi (m,); lo <= hi."""
        n, m = self.values.shape[0], hi.shape[0]
        lo = np.broadcast_to(lo, (n, m))
        if m > FEW_ENDS:
            prefix = self.prefix
            out: npt.NDArray[np.float64] = prefix[:, hi] - np.take_along_axis(prefix, lo, axis=1)
            return out
        out = np.empty((n, m))
        for j, end in enumerate(int(h) for h in hi):
            starts = lo[:, j]
            first = int(starts.min()) if n else end
            part = self.values[:, first:end]
            if (starts == first).all():
                out[:, j] = part.sum(axis=1)
            else:
                kept = np.arange(first, end)[None, :] >= starts[:, None]
                out[:, j] = np.where(kept, part, 0).sum(axis=1)
        return out


def latest_true(mask: npt.NDArray[np.bool_], last: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Per device, the latest hour <= each of `last` (m,) where mask holds, or -1: (n, m).

    As `last_true(mask)[:, last]`; for a few hours (the hourly scoring) found from the
    end of each window back, without a pass over every hour.
    """
    if last.shape[0] > FEW_ENDS:
        return last_true(mask)[:, last]
    out = np.empty((mask.shape[0], last.shape[0]), dtype=np.int64)
    for j, hour in enumerate(int(h) for h in last):  # each >= 0 (evaluation hours are >= 1)
        seen = mask[:, : hour + 1]
        out[:, j] = np.where(seen.any(axis=1), hour - np.argmax(seen[:, ::-1], axis=1), -1)
    return out


def last_true(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Per hour, the latest hour <= it where mask holds, or -1: (n, H)."""
    # (h + 1) * mask - 1: h where mask holds, else -1 (np.where's numbers, faster)
    idx = np.arange(1, mask.shape[1] + 1)[None, :] * mask - 1
    return np.maximum.accumulate(idx, axis=1)


def runs(mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Start hours and lengths of the True runs of a 1-D mask."""
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return edges[0::2].astype(np.int64), (edges[1::2] - edges[0::2]).astype(np.int64)


def run_lengths(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Per hour, how many hours the current True run has lasted (0 where False): (n, H)."""
    hours = np.arange(mask.shape[1])[None, :]
    # (whole numbers) * mask: 0 where mask is False, as np.where(mask, ..., 0)
    out: npt.NDArray[np.float64] = ((hours - last_true(~mask)) * mask).astype(np.float64)
    return out


def completed_runs(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Length of each finished True run, placed at the hour it ended (else 0): (n, H)."""
    run = run_lengths(mask)
    out = np.zeros_like(run)
    ended = mask[:, :-1] & ~mask[:, 1:]
    out[:, 1:][ended] = run[:, :-1][ended]
    return out


def joined_runs(
    counted: npt.NDArray[np.bool_], neutral: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Runs of a 1-D mask's hours joined across `neutral` hours: start hours, lengths, counted hours.

    A neutral hour neither ends nor breaks a run, nor counts in its length (`counted` hours do);
    a run of neutral hours only counts 0 hours.
    """
    start, length = runs(counted | neutral)
    prefix = np.concatenate(([0], np.cumsum(counted, dtype=np.int64)))
    return start, length, prefix[start + length] - prefix[start]


def completed_joined_runs(
    counted: npt.NDArray[np.bool_], neutral: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """As `completed_runs`, for runs joined across `neutral` hours (`joined_runs`): counted hours, (n, H)."""
    if not neutral.any():
        return completed_runs(counted)
    joined = counted | neutral
    prefix = prefix_sums(counted)
    # Per hour of a run, the counted hours from the run's first hour through this one.
    first = last_true(~joined) + 1
    so_far = prefix[:, 1:] - np.take_along_axis(prefix, first, axis=1)
    out = np.zeros(joined.shape)
    ended = joined[:, :-1] & ~joined[:, 1:]
    out[:, 1:][ended] = so_far[:, :-1][ended]
    return out


def usual_longest(completed: npt.NDArray[np.float64], ends: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Longest run that finished in the 14 days before each end: (n, m)."""
    out = np.zeros((completed.shape[0], ends.shape[0]))
    for j, end in enumerate(ends):
        lo = max(int(end) - USUAL_WINDOW_HOURS, 0)
        if end > lo:
            out[:, j] = completed[:, lo:end].max(axis=1)
    return out


def unusual_limit(usual: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Hours a silence or stillness must last to be unusual for this device."""
    out: npt.NDArray[np.float64] = np.maximum(UNUSUAL_MIN_HOURS, UNUSUAL_FACTOR * usual)
    return out


class TrailingSlopes:
    """NaN-aware least-squares slopes of a channel over trailing windows.

    Devices without a single value (no such entity) get NaN slopes and means,
    what their sums of zeros give; only the others' sums are computed. For many
    evaluation hours (training) the sums come from prefix sums over every hour;
    for a few (the hourly scoring) each window is summed alone. The two differ
    by rounding only, which `to_decimals` takes off.
    """

    def __init__(self, values: F32) -> None:
        """Keep the rows of the devices with a value; sums are made when first asked for."""
        y = values.astype(np.float64)
        ok = np.isfinite(y)
        self.rows: npt.NDArray[np.bool_] = ok.sum(axis=1) > 0
        self.every = bool(self.rows.all())
        if not self.every:
            y, ok = y[self.rows], ok[self.rows]
        self.ok = ok
        self.y0 = np.where(ok, y, 0.0)
        self._prefix: tuple[npt.NDArray[np.float64], ...] | None = None

    def _sums(self, ends: npt.NDArray[np.int64], hours: int) -> tuple[npt.NDArray[np.float64], ...]:
        """Window sums of (count, x, y, xy, xx) over [end - hours, end): (n, m) each; x in days."""
        if ends.shape[0] > FEW_ENDS:
            if self._prefix is None:
                x = np.broadcast_to(np.arange(self.ok.shape[1], dtype=np.float64) / DAY, self.ok.shape)
                x0 = np.where(self.ok, x, 0.0)
                self._prefix = tuple(
                    prefix_sums(a) for a in (self.ok.astype(np.float64), x0, self.y0, x0 * self.y0, x0 * x0)
                )
            return tuple(window_sums(p, ends, hours) for p in self._prefix)
        sums = np.empty((5, self.ok.shape[0], ends.shape[0]))
        for j, end in enumerate(int(e) for e in ends):
            first = max(end - hours, 0)
            ok, y0 = self.ok[:, first:end], self.y0[:, first:end]
            x0 = np.where(ok, np.arange(first, end, dtype=np.float64) / DAY, 0.0)
            for k, a in enumerate((ok, x0, y0, x0 * y0, x0 * x0)):
                sums[k, :, j] = a.sum(axis=1)
        return tuple(sums)

    def slope(self, ends: npt.NDArray[np.int64], hours: int) -> npt.NDArray[np.float64]:
        """Slope in units per day over [end - hours, end): (n, m)."""
        n, sx, sy, sxy, sxx = self._sums(ends, hours)
        den = n * sxx - sx * sx
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (n * sxy - sx * sy) / den
        out[(n < max(hours // 4, 3)) | (den <= 1e-9)] = np.nan
        return self._all_devices(to_decimals(out))

    def mean(self, ends: npt.NDArray[np.int64], hours: int) -> npt.NDArray[np.float64]:
        """Mean over [end - hours, end): (n, m)."""
        n, _, sy, _, _ = self._sums(ends, hours)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(n > 0, sy / n, np.nan)
        return self._all_devices(to_decimals(out))

    def _all_devices(self, out: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Rows of every device: NaN for those without a value."""
        if self.every:
            return out
        full = np.full((self.rows.shape[0], out.shape[1]), np.nan)
        full[self.rows] = out
        return full
