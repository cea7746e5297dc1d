"""Reading recorder databases: real ones of schema 29, 30 and 47, and hand-built current ones."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.recorder.catalog import EntityRow, list_entities
from custom_components.homeiq_device_intel.ml.recorder.devices import (
    INFERRED_PREFIX,
    RegisteredEntity,
    infer_devices,
    is_device_entity,
)
from custom_components.homeiq_device_intel.ml.recorder.planning import plan_read
from custom_components.homeiq_device_intel.ml.recorder.reading import (
    assemble_history,
    read_chunk,
    read_history,
)
from custom_components.homeiq_device_intel.ml.recorder.schema import NEWEST_KNOWN_SCHEMA, detect_schema
from custom_components.homeiq_device_intel.ml.recorder.sql import MAX_KEYS_PER_QUERY, QueryFn, in_list
from custom_components.homeiq_device_intel.ml.recorder.summary import ReadSummary
from custom_components.homeiq_device_intel.ml.records import (
    UNAVAILABLE,
    UNKNOWN,
    DeviceRecord,
    EntityRole,
    HomeHistory,
    Power,
    Protocol,
    StateSeries,
    encode_states,
)

REAL = Path(__file__).parents[2].parent / "shared" / "data" / "real-recorder"
REAL_DBS = {
    "konkonstantinidis__home-assistant-configuration.db": 29,
    "filipmaelbrancke__home-assistant.db": 30,
    "benwainwright__bens-flat.db": 47,
}
# Entities with unavailable rows, as the folder's README counts them.
REAL_UNAVAILABLE = {
    "konkonstantinidis__home-assistant-configuration.db": 13,
    "filipmaelbrancke__home-assistant.db": 11,
}
T0 = 1_700_000_000.0
WHOLE = {"start": 0.0, "end": 4_000_000_000.0}


# ---------------------------------------------------------------- helpers


def _readonly(path: Path) -> tuple[sqlite3.Connection, QueryFn]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    return conn, lambda sql, params: conn.execute(sql, params)


def _series_equal(a: StateSeries, b: StateSeries) -> None:
    np.testing.assert_array_equal(a.time, b.time)
    np.testing.assert_array_equal(a.value, b.value)
    np.testing.assert_array_equal(a.code, b.code)
    assert a.labels == b.labels
    if a.last_reported is None or b.last_reported is None:
        assert a.last_reported is None
        assert b.last_reported is None
    else:
        np.testing.assert_array_equal(a.last_reported, b.last_reported)


class Recorder:
    """A hand-built recorder database in Home Assistant's current schema."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path)
        self.meta: dict[str, int] = {}
        self.attrs: dict[str, int] = {}
        self.stat_ids: dict[str, int] = {}

    def entity(self, entity_id: str, attributes: dict[str, Any] | str | None = None) -> int:
        """Register an entity (states_meta) with the attributes its rows carry."""
        cur = self.conn.execute("INSERT INTO states_meta (entity_id) VALUES (?)", (entity_id,))
        self.meta[entity_id] = int(cur.lastrowid or 0)
        raw = attributes if isinstance(attributes, str) else json.dumps(attributes or {})
        cur = self.conn.execute("INSERT INTO state_attributes (hash, shared_attrs) VALUES (0, ?)", (raw,))
        self.attrs[entity_id] = int(cur.lastrowid or 0)
        return self.meta[entity_id]

    def states(
        self,
        entity_id: str,
        rows: Iterable[tuple[float | None, str | None]],
        reported: Sequence[float | None] | None = None,
    ) -> None:
        """Write state rows (time, state) of one entity, in the given order."""
        if entity_id not in self.meta:
            self.entity(entity_id)
        rows = list(rows)
        last = reported or [None] * len(rows)
        self.conn.executemany(
            "INSERT INTO states (metadata_id, last_updated_ts, state, last_reported_ts, attributes_id) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (self.meta[entity_id], t, s, r, self.attrs[entity_id])
                for (t, s), r in zip(rows, last, strict=True)
            ],
        )

    def statistics(
        self, entity_id: str, starts: Sequence[float], means: Sequence[float | None], mean: bool = True
    ) -> None:
        """Write hourly long-term statistics of one entity."""
        cur = self.conn.execute(
            "INSERT INTO statistics_meta (statistic_id, source, unit_of_measurement, has_mean, has_sum, "
            "mean_type) VALUES (?, 'recorder', '%', NULL, ?, ?)",
            (entity_id, 0 if mean else 1, 1 if mean else 0),
        )
        self.stat_ids[entity_id] = int(cur.lastrowid or 0)
        self.conn.executemany(
            "INSERT INTO statistics (metadata_id, start_ts, mean, min, max, created_ts) "
            "VALUES (?, ?, ?, ?, ?, 0)",
            [
                (self.stat_ids[entity_id], s, m, None if m is None else m - 1, None if m is None else m + 1)
                for s, m in zip(starts, means, strict=True)
            ],
        )

    def event(self, event_type: str, t: float | None, data: dict[str, Any] | str | None = None) -> None:
        """Write one event, its type and its data the way the recorder does."""
        row = self.conn.execute(
            "SELECT event_type_id FROM event_types WHERE event_type = ?", (event_type,)
        ).fetchone()
        type_id = (
            row[0]
            if row
            else self.conn.execute("INSERT INTO event_types (event_type) VALUES (?)", (event_type,)).lastrowid
        )
        data_id = None
        if data is not None:
            raw = data if isinstance(data, str) else json.dumps(data)
            data_id = self.conn.execute(
                "INSERT INTO event_data (hash, shared_data) VALUES (0, ?)", (raw,)
            ).lastrowid
        self.conn.execute(
            "INSERT INTO events (event_type_id, data_id, time_fired_ts) VALUES (?, ?, ?)",
            (type_id, data_id, t),
        )

    def query(self) -> QueryFn:
        """Commit and return a query function over the database."""
        self.conn.commit()
        return lambda sql, params: self.conn.execute(sql, params)


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database created from Home Assistant's own schema models."""
    from homeassistant.components.recorder.db_schema import SCHEMA_VERSION, Base
    from sqlalchemy import create_engine

    path = tmp_path_factory.mktemp("recorder") / "empty.db"
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO schema_changes (schema_version, changed) VALUES (?, '2025-01-01 00:00:00.000000')",
        (SCHEMA_VERSION,),
    )
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def rec(empty_db: Path, tmp_path: Path) -> Iterator[Recorder]:
    path = tmp_path / "home-assistant_v2.db"
    shutil.copy(empty_db, path)
    recorder = Recorder(path)
    yield recorder
    recorder.conn.close()


