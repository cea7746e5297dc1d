"""Battery life from the device's own previous batteries, and readings that cannot be trusted.

Post-model: for each battery device, its past batteries are read off the
hourly grid (a battery runs from a swap to the hour it ran out, died, or was
swapped at a low level), and the days remaining of the current battery are
estimated from them where they exist (how long the earlier batteries lasted
from this battery's age, and from its current level), with an interval. The
model's quantiles serve where the device has no past battery, and are blended
in while it has few. A battery reading that cannot be trusted (the device died
at a high reported level before, the level never moves while the battery ages,
or it moves in coarse steps that hide the cliff) is reported, and the days
remaining then lean on the battery's age against its earlier ones rather than
on the level.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from .features import BATTERY_FLOOR
from .grid import HourlyGrid
from .labels import (
    DEAD_BATTERY_HOURS,
    LOW_SWAP_LEVEL,
    REVIVED_MIN_HOURS,
    SWAP_LOOKBACK_HOURS,
    dark_silence_hours,
    revived_by_swap,
)
from .records import Chemistry
from .windows import runs

Float = npt.NDArray[np.float64]
DAY = 24

HIGH_DEATH_LEVEL = 40.0  # a device that died with its battery reading this high had a lying reading
DEATH_SWAP_HOURS = 14 * DAY  # a swap this soon after a day-long outage says the battery caused it
EXTRAPOLATE_BELOW = 50.0  # a battery swapped above the low level: its end is extrapolated below this
MIN_LIFE_DAYS = 2.0  # shorter "batteries" are swaps detected twice, not batteries
MAX_PAST = 6  # the most recent past batteries an estimate uses
LEVEL_INFORMATIVE_BELOW = 90.0  # above this a level says little about the time left (plateaus)
STUCK_DAYS = 30  # a level unchanged this long while the battery ages is suspect
COARSE_MAX_LEVELS = 5  # a level with this few distinct values over two months...
COARSE_MIN_STEP = 15.0  # ...in steps at least this large hides the cliff
COARSE_WINDOW_DAYS = 60
# Relative half-width of an interval from the device's own past: OWN_SPREAD + OWN_SPREAD_PER_BATTERY / n
# for n recent past batteries. Fitted on the tuning homes (seed 4343) by
# homeiq_lab.battery_life_eval.calibrate_spread so that 80 % intervals cover 80 % of held-out batteries
# for 1, 2 and 3+ past batteries (as the runtime reads them: 120 days and the battery log); the
# evaluation homes (seed 4242) never took part. Before: 0.25 and 0.35, chosen a priori.
OWN_SPREAD = 0.175
OWN_SPREAD_PER_BATTERY = 0.425
MIN_HALF_WIDTH_DAYS = 1.0
LEVEL_MARKS = (90.0, 80.0, 70.0, 60.0, 50.0, 40.0, 30.0, 20.0, 10.0)  # the battery log keeps these


class Source(StrEnum):
    """Where a days-remaining estimate comes from."""

    OWN_HISTORY = "own_history"  # the device's own past batteries (blended with the model when few)
    MODEL = "model"  # the model's quantiles alone


class Unreliable(StrEnum):
    """Why a battery reading cannot be trusted."""

    DIED_HIGH = "died_high"  # the device died at a high reported level before
    STUCK = "stuck"  # the level never moves while the battery ages
    COARSE = "coarse"  # a few coarse steps (e.g. 100/70/40/10) hide the cliff


class Ending(StrEnum):
    """How a past battery ended."""

    RAN_OUT = "ran_out"  # its level reached the floor
    DIED = "died"  # the device went dark (a day, or hours before a new battery), then got a new one
    SWAPPED_LOW = "swapped_low"  # replaced at or below the low level
    SWAPPED = "swapped"  # replaced above it: its end is extrapolated from its last drain


@dataclass(frozen=True, slots=True, kw_only=True)
class PastBattery:
    """One earlier battery of a device."""

    start_hour: int  # grid hour of the swap that fitted it
    end_hour: int  # grid hour it ran out, died or was replaced
    life_days: float  # from its swap to empty (measured, or extrapolated for SWAPPED)
    ending: Ending
    last_level: float  # the last reading before its end (NaN when unknown)
    # Days from its swap until its level first fell to each of LEVEL_MARKS (NaN: never), for a
    # battery read from the battery log rather than the grid; None: read its level off the grid.
    level_days: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatteryOutlook:
    """The battery of one device as its own history sees it, at one hour."""

    past: tuple[PastBattery, ...]  # oldest first
    typical_life_days: float | None  # median life of the past batteries
    age_days: float | None  # of the current battery, None when its swap is unknown
    level: float | None  # current reading
    unreliable: Unreliable | None = None
    unreliable_level: float | None = None  # DIED_HIGH: the level it died at
    own_days: tuple[float, float, float] | None = None  # own-history (low, median, high)
    own_values: tuple[float, ...] = ()  # the candidates own_days came from (`own_candidates`)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatteryLife:
    """Days remaining of a battery, where they come from, and what the owner is told."""

    days: float
    days_low: float
    days_high: float
    source: Source
    outlook: BatteryOutlook


def _deaths(
    unavailable: Float,
    bridge_down: Float,
    swaps: npt.NDArray[np.int64],
    silent: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.int64]:
    """Starts of the device's deaths, as the battery target reads them (`labels`).

    Its own day-long outages (not its bridge's), and the dark spells it came back from on a
    fresh battery (a swap during one or within REVIVED_BY_SWAP_HOURS of its end): its own
    outages of REVIVED_MIN_HOURS or more, and its unusual silences (`silent`: a sleeping
    sensor HA never marks unavailable dies by falling silent).
    """
    start, length = runs(unavailable > 0.5)
    # Only outages long enough for either rule are asked whether they were the device's own.
    long_enough = np.flatnonzero(length >= min(DEAD_BATTERY_HOURS, REVIVED_MIN_HOURS))
    own = np.zeros(start.shape[0], dtype=bool)
    own[long_enough] = [bridge_down[start[k] : start[k] + length[k]].mean() < 0.5 for k in long_enough]
    day_long = start[(length >= DEAD_BATTERY_HOURS) & own]
    spell = (length >= REVIVED_MIN_HOURS) & own
    start, length = start[spell], length[spell]
    if silent is not None:
        quiet_start, quiet_len = runs(silent)
        start, length = np.concatenate((start, quiet_start)), np.concatenate((length, quiet_len))
    spells = np.stack((start, start + length))
    deaths: npt.NDArray[np.int64] = np.union1d(day_long, start[revived_by_swap(spells, swaps)]).astype(
        np.int64
    )
    return deaths


def _level_before(level: Float, hour: int) -> float:
    """The last reading in the SWAP_LOOKBACK_HOURS before `hour` (NaN when none)."""
    part = level[max(hour - SWAP_LOOKBACK_HOURS, 0) : max(hour, 0)]
    seen = part[np.isfinite(part)]
    return float(seen[-1]) if seen.size else float("nan")


def _extrapolated_end(level: Float, start: int, end: int) -> float | None:
    """Hours from `start` until the battery of [start, end) would have reached the floor, or None."""
    last = _level_before(level, end)
    if not np.isfinite(last) or last > EXTRAPOLATE_BELOW:
        return None
    window = level[max(start, end - 7 * DAY) : end]
    hours = np.flatnonzero(np.isfinite(window))
    if hours.size < 2 * DAY:
        return None
    slope = float(np.polyfit(hours.astype(np.float64), window[hours], 1)[0])  # % per hour
    if slope >= -1e-4:
        return None
    return float(end - start) + (last - BATTERY_FLOOR) / -slope


def past_batteries(
    level: Float,
    unavailable: Float,
    bridge_down: Float,
    swaps: npt.NDArray[np.int64],
    end: int,
    silent: npt.NDArray[np.bool_] | None = None,
) -> tuple[list[PastBattery], list[tuple[int, float]]]:
    """The batteries a device went through before grid hour `end`, and its deaths at a high level.

    Arrays are one device's grid channels (only hours before `end` are read);
    `silent`: its unusual silences (`labels.dark_silence_hours`). A battery starts at
    a swap; one that started before the first known swap has an unknown life and is
    left out. Deaths (`_deaths`) at a high level are (hour, level) of deaths after a
    reading >= HIGH_DEATH_LEVEL that a swap followed within DEATH_SWAP_HOURS.
    """
    level, unavailable, bridge_down = level[:end], unavailable[:end], bridge_down[:end]
    swaps = np.asarray(swaps, dtype=np.int64)
    swaps = swaps[(swaps > 0) & (swaps < end)]
    empty = np.flatnonzero(level <= BATTERY_FLOOR)
    deaths = _deaths(unavailable, bridge_down, swaps, None if silent is None else silent[:end])
    high_deaths: list[tuple[int, float]] = []
    for death in deaths:
        following = swaps[(swaps >= death) & (swaps <= death + DEATH_SWAP_HOURS)]
        before = _level_before(level, int(death))
        if following.size and np.isfinite(before) and before >= HIGH_DEATH_LEVEL:
            high_deaths.append((int(death), before))
    past: list[PastBattery] = []
    for k, start in enumerate(swaps[:-1] if swaps.size else swaps):
        nxt = int(swaps[k + 1])
        start = int(start)
        ran_out = empty[(empty > start) & (empty < nxt)]
        died = deaths[(deaths > start) & (deaths < nxt)]
        candidates = []
        if ran_out.size:
            candidates.append((int(ran_out[0]), Ending.RAN_OUT))
        if died.size:
            candidates.append((int(died[0]), Ending.DIED))
        last = _level_before(level, nxt)
        if candidates:
            hour, ending = min(candidates)
            life_hours: float | None = float(hour - start)
            last = _level_before(level, hour + 1) if ending is Ending.RAN_OUT else _level_before(level, hour)
        elif np.isfinite(last) and last <= LOW_SWAP_LEVEL:
            hour, ending, life_hours = nxt, Ending.SWAPPED_LOW, float(nxt - start)
        else:
            hour, ending, life_hours = nxt, Ending.SWAPPED, _extrapolated_end(level, start, nxt)
        if life_hours is None or life_hours < MIN_LIFE_DAYS * DAY:
            continue
        past.append(
            PastBattery(
                start_hour=start, end_hour=hour, life_days=life_hours / DAY, ending=ending, last_level=last
            )
        )
    return past, high_deaths


def _stuck(level: Float, voltage: Float, end: int, age_days: float | None, typical: float | None) -> bool:
    """A level unchanged for STUCK_DAYS while the battery is low, outlived the earlier ones, or volts fall."""
    window = level[max(end - STUCK_DAYS * DAY, 0) : end]
    seen = window[np.isfinite(window)]
    if end < STUCK_DAYS * DAY or seen.size < STUCK_DAYS * DAY * 0.5 or np.ptp(seen) > 0.5:
        return False
    volts = voltage[max(end - STUCK_DAYS * DAY, 0) : end]
    volts = volts[np.isfinite(volts)]
    voltage_falls = volts.size >= 2 and volts[0] > 0 and (volts[0] - volts[-1]) / volts[0] >= 0.05
    outlived = age_days is not None and typical is not None and age_days >= typical
    return bool(seen[-1] <= LOW_SWAP_LEVEL or outlived or voltage_falls)


def _coarse(level: Float, end: int) -> float | None:
    """The step of a level that moves in a few coarse steps over the last two months, or None."""
    window = level[max(end - COARSE_WINDOW_DAYS * DAY, 0) : end]
    values = np.unique(np.round(window[np.isfinite(window)]))
    if values.size < 2 or values.size > COARSE_MAX_LEVELS:
        return None
    step = float(np.min(np.diff(values)))
    return step if step >= COARSE_MIN_STEP else None


def days_to_marks(level: Float, start: int, end: int) -> tuple[float, ...]:
    """Days from grid hour `start` until the level of [start, end] first fell to each mark (NaN: never)."""
    part = level[max(start, 0) : end + 1]
    out = []
    for mark in LEVEL_MARKS:
        below = np.flatnonzero(part <= mark)
        out.append(float(below[0]) / DAY if below.size else float("nan"))
    return tuple(out)


def _time_to_level(level: Float, battery: PastBattery, value: float) -> float | None:
    """Hours from a past battery's swap until its level first fell to `value`, or None.

    For a logged battery: interpolated between the marks around `value`.
    """
    if battery.level_days is not None:
        marks = np.asarray(LEVEL_MARKS[::-1])  # increasing
        days = np.asarray(battery.level_days[::-1])
        known = np.isfinite(days)
        if not known.any() or value < marks[known][0] or value > marks[known][-1]:
            return None
        return float(np.interp(value, marks[known], days[known])) * DAY
    part = level[battery.start_hour : battery.end_hour + 1]
    below = np.flatnonzero(part <= value)
    return float(below[0]) if below.size else None


def own_candidates(
    level: Float,
    past: list[PastBattery],
    *,
    age_days: float | None,
    current: float | None,
    trust_level: bool,
) -> Float | None:
    """The days left each recent past battery says this one has (>= 0), or None without any.

    Each past battery gives the days it had left at this battery's age (its
    life minus the age) and, where the level is informative and trusted, at
    this battery's level (its life minus the time it took to fall to this level).
    """
    recent = past[-MAX_PAST:]
    candidates: list[float] = []
    if age_days is not None:
        candidates += [b.life_days - age_days for b in recent]
    if trust_level and current is not None and np.isfinite(current) and current < LEVEL_INFORMATIVE_BELOW:
        for battery in recent:
            hours = _time_to_level(level, battery, current)
            if hours is not None and battery.ending is not Ending.SWAPPED:
                candidates.append(battery.life_days - hours / DAY)
    return np.maximum(np.asarray(candidates), 0.0) if candidates else None


def own_interval(
    values: Float, n_past: int, *, spread: tuple[float, float] = (OWN_SPREAD, OWN_SPREAD_PER_BATTERY)
) -> tuple[float, float, float]:
    """Days remaining (low, median, high) from the candidates of `n_past` recent past batteries.

    The median of the candidates is the estimate; the interval is their 10th
    to 90th percentile, widened to at least the median times a relative
    spread `base + per_battery / n_past` that shrinks with more batteries.
    """
    median = float(np.median(values))
    base, per_battery = spread
    half = max((base + per_battery / n_past) * median, MIN_HALF_WIDTH_DAYS)
    low = min(float(np.quantile(values, 0.1)), median - half)
    high = max(float(np.quantile(values, 0.9)), median + half)
    return max(low, 0.0), median, high


def own_days(
    level: Float,
    past: list[PastBattery],
    *,
    age_days: float | None,
    current: float | None,
    trust_level: bool,
) -> tuple[float, float, float] | None:
    """Days remaining (low, median, high) from the device's own past batteries, or None."""
    values = own_candidates(level, past, age_days=age_days, current=current, trust_level=trust_level)
    return None if values is None else own_interval(values, len(past[-MAX_PAST:]))


