"""Tests for the config and options flows."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homeiq_device_intel.const import (
    CONF_ALERT_GRACE_HOURS,
    CONF_EXCLUDE_DEVICES,
    CONF_EXCLUDE_INTEGRATIONS,
    CONF_HORIZON_DAYS,
    CONF_INCLUDE_DEVICES,
    CONF_INCLUDE_INTEGRATIONS,
    CONF_NIGHTLY_TRAINING,
    CONF_RISK_THRESHOLD,
    CONF_TRAINING_MODE,
    CONF_TRAINING_TIME,
    DEFAULT_OPTIONS,
    DOMAIN,
)

BASE_INPUT: dict[str, Any] = {
    CONF_NIGHTLY_TRAINING: False,
    CONF_TRAINING_TIME: "03:30:00",
    CONF_TRAINING_MODE: "full",
    CONF_HORIZON_DAYS: 14,
    CONF_RISK_THRESHOLD: 75,
    CONF_ALERT_GRACE_HOURS: 6,
}


async def test_user_flow_creates_entry_with_default_options(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "HomeIQ Device Intelligence"
    assert result["data"] == {}
    assert result["options"] == DEFAULT_OPTIONS


async def test_user_flow_aborts_when_already_set_up(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "single_instance_allowed"


async def test_options_flow_saves_schedule_and_alerting(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"

    result = await hass.config_entries.options.async_configure(result["flow_id"], BASE_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert mock_config_entry.options == {**DEFAULT_OPTIONS, **BASE_INPUT}


async def test_options_flow_lists_integrations_that_own_devices(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    add_battery_device: Any,
) -> None:
    add_battery_device("Hall door")
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        options={**DEFAULT_OPTIONS, CONF_EXCLUDE_INTEGRATIONS: ["long_gone_integration"]},
    )
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)

    selector = result["data_schema"].schema[CONF_INCLUDE_INTEGRATIONS]
    options = {option["value"]: option["label"] for option in selector.config["options"]}
    assert options == {
        "zha": "Zigbee Home Automation",
        # A selected integration that no longer exists stays selectable, by domain.
        "long_gone_integration": "long_gone_integration",
    }


@pytest.mark.parametrize(
    ("include", "exclude"),
    [
        (CONF_INCLUDE_DEVICES, CONF_EXCLUDE_DEVICES),
        (CONF_INCLUDE_INTEGRATIONS, CONF_EXCLUDE_INTEGRATIONS),
    ],
)
async def test_options_flow_rejects_an_item_both_included_and_excluded(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    add_battery_device: Any,
    include: str,
    exclude: str,
) -> None:
    device = add_battery_device("Hall door")
    value = device.id if include == CONF_INCLUDE_DEVICES else "zha"
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**BASE_INPUT, include: [value], exclude: [value]}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {exclude: "include_exclude_overlap"}

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**BASE_INPUT, include: [value]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert mock_config_entry.options[include] == [value]
    assert mock_config_entry.options[exclude] == []