def _small_home(rec: Recorder) -> None:
    """A zigbee2mqtt motion sensor, a plug and a busy meter."""
    rec.entity("binary_sensor.hall_motion_occupancy", {"device_class": "occupancy"})
    rec.entity("sensor.hall_motion_battery", {"device_class": "battery", "unit_of_measurement": "%"})
    rec.entity("sensor.hall_motion_linkquality", {"unit_of_measurement": "lqi"})
    rec.entity("switch.desk_plug", {"friendly_name": "Desk plug"})
    rec.entity("sensor.desk_plug_power", {"device_class": "power", "unit_of_measurement": "W"})
    rec.states(
        "binary_sensor.hall_motion_occupancy", [(T0 + 60 * i, ["on", "off"][i % 2]) for i in range(40)]
    )
    rec.states(
        "sensor.hall_motion_battery",
        [(T0 + 3600 * i, s) for i, s in enumerate(["90", "89", "unavailable", "88", "88", "unknown", "87"])],
        reported=[None, T0 + 3600 + 1800, None, None, T0 + 4 * 3600 + 5, None, None],
    )
    rec.states("sensor.hall_motion_linkquality", [(T0 + 600 * i, str(100 + i % 7)) for i in range(30)])
    rec.states("switch.desk_plug", [(T0 + 5.0, "on"), (T0 + 7200.0, "unavailable"), (T0 + 7300.0, "on")])
    rec.states(
        "sensor.desk_plug_power",
        [
            (T0 + 10.0 * i, "unavailable" if i % 50 == 7 else f"{(i * 37) % 1000 / 10:.1f}")
            for i in range(500)
        ],
    )
    rec.statistics(
        "sensor.hall_motion_battery",
        [T0 - 3600 * k for k in range(48, 0, -1)],
        [95.0 - k / 10 for k in range(48)],
    )
    rec.event("homeassistant_start", T0 + 100.0)
    rec.event("homeassistant_start", T0 + 5000.0)
    rec.event("call_service", T0 + 200.0, {"domain": "light"})


# ---------------------------------------------------------------- real databases

real_db = pytest.mark.parametrize(
    "name", [pytest.param(name, id=f"schema{version}") for name, version in REAL_DBS.items()]
)


@pytest.fixture
def real(name: str) -> Iterator[tuple[QueryFn, sqlite3.Connection]]:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real recorder databases not available ({REAL})")
    conn, query = _readonly(path)
    yield query, conn
    conn.close()


def _sql_rows(conn: sqlite3.Connection, entity_id: str, version: int) -> tuple[list[float], list[str | None]]:
    """An entity's (time, state) rows straight from SQL, times converted independently."""
    if version >= 38:
        rows = conn.execute(
            "SELECT last_updated_ts, state FROM states JOIN states_meta USING (metadata_id) "
            "WHERE states_meta.entity_id = ? ORDER BY last_updated_ts, state_id",
            (entity_id,),
        ).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]
    # Schema < 31 stores naive-UTC datetime strings.
    rows = conn.execute(
        "SELECT last_updated, state FROM states WHERE entity_id = ? ORDER BY last_updated, state_id",
        (entity_id,),
    ).fetchall()
    times = [datetime.fromisoformat(r[0]).replace(tzinfo=UTC).timestamp() for r in rows]
    return times, [r[1] for r in rows]


