"""Tests for setting up and unloading the integration."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homeiq_device_intel.const import SHIPPED_MODEL_DIR
from custom_components.homeiq_device_intel.ml.bundle import MANIFEST_FILE


async def test_setup_and_unload(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, add_battery_device: Any
) -> None:
    add_battery_device("Hall door")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert hass.states.get("sensor.hall_door_failure_probability") is not None

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED


async def test_broken_shipped_model_is_a_setup_error(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, shipped_model: Path
) -> None:
    (shipped_model / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert mock_config_entry.reason is not None
    assert "manifest_invalid" in mock_config_entry.reason


async def test_the_packaged_model_loads_and_scores(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Callable[[], Awaitable[MockConfigEntry]],
) -> None:
    manifest = json.loads((SHIPPED_MODEL_DIR / MANIFEST_FILE).read_text(encoding="utf-8"))
    add_battery_device("Hall door", battery=50)
    with patch("custom_components.homeiq_device_intel.SHIPPED_MODEL_DIR", SHIPPED_MODEL_DIR):
        entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    version = hass.states.get("sensor.homeiq_device_intelligence_model_version")
    assert version is not None
    assert version.state == manifest["metadata"]["version"]
    probability = hass.states.get("sensor.hall_door_failure_probability")
    assert probability is not None
    assert 0.0 <= float(probability.state) <= 100.0
