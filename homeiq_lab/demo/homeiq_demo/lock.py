"""Demo locks."""

from __future__ import annotations

from typing import Any

from homeassistant.components.lock import LockEntity
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import DemoConfigEntry
from .entity import DemoEntity, async_add_platform


async def async_setup_entry(
    hass: HomeAssistant, entry: DemoConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the demo locks."""
    async_add_platform(hass, entry, async_add_entities, Platform.LOCK, DemoLock)


class DemoLock(DemoEntity, LockEntity):
    """A lock that starts in its last recorded state and can be operated."""

    def __init__(self, description: dict[str, Any]) -> None:
        """Read locked/unlocked from the last state."""
        super().__init__(description)
        self._attr_is_locked = None if self._state not in ("locked", "unlocked") else self._state == "locked"

    async def async_lock(self, **kwargs: Any) -> None:
        """Lock."""
        self._attr_is_locked = True
        self.async_write_ha_state()

    async def async_unlock(self, **kwargs: Any) -> None:
        """Unlock."""
        self._attr_is_locked = False
        self.async_write_ha_state()