@real_db
def test_real_database_schema_is_detected(real: tuple[QueryFn, sqlite3.Connection], name: str) -> None:
    query, _ = real
    schema = detect_schema(query)
    version = REAL_DBS[name]
    assert schema.version == version
    assert schema.states
    assert schema.state_attributes
    assert schema.statistics
    assert schema.event_data
    assert schema.states_meta is (version >= 38)
    assert schema.state_ts is (version >= 31)
    assert schema.statistics_ts is (version >= 34)
    assert schema.event_types is (version >= 37)
    assert schema.last_reported is (version >= 43)
    assert not schema.mean_type


@real_db
def test_real_database_reads_every_row_without_errors(
    real: tuple[QueryFn, sqlite3.Connection], name: str
) -> None:
    query, conn = real
    summary = ReadSummary()
    history = read_history(query, **WHOLE, summary=summary)
    assert len(history.entities) > 5
    assert summary.null_time_rows == summary.duplicate_rows == summary.unordered_rows == 0
    for entity in history.entities:
        times, states = _sql_rows(conn, entity.entity_id, REAL_DBS[name])
        series = history.states[entity.entity_id]
        assert len(series) == len(states), entity.entity_id
        np.testing.assert_array_equal(series.time, times)
        expected = encode_states(times, [s if s is not None else "" for s in states])
        np.testing.assert_array_equal(series.code, expected.code)
        np.testing.assert_array_equal(series.value, expected.value)
        assert series.labels == expected.labels
        if REAL_DBS[name] >= 43:
            reported = conn.execute(
                "SELECT COALESCE(last_reported_ts, last_updated_ts) FROM states "
                "JOIN states_meta USING (metadata_id) WHERE states_meta.entity_id = ? "
                "ORDER BY last_updated_ts, state_id",
                (entity.entity_id,),
            ).fetchall()
            assert series.last_reported is not None
            np.testing.assert_array_equal(series.last_reported, [r[0] for r in reported])
        else:
            assert series.last_reported is None


@real_db
def test_real_database_unavailable_episodes_are_found(
    real: tuple[QueryFn, sqlite3.Connection], name: str
) -> None:
    query, conn = real
    version = REAL_DBS[name]
    key = "states_meta.entity_id" if version >= 38 else "entity_id"
    join = " JOIN states_meta USING (metadata_id)" if version >= 38 else ""
    counts = dict(
        conn.execute(
            f"SELECT {key}, COUNT(*) FROM states{join} WHERE state = 'unavailable' GROUP BY 1"
        ).fetchall()
    )
    assert len(counts) == REAL_UNAVAILABLE.get(name, len(counts))
    assert counts
    history = read_history(query, **WHOLE, entity_ids=counts)
    found = {
        e.entity_id: int((history.states[e.entity_id].code == UNAVAILABLE).sum())
        for e in history.entities
        if e.attribute is None
    }
    assert found == counts


@real_db
def test_real_database_statistics_are_read_where_present(
    real: tuple[QueryFn, sqlite3.Connection], name: str
) -> None:
    query, conn = real
    history = read_history(query, **WHOLE)
    mean_rows = conn.execute(
        "SELECT COUNT(*) FROM statistics JOIN statistics_meta m ON m.id = statistics.metadata_id "
        "WHERE m.has_mean"
    ).fetchone()[0]
    assert sum(len(s) for s in history.statistics.values()) == mean_rows
    for stat in history.statistics.values():
        assert np.all(np.diff(stat.start) == 3600.0)
        assert np.all(stat.min <= stat.mean)
        assert np.all(stat.mean <= stat.max)
    if name.startswith("filip"):
        assert mean_rows == 660
        assert len(history.statistics) == 6
    sums = {r.entity_id for r in list_entities(query, detect_schema(query)) if r.has_sum_statistics}
    if name.startswith("ben"):
        # Its 832 statistics rows are all counters (has_sum): no mean/min/max to read.
        assert len(sums) == 52
        assert not history.statistics


@real_db
def test_real_database_restarts_are_read(real: tuple[QueryFn, sqlite3.Connection], name: str) -> None:
    query, _ = real
    history = read_history(query, **WHOLE)
    assert history.restarts.size == {29: 1, 30: 3, 47: 70}[REAL_DBS[name]]
    assert np.all(np.diff(history.restarts) > 0)


# ---------------------------------------------------------------- hand-built: values


def test_current_schema_is_detected_the_same_from_catalog_and_version(rec: Recorder) -> None:
    from homeassistant.components.recorder.db_schema import SCHEMA_VERSION

    query = rec.query()
    by_version = detect_schema(query)
    by_catalog = detect_schema(query, "sqlite")
    assert by_version.version == by_catalog.version == SCHEMA_VERSION
    assert by_catalog.states_meta
    assert by_catalog.last_reported
    assert by_catalog.mean_type
    legacy = ("legacy_attributes", "legacy_event_data")
    for field in by_version.__dataclass_fields__:
        if field not in legacy:
            assert getattr(by_version, field) == getattr(by_catalog, field), field


