"""The demo's recorder database: Home Assistant's recorder opens it as its own, and reads it back."""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from homeassistant.components.recorder import Recorder, get_instance, history, statistics
from homeassistant.components.recorder.db_schema import SCHEMA_VERSION
from homeassistant.components.recorder.migration import LIVE_DATA_MIGRATORS, NON_LIVE_DATA_MIGRATORS
from homeassistant.core import HomeAssistant

from custom_components.homeiq_device_intel.ml.battery_life import Source, Unreliable
from custom_components.homeiq_device_intel.ml.bundle import load_bundle
from custom_components.homeiq_device_intel.ml.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from custom_components.homeiq_device_intel.ml.link import LinkTrend, link_quality
from custom_components.homeiq_device_intel.ml.recorder.reading import read_history
from custom_components.homeiq_device_intel.ml.records import StatSeries, attribute_series_key
from custom_components.homeiq_device_intel.ml.scoring import home_grid, score_home
from homeiq_lab.demo import owner_devices
from homeiq_lab.demo.home import HORIZON_DAYS, WAYS, DemoHome, build_demo_home, history_days
from homeiq_lab.demo.recorder_db import RecordedEntity, collapse_reports, write_recorder_db

SHIPPED = Path(__file__).resolve().parents[2] / "custom_components" / "homeiq_device_intel" / "models"
HOUR = 3600.0
DAY = 86400.0
NOW = float(int(time.time()))
START = NOW - 6 * DAY
RESTARTS = [START + 2 * DAY + 123.0, START + 4 * DAY + 45.0]
HISTORY_RANGE = (28.0, 43.0)
BATTERY = "sensor.hall_motion_battery"
MOTION = "binary_sensor.hall_motion"


