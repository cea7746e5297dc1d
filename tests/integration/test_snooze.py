"""Tests for snoozing a device's at-risk alerts (action and select) and the grace period before an alert."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.select import ATTR_OPTION, SERVICE_SELECT_OPTION
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.homeiq_device_intel.const import (
    CONF_ALERT_GRACE_HOURS,
    DEFAULT_OPTIONS,
    DOMAIN,
    EVENT_DEVICE_AT_RISK,
    SERVICE_ACKNOWLEDGE,
    SERVICE_SNOOZE,
    SERVICE_UNSNOOZE,
)
from custom_components.homeiq_device_intel.risk import AtRiskTracker
from tests.risk_helpers import at

Setup = Callable[[], Awaitable[MockConfigEntry]]
Rescore = Callable[[], Awaitable[None]]
AT_RISK = "binary_sensor.hall_door_at_risk"
SNOOZE = "select.hall_door_snooze"


def _state(hass: HomeAssistant, entity_id: str) -> Any:
    state = hass.states.get(entity_id)
    assert state is not None
    return state


async def _snooze(hass: HomeAssistant, devices: list[str], duration: Any) -> None:
    await hass.services.async_call(
        DOMAIN, SERVICE_SNOOZE, {"devices": devices, "duration": duration}, blocking=True
    )


async def _select(hass: HomeAssistant, option: str) -> None:
    await hass.services.async_call(
        "select", SERVICE_SELECT_OPTION, {ATTR_ENTITY_ID: SNOOZE, ATTR_OPTION: option}, blocking=True
    )


async def test_the_snooze_action_silences_a_device_at_risk_until_it_ends(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    add_battery_device: Any,
    setup_integration: Setup,
    rescore: Rescore,
) -> None:
    device = add_battery_device("Hall door", battery=10)
    events = async_capture_events(hass, EVENT_DEVICE_AT_RISK)
    await setup_integration()
    await rescore()
    assert _state(hass, AT_RISK).state == STATE_ON
    assert len(events) == 1

    await _snooze(hass, [device.id], {"days": 2})
    until = dt_util.utcnow() + timedelta(days=2)
    at_risk = _state(hass, AT_RISK)
    assert at_risk.state == STATE_OFF
    assert at_risk.attributes["snoozed_until"] == until.isoformat()
    select = _state(hass, SNOOZE)
    assert select.state == "custom"
    assert select.attributes["snoozed_until"] == until.isoformat()
    assert hass.states.get("sensor.homeiq_device_intelligence_devices_at_risk").state == "0"

    await rescore()
    assert _state(hass, AT_RISK).state == STATE_OFF
    assert len(events) == 1

    freezer.move_to(until + timedelta(seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert _state(hass, AT_RISK).state == STATE_ON
    assert _state(hass, AT_RISK).attributes["snoozed_until"] is None
    assert _state(hass, SNOOZE).state == "off"
    assert len(events) == 2  # still at risk when the snooze ended: alerted then


async def test_a_device_snoozed_from_its_page_raises_no_alert_until_the_snooze_ends(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    add_battery_device: Any,
    setup_integration: Setup,
    rescore: Rescore,
) -> None:
    add_battery_device("Hall door", battery=10)
    events = async_capture_events(hass, EVENT_DEVICE_AT_RISK)
    await setup_integration()
    assert _state(hass, SNOOZE).state == "off"

    await _select(hass, "1_week")
    until = dt_util.utcnow() + timedelta(weeks=1)
    assert _state(hass, SNOOZE).state == "1_week"
    assert _state(hass, SNOOZE).attributes["snoozed_until"] == until.isoformat()
    await rescore()
    await rescore()
    assert _state(hass, AT_RISK).state == STATE_OFF
    assert events == []

    freezer.move_to(until - timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert _state(hass, SNOOZE).state == "1_week"
    freezer.move_to(until)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert _state(hass, SNOOZE).state == "off"
    assert _state(hass, AT_RISK).state == STATE_ON
    assert len(events) == 1


async def test_choosing_off_and_the_unsnooze_action_end_a_snooze(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup, rescore: Rescore
) -> None:
    device = add_battery_device("Hall door", battery=10)
    await setup_integration()
    await rescore()
    events = async_capture_events(hass, EVENT_DEVICE_AT_RISK)

    await _select(hass, "3_days")
    assert _state(hass, AT_RISK).state == STATE_OFF
    await _select(hass, "off")
    assert _state(hass, AT_RISK).state == STATE_ON
    assert len(events) == 1

    await _snooze(hass, [device.id], "12:00:00")
    assert _state(hass, AT_RISK).state == STATE_OFF
    await hass.services.async_call(DOMAIN, SERVICE_UNSNOOZE, {}, blocking=True)
    assert _state(hass, AT_RISK).state == STATE_ON
    assert _state(hass, SNOOZE).state == "off"
    assert len(events) == 2


async def test_a_snooze_survives_a_reload(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup, rescore: Rescore
) -> None:
    add_battery_device("Hall door", battery=10)
    entry = await setup_integration()
    await _select(hass, "1_day")
    until = _state(hass, SNOOZE).attributes["snoozed_until"]

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert _state(hass, SNOOZE).state == "1_day"
    assert _state(hass, SNOOZE).attributes["snoozed_until"] == until
    await rescore()
    await rescore()
    assert _state(hass, AT_RISK).state == STATE_OFF


async def test_snoozes_are_restored_from_storage_and_bad_entries_ignored(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    add_battery_device: Any,
    setup_integration: Setup,
    rescore: Rescore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    device = add_battery_device("Hall door", battery=10)
    until = (dt_util.utcnow() + timedelta(days=3)).replace(microsecond=0)
    hass_storage[f"{DOMAIN}.snoozes"] = {
        "version": 1,
        "key": f"{DOMAIN}.snoozes",
        "data": {
            device.id: {"until": until.isoformat(), "preset": "3_days"},
            "gone": {"until": "not a time", "preset": "3_days"},
            "naive": {"until": "2030-01-01T00:00:00", "preset": "custom"},
        },
    }
    await setup_integration()
    await rescore()
    await rescore()
    assert _state(hass, SNOOZE).state == "3_days"
    assert _state(hass, AT_RISK).state == STATE_OFF
    assert _state(hass, AT_RISK).attributes["snoozed_until"] == until.isoformat()
    assert "ignored 2 of 3" in caplog.text


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"devices": ["no-such-device"], "duration": {"days": 1}}, "devices_not_watched"),
        ({"duration": "-01:00:00"}, "snooze_duration_invalid"),
        ({"duration": {"hours": 0}}, "snooze_duration_invalid"),
        ({"duration": {"days": 400}}, "snooze_duration_invalid"),
        ({"duration": "soon"}, "invalid_action_data"),
    ],
)
async def test_bad_snooze_data_is_a_translated_error(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    data: dict[str, Any],
    key: str,
) -> None:
    device = add_battery_device("Hall door", battery=10)
    await setup_integration()
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, SERVICE_SNOOZE, {"devices": [device.id], **data}, blocking=True
        )
    assert err.value.translation_key == key
    assert err.value.translation_domain == DOMAIN
    assert _state(hass, SNOOZE).state == "off"


async def test_unsnoozing_an_unknown_device_is_a_translated_error(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    add_battery_device("Hall door", battery=10)
    await setup_integration()
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, SERVICE_UNSNOOZE, {"devices": ["nope"]}, blocking=True)
    assert err.value.translation_key == "devices_not_watched"


async def test_the_custom_option_tells_to_use_the_action(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    add_battery_device("Hall door", battery=10)
    await setup_integration()
    with pytest.raises(ServiceValidationError) as err:
        await _select(hass, "custom")
    assert err.value.translation_key == "snooze_custom_needs_action"
    assert _state(hass, SNOOZE).state == "off"


async def test_the_grace_period_delays_the_alert(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    rescore: Rescore,
    mock_config_entry: MockConfigEntry,
) -> None:
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={**DEFAULT_OPTIONS, CONF_ALERT_GRACE_HOURS: 3}
    )
    add_battery_device("Hall door", battery=10)
    events = async_capture_events(hass, EVENT_DEVICE_AT_RISK)
    await setup_integration()
    await rescore()  # two scorings in a row, 1 h apart: enough without a grace period
    assert _state(hass, AT_RISK).state == STATE_OFF
    await rescore()
    assert _state(hass, AT_RISK).state == STATE_OFF
    await rescore()  # above the threshold for more than 3 h now
    assert _state(hass, AT_RISK).state == STATE_ON
    assert len(events) == 1


async def _acknowledge(hass: HomeAssistant, devices: list[str]) -> None:
    await hass.services.async_call(DOMAIN, SERVICE_ACKNOWLEDGE, {"devices": devices}, blocking=True)


def _set_battery(hass: HomeAssistant, level: float) -> None:
    hass.states.async_set(
        "sensor.hall_door_battery",
        str(level),
        {"device_class": "battery", "unit_of_measurement": "%", "state_class": "measurement"},
    )


async def test_an_acknowledged_device_stays_quiet_until_it_recovers_then_alerts_again(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup, rescore: Rescore
) -> None:
    device = add_battery_device("Hall door", battery=10)
    events = async_capture_events(hass, EVENT_DEVICE_AT_RISK)
    await setup_integration()
    await rescore()
    assert _state(hass, AT_RISK).state == STATE_ON
    assert len(events) == 1

    await _acknowledge(hass, [device.id])
    assert _state(hass, AT_RISK).state == STATE_OFF
    assert _state(hass, AT_RISK).attributes["until_recovered"] is True
    assert _state(hass, AT_RISK).attributes["snoozed_until"] is None
    assert _state(hass, SNOOZE).state == "until_recovered"
    assert _state(hass, SNOOZE).attributes["until_recovered"] is True
    for _ in range(3):  # days pass, still failing: no time limit, no alert
        await rescore()
    assert _state(hass, SNOOZE).state == "until_recovered"
    assert _state(hass, AT_RISK).state == STATE_OFF
    assert len(events) == 1

    _set_battery(hass, 100)  # a new battery
    await rescore()
    await rescore()
    assert _state(hass, SNOOZE).state == "off"  # recovered: the acknowledgement ended by itself
    assert _state(hass, AT_RISK).attributes["until_recovered"] is False

    _set_battery(hass, 10)  # failing again later: alerted again
    await rescore()
    await rescore()
    assert _state(hass, AT_RISK).state == STATE_ON
    assert len(events) == 2


async def test_acknowledging_from_the_page_survives_a_reload_and_unsnooze_ends_it(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup, rescore: Rescore
) -> None:
    add_battery_device("Hall door", battery=10)
    entry = await setup_integration()
    await rescore()
    events = async_capture_events(hass, EVENT_DEVICE_AT_RISK)
    await _select(hass, "until_recovered")
    assert _state(hass, AT_RISK).state == STATE_OFF

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await rescore()
    assert _state(hass, SNOOZE).state == "until_recovered"
    assert _state(hass, AT_RISK).state == STATE_OFF
    assert events == []

    await hass.services.async_call(DOMAIN, SERVICE_UNSNOOZE, {}, blocking=True)
    assert _state(hass, SNOOZE).state == "off"
    assert _state(hass, AT_RISK).state == STATE_ON
    assert len(events) == 1


async def test_an_acknowledgement_is_restored_from_storage(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    add_battery_device: Any,
    setup_integration: Setup,
    rescore: Rescore,
) -> None:
    device = add_battery_device("Hall door", battery=10)
    hass_storage[f"{DOMAIN}.snoozes"] = {
        "version": 1,
        "key": f"{DOMAIN}.snoozes",
        "data": {
            device.id: {"until": None, "preset": "until_recovered"},
            "timeless": {"until": None, "preset": "3_days"},  # only an acknowledgement has no end
        },
    }
    entry = await setup_integration()
    await rescore()
    await rescore()
    assert _state(hass, SNOOZE).state == "until_recovered"
    assert _state(hass, AT_RISK).state == STATE_OFF
    assert set(entry.runtime_data.coordinator.snoozes.as_dict()) == {device.id}


async def test_acknowledging_an_unknown_device_is_a_translated_error(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    add_battery_device("Hall door", battery=10)
    await setup_integration()
    with pytest.raises(ServiceValidationError) as err:
        await _acknowledge(hass, ["nope"])
    assert err.value.translation_key == "devices_not_watched"
    assert _state(hass, SNOOZE).state == "off"


def test_tracker_waits_the_grace_period_and_keeps_it_across_a_restore() -> None:
    tracker = AtRiskTracker(on_after=2, off_after=2, grace_seconds=3 * 3600)
    assert tracker.update(at({"a": 70.0}, 60.0), now=0.0) == []
    assert tracker.update(at({"a": 70.0}, 60.0), now=3600.0) == []
    restored = AtRiskTracker(on_after=2, off_after=2, grace_seconds=3 * 3600)
    restored.restore(tracker.as_dict())
    assert restored.update(at({"a": 70.0}, 60.0), now=7200.0) == []
    assert restored.update(at({"a": 50.0}, 60.0), now=9000.0) == []  # a dip starts the wait again
    assert restored.update(at({"a": 70.0}, 60.0), now=10800.0) == []
    assert restored.update(at({"a": 70.0}, 60.0), now=14400.0) == []
    assert restored.update(at({"a": 70.0}, 60.0), now=21600.0) == ["a"]
    assert restored.update(at({"a": 40.0}, 60.0), now=21601.0) == []
    assert restored.update(at({"a": 40.0}, 60.0), now=21602.0) == []
    assert not restored.is_on("a")  # clearing never waits


def test_tracker_restores_a_state_stored_without_a_grace_period() -> None:
    tracker = AtRiskTracker(on_after=2, off_after=2, grace_seconds=3600)
    tracker.restore({"a": {"on": False, "streak": 1}, "b": {"on": True, "streak": 0, "above_since": "x"}})
    assert tracker.at_risk == {"b"}
    assert tracker.update(at({"a": 70.0, "b": 70.0}, 60.0), now=100.0) == []
    assert tracker.update(at({"a": 70.0, "b": 70.0}, 60.0), now=3700.0) == ["a"]


async def test_renaming_a_lone_battery_keeps_its_entities_and_its_snooze(
    hass: HomeAssistant, setup_integration: Setup, rescore: Rescore
) -> None:
    """Regression: a lone battery (no device) was keyed by its entity id; a rename started it over."""
    registry = er.async_get(hass)
    registry.async_get_or_create(
        "sensor", "template", "remote", original_device_class="battery", suggested_object_id="remote_battery"
    )
    battery = {"device_class": "battery", "unit_of_measurement": "%"}
    hass.states.async_set("sensor.remote_battery", "50", battery)
    entry = await setup_integration()
    coordinator = entry.runtime_data.coordinator
    [key] = coordinator.data.devices
    await _snooze(hass, [key], {"days": 3})
    ours = {e.unique_id: e.entity_id for e in er.async_entries_for_config_entry(registry, entry.entry_id)}

    registry.async_update_entity("sensor.remote_battery", new_entity_id="sensor.remote_control_battery")
    hass.states.async_remove("sensor.remote_battery")
    hass.states.async_set("sensor.remote_control_battery", "50", battery)
    await rescore()

    assert {
        e.unique_id: e.entity_id for e in er.async_entries_for_config_entry(registry, entry.entry_id)
    } == ours
    [key] = coordinator.data.devices
    assert coordinator.snoozes.get(key, dt_util.utcnow()) is not None