def outlook(
    grid: HourlyGrid,
    row: int,
    end: int | None = None,
    *,
    window_hours: int | None = None,
    earlier: Sequence[PastBattery] = (),
) -> BatteryOutlook:
    """The own-history view of device `row`'s battery at grid hour `end` (default: the grid's end).

    `window_hours` limits what is read to the hours before `end` (the runtime's
    grid keeps KEEP_DAYS); hours are then relative to the window's start.
    `earlier`: batteries from the battery log that the window no longer holds
    (`battery_log.earlier_batteries`), in the same hours.
    """
    end = grid.n_hours if end is None else end
    lo = 0 if window_hours is None else max(end - window_hours, 0)
    level = grid["battery"][row, lo:end].astype(np.float64)
    unavailable = grid["unavailable"][row, lo:end].astype(np.float64)
    bridge = grid.bridge_down[row, lo:end].astype(np.float64)
    voltage = grid["voltage"][row, lo:end].astype(np.float64)
    swaps = np.asarray(grid.swap_hours[row], dtype=np.int64) - lo
    # A silence is read as a death only when a swap follows it: without one, skip the search.
    silent = dark_silence_hours(grid, row)[lo:end] if ((swaps > 0) & (swaps < end - lo)).any() else None
    shifted = [replace(b, start_hour=b.start_hour - lo, end_hour=b.end_hour - lo) for b in earlier]
    return outlook_of(level, unavailable, bridge, voltage, swaps, earlier=shifted, silent=silent)


