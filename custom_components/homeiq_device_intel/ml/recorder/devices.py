"""Devices and entities of a read: as the HA registries say, or inferred from entity ids.

Without a registry (an offline copy has none) devices are inferred from
entity ids (`infer_devices`); `is_device_entity` says which entities are
parts of physical devices at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final, NamedTuple

from ..classify import ROLE_SUFFIXES, device_kind, entity_role, primary_rank, words
from ..records import DeviceRecord, EntityRecord, EntityRole, Power, Protocol
from .catalog import EntityRow

INFERRED_PREFIX: Final = "inferred:"

# An entity registry entry as the HA layer passes it: device, role, device_class, unit.
type RegistryValue = tuple[DeviceRecord, EntityRole, str | None, str | None]


class RegisteredEntity(NamedTuple):
    """What the HA registries say about one entity."""

    device: DeviceRecord
    role: EntityRole
    device_class: str | None = None
    unit: str | None = None


# Domains whose entities are not parts of a physical device (helpers, automations,
# services, HA itself, weather services): skipped when devices are inferred.
NON_DEVICE_DOMAINS: Final = words(
    "ai_task automation calendar conversation counter group input_boolean input_button "
    "input_datetime input_number input_select input_text notify persistent_notification "
    "person plant proximity schedule scene script stt sun tag timer todo tts update "
    "wake_word weather zone"
)
# Sensors of time_date, sun, moon and season: clocks, not devices.
_NON_DEVICE_SENSOR: Final = re.compile(
    r"date|time|date_time|date_time_utc|date_time_iso|time_date|time_utc|internet_time"
    r"|beat|moon|moon_phase|season|sun_\w+"
)
# Home Assistant's own entities (restart/reload buttons, HA Cloud switches).
_HOME_ASSISTANT_ENTITY: Final = re.compile(r"(homeassistant|home_assistant|cloud)_\w+")

# Other diagnostics: they name an entity of a device, never its primary one.
_DIAGNOSTIC_SUFFIXES: Final = words(
    "battery_state battery_charging battery_health charger_type last_seen uptime status "
    "node_status ip ip_address ssid bssid mac mac_address firmware firmware_version "
    "update_state update_available power_outage_count restart reboot identify ping "
    "connection_type connectivity"
)
# What the device is for (zigbee2mqtt, ZHA, ESPHome, Shelly... entity names).
_FEATURE_SUFFIXES: Final = words(
    "temperature humidity pressure illuminance illuminance_lux occupancy motion presence "
    "contact opening door window water_leak leak moisture smoke gas co2 pm25 voc tamper "
    "vibration action click power energy current power_factor"
)
_STEM_SUFFIXES: Final = ROLE_SUFFIXES | _DIAGNOSTIC_SUFFIXES | _FEATURE_SUFFIXES
# The lazy stem makes the longest known suffix win.
_STEM: Final = re.compile(r"(.+?)_(" + "|".join(sorted(_STEM_SUFFIXES)) + ")")
_RECHARGEABLE_SUFFIXES: Final = words("battery_state battery_charging charger_type")
# Domains of a device's parts, whose entity names end in a part suffix.
_PART_DOMAINS: Final = words("sensor binary_sensor button number select text event image")
# Domains that configure or poke a device rather than report what it does.
_CONFIG_DOMAINS: Final = words("button number select text event image")
_NOT_PRIMARY_CLASSES: Final = words("connectivity update problem timestamp")
# Domains whose un-suffixed entity names a whole device, so that
# `sensor.<its object_id>_<anything>` belongs to it (vacuum, phone, TV...).
_ANCHOR_DOMAINS: Final = words(
    "alarm_control_panel camera climate cover device_tracker fan humidifier lawn_mower "
    "lock media_player remote vacuum water_heater"
)
_MAINS_DOMAINS: Final = words("light switch fan media_player water_heater humidifier remote")


def is_device_entity(entity_id: str) -> bool:
    """True unless the entity is a helper, automation, service, clock or HA itself."""
    domain, _, object_id = entity_id.partition(".")
    if domain in NON_DEVICE_DOMAINS or _HOME_ASSISTANT_ENTITY.fullmatch(object_id):
        return False
    return not (domain == "sensor" and _NON_DEVICE_SENSOR.fullmatch(object_id))


def registry_devices(
    rows: Sequence[EntityRow], registry: Mapping[str, RegistryValue]
) -> tuple[list[DeviceRecord], list[EntityRecord]]:
    """Devices and entities as the HA registries describe them."""
    devices: dict[str, DeviceRecord] = {}
    entities: list[EntityRecord] = []
    for row in rows:
        device, role, device_class, unit = registry[row.entity_id]
        devices.setdefault(device.device_key, device)
        entities.append(
            EntityRecord(
                entity_id=row.entity_id,
                device_key=device.device_key,
                role=role,
                device_class=device_class or row.device_class,
                unit=unit or row.unit,
            )
        )
    return list(devices.values()), entities


def device_stem(entity_id: str) -> tuple[str, str | None]:
    """Split an entity's object_id into its device stem and the known suffix (if any).

    Only the domains devices expose as parts (sensor, binary_sensor, button...)
    carry suffixes; `lock.front_door` is a whole device named "front_door".
    """
    domain, _, object_id = entity_id.partition(".")
    if domain not in _PART_DOMAINS:
        return object_id, None
    match = _STEM.fullmatch(object_id)
    if match is None:
        return object_id, None
    return match.group(1), match.group(2)


def infer_devices(rows: Sequence[EntityRow]) -> tuple[list[DeviceRecord], list[EntityRecord]]:
    """Group entities into devices by their entity ids when no registry is at hand.

    1. The device stem of an object_id is what is left after stripping the
       longest known entity suffix (`_battery`, `_linkquality`, `_occupancy`...).
    2. Entities with equal stems form one device; an entity whose whole
       object_id is another's stem joins it (`light.desk` + `sensor.desk_rssi`).
    3. A lone entity with an unrecognised name joins the longest anchor of at
       least two words that prefixes its object_id. Anchors are the stems of
       step 1 and the object_ids of whole-device domains (vacuum,
       device_tracker, media_player, climate, lock...): `vacuum.robot_vacuum`
       takes `sensor.robot_vacuum_filter_left`; `sensor.mfc_l2710dw_status`
       makes `mfc_l2710dw` an anchor for `sensor.mfc_l2710dw_drum_counter`.
       One-word anchors ("kitchen") would swallow whole rooms, so they don't.
    4. Everything else is a device of its own.
    Roles come from device_class, unit and name (`classify.entity_role`); PRIMARY is
    the best remaining entity (un-suffixed name first, then by domain).
    """
    devices: list[DeviceRecord] = []
    entities: list[EntityRecord] = []
    for stem, members in sorted(_group_entities(rows).items()):
        device, members_of = _infer_device(stem, members)
        devices.append(device)
        entities += members_of
    return devices, entities


def _group_entities(rows: Sequence[EntityRow]) -> dict[str, list[EntityRow]]:
    """Group entities by device stem, then hang lone unrecognised names on anchors."""
    groups: dict[str, list[EntityRow]] = {}
    anchors: set[str] = set()
    lone: set[str] = set()
    for row in rows:
        stem, suffix = device_stem(row.entity_id)
        groups.setdefault(stem, []).append(row)
        if suffix is not None or row.entity_id.partition(".")[0] in _ANCHOR_DOMAINS:
            anchors.add(stem)
        else:
            lone.add(stem)
    for stem in sorted(lone - anchors):
        if len(groups[stem]) != 1:
            continue
        parts = stem.split("_")
        # Anchors of one word ("kitchen") would swallow whole rooms.
        for cut in range(len(parts) - 1, 1, -1):
            anchor = "_".join(parts[:cut])
            if anchor in anchors:
                groups[anchor].extend(groups.pop(stem))
                break
    return groups


def _infer_device(stem: str, members: list[EntityRow]) -> tuple[DeviceRecord, list[EntityRecord]]:
    """One inferred device of the entities sharing a stem, and those entities."""
    roles = {m.entity_id: entity_role(m.entity_id, m.device_class, m.unit) for m in members}
    candidates = [m for m in members if _can_be_primary(m, roles[m.entity_id])]
    primary = min(candidates, key=lambda m: _primary_rank(m, stem)) if candidates else None
    suffixes = {device_stem(m.entity_id)[1] for m in members}
    protocol, integration = _protocol(suffixes)
    if suffixes & _RECHARGEABLE_SUFFIXES:
        # A charger's state (battery_state, charger_type) is the companion app's: a phone or tablet.
        integration = "mobile_app"
    kind = "other"
    if primary is not None:
        kind = device_kind(primary.entity_id.partition(".")[0], primary.device_class)
    named = next((m.friendly_name for m in members if m.entity_id.partition(".")[2] == stem), None)
    device = DeviceRecord(
        device_key=INFERRED_PREFIX + stem,
        name=named or " ".join(w.capitalize() for w in stem.split("_")),
        integration=integration,
        protocol=protocol,
        kind=kind,
        power=_power(set(roles.values()), suffixes, primary),
    )
    entities = []
    for m in sorted(members, key=lambda m: m.entity_id):
        role = roles[m.entity_id]
        if role is None:
            role = EntityRole.PRIMARY if m is primary else EntityRole.OTHER
        entities.append(
            EntityRecord(
                entity_id=m.entity_id,
                device_key=device.device_key,
                role=role,
                device_class=m.device_class,
                unit=m.unit,
            )
        )
    return device, entities


def _primary_rank(row: EntityRow, stem: str) -> tuple[int, int, int, int, str]:
    """Sort key: the device's main entity first (the one named after the device, then `primary_rank`)."""
    object_id = row.entity_id.partition(".")[2]
    return (0 if object_id == stem else 1, *primary_rank(row.entity_id, row.device_class))


