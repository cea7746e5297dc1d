"""Reading what Home Assistant's own recorder wrote, on whichever database `--dburl` names.

The default run uses SQLite; `scripts/test.sh` runs this file again on real
MariaDB and PostgreSQL servers (`-m database --dburl ...`), where HA's recorder
creates and migrates the schema itself. Rows are written the way HA writes them
(state changes, re-reports, imported statistics, fired events) at frozen times,
then read back with the reader's SQL through the recorder's own sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.db_schema import SCHEMA_VERSION
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance, session_scope
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from sqlalchemy import text

from custom_components.homeiq_device_intel.lifecycle import WorkGuard
from custom_components.homeiq_device_intel.ml.recorder.planning import plan_read
from custom_components.homeiq_device_intel.ml.recorder.reading import (
    assemble_history,
    read_chunk,
    read_history,
)
from custom_components.homeiq_device_intel.ml.recorder.schema import (
    NEWEST_KNOWN_SCHEMA,
    Dialect,
    SchemaInfo,
    detect_schema,
)
from custom_components.homeiq_device_intel.ml.recorder.sql import QueryFn
from custom_components.homeiq_device_intel.ml.recorder.summary import ReadSummary
from custom_components.homeiq_device_intel.ml.records import UNAVAILABLE, UNKNOWN, HomeHistory
from custom_components.homeiq_device_intel.recorder_source import async_read_history, recorder_layout

pytestmark = pytest.mark.database

BATTERY = {"device_class": "battery", "unit_of_measurement": "%", "state_class": "measurement"}


def _run[T](hass: HomeAssistant, read: Callable[[QueryFn, Dialect], T]) -> T:
    """Run `read` with a query function over a read-only recorder session."""
    dialect: Dialect = str(get_instance(hass).dialect_name or "sqlite")  # type: ignore[assignment]
    with session_scope(hass=hass, read_only=True) as session:
        return read(lambda sql, params: session.execute(text(sql), params).all(), dialect)


async def _read(hass: HomeAssistant, **kwargs: Any) -> tuple[HomeHistory, ReadSummary]:
    """Read a history on the recorder's executor, as the integration does."""
    summary = ReadSummary()

    def read(query: QueryFn, dialect: Dialect) -> HomeHistory:
        return read_history(query, dialect=dialect, summary=summary, **kwargs)

    history = await get_instance(hass).async_add_executor_job(_run, hass, read)
    return history, summary


