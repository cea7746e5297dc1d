"""A device's entities, named as Home Assistant names them: `<domain>.<device slug>[_<suffix>]`.

e.g. binary_sensor.kitchen_door_contact, sensor.kitchen_door_battery,
sensor.kitchen_door_linkquality, lock.hallway_door_lock. Which entities a
device has depends on its kind, power and integration, and on draws from its
stream, made in a fixed order: primary, battery, signal, voltage, temperature.
"""

from __future__ import annotations

import re

import numpy as np

from custom_components.homeiq_device_intel.ml.records import EntityRecord, EntityRole, Power

from .catalog import _BLE_INTEGRATIONS, _WIFI_INTEGRATIONS
from .plans import _Device, _EntitySpec, _Home

_ENTITY_ID = re.compile(r"^[a-z_]+\.[a-z0-9_]+$")

# entity id, role, device class, unit, stream, numeric, statistics
_Row = tuple[str, EntityRole, str | None, str | None, str, bool, bool]


def is_valid_entity_id(entity_id: str) -> bool:
    """Return whether a string is a valid Home Assistant entity id."""
    return bool(_ENTITY_ID.match(entity_id)) and "__" not in entity_id


def _row(
    entity_id: str,
    role: EntityRole,
    device_class: str | None,
    unit: str | None,
    stream: str,
    numeric: bool = False,
    statistics: bool = False,
) -> _Row:
    return (entity_id, role, device_class, unit, stream, numeric, statistics)


def _sensor(
    entity_id: str, role: EntityRole, device_class: str | None, unit: str | None, stream: str
) -> _Row:
    """Return a numeric sensor's row (with long-term statistics)."""
    return _row(entity_id, role, device_class, unit, stream, True, True)


def _add_entities(dev: _Device, home: _Home, taken: set[str]) -> None:
    """Give a device its entities: primary, battery, signal, voltage, temperature..."""
    rng = dev.rng
    rows = _primary_entities(dev, rng)
    rows += _battery_entities(dev, rng)
    rows += _signal_entities(dev, rng)
    rows += _voltage_entities(dev, rng)
    rows += _temperature_entities(dev, rng)
    for entity_id, role, device_class, unit, stream, numeric, statistics in rows:
        base, n = entity_id, 2
        while entity_id in taken:
            entity_id, n = f"{base}_{n}", n + 1
        taken.add(entity_id)
        info = EntityRecord(
            entity_id=entity_id,
            device_key=dev.info.device_key,
            role=role,
            device_class=device_class,
            unit=unit,
        )
        dev.entities.append(_EntitySpec(info, stream, numeric, statistics))


def _primary_entities(dev: _Device, rng: np.random.Generator) -> list[_Row]:
    """Return the entity of what the device is for (and a humidity or power sensor beside it)."""
    slug, integration, kind = dev.slug, dev.info.integration, dev.kind
    prim = EntityRole.PRIMARY
    if kind == "door_window":
        label_class = "window" if "window" in slug or "skylight" in slug else "door"
        suffix = {"mqtt": "contact", "zha": "opening"}.get(integration, label_class)
        return [_row(f"binary_sensor.{slug}_{suffix}", prim, label_class, None, "sessions")]
    if kind == "motion":
        suffix = "occupancy" if integration in ("mqtt", "matter") else "motion"
        return [_row(f"binary_sensor.{slug}_{suffix}", prim, suffix, None, "sessions")]
    if kind == "leak":
        suffix = {"mqtt": "water_leak", "zha": "moisture", "shelly": "flood"}.get(integration, "leak")
        return [_row(f"binary_sensor.{slug}_{suffix}", prim, "moisture", None, "sessions")]
    if kind == "temperature":
        rows = [_sensor(f"sensor.{slug}_temperature", prim, "temperature", "°C", "temperature")]
        if rng.random() < 0.75:
            rows.append(_sensor(f"sensor.{slug}_humidity", EntityRole.OTHER, "humidity", "%", "humidity"))
        return rows
    if kind in ("plug", "switch"):
        rows = [_row(f"switch.{slug}", prim, "outlet" if kind == "plug" else None, None, "sessions")]
        if kind == "plug" and rng.random() < 0.85:
            rows.append(_sensor(f"sensor.{slug}_power", EntityRole.OTHER, "power", "W", "power"))
        return rows
    return [_other_primary(dev)]


