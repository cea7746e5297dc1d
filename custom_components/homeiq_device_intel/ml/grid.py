"""Resample a home's records onto an hourly grid per device.

The grid is the compact intermediate every feature and label is computed
from: one row per device, one column per hour, a handful of channels. It is
also what the integration keeps between nights, so history outgrows the
recorder's purge window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .records import (
    UNAVAILABLE,
    EntityRecord,
    EntityRole,
    FloatArray,
    HomeHistory,
    Power,
    StateSeries,
    StatSeries,
)

_LOGGER = logging.getLogger(__name__)

HOUR = 3600.0
F32 = npt.NDArray[np.float32]
# Level readings outside these bounds are garbage, not levels: a battery is 0..100 %,
# and anything float32 (the grid's dtype) cannot hold would turn into infinity.
BATTERY_RANGE = (0.0, 100.0)
LEVEL_RANGE = (-float(np.finfo(np.float32).max), float(np.finfo(np.float32).max))
# A state row this soon after an HA restart that repeats the previous state (the one before
# the `unavailable` rows just before it, if any) is a replay, not a sign of life; a
# short unavailable spell then is the integration reconnecting, not the device failing.
RESTART_REPLAY_SECONDS = 300.0
RESTART_UNAVAILABLE_MAX_SECONDS = 900.0
# When a bridge (a Zigbee/Z-Wave coordinator, ...) is back after its devices were unavailable
# together, its integration writes the state it held for each device, a dead one's too: a row
# this soon after such a spell's end that repeats the state before the spell is a replay, not
# a sign of life (the restart's window: the restored rows come as fast as a restart's replays).
BRIDGE_RESTORE_SECONDS = RESTART_REPLAY_SECONDS
# A group of devices on one bridge is "down" when this share is unavailable.
BRIDGE_MIN_DEVICES = 3
BRIDGE_DOWN_SHARE = 0.6
# A home-wide outage (a power cut with HA on a UPS, the home's network down): devices without a
# battery, of at least HOME_MIN_GROUPS bridge groups, at least HOME_MIN_DEVICES of them down at
# once, whose outages began within HOME_START_HOURS of each other. The start is the first hour a
# device is down for most of (so two devices going down a minute apart may start an hour apart);
# Wi-Fi integrations notice a device gone within minutes, ZHA a mains device after 2 h without
# a check-in (its default), hence 3 h. Three devices that each died on their own weeks or days
# apart did not start together: they stay failures of their own.
HOME_MIN_DEVICES = 3
HOME_MIN_GROUPS = 2
HOME_START_HOURS = 3
# The level channels besides the battery's, and the role of the entity each is read from.
LEVEL_ROLES = {
    "signal": EntityRole.SIGNAL,
    "temperature": EntityRole.TEMPERATURE,
    "voltage": EntityRole.VOLTAGE,
}
# Entities whose values arrive on a schedule: their silence means something.
TELEMETRY_ROLES = frozenset({EntityRole.SIGNAL, EntityRole.TEMPERATURE, EntityRole.VOLTAGE})

CHANNELS = (
    "battery",  # last known battery % at the end of the hour (carried forward)
    "signal",  # last known RSSI/LQI (carried forward)
    "temperature",  # last known device temperature (carried forward)
    "voltage",  # last known voltage (carried forward)
    "battery_low",  # last known battery-low flag, 0/1 (carried forward)
    "unavailable",  # share of the hour the device was unavailable, 0..1
    "reports",  # state rows written (signs of life, replays excluded)
    "changes",  # changes of the primary entity's value
    "drops",  # available -> unavailable transitions
)

# Channels kept in a compact dtype, with the same values: 0/1 flags in uint8, counts per hour in
# uint16 (a count channel with an hour above 65,535 stays float32). `grid[name]` reads any
# channel as float32; a 120-day grid of 1,000 devices takes 84 MB instead of 115 MB.
FLAG_CHANNELS = frozenset({"battery_low"})
COUNT_CHANNELS = frozenset({"reports", "changes", "drops"})
_LIMITS: dict[type[np.generic], float] = {np.uint8: 255.0, np.uint16: 65535.0}
Channel = npt.NDArray[Any]  # float32, or uint8 (flags) / uint16 (counts), see channel_dtype


def channel_dtype(name: str) -> type[np.generic]:
    """The compact dtype of a channel (bridge_down is a flag too: "bridge_down")."""
    if name in FLAG_CHANNELS or name == "bridge_down":
        return np.uint8
    if name in COUNT_CHANNELS:
        return np.uint16
    return np.float32


def compact_channel(name: str, values: npt.NDArray[Any]) -> Channel:
    """A channel's values in its compact dtype, or float32 where they do not fit it exactly."""
    dtype = channel_dtype(name)
    if dtype is np.float32 or values.dtype == dtype:
        return np.asarray(values, dtype=np.float32) if dtype is np.float32 else values
    limit = _LIMITS[dtype]
    if values.size and not (
        np.isfinite(values).all()
        and values.min() >= 0
        and values.max() <= limit
        and (values == np.round(values)).all()
    ):
        return np.asarray(values, dtype=np.float32)
    return values.astype(dtype)


