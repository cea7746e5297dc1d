"""Demo radiator valves and thermostats."""

from __future__ import annotations

from typing import Any

from homeassistant.components.climate import ClimateEntity, ClimateEntityFeature, HVACMode
from homeassistant.const import Platform, UnitOfTemperature
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import DemoConfigEntry
from .entity import DemoEntity, async_add_platform


async def async_setup_entry(
    hass: HomeAssistant, entry: DemoConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the demo climate devices."""
    async_add_platform(hass, entry, async_add_entities, Platform.CLIMATE, DemoClimate)


class DemoClimate(DemoEntity, ClimateEntity):
    """A radiator valve or thermostat that starts in its last recorded mode."""

    _attr_hvac_modes = [HVACMode.OFF, HVACMode.HEAT, HVACMode.COOL]
    _attr_supported_features = ClimateEntityFeature.TURN_ON | ClimateEntityFeature.TURN_OFF
    _attr_temperature_unit = UnitOfTemperature.CELSIUS

    def __init__(self, description: dict[str, Any]) -> None:
        """Read the mode from the last state."""
        super().__init__(description)
        modes = {mode.value: mode for mode in self._attr_hvac_modes}
        self._attr_hvac_mode = modes.get(self._state)

    async def async_set_hvac_mode(self, hvac_mode: HVACMode) -> None:
        """Change the mode."""
        self._attr_hvac_mode = hvac_mode
        self.async_write_ha_state()
