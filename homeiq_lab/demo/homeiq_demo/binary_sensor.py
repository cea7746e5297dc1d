"""Demo binary sensors: contacts, motion, leaks, battery-low flags."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.const import STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import DemoConfigEntry
from .entity import DemoEntity, async_add_platform


async def async_setup_entry(
    hass: HomeAssistant, entry: DemoConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the demo binary sensors."""
    async_add_platform(hass, entry, async_add_entities, Platform.BINARY_SENSOR, DemoBinarySensor)


class DemoBinarySensor(DemoEntity, BinarySensorEntity):
    """A binary sensor holding its last recorded state."""

    def __init__(self, description: dict[str, Any]) -> None:
        """Read on/off from the last state."""
        super().__init__(description)
        self._attr_is_on = None if self._state not in ("on", "off") else self._state == STATE_ON
