"""Failure events and labels, read off the same hourly grid as the features.

Labels come from the observed history itself (never from generator ground
truth), so a real home's recorder and a synthetic home are labelled alike:
features at hour e, label = a failure of that type *starts* in [e, e + horizon).

The battery target is what the owner acts on (DESIGN decision 6): the battery
*needs replacing* within the horizon — its level reaches the depletion floor
(or the device dies on its battery: a day dark after a low level, or back on a
fresh battery after six hours dark or more), or it is swapped at or below
LOW_SWAP_LEVEL. A swap above that level censors the old battery's future: a
row whose horizon holds such a swap before any depletion is neither positive
nor negative; so does a device dark from a level that was not low until the
data ends (whether its battery ran out is not known yet). Days remaining are
labelled only up to a battery that ran out with no swap before it. A battery runs out
once: until its next swap it has run out, and neither a new floor crossing (a weak cell
sagging below the floor every cold night) nor its death is another failure; the days
between are not predicted for the battery (`FailureEvents.battery_dark`).

"Dark" is unavailable, or an unusual silence of a day: a sleeping battery
sensor that HA never marks unavailable shows its battery dying only by falling
silent. A silence runs on through the hours its bridge was out without a report from it
(`features.silent_hours`): a bridge outage marks every device behind it unavailable, a live one
reports again when the bridge is back and a dead one does not; a device's own outage ends a
silence. A stillness (a numeric sensor whose value does not change) runs on likewise
(`features.stillness_runs`): a stuck sensor is still stuck when its bridge is back. A battery
device without telemetry (a door sensor) is quiet for long anyway: its silence is dark only
when it ends on a fresh battery or lasts until the data ends. A day inside a dark spell that
ended its battery, or whose end is unknown, is not predicted for the battery: the failure is
under way, or its outcome not known (`FailureEvents.battery_dark`). Likewise a row inside the
silence or stillness a stale failure starts is not predicted for staleness, from its first
hour on (`FailureEvents.stale_spans`), not only once it is unusually long.

An outage (`unavailable`: 6 h or more, not its bridge's) that starts when a
battery ran out, or within a week after on the same battery, is that battery's
failure and not an outage of its own: the owner is warned of it once, as a
battery to replace. So is a silence or stillness that starts from two days
before a battery ran out to a week after (`STALE_BEFORE_DEPLETION_HOURS`): a
battery dying silently is not a stale sensor, and the owner's fix is the same
swap. (An earlier release measured leaving these out as a worse stale model,
but against the other target; on independent homes that count a battery's
silent death as a battery failure only, it made the stale probabilities far
better, models/HISTORY.md.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .features import BATTERY_FLOOR, FeatureFrame, silence_runs, stillness_runs
from .grid import HourlyGrid
from .records import FailureType
from .windows import (
    DAY,
    UNUSUAL_MIN_HOURS,
    USUAL_WINDOW_HOURS,
    joined_runs,
    runs,
    unusual_limit,
    usual_longest,
)

UNAVAILABLE_MIN_HOURS = 6  # an outage this long is a failure the user must fix
DEAD_BATTERY_LEVEL = 25.0  # unavailable for a day with a battery this low = dead battery
DEAD_BATTERY_HOURS = 24
REVIVED_BY_SWAP_HOURS = 24  # back within this long on a fresh battery: it had died on the old one
# Dark at least this long and back on a fresh battery: it died (a swap alone darkens a device for
# minutes, not hours; an owner who finds it dead in the morning swaps within hours).
REVIVED_MIN_HOURS = UNAVAILABLE_MIN_HOURS
LOW_SWAP_LEVEL = 15.0  # a battery swapped at or below this needed replacing (decision 6)
SWAP_LOOKBACK_HOURS = 48  # the level a swap replaced: the last reading this far back
SAME_DISCHARGE_HOURS = 7 * 24  # an outage or silence this soon after a depletion is that battery's
# A sensor falling silent or stuck this soon before its battery ran out is that battery dying.
STALE_BEFORE_DEPLETION_HOURS = 48
STUCK_MIN_DAILY_CHANGES = 12.0  # only sensors that normally change often can be stuck
EVENT_BLOCK_DEVICES = 64  # devices per pass of find_events
TARGETS: tuple[str, ...] = tuple(t.value for t in FailureType)

IntArray = npt.NDArray[np.int64]


@dataclass(slots=True, kw_only=True)
class FailureEvents:
    """Start hours of each failure type, per device of a grid."""

    starts: dict[str, list[IntArray]]  # target -> per device sorted start hours
    # Per device: hours the battery ran out (floor or dead; days-remaining targets end here) and
    # hours of swaps above LOW_SWAP_LEVEL or of unknown level (they censor the battery target).
    depletions: list[IntArray]
    censors: list[IntArray]
    # Per device, (start, end) hours, shape (2, n), of the dark spells that are its battery's
    # end (it died on it) or whose end is not known yet: a row inside one is not predicted.
    battery_dark: list[IntArray]
    # Per device, (start, end) hours, shape (2, n), from each depletion to the next swap (or the
    # data's end): the battery has run out, a row inside is not predicted for the battery.
    run_out: list[IntArray]
    # Per device, (start, end) hours, shape (2, n), of the silences and stillnesses its stale
    # failures start: a row inside one is not predicted for staleness (the failure is under way).
    stale_spans: list[IntArray]
    # Per target, per device: start hours of a spell still under way when the data ends and not
    # yet long enough to be that failure (an outage under 6 h, a silence or stillness not yet
    # unusual). Whether it becomes one is unknown: a row whose horizon holds its start, with no
    # failure before, is unknown too (`build_labels`).
    pending: dict[str, list[IntArray]] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class Labels:
    """Per feature row: target values (1/0, NaN = not eligible) and days to empty."""

    y: dict[str, npt.NDArray[np.float64]]
    battery_days: npt.NDArray[np.float64]  # NaN where no depletion was observed
    next_event_hour: dict[str, npt.NDArray[np.float64]]  # NaN where none follows


def _unusual_runs(
    mask: npt.NDArray[np.bool_],
    completed: npt.NDArray[np.float64],
    first_seen: int,
    *,
    need_rate: bool | np.bool_ = True,
    neutral: npt.NDArray[np.bool_] | None = None,
) -> IntArray:
    """Starts of runs longer than twice the device's longest run of the prior two weeks.

    Only runs that begin once the device has two weeks of baseline count. `neutral` hours
    join the runs of `mask` across them without counting in their length (`joined_runs`;
    `completed` must count alike).
    """
    if not need_rate:
        return np.empty(0, dtype=np.int64)
    if neutral is None:
        run_start, run_len = runs(mask)
    else:
        run_start, _, run_len = joined_runs(mask, neutral)
    ok = (run_len >= UNUSUAL_MIN_HOURS) & (run_start >= first_seen + USUAL_WINDOW_HOURS)
    run_start, run_len = run_start[ok], run_len[ok]
    if run_start.size == 0:
        return run_start
    usual = usual_longest(completed[None, :], run_start)[0]
    return run_start[run_len >= unusual_limit(usual)]


def find_events(grid: HourlyGrid) -> FailureEvents:
    """Detect the start hour of every failure of each type, per device.

    Devices are read EVENT_BLOCK_DEVICES at a time (each device's events are its
    own), which bounds the (devices, hours) temporaries at any home size.
    """
    starts: dict[str, list[IntArray]] = {t: [] for t in TARGETS}
    depletions: list[IntArray] = []
    censors: list[IntArray] = []
    dark: list[IntArray] = []
    run_out: list[IntArray] = []
    stale_spans: list[IntArray] = []
    pending: dict[str, list[IntArray]] = {FailureType.UNAVAILABLE: [], FailureType.STALE: []}
    n = len(grid.device_keys)
    for lo in range(0, n, EVENT_BLOCK_DEVICES):
        _block_events(
            grid,
            lo,
            min(lo + EVENT_BLOCK_DEVICES, n),
            starts,
            (depletions, censors, dark, run_out),
            (stale_spans, pending),
        )
    return FailureEvents(
        starts=starts,
        depletions=depletions,
        censors=censors,
        battery_dark=dark,
        run_out=run_out,
        stale_spans=stale_spans,
        pending=pending,
    )


def _open_run_start(mask: npt.NDArray[np.bool_]) -> int | None:
    """The first hour of the run of `mask` that reaches the data's end, None without one."""
    if mask.shape[0] == 0 or not mask[-1]:
        return None
    off = np.flatnonzero(~mask)
    return int(off[-1]) + 1 if off.size else 0