def test_values_codes_and_times_are_exactly_as_inserted(rec: Recorder) -> None:
    raw: list[str | None] = [
        "21.5",
        "unavailable",
        "22",
        "on",
        "unknown",
        "",
        None,
        "21.5",
        "1e400",
        "nan",
        "None",
        "-0.25",
    ]
    times = [T0 + 0.123456 + 61.7 * i for i in range(len(raw))]
    rec.states("sensor.x_temperature", zip(times, raw, strict=True))
    history = read_history(rec.query(), **WHOLE)
    series = history.states["sensor.x_temperature"]
    np.testing.assert_array_equal(series.time, times)
    expected = encode_states(times, [s if s is not None else "" for s in raw])
    _series_equal(
        series,
        StateSeries(expected.time, expected.value, expected.code, expected.labels, series.last_reported),
    )
    assert series.code.tolist() == [0, UNAVAILABLE, 1, 2, UNKNOWN, UNKNOWN, UNKNOWN, 0, 3, 4, UNKNOWN, 5]
    assert series.labels == ("21.5", "22", "on", "1e400", "nan", "-0.25")
    np.testing.assert_array_equal(
        series.value[[0, 2, 3, 8, 9, 11]], [21.5, 22.0, np.nan, np.nan, np.nan, -0.25]
    )


@pytest.mark.parametrize(
    "states",
    [
        [" 12 ", "1_000", "\u0661\u0662", "inf", "-Infinity", "NaN", "0x10", "12:30", "1e-3", "+.5", "5."],
        ["2025-05-22T10:00:00+00:00", "2025-05-22T10:05:00+00:00", "on", "off", "on"],
        ["3", "3.0", "03", "3", "unavailable", "3"],
    ],
    ids=["odd-numbers", "text", "numeric-spellings"],
)
def test_values_parse_exactly_as_encode_states(rec: Recorder, states: list[str]) -> None:
    times = [T0 + i for i in range(len(states))]
    rec.states("sensor.odd", zip(times, states, strict=True))
    series = read_history(rec.query(), **WHOLE).states["sensor.odd"]
    expected = encode_states(times, states)
    np.testing.assert_array_equal(series.value, expected.value)
    np.testing.assert_array_equal(series.code, expected.code)
    assert series.labels == expected.labels


def test_last_reported_is_the_row_time_unless_re_reported(rec: Recorder) -> None:
    _small_home(rec)
    series = read_history(rec.query(), **WHOLE).states["sensor.hall_motion_battery"]
    assert series.last_reported is not None
    np.testing.assert_array_equal(series.last_reported - series.time, [0, 1800, 0, 0, 5, 0, 0])


def test_restarts_come_from_homeassistant_start_events(rec: Recorder) -> None:
    _small_home(rec)
    history = read_history(rec.query(), **WHOLE)
    np.testing.assert_array_equal(history.restarts, [T0 + 100.0, T0 + 5000.0])


def test_battery_replaced_events_mark_swaps_of_their_device(rec: Recorder) -> None:
    _small_home(rec)
    rec.event("battery_notes_battery_replaced", T0 + 900.0, {"device_id": "abc123", "device_name": "Hall"})
    rec.event(
        "battery_notes_battery_replaced",
        T0 + 950.0,
        {"device_id": None, "source_entity_id": "sensor.hall_motion_battery"},
    )
    rec.event("battery_notes_battery_replaced", T0 + 990.0, "{not json")
    summary = ReadSummary()
    history = read_history(rec.query(), **WHOLE, summary=summary)
    assert history.battery_swaps.keys() == {"abc123", INFERRED_PREFIX + "hall_motion"}
    np.testing.assert_array_equal(history.battery_swaps[INFERRED_PREFIX + "hall_motion"], [T0 + 950.0])
    assert summary.battery_swaps == 2
    assert summary.bad_events == 1


def test_statistics_are_read_for_sensors_with_a_mean_only(rec: Recorder) -> None:
    _small_home(rec)
    rec.statistics("sensor.desk_plug_energy", [T0, T0 + 3600], [1.0, 2.0], mean=False)
    rec.states("sensor.desk_plug_energy", [(T0, "1.0")])
    history = read_history(rec.query(), start=T0 - 24 * 3600, end=T0 + 86400)
    assert history.statistics.keys() == {"sensor.hall_motion_battery"}
    stat = history.statistics["sensor.hall_motion_battery"]
    np.testing.assert_array_equal(stat.start, [T0 - 3600 * k for k in range(24, 0, -1)])
    np.testing.assert_allclose(stat.mean, [95.0 - k / 10 for k in range(24, 48)])
    np.testing.assert_allclose(stat.max - stat.min, 2.0)


def test_state_at_window_start_is_carried_in_at_the_start(rec: Recorder) -> None:
    _small_home(rec)
    start = T0 + 3 * 3600 + 1
    history = read_history(rec.query(), start=start, end=T0 + 86400)
    series = history.states["sensor.hall_motion_battery"]
    assert series.time.tolist() == [start, T0 + 4 * 3600, T0 + 5 * 3600, T0 + 6 * 3600]
    assert series.value[0] == 88.0
    assert series.labels[0] == "88"
    plug = history.states["switch.desk_plug"]
    assert plug.time[0] == start
    assert plug.labels == ("on",)