def _other_primary(dev: _Device) -> _Row:
    """Return the primary entity of the kinds that draw nothing for it."""
    slug, kind = dev.slug, dev.kind
    prim = EntityRole.PRIMARY
    if kind == "lock":
        return _row(f"lock.{slug}", prim, None, None, "sessions")
    if kind == "remote":
        return _row(f"event.{slug}_action", prim, "button", None, "events")
    if kind in ("trv", "thermostat"):
        return _row(f"climate.{slug}", prim, None, None, "climate")
    if kind == "light":
        return _row(f"light.{slug}", prim, None, None, "sessions")
    if kind == "camera":
        return _row(f"camera.{slug}", prim, None, None, "sessions")
    if kind == "router":
        return _row(f"binary_sensor.{slug}_wan_status", prim, "connectivity", None, "connectivity")
    return _row(f"binary_sensor.{slug}_connection_state", prim, "connectivity", None, "connectivity")


def _battery_entities(dev: _Device, rng: np.random.Generator) -> list[_Row]:
    """Return a battery device's level sensor and, maybe, its battery-low flag."""
    if dev.model.power is Power.MAINS:
        return []
    slug, integration = dev.slug, dev.info.integration
    rows = [_sensor(f"sensor.{slug}_battery", EntityRole.BATTERY, "battery", "%", "battery")]
    low_chance = {"mqtt": 0.5, "zwave_js": 0.5}.get(integration, 0.1)
    if rng.random() < low_chance:
        suffix = "low_battery_level" if integration == "zwave_js" else "battery_low"
        rows.append(
            _row(f"binary_sensor.{slug}_{suffix}", EntityRole.BATTERY_LOW, "battery", None, "battery_low")
        )
    return rows


def _signal_entities(dev: _Device, rng: np.random.Generator) -> list[_Row]:
    """Return the device's signal sensor (LQI or RSSI), when its integration has one and it is on."""
    integration = dev.info.integration
    signal: tuple[float, str, str | None, str | None] | None = None
    if integration == "zha":
        signal = (0.4, "lqi", None, None)
    elif integration == "mqtt":
        signal = (0.9, "linkquality", "lqi", None)
    elif integration in ("shelly", "tplink"):
        signal = (0.6, "signal_strength", "dBm", "signal_strength")
    elif integration == "esphome":
        signal = (0.7, "wifi_signal", "dBm", "signal_strength")
    elif integration in _BLE_INTEGRATIONS:
        signal = (0.5, "signal_strength", "dBm", "signal_strength")
    elif integration in _WIFI_INTEGRATIONS and not dev.bridge:
        signal = (0.2, "rssi", "dBm", "signal_strength")
    if signal is None or not rng.random() < signal[0]:
        return []
    _, suffix, unit, device_class = signal
    return [_sensor(f"sensor.{dev.slug}_{suffix}", EntityRole.SIGNAL, device_class, unit, "signal")]


def _voltage_entities(dev: _Device, rng: np.random.Generator) -> list[_Row]:
    """Return a battery's voltage sensor, or a plug's mains voltage sensor, when it has one."""
    slug, integration = dev.slug, dev.info.integration
    if dev.model.power is not Power.MAINS:
        volt_chance = {"mqtt": 0.7, "zha": 0.3, "bthome": 0.4}.get(integration, 0.05)
        if rng.random() < volt_chance:
            unit = "mV" if integration == "mqtt" else "V"
            return [_sensor(f"sensor.{slug}_voltage", EntityRole.VOLTAGE, "voltage", unit, "battery_voltage")]
    elif dev.kind == "plug" and rng.random() < 0.5:
        return [_sensor(f"sensor.{slug}_voltage", EntityRole.VOLTAGE, "voltage", "V", "supply_voltage")]
    return []


def _temperature_entities(dev: _Device, rng: np.random.Generator) -> list[_Row]:
    """Return the device's own temperature sensor, when it has one."""
    integration, kind = dev.info.integration, dev.kind
    temp_chance = 0.4 if integration == "mqtt" and dev.model.manufacturer == "Aqara" else 0.0
    if kind == "plug":
        temp_chance = 0.7 if integration == "shelly" else 0.3
    elif kind == "router":
        temp_chance = 0.4
    if not rng.random() < temp_chance:
        return []
    entity_id = f"sensor.{dev.slug}_device_temperature"
    return [_sensor(entity_id, EntityRole.TEMPERATURE, "temperature", "°C", "device_temperature")]
