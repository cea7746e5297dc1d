"""Read a Home Assistant recorder database (schema 29 to current) into a HomeHistory.

No Home Assistant or SQLAlchemy here: the caller passes a `QueryFn` that runs
SQL with named `:params` and returns rows, e.g. `lambda sql, p:
conn.execute(sql, p)` for `sqlite3` or `session.execute(text(sql), p)` in HA.

The reader keys on the tables and columns the database has, not on the
version number, so every layout HA has written since schema 25 reads:

- entities: `states_meta` + `states.metadata_id` (>= 38) or `states.entity_id`;
- times: `last_updated_ts` floats (>= 31) or naive-UTC `last_updated` datetimes;
- `last_reported_ts` (>= 43): HA then updates the last row in place instead of
  writing a row when an entity re-reports an unchanged state;
- statistics: `start_ts` (>= 34) or `start`; "has a mean" is `mean_type > 0`
  (>= 49; schema 50 nulls `has_mean`) or `has_mean`;
- events: `event_types` (>= 37) or `events.event_type`; data in `event_data`
  (>= 28) or `events.event_data`; `time_fired_ts` (>= 31) or `time_fired`.

States are read in bounded chunks: `plan_read` counts rows per entity and packs
entities (or time slices of one busy entity) into chunks of about `chunk_rows`
rows; `read_chunk` reads one chunk (one recorder executor job each);
`assemble_history` joins the pieces. `read_history` does all three.

Without a registry (an offline copy has none) devices are inferred from entity
ids; see `infer_devices` and `is_device_entity` for the rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from itertools import compress, pairwise
from operator import itemgetter
from typing import Final, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from .classify import ROLE_SUFFIXES, device_kind, entity_role, words
from .records import (
    UNAVAILABLE,
    UNKNOWN,
    DeviceRecord,
    EntityRecord,
    EntityRole,
    FloatArray,
    HomeHistory,
    IntArray,
    Power,
    Protocol,
    StateSeries,
    StatSeries,
)

QueryFn = Callable[[str, dict[str, object]], Iterable[Sequence[object]]]
Key = int | str  # states_meta/statistics_meta id, or entity_id in schemas < 38
Dialect = Literal["sqlite", "mysql", "postgresql"]

# An entity registry entry as the HA layer passes it: device, role, device_class, unit.
type RegistryValue = tuple[DeviceRecord, EntityRole, str | None, str | None]

EVENT_RESTART: Final = "homeassistant_start"
EVENT_BATTERY_REPLACED: Final = "battery_notes_battery_replaced"
INFERRED_PREFIX: Final = "inferred:"
# From this schema on, every column the reader uses exists (and legacy ones are empty).
CURRENT_LAYOUT_SCHEMA: Final = 48
# The newest schema the reader was checked against: HA 2025.4.4 writes 50,
# HA 2026.2.3 writes 53 (51-53 add statistics_meta.unit_class and fix MySQL
# collations: nothing read here). A newer version is read from the catalog only.
NEWEST_KNOWN_SCHEMA: Final = 53
# Bound parameters per IN list: far below every backend's limit.
MAX_KEYS_PER_QUERY: Final = 500

_SPECIAL_STATES: Final[dict[object, int]] = {
    None: UNKNOWN,
    "unavailable": UNAVAILABLE,
    "unknown": UNKNOWN,
    "": UNKNOWN,
    "None": UNKNOWN,
}
# Every ASCII character float() accepts ("1_000.5e-3", " inf ", "NaN", "Infinity").
_NUMBER_CHARS: Final = "0123456789+-._eE \t\n\r\x0b\x0cinfatyINFATY"
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_THIRD = itemgetter(2)
_FOURTH = itemgetter(3)
_FIFTH = itemgetter(4)


class RegisteredEntity(NamedTuple):
    """What the HA registries say about one entity."""

    device: DeviceRecord
    role: EntityRole
    device_class: str | None = None
    unit: str | None = None


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


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityRow:
    """An entity the recorder knows, with its last recorded attributes."""

    entity_id: str
    metadata_id: int | None = None  # states_meta id (schema >= 38)
    statistic_id: int | None = None  # statistics_meta id of its long-term statistics
    device_class: str | None = None
    unit: str | None = None
    state_class: str | None = None
    friendly_name: str | None = None
    has_mean_statistics: bool = False  # hourly mean/min/max (measurements)
    has_sum_statistics: bool = False  # hourly sum/state (meters); not read
    attributes_valid: bool = True  # False when its attributes JSON was unreadable


@dataclass(slots=True)
class ReadSummary:
    """What a read found, skipped and repaired (rows are never a reason to raise)."""

    entities: int = 0  # entities in the history
    skipped_entities: int = 0  # entities of non-device domains (inference only)
    state_rows: int = 0  # state rows kept
    start_states: int = 0  # entities given their state at the window start
    statistics_rows: int = 0  # hourly statistics rows kept
    null_time_rows: int = 0  # rows without a usable time (states: whole table): skipped
    unmigrated_rows: int = 0  # states rows without metadata_id (whole table): skipped
    duplicate_rows: int = 0  # same entity and time: only the last written is kept
    unordered_rows: int = 0  # rows of entities that needed sorting by time
    null_states: int = 0  # NULL state (HA wrote none): read as UNKNOWN
    bad_attributes: int = 0  # entities whose attributes JSON was unreadable
    bad_events: int = 0  # restart/battery events without a usable time or data
    restarts: int = 0
    battery_swaps: int = 0

    def add(self, other: ReadSummary) -> None:
        """Add another summary's counts to this one."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(frozen=True, slots=True)
class ReadChunk:
    """One bounded read: some entities' rows in [start, end)."""

    kind: Literal["states", "statistics", "events"]
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
    statistic_keys: Mapping[Key, str]  # statistics_meta id -> entity_id
    start_states: Mapping[str, tuple[object, float]]  # entity_id -> (state, reported)
    chunks: tuple[ReadChunk, ...]
    summary: ReadSummary


