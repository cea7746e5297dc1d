"""Reading a plan's chunks (states, statistics, events) and joining them into a HomeHistory.

`read_chunk` reads one planned chunk (one recorder executor job in HA):
states, battery levels kept in state attributes, hourly statistics, or the
events of the window (HA restarts and
Battery Notes battery-replaced events). `assemble_history` joins the results;
`read_history` plans, reads every chunk in turn and assembles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import Final

import numpy as np

from ..records import (
    EntityRecord,
    FloatArray,
    HomeHistory,
    StateSeries,
    StateTokens,
    StatSeries,
    tokenize_states,
)
from .decoding import (
    attribute_levels,
    column_floats,
    empty_series,
    encode_rows,
    key_runs,
    merge_series,
    parse_attributes,
    parse_times,
    text_value,
)
from .devices import INFERRED_PREFIX, RegistryValue
from .planning import CatalogCache, ReadChunk, ReadPlan, plan_read
from .schema import Dialect, SchemaInfo, attributes_column, states_source, statistics_source
from .sql import QueryFn, db_time, fetch, in_list
from .summary import ReadSummary

EVENT_RESTART: Final = "homeassistant_start"
EVENT_BATTERY_REPLACED: Final = "battery_notes_battery_replaced"
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_THIRD = itemgetter(2)
_FOURTH = itemgetter(3)
_FIFTH = itemgetter(4)

# A battery-replaced event: (device_key, source_entity_id, time).
type Swap = tuple[str | None, str | None, float]
# A statistics chunk's start, mean, min and max columns (all entities, key-ordered).
type _StatColumns = tuple[FloatArray, FloatArray, FloatArray, FloatArray]


@dataclass(slots=True)
class ChunkResult:
    """The rows of one chunk, per entity, in time order."""

    chunk: ReadChunk
    states: list[tuple[str, StateSeries]] = field(default_factory=list)
    statistics: list[tuple[str, StatSeries]] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)
    swaps: list[Swap] = field(default_factory=list)
    summary: ReadSummary = field(default_factory=ReadSummary)


def read_history(
    query: QueryFn,
    *,
    start: float,
    end: float,
    entity_ids: Iterable[str] | None = None,
    registry: Mapping[str, RegistryValue] | None = None,
    chunk_rows: int = 50_000,
    home_id: str = "recorder",
    dialect: Dialect | None = None,
    summary: ReadSummary | None = None,
    level_attributes: Mapping[str, str] | None = None,
    catalog: CatalogCache | None = None,
    statistics_start: float | None = None,
) -> HomeHistory:
    """Read states, hourly statistics, restarts and battery swaps of [start, end).

    Like HA's history, each entity's last state before `start` opens its
    series at time `start`. One call runs every chunk in turn; the HA layer
    runs `plan_read`, each `read_chunk` and `assemble_history` as separate
    executor jobs instead. Counts of what was skipped or repaired are added to
    `summary` if given. `catalog`, `statistics_start`: see `plan_read`.
    """
    plan = plan_read(
        query,
        start=start,
        end=end,
        entity_ids=entity_ids,
        registry=registry,
        chunk_rows=chunk_rows,
        home_id=home_id,
        dialect=dialect,
        level_attributes=level_attributes,
        catalog=catalog,
        statistics_start=statistics_start,
    )
    results = [read_chunk(query, plan, chunk) for chunk in plan.chunks]
    if summary is not None:
        summary.add(summarize(plan, results))
    return assemble_history(plan, results)


def read_chunk(query: QueryFn, plan: ReadPlan, chunk: ReadChunk) -> ChunkResult:
    """Read one planned chunk (one recorder executor job)."""
    if chunk.kind == "states":
        return _read_states(query, plan, chunk)
    if chunk.kind == "attributes":
        return _read_attributes(query, plan, chunk)
    if chunk.kind == "statistics":
        return _read_statistics(query, plan, chunk)
    return _read_events(query, plan, chunk)


def _read_states(query: QueryFn, plan: ReadPlan, chunk: ReadChunk) -> ChunkResult:
    """Read one states chunk and encode each entity's rows."""
    schema = plan.schema
    src = states_source(schema)
    result = ChunkResult(chunk)
    params: dict[str, object] = {
        "start": db_time(src.numeric_time, chunk.start),
        "end": db_time(src.numeric_time, chunk.end),
    }
    # NULL last_reported_ts means "last reported when updated".
    reported = f", COALESCE(last_reported_ts, {src.time})" if schema.last_reported else ""
    sql = (
        f"SELECT {src.key}, {src.time}, state{reported} FROM states "
        f"WHERE {src.key} IN ({in_list('k', chunk.keys, params)}) "
        f"AND {src.time} >= :start AND {src.time} < :end "
        f"ORDER BY {src.key}, {src.time}, state_id"
    )
    rows = fetch(query, sql, params)
    if not rows:
        return result
    times = column_floats(rows, _SECOND, src.numeric_time)
    states = list(map(_THIRD, rows))
    last_reported = column_floats(rows, _FOURTH, True) if schema.last_reported else None
    for key, a, b in key_runs(rows):
        entity_id = plan.state_keys.get(key)  # type: ignore[call-overload]
        if entity_id is None:
            continue
        series = encode_rows(
            times[a:b],
            states[a:b],
            None if last_reported is None else last_reported[a:b],
            result.summary,
        )
        result.summary.state_rows += len(series)
        result.states.append((entity_id, series))
    return result


