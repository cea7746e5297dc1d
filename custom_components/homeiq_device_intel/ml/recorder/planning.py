"""Planning a read: which entities and devices, and which bounded chunks of rows.

`plan_read` detects the layout, selects the entities, counts each one's rows
in the window and packs entities (or time slices of one busy entity) into
`ReadChunk`s of about `chunk_rows` rows, all before any state row is read.

A device whose battery level exists only as a state attribute of one of its
entities (`level_attributes`, or, without a registry, the attribute the
catalog found) gets a battery `EntityRecord` with that `attribute`, and its
entity's rows are planned a second time as "attributes" chunks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import numpy as np

from ..records import DeviceRecord, EntityRecord, EntityRole
from .catalog import EntityRow, list_entities
from .decoding import parse_floats, parse_times
from .devices import RegistryValue, infer_devices, is_device_entity, registry_devices
from .schema import (
    Dialect,
    Key,
    SchemaInfo,
    TableSource,
    attributes_column,
    detect_schema,
    states_source,
    statistics_source,
)
from .sql import MAX_KEYS_PER_QUERY, QueryFn, batches, db_time, fetch, in_list
from .summary import ReadSummary


@dataclass(frozen=True, slots=True)
class ReadChunk:
    """One bounded read: some entities' rows in [start, end)."""

    kind: Literal["states", "attributes", "statistics", "events"]
    keys: tuple[Key, ...]
    start: float
    end: float
    rows: int  # rows expected when planned


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadPlan:
    """Everything decided before reading rows: entities, devices and chunks."""

    home_id: str
    start: float
    end: float
    schema: SchemaInfo
    devices: tuple[DeviceRecord, ...]
    entities: tuple[EntityRecord, ...]
    state_keys: Mapping[Key, str]  # states key -> entity_id
    attribute_keys: Mapping[Key, EntityRecord]  # states key -> its battery-attribute record
    statistic_keys: Mapping[Key, str]  # statistics_meta id -> entity_id
    start_states: Mapping[str, tuple[object, float]]  # entity_id -> (state, reported)
    start_attributes: Mapping[str, tuple[object, float]]  # series_key -> (attributes JSON, reported)
    chunks: tuple[ReadChunk, ...]
    summary: ReadSummary


@dataclass(frozen=True, slots=True)
class _Found:
    """What the window holds for the selected entities, by their keys."""

    key_of: Mapping[str, Key | None]  # entity_id -> states key
    counts: Mapping[Key, int]  # states rows per key
    starts: Mapping[Key, tuple[object, float]]  # last state before the window
    started: set[Key]  # keys with a (non-empty) state at the window start
    stat_counts: Mapping[Key, int]  # statistics rows per statistics_meta id

    def has_data(self, row: EntityRow) -> bool:
        """True for an entity with rows in the window, a state at its start, or statistics."""
        key = self.key_of[row.entity_id]
        return (
            key is not None and (self.counts.get(key, 0) > 0 or key in self.started)
        ) or self.stat_counts.get(row.statistic_id if row.statistic_id is not None else -1, 0) > 0


def plan_read(
    query: QueryFn,
    *,
    start: float,
    end: float,
    entity_ids: Iterable[str] | None = None,
    registry: Mapping[str, RegistryValue] | None = None,
    chunk_rows: int = 50_000,
    home_id: str = "recorder",
    dialect: Dialect | None = None,
    level_attributes: Mapping[str, str] | None = None,
    catalog: CatalogCache | None = None,
    statistics_start: float | None = None,
) -> ReadPlan:
    """Choose the entities, devices and bounded chunks of one read of [start, end).

    `catalog` (`CatalogCache`) reuses the entity selection and devices between plans. Entities
    read: `entity_ids` if given; else the registry's entities if a registry is given; else every
    entity `is_device_entity` accepts. Entities the registry does not cover get inferred devices.
    Only entities with rows in the window, a state at its start, or statistics in it are kept.
    `level_attributes` (entity_id -> attribute) names batteries known only as a state attribute;
    without it and without a registry, the attribute the catalog found on an inferred device that
    has no battery sensor is used. `statistics_start` (<= `start`): hourly statistics are read
    from there instead (a read of new rows re-reads the hours compiled late; see `window`).
    """
    _check_request(start, end, chunk_rows)
    schema = _recorder_schema(query, dialect)
    summary = ReadSummary()
    stats_from = start if statistics_start is None else min(statistics_start, start)
    found, kept = _entities_with_data(
        query, schema, (entity_ids, registry, catalog), (start, end, stats_from), summary
    )
    devices, entities = _devices(kept, registry) if catalog is None else catalog.devices(kept, registry)
    state_map, stat_map = _key_maps(found, kept)
    attributes = _attribute_batteries(entities, kept, registry, level_attributes, schema)
    attribute_map = _attribute_keys(attributes, found)
    _count_unusable(query, schema, summary)
    chunks = _chunks(query, schema, found, (state_map, attribute_map), (start, end, stats_from), chunk_rows)
    entities += attributes
    summary.entities = len(entities)
    return ReadPlan(
        home_id=home_id,
        start=float(start),
        end=float(end),
        schema=schema,
        devices=tuple(devices),
        entities=tuple(entities),
        state_keys=state_map,
        attribute_keys=attribute_map,
        start_attributes=_start_attributes(query, schema, attribute_map, start),
        statistic_keys=stat_map,
        start_states={state_map[key]: found.starts[key] for key in found.started if key in state_map},
        chunks=chunks,
        summary=summary,
    )