def test_window_excludes_rows_at_its_end(rec: Recorder) -> None:
    _small_home(rec)
    history = read_history(rec.query(), start=T0, end=T0 + 7200.0)
    assert history.states["switch.desk_plug"].time.tolist() == [T0 + 5.0]


# ---------------------------------------------------------------- hand-built: chunks


def test_chunked_read_equals_one_shot_read(rec: Recorder) -> None:
    _small_home(rec)
    query = rec.query()
    one = read_history(query, **WHOLE)
    plan = plan_read(query, **WHOLE, chunk_rows=7)
    assert sum(c.kind == "states" for c in plan.chunks) > 10
    pieces = assemble_history(plan, [read_chunk(query, plan, chunk) for chunk in reversed(plan.chunks)])
    assert pieces.states.keys() == one.states.keys()
    for entity_id, series in one.states.items():
        _series_equal(pieces.states[entity_id], series)
    for entity_id, stat in one.statistics.items():
        np.testing.assert_array_equal(pieces.statistics[entity_id].mean, stat.mean)
    np.testing.assert_array_equal(pieces.restarts, one.restarts)


def test_chunks_hold_a_bounded_number_of_rows(rec: Recorder) -> None:
    _small_home(rec)
    plan = plan_read(rec.query(), **WHOLE, chunk_rows=50)
    states = [c for c in plan.chunks if c.kind == "states"]
    assert all(c.rows <= 50 for c in states)
    power_key = rec.meta["sensor.desk_plug_power"]
    slices = [c for c in states if c.keys == (power_key,)]
    assert len(slices) == 10
    assert [c.start for c in slices[1:]] == [c.end for c in slices[:-1]]
    assert slices[0].start == WHOLE["start"]
    assert slices[-1].end == WHOLE["end"]


def test_a_plan_runs_chunk_by_chunk_like_executor_jobs(rec: Recorder) -> None:
    _small_home(rec)
    query = rec.query()
    plan = plan_read(query, **WHOLE, chunk_rows=100)
    results = []
    for chunk in plan.chunks:
        result = read_chunk(query, plan, chunk)
        assert sum(len(s) for _, s in result.states) <= 100
        results.append(result)
    history = assemble_history(plan, results)
    assert len(history.states["sensor.desk_plug_power"]) == 500


# ---------------------------------------------------------------- hand-built: robustness


def test_malformed_rows_are_skipped_repaired_and_counted(rec: Recorder) -> None:
    rec.entity("sensor.garbage_temperature", "{not json")
    rec.states(
        "sensor.garbage_temperature",
        [(T0, "1"), (None, "2"), (T0 + 10, "3"), (T0 + 10, "4"), (T0 + 10, "5"), (T0 + 20, None)],
    )
    rec.conn.execute("INSERT INTO states (metadata_id, last_updated_ts, state) VALUES (NULL, ?, 'x')", (T0,))
    rec.event("homeassistant_start", None)
    summary = ReadSummary()
    history = read_history(rec.query(), **WHOLE, summary=summary)
    series = history.states["sensor.garbage_temperature"]
    assert series.time.tolist() == [T0, T0 + 10, T0 + 20]
    assert series.value[:2].tolist() == [1.0, 5.0]
    assert series.code[2] == UNKNOWN
    assert summary.null_time_rows == 1
    assert summary.duplicate_rows == 2
    assert summary.unmigrated_rows == 1
    assert summary.null_states == 1
    assert summary.bad_attributes == 1
    assert history.restarts.size == 0


def test_attributes_and_event_data_nested_too_deep_are_counted_as_unreadable(rec: Recorder) -> None:
    nested = "[" * 100_000 + "]" * 100_000  # Python's json raises RecursionError on it
    rec.entity("sensor.deep_temperature", nested)
    rec.states("sensor.deep_temperature", [(T0, "1")])
    rec.event("battery_notes_battery_replaced", T0 + 990.0, nested)
    summary = ReadSummary()
    history = read_history(rec.query(), **WHOLE, summary=summary)
    assert history.states["sensor.deep_temperature"].value.tolist() == [1.0]
    assert summary.bad_attributes == 1
    assert summary.bad_events == 1


def test_rows_out_of_order_are_sorted_and_counted(rec: Recorder) -> None:
    _small_home(rec)
    query = rec.query()

    def shuffled(sql: str, params: dict[str, object]) -> list[Any]:
        rows = query(sql, params).fetchall()  # type: ignore[attr-defined]
        return rows[::-1] if sql.startswith("SELECT metadata_id, last_updated_ts, state") else rows

    summary = ReadSummary()
    history = read_history(shuffled, **WHOLE, summary=summary)
    expected = read_history(query, **WHOLE)
    for entity_id, series in history.states.items():
        np.testing.assert_array_equal(series.time, expected.states[entity_id].time)
        np.testing.assert_array_equal(series.value, expected.states[entity_id].value)
    assert summary.unordered_rows == summary.state_rows


