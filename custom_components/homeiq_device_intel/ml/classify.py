"""Classify an entity: the role it plays for its device, and the kind of device it suggests.

The one rule for both readers of a home: discovery (HA's registries, live) and
the recorder reader (an offline database, no registries). Each passes what it
knows; what a reader cannot know (an offline copy has no entity category or
translation key) is simply not passed.

Role, for a sensor, in this order:
1. its device class, when it names a role (battery, signal_strength, voltage;
   temperature only for a diagnostic or device-temperature entity); any other
   device class means it measures something else (a dB sound level is no signal);
2. without a device class, its unit: dBm, dB or lqi is a signal, V or mV a voltage;
3. then its name: `*_battery` (in % or unitless), a signal marker anywhere
   (`rssi`, `lqi`, `linkquality`...), `*_voltage`, `*_device_temperature`...
A binary sensor is a battery-low flag by its battery class or its name
(`*_battery_low`, `*_low_battery`, `*_low_battery_level`). Other domains play
no diagnostic role.

A device without a battery sensor may still report its level as a state
attribute of one of its entities (`battery_level` on a vacuum, a lock, a
remote, or `battery`): `battery_attribute` names it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from .records import EntityRole, Protocol


def words(text: str) -> frozenset[str]:
    """The space-separated words of a vocabulary."""
    return frozenset(text.split())


BATTERY_SUFFIXES: Final = words("battery battery_level battery_percentage")
BATTERY_LOW_SUFFIXES: Final = words("battery_low low_battery low_battery_level")
SIGNAL_SUFFIXES: Final = words(
    "linkquality link_quality lqi rssi signal_strength wifi_signal wifi_strength wifi_signal_strength"
)
VOLTAGE_SUFFIXES: Final = words("voltage battery_voltage supply_voltage")
DEVICE_TEMPERATURE_SUFFIXES: Final = words(
    "device_temperature internal_temperature chip_temperature esp_temperature cpu_temperature"
)
# Every entity-id ending that names a role (the recorder reader strips them to find devices).
ROLE_SUFFIXES: Final = (
    BATTERY_SUFFIXES | BATTERY_LOW_SUFFIXES | SIGNAL_SUFFIXES | VOLTAGE_SUFFIXES | DEVICE_TEMPERATURE_SUFFIXES
)
# Longest first, so `x_low_battery_level` ends in `low_battery_level`, not `battery_level`.
_SUFFIXES_LONGEST_FIRST: Final = tuple(sorted(ROLE_SUFFIXES, key=lambda s: (-len(s), s)))

# State attributes that hold a battery level in % (first found wins).
BATTERY_ATTRIBUTES: Final = ("battery_level", "battery")

_SIGNAL_UNITS: Final = frozenset({"dbm", "db", "lqi"})
_VOLTAGE_UNITS: Final = frozenset({"V", "mV"})

# The device class of a device's main entity says what kind of device it is;
# the names follow the synthetic generator's kinds where it has them.
KIND_BY_DEVICE_CLASS: Final[dict[str, str]] = {
    **dict.fromkeys(("door", "window", "opening", "garage_door"), "door_window"),
    **dict.fromkeys(("motion", "occupancy", "presence"), "motion"),
    **dict.fromkeys(("smoke", "gas", "carbon_monoxide"), "smoke"),
    **dict.fromkeys(("temperature", "humidity", "pressure"), "temperature"),
    **dict.fromkeys(("power", "energy", "outlet"), "plug"),
    "moisture": "leak",
    "tamper": "security",
    "vibration": "vibration",
    "illuminance": "illuminance",
}
# Without a telling device class, its domain does.
KIND_BY_DOMAIN: Final[dict[str, str]] = {
    **{
        d: d
        for d in words(
            "lock light switch climate cover vacuum lawn_mower fan valve media_player camera siren"
        )
    },
    "device_tracker": "phone",
    "alarm_control_panel": "alarm",
    "event": "button",
    "button": "button",
}


def role_suffix(object_id: str) -> str | None:
    """The role-naming ending of an object id (`hall_battery_low` -> `battery_low`), if any."""
    return next(
        (
            suffix
            for suffix in _SUFFIXES_LONGEST_FIRST
            if object_id.endswith("_" + suffix) and len(object_id) > len(suffix) + 1
        ),
        None,
    )


def entity_role(
    entity_id: str,
    device_class: str | None,
    unit: str | None,
    *,
    diagnostic: bool = False,
    names: Iterable[str] = (),
) -> EntityRole | None:
    """The diagnostic role an entity plays for its device; None when it plays none.

    `device_class` is the user-set one, else the integration's; `diagnostic` is
    True for an entity the registry files under the diagnostic category;
    `names` are further names the registry gives it (translation key, unique
    id), searched for signal markers. None means the entity reports
    what the device does (a main-entity candidate) or nothing we read.
    """
    domain, _, object_id = entity_id.partition(".")
    if domain == "binary_sensor":
        if device_class == "battery" or role_suffix(object_id) in BATTERY_LOW_SUFFIXES:
            return EntityRole.BATTERY_LOW
        return None
    if domain != "sensor":
        return None
    suffix = role_suffix(object_id)
    if device_class is not None:
        return _role_by_class(device_class, suffix, diagnostic)
    if (unit or "").lower() in _SIGNAL_UNITS:
        return EntityRole.SIGNAL
    if unit in _VOLTAGE_UNITS:
        return EntityRole.VOLTAGE
    return _role_by_name(object_id, suffix, unit, names)


def _role_by_class(device_class: str, suffix: str | None, diagnostic: bool) -> EntityRole | None:
    """A sensor's role from its device class (a class that names no role means none)."""
    if device_class == "battery":
        return EntityRole.BATTERY
    if device_class == "signal_strength":
        return EntityRole.SIGNAL
    if device_class == "voltage":
        return EntityRole.VOLTAGE
    if device_class == "temperature" and (diagnostic or suffix in DEVICE_TEMPERATURE_SUFFIXES):
        return EntityRole.TEMPERATURE
    return None


