"""Lifecycle and stored-state edge cases: a retry delay ends at the stop; times with no UTC date;
removal deletes our repair issues; an oversized snooze duration is a translated error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from sqlalchemy.exc import OperationalError

from custom_components.homeiq_device_intel import recorder_source
from custom_components.homeiq_device_intel.const import DOMAIN, SERVICE_SNOOZE


async def _set_up_unfrozen(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set up our entry on the real clock (the freezer stops asyncio.sleep from ever returning)."""
    await async_wait_recording_done(hass)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


# ---------------------------------------------------------------------------
# recorder_source._async_read: the retry sleep after a locked database ends at the stop.
# Before, unload (and Home Assistant's stop) waits out the whole retry delay,
# up to STOP_TIMEOUT (30 s), instead of ending the work at its next chunk.


async def test_unload_during_a_recorder_retry_does_not_wait_out_the_retry_delay(
    hass: HomeAssistant,
    add_battery_device: Callable[..., Any],
    mock_config_entry: MockConfigEntry,
) -> None:
    add_battery_device("Door 0")
    await _set_up_unfrozen(hass, mock_config_entry)
    coordinator = mock_config_entry.runtime_data.coordinator
    locked = asyncio.Event()

    def database_locked(*_: Any) -> Any:
        hass.loop.call_soon_threadsafe(locked.set)
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    with (
        patch.object(recorder_source, "_in_session", database_locked),
        patch.object(recorder_source, "RETRY_DELAYS", (5.0,)),
    ):
        refresh = hass.async_create_task(coordinator.async_refresh())
        await locked.wait()
        for _ in range(5):  # let the read's failure reach the retry's sleep
            await asyncio.sleep(0)
        started = time.monotonic()
        assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
        waited = time.monotonic() - started
        await refresh

    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED
    assert waited < 1.0, f"unload waited {waited:.1f} s for a retry delay"


# ---------------------------------------------------------------------------
# snooze._restored, training.TrainingState.from_dict: a stored time that parses but
# lies outside the range datetime can convert to UTC (year 9999 at a negative offset, year 1 at a
# positive one) is ignored. Before, it raised OverflowError. The snoozes are read in the
# coordinator's _async_setup: the entry never loads (setup retried for ever, the file kept).


def _stored(key: str, data: Any) -> dict[str, Any]:
    """The envelope HA's Store writes around our data."""
    return {"version": 1, "minor_version": 1, "key": key, "data": data}


OUT_OF_RANGE = "9999-12-31T23:00:00-05:00"  # after 9999-12-31 in UTC


async def test_a_stored_snooze_past_the_last_utc_date_is_ignored_and_the_entry_loads(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    add_battery_device: Callable[..., Any],
    setup_integration: Callable[[], Any],
) -> None:
    device = add_battery_device("Hall door", battery=10)
    hass_storage[f"{DOMAIN}.snoozes"] = _stored(
        f"{DOMAIN}.snoozes", {device.id: {"until": OUT_OF_RANGE, "preset": "custom"}}
    )

    entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    state = hass.states.get("select.hall_door_snooze")
    assert state is not None
    assert state.state == "off"


async def test_a_stored_last_trained_past_the_last_utc_date_is_ignored(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    add_battery_device: Callable[..., Any],
    setup_integration: Callable[[], Any],
) -> None:
    add_battery_device("Hall door", battery=10)
    hass_storage[f"{DOMAIN}.training"] = _stored(
        f"{DOMAIN}.training", {"status": "idle", "last_trained": OUT_OF_RANGE}
    )

    entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    state = hass.states.get("sensor.homeiq_device_intelligence_last_trained")
    assert state is not None, "the last-trained sensor could not write its state"
    assert state.state == "unknown"


# ---------------------------------------------------------------------------
# __init__.py async_remove_entry: before it, deleting the integration leaves its repair
# issues behind (here the fixable "entities not recorded", whose fix flow then only aborts).


@pytest.mark.parametrize("recorder_config", [{"exclude": {"entity_globs": ["sensor.attic_*"]}}])
async def test_deleting_the_integration_removes_its_repair_issues(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    add_battery_device: Callable[..., Any],
    setup_integration: Callable[[], Any],
) -> None:
    add_battery_device("Attic window")
    entry = await setup_integration()
    assert issue_registry.async_get_issue(DOMAIN, "entities_not_recorded") is not None

    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()

    assert [issue_id for domain, issue_id in issue_registry.issues if domain == DOMAIN] == []


# ---------------------------------------------------------------------------
# services._translated: a duration too large for a timedelta makes cv.time_period
# raise OverflowError, which voluptuous does not turn into vol.Invalid: the action now fails with
# the translated invalid_action_data, not a bare OverflowError.


@pytest.mark.parametrize("duration", [{"days": 1e10}, {"seconds": 1e30}, {"days": float("inf")}])
async def test_a_snooze_duration_too_large_for_a_timedelta_is_a_translated_error(
    hass: HomeAssistant,
    add_battery_device: Callable[..., Any],
    setup_integration: Callable[[], Any],
    duration: dict[str, float],
) -> None:
    device = add_battery_device("Hall door", battery=10)
    await setup_integration()

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, SERVICE_SNOOZE, {"devices": [device.id], "duration": duration}, blocking=True
        )

    assert err.value.translation_key == "invalid_action_data"