def _pending_unusual(
    mask: npt.NDArray[np.bool_],
    neutral: npt.NDArray[np.bool_],
    first_seen: int,
    found: IntArray,
) -> IntArray:
    """The start of a silence or stillness under way at the data's end that may still become unusual.

    As `_unusual_runs` reads runs (joined across `neutral` hours): one that began once the device
    had two weeks of baseline and is not already unusual (in `found`).
    """
    s = _open_run_start(mask | neutral)
    if s is None or s < first_seen + USUAL_WINDOW_HOURS or np.isin(s, found):
        return np.empty(0, dtype=np.int64)
    return np.array([s], dtype=np.int64)


def _block_events(
    grid: HourlyGrid,
    lo: int,
    hi: int,
    starts: dict[str, list[IntArray]],
    battery: tuple[list[IntArray], list[IntArray], list[IntArray], list[IntArray]],
    stale_and_pending: tuple[list[IntArray], dict[str, list[IntArray]]],
) -> None:
    """Append the events of devices lo..hi-1 to the per-device lists.

    `battery`: the per-device depletions, censors and battery-dark spells; `stale_and_pending`: the
    per-device spans of the stale failures and the spells pending at the data's end
    (`FailureEvents`).
    """
    depletions, censors, battery_dark, run_out = battery
    stale_spans, pending = stale_and_pending
    channels = grid.channels
    unav_all = channels["unavailable"][lo:hi] > 0.5
    silent_all, bridged_all, silent_done = silence_runs(
        channels["reports"][lo:hi], channels["unavailable"][lo:hi], grid.bridge_down[lo:hi]
    )
    still_all, still_bridged_all, still_done = stillness_runs(
        channels["changes"][lo:hi], channels["unavailable"][lo:hi], grid.bridge_down[lo:hi]
    )
    changes = channels["changes"][lo:hi].astype(np.float64)
    change_rate_ok = (
        changes.sum(axis=1) / np.maximum(grid.n_hours / DAY, 1.0) >= STUCK_MIN_DAILY_CHANGES
    ) & np.asarray(grid.numeric_primary, dtype=bool)[lo:hi]
    telemetry = np.asarray(grid.telemetry, dtype=bool)[lo:hi]
    for k in range(hi - lo):
        i = lo + k
        down = unav_all[k]
        bridge = grid.bridge_down[i] > 0.5
        run_start, run_len = runs(down)
        own = np.array(
            [bridge[s : s + length].mean() < 0.5 for s, length in zip(run_start, run_len, strict=True)],
            dtype=bool,
        )
        long_outage = run_start[(run_len >= UNAVAILABLE_MIN_HOURS) & own]
        # The device's own outage under way at the data's end, not yet long enough to be one.
        ends_open = run_start + run_len == grid.n_hours
        pending[FailureType.UNAVAILABLE].append(
            run_start[ends_open & own & (run_len < UNAVAILABLE_MIN_HOURS)].astype(np.int64)
        )
        long_enough = (run_len >= REVIVED_MIN_HOURS) & own
        first = int(grid.first_seen[i])
        # A silence runs on through the hours its bridge was out without a report (`silent_hours`).
        silent, bridged = silent_all[k], bridged_all[k]
        silence = silent | bridged
        silences = _unusual_runs(silent, silent_done[k], first, need_rate=telemetry[k], neutral=bridged)
        if telemetry[k] or not grid.has_battery[i]:
            quiet = _spans_of(silence, silences)
        else:
            # A door sensor is quiet for long anyway: its silence tells its battery's fate only
            # when it ends on a fresh battery, or lasts until the data ends (then read as an
            # outage that does: `_battery_events`).
            quiet = _spans_of(silence, _unusual_runs(silent, silent_done[k], first, neutral=bridged))
            swaps = np.asarray(grid.swap_hours[i], dtype=np.int64)
            quiet = quiet[:, (quiet[1] >= grid.n_hours) | revived_by_swap(quiet, swaps)]
        down_spans = np.stack((run_start[long_enough], run_start[long_enough] + run_len[long_enough]))
        dead = np.concatenate((down_spans, quiet), axis=1)
        dead = dead[:, np.argsort(dead[0], kind="stable")]
        depleted, replaced, censor, ended = _battery_events(grid, i, dead)
        battery_dark.append(dead[:, ended])
        ran_out = _run_out(depleted, grid, i)
        run_out.append(ran_out)
        starts[FailureType.UNAVAILABLE].append(_not_of_a_depletion(long_outage, ran_out))
        starts[FailureType.BATTERY_DEPLETED].append(np.union1d(depleted, replaced).astype(np.int64))
        depletions.append(depleted)
        censors.append(censor)
        # A stillness runs on through its bridge's outage likewise (`features.stillness_runs`).
        still, still_bridged = still_all[k], still_bridged_all[k]
        stillnesses = _unusual_runs(
            still, still_done[k], first, need_rate=change_rate_ok[k], neutral=still_bridged
        )
        stale = np.union1d(silences, stillnesses).astype(np.int64)
        starts[FailureType.STALE].append(
            _not_of_a_depletion(stale, ran_out, before=STALE_BEFORE_DEPLETION_HOURS)
        )
        # A silence or stillness under way at the data's end that may still become unusual.
        open_silence = (
            _pending_unusual(silent, bridged, first, silences)
            if telemetry[k]
            else np.empty(0, dtype=np.int64)
        )
        open_still = (
            _pending_unusual(still, still_bridged, first, stillnesses)
            if change_rate_ok[k]
            else np.empty(0, dtype=np.int64)
        )
        pending[FailureType.STALE].append(np.union1d(open_silence, open_still).astype(np.int64))
        spans = (_spans_of(silence, silences), _spans_of(still | still_bridged, stillnesses))
        stale_spans.append(np.unique(np.concatenate(spans, axis=1), axis=1))