def test_reads_through_sqlalchemy_text_queries(rec: Recorder) -> None:
    from sqlalchemy import create_engine, text

    _small_home(rec)
    rec.query()
    engine = create_engine(f"sqlite:///{rec.path}")
    with engine.connect() as connection:
        history = read_history(
            lambda sql, params: connection.execute(text(sql), params).all(), **WHOLE, chunk_rows=60
        )
    engine.dispose()
    expected = read_history(rec.query(), **WHOLE)
    for entity_id, series in expected.states.items():
        _series_equal(history.states[entity_id], series)


def test_a_window_must_be_finite_and_forward(rec: Recorder) -> None:
    with pytest.raises(ValueError, match="start < end"):
        read_history(rec.query(), start=T0, end=T0)


# ---------------------------------------------------------------- layouts newer than known


def _future(rec: Recorder, version: int = NEWEST_KNOWN_SCHEMA + 7) -> None:
    """Mark the database as migrated by a Home Assistant newer than the reader knows."""
    rec.conn.execute(
        "INSERT INTO schema_changes (schema_version, changed) VALUES (?, '2030-01-01 00:00:00.000000')",
        (version,),
    )


def test_the_newest_known_schema_is_what_home_assistant_writes_or_newer() -> None:
    from homeassistant.components.recorder.db_schema import SCHEMA_VERSION

    assert SCHEMA_VERSION <= NEWEST_KNOWN_SCHEMA


def test_a_newer_schema_with_the_known_columns_is_read_from_the_catalog(rec: Recorder) -> None:
    _small_home(rec)
    known = read_history(rec.query(), **WHOLE)
    _future(rec)
    query = rec.query()

    schema = detect_schema(query)

    assert schema.version == NEWEST_KNOWN_SCHEMA + 7
    assert schema.newer_than_known
    assert schema == detect_schema(query, "sqlite")  # the catalog, not the version, decides
    assert schema.not_read == (
        f"recorder schema {NEWEST_KNOWN_SCHEMA + 7} is newer than the newest known "
        f"({NEWEST_KNOWN_SCHEMA}): only the tables and columns found in the database catalog are read",
    )
    future = read_history(query, **WHOLE)
    assert future.states.keys() == known.states.keys()
    for entity_id, series in known.states.items():
        _series_equal(future.states[entity_id], series)
    np.testing.assert_array_equal(
        future.statistics["sensor.hall_motion_battery"].mean,
        known.statistics["sensor.hall_motion_battery"].mean,
    )
    np.testing.assert_array_equal(future.restarts, known.restarts)


def test_a_newer_schema_without_some_columns_reads_the_rest_and_says_what_not(rec: Recorder) -> None:
    _small_home(rec)
    _future(rec)
    # A future HA that moved re-reports and the statistics' mean flags elsewhere,
    # and dropped events' time column.
    for table, column in (
        ("states", "last_reported_ts"),
        ("statistics_meta", "mean_type"),
        ("statistics_meta", "has_mean"),
        ("statistics_meta", "has_sum"),
    ):
        rec.conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    for (index,) in rec.conn.execute(
        "SELECT name FROM sqlite_master "
        "WHERE type = 'index' AND tbl_name = 'events' AND sql LIKE '%time_fired%'"
    ).fetchall():
        rec.conn.execute(f"DROP INDEX {index}")
    rec.conn.execute("ALTER TABLE events DROP COLUMN time_fired_ts")
    rec.conn.execute("ALTER TABLE events DROP COLUMN time_fired")
    query = rec.query()

    schema = detect_schema(query)
    summary = ReadSummary()
    history = read_history(query, **WHOLE, summary=summary)

    assert schema.newer_than_known
    assert not schema.last_reported
    assert not schema.statistics_mean
    assert not schema.events
    assert schema.not_read[1:] == (
        "not read, missing: states.last_reported_ts (re-reports of an unchanged state)",
        "not read, missing: statistics_meta.mean_type (which statistics have a mean)",
        "not read, missing: events (restarts, battery swaps)",
    )
    # What is there is read: every state row, without re-report times.
    assert summary.state_rows == 40 + 7 + 30 + 3 + 500
    assert all(series.last_reported is None for series in history.states.values())
    assert history.statistics == {}
    assert history.restarts.size == 0


def test_an_older_schema_is_not_reported_as_missing_parts(rec: Recorder) -> None:
    rec.conn.execute("ALTER TABLE states DROP COLUMN last_reported_ts")
    rec.conn.execute(
        "INSERT INTO schema_changes (schema_version, changed) VALUES (42, '2024-01-01 00:00:00.000000')"
    )
    schema = detect_schema(rec.query())
    assert schema.version == 42
    assert not schema.last_reported
    assert schema.not_read == ()


# ---------------------------------------------------------------- entities and devices


def test_entity_ids_limit_the_read(rec: Recorder) -> None:
    _small_home(rec)
    history = read_history(rec.query(), **WHOLE, entity_ids=["switch.desk_plug", "sensor.nope"])
    assert [e.entity_id for e in history.entities] == ["switch.desk_plug"]
    assert history.states.keys() == {"switch.desk_plug"}


