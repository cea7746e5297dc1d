"""A window of recorder history kept between readings, moved forward by reading new rows only.

`read_history(start, end)` returns, per entity, the rows of [start, end)
opened by the entity's last state before `start` (at time `start`), the
hourly statistics of [start, end), and the restarts and battery swaps of
[start, end). `advance` builds exactly that from the history of an earlier
window and a read of [overlap, end) only, where `overlap` lies inside the
earlier window (`read_start`): rows at or after `overlap` are taken from the
new read (rows the recorder wrote late, the last row's `last_reported` moved
forward in place), earlier rows from the kept history, and rows before the new
window's start fold into its opening row as the reader's would. Hourly
statistics are read from further back (`statistics_read_start`): the
recorder compiles an hour's statistics only after the hour, so the hour
before the kept window's end may have been compiled since.

It cannot know what the recorder deleted or rewrote before `overlap` (a
purge, `purge_entities`, an imported statistic): the caller reads everything
again when that may have happened (see `needs_full_read`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..records import FloatArray, HomeHistory, StateSeries, StatSeries
from .buffers import RowBuffers
from .decoding import empty_series, merge_series, parse_times
from .schema import SchemaInfo, states_source
from .sql import QueryFn, fetch

# New state rows and events are read from this long before the end of the kept window:
# the recorder commits them a few seconds late (its commit interval, 5 s by default;
# minutes when its queue backs up: then the next reading is whole, `recorder_source`). A row
# committed later than this otherwise is missed until the next full read (at the latest
# after the nightly purge, see `needs_full_read`). Each
# re-read row costs hourly time: 15 minutes instead of 2 hours halves the rows read.
OVERLAP_SECONDS = 15 * 60.0
# Hourly statistics are read from this long before: the recorder compiles an hour's
# statistics just after the hour, so the kept window may lack its last hour's (a few
# rows per entity: cheap to read again).
STATISTICS_OVERLAP_SECONDS = 2 * 3600.0
# A kept window older than this, or one whose end is in the future, is read again.
MAX_GAP_SECONDS = 6 * 3600.0


def read_start(kept: HomeHistory) -> float:
    """Where the read of new rows begins for a kept window: `OVERLAP_SECONDS` before its end."""
    return max(kept.end - OVERLAP_SECONDS, kept.start)


def statistics_read_start(kept: HomeHistory) -> float:
    """Where that read's statistics begin: `STATISTICS_OVERLAP_SECONDS` before the kept window's end."""
    return max(kept.end - STATISTICS_OVERLAP_SECONDS, kept.start)


def needs_full_read(
    kept: HomeHistory | None, *, start: float, end: float, oldest_row: float | None
) -> str | None:
    """Why the window [start, end) must be read whole instead of advanced from `kept`, or None.

    `oldest_row` is the time of the recorder's oldest state row (None: no rows
    or unknown): when it is newer than a row the kept window holds, the
    recorder purged rows the kept window still has.
    """
    if kept is None:
        return "nothing kept"
    if end < kept.end:
        return "the clock went back"
    if end - kept.end > MAX_GAP_SECONDS:
        return "too long since the last reading"
    if start < kept.start or start > read_start(kept):
        return "another window"
    kept_oldest = oldest_real_row(kept)
    if oldest_row is not None and kept_oldest is not None and oldest_row > kept_oldest:
        return "the recorder purged rows"
    return None


def oldest_state_time(query: QueryFn, schema: SchemaInfo) -> float | None:
    """Time of the recorder's oldest state row (one indexed MIN), None without rows."""
    src = states_source(schema)
    rows = fetch(query, f"SELECT MIN({src.time}) FROM states", {})
    if not rows or rows[0][0] is None:
        return None
    value = float(parse_times([rows[0][0]], src.numeric_time)[0])
    return value if np.isfinite(value) else None


def oldest_real_row(history: HomeHistory) -> float | None:
    """The earliest state row after the window's start (opening rows left out), None without any."""
    firsts = []
    for series in history.states.values():
        later = series.time[series.time > history.start]
        if later.size:
            firsts.append(float(later[0]))
    return min(firsts) if firsts else None


def same_entities(kept: HomeHistory, new: HomeHistory) -> bool:
    """Whether two histories describe the same devices and entities (so their rows can be joined)."""
    return kept.home_id == new.home_id and kept.devices == new.devices and kept.entities == new.entities


@dataclass(frozen=True, slots=True)
class _Rows:
    """Row selection helpers on one series."""

    series: StateSeries

    def take(self, lo: int, hi: int) -> StateSeries:
        s = self.series
        return StateSeries(
            time=s.time[lo:hi],
            value=s.value[lo:hi],
            code=s.code[lo:hi],
            labels=s.labels,
            last_reported=None if s.last_reported is None else s.last_reported[lo:hi].copy(),
        )