def dark_silence_hours(grid: HourlyGrid, i: int) -> npt.NDArray[np.bool_]:
    """Hours of device i's unusual silences (a day or more, and twice its usual longest): (n_hours,).

    The silences `find_events` reads as dark for a battery device, for the battery log
    (`battery_life`): whether one was a death is told by what follows it. A silence runs on
    through the hours its bridge was out (`features.silent_hours`), which it covers too.
    """
    block = slice(i, i + 1)
    silent_1, bridged_1, done_1 = silence_runs(
        grid.channels["reports"][block], grid.channels["unavailable"][block], grid.bridge_down[block]
    )
    silent, bridged = silent_1[0], bridged_1[0]
    starts = _unusual_runs(silent, done_1[0], int(grid.first_seen[i]), neutral=bridged)
    spans = _spans_of(silent | bridged, starts)
    edges = np.zeros(silent.size + 1, dtype=np.int64)
    np.add.at(edges, spans[0], 1)
    np.add.at(edges, spans[1], -1)
    out: npt.NDArray[np.bool_] = np.cumsum(edges[:-1]) > 0
    return out


def _spans_of(mask: npt.NDArray[np.bool_], starts: IntArray) -> IntArray:
    """The (start, end) hours, shape (2, n), of the True runs of `mask` that begin at `starts`."""
    run_start, run_len = runs(mask)
    keep = np.isin(run_start, starts)
    spans: IntArray = np.stack((run_start[keep], run_start[keep] + run_len[keep]))
    return spans