@dataclass(slots=True, kw_only=True)
class HourlyGrid:
    """Per-device hourly channels of one home.

    Every channel array has shape (n_devices, n_hours), in its compact dtype
    (`channel_dtype`; read through `grid[name]` for float32); column k covers
    [start + k h, start + (k+1) h).
    """

    home_id: str
    device_keys: list[str]
    start: float
    n_hours: int
    channels: dict[str, Channel]
    has_battery: npt.NDArray[np.bool_]  # (n_devices,)
    # (n_devices,) first hour with any record (n_hours: none; negative in a tail of a longer grid,
    # see `grid_tail`: the device was seen that many hours before the tail's first hour)
    first_seen: npt.NDArray[np.int64]
    swap_hours: list[npt.NDArray[np.int64]]  # per device, hours of known swaps
    bridge_down: Channel  # (n_devices, n_hours) uint8, 1 where the device's bridge was down
    states_from: int = 0  # first hour covered by state rows (earlier: statistics only)
    telemetry: npt.NDArray[np.bool_] | None = None  # (n_devices,) reports measurements periodically
    numeric_primary: npt.NDArray[np.bool_] | None = None  # (n_devices,) main entity is a number
    # (n_devices,) first hour covered by the rows of the entity the device's unavailable, changes and
    # drops come from (n_hours: none). Later than states_from for a device whose last row before
    # it was purged: until its next row its state is not known (`merge_grids` keeps the stored one).
    # None: states_from for every device (a stored or merged grid knows every device's state there).
    primary_states_from: npt.NDArray[np.int64] | None = None
    # (n_devices,) a drop is counted at primary_states_from because those rows open `unavailable`:
    # nothing earlier is known, so not whether the device went unavailable then (`merge_grids`
    # takes the drop back when the stored grid had the device unavailable the hour before).
    # None: no device's (a stored or merged grid).
    opens_unavailable: npt.NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        """Default the device flags to False and the devices' state rows to the grid's."""
        n = len(self.device_keys)
        if self.telemetry is None:
            self.telemetry = np.zeros(n, dtype=bool)
        if self.numeric_primary is None:
            self.numeric_primary = np.zeros(n, dtype=bool)
        if self.opens_unavailable is None:
            self.opens_unavailable = np.zeros(n, dtype=bool)
        if self.primary_states_from is None:
            self.primary_states_from = np.full(n, self.states_from, dtype=np.int64)

    def __getitem__(self, name: str) -> F32:
        """Return one channel as float32 (a copy for a compact one: slice the grid first)."""
        channel = self.channels[name]
        if channel.dtype == np.float32:
            return channel
        converted: F32 = channel.astype(np.float32)
        return converted


def grid_tail(grid: HourlyGrid, lo: int, hi: int | None = None) -> HourlyGrid:
    """The hours lo..hi-1 of a grid (hi: its end), as views; hour numbers shift down by lo.

    What reaches outside the part is kept as hours outside 0..n_hours-1:
    first_seen (so a device's age stays its age; never seen stays >= n_hours)
    and swap_hours.
    """
    hi = grid.n_hours if hi is None else min(max(int(hi), 1), grid.n_hours)
    lo = min(max(int(lo), 0), hi - 1)
    if lo == 0 and hi == grid.n_hours:
        return grid
    return HourlyGrid(
        home_id=grid.home_id,
        device_keys=grid.device_keys,
        start=grid.start + lo * HOUR,
        n_hours=hi - lo,
        channels={name: channel[:, lo:hi] for name, channel in grid.channels.items()},
        has_battery=grid.has_battery,
        first_seen=grid.first_seen - lo,
        swap_hours=[hours - lo for hours in grid.swap_hours],
        bridge_down=grid.bridge_down[:, lo:hi],
        states_from=max(grid.states_from - lo, 0),
        telemetry=grid.telemetry,
        numeric_primary=grid.numeric_primary,
        primary_states_from=(
            None if grid.primary_states_from is None else np.maximum(grid.primary_states_from - lo, 0)
        ),
        opens_unavailable=_opening_drops_within(grid, lo, hi),
    )


def _opening_drops_within(grid: HourlyGrid, lo: int, hi: int) -> npt.NDArray[np.bool_] | None:
    """`opens_unavailable` of the devices whose opening drop lies in hours lo..hi-1 (None: none's)."""
    if grid.opens_unavailable is None or grid.primary_states_from is None:
        return None
    inside: npt.NDArray[np.bool_] = (
        grid.opens_unavailable & (grid.primary_states_from >= lo) & (grid.primary_states_from < hi)
    )
    return inside


@dataclass(frozen=True, slots=True)
class _Hours:
    """A grid's hours, their bounds computed once for all its devices: column k is bounds[k]..bounds[k+1]."""

    start: float
    n: int
    bounds: FloatArray  # (n + 1,) start + k h

    @classmethod
    def of(cls, start: float, n: int) -> _Hours:
        """The hours of a grid of `n` columns from `start`."""
        return cls(start, n, start + HOUR * np.arange(n + 1))

    @property
    def ends(self) -> FloatArray:
        """(n,) the end of each hour."""
        ends: FloatArray = self.bounds[1:]
        return ends


_NO_ROWS: npt.NDArray[np.intp] = np.empty(0, dtype=np.intp)
_NO_HOURS: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)


def hour_start(t: float) -> float:
    """Floor a POSIX time to the start of its UTC hour."""
    return float(np.floor(t / HOUR) * HOUR)


def _carry_forward(times: FloatArray, values: FloatArray, bounds: FloatArray) -> FloatArray:
    """Value of the last finite sample strictly before each bound (NaN if none)."""
    ok = np.isfinite(values)
    ok &= np.isfinite(times)
    return _last_before(times[ok], values[ok], bounds)


def _last_before(times: FloatArray, values: FloatArray, bounds: FloatArray) -> FloatArray:
    """`_carry_forward` of samples already finite: the value of the last one strictly before each bound."""
    if times.size > 1 and (times[1:] < times[:-1]).any():  # rows are usually in order already
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[order]
    # Sample k - 1 is the last before a bound with k samples before it; none: NaN.
    padded = np.empty(values.shape[0] + 1)
    padded[0] = np.nan
    padded[1:] = values
    out: FloatArray = padded[np.searchsorted(times, bounds, side="left")]
    return out


def _stat_hourly(stat: StatSeries, ends: FloatArray) -> FloatArray:
    """Hourly statistics means placed on the grid (`ends`: each hour's end), carried forward over gaps."""
    # A statistics row for hour [s, s+1h) describes the value by its end.
    return _carry_forward(stat.start + HOUR - 1.0, stat.mean, ends)