async def _record(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let the recorder commit everything written so far."""
    freezer.tick(timedelta(seconds=1))
    await async_wait_recording_done(hass)


@pytest.fixture
def t0(freezer: FrozenDateTimeFactory) -> datetime:
    """The top of an hour a few days ago, that the tests write from."""
    start = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    freezer.move_to(start)
    return start


async def test_the_schema_ha_created_is_read_from_the_catalog(hass: HomeAssistant) -> None:
    schema: SchemaInfo = await get_instance(hass).async_add_executor_job(
        _run, hass, lambda query, dialect: detect_schema(query, dialect)
    )
    by_version: SchemaInfo = await get_instance(hass).async_add_executor_job(
        _run, hass, lambda query, _: detect_schema(query)
    )
    assert schema.version == by_version.version == SCHEMA_VERSION
    assert schema.states
    assert schema.states_meta
    assert schema.state_ts
    assert schema.last_reported
    assert schema.state_attributes
    assert schema.statistics
    assert schema.statistics_ts
    assert schema.mean_type
    assert schema.event_types
    assert schema.event_data
    assert schema.event_ts
    assert schema.not_read == ()


async def test_states_read_back_exactly_as_ha_wrote_them(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, t0: datetime
) -> None:
    raw = ["21.5", "unavailable", "22", "on", "unknown", "21.5", "-0.25", "Wohnzimmer ÄÖÜ 🔋"]
    times = []
    for i, state in enumerate(raw):
        at = t0 + timedelta(seconds=61.25 * i)
        freezer.move_to(at)
        hass.states.async_set("sensor.x_temperature", state, {"unit_of_measurement": "°C"})
        times.append(at.timestamp())
    await _record(hass, freezer)

    history, summary = await _read(
        hass, start=t0.timestamp(), end=t0.timestamp() + 86400, entity_ids=["sensor.x_temperature"]
    )

    series = history.states["sensor.x_temperature"]
    np.testing.assert_array_equal(series.time, times)
    assert series.code.tolist() == [0, UNAVAILABLE, 1, 2, UNKNOWN, 0, 3, 4]
    assert series.labels == ("21.5", "22", "on", "-0.25", "Wohnzimmer ÄÖÜ 🔋")
    np.testing.assert_array_equal(series.value[[0, 2, 3, 6]], [21.5, 22.0, np.nan, -0.25])
    assert series.value.dtype == np.float64
    assert summary.state_rows == len(raw)
    assert [(e.entity_id, e.unit) for e in history.entities] == [("sensor.x_temperature", "°C")]


async def test_re_reports_of_an_unchanged_state_move_last_reported(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, t0: datetime
) -> None:
    hass.states.async_set("sensor.hall_battery", "90", BATTERY)
    freezer.move_to(t0 + timedelta(minutes=30))
    hass.states.async_set("sensor.hall_battery", "90", BATTERY)  # re-reported, not changed
    freezer.move_to(t0 + timedelta(hours=1))
    hass.states.async_set("sensor.hall_battery", "89", BATTERY)
    await _record(hass, freezer)

    history, _ = await _read(hass, start=t0.timestamp(), end=t0.timestamp() + 86400)

    series = history.states["sensor.hall_battery"]
    assert series.labels == ("90", "89")
    np.testing.assert_array_equal(series.time, [t0.timestamp(), t0.timestamp() + 3600])
    assert series.last_reported is not None
    np.testing.assert_array_equal(series.last_reported - series.time, [1800.0, 0.0])
    entity = next(e for e in history.entities if e.entity_id == "sensor.hall_battery")
    assert (entity.device_class, entity.unit) == ("battery", "%")


async def test_state_before_the_window_opens_it(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, t0: datetime
) -> None:
    hass.states.async_set("switch.desk_plug", "on")
    freezer.move_to(t0 + timedelta(hours=2))
    hass.states.async_set("switch.desk_plug", "unavailable")
    await _record(hass, freezer)

    start = t0.timestamp() + 60
    history, summary = await _read(hass, start=start, end=t0.timestamp() + 2 * 3600)

    plug = history.states["switch.desk_plug"]
    assert plug.time.tolist() == [start]
    assert plug.labels == ("on",)
    assert summary.start_states >= 1


async def test_statistics_with_a_mean_are_read_and_sums_are_not(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, t0: datetime
) -> None:
    hours = [t0 + timedelta(hours=h) for h in range(6)]
    for statistic_id, mean_type, has_sum in (
        ("sensor.hall_battery", StatisticMeanType.ARITHMETIC, False),
        ("sensor.plug_energy", StatisticMeanType.NONE, True),
    ):
        metadata = StatisticMetaData(
            has_mean=mean_type is not StatisticMeanType.NONE,
            mean_type=mean_type,
            has_sum=has_sum,
            name=None,
            source="recorder",
            statistic_id=statistic_id,
            unit_of_measurement="%" if not has_sum else "kWh",
        )
        if "unit_class" in StatisticMetaData.__annotations__:  # newer HA requires it
            metadata["unit_class"] = None  # type: ignore[typeddict-unknown-key]
        rows = [
            StatisticData(start=at, sum=float(i), state=float(i))
            if has_sum
            else StatisticData(start=at, mean=90.0 - i / 4, min=89.0 - i, max=91.0 + i)
            for i, at in enumerate(hours)
        ]
        async_import_statistics(hass, metadata, rows)
    hass.states.async_set("sensor.hall_battery", "90", BATTERY)
    hass.states.async_set("sensor.plug_energy", "1", {"unit_of_measurement": "kWh"})
    await _record(hass, freezer)

    history, summary = await _read(hass, start=t0.timestamp(), end=t0.timestamp() + 86400)

    assert history.statistics.keys() == {"sensor.hall_battery"}
    stat = history.statistics["sensor.hall_battery"]
    np.testing.assert_array_equal(stat.start, [at.timestamp() for at in hours])
    np.testing.assert_array_equal(stat.mean, [90.0 - i / 4 for i in range(6)])
    np.testing.assert_array_equal(stat.max - stat.min, [2.0 + 2 * i for i in range(6)])
    for column in (stat.start, stat.mean, stat.min, stat.max):
        assert column.dtype == np.float64
    assert summary.statistics_rows == 6


async def test_restarts_and_battery_swaps_come_from_events(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, t0: datetime
) -> None:
    hass.states.async_set("sensor.hall_battery", "5", BATTERY)
    freezer.move_to(t0 + timedelta(minutes=10))
    hass.bus.async_fire("homeassistant_start")
    freezer.move_to(t0 + timedelta(minutes=20))
    hass.bus.async_fire(
        "battery_notes_battery_replaced",
        {"device_id": None, "source_entity_id": "sensor.hall_battery", "device_name": "Hall"},
    )
    freezer.move_to(t0 + timedelta(minutes=25))
    hass.bus.async_fire("battery_notes_battery_replaced", {"device_id": "abc123"})
    await _record(hass, freezer)

    history, summary = await _read(hass, start=t0.timestamp(), end=t0.timestamp() + 86400)

    np.testing.assert_array_equal(history.restarts, [t0.timestamp() + 600])
    assert history.battery_swaps.keys() == {"inferred:hall", "abc123"}
    np.testing.assert_array_equal(history.battery_swaps["inferred:hall"], [t0.timestamp() + 1200])
    assert summary.battery_swaps == 2
    assert summary.bad_events == 0


async def test_a_chunked_read_equals_a_one_shot_read(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, t0: datetime
) -> None:
    for i in range(60):
        freezer.move_to(t0 + timedelta(seconds=10 * i))
        hass.states.async_set("sensor.desk_plug_power", f"{(i * 37) % 100 / 10:.1f}", {"unit": "W"})
        if i % 3 == 0:
            hass.states.async_set("binary_sensor.hall_motion", ["on", "off"][i % 2])
    await _record(hass, freezer)
    window = {"start": t0.timestamp(), "end": t0.timestamp() + 86400}

    def chunked(query: QueryFn, dialect: Dialect) -> tuple[HomeHistory, int]:
        plan = plan_read(query, **window, chunk_rows=7, dialect=dialect)
        results = [read_chunk(query, plan, chunk) for chunk in reversed(plan.chunks)]
        return assemble_history(plan, results), sum(c.kind == "states" for c in plan.chunks)

    pieces, n_chunks = await get_instance(hass).async_add_executor_job(_run, hass, chunked)
    one, _ = await _read(hass, **window)

    assert n_chunks >= 60 // 7
    assert pieces.states.keys() == one.states.keys()
    assert {"sensor.desk_plug_power", "binary_sensor.hall_motion"} <= one.states.keys()
    for entity_id, series in one.states.items():
        np.testing.assert_array_equal(pieces.states[entity_id].time, series.time)
        np.testing.assert_array_equal(pieces.states[entity_id].value, series.value)
        assert pieces.states[entity_id].labels == series.labels
    assert len(one.states["sensor.desk_plug_power"]) == 60


async def test_a_newer_layout_is_warned_about_once_and_kept_for_diagnostics(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    future = NEWEST_KNOWN_SCHEMA + 1

    def migrate_to_the_future() -> None:
        with session_scope(hass=hass) as session:
            session.execute(
                text("INSERT INTO schema_changes (schema_version, changed) VALUES (:v, :at)"),
                {"v": future, "at": dt_util.utcnow()},
            )

    await get_instance(hass).async_add_executor_job(migrate_to_the_future)
    assert recorder_layout(hass) is None
    now = dt_util.utcnow()

    for _ in range(2):
        await async_read_history(hass, {}, start=now - timedelta(days=1), end=now, guard=WorkGuard(hass))

    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "schema" in r.getMessage()]
    assert len(warnings) == 1
    assert f"schema {future}" in warnings[0].getMessage()
    layout = recorder_layout(hass)
    assert layout is not None
    assert layout["schema_version"] == future
    assert layout["newest_known_schema"] == NEWEST_KNOWN_SCHEMA
    assert layout["not_read"] == [
        f"recorder schema {future} is newer than the newest known ({NEWEST_KNOWN_SCHEMA}): "
        "only the tables and columns found in the database catalog are read"
    ]