def advance(
    kept: HomeHistory,
    new: HomeHistory,
    *,
    start: float,
    buffers: RowBuffers | None = None,
    statistics_start: float | None = None,
) -> HomeHistory | None:
    """What `read_history(start, new.end)` returns, from `kept` and `new`, a read of [new.start, new.end).

    `new.start` must lie in `kept`'s window (`kept.start < new.start <=
    kept.end`), `start` between `kept.start` and `new.start`, and both must
    describe the same devices and entities; otherwise None (read the whole
    window instead). `statistics_start`: where `new`'s statistics begin when
    read from further back (`read_history(statistics_start=...)`), from
    `kept.start` to `new.start`.

    `buffers` (`RowBuffers`, kept with the window): the result's series are
    written into them, copying only the new rows; `kept` is then superseded
    (its arrays change), and after None the buffers must be cleared.
    """
    overlap = new.start
    stats_overlap = overlap if statistics_start is None else statistics_start
    if not (kept.start < overlap <= kept.end <= new.end and kept.start <= start <= overlap):
        return None
    if not kept.start <= stats_overlap <= overlap:
        return None
    if not same_entities(kept, new):
        return None
    states = _advance_states(kept, new, start, buffers)
    if states is None:
        return None
    statistics: dict[str, StatSeries] = {}
    for key in set(kept.statistics) | set(new.statistics):
        stat = _join_statistics(kept.statistics.get(key), new.statistics.get(key), stats_overlap, start)
        if stat is not None:
            statistics[key] = stat
    swaps: dict[str, FloatArray] = {}
    for device in set(kept.battery_swaps) | set(new.battery_swaps):
        times = _join_times(kept.battery_swaps.get(device), new.battery_swaps.get(device), overlap, start)
        if times.size:
            swaps[device] = times
    return replace(
        kept,
        start=start,
        end=new.end,
        states=states,
        statistics=statistics,
        battery_swaps=swaps,
        restarts=_join_times(kept.restarts, new.restarts, overlap, start),
    )


def _advance_states(
    kept: HomeHistory, new: HomeHistory, start: float, buffers: RowBuffers | None
) -> dict[str, StateSeries] | None:
    """Every entity's rows of the new window (None if one cannot be joined), in `buffers` if given."""
    overlap = new.start
    states: dict[str, StateSeries] = {}
    for entity in kept.entities:
        key = entity.series_key
        old = kept.states.get(key)
        fresh = new.states.get(key)
        if old is None and fresh is None:
            continue
        done = None
        if buffers is not None and old is not None and fresh is not None:
            done = buffers.advance(key, old, fresh, overlap, start)
        if done is not None:
            states[key] = done
            continue
        joined = _join_states(old, fresh, overlap)
        if joined is None:
            return None
        opened = _open_at(joined, start)
        states[key] = opened if buffers is None else buffers.adopt(key, opened)
    if buffers is not None:
        buffers.retain(states)
    return states


def _join_states(old: StateSeries | None, fresh: StateSeries | None, overlap: float) -> StateSeries | None:
    """Kept rows before `overlap`, then the new read's rows (its opening row folded into the kept one)."""
    with_reported = (old if old is not None else fresh).last_reported is not None  # type: ignore[union-attr]
    if old is None:
        old = empty_series(with_reported)
    if fresh is None:
        fresh = empty_series(with_reported)
    if (old.last_reported is None) != (fresh.last_reported is None):
        return None
    before = int(np.searchsorted(old.time, overlap, side="left"))
    head = _Rows(old).take(0, before)
    tail = fresh
    real_at_overlap = before < len(old) and old.time[before] == overlap
    if len(fresh) and fresh.time[0] == overlap and not real_at_overlap:
        # The new read's opening row: the last kept row, maybe re-reported since.
        if before == 0:
            return None  # a state before the window the kept history never saw
        if head.last_reported is not None and fresh.last_reported is not None:
            reported = float(fresh.last_reported[0])
            if reported > overlap:
                head.last_reported[-1] = max(float(head.last_reported[-1]), reported)
        tail = _Rows(fresh).take(1, len(fresh))
    elif before > 0:
        return None  # the kept rows before `overlap` are gone from the recorder
    pieces = [p for p in (head, tail) if len(p)]
    if not pieces:
        return empty_series(with_reported)
    return merge_series(pieces)


def _open_at(series: StateSeries, start: float) -> StateSeries:
    """The rows from `start` on, opened by the last earlier row moved to `start` (as the reader does)."""
    first = int(np.searchsorted(series.time, start, side="left"))
    if first == 0:
        return series
    if first < len(series) and series.time[first] == start:
        return merge_series([_Rows(series).take(first, len(series))])
    rows = _Rows(series).take(first - 1, len(series))
    time = rows.time.copy()  # the slice is a view of the kept rows
    time[0] = start
    reported = None
    if rows.last_reported is not None:
        reported = rows.last_reported
        reported[0] = reported[0] if reported[0] > start else start
    return merge_series(
        [StateSeries(time=time, value=rows.value, code=rows.code, labels=rows.labels, last_reported=reported)]
    )


def _join_statistics(
    old: StatSeries | None, fresh: StatSeries | None, overlap: float, start: float
) -> StatSeries | None:
    """Kept statistics hours in [start, overlap), then the new read's from `start` on; None without any."""
    parts = []
    if old is not None:
        keep = (old.start >= start) & (old.start < overlap)
        parts.append(StatSeries(old.start[keep], old.mean[keep], old.min[keep], old.max[keep]))
    if fresh is not None:
        if overlap < start:  # the statistics were read from before the window's new start
            inside = fresh.start >= start
            fresh = StatSeries(fresh.start[inside], fresh.mean[inside], fresh.min[inside], fresh.max[inside])
        parts.append(fresh)
    parts = [p for p in parts if len(p)]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return StatSeries(
        start=np.concatenate([p.start for p in parts]),
        mean=np.concatenate([p.mean for p in parts]),
        min=np.concatenate([p.min for p in parts]),
        max=np.concatenate([p.max for p in parts]),
    )


def _join_times(old: FloatArray | None, fresh: FloatArray | None, overlap: float, start: float) -> FloatArray:
    """Sorted unique times: kept ones in [start, overlap), then the new read's."""
    kept = np.empty(0) if old is None else old[(old >= start) & (old < overlap)]
    added = np.empty(0) if fresh is None else fresh
    return np.unique(np.concatenate([kept, added]).astype(np.float64))
