"""What the recorder writes: an entity's rows through availability and restarts, and their encoding.

Also the inverse (`state_strings`: the state string of each row) and the
hourly long-term statistics of a numeric series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, cast

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.records import (
    UNAVAILABLE,
    UNKNOWN,
    EntityRecord,
    StateSeries,
    StatSeries,
    tokenize_positions,
)

from .arrays import BoolArray, FloatArray, Int64Array, _floats, _floor_div, _inside
from .config import HOUR
from .plans import _UNAVAILABLE_KEY, _UNKNOWN_KEY, _Device, _EntitySpec, _Home
from .streams import _stream


class _Rows(NamedTuple):
    """Rows being assembled: times, row keys, attributes, and which are written anyway."""

    t: FloatArray
    key: FloatArray
    attr: FloatArray
    forced: BoolArray


@dataclass(frozen=True, slots=True)
class _Replays:
    """HA's restarts after an entity exists, and how its integration replays the entity."""

    restarts: FloatArray
    downtime: FloatArray  # how long HA was down before each restart
    at: FloatArray  # when the integration replays the entity
    end: FloatArray  # when the replay is over
    flicker: bool  # whether the entity shows `unavailable` first
    unavailable_for: float  # for how long


_NO_ROWS: tuple[FloatArray, FloatArray, FloatArray, bool] = (np.empty(0), np.empty(0), np.empty(0), False)


def _insert(rows: _Rows, inserts: list[tuple[FloatArray, FloatArray, FloatArray, bool]]) -> _Rows:
    """Insert groups of rows into sorted rows, in one pass.

    The same rows as inserting the groups one after the other: each group kept
    in its given order at equal times (a stable sort), and each inserted row
    placed after the rows already there at its time (so, at equal times, the
    original rows, then the first group's, then the next group's).
    """
    groups = [group for group in inserts if group[0].size]
    if not groups:
        return rows
    ins_t = np.concatenate([g[0] for g in groups]) if len(groups) > 1 else groups[0][0]
    order = np.argsort(ins_t, kind="stable")
    ins_t = ins_t[order]
    ins_key = (np.concatenate([g[1] for g in groups]) if len(groups) > 1 else groups[0][1])[order]
    ins_attr = (np.concatenate([g[2] for g in groups]) if len(groups) > 1 else groups[0][2])[order]
    ins_forced = np.concatenate([np.full(g[0].size, g[3]) for g in groups])[order]
    m = ins_t.size
    at = np.searchsorted(rows.t, ins_t, side="right") + np.arange(m)
    old = np.ones(rows.t.size + m, dtype=np.bool_)
    old[at] = False

    def merge[T: np.generic](base: npt.NDArray[T], extra: npt.NDArray[T]) -> npt.NDArray[T]:
        out = np.empty(old.size, dtype=base.dtype)
        out[at] = extra
        out[old] = base
        return out

    return _Rows(
        merge(rows.t, ins_t),
        merge(rows.key, ins_key),
        merge(rows.attr, ins_attr),
        merge(rows.forced, ins_forced),
    )


def _entity_series(spec: _EntitySpec, dev: _Device, home: _Home) -> StateSeries:
    """Build one entity's recorder rows: availability, restarts, change-only writes."""
    stream = _stream(spec, dev, home)
    t_org, key_org = stream.time, stream.key
    attr_org = stream.attr if stream.attr is not None else np.zeros_like(t_org)
    replays = _replays(dev, home, float(t_org[0]))
    # 1. what the device got through to its integration, then what HA recorded
    sent = _sent(dev, t_org)
    t_dev, key_dev, attr_dev = t_org[sent], key_org[sent], attr_org[sent]
    rows = _recorded(t_dev, key_dev, attr_dev, replays)
    # 2. unavailable episodes, and the state HA gets when the device is back;
    # 3. restart replays of the state the integration holds for the device
    # (inserted in one pass, after the unavailable rows at equal times).
    inserts = [_with_unavailable(dev, home, (t_org, key_org, attr_org), (t_dev, key_dev, attr_dev))]
    if replays.restarts.size:
        inserts.append(_with_replays(dev, replays, t_dev, key_dev, attr_dev))
    rows = _insert(rows, inserts)
    # 4. the recorder writes a row only when the state or its attributes change
    return _written(spec, home, rows, stream.labels)


