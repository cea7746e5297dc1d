"""The battery's own history on its device page: replace-by date, past batteries, untrusted readings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homeiq_device_intel.ml import scoring
from custom_components.homeiq_device_intel.ml.battery_life import (
    BatteryLife,
    BatteryOutlook,
    Ending,
    PastBattery,
    Source,
    Unreliable,
)
from custom_components.homeiq_device_intel.ml.records import Chemistry

Setup = Callable[[], Awaitable[MockConfigEntry]]


async def test_battery_days_sensor_says_where_its_figure_comes_from_and_when_to_replace(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    add_battery_device("Hall door", battery=10)
    await setup_integration()

    days = hass.states.get("sensor.hall_door_battery_days_remaining")
    assert days is not None
    assert float(days.state) == 5.0
    # No past battery in the history: the model's quantiles, replace by the low end (2 days).
    assert days.attributes["source"] == "model"
    assert days.attributes["past_batteries"] == 0
    assert days.attributes["typical_life_days"] is None
    assert days.attributes["battery_reading"] == "reliable"
    expected = (dt_util.now() + timedelta(days=2.0)).date().isoformat()
    assert days.attributes["replace_by"] == expected

    by = hass.states.get("sensor.hall_door_battery_replace_by")
    assert by is not None
    assert by.state == expected
    assert by.attributes["device_class"] == "date"
    assert by.attributes["battery_reading"] == "reliable"
    # On the source device's page, like the other prediction entities.
    entry = er.async_get(hass).async_get("sensor.hall_door_battery_replace_by")
    days_entry = er.async_get(hass).async_get("sensor.hall_door_battery_days_remaining")
    assert entry is not None and days_entry is not None
    assert entry.device_id == days_entry.device_id


def _own_history(prediction: scoring.DevicePrediction) -> scoring.DevicePrediction:
    """The prediction of a device with three past batteries that died at 60 % last time."""
    past = tuple(
        PastBattery(
            start_hour=k * 24 * 200,
            end_hour=k * 24 * 200 + 24 * 190,
            life_days=190.0,
            ending=ending,
            last_level=level,
        )
        for k, (ending, level) in enumerate(
            [(Ending.RAN_OUT, 5.0), (Ending.SWAPPED_LOW, 12.0), (Ending.DIED, 60.0)]
        )
    )
    view = BatteryOutlook(
        past=past,
        typical_life_days=190.0,
        age_days=150.0,
        level=80.0,
        unreliable=Unreliable.DIED_HIGH,
        unreliable_level=60.0,
        own_days=(20.0, 40.0, 60.0),
    )
    life = BatteryLife(days=38.0, days_low=0.0, days_high=70.0, source=Source.OWN_HISTORY, outlook=view)
    reason = scoring.reading_reason(life)
    assert reason is not None
    return replace(
        prediction,
        battery_days=38.0,
        battery_days_low=0.0,
        battery_days_high=70.0,
        battery_life=life,
        reasons=(reason, *prediction.reasons)[:3],
    )


async def test_own_history_and_an_untrusted_reading_show_on_the_device(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    add_battery_device("Hall door", battery=80)
    real = scoring.score_home

    def score_home(*args: Any, **kwargs: Any) -> list[scoring.DevicePrediction]:
        return [_own_history(p) for p in real(*args, **kwargs)]

    with patch("custom_components.homeiq_device_intel.coordinator.score_home", score_home):
        await setup_integration()

    days = hass.states.get("sensor.hall_door_battery_days_remaining")
    assert days is not None
    assert float(days.state) == 38.0
    assert days.attributes["source"] == "own_history"
    assert days.attributes["past_batteries"] == 3
    assert days.attributes["typical_life_days"] == 190.0
    assert days.attributes["battery_age_days"] == 150.0
    assert days.attributes["battery_reading"] == "died_high"
    assert days.attributes["died_at_level"] == 60.0
    assert days.attributes["interval_low"] == 0.0
    assert days.attributes["replace_by"] == dt_util.now().date().isoformat()

    probability = hass.states.get("sensor.hall_door_failure_probability")
    assert probability is not None
    assert probability.attributes["reasons"][0] == (
        "battery reading unreliable: this device died at 60 % last time"
    )
    by = hass.states.get("sensor.hall_door_battery_replace_by")
    assert by is not None
    assert by.attributes["battery_reading"] == "died_high"


async def test_battery_notes_battery_type_sets_the_chemistry(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    device = add_battery_device("Hall door", battery=80)
    add_battery_device("Kitchen", battery=80)
    notes = MockConfigEntry(domain="battery_notes")
    notes.add_to_hass(hass)
    er.async_get(hass).async_get_or_create(
        "sensor",
        "battery_notes",
        f"{device.id}_battery_type",
        device_id=device.id,
        suggested_object_id="hall_door_battery_type",
        config_entry=notes,
    )
    hass.states.async_set(
        "sensor.hall_door_battery_type", "CR2032", {"battery_type": "CR2032", "battery_quantity": 1}
    )
    entry = await setup_integration()

    watched = entry.runtime_data.coordinator.watched_devices()
    assert watched[device.id].info.chemistry is Chemistry.COIN
    kitchen = next(d for d in watched.values() if d.name == "Kitchen")
    assert kitchen.info.chemistry is Chemistry.UNKNOWN