def _recorder_schema(query: QueryFn, dialect: Dialect | None) -> SchemaInfo:
    """Return the database's layout; raise ValueError when it has no usable states table."""
    schema = detect_schema(query, dialect)
    if not schema.states:
        raise ValueError("not a Home Assistant recorder database: no usable states table")
    return schema


def _entities_with_data(
    query: QueryFn,
    schema: SchemaInfo,
    selection: tuple[Iterable[str] | None, Mapping[str, RegistryValue] | None, CatalogCache | None],
    window: tuple[float, float, float],
    summary: ReadSummary,
) -> tuple[_Found, list[EntityRow]]:
    """Return what the window holds for the selected entities, and those with data in it.

    `selection`: the entity ids asked for, the registry, and the catalog cache if any;
    `window`: start, end, and where the statistics begin.
    """
    entity_ids, registry, catalog = selection
    wanted = None if entity_ids is None else sorted(set(entity_ids))
    if catalog is None:
        selected = _select_entities(query, schema, wanted, registry, summary)
    else:
        selected = catalog.select(query, schema, wanted, registry, summary)
    found = _find_rows(query, schema, selected, *window)
    kept = [row for row in selected if found.has_data(row)]
    summary.bad_attributes = sum(not row.attributes_valid for row in kept)
    return found, kept


def _attribute_keys(attributes: list[EntityRecord], found: _Found) -> dict[Key, EntityRecord]:
    """Return the battery-attribute records by the states key of the entity that holds them."""
    attribute_map: dict[Key, EntityRecord] = {}
    for record in attributes:
        if (key := found.key_of[record.entity_id]) is not None:
            attribute_map[key] = record
    return attribute_map


def _chunks(
    query: QueryFn,
    schema: SchemaInfo,
    found: _Found,
    maps: tuple[Mapping[Key, str], Mapping[Key, EntityRecord]],
    window: tuple[float, float, float],
    chunk_rows: int,
) -> tuple[ReadChunk, ...]:
    """Return every chunk of the read: states and statistics, with the attributes' before the last.

    `window`: start, end, and where the statistics begin.
    """
    state_map, attribute_map = maps
    chunks = _plan_chunks(query, schema, found, state_map, window, chunk_rows)
    chunks[-1:-1] = _pack_chunks(
        query,
        "attributes",
        states_source(schema),
        {k: c for k, c in found.counts.items() if k in attribute_map},
        window[:2],
        chunk_rows,
    )
    return tuple(chunks)


def _start_attributes(
    query: QueryFn, schema: SchemaInfo, attribute_map: Mapping[Key, EntityRecord], start: float
) -> dict[str, tuple[object, float]]:
    """Return the attributes each battery-attribute series holds at the window start, by series key."""
    return {
        attribute_map[key].series_key: begin
        for key, begin in _start_states(query, schema, list(attribute_map), start, attributes=True).items()
    }


