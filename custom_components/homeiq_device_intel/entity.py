"""Base entities: one set per watched device, and a few on our own service device."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import slugify

from .const import DOMAIN, TITLE
from .coordinator import HomeIQConfigEntry, HomeIQCoordinator, HomeIQData
from .discovery import WatchedDevice
from .ml.scoring import DevicePrediction

# Entities added in one go: a home of 1,000 devices has about 3,000 of ours per start, and adding
# them at once held the event loop for over a second (bench_startup); more are added in batches.
ADD_BATCH: Final = 50


class HomeIQDeviceEntity(CoordinatorEntity[HomeIQCoordinator]):
    """An entity about one watched device, shown on that device's page."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: HomeIQCoordinator,
        device: WatchedDevice,
        description: EntityDescription,
        platform_domain: str,
    ) -> None:
        """Link the entity to the source device without touching that device."""
        super().__init__(coordinator)
        self.entity_description = description
        self.device_key = device.key
        self._attr_unique_id = device_unique_id(device.key, description.key)
        source = dr.async_get(coordinator.hass).async_get(device.device_id) if device.device_id else None
        if source is None:
            # A lone entity has no device page: name the entity after it instead.
            self._attr_translation_key = f"lone_{description.translation_key}"
            self._attr_translation_placeholders = {"name": device.name}
            return
        # Linking through device_entry never adds our config entry to a foreign
        # device. HA before 2025.8 ignores device_entry when registering, and would
        # then name the entity id without the device; suggest the id newer HA derives.
        self.device_entry = source
        self.entity_id = (
            f"{platform_domain}.{slugify(source.name_by_user or source.name or device.name)}"
            f"_{description.key}"
        )

    async def async_internal_added_to_hass(self) -> None:
        """Show the entity on the source device's page on HA versions before 2025.8.

        Those versions register our entity without a device (they ignore
        device_entry) on every start. Our own registry entry is linked here,
        before Home Assistant starts following registry updates of the entity:
        linking it later made each entity handle its own update (a second state
        write per entity at every start). From 2025.8 the entry is already linked
        and nothing changes here.
        """
        source = self.device_entry
        entry = self.registry_entry
        if source is not None and entry is not None and entry.device_id != source.id:
            # Only our own registry entry changes; the foreign device is untouched.
            self.registry_entry = er.async_get(self.hass).async_update_entity(
                entry.entity_id, device_id=source.id
            )
        await super().async_internal_added_to_hass()

    @property
    def prediction(self) -> DevicePrediction | None:
        """Return the latest prediction for this device."""
        return self.coordinator.data.predictions.get(self.device_key)

    @property
    def available(self) -> bool:
        """Return whether there is a fresh prediction for this device."""
        return super().available and self.prediction is not None


class HomeIQServiceEntity(CoordinatorEntity[HomeIQCoordinator]):
    """An entity about the integration itself, on its own service device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: HomeIQCoordinator, description: EntityDescription) -> None:
        """Attach the entity to the integration's service device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.entity_description = description
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            entry_type=DeviceEntryType.SERVICE,
            name=TITLE,
            manufacturer="HomeIQ",
            model="Device failure prediction",
        )


def device_unique_id(device_key: str, description_key: str) -> str:
    """Return the unique id of one entity of one watched device."""
    return f"{device_key}_{description_key}"


async def _async_add_in_batches(
    coordinator: HomeIQCoordinator, add_entities: Callable[[Iterable[Entity]], None], new: Sequence[Entity]
) -> None:
    """Add entities ADD_BATCH at a time, letting the event loop run in between (none once stopping)."""
    for i in range(0, len(new), ADD_BATCH):
        if coordinator.guard.stopping:
            return
        add_entities(new[i : i + ADD_BATCH])
        await asyncio.sleep(0)