def _read_attributes(query: QueryFn, plan: ReadPlan, chunk: ReadChunk) -> ChunkResult:
    """Read one chunk of battery levels kept in a state attribute (`battery_level`).

    HA writes a state row whenever an attribute changes, each pointing at its
    (shared, deduplicated) attributes JSON; the level is read from that JSON.
    """
    src = states_source(plan.schema)
    result = ChunkResult(chunk)
    params: dict[str, object] = {
        "start": db_time(src.numeric_time, chunk.start),
        "end": db_time(src.numeric_time, chunk.end),
    }
    column, join = attributes_column(plan.schema)
    sql = (
        f"SELECT s.{src.key}, s.{src.time}, {column} FROM states s{join} "
        f"WHERE s.{src.key} IN ({in_list('k', chunk.keys, params)}) "
        f"AND s.{src.time} >= :start AND s.{src.time} < :end "
        f"ORDER BY s.{src.key}, s.{src.time}, s.state_id"
    )
    rows = fetch(query, sql, params)
    if not rows:
        return result
    times = column_floats(rows, _SECOND, src.numeric_time)
    raws = list(map(_THIRD, rows))
    for key, a, b in key_runs(rows):
        record = plan.attribute_keys.get(key)  # type: ignore[call-overload]
        if record is None or record.attribute is None:
            continue
        levels = attribute_levels(raws[a:b], record.attribute, result.summary)
        # Row repairs are the states chunk's to count: these are the same rows.
        series = encode_rows(times[a:b], list(levels), None, ReadSummary())
        result.summary.attribute_rows += len(series)
        result.states.append((record.series_key, series))
    return result


def _read_statistics(query: QueryFn, plan: ReadPlan, chunk: ReadChunk) -> ChunkResult:
    """Read one chunk of hourly statistics."""
    src = statistics_source(plan.schema)
    result = ChunkResult(chunk)
    params: dict[str, object] = {
        "start": db_time(src.numeric_time, chunk.start),
        "end": db_time(src.numeric_time, chunk.end),
    }
    sql = (
        f"SELECT metadata_id, {src.time}, mean, min, max FROM statistics "
        f"WHERE metadata_id IN ({in_list('k', chunk.keys, params)}) "
        f"AND {src.time} >= :start AND {src.time} < :end ORDER BY metadata_id, {src.time}"
    )
    rows = fetch(query, sql, params)
    if not rows:
        return result
    columns = (
        column_floats(rows, _SECOND, src.numeric_time),
        column_floats(rows, _THIRD, True),
        column_floats(rows, _FOURTH, True),
        column_floats(rows, _FIFTH, True),
    )
    for key, a, b in key_runs(rows):
        entity_id = plan.statistic_keys.get(key)  # type: ignore[call-overload]
        if entity_id is None:
            continue
        stat = _stat_rows(columns, a, b, result.summary)
        result.summary.statistics_rows += len(stat)
        result.statistics.append((entity_id, stat))
    return result


