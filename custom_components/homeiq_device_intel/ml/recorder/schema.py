"""Which recorder layout a database has: its schema version and the tables and columns present.

`detect_schema` reads the database catalog (or trusts a known current schema
version) into a `SchemaInfo`; `unread_parts` says what a layout lacks that the
reader would read; `states_source` / `statistics_source` name the key and time
columns the reads use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Final, Literal

from .sql import QueryFn, fetch

Key = int | str  # states_meta/statistics_meta id, or entity_id in schemas < 38
Dialect = Literal["sqlite", "mysql", "postgresql"]

# From this schema on, every column the reader uses exists (and legacy ones are empty).
CURRENT_LAYOUT_SCHEMA: Final = 48
# The newest schema the reader was checked against: HA 2025.4.4 writes 50,
# HA 2026.2.3 writes 53 (51-53 add statistics_meta.unit_class and fix MySQL
# collations: nothing read here). A newer version is read from the catalog only.
NEWEST_KNOWN_SCHEMA: Final = 53

_COLUMNS_SQL: Final[dict[str, str]] = {
    "sqlite": (
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'"
    ),
    "mysql": (
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = DATABASE()"
    ),
    "postgresql": (
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
    ),
}


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    """The recorder schema version and which tables and columns exist."""

    version: int | None
    states: bool  # a states table with a state, an entity key and a time column
    states_meta: bool  # states_meta + states.metadata_id (schema >= 38)
    state_ts: bool  # states.last_updated_ts (>= 31), else last_updated datetimes
    last_reported: bool  # states.last_reported_ts (>= 43)
    state_attributes: bool  # state_attributes + states.attributes_id (>= 25)
    legacy_attributes: bool  # states.attributes (rows written before schema 25)
    statistics: bool  # statistics + statistics_meta
    statistics_ts: bool  # statistics.start_ts (>= 34), else start datetimes
    mean_type: bool  # statistics_meta.mean_type (>= 49)
    event_types: bool  # event_types + events.event_type_id (>= 37)
    event_data: bool  # event_data + events.data_id (>= 28)
    legacy_event_data: bool  # events.event_data
    event_ts: bool  # events.time_fired_ts (>= 31), else time_fired datetimes
    events: bool = True  # events with a type and a time column (restarts, battery swaps)
    statistics_mean: bool = True  # statistics_meta says which statistics have a mean
    statistics_sum: bool = True  # statistics_meta.has_sum
    statistics_unit: bool = True  # statistics_meta.unit_of_measurement
    # What this layout lacks that the reader would read, in words (see `unread_parts`).
    not_read: tuple[str, ...] = ()

    @property
    def newer_than_known(self) -> bool:
        """True for a schema version newer than the newest the reader was checked against."""
        return self.version is not None and self.version > NEWEST_KNOWN_SCHEMA


@dataclass(frozen=True, slots=True)
class TableSource:
    """A time-keyed table: its key and time columns."""

    table: str
    key: str
    time: str
    numeric_time: bool


def detect_schema(query: QueryFn, dialect: Dialect | None = None) -> SchemaInfo:
    """Detect the schema version and the recorder tables and columns present.

    With a dialect the database catalog is read. Without one, a database at
    schema 48 to `NEWEST_KNOWN_SCHEMA` (HA migrates a live database when it
    starts) is described by its version, and any other is read as SQLite (an
    offline copy). A version newer than the reader knows is never assumed to
    look like the current one: only what the catalog shows is read, and
    `SchemaInfo.not_read` says what that leaves out.
    """
    if dialect is None:
        version = _schema_version(query)
        if version is not None and CURRENT_LAYOUT_SCHEMA <= version <= NEWEST_KNOWN_SCHEMA:
            return _current_layout(version)
        dialect = "sqlite"
    found = _catalog_layout(query, _catalog(query, dialect))
    return replace(found, not_read=unread_parts(found))


def _schema_version(query: QueryFn) -> int | None:
    """The schema version HA last migrated the database to."""
    rows = fetch(query, "SELECT schema_version FROM schema_changes ORDER BY change_id DESC LIMIT 1", {})
    return rows[0][0] if rows and isinstance(rows[0][0], int) else None


def _current_layout(version: int) -> SchemaInfo:
    """The layout of a known current schema (48 to NEWEST_KNOWN_SCHEMA)."""
    return SchemaInfo(
        version=version,
        states=True,
        states_meta=True,
        state_ts=True,
        last_reported=True,
        state_attributes=True,
        legacy_attributes=False,  # emptied by the migrations before 48
        statistics=True,
        statistics_ts=True,
        mean_type=version >= 49,
        event_types=True,
        event_data=True,
        legacy_event_data=False,
        event_ts=True,
    )


def _catalog(query: QueryFn, dialect: Dialect) -> dict[str, set[str]]:
    """Lower-cased column names of each table, from the database catalog."""
    columns: dict[str, set[str]] = {}
    for table, column in fetch(query, _COLUMNS_SQL[dialect], {}):
        columns.setdefault(str(table).lower(), set()).add(str(column).lower())
    return columns


def _has(columns: Mapping[str, set[str]], table: str, *names: str) -> bool:
    """True when the table exists with all these columns."""
    return table in columns and all(n in columns[table] for n in names)


def _catalog_layout(query: QueryFn, columns: Mapping[str, set[str]]) -> SchemaInfo:
    """The layout the catalog shows (`not_read` left empty)."""
    has = partial(_has, columns)
    version = _schema_version(query) if has("schema_changes", "schema_version", "change_id") else None
    event_types = has("event_types", "event_type_id", "event_type") and has("events", "event_type_id")
    return SchemaInfo(
        version=version,
        states=has("states", "state_id", "state")
        and (has("states", "metadata_id") or has("states", "entity_id"))
        and (has("states", "last_updated_ts") or has("states", "last_updated")),
        states_meta=has("states_meta", "metadata_id", "entity_id") and has("states", "metadata_id"),
        state_ts=has("states", "last_updated_ts"),
        last_reported=has("states", "last_reported_ts"),
        state_attributes=has("state_attributes", "attributes_id", "shared_attrs")
        and has("states", "attributes_id"),
        legacy_attributes=has("states", "attributes"),
        statistics=has("statistics", "metadata_id", "mean", "min", "max")
        and (has("statistics", "start_ts") or has("statistics", "start"))
        and has("statistics_meta", "id", "statistic_id"),
        statistics_ts=has("statistics", "start_ts"),
        mean_type=has("statistics_meta", "mean_type"),
        event_types=event_types,
        event_data=has("event_data", "data_id", "shared_data") and has("events", "data_id"),
        legacy_event_data=has("events", "event_data"),
        event_ts=has("events", "time_fired_ts"),
        events=(event_types or has("events", "event_type"))
        and (has("events", "time_fired_ts") or has("events", "time_fired")),
        statistics_mean=has("statistics_meta", "mean_type") or has("statistics_meta", "has_mean"),
        statistics_sum=has("statistics_meta", "has_sum"),
        statistics_unit=has("statistics_meta", "unit_of_measurement"),
    )


def unread_parts(schema: SchemaInfo) -> tuple[str, ...]:
    """What a database of this layout holds (or may hold) that the reader cannot read.

    Only said of layouts at the current schema or newer, where every part has
    existed: in older ones a missing part is simply what HA wrote then. A
    layout newer than the reader knows is also named, since it may keep data
    in places the reader does not look.
    """
    if schema.version is None or schema.version < CURRENT_LAYOUT_SCHEMA:
        return ()
    parts: list[str] = []
    if schema.newer_than_known:
        parts.append(
            f"recorder schema {schema.version} is newer than the newest known ({NEWEST_KNOWN_SCHEMA}): "
            "only the tables and columns found in the database catalog are read"
        )
    checks = (
        (schema.states and schema.states_meta and schema.state_ts, "states (entities' state history)"),
        (schema.last_reported, "states.last_reported_ts (re-reports of an unchanged state)"),
        (schema.state_attributes, "state_attributes (device class and unit from attributes)"),
        (schema.statistics and schema.statistics_ts, "statistics (long-term hourly mean/min/max)"),
        (schema.statistics_mean, "statistics_meta.mean_type (which statistics have a mean)"),
        (schema.events and schema.event_types and schema.event_ts, "events (restarts, battery swaps)"),
        (schema.event_data, "event_data (battery-replaced event details)"),
    )
    parts += [f"not read, missing: {what}" for present, what in checks if not present]
    return tuple(parts)


def states_source(schema: SchemaInfo) -> TableSource:
    """The states table's key and time columns in this schema."""
    return TableSource(
        "states",
        "metadata_id" if schema.states_meta else "entity_id",
        "last_updated_ts" if schema.state_ts else "last_updated",
        schema.state_ts,
    )


def statistics_source(schema: SchemaInfo) -> TableSource:
    """The statistics table's key and time columns in this schema."""
    return TableSource(
        "statistics",
        "metadata_id",
        "start_ts" if schema.statistics_ts else "start",
        schema.statistics_ts,
    )


def attributes_column(schema: SchemaInfo) -> tuple[str, str]:
    """SQL of a `states s` row's attributes JSON, and the join it needs (shared or legacy column)."""
    columns = [
        *(["a.shared_attrs"] if schema.state_attributes else []),
        *(["s.attributes"] if schema.legacy_attributes else []),
    ]
    join = (
        " LEFT JOIN state_attributes a ON a.attributes_id = s.attributes_id"
        if schema.state_attributes
        else ""
    )
    if not columns:
        return "NULL", ""
    return (columns[0] if len(columns) == 1 else f"COALESCE({', '.join(columns)})"), join