def test_registry_mapping_is_applied(rec: Recorder) -> None:
    _small_home(rec)
    hall = DeviceRecord(device_key="d1", name="Hall motion", integration="zha", protocol=Protocol.ZIGBEE)
    registry = {
        "binary_sensor.hall_motion_occupancy": RegisteredEntity(hall, EntityRole.PRIMARY, "occupancy", None),
        "sensor.hall_motion_battery": RegisteredEntity(hall, EntityRole.BATTERY, None, None),
    }
    history = read_history(rec.query(), **WHOLE, registry=registry)
    assert history.devices == [hall]
    assert {(e.entity_id, e.role, e.device_class, e.unit) for e in history.entities} == {
        ("binary_sensor.hall_motion_occupancy", EntityRole.PRIMARY, "occupancy", None),
        ("sensor.hall_motion_battery", EntityRole.BATTERY, "battery", "%"),
    }
    assert history.states.keys() == set(registry)


def test_list_entities_reads_last_attributes_and_statistics(rec: Recorder) -> None:
    _small_home(rec)
    query = rec.query()
    rows = {r.entity_id: r for r in list_entities(query, detect_schema(query))}
    battery = rows["sensor.hall_motion_battery"]
    assert (battery.device_class, battery.unit, battery.has_mean_statistics) == ("battery", "%", True)
    assert rows["switch.desk_plug"].friendly_name == "Desk plug"
    assert rows["switch.desk_plug"].statistic_id is None


def _rows(*entities: tuple[str, str | None, str | None]) -> list[EntityRow]:
    return [EntityRow(entity_id=e, device_class=c, unit=u) for e, c, u in entities]


def _devices(rows: list[EntityRow]) -> dict[str, dict[str, EntityRole]]:
    devices, entities = infer_devices(rows)
    out: dict[str, dict[str, EntityRole]] = {d.device_key.removeprefix(INFERRED_PREFIX): {} for d in devices}
    for e in entities:
        out[e.device_key.removeprefix(INFERRED_PREFIX)][e.entity_id] = e.role
    return out


def test_groups_a_zigbee2mqtt_device() -> None:
    rows = _rows(
        ("binary_sensor.kitchen_motion_occupancy", "occupancy", None),
        ("sensor.kitchen_motion_illuminance_lux", "illuminance", "lx"),
        ("sensor.kitchen_motion_battery", "battery", "%"),
        ("sensor.kitchen_motion_voltage", "voltage", "mV"),
        ("sensor.kitchen_motion_linkquality", None, "lqi"),
        ("binary_sensor.kitchen_motion_battery_low", "battery", None),
        ("sensor.kitchen_motion_device_temperature", "temperature", "°C"),
    )
    assert _devices(rows) == {
        "kitchen_motion": {
            "binary_sensor.kitchen_motion_occupancy": EntityRole.PRIMARY,
            "sensor.kitchen_motion_illuminance_lux": EntityRole.OTHER,
            "sensor.kitchen_motion_battery": EntityRole.BATTERY,
            "sensor.kitchen_motion_voltage": EntityRole.VOLTAGE,
            "sensor.kitchen_motion_linkquality": EntityRole.SIGNAL,
            "binary_sensor.kitchen_motion_battery_low": EntityRole.BATTERY_LOW,
            "sensor.kitchen_motion_device_temperature": EntityRole.TEMPERATURE,
        }
    }
    device = infer_devices(rows)[0][0]
    assert (device.protocol, device.integration, device.power, device.kind) == (
        Protocol.ZIGBEE,
        "mqtt",
        Power.BATTERY,
        "motion",
    )


def test_groups_a_zha_device_and_its_light() -> None:
    rows = _rows(
        ("light.desk_lamp", None, None),
        ("sensor.desk_lamp_rssi", "signal_strength", "dBm"),
        ("sensor.desk_lamp_lqi", None, None),
        ("sensor.lumi_lumi_weather_temperature", "temperature", "°C"),
        ("sensor.lumi_lumi_weather_humidity", "humidity", "%"),
        ("sensor.lumi_lumi_weather_battery", "battery", "%"),
    )
    devices = _devices(rows)
    assert devices["desk_lamp"] == {
        "light.desk_lamp": EntityRole.PRIMARY,
        "sensor.desk_lamp_rssi": EntityRole.SIGNAL,
        "sensor.desk_lamp_lqi": EntityRole.SIGNAL,
    }
    assert devices["lumi_lumi_weather"]["sensor.lumi_lumi_weather_temperature"] is EntityRole.PRIMARY
    assert devices["lumi_lumi_weather"]["sensor.lumi_lumi_weather_humidity"] is EntityRole.OTHER
    info = {d.device_key: d for d in infer_devices(rows)[0]}
    assert info[INFERRED_PREFIX + "desk_lamp"].power is Power.MAINS
    assert info[INFERRED_PREFIX + "desk_lamp"].integration == "zha"
    assert info[INFERRED_PREFIX + "lumi_lumi_weather"].kind == "temperature"


