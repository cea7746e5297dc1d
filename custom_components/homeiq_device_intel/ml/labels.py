"""Failure events and labels, read off the same hourly grid as the features.

Labels come from the observed history itself (never from generator ground
truth), so a real home's recorder and a synthetic home are labelled alike:
features at hour e, label = a failure of that type *starts* in [e, e + horizon).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .features import (
    BATTERY_FLOOR,
    DAY,
    UNUSUAL_MIN_HOURS,
    USUAL_WINDOW_HOURS,
    FeatureFrame,
    completed_runs,
    unusual_limit,
    usual_longest,
)
from .grid import HourlyGrid
from .records import FailureType

UNAVAILABLE_MIN_HOURS = 6  # an outage this long is a failure the user must fix
DEAD_BATTERY_LEVEL = 25.0  # unavailable for a day with a battery this low = dead battery
DEAD_BATTERY_HOURS = 24
STUCK_MIN_DAILY_CHANGES = 12.0  # only sensors that normally change often can be stuck
TARGETS: tuple[str, ...] = tuple(t.value for t in FailureType)

IntArray = npt.NDArray[np.int64]


@dataclass(slots=True, kw_only=True)
class FailureEvents:
    """Start hours of each failure type, per device of a grid."""

    starts: dict[str, list[IntArray]]  # target -> per device sorted start hours


@dataclass(slots=True, kw_only=True)
class Labels:
    """Per feature row: target values (1/0, NaN = not eligible) and days to empty."""

    y: dict[str, npt.NDArray[np.float64]]
    battery_days: npt.NDArray[np.float64]  # NaN where no depletion was observed
    next_event_hour: dict[str, npt.NDArray[np.float64]]  # NaN where none follows


def _runs(mask: npt.NDArray[np.bool_]) -> tuple[IntArray, IntArray]:
    """Start hours and lengths of the True runs of a 1-D mask."""
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return edges[0::2].astype(np.int64), (edges[1::2] - edges[0::2]).astype(np.int64)


def _unusual_runs(
    mask: npt.NDArray[np.bool_],
    completed: npt.NDArray[np.float64],
    first_seen: int,
    *,
    need_rate: bool | np.bool_ = True,
) -> IntArray:
    """Starts of runs longer than twice the device's longest run of the prior two weeks.

    Only runs that begin once the device has two weeks of baseline count.
    """
    if not need_rate:
        return np.empty(0, dtype=np.int64)
    run_start, run_len = _runs(mask)
    ok = (run_len >= UNUSUAL_MIN_HOURS) & (run_start >= first_seen + USUAL_WINDOW_HOURS)
    run_start, run_len = run_start[ok], run_len[ok]
    if run_start.size == 0:
        return run_start
    usual = usual_longest(completed[None, :], run_start)[0]
    return run_start[run_len >= unusual_limit(usual)]


def find_events(grid: HourlyGrid) -> FailureEvents:
    """Detect the start hour of every failure of each type, per device."""
    starts: dict[str, list[IntArray]] = {t: [] for t in TARGETS}
    unav_all = grid["unavailable"] > 0.5
    silent_all = (grid["reports"] == 0) & ~unav_all
    still_all = (grid["changes"] == 0) & ~unav_all
    silent_done = completed_runs(silent_all)
    still_done = completed_runs(still_all)
    changes = grid["changes"].astype(np.float64)
    change_rate_ok = (
        changes.sum(axis=1) / np.maximum(grid.n_hours / DAY, 1.0) >= STUCK_MIN_DAILY_CHANGES
    ) & np.asarray(grid.numeric_primary, dtype=bool)
    telemetry = np.asarray(grid.telemetry, dtype=bool)
    for i in range(len(grid.device_keys)):
        down = unav_all[i]
        bridge = grid.bridge_down[i] > 0.5
        run_start, run_len = _runs(down)
        own = np.array(
            [bridge[s : s + length].mean() < 0.5 for s, length in zip(run_start, run_len, strict=True)],
            dtype=bool,
        )
        long_outage = run_start[(run_len >= UNAVAILABLE_MIN_HOURS) & own]
        starts[FailureType.UNAVAILABLE].append(long_outage)

        battery_events: IntArray = np.empty(0, dtype=np.int64)
        if grid.has_battery[i]:
            level = grid["battery"][i].astype(np.float64)
            empty = level <= BATTERY_FLOOR
            before = np.concatenate(([False], empty[:-1]))
            crossing = np.flatnonzero(empty & ~before)
            dead = run_start[(run_len >= DEAD_BATTERY_HOURS) & own]
            prior = level[np.maximum(dead - 1, 0)]
            dead = dead[(dead > 0) & (prior <= DEAD_BATTERY_LEVEL)]
            battery_events = np.union1d(crossing, dead).astype(np.int64)
            # One depletion per discharge: drop starts within a day of the previous.
            if battery_events.size > 1:
                keep = np.concatenate(([True], np.diff(battery_events) > DAY))
                battery_events = battery_events[keep]
        starts[FailureType.BATTERY_DEPLETED].append(battery_events)

        first = int(grid.first_seen[i])
        starts[FailureType.STALE].append(
            np.union1d(
                _unusual_runs(silent_all[i], silent_done[i], first, need_rate=telemetry[i]),
                _unusual_runs(still_all[i], still_done[i], first, need_rate=change_rate_ok[i]),
            ).astype(np.int64)
        )
    return FailureEvents(starts=starts)


def build_labels(
    grid: HourlyGrid,
    frame: FeatureFrame,
    events: FailureEvents,
    *,
    horizon_days: float = 7.0,
) -> Labels:
    """Label each feature row: 1 when a failure starts within the horizon.

    A row is not eligible (NaN) for a target when the failure is already under
    way at the row's hour, the device is too new, or the horizon runs past the
    end of the data with no event seen (censored).
    """
    horizon = round(horizon_days * DAY)
    n_rows = frame.X.shape[0]
    e = frame.eval_hour
    dev = frame.device_index
    y: dict[str, npt.NDArray[np.float64]] = {}
    nxt: dict[str, npt.NDArray[np.float64]] = {}
    for target in TARGETS:
        next_hour = np.full(n_rows, np.nan)
        for i, starts in enumerate(events.starts[target]):
            rows = np.flatnonzero(dev == i)
            if starts.size == 0 or rows.size == 0:
                continue
            k = np.searchsorted(starts, e[rows], side="left")
            has = k < starts.size
            next_hour[rows[has]] = starts[k[has]]
        nxt[target] = next_hour
        positive = (next_hour - e) < horizon
        label = np.where(positive, 1.0, 0.0)
        censored = ~positive & (e + horizon > grid.n_hours)
        label[censored] = np.nan
        y[target] = label

    col = frame.column
    young = col("age_days") < 1.0
    down_now = col("hours_unavailable_now") > 0
    bridge_now = col("bridge_down_24h") > 0.5
    battery_ok = (frame.X[:, 0] > BATTERY_FLOOR) & (col("has_battery") > 0)
    y[FailureType.BATTERY_DEPLETED][
        ~battery_ok | young | (col("hours_unavailable_now") >= DEAD_BATTERY_HOURS)
    ] = np.nan
    y[FailureType.UNAVAILABLE][young | down_now | bridge_now] = np.nan
    # Already silent or still for unusually long: failing now, not a prediction.
    stale_now = (col("silence_vs_usual") >= 1.0) | (col("stillness_vs_usual") >= 1.0)
    no_telemetry = col("has_telemetry") < 0.5
    y[FailureType.STALE][young | down_now | stale_now | no_telemetry] = np.nan

    battery_days = (nxt[FailureType.BATTERY_DEPLETED] - e) / DAY
    battery_days[~battery_ok] = np.nan
    return Labels(y=y, battery_days=battery_days, next_event_hour=nxt)