def outlook_of(
    level: Float,
    unavailable: Float,
    bridge_down: Float,
    voltage: Float,
    swaps: npt.NDArray[np.int64],
    *,
    earlier: Sequence[PastBattery] = (),
    silent: npt.NDArray[np.bool_] | None = None,
) -> BatteryOutlook:
    """The own-history view of one device's battery at the end of its channels.

    `earlier`: logged batteries that ended before the channels' first known
    swap (hours before 0), counted before those found in the channels; `silent`:
    its unusual silences (`labels.dark_silence_hours`).
    """
    end = level.shape[0]
    found, found_deaths = past_batteries(level, unavailable, bridge_down, swaps, end, silent)
    past = [*earlier, *found]
    high_deaths = [
        (b.end_hour, b.last_level)
        for b in earlier
        if b.ending is Ending.DIED and np.isfinite(b.last_level) and b.last_level >= HIGH_DEATH_LEVEL
    ] + found_deaths
    seen = level[np.isfinite(level)]
    current = float(seen[-1]) if seen.size else None
    known = swaps[(swaps >= 0) & (swaps < end)]
    age = float(end - known[-1]) / DAY if known.size else None
    typical = float(np.median([b.life_days for b in past])) if past else None
    reason: Unreliable | None = None
    died_at: float | None = None
    coarse_step = _coarse(level, end)
    if high_deaths:
        reason, died_at = Unreliable.DIED_HIGH, high_deaths[-1][1]
    elif _stuck(level, voltage, end, age, typical):
        reason = Unreliable.STUCK
    elif coarse_step is not None:
        reason = Unreliable.COARSE
    values = own_candidates(level, past, age_days=age, current=current, trust_level=reason is None)
    days = None if values is None else own_interval(values, len(past[-MAX_PAST:]))
    return BatteryOutlook(
        past=tuple(past),
        typical_life_days=typical,
        age_days=age,
        level=current,
        unreliable=reason,
        unreliable_level=died_at,
        own_days=days,
        own_values=() if values is None else tuple(float(v) for v in values),
    )


