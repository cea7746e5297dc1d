"""Write entity histories into a SQLite recorder database in Home Assistant's current schema.

The tables, columns and version rows come from the installed Home Assistant
(`db_schema.Base`, `SCHEMA_VERSION` and the data migrators of `migration`), so
the recorder opens the file as one it created itself: no schema migration, no
data migration, and no backfill of statistics.

Rows are written as the recorder writes them:
- one `states` row per state *change*; an unchanged state reported again only
  moves the row's `last_reported_ts` (as HA does since schema 43);
- `old_state_id` links each row to the entity's previous row;
- one `state_attributes` row per distinct attribute set of an entity (most
  entities keep one; a vacuum's `battery_level` changes with its rows), and a
  new state row when the state or the attributes change;
- hourly `statistics` (mean/min/max) for numeric sensors with a state class;
- `homeassistant_stop`/`homeassistant_start` events and closed `recorder_runs`
  around every restart.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
from homeassistant.components.recorder import migration
from homeassistant.components.recorder.db_schema import (
    SCHEMA_VERSION,
    Base,
    Events,
    EventTypes,
    MigrationChanges,
    RecorderRuns,
    SchemaChanges,
    StateAttributes,
    States,
    StatesMeta,
    Statistics,
    StatisticsMeta,
    StatisticsRuns,
)
from homeassistant.helpers.json import json_bytes
from homeassistant.util.ulid import ulid_at_time, ulid_to_bytes
from sqlalchemy import Connection, create_engine, insert
from sqlalchemy.orm import Session

from custom_components.homeiq_device_intel.ml.records import FloatArray, StatSeries

EVENT_START: Final = "homeassistant_start"
EVENT_STOP: Final = "homeassistant_stop"
SHORT_TERM_PERIOD: Final = 300.0
HOUR: Final = 3600.0
BATCH_ROWS: Final = 20_000


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedEntity:
    """One entity's recorded history: state rows, attributes and hourly statistics.

    times: float64 (n,) POSIX seconds, ascending; states: the n state strings.
    statistics: hourly mean/min/max, for sensors with a state class.
    row_attributes: the attributes of each of the n rows, when they change
    (None: `attributes` for every row).
    """

    attributes: Mapping[str, Any]
    times: FloatArray
    states: Sequence[str]
    statistics: StatSeries | None = None
    row_attributes: Sequence[Mapping[str, Any]] | None = None

    def attribute_sets(self) -> list[Mapping[str, Any]]:
        """The distinct attribute sets of the rows, in order of first appearance."""
        if self.row_attributes is None:
            return [self.attributes]
        seen: dict[bytes, Mapping[str, Any]] = {}
        for attributes in self.row_attributes:
            seen.setdefault(json_bytes(dict(attributes)), attributes)
        return list(seen.values())


@dataclass(frozen=True, slots=True)
class DbSummary:
    """What was written."""

    entities: int
    states: int
    statistics: int
    events: int
    schema_version: int


def _utc(timestamp: float) -> datetime:
    """Return a timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(timestamp, tz=UTC)


def collapse_reports(
    times: Sequence[float], states: Sequence[str], keys: Sequence[int] | None = None
) -> list[tuple[float, float, str]]:
    """Merge consecutive equal states into one row: (last_updated, last_reported, state).

    `keys` (one per row, e.g. which attribute set it has): a row whose key
    differs from the previous row's is a new row even with an equal state.
    """
    rows: list[tuple[float, float, str]] = []
    keys = keys if keys is not None else [0] * len(times)
    last_key: int | None = None
    for time, state, key in zip(times, states, keys, strict=True):
        if rows and rows[-1][2] == state and key == last_key:
            rows[-1] = (rows[-1][0], time, state)
        else:
            rows.append((time, time, state))
        last_key = key
    return rows


def _collapsed(entity: RecordedEntity, end: float) -> list[tuple[float, float, str, int]]:
    """An entity's rows up to `end`: (last_updated, last_reported, state, attribute set index)."""
    times = [t for t in entity.times.tolist() if t <= end]
    if entity.row_attributes is None:
        return [(u, r, s, 0) for u, r, s in collapse_reports(times, entity.states[: len(times)])]
    index = {json_bytes(dict(a)): k for k, a in enumerate(entity.attribute_sets())}
    keys = [index[json_bytes(dict(a))] for a in entity.row_attributes[: len(times)]]
    out: list[tuple[float, float, str, int]] = []
    position = 0
    for updated, reported, state in collapse_reports(times, entity.states[: len(times)], keys):
        while times[position] != updated:
            position += 1
        out.append((updated, reported, state, keys[position]))
    return out