def _replays(dev: _Device, home: _Home, t0: float) -> _Replays:
    """Restarts after the entity exists: HA is down, then replays the entity."""
    use = home.restarts > t0 + 1.0
    restarts, downtime = home.restarts[use], home.downtime[use]
    flicker, delay, unavailable_for = home.restart_mode[dev.info.integration]
    delays = delay + dev.rng.uniform(0.0, 2.0, restarts.size)
    replay_end = restarts + delays + (unavailable_for if flicker else 0.0)
    return _Replays(
        restarts=restarts,
        downtime=downtime,
        at=restarts + delays,
        end=replay_end,
        flicker=flicker,
        unavailable_for=unavailable_for,
    )


def _sent(dev: _Device, t_org: FloatArray) -> BoolArray:
    """Return which of a stream's rows the device got through (not silent, not dropped)."""
    silent_lo, silent_hi = dev.silent
    sent = ~_inside(t_org, silent_lo, silent_hi)
    for knots_t, knots_p in dev.drops:
        sent &= dev.rng.random(t_org.size) >= np.interp(t_org, knots_t, knots_p)
    sent[0] = True
    return sent


def _recorded(t_dev: FloatArray, key_dev: FloatArray, attr_dev: FloatArray, replays: _Replays) -> _Rows:
    """Return the rows HA recorded: none while it is down or replaying after a restart."""
    keep = ~_inside(t_dev, replays.restarts - replays.downtime, replays.end)
    keep[0] = True
    t, key, attr = t_dev[keep], key_dev[keep], attr_dev[keep]
    forced: BoolArray = np.zeros(t.size, dtype=np.bool_)
    forced[0] = True
    return _Rows(t, key, attr, forced)


def _with_unavailable(
    dev: _Device,
    home: _Home,
    stream: tuple[FloatArray, FloatArray, FloatArray],
    sent: tuple[FloatArray, FloatArray, FloatArray],
) -> tuple[FloatArray, FloatArray, FloatArray, bool]:
    """Return the rows of the device's unavailable episodes, and of the state HA gets when it is back.

    `stream` and `sent`: the times, keys and attributes of the device's stream and of what it
    got through. Back on its own, the device sends its stream's state; when its bridge is back
    (an episode ending at one of `dev.bridge_backs`), the bridge restores the state it held,
    the last one the device sent (a dead device's too).
    """
    t_org, key_org, attr_org = stream
    t_dev, key_dev, attr_dev = sent
    t0 = float(t_org[0])
    u_lo, u_hi = dev.unavailable
    if u_lo.size == 0 and u_hi.size == 0:
        return _NO_ROWS
    starts = u_lo[u_lo >= t0]
    back = u_hi[(u_hi > t0) & (u_hi < home.end)]
    idx = np.searchsorted(t_org, back, side="right") - 1
    key, attr = key_org[idx], attr_org[idx]
    restored = np.isin(back, dev.bridge_backs)
    if restored.any():
        held = np.searchsorted(t_dev, back[restored], side="right") - 1
        key[restored], attr[restored] = key_dev[held], attr_dev[held]
    return (
        np.concatenate([starts, back]),
        np.concatenate([np.full(starts.size, _UNAVAILABLE_KEY), key]),
        np.concatenate([np.zeros(starts.size), attr]),
        False,
    )


def _with_replays(
    dev: _Device, replays: _Replays, t_dev: FloatArray, key_dev: FloatArray, attr_dev: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, bool]:
    """Return the restart replays of the state the integration holds for the device."""
    at = replays.at
    u_lo, u_hi = dev.unavailable
    latest = np.searchsorted(t_dev, at, side="right") - 1
    down = _inside(at, u_lo, u_hi)
    held = np.where(down, _UNAVAILABLE_KEY, key_dev[latest])
    held_attr = np.where(down, 0.0, attr_dev[latest])
    if replays.flicker:
        up = held != _UNAVAILABLE_KEY
        ins_t = np.concatenate([at, (at + replays.unavailable_for)[up]])
        ins_key = np.concatenate([np.full(at.size, _UNAVAILABLE_KEY), held[up]])
        ins_attr = np.concatenate([np.zeros(at.size), held_attr[up]])
    else:
        ins_t, ins_key, ins_attr = at, held, held_attr
    return ins_t, ins_key, ins_attr, True