def combine(model: tuple[float, float, float] | None, view: BatteryOutlook) -> BatteryLife | None:
    """The days remaining an owner is shown: own history where it exists, the model where not.

    With n past batteries the own estimate weighs n / (n + 1) against the model
    (geometric mean of the medians, mean of the bounds). An untrusted reading
    makes the model's level-driven interval wider: down to 0 after a death at a
    high level or for a level that never moves (it may die at any reading), and
    one step lower for coarse steps; the own estimate then uses the battery's
    age only, not its level.
    """
    own = view.own_days
    if model is None and own is None:
        return None
    if model is not None:
        model = widened_model(model, view)
    if own is None:
        assert model is not None
        return BatteryLife(
            days=model[1], days_low=model[0], days_high=model[2], source=Source.MODEL, outlook=view
        )
    if model is None:
        return BatteryLife(
            days=own[1], days_low=own[0], days_high=own[2], source=Source.OWN_HISTORY, outlook=view
        )
    low, mid, high = blend(own, model, min(len(view.past), MAX_PAST))
    return BatteryLife(days=mid, days_low=low, days_high=high, source=Source.OWN_HISTORY, outlook=view)


def widened_model(model: tuple[float, float, float], view: BatteryOutlook) -> tuple[float, float, float]:
    """The model's (low, median, high) with its low end lowered for an untrusted reading."""
    m_low, m_mid, m_high = model
    if view.unreliable is Unreliable.DIED_HIGH or view.unreliable is Unreliable.STUCK:
        m_low = 0.0
    elif view.unreliable is Unreliable.COARSE and view.level is not None:
        m_low *= _coarse_factor(view.level, _coarse_step(view))
    return m_low, m_mid, m_high