def _replayed_rows(series: StateSeries, restarts: FloatArray) -> npt.NDArray[np.intp]:
    """The rows (ascending) that only replay the previous state right after a restart.

    The previous state is the last one that is not `unavailable`: a late integration's
    entities show `unavailable` first, then their held state (`_before_unavailable`).

    Only rows up to a little after a restart's replay window can be such rows: the
    test is made on those (restarts are few, rows many), with the same arithmetic.
    """
    time = series.time
    if not _near_restarts(time, restarts):
        return _NO_ROWS
    reach = restarts + (RESTART_REPLAY_SECONDS + 1.0)
    lo = np.searchsorted(time, restarts, side="left")
    hi = np.searchsorted(time, reach, side="right")
    rows = _union_of_ranges(lo, hi)
    if rows.size == 0:
        return _NO_ROWS
    same = series.code[rows] == series.code[_before_unavailable(series.code, rows)]
    replayed: npt.NDArray[np.intp] = rows[_in_replay_window(time[rows], restarts) & (rows > 0) & same]
    return replayed


def _bridge_restored_rows(series: StateSeries, bridge_out: Channel, start: float) -> npt.NDArray[np.intp]:
    """The rows (ascending) that only restore the held state when the device's bridge is back.

    A bridge that is back (its devices were unavailable together: `bridge_out`, per grid
    hour from `start`) makes its integration write the state it held for each device, a
    dead device's too. Such a row ends one of the device's unavailable spells at the bridge's
    return (the bridge out in the hour the spell ends or the hour before), within
    BRIDGE_RESTORE_SECONDS, and repeats the state before the spell (`_before_unavailable`); a
    new value is the device's, a sign of life, and so is a device's own return from an outage
    of its own, whatever its bridge did while it was out.

    Only the rows just after such spells are tested (spells are few, rows many).
    """
    n = len(series)
    if n == 0 or not bridge_out.any():
        return _NO_ROWS
    unav = np.flatnonzero(series.code == UNAVAILABLE)
    if unav.size == 0:
        return _NO_ROWS
    # Spells are runs of `unavailable` rows; `after` is the row that ends each (n: none does).
    first = np.ones(unav.size, dtype=bool)
    first[1:] = unav[1:] != unav[:-1] + 1
    spell_lo = unav[first]
    after = np.append(unav[np.flatnonzero(first)[1:] - 1], unav[-1]) + 1
    ended = after < n
    spell_lo, after = spell_lo[ended], after[ended]
    if after.size == 0:
        return _NO_ROWS
    # A spell ends at the bridge's return if the bridge was out in the hour the spell ends or
    # the hour before (within the spell): counted on the cumulative out hours.
    n_hours = bridge_out.shape[0]
    down = np.concatenate(([0], np.cumsum(bridge_out > 0)))
    time = series.time
    h_lo = np.clip(np.floor((time[spell_lo] - start) / HOUR), 0, n_hours).astype(np.intp)
    h_hi = np.clip(np.floor((time[after] - start) / HOUR) + 1, 0, n_hours).astype(np.intp)
    after = after[down[h_hi] > down[np.maximum(h_hi - 2, h_lo)]]
    if after.size == 0:
        return _NO_ROWS
    hi = np.searchsorted(time, time[after] + BRIDGE_RESTORE_SECONDS, side="right")
    rows = _union_of_ranges(after, np.maximum(hi, after + 1))
    restored: npt.NDArray[np.intp] = rows[
        series.code[rows] == series.code[_before_unavailable(series.code, rows)]
    ]
    return restored