class CatalogCache:
    """The entities selected by the last plans, reused while the recorder's catalog is unchanged.

    Hourly reads of new rows plan the same entities every hour; listing them
    (each one's last attributes and statistics metadata) is most of a short
    read's planning. The selection is reused for the same request while the
    catalog's fingerprint holds: the ids and count of `states_meta`, every row
    of `statistics_meta` and the newest `state_attributes` id (new entities,
    new or changed statistics, new attribute sets). Not seen: an entity whose
    last state returns to an attribute set stored before with another device
    class or unit (no new row); the next plan without the cache (`refresh`,
    which `KeptHistory` calls on every full read) sees it. Layouts without
    `states_meta` and `state_attributes` are listed every time.
    """

    def __init__(self) -> None:
        """Start empty: the first plan lists the catalog."""
        self._request: object = None
        self._fingerprint: object = None
        self._selected: list[EntityRow] = []
        self._skipped = 0
        self._devices: tuple[object, tuple[list[DeviceRecord], list[EntityRecord]]] | None = None
        self.hits = 0
        self.misses = 0

    def refresh(self) -> None:
        """Forget the selection: the next plan lists the catalog again."""
        self._request = self._fingerprint = self._devices = None

    def select(
        self,
        query: QueryFn,
        schema: SchemaInfo,
        wanted: list[str] | None,
        registry: Mapping[str, RegistryValue] | None,
        summary: ReadSummary,
    ) -> list[EntityRow]:
        """`_select_entities`, or the last selection for the same request and catalog."""
        request = (schema, wanted, None if registry is None or wanted is not None else sorted(registry))
        fingerprint = _catalog_fingerprint(query, schema)
        if fingerprint is not None and request == self._request and fingerprint == self._fingerprint:
            self.hits += 1
            summary.skipped_entities += self._skipped
            return self._selected
        self.misses += 1
        before = summary.skipped_entities
        self._selected = _select_entities(query, schema, wanted, registry, summary)
        self._skipped = summary.skipped_entities - before
        self._request, self._fingerprint, self._devices = request, fingerprint, None
        return self._selected

    def devices(
        self, kept: list[EntityRow], registry: Mapping[str, RegistryValue] | None
    ) -> tuple[list[DeviceRecord], list[EntityRecord]]:
        """`_devices`, or the last result for the same entities and registry (copied lists)."""
        key = (tuple(kept), None if registry is None else dict(registry))
        if self._devices is None or self._devices[0] != key:
            self._devices = (key, _devices(kept, registry))
        devices, entities = self._devices[1]
        return list(devices), list(entities)


def _catalog_fingerprint(query: QueryFn, schema: SchemaInfo) -> object:
    """What changes when the recorder's catalog of entities does (see `CatalogCache`); None: unknown."""
    if not (schema.states_meta and schema.state_attributes):
        return None
    meta = fetch(query, "SELECT COUNT(*), MAX(metadata_id) FROM states_meta", {})
    attributes = fetch(query, "SELECT MAX(attributes_id) FROM state_attributes", {})
    statistics: list[object] = []
    if schema.statistics:
        statistics = [tuple(row) for row in fetch(query, "SELECT * FROM statistics_meta ORDER BY id", {})]
    return (tuple(meta[0]), tuple(attributes[0]), tuple(statistics))


def _check_request(start: float, end: float, chunk_rows: int) -> None:
    """Raise ValueError for a window or chunk size no read can have."""
    if not (np.isfinite(start) and np.isfinite(end)) or end <= start:
        raise ValueError(f"need finite start < end, got {start}, {end}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")


def _select_entities(
    query: QueryFn,
    schema: SchemaInfo,
    wanted: list[str] | None,
    registry: Mapping[str, RegistryValue] | None,
    summary: ReadSummary,
) -> list[EntityRow]:
    """The entities asked for (`wanted`), else the registry's, else every device entity."""
    selected: list[EntityRow] = []
    asked = None if wanted is None else set(wanted)
    for row in list_entities(query, schema, wanted):
        if asked is not None:
            take = row.entity_id in asked
        elif registry is not None:
            take = row.entity_id in registry
        else:
            take = is_device_entity(row.entity_id)
            summary.skipped_entities += not take
        if take:
            selected.append(row)
    return selected