def blend(
    own: tuple[float, float, float], model: tuple[float, float, float], n_past: int
) -> tuple[float, float, float]:
    """Own history weighed n/(n+1) against the model: geometric mean of the medians, mean of the bounds."""
    w = n_past / (n_past + 1.0)
    mid = float(np.exp(w * np.log(own[1] + 1.0) + (1 - w) * np.log(model[1] + 1.0)) - 1.0)
    low = min(w * own[0] + (1 - w) * model[0], mid)
    high = max(w * own[2] + (1 - w) * model[2], mid)
    return max(low, 0.0), mid, high


def _coarse_step(view: BatteryOutlook) -> float:
    """The coarse step assumed for a reading (the smallest COARSE_MIN_STEP)."""
    return COARSE_MIN_STEP


def _coarse_factor(level: float, step: float) -> float:
    """How much lower the days left may be when the true level is up to one step below the reading."""
    if level <= BATTERY_FLOOR:
        return 1.0
    return float(np.clip((level - step - BATTERY_FLOOR) / (level - BATTERY_FLOOR), 0.0, 1.0))


# Battery Notes' battery types (free text such as "CR2032", "AAA", "Rechargeable", "18650").
_TYPE_PATTERNS: tuple[tuple[re.Pattern[str], Chemistry], ...] = (
    (re.compile(r"ni-?mh|hr6|hr03|eneloop", re.I), Chemistry.NIMH),
    (
        re.compile(r"li-?ion|li-?po|lithium[- ]ion|18650|14500|21700|recharge|internal|built-?in", re.I),
        Chemistry.LI_ION,
    ),
    (re.compile(r"cr-?123|cr-?2\b|cr-?p2|er\d|lithium|l91|l92|fr6|fr03|cr-?v3", re.I), Chemistry.LITHIUM),
    (re.compile(r"\b[cb]r-?\d{4}|\bcoin|button", re.I), Chemistry.COIN),
    (
        re.compile(r"\bl?r?\d*a{1,4}\b|\bl?r(6|03|14|20|44)\b|\b9v\b|alkaline|\b[cd]\b|lr\d", re.I),
        Chemistry.ALKALINE,
    ),
)


def chemistry_for_battery_type(battery_type: object) -> Chemistry:
    """The chemistry a battery type names (Battery Notes' `battery_type`), or UNKNOWN."""
    if not isinstance(battery_type, str) or not battery_type.strip():
        return Chemistry.UNKNOWN
    for pattern, chemistry in _TYPE_PATTERNS:
        if pattern.search(battery_type):
            return chemistry
    return Chemistry.UNKNOWN