def test_groups_an_esphome_node() -> None:
    rows = _rows(
        ("sensor.esp_office_temperature", "temperature", "°C"),
        ("sensor.esp_office_wifi_signal", "signal_strength", "dBm"),
        ("binary_sensor.esp_office_status", "connectivity", None),
        ("sensor.esp_office_uptime", "duration", "s"),
        ("button.esp_office_restart", "restart", None),
    )
    assert _devices(rows) == {
        "esp_office": {
            "sensor.esp_office_temperature": EntityRole.PRIMARY,
            "sensor.esp_office_wifi_signal": EntityRole.SIGNAL,
            "binary_sensor.esp_office_status": EntityRole.OTHER,
            "sensor.esp_office_uptime": EntityRole.OTHER,
            "button.esp_office_restart": EntityRole.OTHER,
        }
    }
    device = infer_devices(rows)[0][0]
    assert (device.protocol, device.integration) == (Protocol.WIFI, "esphome")


def test_groups_a_zwave_lock_by_its_whole_name() -> None:
    rows = _rows(
        ("lock.front_door", None, None),
        ("sensor.front_door_battery_level", "battery", "%"),
        ("binary_sensor.front_door_low_battery_level", "battery", None),
        ("sensor.front_door_node_status", "enum", None),
    )
    assert _devices(rows) == {
        "front_door": {
            "lock.front_door": EntityRole.PRIMARY,
            "sensor.front_door_battery_level": EntityRole.BATTERY,
            "binary_sensor.front_door_low_battery_level": EntityRole.BATTERY_LOW,
            "sensor.front_door_node_status": EntityRole.OTHER,
        }
    }
    device = infer_devices(rows)[0][0]
    assert (device.protocol, device.kind, device.power) == (Protocol.ZWAVE, "lock", Power.BATTERY)


def test_lone_names_hang_on_a_whole_device_or_a_known_stem() -> None:
    rows = _rows(
        ("vacuum.robot_vacuum", None, None),
        ("sensor.robot_vacuum_filter_left", None, None),
        ("sensor.printer_mfc_status", None, None),
        ("sensor.printer_mfc_drum_counter", None, None),
        ("light.kitchen", None, None),
        ("sensor.kitchen_co2_level", None, None),
    )
    devices = _devices(rows)
    assert devices["robot_vacuum"].keys() == {"vacuum.robot_vacuum", "sensor.robot_vacuum_filter_left"}
    assert devices["printer_mfc"].keys() == {"sensor.printer_mfc_status", "sensor.printer_mfc_drum_counter"}
    assert devices["kitchen"].keys() == {"light.kitchen"}  # one-word anchors would swallow rooms
    assert devices["kitchen_co2_level"].keys() == {"sensor.kitchen_co2_level"}


def test_phone_sensors_join_their_device_tracker() -> None:
    rows = _rows(
        ("device_tracker.anna_phone", None, None),
        ("sensor.anna_phone_battery_level", "battery", "%"),
        ("sensor.anna_phone_battery_state", None, None),
        ("sensor.anna_phone_steps", None, "steps"),
    )
    devices, _ = infer_devices(rows)
    assert len(devices) == 1
    assert devices[0].power is Power.RECHARGEABLE
    assert devices[0].kind == "phone"
    # A charger's state is the companion app's: charged as a routine, as the live registry says.
    assert devices[0].integration == "mobile_app"


@pytest.mark.parametrize(
    ("entity_id", "device"),
    [
        ("sun.sun", False),
        ("zone.home", False),
        ("person.anna", False),
        ("input_boolean.guest_mode", False),
        ("automation.lights_on", False),
        ("weather.forecast_home", False),
        ("update.home_assistant_core_update", False),
        ("sensor.date_time", False),
        ("sensor.sun_next_dawn", False),
        ("button.homeassistant_restart", False),
        ("switch.cloud_alexa", False),
        ("sensor.kitchen_temperature", True),
        ("binary_sensor.front_door_contact", True),
        ("media_player.living_room_tv", True),
        ("sensor.timer_plug_power", True),
    ],
)
def test_non_device_entities_are_skipped_without_a_registry(entity_id: str, device: bool) -> None:
    assert is_device_entity(entity_id) is device


def test_history_matches_the_records_contract(rec: Recorder) -> None:
    _small_home(rec)
    history = read_history(rec.query(), **WHOLE)
    assert isinstance(history, HomeHistory)
    device_keys = {d.device_key for d in history.devices}
    assert {e.device_key for e in history.entities} <= device_keys
    assert history.states.keys() == {e.entity_id for e in history.entities}
    for series in history.states.values():
        assert series.time.dtype == np.float64
        assert series.code.dtype == np.int32
        assert np.all(np.diff(series.time) > 0)
        assert series.code.max(initial=-1) < len(series.labels)


def test_in_lists_of_any_length_share_a_few_statement_texts_and_bind_the_same_values():
    """A home whose entity count changes must not compile a new statement at every change."""
    texts = set()
    for n in range(1, MAX_KEYS_PER_QUERY + 1):
        values = [f"sensor.e{i}" for i in range(n)]
        params: dict[str, object] = {}
        texts.add(in_list("k", values, params))
        assert set(params.values()) == set(values)
        assert len(params) <= MAX_KEYS_PER_QUERY
    assert len(texts) <= MAX_KEYS_PER_QUERY.bit_length() + 1
