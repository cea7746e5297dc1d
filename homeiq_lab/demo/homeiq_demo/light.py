"""Demo on/off lights."""

from __future__ import annotations

from typing import Any

from homeassistant.components.light import ColorMode, LightEntity
from homeassistant.const import STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import DemoConfigEntry
from .entity import DemoEntity, async_add_platform


async def async_setup_entry(
    hass: HomeAssistant, entry: DemoConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the demo lights."""
    async_add_platform(hass, entry, async_add_entities, Platform.LIGHT, DemoLight)


class DemoLight(DemoEntity, LightEntity):
    """An on/off light that starts in its last recorded state."""

    _attr_color_mode = ColorMode.ONOFF
    _attr_supported_color_modes = {ColorMode.ONOFF}

    def __init__(self, description: dict[str, Any]) -> None:
        """Read on/off from the last state."""
        super().__init__(description)
        self._attr_is_on = None if self._state not in ("on", "off") else self._state == STATE_ON

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn on."""
        self._attr_is_on = True
        self.async_write_ha_state()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn off."""
        self._attr_is_on = False
        self.async_write_ha_state()
