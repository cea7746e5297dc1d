"""The simple scores the model is compared with, computed from the history as read (never from the truth).

- rules: 1 when the last battery reading is below 20 % or the device was
  unavailable at any moment of the last 24 h, else 0.
- straight-line trend + recent dropout trend:
  battery: a least-squares line through the battery readings of the last 7 days
  (14 if the last 7 have fewer than 3 readings); days to empty = level / fall
  per day (infinite when not falling); score 1 / (1 + days_to_empty / 7), so
  7 days to empty scores 0.5.
  dropouts (a device is out while its main entity is 'unavailable'): compares
  the last 3 days with the 11 days before, longer = ln((1 + mean recent
  outage, min) / (1 + mean earlier outage, min, with a prior of one 10-min
  outage)), more = ln((1 + recent
  outages a day) / (1 + earlier outages a day)); score sigmoid(longer + more)
  (0.5: no change), 0 without any outage in the last 3 days.
  A battery device scores the higher of the two; a device without a battery the dropout score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.records import UNAVAILABLE, EntityRole, HomeHistory

from .battery import Floats

DAY = 86400.0
MINUTE = 60.0
PRIOR_MINUTES = 10.0


@dataclass(slots=True)
class DeviceSignals:
    """What the baselines read of one device: battery readings and unavailable spells."""

    battery_time: Floats
    battery_level: Floats
    spells: list[tuple[float, float]]  # (start, end); end inf while still unavailable at the history's end


def _spells(time: Floats, code: npt.NDArray[np.int32]) -> list[tuple[float, float]]:
    """Unavailable spells of one entity's rows."""
    out: list[tuple[float, float]] = []
    start: float | None = None
    codes = [int(c) for c in code]
    times = [float(t) for t in time]
    for t, c in zip(times, codes, strict=True):
        if c == UNAVAILABLE and start is None:
            start = t
        elif c != UNAVAILABLE and start is not None:
            out.append((start, t))
            start = None
    if start is not None:
        out.append((start, math.inf))
    return out


def device_signals(history: HomeHistory) -> dict[str, DeviceSignals]:
    """Per device key: its battery readings and its main entity's unavailable spells."""
    out: dict[str, DeviceSignals] = {}
    for device in history.devices:
        entities = history.entities_of(device.device_key)
        battery = next((e for e in entities if e.role is EntityRole.BATTERY), None)
        main = next((e for e in entities if e.role is EntityRole.PRIMARY), None) or (
            entities[0] if entities else None
        )
        b_time, b_level = np.empty(0), np.empty(0)
        if battery is not None and (series := history.states.get(battery.series_key)) is not None:
            ok = np.isfinite(series.value)
            b_time, b_level = series.time[ok], series.value[ok]
        spells: list[tuple[float, float]] = []
        if main is not None and (series := history.states.get(main.series_key)) is not None:
            spells = _spells(series.time, series.code)
        out[device.device_key] = DeviceSignals(b_time, b_level, spells)
    return out


def battery_level(signals: DeviceSignals, now: float) -> float | None:
    """The last battery reading at or before `now`."""
    i = int(np.searchsorted(signals.battery_time, now, side="right"))
    return float(signals.battery_level[i - 1]) if i else None


def rules_score(signals: DeviceSignals, now: float) -> float:
    """1 if the battery is below 20 % or the device was unavailable in the last 24 h, else 0."""
    level = battery_level(signals, now)
    if level is not None and level < 20.0:
        return 1.0
    return float(any(s <= now and e > now - DAY for s, e in signals.spells))


def days_to_empty(signals: DeviceSignals, now: float) -> float:
    """Days until a straight line through the recent battery readings reaches 0 % (inf: not falling)."""
    for window in (7.0, 14.0):
        keep = (signals.battery_time <= now) & (signals.battery_time > now - window * DAY)
        if keep.sum() >= 3:
            break
    if keep.sum() < 2 or np.ptp(signals.battery_time[keep]) <= 0:
        return math.inf
    x = (signals.battery_time[keep] - now) / DAY
    slope, intercept = np.polyfit(x, signals.battery_level[keep], 1)
    if slope >= 0:
        return math.inf
    return max(0.0, float(intercept)) / float(-slope)


def battery_trend_score(signals: DeviceSignals, now: float) -> float:
    """1 / (1 + days to empty / 7)."""
    return 1.0 / (1.0 + days_to_empty(signals, now) / 7.0)


def dropout_trend_score(signals: DeviceSignals, now: float) -> float:
    """How much longer or more frequent the outages of the last 3 days are than in the 11 days before."""
    recent = [min(e, now) - s for s, e in signals.spells if now - 3 * DAY < s <= now]
    if not recent:
        return 0.0
    earlier = [min(e, now) - s for s, e in signals.spells if now - 14 * DAY < s <= now - 3 * DAY]
    # A prior of one 10-minute outage: a first blip after a quiet fortnight is not "infinitely longer".
    typical = (sum(earlier) / MINUTE + PRIOR_MINUTES) / (len(earlier) + 1)
    longer = math.log((1.0 + float(np.mean(recent)) / MINUTE) / (1.0 + typical))
    more = math.log((1.0 + len(recent) / 3.0) / (1.0 + len(earlier) / 11.0))
    return 1.0 / (1.0 + math.exp(-(longer + more)))


def trend_score(signals: DeviceSignals, now: float) -> float:
    """The straight-line + dropout-trend heuristic of one device at `now`.

    A device without battery readings has a battery score of 0.
    """
    return max(dropout_trend_score(signals, now), battery_trend_score(signals, now))