def _find_rows(
    query: QueryFn, schema: SchemaInfo, selected: list[EntityRow], start: float, end: float, stats_from: float
) -> _Found:
    """Count the selected entities' rows in the window (statistics from `stats_from`), find start states."""
    key_of = {row.entity_id: (row.metadata_id if schema.states_meta else row.entity_id) for row in selected}
    state_keys = [k for k in key_of.values() if k is not None]
    counts = _count_rows(query, states_source(schema), state_keys, start, end)
    starts = _start_states(query, schema, state_keys, start)
    stat_ids = [
        r.statistic_id
        for r in selected
        if r.has_mean_statistics and r.statistic_id is not None and schema.statistics
    ]
    stat_counts = _count_rows(query, statistics_source(schema), stat_ids, stats_from, end) if stat_ids else {}
    started = {k for k, (state, _) in starts.items() if state not in (None, "")}
    return _Found(key_of, counts, starts, started, stat_counts)


def _devices(
    kept: list[EntityRow], registry: Mapping[str, RegistryValue] | None
) -> tuple[list[DeviceRecord], list[EntityRecord]]:
    """Registry devices for the entities it covers, inferred devices for the others."""
    known = registry if registry is not None else {}
    devices, entities = registry_devices([r for r in kept if r.entity_id in known], known)
    inferred = infer_devices([row for row in kept if row.entity_id not in known])
    return devices + inferred[0], entities + inferred[1]


def _attribute_batteries(
    entities: list[EntityRecord],
    kept: list[EntityRow],
    registry: Mapping[str, RegistryValue] | None,
    requested: Mapping[str, str] | None,
    schema: SchemaInfo,
) -> list[EntityRecord]:
    """Battery records of devices whose level is a state attribute (one per device, none with a sensor)."""
    if not (schema.state_attributes or schema.legacy_attributes):
        return []
    if requested is None:
        requested = (
            {}
            if registry is not None
            else {row.entity_id: row.battery_attribute for row in kept if row.battery_attribute is not None}
        )
    with_sensor = {e.device_key for e in entities if e.role is EntityRole.BATTERY}
    device_of = {e.entity_id: e.device_key for e in entities}
    out: list[EntityRecord] = []
    for entity_id, attribute in sorted(requested.items()):
        device_key = device_of.get(entity_id)
        if device_key is None or device_key in with_sensor:
            continue
        with_sensor.add(device_key)
        out.append(
            EntityRecord(
                entity_id=entity_id,
                device_key=device_key,
                role=EntityRole.BATTERY,
                device_class="battery",
                unit="%",
                attribute=attribute,
            )
        )
    return out


def _key_maps(found: _Found, kept: list[EntityRow]) -> tuple[dict[Key, str], dict[Key, str]]:
    """States keys and statistics ids of the kept entities, each to its entity_id."""
    kept_ids = {row.entity_id for row in kept}
    state_map: dict[Key, str] = {
        key: eid for eid, key in found.key_of.items() if key is not None and eid in kept_ids
    }
    stat_map: dict[Key, str] = {
        row.statistic_id: row.entity_id
        for row in kept
        if row.statistic_id is not None and row.statistic_id in found.stat_counts
    }
    return state_map, stat_map


def _plan_chunks(
    query: QueryFn,
    schema: SchemaInfo,
    found: _Found,
    state_map: Mapping[Key, str],
    window: tuple[float, float, float],
    chunk_rows: int,
) -> list[ReadChunk]:
    """The states chunks of the kept entities, the statistics chunks, and the events chunk.

    `window`: start, end, and where the statistics begin.
    """
    start, end, stats_from = window
    state_counts = {k: c for k, c in found.counts.items() if k in state_map}
    stat_window = (stats_from, end)
    return [
        *_pack_chunks(query, "states", states_source(schema), state_counts, (start, end), chunk_rows),
        *_pack_chunks(
            query, "statistics", statistics_source(schema), found.stat_counts, stat_window, chunk_rows
        ),
        ReadChunk("events", (), start, end, 0),
    ]


def _count_rows(
    query: QueryFn, src: TableSource, keys: Sequence[Key], start: float, end: float
) -> dict[Key, int]:
    """Rows per key in [start, end)."""
    counts: dict[Key, int] = {}
    for batch in batches(keys):
        params: dict[str, object] = {
            "start": db_time(src.numeric_time, start),
            "end": db_time(src.numeric_time, end),
        }
        sql = (
            f"SELECT {src.key}, COUNT(*) FROM {src.table} "
            f"WHERE {src.key} IN ({in_list('k', batch, params)}) "
            f"AND {src.time} >= :start AND {src.time} < :end GROUP BY {src.key}"
        )
        for key, count in fetch(query, sql, params):
            if isinstance(key, int | str) and isinstance(count, int):
                counts[key] = count
    return counts


