"""The catalog of devices: kinds, models and chemistries, names, and the mixes of home types.

Each kind lists its models (manufacturer, protocol, integration, battery
chemistry and life); each home type its mix of kinds, its size and the chance
of each protocol stack. Also the areas, the integrations by radio, the bridge
kinds and the state strings of the non-numeric domains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from custom_components.homeiq_device_intel.ml.records import Chemistry, Power, Protocol

# Token of each state string of the non-numeric domains (code == index).
STATE_SYMBOLS: Final[Mapping[str, tuple[str, ...]]] = {
    "binary_sensor": ("off", "on"),
    "switch": ("off", "on"),
    "light": ("off", "on"),
    "lock": ("locked", "unlocked"),
    "camera": ("idle", "recording"),
    "climate": ("off", "heat", "cool"),
}


@dataclass(frozen=True, slots=True)
class _Model:
    manufacturer: str
    model: str
    protocol: Protocol
    integration: str  # "" for zigbee/thread: the home's stack decides
    chemistry: Chemistry = Chemistry.NONE
    life_days: tuple[float, float] = (0.0, 0.0)  # per battery or per charge
    weight: float = 1.0

    @property
    def power(self) -> Power:
        """Return how the model is powered."""
        if self.chemistry is Chemistry.NONE:
            return Power.MAINS
        if self.chemistry in (Chemistry.LI_ION, Chemistry.NIMH):
            return Power.RECHARGEABLE
        return Power.BATTERY


_Z, _W, _B, _T, _ZW = Protocol.ZIGBEE, Protocol.WIFI, Protocol.BLE, Protocol.THREAD, Protocol.ZWAVE


_COIN, _LITH, _ALK = Chemistry.COIN, Chemistry.LITHIUM, Chemistry.ALKALINE


_LION, _NIMH = Chemistry.LI_ION, Chemistry.NIMH


_MODELS: Final[dict[str, tuple[_Model, ...]]] = {
    "door_window": (
        _Model("Aqara", "MCCGQ11LM", _Z, "", _COIN, (600, 1400), 3.0),
        _Model("SONOFF", "SNZB-04", _Z, "", _COIN, (500, 1100), 2.0),
        _Model("IKEA", "PARASOLL E2013", _Z, "", _NIMH, (150, 400)),
        _Model("Aeotec", "Door/Window Sensor 7", _ZW, "zwave_js", _LITH, (500, 1000), 1.5),
        _Model("Shelly", "Door/Window 2", _W, "shelly", _LITH, (250, 500)),
        _Model("SwitchBot", "Contact Sensor", _B, "switchbot", _ALK, (400, 800)),
        _Model("Eve", "Door & Window", _T, "", _LITH, (400, 900)),
    ),
    "motion": (
        _Model("Aqara", "RTCGQ11LM", _Z, "", _COIN, (300, 700), 3.0),
        _Model("Philips", "SML001", _Z, "", _ALK, (500, 900), 2.0),
        _Model("SONOFF", "SNZB-03", _Z, "", _COIN, (250, 600)),
        _Model("Aeotec", "MultiSensor 7", _ZW, "zwave_js", _LITH, (300, 600)),
        _Model("Shelly", "Motion 2", _W, "shelly", _LION, (120, 300)),
        _Model("Xiaomi", "RTCGQ02LM", _B, "xiaomi_ble", _COIN, (300, 700)),
        _Model("Eve", "Motion", _T, "", _ALK, (400, 800)),
    ),
    "temperature": (
        _Model("Aqara", "WSDCGQ11LM", _Z, "", _COIN, (300, 600), 3.0),
        _Model("SONOFF", "SNZB-02", _Z, "", _COIN, (250, 500), 2.0),
        _Model("Xiaomi", "LYWSD03MMC", _B, "bthome", _COIN, (200, 450), 2.0),
        _Model("Govee", "H5075", _B, "govee_ble", _ALK, (300, 600)),
        _Model("Shelly", "H&T", _W, "shelly", _LITH, (300, 600)),
        _Model("Zooz", "ZSE44", _ZW, "zwave_js", _COIN, (300, 600)),
        _Model("Eve", "Weather", _T, "", _ALK, (300, 600)),
        _Model("ESPHome", "ESP32 BME280", _W, "esphome", Chemistry.NONE, weight=0.7),
    ),
    "leak": (
        _Model("Aqara", "SJCGQ11LM", _Z, "", _COIN, (700, 1600), 2.0),
        _Model("Zooz", "ZSE42", _ZW, "zwave_js", _COIN, (600, 1400)),
        _Model("Shelly", "Flood", _W, "shelly", _LITH, (500, 1000)),
        _Model("SONOFF", "SNZB-05P", _Z, "", _COIN, (600, 1400)),
    ),
    "lock": (
        _Model("Yale", "Assure Lock 2", _ZW, "zwave_js", _ALK, (150, 400), 2.0),
        _Model("Danalock", "V3", _ZW, "zwave_js", _LITH, (250, 500)),
        _Model("Nuki", "Smart Lock 4.0 Pro", _T, "", _LION, (60, 180), 1.5),
        _Model("Kwikset", "914", _Z, "", _ALK, (150, 400)),
        _Model("SwitchBot", "Lock", _B, "switchbot", _LITH, (200, 400)),
        _Model("Aqara", "U100", _T, "", _ALK, (180, 360)),
    ),
    "remote": (
        _Model("IKEA", "STYRBAR E2001", _Z, "", _ALK, (500, 900), 2.0),
        _Model("Philips", "RWL022", _Z, "", _COIN, (700, 1500), 2.0),
        _Model("Aqara", "WXKG11LM", _Z, "", _COIN, (700, 1500)),
        _Model("Shelly", "BLU Button1", _B, "bthome", _COIN, (500, 1000)),
        _Model("Aeotec", "WallMote Quad", _ZW, "zwave_js", _LION, (120, 300)),
        _Model("Shelly", "Button1", _W, "shelly", _LION, (60, 150), 0.5),
    ),
    "trv": (
        _Model("Danfoss", "Ally eTRV", _Z, "", _ALK, (250, 500), 2.0),
        _Model("Aqara", "SRTS-A01", _Z, "", _ALK, (250, 500), 1.5),
        _Model("Eurotronic", "Spirit Z-Wave", _ZW, "zwave_js", _ALK, (250, 450)),
        _Model("Shelly", "TRV", _W, "shelly", _LION, (300, 600)),
        _Model("Eve", "Thermo", _T, "", _ALK, (250, 450)),
    ),
    "thermostat": (
        _Model("ecobee", "SmartThermostat", _W, "homekit_controller"),
        _Model("Google", "Nest Thermostat", _W, "nest"),
        _Model("Honeywell", "T6 Pro Z-Wave", _ZW, "zwave_js"),
    ),
    "plug": (
        _Model("IKEA", "TRETAKT", _Z, "", weight=2.0),
        _Model("SONOFF", "S26R2ZB", _Z, ""),
        _Model("Shelly", "Plus Plug S", _W, "shelly", weight=2.0),
        _Model("TP-Link", "Kasa KP115", _W, "tplink", weight=1.5),
        _Model("Eve", "Energy", _T, ""),
        _Model("Aeotec", "Smart Switch 7", _ZW, "zwave_js"),
        _Model("Athom", "Smart Plug V2", _W, "esphome"),
    ),
    "light": (
        _Model("Philips", "Hue White A60", _Z, "", weight=3.0),
        _Model("IKEA", "TRADFRI LED1836G9", _Z, "", weight=2.0),
        _Model("WiZ", "A60 Tunable White", _W, "wiz"),
        _Model("LIFX", "Mini", _W, "lifx"),
        _Model("Nanoleaf", "Essentials A19", _T, ""),
    ),
    "switch": (
        _Model("Shelly", "Plus 1", _W, "shelly", weight=2.0),
        _Model("Zooz", "ZEN71", _ZW, "zwave_js"),
        _Model("Aqara", "H1 EU", _Z, ""),
        _Model("SONOFF", "ZBMINI", _Z, ""),
    ),
    "camera": (
        _Model("Reolink", "E1 Pro", _W, "reolink", weight=2.0),
        _Model("Reolink", "Argus 3 Pro", _W, "reolink", _LION, (40, 120)),
        _Model("Ring", "Stick Up Cam Battery", _W, "ring", _LION, (30, 90)),
        _Model("Ubiquiti", "G4 Bullet", _W, "unifiprotect"),
    ),
    "router": (
        _Model("AVM", "FRITZ!Box 7590", _W, "fritz"),
        _Model("Ubiquiti", "UniFi Dream Machine", _W, "unifi"),
        _Model("ASUS", "RT-AX88U", _W, "asuswrt"),
    ),
    "zigbee_coordinator": (
        _Model("Nabu Casa", "Home Assistant Connect ZBT-1", _Z, ""),
        _Model("ITead", "Sonoff Zigbee 3.0 USB Dongle Plus", _Z, ""),
        _Model("SMLIGHT", "SLZB-06", _Z, ""),
    ),
    "zwave_controller": (
        _Model("Aeotec", "Z-Stick 7", _ZW, "zwave_js"),
        _Model("Zooz", "ZST39 800 LR", _ZW, "zwave_js"),
    ),
    "border_router": (_Model("Nabu Casa", "OpenThread Border Router", _T, "otbr"),),
}


_LABELS: Final[dict[str, tuple[str, ...]]] = {
    "door_window": ("Door", "Window", "Front Door", "Back Door", "Patio Door", "Skylight"),
    "motion": ("Motion", "Motion Sensor", "Presence"),
    "temperature": ("Thermometer", "Climate Sensor", "TH Sensor"),
    "leak": ("Leak Sensor", "Water Sensor", "Flood Sensor"),
    "lock": ("Door Lock", "Smart Lock"),
    "remote": ("Remote", "Button", "Dimmer"),
    "trv": ("Radiator", "Radiator Valve", "TRV"),
    "thermostat": ("Thermostat",),
    "plug": ("Plug", "Smart Plug", "TV Plug", "Fridge Plug", "Washer Plug", "Lamp Plug"),
    "light": ("Light", "Ceiling Light", "Lamp", "Spots", "LED Strip"),
    "switch": ("Switch", "Wall Switch", "Fan Switch"),
    "camera": ("Camera", "Cam", "Doorbell Camera"),
}


# fmt: off
_KIND_WEIGHTS: Final[dict[str, dict[str, float]]] = {
    "apartment": {
        "door_window": 2.0, "motion": 2.0, "temperature": 2.5, "leak": 0.6, "lock": 0.4,
        "remote": 1.0, "trv": 0.8, "thermostat": 0.3, "plug": 2.5, "light": 3.0,
        "switch": 0.8, "camera": 0.4,
    },
    "house": {
        "door_window": 3.0, "motion": 2.5, "temperature": 2.5, "leak": 1.2, "lock": 0.8,
        "remote": 1.0, "trv": 1.5, "thermostat": 0.5, "plug": 2.5, "light": 3.0,
        "switch": 2.0, "camera": 1.0,
    },
    "large_house": {
        "door_window": 3.5, "motion": 3.0, "temperature": 2.5, "leak": 1.5, "lock": 1.0,
        "remote": 1.0, "trv": 2.0, "thermostat": 0.6, "plug": 2.5, "light": 3.5,
        "switch": 2.5, "camera": 1.5,
    },
    "smart_enthusiast": {
        "door_window": 3.0, "motion": 3.0, "temperature": 3.5, "leak": 1.5, "lock": 1.0,
        "remote": 1.5, "trv": 2.0, "thermostat": 0.5, "plug": 3.0, "light": 3.0,
        "switch": 2.0, "camera": 1.5,
    },
}
# fmt: on


# (min, max) devices, then the chance of each protocol stack being present.
_HOME_SIZES: Final[dict[str, tuple[int, int]]] = {
    "apartment": (8, 25),
    "house": (20, 60),
    "large_house": (50, 110),
    "smart_enthusiast": (80, 160),
}


_STACK_CHANCE: Final[dict[str, dict[str, float]]] = {
    "apartment": {"zigbee": 0.6, "zwave": 0.1, "ble": 0.6, "thread": 0.3},
    "house": {"zigbee": 0.9, "zwave": 0.4, "ble": 0.6, "thread": 0.3},
    "large_house": {"zigbee": 1.0, "zwave": 0.6, "ble": 0.7, "thread": 0.5},
    "smart_enthusiast": {"zigbee": 1.0, "zwave": 0.8, "ble": 1.0, "thread": 0.8},
}


_INDOOR_AREAS: Final = (
    "Living Room", "Kitchen", "Bedroom", "Bathroom", "Hallway", "Office", "Dining Room",
    "Kids Room", "Guest Room", "Laundry", "Basement", "Attic", "Garage", "Gym",
)  # fmt: skip


_OUTDOOR_AREAS: Final = ("Garden", "Porch", "Driveway", "Patio")


_WIFI_INTEGRATIONS: Final = frozenset(
    {"shelly", "tplink", "esphome", "wiz", "lifx", "homekit_controller", "nest", "reolink",
     "ring", "unifiprotect", "fritz", "unifi", "asuswrt"}
)  # fmt: skip


_BLE_INTEGRATIONS: Final = frozenset({"switchbot", "xiaomi_ble", "bthome", "govee_ble"})


_ALL_INTEGRATIONS: Final = tuple(
    sorted(_WIFI_INTEGRATIONS | _BLE_INTEGRATIONS | {"zha", "mqtt", "zwave_js", "matter", "otbr"})
)


_BRIDGE_KINDS: Final = frozenset({"router", "zigbee_coordinator", "zwave_controller", "border_router"})
