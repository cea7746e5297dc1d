"""Batteries known only as a state attribute, and devices that recharge daily, with the shipped model.

History is written through HA's real recorder (SQLite here; `scripts/test.sh`
runs the `database` tests on MariaDB and PostgreSQL too) and scored by the
shipped bundle, as an owner's home would be.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from datetime import timedelta
from pathlib import Path
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.homeiq_device_intel.const import SHIPPED_MODEL_DIR
from custom_components.homeiq_device_intel.ml.scoring import DevicePrediction

pytestmark = pytest.mark.database
DAYS = 10
BATTERY_DEPLETED = "battery_depleted"


@pytest.fixture(autouse=True)
def shipped_model(tmp_path: Path) -> Generator[Path]:
    """Score with the real shipped bundle (not the tiny test one)."""
    with patch("custom_components.homeiq_device_intel.SHIPPED_MODEL_DIR", SHIPPED_MODEL_DIR):
        yield SHIPPED_MODEL_DIR


def _device(hass: HomeAssistant, owner: MockConfigEntry, name: str) -> dr.DeviceEntry:
    return dr.async_get(hass).async_get_or_create(
        config_entry_id=owner.entry_id, identifiers={(owner.domain, name)}, name=name
    )


def _lock(hass: HomeAssistant, owner: MockConfigEntry, slug: str) -> dr.DeviceEntry:
    """A lock whose battery exists only as the `battery_level` attribute of its lock entity."""
    device = _device(hass, owner, slug)
    er.async_get(hass).async_get_or_create(
        "lock", owner.domain, slug, device_id=device.id, suggested_object_id=slug, config_entry=owner
    )
    return device


def _phone(hass: HomeAssistant, owner: MockConfigEntry, slug: str) -> dr.DeviceEntry:
    """A mobile_app phone: a device tracker and a battery level sensor."""
    device = _device(hass, owner, slug)
    entities = er.async_get(hass)
    entities.async_get_or_create(
        "device_tracker",
        owner.domain,
        f"{slug}-tracker",
        device_id=device.id,
        suggested_object_id=slug,
        config_entry=owner,
    )
    entities.async_get_or_create(
        "sensor",
        owner.domain,
        f"{slug}-battery",
        device_id=device.id,
        original_device_class="battery",
        unit_of_measurement=PERCENTAGE,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_object_id=f"{slug}_battery_level",
        config_entry=owner,
    )
    return device


async def _write(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, hourly: Callable[[float], None]
) -> None:
    """Call `hourly(hours since start)` every hour of DAYS days, at its real (frozen) time."""
    end = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    for hour in range(DAYS * 24):
        freezer.move_to(start + timedelta(hours=hour))
        hourly(float(hour))
    freezer.move_to(end)
    await async_wait_recording_done(hass)


def _prediction(hass: HomeAssistant, entry: MockConfigEntry, device: dr.DeviceEntry) -> DevicePrediction:
    return entry.runtime_data.coordinator.data.predictions[device.id]


async def test_a_lock_with_an_attribute_battery_is_predicted_from_its_level(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    zha_entry: MockConfigEntry,
    setup_integration: Callable[[], Awaitable[MockConfigEntry]],
) -> None:
    falling = _lock(hass, zha_entry, "front_door")
    steady = _lock(hass, zha_entry, "back_door")

    def hourly(hour: float) -> None:
        level = round(60.0 - 54.0 * hour / (DAYS * 24 - 1))
        state = "locked" if int(hour) % 12 else "unlocked"
        hass.states.async_set("lock.front_door", state, {"battery_level": level})
        hass.states.async_set("lock.back_door", state, {"battery_level": 85})

    await _write(hass, freezer, hourly)
    entry = await setup_integration()

    low, high = _prediction(hass, entry, falling), _prediction(hass, entry, steady)
    assert low.probabilities[BATTERY_DEPLETED] > 3 * high.probabilities[BATTERY_DEPLETED]
    assert low.failure_type == BATTERY_DEPLETED
    assert low.battery_days is not None
    assert high.battery_days is not None
    assert low.battery_days < high.battery_days
    assert any(reason.feature.startswith("battery") for reason in low.reasons)
    days = hass.states.get("sensor.front_door_battery_days_remaining")
    assert days is not None
    assert float(days.state) == pytest.approx(low.battery_days, abs=0.05)


async def test_a_phone_charged_every_night_gets_no_depletion_alarm(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    setup_integration: Callable[[], Awaitable[MockConfigEntry]],
) -> None:
    owner = MockConfigEntry(domain="mobile_app", title="Phone")
    owner.add_to_hass(hass)
    phone = _phone(hass, owner, "pixel")

    def hourly(hour: float) -> None:
        # Off the charger at 07:00 with 100 %, down to about 18 % at 23:00, charged overnight.
        at_day = int(hour) % 24
        level = 100.0 if at_day < 7 else 100.0 - 82.0 * (at_day - 7) / 16
        hass.states.async_set("device_tracker.pixel", "home", {"battery_level": round(level)})
        hass.states.async_set(
            "sensor.pixel_battery_level",
            f"{level:.0f}",
            {"device_class": "battery", "unit_of_measurement": PERCENTAGE, "state_class": "measurement"},
        )

    await _write(hass, freezer, hourly)
    entry = await setup_integration()

    prediction = _prediction(hass, entry, phone)
    assert BATTERY_DEPLETED not in prediction.probabilities
    assert prediction.battery_days is None
    assert phone.id not in entry.runtime_data.coordinator.data.at_risk
    days = hass.states.get("sensor.pixel_battery_days_remaining")
    assert days is None or days.state in ("unknown", "unavailable")