def revived_by_swap(spans: IntArray, swaps: IntArray) -> npt.NDArray[np.bool_]:
    """Which dark spells (start, end), shape (2, n), ended on a fresh battery.

    A swap during one, or within REVIVED_BY_SWAP_HOURS of its end: the device died on its
    old battery. `swaps`: sorted hours.
    """
    start, end = spans[0], spans[1]
    if swaps.size == 0:
        return np.zeros(start.size, dtype=bool)
    at = np.searchsorted(swaps, start, side="left")
    after = swaps[np.minimum(at, swaps.size - 1)]
    revived: npt.NDArray[np.bool_] = (at < swaps.size) & (after <= end + REVIVED_BY_SWAP_HOURS)
    return revived


def _battery_events(
    grid: HourlyGrid, i: int, dead: IntArray
) -> tuple[IntArray, IntArray, IntArray, npt.NDArray[np.bool_]]:
    """Return device i's depletions, new-battery failures read off its level, censored hours, and more.

    The fourth: which of its dark spells ended its battery or are of unknown end (`battery_dark`).
    `dead` holds the (start, end) hours of its long enough outages, shape (2, n); all four
    are empty (no spell selected) without a battery.
    """
    empty_run: IntArray = np.empty(0, dtype=np.int64)
    if not grid.has_battery[i]:
        return empty_run, empty_run, empty_run, np.zeros(dead.shape[1], dtype=bool)
    level = grid.channels["battery"][i].astype(np.float64)
    swaps = np.asarray(grid.swap_hours[i], dtype=np.int64)
    died = _died_on_battery(level, dead, swaps)
    depleted = _depletions(level, dead[0][died], swaps)
    replaced, censor = _swaps_by_level(level, swaps)
    # Dark until the data ends at a level that was not low: whether its battery ran out is not
    # known yet (it may come back on a fresh one, or on the same one): censored, not negative.
    start, end = dead[0], dead[1]
    long = end - start >= DEAD_BATTERY_HOURS
    unknown = long & (end >= level.size) & (level[np.maximum(start - 1, 0)] > DEAD_BATTERY_LEVEL)
    censor = np.union1d(censor, start[unknown]).astype(np.int64)
    # A low-level swap that is the first since a depletion replaces that same battery.
    ran_out = np.searchsorted(depleted, replaced, side="right") - 1
    last = depleted[np.maximum(ran_out, 0)] if depleted.size else np.zeros_like(replaced)
    same = (ran_out >= 0) & (
        np.searchsorted(swaps, replaced, side="left") == np.searchsorted(swaps, last, "right")
    )
    return depleted, replaced[~same], censor, died | unknown


