"""Demo vacuums, whose battery is known only as the `battery_level` attribute."""

from __future__ import annotations

from typing import Any

from homeassistant.components.vacuum import StateVacuumEntity, VacuumActivity, VacuumEntityFeature
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import DemoConfigEntry
from .entity import DemoEntity, async_add_platform


async def async_setup_entry(
    hass: HomeAssistant, entry: DemoConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the demo vacuums."""
    async_add_platform(hass, entry, async_add_entities, Platform.VACUUM, DemoVacuum)


class DemoVacuum(DemoEntity, StateVacuumEntity):
    """A vacuum in its last recorded state, with its last recorded battery level."""

    _attr_supported_features = VacuumEntityFeature.STATE | VacuumEntityFeature.BATTERY

    def __init__(self, description: dict[str, Any]) -> None:
        """Read the activity and the battery level."""
        super().__init__(description)
        try:
            self._attr_activity = VacuumActivity(self._state)
        except ValueError:
            self._attr_activity = None
        level = description.get("attributes", {}).get("battery_level")
        self._attr_battery_level = int(level) if isinstance(level, int | float) else None