@callback
def _add_new_entities(
    entry: HomeIQConfigEntry,
    platform_domain: str,
    add_entities: Callable[[Iterable[Entity]], None],
    new: list[HomeIQDeviceEntity],
) -> None:
    """Add new entities at once, or in batches that let the event loop run when there are many."""
    if len(new) <= ADD_BATCH:
        if new:
            add_entities(new)
        return
    coordinator = entry.runtime_data.coordinator
    entry.async_create_task(
        coordinator.hass,
        _async_add_in_batches(coordinator, add_entities, new),
        f"{DOMAIN} add {platform_domain} entities",
    )


def async_track_device_entities(
    entry: HomeIQConfigEntry,
    platform_domain: str,
    build: Callable[[WatchedDevice], Iterable[HomeIQDeviceEntity]],
    add_entities: Callable[[Iterable[Entity]], None],
    keep_unique_ids: set[str],
) -> None:
    """Add entities for newly watched devices; remove those no longer wanted.

    Runs after every scoring, so a device that gains a battery sensor gains its
    battery entity, and one that is excluded or deleted loses ours. An entity
    whose registry entry went away is added again: Home Assistant before 2025.8
    removes every entity of another config entry from a device's page whenever
    that device changes (a rename, a new area), ours included.
    """
    coordinator = entry.runtime_data.coordinator
    registry = er.async_get(coordinator.hass)
    known = _KnownEntities(build)
    last: HomeIQData | None = None

    @callback
    def sync() -> None:
        nonlocal last
        if coordinator.data is last:
            return
        last = coordinator.data
        registered = [
            registry_entry
            for registry_entry in er.async_entries_for_config_entry(registry, entry.entry_id)
            if registry_entry.domain == platform_domain
        ]
        new, wanted = known.update(coordinator.data.devices, {e.unique_id for e in registered})
        keep = wanted | keep_unique_ids
        for registry_entry in registered:
            if registry_entry.unique_id not in keep:
                registry.async_remove(registry_entry.entity_id)
        _add_new_entities(entry, platform_domain, add_entities, new)

    sync()
    entry.async_on_unload(coordinator.async_add_listener(sync))


class _KnownEntities:
    """The unique ids of one platform's entities per watched device, as of the last scoring.

    A device's entity objects are built only when it is new or changed, or when
    one of its entities has to be added again; otherwise its unique ids are
    reused (they follow from the device alone), so a scoring builds nothing for
    a home whose devices did not change.

    An entity handed out for adding counts as present until Home Assistant has
    taken it up: many are added in batches over several turns of the event
    loop, and a scoring in between would otherwise add the rest a second time.
    """

    def __init__(self, build: Callable[[WatchedDevice], Iterable[HomeIQDeviceEntity]]) -> None:
        """Track the entities `build` makes for each device."""
        self._build = build
        self._by_device: dict[str, tuple[WatchedDevice, frozenset[str]]] = {}
        self._adding: dict[str, HomeIQDeviceEntity] = {}  # handed out, not yet registered

    def update(
        self, devices: Mapping[str, WatchedDevice], registered: set[str]
    ) -> tuple[list[HomeIQDeviceEntity], set[str]]:
        """The entities to add (new, or whose registry entry went away) and every wanted unique id."""
        # Home Assistant sets `platform` as it starts adding an entity, and registers it in the same step;
        # from then on the registry says whether it is there (an entity removed later keeps its platform).
        self._adding = {
            uid: e for uid, e in self._adding.items() if e.platform is None and uid not in registered
        }
        known_ids = set().union(*(ids for _, ids in self._by_device.values()))
        present = known_ids & registered.union(self._adding)
        new: list[HomeIQDeviceEntity] = []
        wanted: set[str] = set()
        by_device: dict[str, tuple[WatchedDevice, frozenset[str]]] = {}
        for key, device in devices.items():
            known = self._by_device.get(key)
            if known is None or known[0] != device or not known[1] <= present:
                entities = list(self._build(device))
                known = (device, frozenset(str(entity.unique_id) for entity in entities))
                new.extend(entity for entity in entities if entity.unique_id not in present)
            by_device[key] = known
            wanted |= known[1]
        self._by_device = by_device
        self._adding = {uid: e for uid, e in self._adding.items() if uid in wanted}
        self._adding.update((str(entity.unique_id), entity) for entity in new)
        return new, wanted
