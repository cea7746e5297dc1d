"""The battery log: each device's finished batteries, kept beyond the grid's KEEP_DAYS.

A coin cell lasts longer than the 120 days of hourly grid the integration
keeps, so its earlier batteries soon drop out of the grid. Each nightly run
adds the batteries that ended in the grid to a small per-device log (start,
end, life, levels at start and end, how it ended, what marked its swap, and
the days it took to fall to each of the levels in LEVEL_MARKS), kept as JSON.
Battery life then counts the logged batteries the grid no longer holds (those
that started before the grid's first known swap of the device) beside those it
finds in the grid, never one twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .battery_life import LEVEL_MARKS, Ending, PastBattery, days_to_marks, past_batteries
from .files import parse_json, replace_atomically
from .grid import HOUR, HourlyGrid
from .labels import dark_silence_hours

LOG_VERSION = 1
LOG_FORMAT = "homeiq_battery_log"
MAX_PER_DEVICE = 24  # the newest batteries kept per device (battery life uses the last six)
SAME_SWAP_HOURS = 36  # two batteries starting this close are the same battery
KNOWN_SWAP_HOURS = 2  # a Battery Notes event this close to a battery's start marked its swap


class SwapSource(StrEnum):
    """What marked the swap a logged battery started with."""

    BATTERY_NOTES = "battery_notes"  # Battery Notes' battery_replaced event
    LEVEL_JUMP = "level_jump"  # a jump of the reported level


class BatteryLogError(Exception):
    """The stored battery log is unreadable, foreign or of another version."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedBattery:
    """One finished battery of a device, in Unix seconds."""

    start: float  # its swap
    end: float  # when it ran out, died or was replaced
    life_days: float  # from its swap to empty (extrapolated when it was swapped above the low level)
    start_level: float | None  # first reading after the swap
    end_level: float | None  # last reading before its end
    ending: Ending
    source: SwapSource
    level_days: tuple[float | None, ...]  # days to fall to each LEVEL_MARKS, None: never


type BatteryLog = dict[str, tuple[LoggedBattery, ...]]


def _finite_or_none(value: float) -> float | None:
    """A float for JSON, rounded as stored: None for NaN."""
    return round(float(value), 4) if math.isfinite(value) else None


def logged_batteries(
    grid: HourlyGrid, row: int, known_swaps: npt.NDArray[np.float64] | None = None
) -> list[LoggedBattery]:
    """The finished batteries of device `row` in the grid; `known_swaps`: its Battery Notes swaps (Unix s)."""
    level = grid["battery"][row].astype(np.float64)
    unavailable = grid["unavailable"][row].astype(np.float64)
    bridge = grid.bridge_down[row].astype(np.float64)
    swaps = np.asarray(grid.swap_hours[row], dtype=np.int64)
    silent = dark_silence_hours(grid, row) if swaps.size else None  # a death needs a swap after it
    found, _ = past_batteries(level, unavailable, bridge, swaps, grid.n_hours, silent)
    known = np.empty(0) if known_swaps is None else np.asarray(known_swaps, dtype=np.float64)
    out = []
    for battery in found:
        start = grid.start + battery.start_hour * HOUR
        after = level[battery.start_hour : battery.end_hour + 1]
        seen = after[np.isfinite(after)]
        by_notes = known.size > 0 and bool(np.min(np.abs(known - start)) <= KNOWN_SWAP_HOURS * HOUR)
        out.append(
            LoggedBattery(
                start=start,
                end=grid.start + battery.end_hour * HOUR,
                life_days=round(battery.life_days, 4),
                start_level=float(seen[0]) if seen.size else None,
                end_level=_finite_or_none(battery.last_level),
                ending=battery.ending,
                source=SwapSource.BATTERY_NOTES if by_notes else SwapSource.LEVEL_JUMP,
                level_days=tuple(
                    _finite_or_none(d) for d in days_to_marks(level, battery.start_hour, battery.end_hour)
                ),
            )
        )
    return out


def updated_log(
    log: BatteryLog, grid: HourlyGrid, known_swaps: Mapping[str, npt.NDArray[np.float64]] | None = None
) -> BatteryLog:
    """The log with the batteries that ended in the grid added (or updated: the grid saw them last).

    Devices the grid does not hold keep their entries; each device keeps its
    MAX_PER_DEVICE newest batteries.
    """
    out = dict(log)
    known_swaps = known_swaps or {}
    for row, key in enumerate(grid.device_keys):
        if not grid.has_battery[row]:
            continue
        fresh = logged_batteries(grid, row, known_swaps.get(key))
        if not fresh:
            continue
        kept = [
            old
            for old in out.get(key, ())
            if all(abs(old.start - new.start) > SAME_SWAP_HOURS * HOUR for new in fresh)
        ]
        merged = sorted([*kept, *fresh], key=lambda b: b.start)
        out[key] = tuple(merged[-MAX_PER_DEVICE:])
    return out


