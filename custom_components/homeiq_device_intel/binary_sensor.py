"""At-risk binary sensor per watched device."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .coordinator import HomeIQConfigEntry, HomeIQCoordinator, HomeIQData
from .discovery import WatchedDevice
from .entity import HomeIQDeviceEntity, async_track_device_entities

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class HomeIQBinarySensorDescription(BinarySensorEntityDescription):
    """A yes/no statement about one watched device."""

    is_on_fn: Callable[[HomeIQData, str], bool]


BINARY_SENSORS: tuple[HomeIQBinarySensorDescription, ...] = (
    HomeIQBinarySensorDescription(
        key="at_risk",
        translation_key="at_risk",
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=lambda data, key: key in data.at_risk,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HomeIQConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up an at-risk sensor for every watched device, now and as devices come and go."""
    coordinator = entry.runtime_data.coordinator

    def build(device: WatchedDevice) -> list[HomeIQDeviceEntity]:
        return [HomeIQAtRiskBinarySensor(coordinator, device, description) for description in BINARY_SENSORS]

    async_track_device_entities(entry, Platform.BINARY_SENSOR, build, async_add_entities, set())


class HomeIQAtRiskBinarySensor(HomeIQDeviceEntity, BinarySensorEntity):
    """On while a device is at risk of failing within the horizon (and not snoozed)."""

    entity_description: HomeIQBinarySensorDescription

    def __init__(
        self,
        coordinator: HomeIQCoordinator,
        device: WatchedDevice,
        description: HomeIQBinarySensorDescription,
    ) -> None:
        """Create the sensor for one device."""
        super().__init__(coordinator, device, description, Platform.BINARY_SENSOR)

    @property
    def is_on(self) -> bool:
        """Return whether the device is at risk."""
        return self.entity_description.is_on_fn(self.coordinator.data, self.device_key)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the failure the device is most at risk of, and until when its alerts are snoozed."""
        prediction = self.prediction
        if prediction is None:
            return None
        snooze = self.coordinator.snoozes.get(self.device_key, dt_util.utcnow())
        return {
            "failure_type": prediction.failure_type,
            "snoozed_until": None if snooze is None or snooze.until is None else snooze.until.isoformat(),
            "until_recovered": snooze is not None and snooze.until is None,
        }
