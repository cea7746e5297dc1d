"""The kinds of device the clean-room simulator puts in a home, as a person who owns them knows them.

Each template says how the device is powered and talks to Home Assistant, which
entities the integration creates for it (entity-id suffix, device class, unit,
category) and how often it reports. Figures are rough values of real devices,
from experience rather than from any dataset:

- Aqara/Xiaomi Zigbee sensors run on CR2032/CR1632/CR2450 coin cells, check in
  about every 50-60 min, and their battery percentage is derived from voltage:
  near 100 % for most of the life, then a knee.
- Hue/IKEA/Sonoff motion sensors run on AA/AAA alkalines: a steadier slope.
- Z-Wave locks run on 4 x AA, report battery in 10 % steps on wake-up, and
  drain faster with use.
- Xiaomi LYWSD03MMC thermometers (BLE, CR2032) advertise every few minutes
  with a noisy 1 % battery reading.
- Zigbee plugs and bulbs are mains-powered mesh routers; Wi-Fi plugs
  (Shelly, Tasmota, TP-Link) and ESPHome nodes report power or temperature
  every minute or so; TVs and printers drop off the network when switched off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class EntityTemplate:
    """One entity of a device template: `<domain>.<device slug><suffix>`."""

    domain: str
    suffix: str  # "" for the device's own name, else "_battery", "_linkquality"...
    signal: str  # which simulated signal it shows: battery, lqi, rssi, temperature, binary, power...
    device_class: str | None = None
    unit: str | None = None
    state_class: str | None = None
    diagnostic: bool = False


@dataclass(frozen=True, slots=True)
class DeviceTemplate:
    """A kind of device."""

    kind: str
    label: str  # the default name's ending ("Door", "Motion"...)
    manufacturer: str
    model: str
    protocol: str  # zigbee, zwave, wifi, ble
    power: str  # battery or mains
    chemistry: str  # coin, alkaline, lithium, none
    life_days: tuple[float, float]  # battery life range at normal use (days)
    report_minutes: float  # how often the main entity reports (heartbeat or sample)
    battery_minutes: float  # how often the battery level is reported
    battery_step: tuple[int, ...]  # reporting resolution of the level in % (one drawn per device)
    entities: tuple[EntityTemplate, ...]
    events_per_day: float = 0.0  # state changes a day (contacts, motion, switching)
    router: bool = False  # a Zigbee/Z-Wave mesh router


_BATTERY = EntityTemplate("sensor", "_battery", "battery", "battery", "%", "measurement", True)
_LQI = EntityTemplate("sensor", "_linkquality", "lqi", None, "lqi", "measurement", True)
_RSSI = EntityTemplate("sensor", "_rssi", "rssi", "signal_strength", "dBm", "measurement", True)
_WIFI = EntityTemplate("sensor", "_wifi_signal", "rssi", "signal_strength", "dBm", "measurement", True)
_TEMP = EntityTemplate("sensor", "_temperature", "temperature", "temperature", "°C", "measurement")
_HUM = EntityTemplate("sensor", "_humidity", "humidity", "humidity", "%", "measurement")
_POWER = EntityTemplate("sensor", "_power", "power", "power", "W", "measurement")
_ZW_BATTERY = EntityTemplate("sensor", "_battery_level", "battery", "battery", "%", "measurement", True)

# fmt: off
TEMPLATES: Final[dict[str, DeviceTemplate]] = {
    t.kind: t
    for t in (
        DeviceTemplate(
            "contact", "Door", "Aqara", "MCCGQ11LM", "zigbee", "battery", "coin", (300, 800), 55, 55,
            (1, 1, 5),
            (EntityTemplate("binary_sensor", "_contact", "binary", "door"), _BATTERY, _LQI),
            events_per_day=6,
        ),
        DeviceTemplate(
            "motion", "Motion", "Philips", "SML001", "zigbee", "battery", "alkaline", (250, 600), 60, 120,
            (1, 1, 10),
            (EntityTemplate("binary_sensor", "_occupancy", "binary", "occupancy"), _BATTERY, _LQI),
            events_per_day=25,
        ),
        DeviceTemplate(
            "climate", "Climate", "Aqara", "WSDCGQ11LM", "zigbee", "battery", "coin", (250, 700), 15, 55,
            (1, 1, 5),
            (_TEMP, _HUM, _BATTERY, _LQI),
        ),
        DeviceTemplate(
            "leak", "Leak", "Aqara", "SJCGQ11LM", "zigbee", "battery", "coin", (400, 900), 55, 55, (1, 5),
            (EntityTemplate("binary_sensor", "_water_leak", "binary", "moisture"), _BATTERY, _LQI),
        ),
        DeviceTemplate(
            "remote", "Remote", "IKEA", "E1743", "zigbee", "battery", "coin", (200, 500), 240, 720,
            (10, 5),
            (EntityTemplate("sensor", "_action", "action"), _BATTERY, _LQI),
            events_per_day=4,
        ),
        DeviceTemplate(
            "lock", "Lock", "Yale", "YRD256", "zwave", "battery", "alkaline", (120, 300), 240, 360, (10,),
            (EntityTemplate("lock", "", "lock"), _ZW_BATTERY),
            events_per_day=8,
        ),
        DeviceTemplate(
            "zw_multi", "Multisensor", "Aeotec", "ZWA005", "zwave", "battery", "lithium", (250, 500), 60,
            360, (1, 10),
            (EntityTemplate("binary_sensor", "_motion", "binary", "motion"), _TEMP, _ZW_BATTERY),
            events_per_day=15,
        ),
        DeviceTemplate(
            "ble_thermo", "Thermometer", "Xiaomi", "LYWSD03MMC", "ble", "battery", "coin", (250, 450), 10, 10,
            (1,),
            (_TEMP, _HUM, _BATTERY, _RSSI),
        ),
        DeviceTemplate(
            "zb_plug", "Plug", "IKEA", "E1603", "zigbee", "mains", "none", (0, 0), 15, 0, (1,),
            (EntityTemplate("switch", "", "switch"), _POWER, _LQI),
            events_per_day=3, router=True,
        ),
        DeviceTemplate(
            "zb_bulb", "Light", "Philips", "LCT015", "zigbee", "mains", "none", (0, 0), 60, 0, (1,),
            (EntityTemplate("light", "", "switch"),),
            events_per_day=5, router=True,
        ),
        DeviceTemplate(
            "wifi_plug", "Plug", "Shelly", "Plug S", "wifi", "mains", "none", (0, 0), 10, 0, (1,),
            (EntityTemplate("switch", "", "switch"), _POWER, _WIFI),
            events_per_day=3,
        ),
        DeviceTemplate(
            "esphome", "Node", "Espressif", "ESP32", "wifi", "mains", "none", (0, 0), 10, 0, (1,),
            (_TEMP, _WIFI),
        ),
        DeviceTemplate(
            "zw_switch", "Switch", "Zooz", "ZEN71", "zwave", "mains", "none", (0, 0), 240, 0, (1,),
            (EntityTemplate("switch", "", "switch"),),
            events_per_day=4, router=True,
        ),
        DeviceTemplate(
            "tv", "TV", "LG", "OLED55C1", "wifi", "mains", "none", (0, 0), 30, 0, (1,),
            (EntityTemplate("media_player", "", "media"),),
            events_per_day=2,
        ),
        DeviceTemplate(
            "printer", "Printer", "Brother", "HL-L2350DW", "wifi", "mains", "none", (0, 0), 60, 0, (1,),
            (EntityTemplate("sensor", "", "printer"),),
        ),
    )
}

# fmt: on

# Integrations by radio (one drawn per home for Zigbee), and how long each takes to mark a
# silent device unavailable: (mains, battery) seconds; None: it never does.
ZIGBEE_STACKS: Final = ("zha", "mqtt", "mqtt")  # zigbee2mqtt is the commoner
AVAILABILITY_DELAY: Final[dict[str, tuple[float | None, float | None]]] = {
    "zha": (7200.0, 21600.0),
    "mqtt": (600.0, 90000.0),  # zigbee2mqtt with availability on; some homes turn it off
    "zwave_js": (120.0, None),  # sleeping battery nodes are never marked dead
    "shelly": (60.0, None),
    "esphome": (30.0, None),
    "webostv": (60.0, None),
    "ipp": (60.0, None),
    "bthome": (None, 900.0),  # no advertisement for 15 min
}
INTEGRATION_BY_KIND: Final[dict[str, str]] = {
    "lock": "zwave_js",
    "zw_multi": "zwave_js",
    "zw_switch": "zwave_js",
    "ble_thermo": "bthome",
    "wifi_plug": "shelly",
    "esphome": "esphome",
    "tv": "webostv",
    "printer": "ipp",
}
# How many of each kind a home has: (low, high) inclusive.
HOME_MIX: Final[dict[str, tuple[int, int]]] = {
    "contact": (3, 7),
    "motion": (2, 5),
    "climate": (2, 5),
    "leak": (0, 3),
    "remote": (0, 2),
    "lock": (0, 2),
    "zw_multi": (0, 2),
    "ble_thermo": (0, 4),
    "zb_plug": (2, 5),
    "zb_bulb": (2, 6),
    "wifi_plug": (1, 4),
    "esphome": (0, 2),
    "zw_switch": (0, 2),
    "tv": (0, 2),
    "printer": (0, 1),
}
# fmt: off
ROOMS: Final = (
    "Kitchen", "Living Room", "Hallway", "Bedroom", "Office", "Bathroom", "Garage", "Garden", "Attic",
    "Kids Room", "Laundry", "Basement", "Porch", "Dining Room", "Guest Room",
)
# fmt: on