def _written(spec: _EntitySpec, home: _Home, rows: _Rows, labels: tuple[str, ...]) -> StateSeries:
    """Keep the rows the recorder writes and encode them.

    A row is written only when the state or its attributes change; an unchanged
    report only moves the row's last_reported (HA >= 2024.3).
    """
    t, key, attr, forced = rows
    inside = t <= home.end
    if not inside.all():  # most entities have no row after the end: no copies then
        t, key, attr, forced = t[inside], key[inside], attr[inside], forced[inside]
    write = forced.copy()
    write[1:] |= (key[1:] != key[:-1]) | (attr[1:] != attr[:-1])
    kept = np.flatnonzero(write)
    last_reported = t[np.append(kept[1:] - 1, t.size - 1)]
    return _encode(spec, t[kept], key[kept], last_reported, labels)


def _encode(
    spec: _EntitySpec,
    t: FloatArray,
    key: FloatArray,
    last_reported: FloatArray,
    labels: tuple[str, ...],
) -> StateSeries:
    """Turn row keys into a `StateSeries` with `records.tokenize_positions`, the one encoder.

    Numeric states get tokens in order of first appearance (as the recorder
    reader numbers them); the others keep their symbol's index in `labels`.
    A numeric row keeps its drawn value (`float()` of its label).
    """
    unavailable = key == _UNAVAILABLE_KEY
    valid = ~unavailable & (key != _UNKNOWN_KEY)
    if spec.numeric:
        # What `tokenize_positions` gives for number strings (never special states),
        # without parsing them back: each value's token is its vocabulary position.
        vocabulary, position = _numeric_vocabulary(key[valid])
        code = np.where(unavailable, UNAVAILABLE, UNKNOWN).astype(np.int32)
        code[valid] = position
        # (t, key and last_reported are this entity's own arrays: no copies for the series)
        return StateSeries(
            time=t.astype(np.float64, copy=False),
            value=np.where(valid, key, np.nan).astype(np.float64, copy=False),
            code=code,
            labels=vocabulary,
            last_reported=last_reported.astype(np.float64, copy=False),
        )
    index = np.where(unavailable, len(labels), len(labels) + 1)
    index[valid] = key[valid].astype(np.int64)
    tokens = tokenize_positions(index, (*labels, "unavailable", "unknown"))
    return StateSeries(
        time=t.astype(np.float64, copy=False),
        value=tokens.value.astype(np.float64, copy=False),
        code=tokens.code,
        labels=tokens.labels,
        last_reported=last_reported.astype(np.float64, copy=False),
    )


def _numeric_vocabulary(values: FloatArray) -> tuple[tuple[str, ...], Int64Array]:
    """Return the number strings of values in order of first appearance, and each value's index there.

    As `np.unique(values, return_index=True, return_inverse=True)` ranked by first
    index, with one sort (equal values, 0.0 and -0.0 too, share a string).
    """
    n = values.size
    perm = np.argsort(values)  # equal values in any order (much faster than a stable sort)
    ordered = values[perm]
    if n == 0 or np.isnan(ordered[-1]):  # NaN (sorted last): np.unique's handling
        return _numeric_vocabulary_nan(values)
    new = np.empty(n, dtype=np.bool_)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    first = np.minimum.reduceat(perm, np.flatnonzero(new))  # each value's first row
    group = np.cumsum(new) - 1
    order = np.argsort(first)
    rank = np.empty(first.size, dtype=np.int64)
    rank[order] = np.arange(first.size, dtype=np.int64)
    position = np.empty(n, dtype=np.int64)
    position[perm] = rank[group]
    return tuple([_number_string(v) for v in _floats(values[first[order]])]), position


def _numeric_vocabulary_nan(values: FloatArray) -> tuple[tuple[str, ...], Int64Array]:
    unique, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(first.size, dtype=np.int64)
    rank[order] = np.arange(first.size, dtype=np.int64)
    return tuple(_number_string(v) for v in _floats(unique[order])), rank[inverse]


def _number_string(value: float) -> str:
    """Return a number as a sensor state string ("95", "21.3")."""
    return str(int(value)) if value.is_integer() else repr(value)


