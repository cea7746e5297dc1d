"""Entity classification: one rule for the role an entity plays and the kind of its device."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homeiq_device_intel.discovery import DeviceDiscovery
from custom_components.homeiq_device_intel.ml.classify import device_kind, entity_role, role_suffix
from custom_components.homeiq_device_intel.ml.recorder.catalog import EntityRow
from custom_components.homeiq_device_intel.ml.recorder.devices import infer_devices
from custom_components.homeiq_device_intel.ml.records import EntityRole
from custom_components.homeiq_device_intel.settings import DeviceFilter

BATTERY = EntityRole.BATTERY
BATTERY_LOW = EntityRole.BATTERY_LOW
SIGNAL = EntityRole.SIGNAL
VOLTAGE = EntityRole.VOLTAGE
TEMPERATURE = EntityRole.TEMPERATURE


@pytest.mark.parametrize(
    ("entity_id", "device_class", "unit", "role"),
    [
        # Battery level: its class, or a battery name in % (or without a unit).
        ("sensor.hall_battery", "battery", "%", BATTERY),
        ("sensor.hall_battery", None, "%", BATTERY),
        ("sensor.hall_battery_level", None, None, BATTERY),
        ("sensor.hall_power_source", "battery", None, BATTERY),
        # Battery-low flag: a binary sensor with the battery class or a battery-low name.
        ("binary_sensor.hall_battery_low", "battery", None, BATTERY_LOW),
        ("binary_sensor.hall_battery_low", None, None, BATTERY_LOW),
        ("binary_sensor.hall_low_battery", None, None, BATTERY_LOW),
        ("binary_sensor.lock_low_battery_level", "problem", None, BATTERY_LOW),
        # Signal: its class, a signal unit (dBm, dB, lqi in any case), a signal name anywhere.
        ("sensor.plug_wifi", "signal_strength", "dB", SIGNAL),
        ("sensor.plug_wifi", None, "dBm", SIGNAL),
        ("sensor.plug_wifi", None, "DBM", SIGNAL),
        ("sensor.plug_wifi", None, "dB", SIGNAL),
        ("sensor.landing_link", None, "lqi", SIGNAL),
        ("sensor.desk_lamp_lqi", None, None, SIGNAL),
        ("sensor.esp_wifi_signal", None, "%", SIGNAL),
        ("sensor.esp_wifi_strength", None, None, SIGNAL),
        ("sensor.desk_lamp_rssi_level", None, None, SIGNAL),
        # Voltage: its class, or V/mV, or a voltage name.
        ("sensor.hall_voltage", "voltage", "mV", VOLTAGE),
        ("sensor.hall_supply", None, "mV", VOLTAGE),
        ("sensor.hall_supply", None, "V", VOLTAGE),
        ("sensor.hall_battery", None, "V", VOLTAGE),
        ("sensor.hall_battery_voltage", None, None, VOLTAGE),
        # Device temperature: a device-temperature name, with or without the temperature class.
        ("sensor.plug_device_temperature", "temperature", "°C", TEMPERATURE),
        ("sensor.plug_device_temperature", None, "°C", TEMPERATURE),
        ("sensor.esp_chip_temperature", "temperature", "°C", TEMPERATURE),
        # A room temperature, a sound level in dB and a room humidity are what the device is for.
        ("sensor.kitchen_temperature", "temperature", "°C", None),
        ("sensor.kitchen_noise", "sound_pressure", "dB", None),
        ("sensor.kitchen_humidity", "humidity", "%", None),
        # The device class wins over a name that says otherwise.
        ("sensor.hall_battery", "signal_strength", "%", SIGNAL),
        ("sensor.hall_rssi", "voltage", "V", VOLTAGE),
        ("sensor.hall_battery", "temperature", "%", None),
        # Only sensors and binary sensors play a diagnostic role.
        ("number.vacuum_battery", "battery", "%", None),
        ("light.desk_lamp", None, None, None),
        ("binary_sensor.hall_door", "door", None, None),
    ],
)
def test_role_from_class_unit_and_name(
    entity_id: str, device_class: str | None, unit: str | None, role: EntityRole | None
) -> None:
    assert entity_role(entity_id, device_class, unit) is role


def test_a_diagnostic_temperature_is_the_device_temperature() -> None:
    assert entity_role("sensor.plug_temperature", "temperature", "°C", diagnostic=True) is TEMPERATURE
    assert entity_role("sensor.plug_temperature", "temperature", "°C") is None


def test_a_registry_name_can_say_signal() -> None:
    assert entity_role("sensor.hall_link", None, None, names=("zha-1-LQI",)) is SIGNAL
    assert entity_role("sensor.hall_link", None, None, names=("rssi",)) is SIGNAL
    assert entity_role("sensor.hall_link", None, None) is None


@pytest.mark.parametrize(
    ("object_id", "suffix"),
    [
        ("hall_battery_low", "battery_low"),
        ("hall_low_battery_level", "low_battery_level"),
        ("hall_battery_voltage", "battery_voltage"),
        ("hall_battery", "battery"),
        ("battery", None),
        ("hall_door", None),
    ],
)
def test_role_suffix_is_the_longest_role_ending(object_id: str, suffix: str | None) -> None:
    assert role_suffix(object_id) == suffix


@pytest.mark.parametrize(
    ("domain", "device_class", "kind"),
    [
        ("binary_sensor", "door", "door_window"),
        ("binary_sensor", "garage_door", "door_window"),
        ("binary_sensor", "occupancy", "motion"),
        ("binary_sensor", "moisture", "leak"),
        ("binary_sensor", "smoke", "smoke"),
        ("binary_sensor", "gas", "smoke"),
        ("binary_sensor", "carbon_monoxide", "smoke"),
        ("binary_sensor", "tamper", "security"),
        ("binary_sensor", "vibration", "vibration"),
        ("sensor", "temperature", "temperature"),
        ("sensor", "humidity", "temperature"),
        ("sensor", "pressure", "temperature"),
        ("sensor", "illuminance", "illuminance"),
        ("sensor", "power", "plug"),
        ("switch", "outlet", "plug"),
        ("switch", None, "switch"),
        ("light", None, "light"),
        ("lock", None, "lock"),
        ("climate", None, "climate"),
        ("siren", None, "siren"),
        ("event", "button", "button"),
        ("button", None, "button"),
        ("device_tracker", None, "phone"),
        ("alarm_control_panel", None, "alarm"),
        ("sensor", None, "other"),
        ("binary_sensor", "connectivity", "other"),
    ],
)
def test_kind_from_the_main_entity(domain: str, device_class: str | None, kind: str) -> None:
    assert device_kind(domain, device_class) == kind


# Devices as a Zigbee integration registers them: (domain, object id, registry fields).
# Each holds cases the live and the offline classifier used to answer differently.
_HOME: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "Hallway detector": [
        ("binary_sensor", "hallway_detector_smoke", {"original_device_class": "smoke"}),
        (
            "sensor",
            "hallway_detector_battery",
            {"original_device_class": "battery", "unit_of_measurement": "%"},
        ),
        ("binary_sensor", "hallway_detector_battery_low", {}),  # no device class
        (
            "sensor",
            "hallway_detector_voltage",
            {"original_device_class": "voltage", "unit_of_measurement": "mV"},
        ),
        ("sensor", "hallway_detector_linkquality", {"unit_of_measurement": "lqi"}),
    ],
    "Garden sensor": [
        ("sensor", "garden_sensor_temperature", {"original_device_class": "temperature"}),
        ("sensor", "garden_sensor_battery", {"unit_of_measurement": "%"}),  # no device class
        ("sensor", "garden_sensor_link", {"unit_of_measurement": "dB"}),
        ("sensor", "garden_sensor_supply", {"unit_of_measurement": "mV"}),
    ],
    "Porch plug": [
        ("switch", "porch_plug", {"original_device_class": "outlet"}),
        ("sensor", "porch_plug_wifi_signal", {"unit_of_measurement": "%"}),
        (
            "sensor",
            "porch_plug_device_temperature",
            {"original_device_class": "temperature", "entity_category": EntityCategory.DIAGNOSTIC},
        ),
    ],
    "Stair switch": [("switch", "stair_switch", {})],
    "Yard siren": [("siren", "yard_siren", {})],
    "Attic meter": [("sensor", "attic_meter_illuminance", {"original_device_class": "illuminance"})],
    "Cellar climate": [("sensor", "cellar_climate_pressure", {"original_device_class": "pressure"})],
    "Safe guard": [("binary_sensor", "safe_guard_tamper", {"original_device_class": "tamper"})],
    "Shed door": [("binary_sensor", "shed_door_vibration", {"original_device_class": "vibration"})],
    # Two candidate main entities, the less telling one registered first: both readers pick the same.
    "Bedroom climate": [
        ("sensor", "bedroom_climate_humidity", {"original_device_class": "humidity"}),
        ("sensor", "bedroom_climate_temperature", {"original_device_class": "temperature"}),
    ],
    "Front lock": [
        ("binary_sensor", "front_lock_door", {"original_device_class": "door"}),
        ("lock", "front_lock", {}),
    ],
}


def _register_home(hass: HomeAssistant) -> list[er.RegistryEntry]:
    """Register `_HOME` under a ZHA config entry; return its registry entries."""
    zha = MockConfigEntry(domain="zha")
    zha.add_to_hass(hass)
    devices, entities = dr.async_get(hass), er.async_get(hass)
    registered = []
    for name, parts in _HOME.items():
        device = devices.async_get_or_create(
            config_entry_id=zha.entry_id, identifiers={("zha", name)}, name=name
        )
        for domain, object_id, fields in parts:
            registered.append(
                entities.async_get_or_create(
                    domain,
                    "zha",
                    object_id,
                    device_id=device.id,
                    suggested_object_id=object_id,
                    config_entry=zha,
                    **fields,
                )
            )
    return registered


async def test_discovery_and_the_offline_reader_classify_a_home_alike(hass: HomeAssistant) -> None:
    registered = _register_home(hass)
    watched = DeviceDiscovery(hass).discover(DeviceFilter())
    live_roles = {e.entity_id: e.role for device in watched.values() for e in device.entities}
    live_kinds = {frozenset(e.entity_id for e in d.entities): d.info.kind for d in watched.values()}

    # The offline reader sees the same entities in a recorder database: no registry.
    rows = [
        EntityRow(entity_id=e.entity_id, device_class=e.original_device_class, unit=e.unit_of_measurement)
        for e in registered
    ]
    devices, entities = infer_devices(rows)
    offline_roles = {e.entity_id: e.role for e in entities if e.role is not EntityRole.OTHER}
    device_of = {e.entity_id: e.device_key for e in entities}
    offline_kinds = {
        frozenset(e for e in offline_roles if device_of[e] == d.device_key): d.kind for d in devices
    }

    assert offline_roles == live_roles
    assert offline_kinds == live_kinds
    assert live_roles == {
        "binary_sensor.hallway_detector_smoke": EntityRole.PRIMARY,
        "sensor.hallway_detector_battery": BATTERY,
        "binary_sensor.hallway_detector_battery_low": BATTERY_LOW,
        "sensor.hallway_detector_voltage": VOLTAGE,
        "sensor.hallway_detector_linkquality": SIGNAL,
        "sensor.garden_sensor_temperature": EntityRole.PRIMARY,
        "sensor.garden_sensor_battery": BATTERY,
        "sensor.garden_sensor_link": SIGNAL,
        "sensor.garden_sensor_supply": VOLTAGE,
        "switch.porch_plug": EntityRole.PRIMARY,
        "sensor.porch_plug_wifi_signal": SIGNAL,
        "sensor.porch_plug_device_temperature": TEMPERATURE,
        "switch.stair_switch": EntityRole.PRIMARY,
        "siren.yard_siren": EntityRole.PRIMARY,
        "sensor.attic_meter_illuminance": EntityRole.PRIMARY,
        "sensor.cellar_climate_pressure": EntityRole.PRIMARY,
        "binary_sensor.safe_guard_tamper": EntityRole.PRIMARY,
        "binary_sensor.shed_door_vibration": EntityRole.PRIMARY,
        "sensor.bedroom_climate_temperature": EntityRole.PRIMARY,
        "lock.front_lock": EntityRole.PRIMARY,
    }
    assert sorted(live_kinds.values()) == sorted(
        [
            "smoke",
            "temperature",
            "plug",
            "switch",
            "siren",
            "illuminance",
            "temperature",
            "security",
            "vibration",
            "temperature",
            "lock",
        ]
    )
