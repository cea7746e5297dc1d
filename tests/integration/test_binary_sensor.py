"""Tests for the at-risk binary sensor, its hysteresis and the at-risk event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.homeiq_device_intel.const import EVENT_DEVICE_AT_RISK
from custom_components.homeiq_device_intel.risk import AtRiskTracker
from tests.risk_helpers import at

Setup = Callable[[], Awaitable[MockConfigEntry]]
Rescore = Callable[[], Awaitable[None]]
AT_RISK = "binary_sensor.hall_door_at_risk"


def _state(hass: HomeAssistant) -> str:
    state = hass.states.get(AT_RISK)
    assert state is not None
    return state.state


async def test_at_risk_turns_on_after_two_scorings_and_fires_an_event(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup, rescore: Rescore
) -> None:
    device = add_battery_device("Hall door", battery=10)
    events = async_capture_events(hass, EVENT_DEVICE_AT_RISK)
    await setup_integration()

    state = hass.states.get(AT_RISK)
    assert state is not None
    assert state.state == STATE_OFF
    assert state.attributes["device_class"] == "problem"
    assert state.attributes["failure_type"] == "battery_depleted"
    assert events == []

    await rescore()
    assert _state(hass) == STATE_ON
    assert len(events) == 1
    data = events[0].data
    assert data["device_id"] == device.id
    assert data["device_name"] == "Hall door"
    assert data["failure_type"] == "battery_depleted"
    assert data["probability"] == pytest.approx(98.2, abs=0.1)
    assert data["reasons"]
    assert hass.states.get("sensor.homeiq_device_intelligence_devices_at_risk").state == "1"

    await rescore()
    assert _state(hass) == STATE_ON
    assert len(events) == 1  # the event marks the change, not every scoring


async def test_at_risk_clears_after_two_scorings_well_below_the_threshold(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup, rescore: Rescore
) -> None:
    add_battery_device("Hall door", battery=10)
    await setup_integration()
    await rescore()
    assert _state(hass) == STATE_ON

    hass.states.async_set("sensor.hall_door_battery", "100")  # battery replaced
    await rescore()
    assert _state(hass) == STATE_ON
    await rescore()
    assert _state(hass) == STATE_OFF


async def test_at_risk_survives_a_reload_without_a_new_event(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup, rescore: Rescore
) -> None:
    add_battery_device("Hall door", battery=10)
    entry = await setup_integration()
    await rescore()
    assert _state(hass) == STATE_ON
    events = async_capture_events(hass, EVENT_DEVICE_AT_RISK)

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert _state(hass) == STATE_ON
    assert events == []


def test_tracker_holds_inside_the_hysteresis_band() -> None:
    tracker = AtRiskTracker(on_after=2, off_after=2)
    assert tracker.update(at({"a": 70.0}, 60.0)) == []
    assert tracker.update(at({"a": 55.0}, 60.0)) == []  # a dip resets the run up
    assert tracker.update(at({"a": 70.0}, 60.0)) == []
    assert tracker.update(at({"a": 65.0}, 60.0)) == ["a"]
    for value in (55.0, 51.0, 55.0, 59.0):  # below the threshold, above the margin
        tracker.update(at({"a": value}, 60.0))
        assert tracker.is_on("a")
    tracker.update(at({"a": 40.0}, 60.0))
    assert tracker.is_on("a")
    tracker.update(at({"a": 40.0}, 60.0))
    assert not tracker.is_on("a")


def test_tracker_forgets_devices_no_longer_scored() -> None:
    tracker = AtRiskTracker(on_after=1, off_after=1)
    tracker.update(at({"a": 90.0, "b": 90.0}, 60.0))
    assert tracker.at_risk == {"a", "b"}
    tracker.update(at({"b": 90.0}, 60.0))
    assert tracker.at_risk == {"b"}
    restored = AtRiskTracker(on_after=1, off_after=1)
    restored.restore(tracker.as_dict())
    assert restored.at_risk == {"b"}