def _context(timestamp: float) -> bytes:
    """Return a fresh binary context id created at a time (a ULID, as HA makes them)."""
    return ulid_to_bytes(ulid_at_time(timestamp))


def _batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Split rows into bounded insert batches."""
    for start in range(0, len(rows), BATCH_ROWS):
        yield rows[start : start + BATCH_ROWS]


def _state_rows(
    entities: Mapping[str, RecordedEntity],
    metadata_ids: Mapping[str, int],
    attributes_ids: Mapping[str, list[int]],
    end: float,
) -> list[dict[str, Any]]:
    """Build every `states` row, numbered in time order across entities."""
    pending: list[tuple[float, float, str, str, int]] = []
    for entity_id, entity in entities.items():
        for updated, reported, state, attribute_set in _collapsed(entity, end):
            pending.append((updated, reported, entity_id, state, attribute_set))
    pending.sort(key=lambda row: (row[0], row[2]))
    last_row: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for state_id, (updated, reported, entity_id, state, attribute_set) in enumerate(pending, start=1):
        rows.append(
            {
                "state_id": state_id,
                "state": state,
                "last_updated_ts": updated,
                "last_changed_ts": None,
                "last_reported_ts": None if reported == updated else reported,
                "old_state_id": last_row.get(entity_id),
                "attributes_id": attributes_ids[entity_id][attribute_set],
                "metadata_id": metadata_ids[entity_id],
                "origin_idx": 0,
                "context_id_bin": _context(updated),
            }
        )
        last_row[entity_id] = state_id
    return rows


def _statistics_rows(
    entities: Mapping[str, RecordedEntity], statistic_ids: Mapping[str, int], end: float
) -> list[dict[str, Any]]:
    """Build the hourly `statistics` rows of every complete hour before `end`."""
    rows: list[dict[str, Any]] = []
    for entity_id, metadata_id in statistic_ids.items():
        stats = entities[entity_id].statistics
        if stats is None:
            continue
        keep = (stats.start + HOUR <= end) & np.isfinite(stats.mean)
        for start, mean, low, high in zip(
            stats.start[keep].tolist(),
            stats.mean[keep].tolist(),
            stats.min[keep].tolist(),
            stats.max[keep].tolist(),
            strict=True,
        ):
            rows.append(
                {
                    "metadata_id": metadata_id,
                    "start_ts": start,
                    "created_ts": start + HOUR + 10.0,
                    "mean": mean,
                    "min": low if math.isfinite(low) else mean,
                    "max": high if math.isfinite(high) else mean,
                }
            )
    return rows


def _run_bounds(restarts: Sequence[float], start: float, end: float) -> list[tuple[float, float]]:
    """Return the recorder runs (start, end): one per restart, the last ending at `end`."""
    inside = sorted(t for t in restarts if start < t < end)
    starts = [start, *inside]
    ends = [*(t - 1.0 for t in inside), end]
    return list(zip(starts, ends, strict=True))


def _statistics_meta_row(entity_id: str, unit: object) -> dict[str, Any]:
    """Return the statistics metadata the sensor platform writes for a mean statistic."""
    row: dict[str, Any] = {
        "statistic_id": entity_id,
        "source": "recorder",
        "unit_of_measurement": unit if isinstance(unit, str) else None,
        "has_sum": False,
        "name": None,
    }
    if "mean_type" in StatisticsMeta.__table__.c:
        row["mean_type"] = 1  # StatisticMeanType.ARITHMETIC; has_mean is left NULL since schema 50
    else:
        row["has_mean"] = True
    return row


def write_recorder_db(
    path: Path,
    entities: Mapping[str, RecordedEntity],
    *,
    restarts: Sequence[float],
    start: float,
    end: float,
) -> DbSummary:
    """Create `path` (which must not exist) holding the entities' history from `start` to `end`.

    `restarts` are the times Home Assistant started again during the history.
    Sensors with a `state_class` attribute and statistics get long-term statistics.
    """
    if path.exists():
        raise FileExistsError(path)
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    runs = _run_bounds(restarts, start, end)
    with Session(engine) as session:
        _add_bookkeeping(session, runs, start, end)
        # Core inserts (plain executemany) with ids given here: the ORM's bulk path is ten times slower.
        connection = session.connection()
        metadata_ids = {entity_id: n for n, entity_id in enumerate(entities, start=1)}
        attributes_ids, attribute_rows = _attribute_rows(entities)
        statistic_ids = _statistic_ids(entities)
        _insert_metadata(connection, entities, metadata_ids, attribute_rows, statistic_ids)
        state_rows = _state_rows(entities, metadata_ids, attributes_ids, end)
        _insert(connection, States, state_rows)
        statistics_rows = _statistics_rows(entities, statistic_ids, end)
        _insert(connection, Statistics, statistics_rows)
        n_events = _add_run_events(session, runs, end)
        session.commit()
    engine.dispose()
    return DbSummary(
        entities=len(entities),
        states=len(state_rows),
        statistics=len(statistics_rows),
        events=n_events,
        schema_version=SCHEMA_VERSION,
    )


def _add_bookkeeping(session: Session, runs: list[tuple[float, float]], start: float, end: float) -> None:
    """Add the schema version, the migrations done, the recorder runs and the last statistics run."""
    session.add(SchemaChanges(schema_version=SCHEMA_VERSION, changed=_utc(start)))
    for migrator in (*migration.NON_LIVE_DATA_MIGRATORS, *migration.LIVE_DATA_MIGRATORS):
        session.add(MigrationChanges(migration_id=migrator.migration_id, version=migrator.migration_version))
    for run_start, run_end in runs:
        session.add(
            RecorderRuns(
                start=_utc(run_start), end=_utc(run_end), closed_incorrect=False, created=_utc(run_start)
            )
        )
    # The last compiled 5-minute period: the recorder compiles only what follows.
    last_period = math.floor(end / SHORT_TERM_PERIOD) * SHORT_TERM_PERIOD - SHORT_TERM_PERIOD
    session.add(StatisticsRuns(start=_utc(last_period)))
    session.flush()


def _attribute_rows(
    entities: Mapping[str, RecordedEntity],
) -> tuple[dict[str, list[int]], list[dict[str, Any]]]:
    """Return each entity's attributes ids (one per attribute set) and the state_attributes rows."""
    attributes_ids: dict[str, list[int]] = {}
    attribute_rows: list[dict[str, Any]] = []
    for entity_id, entity in entities.items():
        attributes_ids[entity_id] = []
        for attributes in entity.attribute_sets():
            shared = json_bytes(dict(attributes))
            attributes_ids[entity_id].append(len(attribute_rows) + 1)
            attribute_rows.append(
                {
                    "attributes_id": len(attribute_rows) + 1,
                    "shared_attrs": shared.decode(),
                    "hash": StateAttributes.hash_shared_attrs_bytes(shared),
                }
            )
    return attributes_ids, attribute_rows