def _before_unavailable(code: npt.NDArray[np.int32], rows: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """Per row, the row before it that is not `unavailable` (row 0 when there is none).

    An integration that starts late shows its entities `unavailable` at a restart (HA writes
    that for every registered entity not loaded yet when it has started), then the state it
    holds for them: that state is a replay when it repeats the state before the `unavailable`.
    """
    kept = np.flatnonzero(code != UNAVAILABLE)
    if kept.size == 0:  # a device dead the whole window: only the restarts' `unavailable` rows
        return np.zeros_like(rows)
    k = np.searchsorted(kept, rows) - 1  # the last row before each that is not `unavailable`
    prev: npt.NDArray[np.intp] = np.where(k >= 0, kept[np.maximum(k, 0)], 0)
    return prev


def _in_replay_window(times: FloatArray, restarts: FloatArray) -> npt.NDArray[np.bool_]:
    """Whether each time is at most RESTART_REPLAY_SECONDS after a restart (restarts sorted)."""
    if restarts.size == 0:
        return np.zeros(times.shape, dtype=bool)
    idx = np.searchsorted(restarts, times, side="right") - 1
    since = np.where(idx >= 0, times - restarts[np.maximum(idx, 0)], np.inf)
    inside: npt.NDArray[np.bool_] = since <= RESTART_REPLAY_SECONDS
    return inside


def _union_of_ranges(lo: npt.NDArray[np.intp], hi: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """Sorted indices in any [lo, hi) range; lo and hi each ascending (as searchsorted gives them).

    Each range starts where the previous one ended at the latest, so the ranges left are disjoint.
    """
    start = lo.copy()
    start[1:] = np.maximum(lo[1:], hi[:-1])
    length = np.maximum(hi - start, 0)
    total = int(length.sum())
    if total == 0:
        return np.empty(0, dtype=np.intp)
    offset = np.cumsum(length) - length
    rows: npt.NDArray[np.intp] = np.repeat(start - offset, length) + np.arange(total)
    return rows


def _in_range(values: FloatArray, bounds: tuple[float, float]) -> FloatArray:
    """The values, with those outside [low, high] (and NaN) as NaN."""
    return np.where((values >= bounds[0]) & (values <= bounds[1]), values, np.nan)


def _level_channel(
    history: HomeHistory,
    entity: EntityRecord | None,
    hours: _Hours,
    bounds: tuple[float, float] = LEVEL_RANGE,
) -> FloatArray:
    """Hourly carried-forward level of a numeric entity from stats and states.

    Readings that are not numbers within `bounds` are ignored (the last good
    one carries on) and logged once per entity (counted only when that log is on).
    """
    out: FloatArray = np.full(hours.n, np.nan)
    if entity is None:
        return out
    logged = _LOGGER.isEnabledFor(logging.DEBUG)
    rejected = 0
    stat = history.statistics.get(entity.series_key)
    if stat is not None and not len(stat):
        stat = None
    if stat is not None and logged:
        rejected += int(np.count_nonzero(np.isfinite(_in_range(stat.mean, bounds)) != np.isfinite(stat.mean)))
    series = history.states.get(entity.series_key)
    from_states = None  # the states' level, where they cover the hour (a reading before its end)
    covers_all = False
    if series is not None and len(series):
        ends = hours.ends
        value = _in_range(series.value, bounds)
        if logged:
            rejected += int(np.count_nonzero((series.code >= 0) & ~np.isfinite(value)))
        ok = np.isfinite(value)
        ok &= np.isfinite(series.time)
        first = series.time[ok]
        if first.size:
            # States are exact within the purge window; statistics fill the rest. A state
            # level is finite exactly where a reading comes before the hour's end (covered).
            from_states = _last_before(first, value[ok], ends)
            covers_all = bool(ends[0] > first.min())
    # Where the states cover every hour (they have a reading before the first
    # hour's end, so one before every later end), the statistics are not read.
    if stat is not None and not covers_all:
        mean = _in_range(stat.mean, bounds)
        out = _stat_hourly(StatSeries(stat.start, mean, stat.min, stat.max), hours.ends)
        if from_states is not None:
            out = np.where(np.isfinite(from_states), from_states, out)
    elif from_states is not None:
        out = from_states  # NaN where not covered, as `out` was
    if rejected:
        _LOGGER.debug(
            "%s: ignored %d %s readings that are not numbers in [%g, %g]",
            entity.entity_id,
            rejected,
            entity.role.value,
            *bounds,
        )
    return out


def _unavailable_share(
    series: StateSeries, restarts: FloatArray, hours: _Hours
) -> tuple[FloatArray, FloatArray]:
    """Share of each hour spent unavailable, and the times of the drops (to count per hour)."""
    share: FloatArray = np.zeros(hours.n)
    drops: FloatArray = np.empty(0)
    if len(series) == 0:
        return share, drops
    t = series.time
    unav = series.code == UNAVAILABLE
    if _near_restarts(t, restarts) and unav.any():
        # Short unavailable spells right after a restart are reconnects. A spell is a
        # run of rows: HA writes 'unavailable' again at each restart during an outage.
        first = unav & ~np.concatenate(([False], unav[:-1]))
        last = unav & ~np.concatenate((unav[1:], [False]))
        after = np.flatnonzero(last) + 1
        spell_start = t[first]
        spell_end = np.where(after < t.size, t[np.minimum(after, t.size - 1)], np.inf)
        idx = np.searchsorted(restarts, spell_start, side="right") - 1
        since = np.where(idx >= 0, spell_start - restarts[np.maximum(idx, 0)], np.inf)
        reconnect = (since <= RESTART_REPLAY_SECONDS) & (
            spell_end - spell_start <= RESTART_UNAVAILABLE_MAX_SECONDS
        )
        if reconnect.any():
            spell = np.maximum(np.cumsum(first) - 1, 0)
            unav &= ~reconnect[spell]
    if not unav.any():
        return share, drops
    dur = np.empty_like(t)  # each row's duration, as np.diff(t, append=t[-1])
    np.subtract(t[1:], t[:-1], out=dur[:-1])
    dur[-1] = t[-1] - t[-1]
    cum = np.concatenate(([0.0], np.cumsum(unav * dur)))
    # Unavailable time until each bound: 0 before the first row (the bounds from k0 on have
    # a row j at or before them); beyond the last row the last status holds until the end.
    u_at = np.zeros(hours.n + 1)
    k0 = int(np.searchsorted(hours.bounds, t[0], side="left"))
    if k0 <= hours.n:
        bounds = hours.bounds[k0:]
        j = np.searchsorted(t, bounds, side="right") - 1
        u_at[k0:] = cum[j] + unav[j] * (bounds - t[j])
    share = np.clip(np.diff(u_at) / HOUR, 0.0, 1.0)
    began = unav.copy()
    began[1:] &= ~unav[:-1]
    return share, t[began]


def _near_restarts(time: FloatArray, restarts: FloatArray) -> bool:
    """Whether a restart may be at most RESTART_REPLAY_SECONDS before a row (rows ascending).

    False when every restart is after the last row, or more than that before the first: then
    no row is within a restart's replay window (`_in_replay_window`, same arithmetic).
    """
    if restarts.size == 0 or time.size == 0:
        return False
    return not (restarts[0] > time[-1] or _past_every_replay(float(time[0]), restarts))


def _past_every_replay(t: float, restarts: FloatArray) -> bool:
    """Whether `t` (and every later time) is past the last restart's replay window (`_in_replay_window`)."""
    return bool(restarts.size == 0 or t - restarts[-1] > RESTART_REPLAY_SECONDS)


def _hours_of(times: FloatArray, start: float, n_hours: int) -> npt.NDArray[np.int64]:
    """Grid hour of each time, dropping times outside [start, start + n_hours h)."""
    hours = np.floor((np.asarray(times, dtype=np.float64) - start) / HOUR)
    # Filter before the cast: NaN and far-away times do not fit an int64.
    inside: npt.NDArray[np.int64] = hours[(hours >= 0) & (hours < n_hours)].astype(np.int64)
    return inside


class _Tally:
    """Times counted per device and hour into a count channel of the grid, many devices at once.

    Each device's times counted per grid hour (`_hours_of`), added into its row; the
    channel stays uint16 unless a count does not fit (then float32, as `_RowWriter` does).
    """

    _FLUSH = 1 << 16  # times held before counting them (small enough to stay in the CPU's caches)
    _MAX_CELLS = 1 << 18  # hours of the rows counted at once (bounds the counting's memory)

    def __init__(self, channel: Channel, hours: _Hours) -> None:
        """Count into `channel` (n_rows, hours.n), zero to start with."""
        self._channel = channel
        self._hours = hours
        self._times: list[FloatArray] = []
        self._rows: list[int] = []
        self._sizes: list[int] = []
        self._held = 0
        self._first = self._last = 0  # the rows held: from first to last

    def add(self, row: int, times: FloatArray) -> None:
        """Count `times` (any order, those outside the grid ignored) in device row `row`."""
        if times.size == 0:
            return
        if not self._rows:
            self._first = self._last = row
        elif (max(row, self._last) - min(row, self._first) + 1) * self._hours.n > self._MAX_CELLS:
            self._flush()
            self._first = self._last = row
        self._first, self._last = min(row, self._first), max(row, self._last)
        self._times.append(times)
        self._rows.append(row)
        self._sizes.append(times.size)
        self._held += times.size
        if self._held >= self._FLUSH:
            self._flush()

    def _flush(self) -> None:
        if not self._times:
            return
        n = self._hours.n
        first, last = self._first, self._last
        # The hours as `_hours_of` computes them (in place), each moved to its row's cells.
        hours = np.concatenate(self._times) - self._hours.start
        hours /= HOUR
        np.floor(hours, out=hours)
        offset = np.repeat((np.asarray(self._rows, dtype=np.int64) - first) * n, self._sizes)
        inside = hours >= 0
        inside &= hours < n
        if not inside.all():  # filtered before the cast: NaN and far-away times do not fit an int64
            hours, offset = hours[inside], offset[inside]
        cell = hours.astype(np.int64)
        cell += offset
        counts = (
            np.bincount(cell, minlength=(last + 1 - first) * n).reshape(-1, n)
            + self._channel[first : last + 1]
        )
        if self._channel.dtype != np.float32 and counts.max() > _LIMITS[self._channel.dtype.type]:
            self._channel = self._channel.astype(np.float32)
        self._channel[first : last + 1] = counts
        self._times, self._rows, self._sizes, self._held = [], [], [], 0

    def channel(self) -> Channel:
        """The channel with every time counted (uint16, or float32 where a count does not fit)."""
        self._flush()
        return self._channel


def _pick(entities: list[EntityRecord], role: EntityRole) -> EntityRecord | None:
    """First entity with a role."""
    return next((e for e in entities if e.role is role), None)


def _detected_swaps(battery: FloatArray) -> npt.NDArray[np.int64]:
    """Hours where the level jumps from <= 80 % to >= 95 % (a fresh battery)."""
    if battery.size < 2:
        return np.empty(0, dtype=np.int64)
    prev = np.fmax.accumulate(np.where(np.isfinite(battery), np.arange(battery.size), -1))
    before = np.where(prev[:-1] >= 0, battery[np.maximum(prev[:-1], 0)], np.nan)
    jump = (before <= 80.0) & (battery[1:] >= 95.0)
    return (np.nonzero(jump)[0] + 1).astype(np.int64)


def build_grid(
    history: HomeHistory,
    *,
    start: float | None = None,
    end: float | None = None,
    device_keys: list[str] | None = None,
) -> HourlyGrid:
    """Resample a home's history onto an hourly grid (one row per device)."""
    grid_start = hour_start(history.start if start is None else start)
    grid_end = history.end if end is None else end
    n_hours = max(int(np.ceil((grid_end - grid_start) / HOUR)), 1)
    ids = [d.device_key for d in history.devices] if device_keys is None else device_keys
    by_device = _entities_by_device(history, ids)
    channels: dict[str, Channel] = {
        name: np.zeros((len(ids), n_hours), dtype=channel_dtype(name)) for name in CHANNELS
    }
    for name in ("battery", *LEVEL_ROLES):  # unknown until read: a device without the entity keeps NaN
        channels[name].fill(np.nan)
    restarts = np.sort(history.restarts[np.isfinite(history.restarts)])
    power = {d.device_key: d.power for d in history.devices}
    hours = _Hours.of(grid_start, n_hours)
    tallies = {name: _Tally(channels[name], hours) for name in COUNT_CHANNELS}
    rows = [
        _device_row(
            history,
            device_key,
            by_device[device_key],
            power.get(device_key),
            _RowWriter(channels, row),
            _RowTally(tallies, row),
            restarts,
            hours,
        )
        for row, device_key in enumerate(ids)
    ]
    first_seen = np.full(len(ids), n_hours, dtype=np.int64)
    for row, device in enumerate(rows):
        if device.first_seen is not None:
            first_seen[row] = device.first_seen
    # Signs of life come last: a bridge that is back restores the states it held (no sign of
    # life), which needs the hours each device's bridge was out, known from every device. Out:
    # most of its group unavailable at all that hour, so a short outage is one too (down: for
    # most of the hour, what the labels keep out of a device's own outages).
    groups = bridge_groups(history, ids)
    has_battery = np.array([device.has_battery for device in rows], dtype=bool)
    primary_states_from = np.array([device.primary_states_from for device in rows], dtype=np.int64)
    # A home-wide outage is "its bridge was out" for each device it took down (labels, silences).
    bridge_down = _bridge_down(groups, channels["unavailable"]) | _home_down(
        groups, channels["unavailable"], ~has_battery, primary_states_from
    )
    bridge_out = _bridge_down(groups, channels["unavailable"], least=0.0)
    states_from = n_hours
    for row, device_key in enumerate(ids):
        reports, device_from = _reports(history, by_device[device_key], restarts, bridge_out[row], hours)
        for times in reports:
            tallies["reports"].add(row, times)
        states_from = min(states_from, device_from)
    for name, tally in tallies.items():
        channels[name] = tally.channel()
    return HourlyGrid(
        home_id=history.home_id,
        device_keys=list(ids),
        start=grid_start,
        n_hours=n_hours,
        channels=channels,
        has_battery=has_battery,
        first_seen=first_seen,
        swap_hours=[device.swap_hours for device in rows],
        bridge_down=bridge_down,
        states_from=states_from,
        telemetry=np.array([device.telemetry for device in rows], dtype=bool),
        numeric_primary=np.array([device.numeric_primary for device in rows], dtype=bool),
        primary_states_from=primary_states_from,
        opens_unavailable=np.array([device.opens_unavailable for device in rows], dtype=bool),
    )


def _entities_by_device(history: HomeHistory, ids: list[str]) -> dict[str, list[EntityRecord]]:
    """The entities of each listed device; those of unknown devices are logged and dropped."""
    by_device: dict[str, list[EntityRecord]] = {i: [] for i in ids}
    known = {d.device_key for d in history.devices}
    for entity in history.entities:
        if entity.device_key in by_device:
            by_device[entity.device_key].append(entity)
        elif entity.device_key not in known:
            _LOGGER.debug("%s: ignored, its device %s is unknown", entity.entity_id, entity.device_key)
    return by_device


@dataclass(frozen=True, slots=True)
class _RowTally:
    """Adds one device's times to the grid's count channels (`_Tally`)."""

    tallies: dict[str, _Tally]
    row: int

    def add(self, name: str, times: FloatArray) -> None:
        """Count `times` in channel `name` of this device's row."""
        self.tallies[name].add(self.row, times)


class _RowWriter:
    """Writes one device's row of every channel; a count too large for uint16 widens its channel."""

    def __init__(self, channels: dict[str, Channel], row: int) -> None:
        """Write into row `row` of `channels` (the grid's, replaced in place when widened)."""
        self._channels = channels
        self._row = row

    def __setitem__(self, name: str, values: FloatArray) -> None:
        """Store a row of values (n_hours,) in channel `name`."""
        channel = self._channels[name]
        if channel.dtype != np.float32 and values.size:
            limit = _LIMITS[channel.dtype.type]
            if not (np.isfinite(values).all() and values.min() >= 0 and values.max() <= limit):
                channel = self._channels[name] = channel.astype(np.float32)
        channel[self._row] = values


@dataclass(frozen=True, slots=True)
class _DeviceRow:
    """What one device adds to the grid besides its channels."""

    has_battery: bool
    first_seen: int | None  # hour of its first record, None without records
    telemetry: bool
    numeric_primary: bool
    swap_hours: npt.NDArray[np.int64]
    primary_states_from: int  # first hour its primary's state rows cover (n_hours: none)
    opens_unavailable: bool  # a drop is counted there: its primary's first row is `unavailable`


def _device_row(
    history: HomeHistory,
    device_key: str,
    entities: list[EntityRecord],
    power: Power | None,
    channels: _RowWriter,
    counts: _RowTally,
    restarts: FloatArray,
    hours: _Hours,
) -> _DeviceRow:
    """Fill one device's channels (rows of the grid's, (n_hours,) each) and describe the device.

    All but its reports, which need the hours its bridge was out (`build_grid`).
    """
    battery_entity = _pick(entities, EntityRole.BATTERY)
    start, n_hours = hours.start, hours.n
    # A level without its entity stays NaN, as the grid's level channels start (`build_grid`).
    battery = None
    if battery_entity is not None:
        battery = channels["battery"] = _level_channel(history, battery_entity, hours, BATTERY_RANGE)
    for name, role in LEVEL_ROLES.items():
        entity = _pick(entities, role)
        if entity is not None:
            channels[name] = _level_channel(history, entity, hours)
    battery_low = _battery_low_channel(history, _pick(entities, EntityRole.BATTERY_LOW), hours)
    if battery_low is not None:
        channels["battery_low"] = battery_low
    primary = _pick(entities, EntityRole.PRIMARY) or battery_entity or (entities[0] if entities else None)
    first = _first_record(history, entities)
    numeric_primary = False
    primary_states_from = n_hours
    opens_unavailable = False
    if primary is not None and primary.entity_id in history.states:
        series = history.states[primary.entity_id]
        if len(series):
            primary_states_from = min(max(int((series.time[0] - start) // HOUR), 0), n_hours)
        numeric_primary = _is_numeric(primary, series)
        share, drops = _unavailable_share(series, restarts, hours)
        channels["unavailable"] = share
        counts.add("drops", drops)
        # Drops are the times of rows (ascending): one at the first row's time is counted for it.
        opens = drops.size > 0 and drops[0] == series.time[0]
        opens_unavailable = bool(opens and hours.start <= drops[0] < hours.bounds[-1])
        counts.add("changes", _change_times(series))
    known_swaps = history.battery_swaps.get(device_key)
    known = _NO_HOURS if known_swaps is None else _hours_of(known_swaps, start, n_hours)
    detected = _NO_HOURS if battery is None else _detected_swaps(battery)
    swaps = np.union1d(known, detected) if known.size or detected.size else _NO_HOURS
    return _DeviceRow(
        has_battery=battery_entity is not None or power in (Power.BATTERY, Power.RECHARGEABLE),
        first_seen=int(min(max((first - start) // HOUR, 0), n_hours)) if np.isfinite(first) else None,
        telemetry=_has_telemetry(history, entities) or numeric_primary,
        numeric_primary=numeric_primary,
        swap_hours=swaps.astype(np.int64),
        primary_states_from=primary_states_from,
        opens_unavailable=opens_unavailable,
    )


def _battery_low_channel(
    history: HomeHistory, entity: EntityRecord | None, hours: _Hours
) -> FloatArray | None:
    """Carried-forward battery-low flag, 0/1 (0 before the first reading), or None without states."""
    if entity is None or entity.entity_id not in history.states:
        return None
    s = history.states[entity.entity_id]
    on = np.where(s.code >= 0, 0.0, np.nan)
    # A battery_low binary sensor is "on" when low; tokens are per entity.
    on[s.value == 1.0] = 1.0
    on_token = s.token("on")
    if on_token is not None:
        on[s.code == on_token] = 1.0
    flag: FloatArray = np.nan_to_num(_carry_forward(s.time, on, hours.ends))
    return flag


def _reports(
    history: HomeHistory,
    entities: list[EntityRecord],
    restarts: FloatArray,
    bridge_out: Channel,
    hours: _Hours,
) -> tuple[list[FloatArray], int]:
    """The times of a device's signs of life (to count per hour), and the first hour its state rows cover.

    `bridge_out` (n_hours,) flags the hours the device's bridge was out (most of its group
    unavailable): the rows that restore its held state when the bridge is back are no signs
    of life (`_bridge_restored_rows`).

    The replayed and restored rows are few: they are found as row numbers, and the rows
    that are not `unavailable` are all signs of life when there are none.
    """
    start, n_hours = hours.start, hours.n
    states_from = n_hours
    bridge_was_out = bool(bridge_out.any())
    # Every sign of life of the device's entities, counted per hour together (counts are whole
    # numbers, so one count of them all equals the sum of per-entity counts exactly).
    times: list[FloatArray] = []
    for entity in entities:
        # A level kept in an attribute comes from its entity's rows, already counted.
        series = None if entity.attribute is not None else history.states.get(entity.entity_id)
        if series is None or len(series) == 0:
            continue
        time = series.time
        states_from = min(states_from, max(int((time[0] - start) // HOUR), 0))
        valid = series.code != UNAVAILABLE
        restored = _bridge_restored_rows(series, bridge_out, start) if bridge_was_out else _NO_ROWS
        replayed = _replayed_rows(series, restarts)
        alive = valid
        if restored.size or replayed.size:
            alive = valid.copy()
            alive[restored] = False
            alive[replayed] = False
        times.append(time[alive])
        if series.last_reported is not None:
            # HA >= 2024.3 re-reports an unchanged state in place: still a sign of life, a
            # replayed or restored state's too (the device reported it again), unless in the
            # restart's replay window or, for a restored state, the bridge's restore window.
            again = series.last_reported
            later = valid & np.isfinite(again) & (again > time + 1.0)
            later[restored] &= again[restored] > time[restored] + BRIDGE_RESTORE_SECONDS
            reported = again[later]
            # Each is after its row, so after the first row: none is in a replay window when the
            # first row is past the last restart's (`_in_replay_window`, same arithmetic).
            if reported.size and not _past_every_replay(float(time[0]), restarts):
                reported = reported[~_in_replay_window(reported, restarts)]
            times.append(reported)
    return times, states_from


def _first_record(history: HomeHistory, entities: list[EntityRecord]) -> float:
    """Time of a device's first state row or statistics hour (inf without any)."""
    first = np.inf
    for entity in entities:
        series = history.states.get(entity.entity_id)
        if series is not None and len(series) > 0:
            first = min(first, float(series.time[0]))
    for entity in entities:
        stat = history.statistics.get(entity.entity_id)
        if stat is not None and np.isfinite(stat.start).any():
            first = min(first, float(stat.start[np.isfinite(stat.start)].min()))
    return float(first)


def _has_telemetry(history: HomeHistory, entities: list[EntityRecord]) -> bool:
    """Whether the device has a telemetry entity with any record."""
    return any(
        e.role in TELEMETRY_ROLES and (e.entity_id in history.states or e.entity_id in history.statistics)
        for e in entities
    )


def _is_numeric(primary: EntityRecord, series: StateSeries) -> bool:
    """Whether a main entity reports numbers (at least 80 % of its valid states)."""
    valid_rows = series.code >= 0
    if valid_rows.any() and primary.role is EntityRole.PRIMARY:
        # The share as np.mean computes it: a whole-number count over the rows, in float64.
        return bool(
            np.count_nonzero(np.isfinite(series.value[valid_rows])) / np.count_nonzero(valid_rows) >= 0.8
        )
    return False


def _change_times(series: StateSeries) -> FloatArray:
    """Times of the changes of an entity's valid state (its first valid state counts as one)."""
    valid = series.code >= 0
    codes = series.code[valid]
    changed = np.ones(codes.shape[0], dtype=bool)
    changed[1:] = codes[1:] != codes[:-1]
    times: FloatArray = series.time[valid][changed]
    return times


def bridge_groups(history: HomeHistory, device_keys: list[str]) -> npt.NDArray[np.int64]:
    """Group index per device: its bridge (via device), else its integration."""
    info = {d.device_key: d for d in history.devices}
    keys: dict[str, int] = {}
    out = np.empty(len(device_keys), dtype=np.int64)
    for i, device_key in enumerate(device_keys):
        d = info.get(device_key)
        key = "?" if d is None else (d.via_device_key or f"integration:{d.integration}")
        out[i] = keys.setdefault(key, len(keys))
    return out


def _bridge_down(groups: npt.NDArray[np.int64], unavailable: Channel, least: float = 0.5) -> Channel:
    """1 (uint8) where most devices of a device's bridge group (`bridge_groups`) were unavailable that hour.

    Unavailable: for more than `least` of the hour (0.0: at all, `_bridge_restored_rows`).
    """
    out = np.zeros(unavailable.shape, dtype=np.uint8)
    for g in np.unique(groups):
        members = groups == g
        if members.sum() < BRIDGE_MIN_DEVICES:
            continue
        share = (unavailable[members] > least).mean(axis=0)
        out[members] = share >= BRIDGE_DOWN_SHARE
    return out


def home_down(history: HomeHistory, grid: HourlyGrid) -> Channel:
    """1 (uint8, (n_devices, n_hours)) where a device was down in a home-wide outage (`_home_down`).

    Read off a grid's unavailable channel, with the bridge groups of `history`'s devices; the grid's
    `bridge_down` already holds these hours (`build_grid`), this tells them from a bridge's.
    """
    assert grid.primary_states_from is not None  # set by HourlyGrid.__post_init__
    return _home_down(
        bridge_groups(history, grid.device_keys),
        grid.channels["unavailable"],
        ~np.asarray(grid.has_battery, dtype=bool),
        grid.primary_states_from,
    )


def _home_down(
    groups: npt.NDArray[np.int64],
    unavailable: Channel,
    mains: npt.NDArray[np.bool_],
    known_from: npt.NDArray[np.int64],
) -> Channel:
    """1 (uint8) where a device was down in a home-wide outage, (n_devices, n_hours).

    Down: unavailable for most of the hour, as `_bridge_down` reads it. Only outages whose start is
    known count: one that starts where the device's state rows begin (`known_from`,
    (n_devices,)) may have begun earlier. A home-wide outage: HOME_MIN_DEVICES outages or more of
    `mains` devices (n_devices,), of HOME_MIN_GROUPS bridge groups (`bridge_groups`), that began
    within HOME_START_HOURS of the first of them, for the hours they are under way together. Each
    of those outages, and each of a device with a battery begun within HOME_START_HOURS of one of
    them (a Wi-Fi camera when the router is down; it does not count towards the outage), is part
    of it from its start through the last such hour; a device still down once the others are back
    is down on its own from then on. Windows are taken in order of start, each mains outage in one
    at most: a chain of starts a few hours apart is one outage or none, not its middle.
    """
    out = np.zeros(unavailable.shape, dtype=np.uint8)
    down = unavailable > 0.5
    # Most hours of most homes: fewer devices without a battery down than make one.
    if int(np.count_nonzero(mains)) < HOME_MIN_DEVICES or (down[mains].sum(axis=0) < HOME_MIN_DEVICES).all():
        return out
    row, start, end = _outages(down)
    known = start > known_from[row]
    row, start, end = row[known], start[known], end[known]
    order = np.argsort(start, kind="stable")
    row, start, end = row[order], start[order], end[order]
    counted = np.flatnonzero(mains[row])  # the outages that make one (indices into row/start/end)
    first = start[counted]
    until = np.searchsorted(first, first + HOME_START_HOURS, side="right")
    battery = ~mains[row]
    last = np.full(start.size, -1, dtype=np.int64)  # each outage's last hour in a home-wide one
    taken = 0  # mains outages before this one are in a window already
    # Only windows with enough outages are looked at (a home of flaky devices has thousands).
    for k in np.flatnonzero(until - np.arange(counted.size) >= HOME_MIN_DEVICES):
        if k < taken:
            continue
        near = counted[k : int(until[k])]
        if np.unique(groups[row[near]]).size < HOME_MIN_GROUPS:
            continue
        taken = int(until[k])
        shared = _shared_hours(start[near], end[near], groups[row[near]])
        if shared.size == 0:  # begun together, never down together
            continue
        lo = int(np.searchsorted(start, first[k] - HOME_START_HOURS, side="left"))
        hi = int(np.searchsorted(start, first[taken - 1] + HOME_START_HOURS, side="right"))
        members = np.arange(lo, hi)
        members = members[battery[members] | np.isin(members, near)]
        at = np.searchsorted(shared, end[members], side="left") - 1
        hit = np.where(at >= 0, shared[np.maximum(at, 0)], -1)
        last[members] = np.maximum(last[members], np.where(hit >= start[members], hit, -1))
    part = np.flatnonzero(last >= 0)
    if part.size == 0:
        return out
    # Each part [start, last] marked with running sums, on the rows that have one.
    rows, at_row = np.unique(row[part], return_inverse=True)
    edges = np.zeros((rows.size, unavailable.shape[1] + 1), dtype=np.int32)
    np.add.at(edges, (at_row, start[part]), 1)
    np.add.at(edges, (at_row, last[part] + 1), -1)
    out[rows] = np.cumsum(edges, axis=1)[:, :-1] > 0
    return out


def _shared_hours(
    start: npt.NDArray[np.intp], end: npt.NDArray[np.intp], group: npt.NDArray[np.int64]
) -> npt.NDArray[np.intp]:
    """The hours (sorted) when HOME_MIN_DEVICES of these outages, of HOME_MIN_GROUPS groups, are under way.

    A device's outages never overlap: that many outages are that many devices. Counted once over
    their hours with running sums, not outage by outage.
    """
    lo, hi = int(start.min()), int(end.max())
    width = hi - lo + 1
    count = np.zeros(width, dtype=np.int64)
    np.add.at(count, start - lo, 1)
    np.add.at(count, end - lo, -1)
    _, g = np.unique(group, return_inverse=True)
    per_group = np.zeros((int(g.max()) + 1, width), dtype=np.int64)
    np.add.at(per_group, (g, start - lo), 1)
    np.add.at(per_group, (g, end - lo), -1)
    together = (np.cumsum(count) >= HOME_MIN_DEVICES) & (
        (np.cumsum(per_group, axis=1) > 0).sum(axis=0) >= HOME_MIN_GROUPS
    )
    shared: npt.NDArray[np.intp] = np.flatnonzero(together[:-1]) + lo
    return shared


def _outages(down: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], ...]:
    """Every run of `down` (n, n_hours): its row, first hour and end (exclusive), row by row."""
    n, n_hours = down.shape
    edges = np.zeros((n, n_hours + 2), dtype=np.int8)
    edges[:, 1:-1] = down
    step = np.diff(edges, axis=1)
    row, start = np.nonzero(step == 1)
    _, end = np.nonzero(step == -1)
    return row, start, end