def _died_on_battery(
    level: npt.NDArray[np.float64], dead: IntArray, swaps: IntArray
) -> npt.NDArray[np.bool_]:
    """Which dark spells (start, end), shape (2, n), the device died on its battery.

    Dark for a day after a low level, or back on a fresh battery (a swap during the spell or
    within REVIVED_BY_SWAP_HOURS of its end) whatever level it showed: coin cells and lithium
    packs often read 30-60 % until they collapse.
    """
    start, end = dead[0], dead[1]
    prior = level[np.maximum(start - 1, 0)]
    low = (prior <= DEAD_BATTERY_LEVEL) & (end - start >= DEAD_BATTERY_HOURS)
    died: npt.NDArray[np.bool_] = (start > 0) & (low | revived_by_swap(dead, swaps))
    return died


def _depletions(level: npt.NDArray[np.float64], deaths: IntArray, swaps: IntArray) -> IntArray:
    """Hours a battery ran out: its level reaches the floor, or the device dies on its battery.

    `deaths`: the start hours of the dark spells it died on (`_died_on_battery`); `swaps`: its
    sorted swap hours. One depletion per discharge: the first after each swap (a cell that sags
    below the floor each cold night, or reaches it and then dies, ran out once), and starts within
    a day of the previous are dropped.
    """
    empty = level <= BATTERY_FLOOR
    before = np.concatenate(([False], empty[:-1]))
    crossing = np.flatnonzero(empty & ~before)
    events = np.union1d(crossing, deaths).astype(np.int64)
    if events.size > 1:
        discharge = np.searchsorted(swaps, events, side="right")  # swaps at or before each event
        events = events[np.concatenate(([True], discharge[1:] != discharge[:-1]))]
    if events.size > 1:
        events = events[np.concatenate(([True], np.diff(events) > DAY))]
    return events


def _run_out(depleted: IntArray, grid: HourlyGrid, i: int) -> IntArray:
    """The (start, end) hours, shape (2, n), from each of device i's depletions to its next swap.

    The battery has run out then (its failure is under way): a row inside is not predicted for the
    battery, not read as a battery that will not run out. Without a swap after, to the data's end.
    """
    swaps = np.asarray(grid.swap_hours[i], dtype=np.int64)
    at = np.searchsorted(swaps, depleted, side="right")
    end = (
        np.where(at < swaps.size, swaps[np.minimum(at, swaps.size - 1)], grid.n_hours)
        if swaps.size
        else (np.full(depleted.size, grid.n_hours, dtype=np.int64))
    )
    spans: IntArray = np.stack((depleted, end.astype(np.int64)))
    return spans