def _battery() -> RecordedEntity:
    """A battery reporting every hour, falling 1 % a day, once unavailable for 3 h."""
    times = np.arange(START, NOW, HOUR)
    levels = [str(int(100 - (t - START) // DAY)) for t in times]
    for i in range(40, 43):
        levels[i] = "unavailable"
    hours = np.arange(START, NOW - HOUR, HOUR)
    mean = 100 - (hours - START) // DAY
    return RecordedEntity(
        attributes={
            "state_class": "measurement",
            "unit_of_measurement": "%",
            "device_class": "battery",
            "friendly_name": "Hall motion Battery",
        },
        times=times,
        states=levels,
        statistics=StatSeries(start=hours, mean=mean, min=mean, max=mean),
    )


def _motion() -> RecordedEntity:
    """A motion sensor switching every 90 minutes."""
    times = np.arange(START, NOW, 1.5 * HOUR)
    return RecordedEntity(
        attributes={"device_class": "motion", "friendly_name": "Hall motion"},
        times=times,
        states=["on" if i % 2 else "off" for i in range(times.size)],
    )


def _vacuum() -> RecordedEntity:
    """A vacuum idle all along whose `battery_level` attribute falls 1 point every 4 hours."""
    times = np.arange(START, NOW, 2 * HOUR)
    base = {"supported_features": 4096 | 64, "friendly_name": "Robot vacuum"}
    rows = [{**base, "battery_level": int(90 - i // 2)} for i in range(times.size)]
    return RecordedEntity(attributes=rows[-1], times=times, states=["idle"] * times.size, row_attributes=rows)


VACUUM = "vacuum.robot_vacuum"
ENTITIES = {BATTERY: _battery(), MOTION: _motion(), VACUUM: _vacuum()}


def _expected_rows(entity: RecordedEntity) -> list[tuple[float, float, str]]:
    """The rows the recorder holds for an entity: one per change of its state or attributes."""
    keys = None
    if entity.row_attributes is not None:
        keys = [int(a["battery_level"]) for a in entity.row_attributes]
    return collapse_reports(entity.times.tolist(), entity.states, keys)


def _write(directory: Path) -> Path:
    """Write the demo's database of two entities over six days."""
    path = directory / "home-assistant_v2.db"
    write_recorder_db(path, ENTITIES, restarts=RESTARTS, start=START, end=NOW)
    return path


@pytest.fixture
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The database as written, which no recorder has opened."""
    return _write(tmp_path_factory.mktemp("written"))


@pytest.fixture
def recorder_db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Start the test's recorder on a database written for it."""
    return f"sqlite:///{_write(tmp_path_factory.mktemp('opened'))}"


@pytest.fixture
def enable_schema_validation() -> bool:
    """Look for schema errors as a real start does."""
    return True


@pytest.fixture
def enable_missing_statistics() -> bool:
    """Compile missing statistics as a real start does (nothing is missing)."""
    return True


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Run a query on the database file."""
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


def test_collapse_reports_keeps_changes_and_moves_last_reported() -> None:
    rows = collapse_reports([1.0, 2.0, 3.0, 4.0, 5.0], ["a", "a", "b", "b", "a"])

    assert rows == [(1.0, 2.0, "a"), (3.0, 4.0, "b"), (5.0, 5.0, "a")]


def test_collapse_reports_starts_a_row_when_the_attributes_change() -> None:
    rows = collapse_reports([1.0, 2.0, 3.0, 4.0], ["idle"] * 4, [0, 0, 1, 1])

    assert rows == [(1.0, 2.0, "idle"), (3.0, 4.0, "idle")]


def test_changing_attributes_are_written_row_by_row(demo_db: Path) -> None:
    rows = _rows(
        demo_db,
        "SELECT s.state, a.shared_attrs FROM states s JOIN states_meta m USING (metadata_id) "
        "JOIN state_attributes a USING (attributes_id) "
        f"WHERE m.entity_id = '{VACUUM}' ORDER BY s.last_updated_ts",
    )
    levels = [json.loads(shared)["battery_level"] for _, shared in rows]

    # One row per level (two reports each), one attribute row per level.
    assert levels == list(range(90, 90 - len(rows), -1))
    assert {state for state, _ in rows} == {"idle"}
    assert len(_rows(demo_db, "SELECT DISTINCT attributes_id FROM states")) == 2 + len(rows)


def test_integration_reader_reads_an_attribute_battery_back(demo_db: Path) -> None:
    with sqlite3.connect(demo_db) as connection:
        read = read_history(
            lambda sql, params: connection.execute(sql, params).fetchall(),
            start=START,
            end=NOW + 1.0,
            level_attributes={VACUUM: "battery_level"},
        )

    levels = read.states[attribute_series_key(VACUUM, "battery_level")]
    assert levels.value[0] == 90.0
    assert levels.value[-1] == 90.0 - (len(_expected_rows(ENTITIES[VACUUM])) - 1)


def test_writer_refuses_to_overwrite(demo_db: Path) -> None:
    with pytest.raises(FileExistsError):
        write_recorder_db(demo_db, ENTITIES, restarts=[], start=START, end=NOW)


def test_database_has_the_current_schema_and_completed_migrations(demo_db: Path) -> None:
    assert _rows(demo_db, "SELECT schema_version FROM schema_changes") == [(SCHEMA_VERSION,)]
    migrations = dict(_rows(demo_db, "SELECT migration_id, version FROM migration_changes"))
    assert migrations == {
        m.migration_id: m.migration_version for m in (*NON_LIVE_DATA_MIGRATORS, *LIVE_DATA_MIGRATORS)
    }


def test_database_holds_every_change_and_statistic(demo_db: Path) -> None:
    counts = dict(
        _rows(
            demo_db,
            "SELECT m.entity_id, COUNT(*) FROM states s JOIN states_meta m USING (metadata_id) GROUP BY 1",
        )
    )
    assert counts == {entity_id: len(_expected_rows(e)) for entity_id, e in ENTITIES.items()}
    stats = _rows(
        demo_db,
        "SELECT m.statistic_id, COUNT(*) FROM statistics s "
        "JOIN statistics_meta m ON m.id = s.metadata_id GROUP BY 1",
    )
    assert stats == [(BATTERY, len(ENTITIES[BATTERY].statistics.start))]  # type: ignore[union-attr]


def test_restarts_are_closed_recorder_runs_with_start_events(demo_db: Path) -> None:
    runs = _rows(demo_db, "SELECT start, end, closed_incorrect FROM recorder_runs ORDER BY run_id")
    starts = _rows(
        demo_db,
        "SELECT e.time_fired_ts FROM events e JOIN event_types t USING (event_type_id) "
        "WHERE t.event_type = 'homeassistant_start' ORDER BY 1",
    )

    assert len(runs) == len(RESTARTS) + 1
    assert all(end is not None and closed == 0 for _, end, closed in runs)
    assert [t for (t,) in starts] == [START, *RESTARTS]


def test_old_state_ids_chain_each_entity(demo_db: Path) -> None:
    rows = _rows(
        demo_db,
        "SELECT s.state_id, s.old_state_id FROM states s JOIN states_meta m USING (metadata_id) "
        f"WHERE m.entity_id = '{MOTION}' ORDER BY s.last_updated_ts",
    )

    assert rows[0][1] is None
    assert all(row[1] == previous[0] for previous, row in itertools.pairwise(rows))


async def test_recorder_opens_it_without_migrating(
    hass: HomeAssistant, recorder_mock: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    assert recorder_mock.schema_version == SCHEMA_VERSION
    assert not recorder_mock.migration_in_progress
    assert "about to upgrade" not in caplog.text
    assert "Data migration" not in caplog.text


async def test_recorder_history_returns_the_written_states(
    hass: HomeAssistant, recorder_mock: Recorder
) -> None:
    start = datetime.fromtimestamp(START - 1.0, UTC)
    end = datetime.fromtimestamp(NOW, UTC)

    found = await get_instance(hass).async_add_executor_job(
        history.state_changes_during_period, hass, start, end, BATTERY, False, False, None, True
    )

    expected = _expected_rows(ENTITIES[BATTERY])
    assert [s.state for s in found[BATTERY]] == [state for _, _, state in expected]
    assert [s.last_updated.timestamp() for s in found[BATTERY]] == pytest.approx([t for t, _, _ in expected])
    assert found[BATTERY][-1].attributes["unit_of_measurement"] == "%"


async def test_recorder_statistics_return_the_written_hours(
    hass: HomeAssistant, recorder_mock: Recorder
) -> None:
    start = datetime.fromtimestamp(START, UTC)

    found = await get_instance(hass).async_add_executor_job(
        statistics.statistics_during_period,
        hass,
        start,
        None,
        {BATTERY},
        "hour",
        None,
        {"mean", "min", "max"},
    )

    written = ENTITIES[BATTERY].statistics
    assert written is not None
    assert [row["start"] for row in found[BATTERY]] == pytest.approx(written.start.tolist())
    assert [row["mean"] for row in found[BATTERY]] == pytest.approx(written.mean.tolist())


def test_integration_reader_reads_back_the_history(demo_db: Path) -> None:
    with sqlite3.connect(demo_db) as connection:
        read = read_history(
            lambda sql, params: connection.execute(sql, params).fetchall(),
            start=START,
            end=NOW + 1.0,
        )

    expected = _expected_rows(ENTITIES[MOTION])
    motion = read.states[MOTION]
    assert motion.time.tolist() == pytest.approx([t for t, _, _ in expected])
    assert [motion.labels[c] for c in motion.code.tolist()] == [state for _, _, state in expected]
    assert read.restarts.tolist() == pytest.approx([START, *RESTARTS])
    assert len(read.statistics[BATTERY]) == len(ENTITIES[BATTERY].statistics.start)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def demo_home() -> DemoHome:
    """The demo home, composed from the generator and ending now."""
    return build_demo_home(NOW)


EXPECTED_FAILURE = {
    "coin_cell": "battery_depleted",
    "alkaline": "battery_depleted",
    "flaky_wifi_plug": "unavailable",
    "stuck_sensor": "stuck",
}


def test_demo_home_has_a_device_failing_soon_in_every_way(demo_home: DemoHome) -> None:
    built = {t.way.key: t for t in demo_home.truth.values() if t.way is not None}

    assert set(built) == {way.key for way in WAYS}
    for key, truth in built.items():
        assert truth.failure is not None
        assert truth.failure.kind == EXPECTED_FAILURE[key]
        assert 0.0 < truth.failure.start - NOW <= HORIZON_DAYS * DAY
        assert not truth.failing_now


def test_demo_home_ends_now_after_a_bridge_outage(demo_home: DemoHome) -> None:
    assert demo_home.end == NOW
    assert all(entity.times[-1] <= NOW for entity in demo_home.recorded.values())
    assert demo_home.history.start < demo_home.bridge_outage.start < demo_home.bridge_outage.end < NOW
    assert HISTORY_RANGE[0] <= history_days(demo_home) <= HISTORY_RANGE[1]


def test_demo_integration_describes_every_recorded_entity(demo_home: DemoHome) -> None:
    devices = {d["id"] for d in demo_home.description["devices"]}
    described = {e["entity_id"]: e for e in demo_home.description["entities"]}

    assert set(described) == set(demo_home.recorded)
    assert all(e["device"] in devices for e in described.values())
    assert all(described[eid]["state"] == rec.states[-1] for eid, rec in demo_home.recorded.items())
    seen: set[str] = set()
    for device in demo_home.description["devices"]:
        assert device["via_device"] is None or device["via_device"] in seen
        seen.add(device["id"])


def test_demo_home_has_the_owner_devices_and_the_vacuum_battery_only_as_an_attribute(
    demo_home: DemoHome,
) -> None:
    devices = {d["id"]: d for d in demo_home.description["devices"]}
    for key in (
        owner_devices.THREE_PAST_BATTERIES,
        owner_devices.DIED_HIGH,
        owner_devices.RECHARGES_NIGHTLY,
        owner_devices.ATTRIBUTE_BATTERY,
        owner_devices.WEAKENING_LINK,
    ):
        assert key in devices
    vacuum = [e for e in demo_home.description["entities"] if e["device"] == owner_devices.VACUUM]
    assert [e["entity_id"] for e in vacuum] == ["vacuum.robot_vacuum"]
    recorded = demo_home.recorded["vacuum.robot_vacuum"]
    assert recorded.row_attributes is not None
    levels = [a["battery_level"] for a in recorded.row_attributes]
    assert levels[-1] == vacuum[0]["attributes"]["battery_level"] == 18
    # The vacuum runs out within the horizon: its truth says so.
    truth = demo_home.truth[owner_devices.VACUUM]
    assert truth.failure is not None and truth.failure.kind == "battery_depleted"
    assert 0.0 < truth.failure.start - NOW <= HORIZON_DAYS * DAY


def test_the_owner_devices_show_what_they_were_written_to_show(demo_home: DemoHome) -> None:
    bundle = load_bundle(
        SHIPPED, expected_feature_names=FEATURE_NAMES, expected_schema_version=FEATURE_SCHEMA_VERSION
    )
    scored = {p.device_key: p for p in score_home(demo_home.history, bundle, now=demo_home.end)}

    garden = scored[owner_devices.THREE_PAST_BATTERIES].battery_life
    assert garden is not None
    assert garden.source is Source.OWN_HISTORY and len(garden.outlook.past) == 3
    assert garden.outlook.typical_life_days == pytest.approx(10.0, abs=0.5)
    back_door = scored[owner_devices.DIED_HIGH].battery_life
    assert back_door is not None
    assert back_door.outlook.unreliable is Unreliable.DIED_HIGH
    assert back_door.outlook.unreliable_level == owner_devices.DIED_AT_LEVEL
    phone = scored[owner_devices.RECHARGES_NIGHTLY]
    assert phone.battery_days is None and "battery_depleted" not in phone.probabilities
    vacuum = scored[owner_devices.ATTRIBUTE_BATTERY]
    assert vacuum.failure_type == "battery_depleted" and vacuum.battery_days is not None
    links = link_quality(home_grid(demo_home.history, now=demo_home.end))
    assert links[owner_devices.WEAKENING_LINK].trend is LinkTrend.WEAKENING
