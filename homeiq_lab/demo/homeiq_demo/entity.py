"""The base of every demo entity: identity, device link and the restored state."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import DOMAIN, DemoConfigEntry


class DemoEntity(Entity):
    """An entity of a demo device, holding the last state of its history."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, description: dict[str, Any]) -> None:
        """Take the entity id, names and classes from the description."""
        # The entity id must equal the one in the recorder database.
        self.entity_id = description["entity_id"]
        self._attr_unique_id = description["entity_id"]
        self._attr_name = description.get("name")
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, description["device"])})
        self._attr_device_class = description.get("device_class")
        category = description.get("entity_category")
        self._attr_entity_category = EntityCategory(category) if category else None
        self._state: str = description.get("state", "unknown")
        self._attr_available = self._state != "unavailable"


def async_add_platform(
    hass: HomeAssistant,
    entry: DemoConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    domain: str,
    factory: Callable[[dict[str, Any]], Entity],
) -> None:
    """Add the demo entities of one platform."""
    described: Iterable[dict[str, Any]] = entry.runtime_data["entities"]
    async_add_entities(
        factory(description)
        for description in described
        if description["entity_id"].split(".", 1)[0] == domain
    )