def _role_by_name(
    object_id: str, suffix: str | None, unit: str | None, names: Iterable[str]
) -> EntityRole | None:
    """A sensor's role from its names, when neither device class nor unit tells."""
    if suffix in BATTERY_SUFFIXES and unit in ("%", None):
        return EntityRole.BATTERY
    texts = [object_id, *(name.lower() for name in names)]
    if any(marker in text for text in texts for marker in SIGNAL_SUFFIXES):
        return EntityRole.SIGNAL
    if suffix in VOLTAGE_SUFFIXES:
        return EntityRole.VOLTAGE
    if suffix in DEVICE_TEMPERATURE_SUFFIXES:
        return EntityRole.TEMPERATURE
    return None


def attribute_level(value: object) -> float | None:
    """A battery level in % read from an attribute value (a number or numeric text), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip().removesuffix("%"))
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    level = float(value)
    return level if 0.0 <= level <= 100.0 else None


def battery_attribute(entity_id: str, attributes: Mapping[str, object]) -> str | None:
    """The attribute of an entity's state that holds its device's battery level, if any.

    Only a level in % counts (a number from 0 to 100, or such a number as
    text); "low"/"ok" texts and battery sensors' own attributes do not.
    """
    if (
        entity_id.partition(".")[0] in ("sensor", "binary_sensor")
        and attributes.get("device_class") == "battery"
    ):
        return None
    return next(
        (name for name in BATTERY_ATTRIBUTES if attribute_level(attributes.get(name)) is not None), None
    )


def device_kind(domain: str, device_class: str | None) -> str:
    """The kind of device ("motion", "lock", "smoke"...) its main entity suggests; "other" if none."""
    return KIND_BY_DEVICE_CLASS.get(device_class or "") or KIND_BY_DOMAIN.get(domain, "other")


# Preference orders for the primary entity of a device.
PRIMARY_DOMAINS: Final = (
    "lock",
    "climate",
    "cover",
    "vacuum",
    "lawn_mower",
    "valve",
    "light",
    "switch",
    "fan",
    "water_heater",
    "humidifier",
    "media_player",
    "alarm_control_panel",
    "siren",
    "camera",
    "binary_sensor",
    "sensor",
    "device_tracker",
    "remote",
)
PRIMARY_SENSOR_CLASSES: Final = (
    "temperature",
    "humidity",
    "moisture",
    "pressure",
    "illuminance",
    "co2",
    "power",
)


def _rank(order: Sequence[str], value: str | None) -> int:
    """Position of a value in a preference order; unknown values go last."""
    return order.index(value) if value in order else len(order)


def primary_rank(entity_id: str, device_class: str | None) -> tuple[int, int, int, str]:
    """Sort key among a device's candidate main entities: the smallest is its primary entity.

    The same order for discovery (registry devices) and the offline reader
    (devices inferred from entity names): by domain, then sensor device class,
    then the shortest object id.
    """
    domain, _, object_id = entity_id.partition(".")
    return (
        _rank(PRIMARY_DOMAINS, domain),
        _rank(PRIMARY_SENSOR_CLASSES, device_class),
        len(object_id),
        object_id,
    )


# The radio a device uses, as its integration tells it (Home Assistant's registry says no more).
PROTOCOL_BY_INTEGRATION: Final[dict[str, Protocol]] = {
    "zha": Protocol.ZIGBEE,
    "deconz": Protocol.ZIGBEE,
    "zigbee2mqtt": Protocol.ZIGBEE,
    "hue": Protocol.ZIGBEE,
    "zwave_js": Protocol.ZWAVE,
    "shelly": Protocol.WIFI,
    "tplink": Protocol.WIFI,
    "esphome": Protocol.WIFI,
    "tasmota": Protocol.WIFI,
    "wled": Protocol.WIFI,
    "tuya": Protocol.WIFI,
    "bthome": Protocol.BLE,
    "xiaomi_ble": Protocol.BLE,
    "switchbot": Protocol.BLE,
    "govee_ble": Protocol.BLE,
    "inkbird": Protocol.BLE,
    "matter": Protocol.THREAD,
    "thread": Protocol.THREAD,
    "homekit_controller": Protocol.THREAD,
}


def protocol_for(integration: str, identifiers: Iterable[tuple[str, str]] = ()) -> Protocol:
    """Guess the radio a device uses from its integration (zigbee2mqtt: `mqtt` with its identifiers)."""
    if integration == "mqtt" and any(value.startswith("zigbee2mqtt") for _, value in identifiers):
        return Protocol.ZIGBEE
    return PROTOCOL_BY_INTEGRATION.get(integration, Protocol.UNKNOWN)