def hourly_statistics(series: StateSeries, start: float, end: float) -> StatSeries:
    """Return hourly time-weighted mean, min and max of a numeric state series.

    Only whole hours within [start, end] count; time spent unavailable/unknown
    (or before the first row) is left out, and hours with no valid time get no row.
    """
    first_hour = math.ceil(start / HOUR) * HOUR
    n_hours = int((math.floor(end / HOUR) * HOUR - first_hour) // HOUR)
    if n_hours <= 0 or len(series) == 0:
        empty = np.empty(0)
        return StatSeries(start=empty, mean=empty.copy(), min=empty.copy(), max=empty.copy())
    bounds = first_hour + HOUR * np.arange(n_hours + 1, dtype=np.float64)
    t, v = series.time, series.value
    valid = np.isfinite(v)
    every = bool(valid.all())
    good = v if every else v[valid]
    offset = _median(good) if good.size else 0.0
    # small numbers keep the running sums exact
    centred = v - offset if every else np.where(valid, v - offset, 0.0)
    # Running integrals of the value and of the valid time, at each row, then at each bound.
    step = np.diff(t)
    integral = np.empty(t.size)
    integral[0] = 0.0
    np.cumsum(centred[:-1] * step, out=integral[1:])
    covered = np.empty(t.size)
    covered[0] = 0.0
    # (x * 1.0 is x: with every row valid, the valid time is the time)
    np.cumsum(step if every else valid[:-1] * step, out=covered[1:])
    row = np.searchsorted(t, bounds, side="right") - 1
    if row[0] >= 0:  # rows from before the first bound on (`row` ascends)
        at = row
        since = bounds - t[at]
        integral_b = integral[at] + centred[at] * since
        covered_b = covered[at] + (since if every else valid[at] * since)
    else:
        at = np.maximum(row, 0)
        before = row < 0
        since = np.where(before, 0.0, bounds - t[at])
        integral_b = np.where(before, 0.0, integral[at] + centred[at] * since)
        covered_b = np.where(before, 0.0, covered[at] + valid[at] * since)
    total = np.diff(covered_b)
    has = total > 0
    mean = np.diff(integral_b)[has] / total[has] + offset
    # min/max: the value held at the start of each hour and every value set within it
    head = at[:-1]
    if every and row[0] >= 0:
        low = v[head]
        high = low.copy()
    else:
        held = np.where((row[:-1] >= 0) & valid[head], v[head], np.nan)
        unset = np.isnan(held)
        low = np.where(unset, np.inf, held)
        high = np.where(unset, -np.inf, held)
    inside = (t > bounds[0]) & (t < bounds[-1])
    if not every:
        inside &= valid
    if inside.any():
        values = v[inside]
        hours = _floor_div(t[inside] - first_hour, HOUR).astype(np.int64)
        new = np.empty(hours.size, dtype=np.bool_)
        new[0] = True
        np.not_equal(hours[1:], hours[:-1], out=new[1:])
        first = np.flatnonzero(new)
        group = hours[first]
        low[group] = np.minimum(low[group], np.minimum.reduceat(values, first))
        high[group] = np.maximum(high[group], np.maximum.reduceat(values, first))
    low, high = low[has], high[has]
    return StatSeries(start=bounds[:-1][has].copy(), mean=np.clip(mean, low, high), min=low, max=high)


def _median(values: FloatArray) -> float:
    """`float(np.median(values))` of finite values, with the same arithmetic and less overhead."""
    half = values.size // 2
    # np.median takes the mean of the middle one or two: a sum from 0.0 (so -0.0 is 0.0), divided
    if values.size % 2:
        return float(0.0 + np.partition(values, half)[half])
    part = np.partition(values, (half - 1, half))
    return float((0.0 + part[half - 1] + part[half]) / 2.0)


def state_strings(entity: EntityRecord, series: StateSeries) -> list[str]:
    """Return the state strings of an entity's rows (for export and display)."""
    labels = series.labels
    out: list[str] = []
    for code, value in zip(cast("list[int]", series.code.tolist()), _floats(series.value), strict=True):
        if code == UNAVAILABLE:
            out.append("unavailable")
        elif code == UNKNOWN:
            out.append("unknown")
        elif code < len(labels):
            out.append(labels[code])
        elif math.isfinite(value):
            out.append(_number_string(value))
        else:
            raise ValueError(f"{entity.entity_id}: no state string for token {code}")
    return out
