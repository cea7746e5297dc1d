"""Bring what an earlier release stored up to this one, once, before the entry sets up.

Minor version 2: a battery entity with no device is watched under its entity
registry id (``entity:<id>``, which a rename keeps) instead of its entity id.
Our entities' unique ids, the snoozes, the at-risk state, the stored grid and
the battery log move to the new key, so no entity is added twice and nothing
starts over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from .aggregates_store import AggregatesStore
from .binary_sensor import BINARY_SENSORS
from .const import AT_RISK_STORE, DOMAIN, LOGGER, PSEUDO_DEVICE_PREFIX, SNOOZES_STORE
from .coordinator import HomeIQConfigEntry
from .discovery import lone_key
from .entity import device_unique_id
from .select import SNOOZE_DESCRIPTION
from .sensor import DEVICE_SENSORS, LINK_SENSORS
from .stored_state import StoredState

# The description keys of the entities we add per watched device (unique id: "<device key>_<key>").
DEVICE_ENTITY_KEYS: Final = frozenset(
    description.key for description in (*DEVICE_SENSORS, *LINK_SENSORS, *BINARY_SENSORS, SNOOZE_DESCRIPTION)
)


async def async_key_lone_entities_by_registry_id(
    hass: HomeAssistant, entry: HomeIQConfigEntry, aggregates: AggregatesStore
) -> None:
    """Move everything kept under a lone entity's old key (``entity:<entity_id>``) to its new one."""
    keys = _lone_keys(hass)
    if not keys:
        return
    registry = er.async_get(hass)

    @callback
    def new_unique_id(registry_entry: er.RegistryEntry) -> dict[str, str] | None:
        for description_key in DEVICE_ENTITY_KEYS:
            old_key = registry_entry.unique_id.removesuffix(f"_{description_key}")
            if old_key == registry_entry.unique_id or (new_key := keys.get(old_key)) is None:
                continue
            unique_id = device_unique_id(new_key, description_key)
            # Taken (a release in between?): the old entity goes as unwanted at the first scoring.
            if registry.async_get_entity_id(registry_entry.domain, DOMAIN, unique_id) is None:
                return {"new_unique_id": unique_id}
        return None

    await er.async_migrate_entries(hass, entry.entry_id, new_unique_id)
    for store_key in (AT_RISK_STORE, SNOOZES_STORE):
        await _async_rename_in_store(hass, store_key, keys)
    await hass.async_add_executor_job(_rename_in_files, aggregates, keys)


def _lone_keys(hass: HomeAssistant) -> dict[str, str]:
    """Each registered entity with no device: its watch key before (entity id) and now (registry id)."""
    return {
        f"{PSEUDO_DEVICE_PREFIX}{entry.entity_id}": lone_key(entry)
        for entry in er.async_get(hass).entities.values()
        if entry.device_id is None and entry.platform != DOMAIN
    }


async def _async_rename_in_store(hass: HomeAssistant, store_key: str, keys: Mapping[str, str]) -> None:
    """Rename the devices of a Store of per-device state (one that cannot be read is set aside)."""
    store = StoredState(hass, store_key)
    data = await store.async_load()
    if isinstance(data, dict) and not keys.keys().isdisjoint(data):
        await store.async_save({keys.get(key, key): value for key, value in data.items()})


def _rename_in_files(aggregates: AggregatesStore, keys: Mapping[str, str]) -> None:
    """Rename the devices of the stored grid and battery log (in an executor); never fails the entry."""
    aggregates.load()
    try:
        aggregates.rename_devices(keys)
    except OSError as err:
        LOGGER.warning("Stored history could not be moved to the new keys of lone batteries (%s)", err)
