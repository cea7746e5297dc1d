"""The battery log through Home Assistant: read at setup, kept by training, restarts, damage."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homeiq_device_intel.const import BATTERY_LOG_FILE, DOMAIN, SERVICE_TRAIN
from custom_components.homeiq_device_intel.ml.battery_life import Ending
from custom_components.homeiq_device_intel.ml.battery_log import (
    LoggedBattery,
    SwapSource,
    log_as_json,
)

Setup = Callable[[], Awaitable[MockConfigEntry]]
DAYS_REMAINING = "sensor.hall_door_battery_days_remaining"
DAY_S = 86400.0


def _coin_cell(now: float) -> LoggedBattery:
    """A 300-day battery that ran out a year ago (long before the 120 days of grid kept)."""
    start = now - 700 * DAY_S
    return LoggedBattery(
        start=start,
        end=start + 300 * DAY_S,
        life_days=300.0,
        start_level=100.0,
        end_level=5.0,
        ending=Ending.RAN_OUT,
        source=SwapSource.BATTERY_NOTES,
        level_days=(30.0, 60.0, 90.0, 120.0, 150.0, 180.0, 210.0, 240.0, 270.0),
    )


def _write_log(config_dir: Path, device_key: str) -> Path:
    path = config_dir / ".storage" / DOMAIN / BATTERY_LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    log = {device_key: (_coin_cell(dt_util.utcnow().timestamp()),)}
    path.write_text(json.dumps(log_as_json(log, DOMAIN)))
    return path


async def test_a_battery_that_ended_a_year_ago_gives_own_history_and_survives_a_restart(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup, config_dir: Path
) -> None:
    device = add_battery_device("Hall door", battery=50)
    _write_log(config_dir, device.id)
    entry = await setup_integration()

    def check() -> None:
        days = hass.states.get(DAYS_REMAINING)
        assert days is not None
        assert days.attributes["source"] == "own_history"
        assert days.attributes["past_batteries"] == 1
        assert days.attributes["typical_life_days"] == 300.0

    check()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    check()


async def test_training_writes_the_log_and_keeps_devices_it_did_not_see(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup, config_dir: Path
) -> None:
    add_battery_device("Hall door", battery=50)
    path = _write_log(config_dir, "a-device-removed-since")
    written = path.read_text()
    entry = await setup_integration()

    await hass.services.async_call(DOMAIN, SERVICE_TRAIN, {}, blocking=True, return_response=True)

    assert path.read_text() != written  # saved again (compactly), with the same batteries
    assert json.loads(path.read_text()) == json.loads(written)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert set(entry.runtime_data.coordinator.aggregates_store.battery_log) == {"a-device-removed-since"}


@pytest.mark.parametrize(
    "content",
    [
        b"garbage",
        b"{}",
        json.dumps({"format": "homeiq_battery_log", "version": 7}).encode(),
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["not_json", "foreign", "newer_version", "nested_too_deep"],
)
async def test_an_unreadable_battery_log_is_set_aside_and_the_entry_loads(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    config_dir: Path,
    caplog: pytest.LogCaptureFixture,
    content: bytes,
) -> None:
    path = config_dir / ".storage" / DOMAIN / BATTERY_LOG_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    add_battery_device("Hall door")

    entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator.aggregates_store.battery_log == {}
    assert path.with_suffix(".unreadable").read_bytes() == content
    assert "Stored battery log is unreadable" in caplog.text
    days = hass.states.get(DAYS_REMAINING)
    assert days is not None and days.attributes["source"] == "model"
