"""An entry of an earlier release is brought up to this one before it sets up.

Minor version 2: a battery entity with no device is watched under its entity registry id, which a
rename keeps, instead of its entity id. What an earlier release kept under the old key (our
entities, the snooze, the at-risk state, the stored grid and battery log) moves to the new key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import PERCENTAGE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homeiq_device_intel.aggregates_store import AggregatesStore
from custom_components.homeiq_device_intel.const import (
    AGGREGATES_FILE,
    AT_RISK_STORE,
    BATTERY_LOG_FILE,
    CONFIG_MINOR_VERSION,
    DEFAULT_OPTIONS,
    DOMAIN,
    SERVICE_SNOOZE,
    SNOOZES_STORE,
)
from custom_components.homeiq_device_intel.ml.aggregates import load_grid, save_grid
from custom_components.homeiq_device_intel.ml.battery_log import load_log, save_log
from custom_components.homeiq_device_intel.ml.grid import build_grid
from tests.integration.test_battery_log import _coin_cell
from tests.ml.test_aggregates import _history

Setup = Callable[[], Awaitable[MockConfigEntry]]
OLD_KEY = "entity:sensor.remote_battery"
# What the earlier release added for a lone battery: its description keys and our entity ids.
OURS = {
    "failure_probability": "sensor.remote_battery_failure_probability",
    "battery_days_remaining": "sensor.remote_battery_battery_days_remaining",
    "battery_replace_by": "sensor.remote_battery_battery_replace_by",
    "at_risk": "binary_sensor.remote_battery_at_risk",
    "snooze": "select.remote_battery_snooze_alerts",
}


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """Our config entry as the earlier release left it (minor version 1)."""
    return MockConfigEntry(
        domain=DOMAIN, title="HomeIQ Device Intelligence", data={}, options=dict(DEFAULT_OPTIONS)
    )


def _stored(key: str, data: Any) -> dict[str, Any]:
    """The envelope HA's Store writes around our data."""
    return {"version": 1, "minor_version": 1, "key": key, "data": data}


def _lone_battery(hass: HomeAssistant) -> er.RegistryEntry:
    """A battery sensor of an integration that registers no device."""
    source = er.async_get(hass).async_get_or_create(
        "sensor",
        "template",
        "remote",
        original_device_class="battery",
        unit_of_measurement=PERCENTAGE,
        suggested_object_id="remote_battery",
    )
    hass.states.async_set(source.entity_id, "50", {"device_class": "battery", "unit_of_measurement": "%"})
    return source


async def test_a_lone_battery_of_an_earlier_release_keeps_its_entities_snooze_and_history(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    config_dir: Path,
    mock_config_entry: MockConfigEntry,
    setup_integration: Setup,
) -> None:
    source = _lone_battery(hass)
    registry = er.async_get(hass)
    mock_config_entry.add_to_hass(hass)
    registry_ids = {}
    for key, entity_id in OURS.items():
        domain, object_id = entity_id.split(".")
        registry_ids[entity_id] = registry.async_get_or_create(
            domain, DOMAIN, f"{OLD_KEY}_{key}", suggested_object_id=object_id, config_entry=mock_config_entry
        ).id
    until = (dt_util.utcnow() + timedelta(days=3)).isoformat()
    hass_storage[SNOOZES_STORE] = _stored(SNOOZES_STORE, {OLD_KEY: {"until": until, "preset": "3_days"}})
    hass_storage[AT_RISK_STORE] = _stored(AT_RISK_STORE, {OLD_KEY: {"on": True, "streak": 0}})
    folder = config_dir / ".storage" / DOMAIN
    grid = build_grid(_history(0, 5, devices=(OLD_KEY, "a")))
    grid.home_id = DOMAIN
    save_grid(grid, folder / AGGREGATES_FILE)
    save_log({OLD_KEY: (_coin_cell(dt_util.utcnow().timestamp()),)}, folder / BATTERY_LOG_FILE, DOMAIN)

    # The stored grid ends long ago, so the first scoring would save its own merge over the
    # migrated file (keeping the watched devices only); the file read below is the migration's.
    with patch.object(AggregatesStore, "behind", return_value=False):
        entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    assert entry.minor_version == CONFIG_MINOR_VERSION
    new_key = f"entity:{source.id}"
    assert set(entry.runtime_data.coordinator.data.devices) == {new_key}
    ours = [
        e
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        if e.unique_id.startswith("entity:")
    ]
    assert {e.unique_id: e.entity_id for e in ours} == {f"{new_key}_{key}": eid for key, eid in OURS.items()}
    # The same registry entries, so whatever the owner set on them (name, area, icon) stays.
    assert {e.entity_id: e.id for e in ours} == registry_ids
    coordinator = entry.runtime_data.coordinator
    snooze = coordinator.snoozes.get(new_key, dt_util.utcnow())
    assert snooze is not None and snooze.preset == "3_days"
    assert hass.states.get(OURS["snooze"]).state == "3_days"
    assert new_key in coordinator.risk.at_risk
    assert load_grid(folder / AGGREGATES_FILE, home_id=DOMAIN).device_keys == [new_key, "a"]
    assert set(load_log(folder / BATTERY_LOG_FILE, home_id=DOMAIN)) == {new_key}


async def test_an_entry_of_an_earlier_release_without_lone_batteries_moves_to_this_release(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup, config_dir: Path
) -> None:
    device = add_battery_device("Hall door")

    entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    assert entry.minor_version == CONFIG_MINOR_VERSION
    assert set(entry.runtime_data.coordinator.data.devices) == {device.id}
    assert not (config_dir / ".storage" / DOMAIN / AGGREGATES_FILE).exists()


async def test_an_automation_snoozing_a_lone_battery_by_its_old_key_still_snoozes_it(
    hass: HomeAssistant, setup_integration: Setup
) -> None:
    source = _lone_battery(hass)
    entry = await setup_integration()

    await hass.services.async_call(
        DOMAIN, SERVICE_SNOOZE, {"devices": [OLD_KEY], "duration": {"days": 3}}, blocking=True
    )

    coordinator = entry.runtime_data.coordinator
    assert coordinator.snoozes.get(f"entity:{source.id}", dt_util.utcnow()) is not None
    assert OLD_KEY not in coordinator.snoozes.as_dict()


async def test_stored_history_that_cannot_be_rewritten_does_not_stop_the_entry_loading(
    hass: HomeAssistant,
    config_dir: Path,
    setup_integration: Setup,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _lone_battery(hass)
    grid = build_grid(_history(0, 5, devices=(OLD_KEY, "a")))
    grid.home_id = DOMAIN
    save_grid(grid, config_dir / ".storage" / DOMAIN / AGGREGATES_FILE)

    with patch.object(AggregatesStore, "save", side_effect=OSError(30, "Read-only file system")):
        entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    assert entry.minor_version == CONFIG_MINOR_VERSION
    assert "Stored history could not be moved to the new keys of lone batteries" in caplog.text