def _can_be_primary(row: EntityRow, role: EntityRole | None) -> bool:
    """True for an entity that reports what the device is for."""
    if role is not None or row.entity_id.partition(".")[0] in _CONFIG_DOMAINS:
        return False
    suffix = device_stem(row.entity_id)[1]
    return suffix not in _DIAGNOSTIC_SUFFIXES and row.device_class not in _NOT_PRIMARY_CLASSES


def _protocol(suffixes: set[str | None]) -> tuple[Protocol, str]:
    """Radio and integration guessed from the diagnostic entities a device has."""
    if "linkquality" in suffixes or "link_quality" in suffixes:
        return Protocol.ZIGBEE, "mqtt"  # zigbee2mqtt names it linkquality
    if "lqi" in suffixes:
        return Protocol.ZIGBEE, "zha"
    if "node_status" in suffixes:
        return Protocol.ZWAVE, "zwave_js"
    if suffixes & {"wifi_signal", "wifi_strength", "wifi_signal_strength", "ssid", "bssid"}:
        return Protocol.WIFI, "esphome" if "status" in suffixes else "unknown"
    return Protocol.UNKNOWN, "unknown"


def _power(roles: set[EntityRole | None], suffixes: set[str | None], primary: EntityRow | None) -> Power:
    """How a device is powered, from its entities' roles and names."""
    if EntityRole.BATTERY in roles or EntityRole.BATTERY_LOW in roles:
        return Power.RECHARGEABLE if suffixes & _RECHARGEABLE_SUFFIXES else Power.BATTERY
    if primary is not None and primary.entity_id.partition(".")[0] in _MAINS_DOMAINS:
        return Power.MAINS
    return Power.UNKNOWN
