"""What the recorder writes: an entity's rows through availability and restarts, and their encoding.

Also the inverse (`state_strings`: the state string of each row) and the
hourly long-term statistics of a numeric series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, cast

import numpy as np

from custom_components.homeiq_device_intel.ml.records import (
    UNAVAILABLE,
    UNKNOWN,
    EntityRecord,
    StateSeries,
    StatSeries,
    tokenize_positions,
)

from .arrays import BoolArray, FloatArray, Int64Array, _floats, _inside
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


def _insert(
    rows: _Rows, ins_t: FloatArray, ins_key: FloatArray, ins_attr: FloatArray, ins_forced: bool
) -> _Rows:
    """Insert rows (kept in their given order at equal times) into sorted rows."""
    if ins_t.size == 0:
        return rows
    order = np.argsort(ins_t, kind="stable")
    ins_t, ins_key, ins_attr = ins_t[order], ins_key[order], ins_attr[order]
    pos = np.searchsorted(rows.t, ins_t, side="right")
    return _Rows(
        np.insert(rows.t, pos, ins_t),
        np.insert(rows.key, pos, ins_key),
        np.insert(rows.attr, pos, ins_attr),
        np.insert(rows.forced, pos, np.full(ins_t.size, ins_forced)),
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
    # 2. unavailable episodes, and the state HA gets when the device is back
    rows = _with_unavailable(rows, dev, home, t_org, key_org, attr_org)
    # 3. restart replays of the state the integration holds for the device
    if replays.restarts.size:
        rows = _with_replays(rows, dev, replays, t_dev, key_dev, attr_dev)
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
    rows: _Rows, dev: _Device, home: _Home, t_org: FloatArray, key_org: FloatArray, attr_org: FloatArray
) -> _Rows:
    """Add the device's unavailable episodes, and the state HA gets when it is back."""
    t0 = float(t_org[0])
    u_lo, u_hi = dev.unavailable
    starts = u_lo[u_lo >= t0]
    back = u_hi[(u_hi > t0) & (u_hi < home.end)]
    idx = np.searchsorted(t_org, back, side="right") - 1
    return _insert(
        rows,
        np.concatenate([starts, back]),
        np.concatenate([np.full(starts.size, _UNAVAILABLE_KEY), key_org[idx]]),
        np.concatenate([np.zeros(starts.size), attr_org[idx]]),
        False,
    )


def _with_replays(
    rows: _Rows, dev: _Device, replays: _Replays, t_dev: FloatArray, key_dev: FloatArray, attr_dev: FloatArray
) -> _Rows:
    """Add the restart replays of the state the integration holds for the device."""
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
    return _insert(rows, ins_t, ins_key, ins_attr, True)


def _written(spec: _EntitySpec, home: _Home, rows: _Rows, labels: tuple[str, ...]) -> StateSeries:
    """Keep the rows the recorder writes and encode them.

    A row is written only when the state or its attributes change; an unchanged
    report only moves the row's last_reported (HA >= 2024.3).
    """
    inside = rows.t <= home.end
    t, key, attr, forced = rows.t[inside], rows.key[inside], rows.attr[inside], rows.forced[inside]
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
        vocabulary, position = _numeric_vocabulary(key[valid])
    else:
        vocabulary, position = labels, key[valid].astype(np.int64)
    index = np.where(unavailable, len(vocabulary), len(vocabulary) + 1)
    index[valid] = position
    tokens = tokenize_positions(index, (*vocabulary, "unavailable", "unknown"))
    value = np.where(valid, key, np.nan) if spec.numeric else tokens.value
    return StateSeries(
        time=t.astype(np.float64),
        value=value.astype(np.float64),
        code=tokens.code,
        labels=tokens.labels,
        last_reported=last_reported.astype(np.float64),
    )


def _numeric_vocabulary(values: FloatArray) -> tuple[tuple[str, ...], Int64Array]:
    """Return the number strings of values in order of first appearance, and each value's index there."""
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
    offset = float(np.median(v[valid])) if valid.any() else 0.0
    centred = np.where(valid, v - offset, 0.0)  # small numbers keep the running sums exact
    # Running integrals of the value and of the valid time, at each row, then at each bound.
    step = np.diff(t)
    integral = np.concatenate([[0.0], np.cumsum(centred[:-1] * step)])
    covered = np.concatenate([[0.0], np.cumsum(valid[:-1] * step)])
    row = np.searchsorted(t, bounds, side="right") - 1
    at = np.maximum(row, 0)
    since = np.where(row >= 0, bounds - t[at], 0.0)
    integral_b = np.where(row >= 0, integral[at] + centred[at] * since, 0.0)
    covered_b = np.where(row >= 0, covered[at] + valid[at] * since, 0.0)
    total = np.diff(covered_b)
    has = total > 0
    mean = np.diff(integral_b)[has] / total[has] + offset
    # min/max: the value held at the start of each hour and every value set within it
    held = np.where((row[:-1] >= 0) & valid[at[:-1]], v[at[:-1]], np.nan)
    low = np.where(np.isnan(held), np.inf, held)
    high = np.where(np.isnan(held), -np.inf, held)
    inside = valid & (t > bounds[0]) & (t < bounds[-1])
    if inside.any():
        values = v[inside]
        hours = ((t[inside] - first_hour) // HOUR).astype(np.int64)
        first = np.flatnonzero(np.concatenate([[True], hours[1:] != hours[:-1]]))
        group = hours[first]
        low[group] = np.minimum(low[group], np.minimum.reduceat(values, first))
        high[group] = np.maximum(high[group], np.maximum.reduceat(values, first))
    low, high = low[has], high[has]
    return StatSeries(start=bounds[:-1][has].copy(), mean=np.clip(mean, low, high), min=low, max=high)


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