def _statistic_ids(entities: Mapping[str, RecordedEntity]) -> dict[str, int]:
    """Return the statistics_meta id of each entity that gets long-term statistics."""
    with_statistics = [
        entity_id
        for entity_id, entity in entities.items()
        if entity.statistics is not None and entity.attributes.get("state_class")
    ]
    return {entity_id: n for n, entity_id in enumerate(with_statistics, start=1)}


def _insert_metadata(
    connection: Connection,
    entities: Mapping[str, RecordedEntity],
    metadata_ids: Mapping[str, int],
    attribute_rows: list[dict[str, Any]],
    statistic_ids: Mapping[str, int],
) -> None:
    """Insert the states_meta, state_attributes and statistics_meta rows."""
    connection.execute(
        insert(StatesMeta.__table__),
        [{"metadata_id": metadata_ids[e], "entity_id": e} for e in entities],
    )
    connection.execute(insert(StateAttributes.__table__), attribute_rows)
    if statistic_ids:
        connection.execute(
            insert(StatisticsMeta.__table__),
            [
                {"id": n, **_statistics_meta_row(e, entities[e].attributes.get("unit_of_measurement"))}
                for e, n in statistic_ids.items()
            ],
        )


def _insert(
    connection: Connection, table: type[States] | type[Statistics], rows: list[dict[str, Any]]
) -> None:
    """Insert rows into a table in bounded batches."""
    for batch in _batches(rows):
        connection.execute(insert(table.__table__), batch)


def _add_run_events(session: Session, runs: list[tuple[float, float]], end: float) -> int:
    """Add a start event at each run's start and a stop event at each end before `end`; return how many."""
    event_types = {name: EventTypes(event_type=name) for name in (EVENT_STOP, EVENT_START)}
    session.add_all(event_types.values())
    session.flush()
    event_rows: list[dict[str, Any]] = []
    for run_start, run_end in runs:
        fired = [(EVENT_START, run_start)] + ([(EVENT_STOP, run_end)] if run_end < end else [])
        event_rows += [
            {
                "event_type_id": event_types[name].event_type_id,
                "time_fired_ts": at,
                "origin_idx": 0,
                "context_id_bin": _context(at),
            }
            for name, at in fired
        ]
    session.connection().execute(insert(Events.__table__), event_rows)
    return len(event_rows)