def _stat_rows(columns: _StatColumns, a: int, b: int, summary: ReadSummary) -> StatSeries:
    """Rows a:b of a chunk's columns in time order; rows without a time dropped and counted."""
    t, mean, low, high = (c[a:b] for c in columns)
    keep = ~np.isnan(t)
    if keep.all() and not bool((t[1:] < t[:-1]).any()):
        return StatSeries(start=t, mean=mean, min=low, max=high)
    summary.null_time_rows += int((~keep).sum())
    order = np.flatnonzero(keep)[np.argsort(t[keep], kind="stable")]
    return StatSeries(start=t[order], mean=mean[order], min=low[order], max=high[order])


def _events_sql(schema: SchemaInfo, params: dict[str, object]) -> str:
    """SQL of (time, type, data) of restart and battery-replaced events in [:start, :end)."""
    time_col = "e.time_fired_ts" if schema.event_ts else "e.time_fired"
    types = in_list("t", (EVENT_RESTART, EVENT_BATTERY_REPLACED), params)
    data = [
        *(["d.shared_data"] if schema.event_data else []),
        *(["e.event_data"] if schema.legacy_event_data else []),
    ]
    data_sql = f"COALESCE({', '.join(data)}, NULL)" if data else "NULL"
    joins = " LEFT JOIN event_data d ON d.data_id = e.data_id" if schema.event_data else ""
    if schema.event_types:
        type_col = "t.event_type"
        joins = " JOIN event_types t ON t.event_type_id = e.event_type_id" + joins
    else:
        type_col = "e.event_type"
    return (
        f"SELECT {time_col}, {type_col}, {data_sql} FROM events e{joins} "
        f"WHERE {type_col} IN ({types}) AND {time_col} >= :start AND {time_col} < :end "
        f"ORDER BY {time_col}"
    )


def _read_events(query: QueryFn, plan: ReadPlan, chunk: ReadChunk) -> ChunkResult:
    """Read HA restarts and Battery Notes battery-replaced events."""
    schema = plan.schema
    result = ChunkResult(chunk)
    if not schema.events:
        return result
    params: dict[str, object] = {
        "start": db_time(schema.event_ts, chunk.start),
        "end": db_time(schema.event_ts, chunk.end),
    }
    rows = fetch(query, _events_sql(schema, params), params)
    times = parse_times([r[0] for r in rows], schema.event_ts)
    for (_, event_type, raw), t in zip(rows, map(float, times), strict=True):
        if np.isnan(t):
            result.summary.bad_events += 1
        elif event_type == EVENT_RESTART:
            result.restarts.append(t)
        else:
            _add_swap(result, raw, t)
    return result


def _add_swap(result: ChunkResult, raw: object, t: float) -> None:
    """Add a battery-replaced event with its data JSON, or count it as bad."""
    payload, valid = parse_attributes(raw)
    device_key = text_value(payload.get("device_id"))
    source = text_value(payload.get("source_entity_id"))
    if not valid or (device_key is None and source is None):
        result.summary.bad_events += 1
        return
    result.swaps.append((device_key, source, t))


def summarize(plan: ReadPlan, results: Iterable[ChunkResult]) -> ReadSummary:
    """Add up what the plan and each chunk found, skipped and repaired."""
    total = ReadSummary()
    total.add(plan.summary)
    for result in results:
        total.add(result.summary)
        total.restarts += len(result.restarts)
        total.battery_swaps += len(result.swaps)
    total.start_states = len(plan.start_states)
    return total


def assemble_history(plan: ReadPlan, results: Iterable[ChunkResult]) -> HomeHistory:
    """Join the chunks of a plan into one HomeHistory."""
    pieces: dict[str, list[tuple[float, StateSeries]]] = {}
    stats: dict[str, list[tuple[float, StatSeries]]] = {}
    restarts: list[float] = []
    swaps: list[Swap] = []
    for result in results:
        for entity_id, series in result.states:
            pieces.setdefault(entity_id, []).append((result.chunk.start, series))
        for entity_id, stat in result.statistics:
            stats.setdefault(entity_id, []).append((result.chunk.start, stat))
        restarts.extend(result.restarts)
        swaps.extend(result.swaps)
    return HomeHistory(
        home_id=plan.home_id,
        start=plan.start,
        end=plan.end,
        devices=list(plan.devices),
        entities=list(plan.entities),
        states={e.series_key: _entity_states(plan, e, pieces.get(e.series_key, [])) for e in plan.entities},
        statistics={entity_id: _join_statistics(found) for entity_id, found in stats.items()},
        battery_swaps=_battery_swaps(plan, swaps),
        restarts=np.unique(np.asarray(restarts, dtype=np.float64)),
    )


