"""Tests for the diagnostics download."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

# Diagnostics import it lazily; imported under frozen time its dataclasses break.
import aiohasupervisor  # noqa: F401
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.homeiq_device_intel.const import CONF_EXCLUDE_DEVICES


async def test_diagnostics_report_the_state_without_private_details(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mock_config_entry: MockConfigEntry,
    add_battery_device: Any,
    setup_integration: Callable[[], Awaitable[MockConfigEntry]],
) -> None:
    add_battery_device("Hall door", battery=10)
    excluded = add_battery_device("Garage door")
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        options={**mock_config_entry.options, CONF_EXCLUDE_DEVICES: [excluded.id]},
    )
    entry = await setup_integration()

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert diagnostics["options"][CONF_EXCLUDE_DEVICES] == "**REDACTED**"
    assert diagnostics["filters"][CONF_EXCLUDE_DEVICES] == 1
    assert diagnostics["model"]["source"] == "shipped"
    assert diagnostics["model"]["metadata"]["version"] == "test-1"
    assert "reference" not in diagnostics["model"]["metadata"]
    assert diagnostics["model"]["home_versions"] == []
    assert diagnostics["training"]["status"] == "idle"
    layout = diagnostics["recorder_layout"]
    assert layout["schema_version"] <= layout["newest_known_schema"]
    assert layout["not_read"] == []
    assert diagnostics["scoring"]["devices_monitored"] == 1
    assert diagnostics["scoring"]["devices_predicted"] == 1
    assert diagnostics["scoring"]["by_integration"] == {"zha": 1}
    assert diagnostics["scoring"]["by_protocol"] == {"zigbee": 1}
    assert diagnostics["scoring"]["by_failure_type"] == {"battery_depleted": 1}
    text = json.dumps(diagnostics)
    assert "Hall door" not in text
    assert "hall_door" not in text
    assert excluded.id not in text
