"""A device's radio link (RSSI/LQI) against its own history: level, usual level, trend.

Link quality is the 0..1 scale of the features (``normalise_signal``) shown as
0..100; changes are in points of that scale. A device's usual level is its mean
over days 7 to 30 before now, so a link that weakens over the last week is
compared with what it was before, not with itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from .features import normalise_signal, signal_features
from .grid import HourlyGrid
from .windows import DAY

USUAL_FROM_DAYS: Final = 30
USUAL_TO_DAYS: Final = 7
# Hours of readings the usual level needs: a device known for two weeks has seven days of it.
USUAL_MIN_HOURS: Final = 7 * DAY
# This many points below (above) its usual level, the link is weakening (improving).
TREND_POINTS: Final = 10.0


class LinkTrend(StrEnum):
    """How a link compares with its own usual level."""

    WEAKENING = "weakening"
    STABLE = "stable"
    IMPROVING = "improving"
    LEARNING = "learning"  # not enough history of its own yet


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkQuality:
    """One device's link now and against its own history (levels 0..100, changes in points)."""

    level: float  # the latest reading
    recent: float  # mean of the last day
    usual: float | None  # mean of days 7..30 before now
    change_vs_usual: float | None  # recent - usual
    change_vs_last_week: float | None  # last day versus the 7 days before (signal_delta_7d)
    trend_per_day: float | None  # least-squares slope over 7 days (signal_slope_7d)
    trend: LinkTrend


def _window_mean(
    values: npt.NDArray[np.float64], lo: int, hi: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """NaN-ignoring mean over hours [lo, hi) per device, and how many hours had a reading: (n,) each."""
    part = values[:, max(lo, 0) : max(hi, 0)]
    ok = np.isfinite(part)
    count = ok.sum(axis=1)
    total = np.where(ok, part, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return mean, count


def _points(value: float) -> float | None:
    """A 0..1 value (or difference) in points of 0..100, None when unknown."""
    return float(100.0 * value) if np.isfinite(value) else None


def _trend(change_vs_usual: float | None) -> LinkTrend:
    """Weakening or improving once the recent day is TREND_POINTS from the usual level."""
    if change_vs_usual is None:
        return LinkTrend.LEARNING
    if change_vs_usual <= -TREND_POINTS:
        return LinkTrend.WEAKENING
    if change_vs_usual >= TREND_POINTS:
        return LinkTrend.IMPROVING
    return LinkTrend.STABLE


def link_quality(grid: HourlyGrid) -> dict[str, LinkQuality]:
    """The link of every device of the grid that has a signal reading, at the grid's end."""
    n_hours = grid.n_hours
    level = normalise_signal(grid["signal"]).astype(np.float64)
    recent, _ = _window_mean(level, n_hours - DAY, n_hours)
    usual, usual_hours = _window_mean(level, n_hours - USUAL_FROM_DAYS * DAY, n_hours - USUAL_TO_DAYS * DAY)
    usual = np.where(usual_hours >= USUAL_MIN_HOURS, usual, np.nan)
    trends = signal_features(grid, np.array([n_hours], dtype=np.int64))
    out: dict[str, LinkQuality] = {}
    for row, device_key in enumerate(grid.device_keys):
        latest, mean_day = level[row, -1], recent[row]
        if not (np.isfinite(latest) and np.isfinite(mean_day)):
            continue
        change = _points(mean_day - usual[row])
        out[device_key] = LinkQuality(
            level=float(100.0 * latest),
            recent=float(100.0 * mean_day),
            usual=_points(usual[row]),
            change_vs_usual=change,
            change_vs_last_week=_points(trends["signal_delta_7d"][row, 0]),
            trend_per_day=_points(trends["signal_slope_7d"][row, 0]),
            trend=_trend(change),
        )
    return out