def _start_states(
    query: QueryFn, schema: SchemaInfo, keys: Sequence[Key], start: float, *, attributes: bool = False
) -> dict[Key, tuple[object, float]]:
    """Each key's last state (or its attributes JSON) before `start` (HA history's start-time state)."""
    src = states_source(schema)
    reported = "s.last_reported_ts" if schema.last_reported else "NULL"
    column, join = attributes_column(schema) if attributes else ("s.state", "")
    out: dict[Key, tuple[object, float]] = {}
    for batch in batches(keys):
        params: dict[str, object] = {"start": db_time(src.numeric_time, start)}
        placeholders = in_list("k", batch, params)
        if schema.states_meta:
            keys_sql = (
                f"SELECT metadata_id AS entity_key FROM states_meta WHERE metadata_id IN ({placeholders})"
            )
        else:
            keys_sql = (
                f"SELECT DISTINCT entity_id AS entity_key FROM states WHERE entity_id IN ({placeholders})"
            )
        sql = (
            f"SELECT e.entity_key, {column}, {reported} FROM ({keys_sql}) e "
            f"JOIN states s ON s.state_id = (SELECT s2.state_id FROM states s2 "
            f"WHERE s2.{src.key} = e.entity_key AND s2.{src.time} < :start "
            f"ORDER BY s2.{src.time} DESC LIMIT 1){join}"
        )
        for key, state, last_reported in fetch(query, sql, params):
            if isinstance(key, int | str):
                value = parse_floats([last_reported])[0]
                out[key] = (state, float(value))
    return out


def _count_unusable(query: QueryFn, schema: SchemaInfo, summary: ReadSummary) -> None:
    """Count states rows no window can hold: no time, or not yet migrated to metadata_id."""
    src = states_source(schema)
    rows = fetch(query, f"SELECT COUNT(*) FROM states WHERE {src.time} IS NULL", {})
    summary.null_time_rows += int(rows[0][0]) if rows and isinstance(rows[0][0], int) else 0
    if schema.states_meta:
        rows = fetch(query, "SELECT COUNT(*) FROM states WHERE metadata_id IS NULL", {})
        summary.unmigrated_rows += int(rows[0][0]) if rows and isinstance(rows[0][0], int) else 0


def _split_times(
    query: QueryFn, src: TableSource, key: Key, window: tuple[float, float], size: int
) -> list[float]:
    """Times that cut one key's rows in [start, end) into slices of `size` rows."""
    start, end = window
    params: dict[str, object] = {
        "key": key,
        "start": db_time(src.numeric_time, start),
        "end": db_time(src.numeric_time, end),
        "size": size,
    }
    sql = (
        f"SELECT t FROM (SELECT {src.time} AS t, ROW_NUMBER() OVER (ORDER BY {src.time}) AS rn "
        f"FROM {src.table} WHERE {src.key} = :key AND {src.time} >= :start "
        f"AND {src.time} < :end) w WHERE rn > 1 AND (rn - 1) % :size = 0"
    )
    cuts = parse_times([r[0] for r in fetch(query, sql, params)], src.numeric_time)
    return sorted({float(c) for c in cuts if start < c < end})


def _pack_chunks(
    query: QueryFn,
    kind: Literal["states", "attributes", "statistics"],
    src: TableSource,
    counts: Mapping[Key, int],
    window: tuple[float, float],
    chunk_rows: int,
) -> list[ReadChunk]:
    """Pack keys (in key order) into chunks of about `chunk_rows` rows."""
    start, end = window
    chunks: list[ReadChunk] = []
    batch: list[Key] = []
    rows = 0

    def flush() -> None:
        nonlocal batch, rows
        if batch:
            chunks.append(ReadChunk(kind, tuple(batch), start, end, rows))
        batch, rows = [], 0

    for key in sorted(counts, key=lambda k: (isinstance(k, str), k)):
        count = counts[key]
        if count > chunk_rows:
            flush()
            bounds = [start, *_split_times(query, src, key, window, chunk_rows), end]
            for lo, hi in pairwise(bounds):
                chunks.append(ReadChunk(kind, (key,), lo, hi, min(count, chunk_rows)))
            continue
        if rows + count > chunk_rows or len(batch) >= MAX_KEYS_PER_QUERY:
            flush()
        batch.append(key)
        rows += count
    flush()
    return chunks