def earlier_batteries(grid: HourlyGrid, row: int, logged: Sequence[LoggedBattery]) -> list[PastBattery]:
    """The logged batteries of device `row` that its grid no longer holds, in the grid's hours.

    Those are the ones that started before the device's first known swap in
    the grid (with SAME_SWAP_HOURS of slack): the grid finds every later one.
    """
    swaps = grid.swap_hours[row]
    first = grid.start + (float(swaps[0]) if swaps.size else float(grid.n_hours)) * HOUR
    return started_before(logged, first, origin=grid.start)


def started_before(logged: Sequence[LoggedBattery], first_swap: float, *, origin: float) -> list[PastBattery]:
    """The logged batteries that started before `first_swap` (Unix s), in hours after `origin`."""
    out = []
    for battery in sorted(logged, key=lambda b: b.start):
        if battery.start >= first_swap - SAME_SWAP_HOURS * HOUR:
            continue
        out.append(
            PastBattery(
                start_hour=round((battery.start - origin) / HOUR),
                end_hour=round((battery.end - origin) / HOUR),
                life_days=battery.life_days,
                ending=battery.ending,
                last_level=float("nan") if battery.end_level is None else battery.end_level,
                level_days=tuple(float("nan") if d is None else d for d in battery.level_days),
            )
        )
    return out


def log_as_json(log: BatteryLog, home_id: str) -> dict[str, Any]:
    """The log as the JSON document that is stored."""
    return {
        "format": LOG_FORMAT,
        "version": LOG_VERSION,
        "home_id": home_id,
        "devices": {
            key: [
                {
                    "start": b.start,
                    "end": b.end,
                    "life_days": b.life_days,
                    "start_level": b.start_level,
                    "end_level": b.end_level,
                    "ending": b.ending.value,
                    "source": b.source.value,
                    "level_days": list(b.level_days),
                }
                for b in batteries
            ]
            for key, batteries in log.items()
        },
    }


def _number(value: object, name: str, *, optional: bool = False) -> float | None:
    """A finite number from the document, or None where allowed; BatteryLogError otherwise."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BatteryLogError(f"{name} is {value!r}, not a number")
    return float(value)


def _battery(entry: object) -> LoggedBattery:
    """One logged battery from the document; BatteryLogError unless it is as `log_as_json` writes it."""
    if not isinstance(entry, Mapping):
        raise BatteryLogError(f"a battery is a {type(entry).__name__}, not a mapping")
    marks = entry.get("level_days")
    if not isinstance(marks, list) or len(marks) != len(LEVEL_MARKS):
        raise BatteryLogError(f"level_days is {marks!r}, not {len(LEVEL_MARKS)} values")
    try:
        ending, source = Ending(str(entry.get("ending"))), SwapSource(str(entry.get("source")))
    except ValueError as err:
        raise BatteryLogError(str(err)) from None
    start, end = _number(entry.get("start"), "start"), _number(entry.get("end"), "end")
    life = _number(entry.get("life_days"), "life_days")
    assert start is not None and end is not None and life is not None
    if end < start or life <= 0:
        raise BatteryLogError(f"a battery from {start} to {end} lasting {life} days")
    return LoggedBattery(
        start=start,
        end=end,
        life_days=life,
        start_level=_number(entry.get("start_level"), "start_level", optional=True),
        end_level=_number(entry.get("end_level"), "end_level", optional=True),
        ending=ending,
        source=source,
        level_days=tuple(_number(d, "level_days", optional=True) for d in marks),
    )


def log_from_json(data: object, *, home_id: str | None = None) -> BatteryLog:
    """The log from a stored document; BatteryLogError unless all of it is a log of ours (and this home's)."""
    if not isinstance(data, Mapping) or data.get("format") != LOG_FORMAT:
        raise BatteryLogError("not a battery log")
    if data.get("version") != LOG_VERSION:
        raise BatteryLogError(f"battery log version {data.get('version')!r}, expected {LOG_VERSION}")
    if home_id is not None and data.get("home_id") != home_id:
        raise BatteryLogError(f"battery log of another home ({data.get('home_id')!r})")
    devices = data.get("devices")
    if not isinstance(devices, Mapping):
        raise BatteryLogError("devices is not a mapping")
    log: BatteryLog = {}
    for key, entries in devices.items():
        if not isinstance(key, str) or not isinstance(entries, list):
            raise BatteryLogError(f"device {key!r} does not hold a list of batteries")
        log[key] = tuple(sorted((_battery(e) for e in entries), key=lambda b: b.start))[-MAX_PER_DEVICE:]
    return log


def load_log(path: Path, *, home_id: str | None = None) -> BatteryLog:
    """Read a stored log; BatteryLogError when it is unreadable or not a log of ours."""
    try:
        data = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise BatteryLogError(f"unreadable battery log: {err}") from err
    return log_from_json(data, home_id=home_id)


def save_log(log: BatteryLog, path: Path, home_id: str) -> None:
    """Write the log atomically."""
    document = log_as_json(log, home_id)
    replace_atomically(path, lambda handle: json.dump(document, handle, separators=(",", ":")), text=True)