def _not_of_a_depletion(hours: IntArray, run_out: IntArray, *, before: int = 0) -> IntArray:
    """The `hours` that are not part of a battery running out.

    `run_out`: the (start, end) hours, shape (2, n), from each depletion to the next swap
    (`_run_out`). Part of one: from `before` hours before a depletion to SAME_DISCHARGE_HOURS after
    it, or to the swap that ends it if later. An outage starting when it ran out or after (it
    reached the floor, then the device died on it) is that battery's failure, scored as one; so is
    a sensor falling silent or stuck as its battery dies (`before`: STALE_BEFORE_DEPLETION_HOURS).
    """
    if run_out.shape[1] == 0 or hours.size == 0:
        return hours
    start, end = run_out[0], run_out[1]
    prior = np.searchsorted(start, hours + before, side="right") - 1
    k = np.maximum(prior, 0)
    same = (prior >= 0) & ((hours - start[k] <= SAME_DISCHARGE_HOURS) | (hours < end[k]))
    kept: IntArray = hours[~same]
    return kept


def _swaps_by_level(level: npt.NDArray[np.float64], swaps: IntArray) -> tuple[IntArray, IntArray]:
    """Split swap hours into (replaced at or below LOW_SWAP_LEVEL, the rest).

    The level a swap replaced is the last reading in the SWAP_LOOKBACK_HOURS
    before it; a swap with no reading there is of unknown level and censors.
    """
    if swaps.size == 0:
        return swaps, swaps
    hours = np.arange(level.size)
    last_seen = np.fmax.accumulate(np.where(np.isfinite(level), hours, -1))
    before = last_seen[np.maximum(swaps - 1, 0)]
    known = (swaps > 0) & (before >= 0) & (swaps - before <= SWAP_LOOKBACK_HOURS)
    low = known & (level[np.maximum(before, 0)] <= LOW_SWAP_LEVEL)
    return swaps[low], swaps[~low]