def _entity_states(
    plan: ReadPlan, entity: EntityRecord, pieces: list[tuple[float, StateSeries]]
) -> StateSeries:
    """One entity's series: its chunks in time order, opened by its state at the window start."""
    parts = [s for _, s in sorted(pieces, key=_FIRST)]
    parts = [p for p in parts if len(p)]
    begin = _start_state(plan, entity)
    if begin is not None and not (parts and parts[0].time[0] <= plan.start):
        parts.insert(0, begin)
    if parts:
        return merge_series(parts)
    return empty_series(plan.schema.last_reported and entity.attribute is None)


def _start_state(plan: ReadPlan, entity: EntityRecord) -> StateSeries | None:
    """A one-row series of the state (or attribute level) an entity had at the window start."""
    if entity.attribute is not None:
        found = plan.start_attributes.get(entity.series_key)
        if found is None:
            return None
        levels = attribute_levels([found[0]], entity.attribute, ReadSummary())
        return encode_rows(np.array([plan.start]), list(levels), None, ReadSummary())
    begin = plan.start_states.get(entity.entity_id)
    if begin is None:
        return None
    state, reported = begin
    time = np.array([plan.start])
    # As encode_rows on this one row (a finite time: nothing to drop, sort or deduplicate).
    tokens = _one_state(state) if isinstance(state, str | int | float | None) else tokenize_states([state])
    return StateSeries(
        time=time,
        value=tokens.value.copy(),
        code=tokens.code.copy(),
        labels=tokens.labels,
        last_reported=np.fmax(np.array([reported if reported > plan.start else plan.start]), time)
        if plan.schema.last_reported
        else None,
    )


@lru_cache(maxsize=1024, typed=True)  # typed: 5 and 5.0 are labelled "5" and "5.0"
def _one_state(state: str | float | None) -> StateTokens:
    """`tokenize_states([state])`, remembered: every reading opens each entity with one (copy the arrays).

    Bounded (1,024 states, well under a megabyte): a numeric sensor's opening state changes
    from hour to hour, "on", "off" and the like repeat.
    """
    return tokenize_states([state])


def _join_statistics(found: list[tuple[float, StatSeries]]) -> StatSeries:
    """One entity's statistics chunks joined in time order."""
    ordered = [s for _, s in sorted(found, key=_FIRST)]
    return StatSeries(
        start=np.concatenate([s.start for s in ordered]),
        mean=np.concatenate([s.mean for s in ordered]),
        min=np.concatenate([s.min for s in ordered]),
        max=np.concatenate([s.max for s in ordered]),
    )


def _battery_swaps(plan: ReadPlan, swaps: Sequence[Swap]) -> dict[str, FloatArray]:
    """Battery-replaced times per device, in this history's device keys."""
    device_keys = {d.device_key for d in plan.devices}
    device_of = {e.entity_id: e.device_key for e in plan.entities}
    swap_times: dict[str, list[float]] = {}
    for device_key, source, t in swaps:
        swap_times.setdefault(_swap_device(device_key, source, device_keys, device_of), []).append(t)
    return {k: np.unique(np.asarray(v, dtype=np.float64)) for k, v in swap_times.items()}


def _swap_device(
    device_key: str | None,
    source: str | None,
    devices: set[str],
    device_of_entity: Mapping[str, str],
) -> str:
    """The device a battery-replaced event is about, in this history's device ids."""
    if device_key is not None and device_key in devices:
        return device_key
    if source is not None and source in device_of_entity:
        return device_of_entity[source]
    return device_key or f"{INFERRED_PREFIX}{source}"
