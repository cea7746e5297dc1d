"""Demo sensors: battery, signal, temperature and other readings."""

from __future__ import annotations

from typing import Any

from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import DemoConfigEntry
from .entity import DemoEntity, async_add_platform


def _number(state: str) -> int | float | str | None:
    """Return a recorded state as the number the sensor reported."""
    if state in ("unknown", "unavailable"):
        return None
    try:
        return int(state)
    except ValueError:
        pass
    try:
        return float(state)
    except ValueError:
        return state


async def async_setup_entry(
    hass: HomeAssistant, entry: DemoConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the demo sensors."""
    async_add_platform(hass, entry, async_add_entities, Platform.SENSOR, DemoSensor)


class DemoSensor(DemoEntity, SensorEntity):
    """A sensor holding its last recorded reading."""

    def __init__(self, description: dict[str, Any]) -> None:
        """Set the unit and state class too."""
        super().__init__(description)
        self._attr_native_unit_of_measurement = description.get("unit")
        state_class = description.get("state_class")
        self._attr_state_class = SensorStateClass(state_class) if state_class else None
        self._attr_native_value = _number(self._state)