@dataclass(slots=True)
class ChunkResult:
    """The rows of one chunk, per entity, in time order."""

    chunk: ReadChunk
    states: list[tuple[str, StateSeries]] = field(default_factory=list)
    statistics: list[tuple[str, StatSeries]] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)
    # (device_key, source_entity_id, time) of battery-replaced events
    swaps: list[tuple[str | None, str | None, float]] = field(default_factory=list)
    summary: ReadSummary = field(default_factory=ReadSummary)


@dataclass(frozen=True, slots=True)
class _Source:
    """A time-keyed table: its key and time columns."""

    table: str
    key: str
    time: str
    numeric_time: bool


# ---------------------------------------------------------------- schema


def _fetch(query: QueryFn, sql: str, params: dict[str, object]) -> list[Sequence[object]]:
    """Run a query and return all its rows as a list."""
    result = query(sql, params)
    fetchall = getattr(result, "fetchall", None)
    rows = fetchall() if callable(fetchall) else result
    return rows if isinstance(rows, list) else list(rows)


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


def _schema_version(query: QueryFn) -> int | None:
    """The schema version HA last migrated the database to."""
    rows = _fetch(query, "SELECT schema_version FROM schema_changes ORDER BY change_id DESC LIMIT 1", {})
    return rows[0][0] if rows and isinstance(rows[0][0], int) else None


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
        dialect = "sqlite"
    columns: dict[str, set[str]] = {}
    for table, column in _fetch(query, _COLUMNS_SQL[dialect], {}):
        columns.setdefault(str(table).lower(), set()).add(str(column).lower())

    def has(table: str, *names: str) -> bool:
        return table in columns and all(n in columns[table] for n in names)

    version = _schema_version(query) if has("schema_changes", "schema_version", "change_id") else None
    event_types = has("event_types", "event_type_id", "event_type") and has("events", "event_type_id")
    found = SchemaInfo(
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
    return replace(found, not_read=unread_parts(found))


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


def _states_source(schema: SchemaInfo) -> _Source:
    """The states table's key and time columns in this schema."""
    return _Source(
        "states",
        "metadata_id" if schema.states_meta else "entity_id",
        "last_updated_ts" if schema.state_ts else "last_updated",
        schema.state_ts,
    )


def _statistics_source(schema: SchemaInfo) -> _Source:
    """The statistics table's key and time columns in this schema."""
    return _Source(
        "statistics",
        "metadata_id",
        "start_ts" if schema.statistics_ts else "start",
        schema.statistics_ts,
    )


# ---------------------------------------------------------------- values


def _db_time(numeric: bool, t: float) -> object:
    """A POSIX time as the column stores it: a float, or a naive-UTC datetime string."""
    if numeric:
        return float(t)
    clamped = min(max(t, 0.0), 253402300799.0)
    return datetime.fromtimestamp(clamped, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _floats(values: list[object]) -> FloatArray:
    """float64 (n,) of a column; NULL and anything unreadable become NaN."""
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            if v is None or isinstance(v, bool):
                continue
            try:
                out[i] = float(v)  # type: ignore[arg-type]
            except (TypeError, ValueError, OverflowError):
                continue
        return out


def _one_datetime(value: object) -> np.datetime64:
    """One legacy datetime (naive UTC string or datetime) as datetime64[us], NaT if bad."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return np.datetime64("NaT", "us")
    if not isinstance(value, datetime):
        return np.datetime64("NaT", "us")
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(value, "us")


def _times(values: list[object], numeric: bool) -> FloatArray:
    """float64 (n,) POSIX seconds of a time column; unreadable times become NaN."""
    if numeric:
        return _floats(values)
    stamps: npt.NDArray[np.datetime64] | None = None
    if values and all(type(v) is str for v in values):
        try:
            stamps = np.array(values, dtype="datetime64[us]")
        except (TypeError, ValueError, OverflowError):
            stamps = None
    if stamps is None:
        stamps = np.array([_one_datetime(v) for v in values], dtype="datetime64[us]")
    out: FloatArray = stamps.astype(np.int64).astype(np.float64)
    out /= 1e6
    out[np.isnat(stamps)] = np.nan
    return out


def _could_be_number(raw: object) -> bool:
    """False for strings `float()` surely rejects (cheaper than the exception)."""
    if not isinstance(raw, str):
        return True
    rest = raw.strip(_NUMBER_CHARS)
    return not rest or not rest.isascii()


def _column(rows: list[Sequence[object]], get: itemgetter[int], numeric: bool) -> FloatArray:
    """float64 (n,) of one column of rows: a number, or a time if not `numeric`."""
    if numeric:
        try:
            return np.fromiter(map(get, rows), dtype=np.float64, count=len(rows))
        except (TypeError, ValueError, OverflowError):
            pass  # NULLs or text: the careful path below
    return _times(list(map(get, rows)), numeric)


def _numbers(labels: list[object]) -> FloatArray:
    """Numeric value of each state string as `float()` reads it; NaN if not finite."""
    try:
        out = np.array(labels, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        out = np.full(len(labels), np.nan)
        for i, raw in enumerate(labels):
            if not _could_be_number(raw):
                continue
            try:
                out[i] = float(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError, OverflowError):
                continue
    out[~np.isfinite(out)] = np.nan
    return out


def _encode(
    time: FloatArray,
    states: list[object],
    reported: FloatArray | None,
    summary: ReadSummary,
) -> StateSeries:
    """Encode one entity's rows (time-ordered by SQL) as `records.encode_states` does.

    Rows without a time are dropped, rows out of order sorted, and of rows with
    the same time only the last written is kept; each is counted in `summary`.
    """
    bad = np.isnan(time)
    if bad.any():
        summary.null_time_rows += int(bad.sum())
        keep = ~bad
        time = time[keep]
        states = list(compress(states, keep.tolist()))
        reported = None if reported is None else reported[keep]
    n = time.shape[0]
    if n > 1 and bool((time[1:] < time[:-1]).any()):
        summary.unordered_rows += n
        order = np.argsort(time, kind="stable")
        time = time[order]
        states = [states[i] for i in order]
        reported = None if reported is None else reported[order]
    if n > 1:
        dup = time[1:] == time[:-1]
        if dup.any():
            summary.duplicate_rows += int(dup.sum())
            last = np.append(~dup, True)
            time = time[last]
            states = list(compress(states, last.tolist()))
            reported = None if reported is None else reported[last]
            n = time.shape[0]
    vocab: dict[object, int] = dict.fromkeys(states, 0)
    labels = list(vocab)
    vocab = dict(zip(labels, range(len(labels)), strict=True))
    position = np.fromiter(map(vocab.__getitem__, states), dtype=np.intp, count=n)
    code_of = np.arange(len(labels), dtype=np.int32)
    special = [(vocab[s], c) for s, c in _SPECIAL_STATES.items() if s in vocab]
    if special:
        is_special = np.zeros(len(labels), dtype=bool)
        for at, _ in special:
            is_special[at] = True
        code_of = (np.cumsum(~is_special) - 1).astype(np.int32)
        for at, c in special:
            code_of[at] = c
        if None in vocab:
            summary.null_states += int(np.count_nonzero(position == vocab[None]))
        for at, _ in sorted(special, reverse=True):
            del labels[at]
        value_of = np.full(code_of.shape[0], np.nan)
        value_of[~is_special] = _numbers(labels)
    else:
        value_of = _numbers(labels)
    if reported is not None:
        reported = np.fmax(reported, time)
    code: IntArray = code_of[position]
    return StateSeries(
        time=time,
        value=value_of[position],
        code=code,
        labels=tuple(map(str, labels)),
        last_reported=reported,
    )


def _merge_series(pieces: list[StateSeries]) -> StateSeries:
    """Join time-ordered pieces of one entity, re-tokenising by first appearance."""
    if len(pieces) == 1:
        return pieces[0]
    tokens: dict[str, int] = {}
    codes: list[IntArray] = []
    for piece in pieces:
        remap = np.array(
            [tokens.setdefault(label, len(tokens)) for label in piece.labels] or [0],
            dtype=np.int32,
        )
        codes.append(np.where(piece.code >= 0, remap[np.maximum(piece.code, 0)], piece.code).astype(np.int32))
    reported = [p.last_reported for p in pieces]
    return StateSeries(
        time=np.concatenate([p.time for p in pieces]),
        value=np.concatenate([p.value for p in pieces]),
        code=np.concatenate(codes),
        labels=tuple(tokens),
        last_reported=None
        if any(r is None for r in reported)
        else np.concatenate([r for r in reported if r is not None]),
    )


def _empty_series(last_reported: bool) -> StateSeries:
    """A series with no rows."""
    return StateSeries(
        time=np.empty(0),
        value=np.empty(0),
        code=np.empty(0, dtype=np.int32),
        last_reported=np.empty(0) if last_reported else None,
    )


def _attributes(raw: object) -> tuple[dict[str, object], bool]:
    """Parse an attributes JSON object; ({}, False) when it is not one."""
    if raw is None or raw == "":
        return {}, True
    try:
        parsed = json.loads(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return {}, False
    if not isinstance(parsed, dict):
        return {}, False
    return parsed, True


def _text(value: object) -> str | None:
    """A string attribute, or None when absent or not a string."""
    return value if isinstance(value, str) and value else None


# ---------------------------------------------------------------- entities


def _in_list(prefix: str, values: Sequence[object], params: dict[str, object]) -> str:
    """Bind values as :prefix0, :prefix1, ... and return the placeholder list for an IN (...).

    The list is padded to a power of two (up to MAX_KEYS_PER_QUERY) by repeating
    the last value, which an IN list ignores: the database driver and SQLAlchemy
    cache one compiled statement per distinct text, and a home whose entity count
    changes would otherwise add a new one at every change.
    """
    if not values:
        return ""
    size = max(len(values), min(1 << (len(values) - 1).bit_length(), MAX_KEYS_PER_QUERY))
    padded = [*values, *([values[-1]] * (size - len(values)))]
    names = []
    for i, value in enumerate(padded):
        params[f"{prefix}{i}"] = value
        names.append(f":{prefix}{i}")
    return ", ".join(names)


def _batches[T](values: Sequence[T], size: int = MAX_KEYS_PER_QUERY) -> Iterable[Sequence[T]]:
    """Consecutive slices of at most `size` values."""
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _filtered(
    query: QueryFn, sql: str, column: str, entity_ids: Sequence[str] | None
) -> list[Sequence[object]]:
    """Run `sql` (which ends in a WHERE clause) for all rows, or per batch of entity ids."""
    if entity_ids is None:
        return _fetch(query, sql + " 1 = 1", {})
    rows: list[Sequence[object]] = []
    for batch in _batches(entity_ids):
        params: dict[str, object] = {}
        rows += _fetch(query, f"{sql} {column} IN ({_in_list('e', batch, params)})", params)
    return rows


def list_entities(
    query: QueryFn, schema: SchemaInfo, entity_ids: Iterable[str] | None = None
) -> list[EntityRow]:
    """List the recorder's entities (or just `entity_ids`) with last attributes and statistics."""
    wanted = None if entity_ids is None else sorted(set(entity_ids))
    src = _states_source(schema)
    has_attrs = ["s2.attributes_id IS NOT NULL"] if schema.state_attributes else []
    if schema.legacy_attributes:
        has_attrs.append("s2.attributes IS NOT NULL")
    attr_cols = [
        *(["a.shared_attrs"] if schema.state_attributes else []),
        *(["s.attributes"] if schema.legacy_attributes else []),
    ]
    latest = (
        f"SELECT s2.state_id FROM states s2 WHERE s2.{src.key} = e.entity_key"
        f"{' AND (' + ' OR '.join(has_attrs) + ')' if has_attrs else ''}"
        f" ORDER BY s2.{src.time} DESC LIMIT 1"
    )
    if schema.states_meta:
        keys = "SELECT metadata_id AS entity_key, entity_id FROM states_meta WHERE"
    else:
        keys = (
            "SELECT DISTINCT entity_id AS entity_key, entity_id FROM states WHERE entity_id IS NOT NULL AND"
        )
    attrs_join = (
        " LEFT JOIN state_attributes a ON a.attributes_id = s.attributes_id"
        if schema.state_attributes
        else ""
    )
    rows: dict[str, EntityRow] = {}
    for batch in [None] if wanted is None else _batches(wanted):
        params: dict[str, object] = {}
        where = "1 = 1" if batch is None else f"entity_id IN ({_in_list('e', batch, params)})"
        sql = (
            f"SELECT e.entity_key, e.entity_id{''.join(', ' + c for c in attr_cols)} "
            f"FROM ({keys} {where}) e LEFT JOIN states s ON s.state_id = ({latest}){attrs_join}"
        )
        for row in _fetch(query, sql, params):
            entity_id = row[1]
            if not isinstance(entity_id, str) or "." not in entity_id:
                continue
            attrs, valid = _attributes(next((r for r in row[2:] if r is not None and r != ""), None))
            rows[entity_id] = EntityRow(
                entity_id=entity_id,
                metadata_id=row[0] if schema.states_meta and isinstance(row[0], int) else None,
                device_class=_text(attrs.get("device_class")),
                unit=_text(attrs.get("unit_of_measurement")),
                state_class=_text(attrs.get("state_class")),
                friendly_name=_text(attrs.get("friendly_name")),
                attributes_valid=valid,
            )
    if schema.statistics:
        # Columns a newer layout may lack read as "no" (`unread_parts` says so).
        mean = "mean_type" if schema.mean_type else "has_mean" if schema.statistics_mean else "0"
        unit_col = "unit_of_measurement" if schema.statistics_unit else "NULL"
        sum_col = "has_sum" if schema.statistics_sum else "0"
        meta_sql = f"SELECT id, statistic_id, {unit_col}, {mean}, {sum_col} FROM statistics_meta WHERE"
        for stat_id, statistic_id, unit, has_mean, has_sum in _filtered(
            query, meta_sql, "statistic_id", wanted
        ):
            # External statistics ("domain:name") belong to no entity.
            if not isinstance(statistic_id, str) or ":" in statistic_id or "." not in statistic_id:
                continue
            if not isinstance(stat_id, int):
                continue
            base = rows.get(statistic_id, EntityRow(entity_id=statistic_id))
            rows[statistic_id] = EntityRow(
                entity_id=statistic_id,
                metadata_id=base.metadata_id,
                statistic_id=stat_id,
                device_class=base.device_class,
                unit=base.unit or _text(unit),
                state_class=base.state_class,
                friendly_name=base.friendly_name,
                has_mean_statistics=bool(has_mean),
                has_sum_statistics=bool(has_sum),
                attributes_valid=base.attributes_valid,
            )
    return sorted(rows.values(), key=lambda r: r.entity_id)


# Domains whose entities are not parts of a physical device (helpers, automations,
# services, HA itself, weather services): skipped when devices are inferred.
NON_DEVICE_DOMAINS: Final = words(
    "ai_task automation calendar conversation counter group input_boolean input_button "
    "input_datetime input_number input_select input_text notify persistent_notification "
    "person plant proximity schedule scene script stt sun tag timer todo tts update "
    "wake_word weather zone"
)
# Sensors of time_date, sun, moon and season: clocks, not devices.
_NON_DEVICE_SENSOR: Final = re.compile(
    r"date|time|date_time|date_time_utc|date_time_iso|time_date|time_utc|internet_time"
    r"|beat|moon|moon_phase|season|sun_\w+"
)
# Home Assistant's own entities (restart/reload buttons, HA Cloud switches).
_HOME_ASSISTANT_ENTITY: Final = re.compile(r"(homeassistant|home_assistant|cloud)_\w+")


def is_device_entity(entity_id: str) -> bool:
    """True unless the entity is a helper, automation, service, clock or HA itself."""
    domain, _, object_id = entity_id.partition(".")
    if domain in NON_DEVICE_DOMAINS or _HOME_ASSISTANT_ENTITY.fullmatch(object_id):
        return False
    return not (domain == "sensor" and _NON_DEVICE_SENSOR.fullmatch(object_id))


# ---------------------------------------------------------------- device inference

# Other diagnostics: they name an entity of a device, never its primary one.
_DIAGNOSTIC_SUFFIXES: Final = words(
    "battery_state battery_charging battery_health charger_type last_seen uptime status "
    "node_status ip ip_address ssid bssid mac mac_address firmware firmware_version "
    "update_state update_available power_outage_count restart reboot identify ping "
    "connection_type connectivity"
)
# What the device is for (zigbee2mqtt, ZHA, ESPHome, Shelly... entity names).
_FEATURE_SUFFIXES: Final = words(
    "temperature humidity pressure illuminance illuminance_lux occupancy motion presence "
    "contact opening door window water_leak leak moisture smoke gas co2 pm25 voc tamper "
    "vibration action click power energy current power_factor"
)
_STEM_SUFFIXES: Final = ROLE_SUFFIXES | _DIAGNOSTIC_SUFFIXES | _FEATURE_SUFFIXES
# The lazy stem makes the longest known suffix win.
_STEM: Final = re.compile(r"(.+?)_(" + "|".join(sorted(_STEM_SUFFIXES)) + ")")
_RECHARGEABLE_SUFFIXES: Final = words("battery_state battery_charging charger_type")
# Domains of a device's parts, whose entity names end in a part suffix.
_PART_DOMAINS: Final = words("sensor binary_sensor button number select text event image")
# Domains that configure or poke a device rather than report what it does.
_CONFIG_DOMAINS: Final = words("button number select text event image")
_NOT_PRIMARY_CLASSES: Final = words("connectivity update problem timestamp")
# Domains whose un-suffixed entity names a whole device, so that
# `sensor.<its object_id>_<anything>` belongs to it (vacuum, phone, TV...).
_ANCHOR_DOMAINS: Final = words(
    "alarm_control_panel camera climate cover device_tracker fan humidifier lawn_mower "
    "lock media_player remote vacuum water_heater"
)
_MAINS_DOMAINS: Final = words("light switch fan media_player water_heater humidifier remote")
# Preference orders for the primary entity of a device.
_PRIMARY_DOMAINS: Final = (
    "lock",
    "climate",
    "cover",
    "vacuum",
    "lawn_mower",
    "valve",
    "light",
    "switch",
    "fan",
    "water_heater",
    "humidifier",
    "media_player",
    "alarm_control_panel",
    "siren",
    "camera",
    "binary_sensor",
    "sensor",
    "device_tracker",
    "remote",
)
_PRIMARY_SENSOR_CLASSES: Final = (
    "temperature",
    "humidity",
    "moisture",
    "pressure",
    "illuminance",
    "co2",
    "power",
)


def device_stem(entity_id: str) -> tuple[str, str | None]:
    """Split an entity's object_id into its device stem and the known suffix (if any).

    Only the domains devices expose as parts (sensor, binary_sensor, button...)
    carry suffixes; `lock.front_door` is a whole device named "front_door".
    """
    domain, _, object_id = entity_id.partition(".")
    if domain not in _PART_DOMAINS:
        return object_id, None
    match = _STEM.fullmatch(object_id)
    if match is None:
        return object_id, None
    return match.group(1), match.group(2)


def _group_entities(rows: Sequence[EntityRow]) -> dict[str, list[EntityRow]]:
    """Group entities by device stem, then hang lone unrecognised names on anchors."""
    groups: dict[str, list[EntityRow]] = {}
    anchors: set[str] = set()
    lone: set[str] = set()
    for row in rows:
        stem, suffix = device_stem(row.entity_id)
        groups.setdefault(stem, []).append(row)
        if suffix is not None or row.entity_id.partition(".")[0] in _ANCHOR_DOMAINS:
            anchors.add(stem)
        else:
            lone.add(stem)
    for stem in sorted(lone - anchors):
        if len(groups[stem]) != 1:
            continue
        parts = stem.split("_")
        # Anchors of one word ("kitchen") would swallow whole rooms.
        for cut in range(len(parts) - 1, 1, -1):
            anchor = "_".join(parts[:cut])
            if anchor in anchors:
                groups[anchor].extend(groups.pop(stem))
                break
    return groups


def _rank(order: Sequence[str], value: str | None) -> int:
    """Position of a value in a preference order; unknown values go last."""
    return order.index(value) if value in order else len(order)


def _primary_rank(row: EntityRow, stem: str) -> tuple[int, int, int, int, str]:
    """Sort key: the device's main entity first."""
    domain, _, object_id = row.entity_id.partition(".")
    return (
        0 if object_id == stem else 1,
        _rank(_PRIMARY_DOMAINS, domain),
        _rank(_PRIMARY_SENSOR_CLASSES, row.device_class),
        len(object_id),
        object_id,
    )


def _can_be_primary(row: EntityRow, role: EntityRole | None) -> bool:
    """True for an entity that reports what the device is for."""
    if role is not None or row.entity_id.partition(".")[0] in _CONFIG_DOMAINS:
        return False
    suffix = device_stem(row.entity_id)[1]
    return suffix not in _DIAGNOSTIC_SUFFIXES and row.device_class not in _NOT_PRIMARY_CLASSES


def _protocol(suffixes: set[str | None]) -> tuple[Protocol, str]:
    """Radio and integration guessed from the diagnostic entities a device has."""
    if "linkquality" in suffixes or "link_quality" in suffixes:
        return Protocol.ZIGBEE, "mqtt"  # zigbee2mqtt names it linkquality
    if "lqi" in suffixes:
        return Protocol.ZIGBEE, "zha"
    if "node_status" in suffixes:
        return Protocol.ZWAVE, "zwave_js"
    if suffixes & {"wifi_signal", "wifi_strength", "wifi_signal_strength", "ssid", "bssid"}:
        return Protocol.WIFI, "esphome" if "status" in suffixes else "unknown"
    return Protocol.UNKNOWN, "unknown"


def infer_devices(rows: Sequence[EntityRow]) -> tuple[list[DeviceRecord], list[EntityRecord]]:
    """Group entities into devices by their entity ids when no registry is at hand.

    1. The device stem of an object_id is what is left after stripping the
       longest known entity suffix (`_battery`, `_linkquality`, `_occupancy`...).
    2. Entities with equal stems form one device; an entity whose whole
       object_id is another's stem joins it (`light.desk` + `sensor.desk_rssi`).
    3. A lone entity with an unrecognised name joins the longest anchor of at
       least two words that prefixes its object_id. Anchors are the stems of
       step 1 and the object_ids of whole-device domains (vacuum,
       device_tracker, media_player, climate, lock...): `vacuum.robot_vacuum`
       takes `sensor.robot_vacuum_filter_left`; `sensor.mfc_l2710dw_status`
       makes `mfc_l2710dw` an anchor for `sensor.mfc_l2710dw_drum_counter`.
       One-word anchors ("kitchen") would swallow whole rooms, so they don't.
    4. Everything else is a device of its own.
    Roles come from device_class, unit and name (`classify.entity_role`); PRIMARY is
    the best remaining entity (un-suffixed name first, then by domain).
    """
    devices: list[DeviceRecord] = []
    entities: list[EntityRecord] = []
    for stem, members in sorted(_group_entities(rows).items()):
        roles = {m.entity_id: entity_role(m.entity_id, m.device_class, m.unit) for m in members}
        candidates = [m for m in members if _can_be_primary(m, roles[m.entity_id])]
        primary = min(candidates, key=lambda m: _primary_rank(m, stem)) if candidates else None
        suffixes = {device_stem(m.entity_id)[1] for m in members}
        protocol, integration = _protocol(suffixes)
        found = set(roles.values())
        if EntityRole.BATTERY in found or EntityRole.BATTERY_LOW in found:
            power = Power.RECHARGEABLE if suffixes & _RECHARGEABLE_SUFFIXES else Power.BATTERY
        elif primary is not None and primary.entity_id.partition(".")[0] in _MAINS_DOMAINS:
            power = Power.MAINS
        else:
            power = Power.UNKNOWN
        kind = "other"
        if primary is not None:
            kind = device_kind(primary.entity_id.partition(".")[0], primary.device_class)
        named = next((m.friendly_name for m in members if m.entity_id.partition(".")[2] == stem), None)
        device = DeviceRecord(
            device_key=INFERRED_PREFIX + stem,
            name=named or " ".join(w.capitalize() for w in stem.split("_")),
            integration=integration,
            protocol=protocol,
            kind=kind,
            power=power,
        )
        devices.append(device)
        for m in sorted(members, key=lambda m: m.entity_id):
            role = roles[m.entity_id]
            if role is None:
                role = EntityRole.PRIMARY if m is primary else EntityRole.OTHER
            entities.append(
                EntityRecord(
                    entity_id=m.entity_id,
                    device_key=device.device_key,
                    role=role,
                    device_class=m.device_class,
                    unit=m.unit,
                )
            )
    return devices, entities


def _apply_registry(
    rows: Sequence[EntityRow], registry: Mapping[str, RegistryValue]
) -> tuple[list[DeviceRecord], list[EntityRecord]]:
    """Devices and entities as the HA registries describe them."""
    devices: dict[str, DeviceRecord] = {}
    entities: list[EntityRecord] = []
    for row in rows:
        device, role, device_class, unit = registry[row.entity_id]
        devices.setdefault(device.device_key, device)
        entities.append(
            EntityRecord(
                entity_id=row.entity_id,
                device_key=device.device_key,
                role=role,
                device_class=device_class or row.device_class,
                unit=unit or row.unit,
            )
        )
    return list(devices.values()), entities


# ---------------------------------------------------------------- planning


def _count_rows(
    query: QueryFn, src: _Source, keys: Sequence[Key], start: float, end: float
) -> dict[Key, int]:
    """Rows per key in [start, end)."""
    counts: dict[Key, int] = {}
    for batch in _batches(keys):
        params: dict[str, object] = {
            "start": _db_time(src.numeric_time, start),
            "end": _db_time(src.numeric_time, end),
        }
        sql = (
            f"SELECT {src.key}, COUNT(*) FROM {src.table} "
            f"WHERE {src.key} IN ({_in_list('k', batch, params)}) "
            f"AND {src.time} >= :start AND {src.time} < :end GROUP BY {src.key}"
        )
        for key, count in _fetch(query, sql, params):
            if isinstance(key, int | str) and isinstance(count, int):
                counts[key] = count
    return counts


def _split_times(query: QueryFn, src: _Source, key: Key, start: float, end: float, size: int) -> list[float]:
    """Times that cut one key's rows in [start, end) into slices of `size` rows."""
    params: dict[str, object] = {
        "key": key,
        "start": _db_time(src.numeric_time, start),
        "end": _db_time(src.numeric_time, end),
        "size": size,
    }
    sql = (
        f"SELECT t FROM (SELECT {src.time} AS t, ROW_NUMBER() OVER (ORDER BY {src.time}) AS rn "
        f"FROM {src.table} WHERE {src.key} = :key AND {src.time} >= :start "
        f"AND {src.time} < :end) w WHERE rn > 1 AND (rn - 1) % :size = 0"
    )
    cuts = _times([r[0] for r in _fetch(query, sql, params)], src.numeric_time)
    return sorted({float(c) for c in cuts if start < c < end})


def _pack_chunks(
    query: QueryFn,
    kind: Literal["states", "statistics"],
    src: _Source,
    counts: Mapping[Key, int],
    start: float,
    end: float,
    chunk_rows: int,
) -> list[ReadChunk]:
    """Pack keys (in key order) into chunks of about `chunk_rows` rows."""
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
            bounds = [start, *_split_times(query, src, key, start, end, chunk_rows), end]
            for lo, hi in pairwise(bounds):
                chunks.append(ReadChunk(kind, (key,), lo, hi, min(count, chunk_rows)))
            continue
        if rows + count > chunk_rows or len(batch) >= MAX_KEYS_PER_QUERY:
            flush()
        batch.append(key)
        rows += count
    flush()
    return chunks


def _start_states(
    query: QueryFn, schema: SchemaInfo, keys: Sequence[Key], start: float
) -> dict[Key, tuple[object, float]]:
    """Each key's last state before `start` (HA history's start-time state)."""
    src = _states_source(schema)
    reported = "s.last_reported_ts" if schema.last_reported else "NULL"
    out: dict[Key, tuple[object, float]] = {}
    for batch in _batches(keys):
        params: dict[str, object] = {"start": _db_time(src.numeric_time, start)}
        placeholders = _in_list("k", batch, params)
        if schema.states_meta:
            keys_sql = (
                f"SELECT metadata_id AS entity_key FROM states_meta WHERE metadata_id IN ({placeholders})"
            )
        else:
            keys_sql = (
                f"SELECT DISTINCT entity_id AS entity_key FROM states WHERE entity_id IN ({placeholders})"
            )
        sql = (
            f"SELECT e.entity_key, s.state, {reported} FROM ({keys_sql}) e "
            f"JOIN states s ON s.state_id = (SELECT s2.state_id FROM states s2 "
            f"WHERE s2.{src.key} = e.entity_key AND s2.{src.time} < :start "
            f"ORDER BY s2.{src.time} DESC LIMIT 1)"
        )
        for key, state, last_reported in _fetch(query, sql, params):
            if isinstance(key, int | str):
                value = _floats([last_reported])[0]
                out[key] = (state, float(value))
    return out


def _count_unusable(query: QueryFn, schema: SchemaInfo, summary: ReadSummary) -> None:
    """Count states rows no window can hold: no time, or not yet migrated to metadata_id."""
    src = _states_source(schema)
    rows = _fetch(query, f"SELECT COUNT(*) FROM states WHERE {src.time} IS NULL", {})
    summary.null_time_rows += int(rows[0][0]) if rows and isinstance(rows[0][0], int) else 0
    if schema.states_meta:
        rows = _fetch(query, "SELECT COUNT(*) FROM states WHERE metadata_id IS NULL", {})
        summary.unmigrated_rows += int(rows[0][0]) if rows and isinstance(rows[0][0], int) else 0


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
) -> ReadPlan:
    """Choose the entities, devices and bounded chunks of one read of [start, end).

    Entities read: `entity_ids` if given; else the registry's entities if a
    registry is given; else every entity `is_device_entity` accepts. Entities
    the registry does not cover get inferred devices. Only entities with rows
    in the window, a state at its start, or statistics in it are kept.
    """
    if not (np.isfinite(start) and np.isfinite(end)) or end <= start:
        raise ValueError(f"need finite start < end, got {start}, {end}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    schema = detect_schema(query, dialect)
    if not schema.states:
        raise ValueError("not a Home Assistant recorder database: no usable states table")
    summary = ReadSummary()
    wanted = None if entity_ids is None else set(entity_ids)
    selected: list[EntityRow] = []
    for row in list_entities(query, schema, wanted):
        if wanted is not None:
            take = row.entity_id in wanted
        elif registry is not None:
            take = row.entity_id in registry
        else:
            take = is_device_entity(row.entity_id)
            summary.skipped_entities += not take
        if take:
            selected.append(row)
    src = _states_source(schema)
    key_of = {row.entity_id: (row.metadata_id if schema.states_meta else row.entity_id) for row in selected}
    state_keys = [k for k in key_of.values() if k is not None]
    counts = _count_rows(query, src, state_keys, start, end)
    starts = _start_states(query, schema, state_keys, start)
    stat_src = _statistics_source(schema)
    stat_ids = [
        r.statistic_id
        for r in selected
        if r.has_mean_statistics and r.statistic_id is not None and schema.statistics
    ]
    stat_counts = _count_rows(query, stat_src, stat_ids, start, end) if stat_ids else {}
    started = {k for k, (state, _) in starts.items() if state not in (None, "")}

    def has_data(row: EntityRow) -> bool:
        key = key_of[row.entity_id]
        return (key is not None and (counts.get(key, 0) > 0 or key in started)) or stat_counts.get(
            row.statistic_id if row.statistic_id is not None else -1, 0
        ) > 0

    kept = [row for row in selected if has_data(row)]
    summary.bad_attributes = sum(not row.attributes_valid for row in kept)
    known = registry if registry is not None else {}
    devices, entities = _apply_registry([r for r in kept if r.entity_id in known], known)
    inferred = infer_devices([row for row in kept if row.entity_id not in known])
    devices += inferred[0]
    entities += inferred[1]
    kept_ids = {row.entity_id for row in kept}
    state_map: dict[Key, str] = {
        key: eid for eid, key in key_of.items() if key is not None and eid in kept_ids
    }
    stat_map: dict[Key, str] = {
        row.statistic_id: row.entity_id
        for row in kept
        if row.statistic_id is not None and row.statistic_id in stat_counts
    }
    start_states = {state_map[key]: starts[key] for key in started if key in state_map}
    _count_unusable(query, schema, summary)
    chunks = [
        *_pack_chunks(
            query,
            "states",
            src,
            {k: c for k, c in counts.items() if k in state_map},
            start,
            end,
            chunk_rows,
        ),
        *_pack_chunks(query, "statistics", stat_src, stat_counts, start, end, chunk_rows),
        ReadChunk("events", (), start, end, 0),
    ]
    summary.entities = len(entities)
    return ReadPlan(
        home_id=home_id,
        start=float(start),
        end=float(end),
        schema=schema,
        devices=tuple(devices),
        entities=tuple(entities),
        state_keys=state_map,
        statistic_keys=stat_map,
        start_states=start_states,
        chunks=tuple(chunks),
        summary=summary,
    )


# ---------------------------------------------------------------- reading


def _segments(rows: list[Sequence[object]]) -> list[tuple[object, int, int]]:
    """(key, first, end) of each run of equal keys in the first column of key-ordered rows."""
    n = len(rows)
    if n == 0:
        return []
    if type(rows[0][0]) is int:
        try:
            arr = np.fromiter(map(_FIRST, rows), dtype=np.int64, count=n)
        except (TypeError, ValueError, OverflowError):
            arr = None
        if arr is not None:
            cuts = [int(c) for c in np.flatnonzero(arr[1:] != arr[:-1]) + 1]
            return [(rows[a][0], a, b) for a, b in pairwise([0, *cuts, n])]
    keys = list(map(_FIRST, rows))
    out: list[tuple[object, int, int]] = []
    first = 0
    for i in range(1, n + 1):
        if i == n or keys[i] != keys[first]:
            out.append((keys[first], first, i))
            first = i
    return out


def _read_states(query: QueryFn, plan: ReadPlan, chunk: ReadChunk) -> ChunkResult:
    """Read one states chunk and encode each entity's rows."""
    schema = plan.schema
    src = _states_source(schema)
    result = ChunkResult(chunk)
    params: dict[str, object] = {
        "start": _db_time(src.numeric_time, chunk.start),
        "end": _db_time(src.numeric_time, chunk.end),
    }
    # NULL last_reported_ts means "last reported when updated".
    reported = f", COALESCE(last_reported_ts, {src.time})" if schema.last_reported else ""
    sql = (
        f"SELECT {src.key}, {src.time}, state{reported} FROM states "
        f"WHERE {src.key} IN ({_in_list('k', chunk.keys, params)}) "
        f"AND {src.time} >= :start AND {src.time} < :end "
        f"ORDER BY {src.key}, {src.time}, state_id"
    )
    rows = _fetch(query, sql, params)
    if not rows:
        return result
    times = _column(rows, _SECOND, src.numeric_time)
    states = list(map(_THIRD, rows))
    last_reported = _column(rows, _FOURTH, True) if schema.last_reported else None
    for key, a, b in _segments(rows):
        entity_id = plan.state_keys.get(key)  # type: ignore[call-overload]
        if entity_id is None:
            continue
        series = _encode(
            times[a:b],
            states[a:b],
            None if last_reported is None else last_reported[a:b],
            result.summary,
        )
        result.summary.state_rows += len(series)
        result.states.append((entity_id, series))
    return result


def _read_statistics(query: QueryFn, plan: ReadPlan, chunk: ReadChunk) -> ChunkResult:
    """Read one chunk of hourly statistics."""
    src = _statistics_source(plan.schema)
    result = ChunkResult(chunk)
    params: dict[str, object] = {
        "start": _db_time(src.numeric_time, chunk.start),
        "end": _db_time(src.numeric_time, chunk.end),
    }
    sql = (
        f"SELECT metadata_id, {src.time}, mean, min, max FROM statistics "
        f"WHERE metadata_id IN ({_in_list('k', chunk.keys, params)}) "
        f"AND {src.time} >= :start AND {src.time} < :end ORDER BY metadata_id, {src.time}"
    )
    rows = _fetch(query, sql, params)
    if not rows:
        return result
    start = _column(rows, _SECOND, src.numeric_time)
    mean = _column(rows, _THIRD, True)
    low = _column(rows, _FOURTH, True)
    high = _column(rows, _FIFTH, True)
    for key, a, b in _segments(rows):
        entity_id = plan.statistic_keys.get(key)  # type: ignore[call-overload]
        if entity_id is None:
            continue
        t = start[a:b]
        keep = ~np.isnan(t)
        if keep.all() and not bool((t[1:] < t[:-1]).any()):
            stat = StatSeries(start=t, mean=mean[a:b], min=low[a:b], max=high[a:b])
        else:
            result.summary.null_time_rows += int((~keep).sum())
            order = np.flatnonzero(keep)[np.argsort(t[keep], kind="stable")]
            stat = StatSeries(
                start=t[order], mean=mean[a:b][order], min=low[a:b][order], max=high[a:b][order]
            )
        result.summary.statistics_rows += len(stat)
        result.statistics.append((entity_id, stat))
    return result


def _read_events(query: QueryFn, plan: ReadPlan, chunk: ReadChunk) -> ChunkResult:
    """Read HA restarts and Battery Notes battery-replaced events."""
    schema = plan.schema
    result = ChunkResult(chunk)
    if not schema.events:
        return result
    time_col = "e.time_fired_ts" if schema.event_ts else "e.time_fired"
    params: dict[str, object] = {
        "start": _db_time(schema.event_ts, chunk.start),
        "end": _db_time(schema.event_ts, chunk.end),
    }
    types = _in_list("t", (EVENT_RESTART, EVENT_BATTERY_REPLACED), params)
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
    sql = (
        f"SELECT {time_col}, {type_col}, {data_sql} FROM events e{joins} "
        f"WHERE {type_col} IN ({types}) AND {time_col} >= :start AND {time_col} < :end "
        f"ORDER BY {time_col}"
    )
    rows = _fetch(query, sql, params)
    times = _times([r[0] for r in rows], schema.event_ts)
    for (_, event_type, raw), t in zip(rows, map(float, times), strict=True):
        if np.isnan(t):
            result.summary.bad_events += 1
        elif event_type == EVENT_RESTART:
            result.restarts.append(t)
        else:
            payload, valid = _attributes(raw)
            device_key = _text(payload.get("device_id"))
            source = _text(payload.get("source_entity_id"))
            if not valid or (device_key is None and source is None):
                result.summary.bad_events += 1
                continue
            result.swaps.append((device_key, source, t))
    return result


def read_chunk(query: QueryFn, plan: ReadPlan, chunk: ReadChunk) -> ChunkResult:
    """Read one planned chunk (one recorder executor job)."""
    if chunk.kind == "states":
        return _read_states(query, plan, chunk)
    if chunk.kind == "statistics":
        return _read_statistics(query, plan, chunk)
    return _read_events(query, plan, chunk)


# ---------------------------------------------------------------- assembly


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


def assemble_history(plan: ReadPlan, results: Iterable[ChunkResult]) -> HomeHistory:
    """Join the chunks of a plan into one HomeHistory."""
    pieces: dict[str, list[tuple[float, StateSeries]]] = {}
    stats: dict[str, list[tuple[float, StatSeries]]] = {}
    restarts: list[float] = []
    swaps: list[tuple[str | None, str | None, float]] = []
    for result in results:
        for entity_id, series in result.states:
            pieces.setdefault(entity_id, []).append((result.chunk.start, series))
        for entity_id, stat in result.statistics:
            stats.setdefault(entity_id, []).append((result.chunk.start, stat))
        restarts.extend(result.restarts)
        swaps.extend(result.swaps)
    with_reported = plan.schema.last_reported
    states: dict[str, StateSeries] = {}
    for entity in plan.entities:
        parts = [s for _, s in sorted(pieces.get(entity.entity_id, []), key=_FIRST)]
        parts = [p for p in parts if len(p)]
        begin = plan.start_states.get(entity.entity_id)
        if begin is not None and not (parts and parts[0].time[0] <= plan.start):
            state, reported = begin
            at = np.array([plan.start])
            seed = _encode(
                at,
                [state],
                np.array([reported if reported > plan.start else plan.start]) if with_reported else None,
                ReadSummary(),
            )
            parts.insert(0, seed)
        states[entity.entity_id] = _merge_series(parts) if parts else _empty_series(with_reported)
    statistics: dict[str, StatSeries] = {}
    for entity_id, found in stats.items():
        ordered = [s for _, s in sorted(found, key=_FIRST)]
        statistics[entity_id] = StatSeries(
            start=np.concatenate([s.start for s in ordered]),
            mean=np.concatenate([s.mean for s in ordered]),
            min=np.concatenate([s.min for s in ordered]),
            max=np.concatenate([s.max for s in ordered]),
        )
    device_keys = {d.device_key for d in plan.devices}
    device_of = {e.entity_id: e.device_key for e in plan.entities}
    swap_times: dict[str, list[float]] = {}
    for device_key, source, t in swaps:
        swap_times.setdefault(_swap_device(device_key, source, device_keys, device_of), []).append(t)
    return HomeHistory(
        home_id=plan.home_id,
        start=plan.start,
        end=plan.end,
        devices=list(plan.devices),
        entities=list(plan.entities),
        states=states,
        statistics=statistics,
        battery_swaps={k: np.unique(np.asarray(v, dtype=np.float64)) for k, v in swap_times.items()},
        restarts=np.unique(np.asarray(restarts, dtype=np.float64)),
    )


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
) -> HomeHistory:
    """Read states, hourly statistics, restarts and battery swaps of [start, end).

    Like HA's history, each entity's last state before `start` opens its
    series at time `start`. One call runs every chunk in turn; the HA layer
    runs `plan_read`, each `read_chunk` and `assemble_history` as separate
    executor jobs instead. Counts of what was skipped or repaired are added to
    `summary` if given.
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
    )
    results = [read_chunk(query, plan, chunk) for chunk in plan.chunks]
    if summary is not None:
        summary.add(summarize(plan, results))
    return assemble_history(plan, results)
