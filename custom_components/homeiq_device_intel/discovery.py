"""Find the devices worth watching in the device and entity registries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from homeassistant.components.recorder import is_entity_recorded
from homeassistant.const import ATTR_DEVICE_CLASS, STATE_UNAVAILABLE, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from .const import DOMAIN, PSEUDO_DEVICE_PREFIX
from .ml.battery_life import chemistry_for_battery_type
from .ml.classify import battery_attribute, device_kind, entity_role, primary_rank, protocol_for
from .ml.records import Chemistry, DeviceRecord, EntityRecord, EntityRole, Power, Protocol
from .settings import DeviceFilter

# Battery Notes (HACS) adds entities to a device with its battery type as an attribute.
BATTERY_NOTES_DOMAIN: Final = "battery_notes"
ATTR_BATTERY_TYPE: Final = "battery_type"


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchedDevice:
    """A device we predict for, and the entities we read for it."""

    # The device registry id; for a lone entity "entity:<its entity registry id>" (kept across renames),
    # or "entity:<entity_id>" for one the entity registry does not know.
    key: str
    device_id: str | None  # device registry id, None for a lone entity
    name: str
    has_battery: bool
    group: str  # the bridge (via device) or integration outages are grouped by
    group_name: str
    info: DeviceRecord
    entities: tuple[EntityRecord, ...]

    @property
    def has_signal(self) -> bool:
        """Return whether the device reports its radio link (RSSI or LQI)."""
        return any(entity.role is EntityRole.SIGNAL for entity in self.entities)


def _device_class(entry: er.RegistryEntry, attributes: dict[str, object]) -> str | None:
    """The device class the user set, else the integration's, else the state's."""
    device_class = entry.device_class or entry.original_device_class or attributes.get(ATTR_DEVICE_CLASS)
    return device_class if isinstance(device_class, str) else None


def _primary_rank(entry: er.RegistryEntry) -> tuple[int, int, int, str]:
    """The offline reader's preference among a device's candidate main entities."""
    return primary_rank(entry.entity_id, entry.device_class or entry.original_device_class)


def role_for(entry: er.RegistryEntry, attributes: dict[str, object]) -> EntityRole:
    """Return the role an entity plays for the features (the rule is `ml.classify`)."""
    role = entity_role(
        entry.entity_id,
        _device_class(entry, attributes),
        entry.unit_of_measurement,
        diagnostic=entry.entity_category is EntityCategory.DIAGNOSTIC,
        names=(entry.unique_id, entry.translation_key or ""),
    )
    if role is not None:
        return role
    return EntityRole.OTHER if entry.entity_category is not None else EntityRole.PRIMARY


def _kind(entry: er.RegistryEntry | None, attributes: dict[str, object]) -> str:
    """Return the kind of device its main entity suggests."""
    if entry is None:
        return "other"
    return device_kind(entry.domain, _device_class(entry, attributes))


class DeviceDiscovery:
    """Turn the registries into the list of watched devices."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Remember the registries."""
        self._hass = hass
        self._devices = dr.async_get(hass)
        self._entities = er.async_get(hass)

    def _integration(self, device: dr.DeviceEntry) -> str:
        """Return the domain of the integration that owns a device."""
        entries = [
            entry
            for entry_id in (device.primary_config_entry, *sorted(device.config_entries))
            if entry_id and (entry := self._hass.config_entries.async_get_entry(entry_id))
        ]
        return entries[0].domain if entries else "unknown"

    def _attributes(self, entity_id: str) -> dict[str, object]:
        state = self._hass.states.get(entity_id)
        return dict(state.attributes) if state is not None else {}

    def discover(self, device_filter: DeviceFilter) -> dict[str, WatchedDevice]:
        """Return every watched device, keyed by device key."""
        by_device: dict[str, list[er.RegistryEntry]] = {}
        lone: list[er.RegistryEntry] = []
        for entry in self._entities.entities.values():
            if entry.disabled or entry.platform == DOMAIN:
                continue
            if entry.device_id is None:
                lone.append(entry)
            else:
                by_device.setdefault(entry.device_id, []).append(entry)
        watched: dict[str, WatchedDevice] = {}
        for device_id, entries in by_device.items():
            device = self._devices.async_get(device_id)
            if device is None or device.disabled or device.entry_type is dr.DeviceEntryType.SERVICE:
                continue
            if (found := self._device(device, entries, device_filter)) is not None:
                watched[found.key] = found
        for entry in lone:
            if (found := self._lone_entity(entry, device_filter)) is not None:
                watched[found.key] = found
        for found in self._unregistered_batteries(device_filter):
            watched.setdefault(found.key, found)
        return watched

    def _device(
        self, device: dr.DeviceEntry, entries: list[er.RegistryEntry], device_filter: DeviceFilter
    ) -> WatchedDevice | None:
        """Describe a registry device, or None when it is not worth watching."""
        integration = self._integration(device)
        if not device_filter.accepts(device.id, device.area_id, integration):
            return None
        roles = self._roles(entries)
        if not roles:
            return None
        role_set = {role for _, role in roles}
        level_attribute = None if EntityRole.BATTERY in role_set else self._level_attribute(roles)
        has_battery = level_attribute is not None or bool(
            role_set & {EntityRole.BATTERY, EntityRole.BATTERY_LOW}
        )
        protocol = protocol_for(integration, device.identifiers)
        if not (has_battery or protocol is not Protocol.UNKNOWN or self._has_link(device, roles)):
            return None
        group, group_name = self._group(device, integration)
        chemistry = self._battery_notes_chemistry(entries)
        info = self._record(device, integration, protocol, roles, has_battery, chemistry)
        entities = _entity_records(device.id, roles)
        return WatchedDevice(
            key=device.id,
            device_id=device.id,
            name=info.name,
            has_battery=has_battery,
            group=group,
            group_name=group_name,
            info=info,
            entities=entities if level_attribute is None else (*entities, level_attribute),
        )

    def _roles(self, entries: list[er.RegistryEntry]) -> list[tuple[er.RegistryEntry, EntityRole]]:
        """Return a device's entities worth reading with their roles, with one main entity at most."""
        found = [(entry, role_for(entry, self._attributes(entry.entity_id))) for entry in entries]
        candidates = [entry for entry, role in found if role is EntityRole.PRIMARY]
        # One main entity per device, chosen as the offline reader chooses it (classify.primary_rank).
        main = min(candidates, key=_primary_rank) if candidates else None
        return [
            (entry, role)
            for entry, role in found
            if role is not EntityRole.OTHER and (role is not EntityRole.PRIMARY or entry is main)
        ]

    def _has_link(self, device: dr.DeviceEntry, roles: list[tuple[er.RegistryEntry, EntityRole]]) -> bool:
        """Return whether a device shows a link that can fail: a radio, a bridge, or past unavailability."""
        role_set = {role for _, role in roles}
        was_unavailable = any(
            (state := self._hass.states.get(entry.entity_id)) is not None and state.state == STATE_UNAVAILABLE
            for entry, _ in roles
        )
        return (
            bool(role_set & {EntityRole.SIGNAL, EntityRole.VOLTAGE})
            or was_unavailable
            or device.via_device_id is not None
        )

    def _group(self, device: dr.DeviceEntry, integration: str) -> tuple[str, str]:
        """Return the id and name of a device's group: its bridge, else its integration."""
        via = self._devices.async_get(device.via_device_id) if device.via_device_id else None
        if via is not None:
            return via.id, via.name_by_user or via.name or integration
        return f"integration:{integration}", integration

    def _record(
        self,
        device: dr.DeviceEntry,
        integration: str,
        protocol: Protocol,
        roles: list[tuple[er.RegistryEntry, EntityRole]],
        has_battery: bool,
        chemistry: Chemistry,
    ) -> DeviceRecord:
        """Return the core's record of a registry device."""
        primary = next((entry for entry, role in roles if role is EntityRole.PRIMARY), None)
        return DeviceRecord(
            device_key=device.id,
            name=device.name_by_user or device.name or device.id,
            integration=integration,
            protocol=protocol,
            kind=_kind(primary, self._attributes(primary.entity_id) if primary else {}),
            power=Power.BATTERY if has_battery else Power.UNKNOWN,
            chemistry=chemistry,
            via_device_key=device.via_device_id,
            manufacturer=device.manufacturer,
            model=device.model,
            area_id=device.area_id,
            created=device.created_at.timestamp(),
        )

    def _battery_notes_chemistry(self, entries: list[er.RegistryEntry]) -> Chemistry:
        """The chemistry Battery Notes' battery type (e.g. "CR2032", "AAA") on the device says, if any."""
        for entry in entries:
            if entry.platform == BATTERY_NOTES_DOMAIN:
                chemistry = chemistry_for_battery_type(
                    self._attributes(entry.entity_id).get(ATTR_BATTERY_TYPE)
                )
                if chemistry is not Chemistry.UNKNOWN:
                    return chemistry
        return Chemistry.UNKNOWN

    def _level_attribute(self, roles: list[tuple[er.RegistryEntry, EntityRole]]) -> EntityRecord | None:
        """The battery level a device without a battery sensor keeps in a state attribute, if any.

        Its main entity is asked first (`vacuum.x`'s `battery_level`), then the others.
        """
        ordered = sorted(roles, key=lambda pair: pair[1] is not EntityRole.PRIMARY)
        for entry, _ in ordered:
            if (name := battery_attribute(entry.entity_id, self._attributes(entry.entity_id))) is not None:
                return EntityRecord(
                    entity_id=entry.entity_id,
                    device_key=entry.device_id or entry.entity_id,
                    role=EntityRole.BATTERY,
                    device_class="battery",
                    unit="%",
                    attribute=name,
                )
        return None

    def _lone_entity(self, entry: er.RegistryEntry, device_filter: DeviceFilter) -> WatchedDevice | None:
        """Describe a battery entity that has no device, or return None."""
        if (
            entry.domain != "sensor"
            or role_for(entry, self._attributes(entry.entity_id)) is not EntityRole.BATTERY
        ):
            return None
        # Without recorded history there is nothing to predict from.
        if not device_filter.accepts(None, entry.area_id, entry.platform) or not (
            is_entity_recorded(self._hass, entry.entity_id)
        ):
            return None
        state = self._hass.states.get(entry.entity_id)
        name = entry.name or entry.original_name or (state.name if state else entry.entity_id)
        return _lone_battery(
            lone_key(entry), entry.entity_id, name, entry.platform, entry.unit_of_measurement
        )

    def _unregistered_batteries(self, device_filter: DeviceFilter) -> list[WatchedDevice]:
        """Describe battery sensors that exist only in the state machine."""
        found = []
        for state in self._hass.states.async_all("sensor"):
            if (
                state.attributes.get(ATTR_DEVICE_CLASS) != "battery"
                or self._entities.async_get(state.entity_id) is not None
                or not device_filter.accepts(None, None, "unknown")
                or not is_entity_recorded(self._hass, state.entity_id)
            ):
                continue
            found.append(
                _lone_battery(
                    f"{PSEUDO_DEVICE_PREFIX}{state.entity_id}",
                    state.entity_id,
                    state.name,
                    "unknown",
                    state.attributes.get("unit_of_measurement"),
                )
            )
        return found