def _next_after(starts: IntArray, hours: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """For each hour, the first of `starts` at or after it (NaN when none)."""
    out = np.full(hours.size, np.nan)
    if starts.size:
        k = np.searchsorted(starts, hours, side="left")
        has = k < starts.size
        out[has] = starts[k[has]]
    return out


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
    e, dev = frame.eval_hour, frame.device_index
    nxt = {target: _per_device_next(events.starts[target], dev, e) for target in TARGETS}
    y = {target: _within_horizon(nxt[target], e, horizon, grid.n_hours) for target in TARGETS}
    battery_ok = _mark_ineligible(frame, y)
    battery = FailureType.BATTERY_DEPLETED
    next_censor = _per_device_next(events.censors, dev, e)
    next_depletion = _per_device_next(events.depletions, dev, e)
    # A swap above the low level before any failure in the horizon: the old battery's end is unknown.
    y[battery][next_censor < np.fmin(nxt[battery], e + horizon)] = np.nan
    # Dark since a spell that is the battery's end, or of unknown end: the failure is under way
    # (or its outcome unknown) before the day dark that makes the row ineligible anyway.
    # So has a battery that ran out and is not swapped yet (`run_out`).
    dark = _inside(events.battery_dark, dev, e) | _inside(events.run_out, dev, e)
    y[battery][dark] = np.nan
    # Silent or still since a stale failure started: under way, though not yet unusually long
    # by the row's own features (a row then would otherwise read "no failure ahead").
    y[FailureType.STALE][_inside(events.stale_spans, dev, e)] = np.nan
    # A spell under way when the data ends may yet become a failure starting where it began:
    # a row whose horizon holds that start, with no failure before, is not known to be healthy.
    for target, per_device in events.pending.items():
        open_at = _per_device_next(per_device, dev, e)
        y[target][(y[target] == 0.0) & (open_at < e + horizon)] = np.nan
    battery_days = (next_depletion - e) / DAY
    any_swap = np.fmin(next_censor, _per_device_next(_swap_starts(events), dev, e))
    battery_days[~battery_ok | dark | (any_swap < next_depletion)] = np.nan
    return Labels(y=y, battery_days=battery_days, next_event_hour=nxt)


def _inside(
    spans: list[IntArray], dev: npt.NDArray[np.int64], e: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Per row, whether its hour is inside one of its device's (start, end) spans: start < e <= end.

    A row at e sees the hours before e: the spell began before it and had not ended.
    """
    out = np.zeros(e.size, dtype=bool)
    with_spans = [i for i, span in enumerate(spans) if span.shape[1]]
    if not with_spans:
        return out
    order = np.argsort(dev, kind="stable")
    bounds = np.searchsorted(dev[order], np.arange(len(spans) + 1), side="left")
    for i in with_spans:
        rows = order[bounds[i] : bounds[i + 1]]
        hours = e[rows][:, None]
        out[rows] = ((hours > spans[i][0][None, :]) & (hours <= spans[i][1][None, :])).any(axis=1)
    return out


def _within_horizon(
    next_hour: npt.NDArray[np.float64], e: npt.NDArray[np.int64], horizon: int, n_hours: int
) -> npt.NDArray[np.float64]:
    """1 when the next failure starts within the horizon, 0 when not, NaN when the data ends first."""
    positive = (next_hour - e) < horizon
    label = np.where(positive, 1.0, 0.0)
    label[~positive & (e + horizon > n_hours)] = np.nan
    return label


def _mark_ineligible(frame: FeatureFrame, y: dict[str, npt.NDArray[np.float64]]) -> npt.NDArray[np.bool_]:
    """Set NaN where a row cannot be a prediction of a type; return where the battery target applies.

    Too new a device; a failure already under way (down now, its bridge down,
    already silent or still for unusually long); a battery already at the floor,
    dead, unreadable or recharged routinely; a device that goes offline routinely
    (`routine_outages`) for going offline; no telemetry for staleness.
    """
    col = frame.column
    # Not seen for a day yet; before its first record a device's age is unknown (NaN) too.
    young = ~(col("age_days") >= 1.0)
    down_now = col("hours_unavailable_now") > 0
    battery_ok = (col("battery_level") > BATTERY_FLOOR) & frame.depletion_applies()
    # Dark for a day, unavailable or unusually silent: the battery may already have run out.
    silent_dead = (col("silence_vs_usual") >= 1.0) & (col("hours_since_report") >= DEAD_BATTERY_HOURS)
    dead = (col("hours_unavailable_now") >= DEAD_BATTERY_HOURS) | silent_dead
    y[FailureType.BATTERY_DEPLETED][~battery_ok | young | dead] = np.nan
    routine = ~frame.outage_applies()
    y[FailureType.UNAVAILABLE][young | down_now | routine | (col("bridge_down_24h") > 0.5)] = np.nan
    stale_now = (col("silence_vs_usual") >= 1.0) | (col("stillness_vs_usual") >= 1.0)
    y[FailureType.STALE][young | down_now | stale_now | (col("has_telemetry") < 0.5)] = np.nan
    ok: npt.NDArray[np.bool_] = battery_ok
    return ok


def _per_device_next(
    per_device: list[IntArray], dev: npt.NDArray[np.int64], e: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Per row, the device's first hour of `per_device` at or after the row's hour (NaN when none)."""
    out = np.full(e.size, np.nan)
    if dev.size and bool(np.all(dev[1:] >= dev[:-1])):
        # Device-major rows (as build_features makes them): each device's rows are one run.
        bounds = np.searchsorted(dev, np.arange(len(per_device) + 1), side="left")
        for i, starts in enumerate(per_device):
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            if hi > lo:
                out[lo:hi] = _next_after(starts, e[lo:hi])
        return out
    for i, starts in enumerate(per_device):
        rows = np.flatnonzero(dev == i)
        if rows.size:
            out[rows] = _next_after(starts, e[rows])
    return out


def _swap_starts(events: FailureEvents) -> list[IntArray]:
    """Battery-target starts that are not depletions: the swaps at a low level."""
    return [
        np.setdiff1d(starts, depleted).astype(np.int64)
        for starts, depleted in zip(
            events.starts[FailureType.BATTERY_DEPLETED], events.depletions, strict=True
        )
    ]