def _entity_records(
    device_key: str, roles: list[tuple[er.RegistryEntry, EntityRole]]
) -> tuple[EntityRecord, ...]:
    """Return the core's records of a device's entities."""
    return tuple(
        EntityRecord(
            entity_id=entry.entity_id,
            device_key=device_key,
            role=role,
            device_class=entry.device_class or entry.original_device_class,
            unit=entry.unit_of_measurement,
        )
        for entry, role in roles
    )


def lone_key(entry: er.RegistryEntry) -> str:
    """Return the watch key of an entity with no device: from its registry id, which a rename keeps."""
    return f"{PSEUDO_DEVICE_PREFIX}{entry.id}"


def _lone_battery(key: str, entity_id: str, name: str, integration: str, unit: object) -> WatchedDevice:
    """Describe a battery entity watched on its own, as a pseudo device."""
    return WatchedDevice(
        key=key,
        device_id=None,
        name=name,
        has_battery=True,
        group=f"integration:{integration}",
        group_name=integration,
        info=DeviceRecord(
            device_key=key,
            name=name,
            integration=integration,
            protocol=protocol_for(integration),
            kind="other",
            power=Power.BATTERY,
        ),
        entities=(
            EntityRecord(
                entity_id=entity_id,
                device_key=key,
                role=EntityRole.BATTERY,
                device_class="battery",
                unit=unit if isinstance(unit, str) else None,
            ),
        ),
    )
