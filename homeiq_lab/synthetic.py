"""Synthetic homes: seeded, template-based device histories with failure scenarios.

`generate_home(config, i)` builds the `HomeHistory` of home `i` exactly as the
recorder source would: state rows only where the state string or attributes
change, `unavailable` episodes, restart replays and hourly long-term statistics.
Every device gets a scenario family ("healthy" for most); its failures, swaps
and bridge outages are listed in `ground_truth`.

Scenario families: battery_cliff (coin/lithium), battery_slope (alkaline and
uncharged rechargeables), sudden_death, intermittent_dropouts, flapping,
stuck_value, stale, signal_decay, and bridge_outage for coordinators/routers
(every device behind them goes unavailable together; not a device failure).
Whether a dead device shows as `unavailable` or goes stale depends on its
integration, as in HA (ZHA marks battery devices after 6 h, Zigbee2MQTT only
with availability on, Z-Wave battery devices never).

Entities are named as HA names them: `<domain>.<device slug>[_<suffix>]`, e.g.
binary_sensor.kitchen_door_contact, sensor.kitchen_door_battery,
sensor.kitchen_door_linkquality, lock.hallway_door_lock.

Everything is vectorised per entity (the whole series at once); Python loops
run over devices, entities and battery cycles, never over rows. Each home and
each device draws from its own seeded stream, so a home is bit-identical for a
config and seed whatever the number of workers, and a home's devices stay the
same when only its failure settings change.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.records import (
    UNAVAILABLE,
    UNKNOWN,
    Chemistry,
    DeviceRecord,
    EntityRecord,
    EntityRole,
    FailureEvent,
    FailureType,
    HomeHistory,
    Power,
    Protocol,
    StateSeries,
    StatSeries,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]
Int64Array = npt.NDArray[np.int64]

GENERATOR_VERSION: Final = "1.2.0"
# The stored history files' field names (2: `device_key` for the watch key); part of the cache key.
HISTORY_FILE_FORMAT: Final = 2

MINUTE: Final = 60.0
HOUR: Final = 3600.0
DAY: Final = 86400.0
YEAR: Final = 365.2425 * DAY
DEFAULT_START: Final = datetime(2024, 1, 1, tzinfo=UTC).timestamp()

HOME_TYPES: Final[tuple[str, ...]] = ("apartment", "house", "large_house", "smart_enthusiast")
FAILURE_FAMILIES: Final[tuple[str, ...]] = (
    "battery_cliff",
    "battery_slope",
    "sudden_death",
    "intermittent_dropouts",
    "flapping",
    "stuck_value",
    "stale",
    "signal_decay",
)
SCENARIO_FAMILIES: Final[tuple[str, ...]] = ("healthy", *FAILURE_FAMILIES, "bridge_outage")
# How often each family is drawn for a failing device it suits: batteries are
# what fails most in real homes.
DEFAULT_SCENARIO_WEIGHTS: Final[Mapping[str, float]] = {
    "battery_cliff": 3.0,
    "battery_slope": 3.0,
    "sudden_death": 1.0,
    "intermittent_dropouts": 1.0,
    "flapping": 0.7,
    "stuck_value": 1.5,
    "stale": 1.5,
    "signal_decay": 1.0,
}
EVENT_KINDS: Final[tuple[str, ...]] = (
    FailureType.BATTERY_DEPLETED.value,
    FailureType.UNAVAILABLE.value,
    FailureType.STALE.value,
    "bridge_outage",
    "flapping",
    "stuck",
    "swap",
)
# Token of each state string of the non-numeric domains (code == index).
STATE_SYMBOLS: Final[Mapping[str, tuple[str, ...]]] = {
    "binary_sensor": ("off", "on"),
    "switch": ("off", "on"),
    "light": ("off", "on"),
    "lock": ("locked", "unlocked"),
    "camera": ("idle", "recording"),
    "climate": ("off", "heat", "cool"),
}

# Row keys of the special states while rows are assembled (never in the output).
_UNAVAILABLE_KEY: Final = -math.inf
_UNKNOWN_KEY: Final = math.inf
# After a restart every entity has written its replay rows within this time.
_REPLAY_WINDOW: Final = 200.0
_ENTITY_ID = re.compile(r"^[a-z_]+\.[a-z0-9_]+$")


# --------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True, kw_only=True)
class Variation:
    """Scales of the generator's behaviour; shift them to build unseen kinds of homes."""

    report_rate: float = 1.0  # multiplies how often devices report
    activity: float = 1.0  # multiplies door/motion/light usage
    noise: float = 1.0  # multiplies measurement noise
    precursor_strength: float = 1.0  # > 1 clearer warnings, < 1 fainter ones
    no_precursor_fraction: float = 0.2  # share of failures with no warning at all
    lead_time_days: float = 5.0  # median lead time of a precursor
    lead_time_spread: float = 0.8  # sigma of the log lead time
    battery_life: float = 1.0  # multiplies battery life
    dropout_rate: float = 1.0  # background dropouts of healthy devices
    restart_rate: float = 1.0  # Home Assistant restarts
    bridge_outage_rate: float = 1.0  # coordinator/router outages
    decoy_rate: float = 1.0  # healthy devices with precursor-like episodes
    home_spread: float = 0.25  # per-home log-normal spread of the scales


# Another plausible world, for evaluation on homes unlike the training homes.
SHIFTED_VARIATION: Final = Variation(
    report_rate=0.7,
    activity=1.3,
    noise=1.4,
    precursor_strength=0.8,
    no_precursor_fraction=0.25,
    lead_time_days=4.0,
    lead_time_spread=0.9,
    battery_life=0.8,
    dropout_rate=1.5,
    restart_rate=1.5,
    bridge_outage_rate=1.5,
    decoy_rate=1.5,
    home_spread=0.35,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratorConfig:
    """What to generate: how many homes, how long, how many failures, and the seed."""

    n_homes: int = 10
    days: float = 90.0
    devices_per_home: tuple[int, int] | None = None  # None: by home type
    n_devices: int | None = None  # total over all homes; overrides devices_per_home
    home_types: tuple[str, ...] = HOME_TYPES
    failure_rate: float = 0.15  # share of (non-bridge) devices given a failure family
    # family -> weight (unlisted families 0); None: DEFAULT_SCENARIO_WEIGHTS
    scenario_weights: Mapping[str, float] | None = None
    seed: int = 0
    start: float = DEFAULT_START
    variation: Variation = Variation()


def config_fingerprint(config: GeneratorConfig) -> str:
    """Return a hash of the config and the generator version (the cache key)."""
    payload = {
        "generator_version": GENERATOR_VERSION,
        "file_format": HISTORY_FILE_FORMAT,
        **_config_dict(config),
    }
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _config_dict(config: GeneratorConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, Variation):
            value = {v.name: getattr(value, v.name) for v in fields(value)}
        elif isinstance(value, Mapping):
            value = {k: float(value[k]) for k in sorted(value)}
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _validate(config: GeneratorConfig) -> None:
    if config.n_homes < 1:
        raise ValueError("n_homes must be at least 1")
    if not config.days > 0:
        raise ValueError("days must be positive")
    if config.devices_per_home is not None:
        low, high = config.devices_per_home
        if low < 1 or high < low:
            raise ValueError("devices_per_home must be (min, max) with 1 <= min <= max")
    if config.n_devices is not None and config.n_devices < config.n_homes:
        raise ValueError("n_devices must be at least n_homes")
    if not config.home_types or not set(config.home_types) <= set(HOME_TYPES):
        raise ValueError(f"home_types must be a non-empty subset of {HOME_TYPES}")
    if not 0.0 <= config.failure_rate <= 1.0:
        raise ValueError("failure_rate must be within [0, 1]")
    if config.scenario_weights is not None:
        unknown = set(config.scenario_weights) - set(FAILURE_FAMILIES)
        if unknown:
            raise ValueError(f"unknown scenario families: {sorted(unknown)}")
        if any(w < 0 for w in config.scenario_weights.values()):
            raise ValueError("scenario weights must be >= 0")
    variation = config.variation
    for f in fields(variation):
        if not getattr(variation, f.name) >= 0:
            raise ValueError(f"variation.{f.name} must be >= 0")
    if variation.no_precursor_fraction > 1:
        raise ValueError("variation.no_precursor_fraction must be within [0, 1]")
    if variation.lead_time_days <= 0 or variation.report_rate <= 0:
        raise ValueError("variation.lead_time_days and report_rate must be positive")


# --------------------------------------------------------------------------- templates


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

# Hourly activity profiles (weekday, weekend) of rooms, evening lights, outdoors, appliances.
_INDOOR, _EVENING, _OUTDOOR, _FLAT = 0, 1, 2, 3
_BASE_PROFILES: Final = np.array(
    [
        [  # rooms: weekday, weekend
            [.05, .03, .03, .03, .05, .15, .8, 1.8, 1.6, .7, .5, .5,
             .6, .5, .5, .6, .9, 1.5, 2., 2.2, 2., 1.6, 1., .4],
            [.1, .05, .03, .03, .03, .05, .2, .6, 1.2, 1.6, 1.5, 1.3,
             1.4, 1.2, 1.1, 1.1, 1.2, 1.5, 1.8, 2., 1.9, 1.6, 1.2, .6],
        ],
        [  # evening lights
            [.1, .05, .03, .03, .03, .1, .6, .8, .4, .1, .05, .05,
             .05, .05, .1, .2, .6, 1.8, 3., 3.5, 3.2, 2.6, 1.6, .6],
            [.2, .1, .05, .03, .03, .05, .1, .3, .6, .5, .3, .2,
             .2, .2, .3, .5, .9, 1.8, 3., 3.5, 3.4, 2.8, 2., 1.],
        ],
        [  # outdoors
            [.05, .03, .03, .03, .05, .2, .8, 1.6, 1.2, .8, .8, .9,
             1., 1., 1.1, 1.3, 1.8, 1.9, 1.6, 1.2, .8, .5, .2, .1],
            [.05, .03, .03, .03, .03, .05, .2, .6, 1.2, 1.6, 1.8, 1.9,
             1.9, 1.9, 1.8, 1.7, 1.6, 1.4, 1.2, .9, .6, .4, .2, .1],
        ],
        [  # appliances
            [.7, .6, .6, .6, .6, .7, .9, 1.1, 1.1, 1., 1., 1.,
             1.1, 1.1, 1., 1., 1.1, 1.2, 1.3, 1.4, 1.3, 1.2, 1., .8],
            [.7, .6, .6, .6, .6, .6, .7, .9, 1.1, 1.2, 1.2, 1.2,
             1.2, 1.2, 1.2, 1.2, 1.2, 1.3, 1.3, 1.4, 1.3, 1.2, 1., .8],
        ],
    ],
    dtype=np.float64,
)  # fmt: skip


# --------------------------------------------------------------------------- plans


@dataclass(slots=True, kw_only=True)
class _Home:
    index: int
    home_id: str
    home_type: str
    start: float
    end: float
    var: Variation
    tz: float
    profiles: FloatArray  # (4, 2, 24)
    vacation_lo: FloatArray
    vacation_hi: FloatArray
    outdoor_mean: float
    outdoor_amp: float
    outdoor_daily: float
    season_shift: float
    outdoor_knots: FloatArray  # (2, n): times, values
    restarts: FloatArray
    downtime: FloatArray
    restart_mode: dict[str, tuple[bool, float, float]]  # -> (unavailable first, delay, for)
    mqtt_availability: bool
    n_devices: int
    stacks: dict[str, bool]
    zigbee_stacks: tuple[str, ...]
    thread_integration: str

    def local(self, t: FloatArray) -> tuple[Int64Array, BoolArray]:
        """Return the local hour of day and whether it is a weekend day."""
        local = t + self.tz
        days = np.floor(local / DAY)
        hour = ((local - days * DAY) // HOUR).astype(np.int64)
        weekend = (days.astype(np.int64) + 3) % 7 >= 5
        return np.minimum(hour, 23), weekend

    def activity(self, t: FloatArray, profile: int) -> FloatArray:
        """Return the relative usage intensity (weekly mean 1) at times t."""
        hour, weekend = self.local(t)
        level: FloatArray = self.profiles[profile, weekend.astype(np.int64), hour]
        if profile != _FLAT and self.vacation_lo.size:
            away = _inside(t, self.vacation_lo, self.vacation_hi)
            level = np.where(away, level * 0.03, level)
        return level

    def season(self, t: FloatArray) -> FloatArray:
        """Return +1 in mid-summer and -1 in mid-winter (northern hemisphere)."""
        doy = (t / DAY) % 365.2425
        result: FloatArray = np.cos(2.0 * np.pi * (doy - 196.0 - self.season_shift) / 365.2425)
        return result

    def daily(self, t: FloatArray, peak_hour: float) -> FloatArray:
        """Return a daily cosine cycle (+1 at the local peak hour)."""
        hours = ((t + self.tz) % DAY) / HOUR
        result: FloatArray = np.cos(2.0 * np.pi * (hours - peak_hour) / 24.0)
        return result

    def outdoor_temperature(self, t: FloatArray) -> FloatArray:
        """Return the outdoor temperature in °C at times t."""
        weather = np.interp(t, self.outdoor_knots[0], self.outdoor_knots[1])
        result: FloatArray = (
            self.outdoor_mean
            + self.outdoor_amp * self.season(t)
            + self.outdoor_daily * self.daily(t, 15.0)
            + weather
        )
        return result

    def indoor_temperature(self, t: FloatArray) -> FloatArray:
        """Return a typical heated-room temperature in °C at times t."""
        result: FloatArray = 21.0 + 1.5 * np.maximum(self.season(t), 0.0) + 0.6 * self.daily(t, 19.0)
        return result


@dataclass(frozen=True, slots=True)
class _EntitySpec:
    info: EntityRecord
    stream: str
    numeric: bool
    statistics: bool


@dataclass(slots=True, kw_only=True)
class _Battery:
    chemistry: Chemistry
    knee: float
    shape: float
    plateau: float
    step: float
    ceil_steps: bool
    noise: float
    cold_coef: float
    low_threshold: float
    notice_level: float
    v_empty: float
    v_full: float
    v_millivolts: bool
    interval: float
    grid_t: FloatArray  # hourly times
    grid_w: FloatArray  # charge used up by then (state-of-charge units)
    # One row per battery (or charge): when it starts, its state of charge once
    # charged, how long charging takes (0 for a swap) and the charge it starts from.
    cycle_t: FloatArray = field(default_factory=lambda: np.zeros(1))
    cycle_s: FloatArray = field(default_factory=lambda: np.ones(1))
    cycle_ramp: FloatArray = field(default_factory=lambda: np.zeros(1))
    cycle_from: FloatArray = field(default_factory=lambda: np.ones(1))


@dataclass(slots=True, kw_only=True)
class _Failure:
    family: str
    onset: float
    strength: float
    lead: float
    recovery: float  # when the device works again (inf: never)
    extra: float = math.nan  # family specific: end of flapping


@dataclass(slots=True, kw_only=True)
class _Device:
    info: DeviceRecord
    rng: np.random.Generator
    slug: str
    model: _Model
    kind: str
    outdoor: bool
    bridge: bool
    timeout: float | None
    t_create: float
    params: dict[str, float]
    entities: list[_EntitySpec] = field(default_factory=list)
    scenario: str = "healthy"
    failure: _Failure | None = None
    silences: list[tuple[float, float]] = field(default_factory=list)
    direct_unavailable: list[tuple[float, float]] = field(default_factory=list)
    drops: list[tuple[FloatArray, FloatArray]] = field(default_factory=list)
    # signal dips: (start, deepest at, depth, recovered at)
    dips: list[tuple[float, float, float, float]] = field(default_factory=list)
    # stuck sensor: (holds start, frozen at, strength, fixed at, longest hold in s)
    stuck: tuple[float, float, float, float, float] | None = None
    own_outages: list[tuple[float, float]] = field(default_factory=list)
    battery: _Battery | None = None
    battery_rows: tuple[FloatArray, FloatArray, FloatArray] | None = None
    sessions: tuple[FloatArray, FloatArray] | None = None
    silent: tuple[FloatArray, FloatArray] = (np.empty(0), np.empty(0))
    unavailable: tuple[FloatArray, FloatArray] = (np.empty(0), np.empty(0))
    events: list[FailureEvent] = field(default_factory=list)
    swaps: FloatArray = field(default_factory=lambda: np.empty(0))

    @property
    def has_signal(self) -> bool:
        """Return whether the device has a signal strength entity."""
        return any(e.info.role is EntityRole.SIGNAL for e in self.entities)


@dataclass(slots=True)
class _Stream:
    time: FloatArray
    key: FloatArray  # the numeric value, or the token of a non-numeric state
    attr: FloatArray | None = None  # attributes whose changes also write rows
    labels: tuple[str, ...] = ()  # state string of each token (non-numeric)


# --------------------------------------------------------------------------- array helpers


def _rng(config: GeneratorConfig, home_index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(home_index, stream)))


def _inside(t: FloatArray, lo: FloatArray, hi: FloatArray) -> BoolArray:
    """Return whether each time lies in one of the sorted disjoint [lo, hi) intervals."""
    if lo.size == 0:
        return np.zeros(t.shape, dtype=np.bool_)
    idx = np.searchsorted(lo, t, side="right") - 1
    result: BoolArray = (idx >= 0) & (t < hi[np.maximum(idx, 0)])
    return result


def _union(lo: FloatArray, hi: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Merge intervals into sorted, disjoint ones (empty ones are dropped)."""
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    if lo.size <= 1:
        return lo.astype(np.float64), hi.astype(np.float64)
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], hi[order]
    reach = np.maximum.accumulate(hi)
    new = np.ones(lo.size, dtype=np.bool_)
    new[1:] = lo[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, lo.size - 1)
    return lo[first], reach[last]


def _intervals(pairs: Sequence[tuple[float, float]]) -> tuple[FloatArray, FloatArray]:
    if not pairs:
        return np.empty(0), np.empty(0)
    arr = np.asarray(pairs, dtype=np.float64)
    return arr[:, 0].copy(), arr[:, 1].copy()


def _report_times(
    rng: np.random.Generator, t0: float, t1: float, interval: float, jitter: float
) -> FloatArray:
    """Return t0 followed by jittered periodic report times in (t0, t1)."""
    span = t1 - t0
    n = int(span / interval * (1.0 + jitter)) + 16
    # Uniform jitter of relative standard deviation `jitter` (cheaper than log-normal).
    spread = interval * jitter * math.sqrt(3.0)
    gaps = rng.uniform(interval - spread, interval + spread, n)
    times = t0 + rng.uniform(0.0, interval) + np.cumsum(gaps)
    while times[-1] < t1:
        more = rng.uniform(interval - spread, interval + spread, n)
        times = np.concatenate([times, times[-1] + np.cumsum(more)])
    times = times[: int(np.searchsorted(times, t1))]
    return np.concatenate([[t0], times])


def _times_between(rng: np.random.Generator, lo: float, hi: float, n: int) -> FloatArray:
    """Return n sorted uniform times in [lo, hi] (none if the span is empty)."""
    if hi <= lo:
        return np.empty(0)
    return np.sort(rng.uniform(lo, hi, n))


def _smooth_noise(
    rng: np.random.Generator, t0: float, t1: float, spacing: float, sigma: float, t: FloatArray
) -> FloatArray:
    """Return slowly varying Gaussian noise (random knots, linearly interpolated)."""
    n = int((t1 - t0) / spacing) + 4
    knots = t0 - spacing + spacing * np.arange(n)
    result: FloatArray = np.interp(t, knots, rng.normal(0.0, sigma, n))
    return result


def _quantize(x: FloatArray, step: float, decimals: int) -> FloatArray:
    """Round to the display precision (a -0.0 becomes 0.0)."""
    result: FloatArray = np.round(np.round(x / step) * step, decimals) + 0.0
    return result


def _change_mask(t: FloatArray, x: FloatArray, threshold: float, heartbeat: float) -> BoolArray:
    """Return which samples a device reports: threshold crossings plus a heartbeat."""
    bucket = np.floor(x / threshold)
    beat = np.floor((t - t[0]) / heartbeat)
    mask = np.empty(t.shape, dtype=np.bool_)
    mask[0] = True
    mask[1:] = (bucket[1:] != bucket[:-1]) | (beat[1:] != beat[:-1])
    return mask


def _poisson_times(
    rng: np.random.Generator, home: _Home, t0: float, t1: float, per_day: float, profile: int
) -> FloatArray:
    """Return event times of a Poisson process following the home's activity profile."""
    peak = float(home.profiles[profile].max())
    n = int(rng.poisson(per_day * peak * (t1 - t0) / DAY))
    t = np.sort(rng.uniform(t0, t1, n))
    accept = rng.random(n) * peak < home.activity(t, profile)
    result: FloatArray = t[accept]
    return result


def _merge_sessions(starts: FloatArray, duration: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Merge overlapping (start, start + duration) sessions; return starts and ends."""
    if starts.size == 0:
        return starts, starts.copy()
    ends = starts + duration
    reach = np.maximum.accumulate(ends)
    new = np.ones(starts.size, dtype=np.bool_)
    new[1:] = starts[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, starts.size - 1)
    return starts[first], reach[last]


def _shift_out(t: FloatArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """Move times that fall inside [lo, hi) windows to just after the window."""
    if lo.size == 0 or t.size == 0:
        return t
    idx = np.searchsorted(lo, t, side="right") - 1
    inside = (idx >= 0) & (t < hi[np.maximum(idx, 0)])
    result: FloatArray = np.where(inside, hi[np.maximum(idx, 0)] + 1.0, t)
    return result


def _floats(values: FloatArray) -> list[float]:
    return cast("list[float]", values.tolist())


def _spans(lo: FloatArray, hi: FloatArray) -> list[tuple[float, float]]:
    return list(zip(_floats(lo), _floats(hi), strict=True))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _pick(rng: np.random.Generator, items: Sequence[str], weights: Sequence[float]) -> str:
    p = np.asarray(weights, dtype=np.float64)
    return items[int(rng.choice(len(items), p=p / p.sum()))]


# --------------------------------------------------------------------------- batteries


_CURVE_DEFAULTS: Final[dict[Chemistry, tuple[float, float, float]]] = {
    # knee (state of charge where the cliff starts), shape, plateau level at the knee
    Chemistry.COIN: (0.04, 2.5, 0.85),
    Chemistry.LITHIUM: (0.06, 2.5, 0.9),
    Chemistry.NIMH: (0.12, 2.0, 0.55),
    Chemistry.ALKALINE: (0.0, 1.0, 0.0),
    Chemistry.LI_ION: (0.0, 1.0, 0.0),
}


def discharge_curve(
    chemistry: Chemistry,
    state_of_charge: FloatArray,
    *,
    knee: float | None = None,
    shape: float | None = None,
    plateau: float | None = None,
) -> FloatArray:
    """Return the battery level (%) a device reports at each state of charge (0..1).

    Coin, lithium and NiMH cells hold a flat plateau (100% down to `plateau`)
    until the `knee`, then fall off a cliff of steepness `shape`; alkaline and
    Li-ion levels follow a slope `soc ** shape`.
    """
    d_knee, d_shape, d_plateau = _CURVE_DEFAULTS.get(chemistry, (0.0, 1.0, 0.0))
    knee = d_knee if knee is None else knee
    shape = d_shape if shape is None else shape
    plateau = d_plateau if plateau is None else plateau
    soc = np.clip(state_of_charge, 0.0, 1.0)
    if chemistry in (Chemistry.COIN, Chemistry.LITHIUM, Chemistry.NIMH) and knee > 0:
        flat = plateau + (1.0 - plateau) * (soc - knee) / (1.0 - knee)
        cliff = plateau * (1.0 - (1.0 - np.minimum(soc / knee, 1.0)) ** shape)
        level: FloatArray = 100.0 * np.where(soc >= knee, flat, cliff)
        return level
    sloped: FloatArray = 100.0 * soc**shape
    return sloped


def _curve(battery: _Battery, soc: FloatArray) -> FloatArray:
    return discharge_curve(
        battery.chemistry, soc, knee=battery.knee, shape=battery.shape, plateau=battery.plateau
    )


def _soc_for_level(battery: _Battery, level: float) -> float:
    grid = np.linspace(0.0, 1.0, 2001, dtype=np.float64)
    return float(np.interp(level, _curve(battery, grid), grid))


def _w_at(battery: _Battery, t: float) -> float:
    return float(np.interp(t, battery.grid_t, battery.grid_w))


def _t_at(battery: _Battery, w: float) -> float:
    if w > battery.grid_w[-1]:
        return math.inf
    return float(np.interp(w, battery.grid_w, battery.grid_t))


def _soc(battery: _Battery, t: FloatArray) -> FloatArray:
    """Return the state of charge (0..1) at times t, through swaps and recharges."""
    c = np.searchsorted(battery.cycle_t, t, side="right") - 1
    c = np.maximum(c, 0)
    begin = battery.cycle_t[c]
    ramp = battery.cycle_ramp[c]
    base = begin + ramp
    w = np.interp(t, battery.grid_t, battery.grid_w)
    w_base = np.interp(base, battery.grid_t, battery.grid_w)
    after = battery.cycle_s[c] - (w - w_base)
    frac = np.clip((t - begin) / np.maximum(ramp, 1.0), 0.0, 1.0)
    charging = battery.cycle_from[c] + (battery.cycle_s[c] - battery.cycle_from[c]) * frac
    result: FloatArray = np.clip(np.where(t < base, charging, after), 0.0, 1.0)
    return result


def _plan_battery(dev: _Device, home: _Home) -> _Battery:
    """Draw a device's battery: curve, reporting, and its consumption over time."""
    rng, model = dev.rng, dev.model
    chem = model.chemistry
    knee, shape, plateau = _CURVE_DEFAULTS[chem]
    if chem in (Chemistry.COIN, Chemistry.LITHIUM):
        knee = float(rng.uniform(0.01, 0.08))
        shape = float(rng.uniform(1.5, 3.5))
        plateau = float(rng.uniform(0.8, 0.95))
    elif chem is Chemistry.NIMH:
        knee, plateau = float(rng.uniform(0.08, 0.2)), float(rng.uniform(0.4, 0.7))
    else:
        shape = float(rng.uniform(0.75, 1.3))
    life = float(rng.uniform(*model.life_days)) * home.var.battery_life * DAY
    rechargeable = model.power is Power.RECHARGEABLE
    if rechargeable:
        step, ceil_steps = (25.0, True) if rng.random() < 0.5 else (10.0, False)
    else:
        step = float(rng.choice([1.0, 1.0, 1.0, 1.0, 5.0, 10.0]))
        ceil_steps = False
    if dev.info.integration == "zwave_js":
        interval = float(rng.uniform(6.0, 24.0)) * HOUR
    elif dev.info.integration in _BLE_INTEGRATIONS:
        interval = float(rng.uniform(10.0, 40.0)) * MINUTE
    elif dev.info.integration == "mqtt":
        interval = float(rng.uniform(0.8, 1.5)) * HOUR
    else:
        interval = float(rng.uniform(1.0, 6.0)) * HOUR
    cold = {Chemistry.ALKALINE: (0.3, 0.6), Chemistry.COIN: (0.1, 0.3)}.get(chem, (0.05, 0.15))
    volts = {
        Chemistry.COIN: (2.1, 3.05),
        Chemistry.LITHIUM: (2.2, 3.6),
        Chemistry.ALKALINE: (2.0, 3.2),
        Chemistry.LI_ION: (3.3, 4.2),
        Chemistry.NIMH: (2.0, 2.8),
    }[chem]
    # Hourly consumption: usage follows activity, aging accelerates, days vary.
    t0 = dev.t_create
    grid_t = np.arange(t0, home.end + 2 * DAY, HOUR, dtype=np.float64)
    usage = 1.0 + float(rng.uniform(0.0, 0.4)) * (home.activity(grid_t, _INDOOR) - 1.0)
    aging = 1.0 + float(rng.uniform(0.0, 0.5)) * (grid_t - t0) / YEAR
    days = np.exp(_smooth_noise(rng, t0, float(grid_t[-1]) + DAY, DAY, 0.1, grid_t))
    per_hour = HOUR / life * usage * aging * days
    grid_w = np.concatenate([[0.0], np.cumsum(per_hour[:-1])])
    return _Battery(
        chemistry=chem,
        knee=knee,
        shape=shape,
        plateau=plateau,
        step=step,
        ceil_steps=ceil_steps,
        noise=float(rng.uniform(0.15, 0.5)) * home.var.noise,
        cold_coef=float(rng.uniform(*cold)),
        low_threshold=float(rng.uniform(10.0, 25.0)),
        notice_level=float(rng.uniform(10.0, 40.0) if rechargeable else rng.uniform(5.0, 30.0)),
        v_empty=volts[0],
        v_full=volts[1],
        v_millivolts=dev.info.integration == "mqtt",
        interval=interval / home.var.report_rate,
        grid_t=grid_t,
        grid_w=grid_w,
    )


def _plan_cycles(dev: _Device, home: _Home, battery: _Battery) -> None:
    """Place battery swaps/recharges; a battery failure dies exactly at its onset."""
    rng = dev.rng
    t0 = dev.t_create
    rechargeable = dev.model.power is Power.RECHARGEABLE
    failure = dev.failure
    cycles: list[tuple[float, float, float, float]] = []

    def new_charge() -> tuple[float, float]:
        ramp = float(rng.uniform(2.0, 5.0)) * HOUR if rechargeable else 0.0
        return (1.0 if rechargeable else float(rng.uniform(0.93, 1.0))), ramp

    if failure is not None and failure.family in ("battery_cliff", "battery_slope"):
        # Work backwards from the death so the charge hits `s_die` at the onset.
        if failure.family == "battery_cliff":
            dead_level = (1 - failure.strength) * rng.uniform(35.0, 95.0) + failure.strength * (
                rng.uniform(0.0, 4.0)
            )
            life_days = float(np.mean(dev.model.life_days)) * home.var.battery_life
            battery.knee = float(np.clip(failure.lead / DAY / life_days, 0.004, 0.3))
        else:
            dead_level = (1 - failure.strength) * rng.uniform(25.0, 70.0) + failure.strength * (
                rng.uniform(0.0, 6.0)
            )
        s_end = _soc_for_level(battery, float(dead_level))
        t_end = failure.onset
        if t0 > home.start:
            # A device added during the history starts on a fresh battery: one
            # that dies this soon drains faster than its model's usual life.
            fresh = float(rng.uniform(0.95, 1.0))
            need = _w_at(battery, t_end) - _w_at(battery, t0)
            if need < fresh - s_end:
                battery.grid_w = battery.grid_w * ((fresh - s_end) / need)
        reverse: list[tuple[float, float, float, float]] = []
        for _ in range(200):
            need = _w_at(battery, t_end) - _w_at(battery, t0)
            if s_end + need <= 1.0:
                break
            s_new, ramp = new_charge()
            begin = _t_at(battery, _w_at(battery, t_end) - (s_new - s_end)) - ramp
            s_before = float(rng.uniform(0.02, 0.25))
            if begin <= t0 + HOUR:
                break
            reverse.append((begin, s_new, ramp, s_before))
            t_end, s_end = begin, s_before
        need = _w_at(battery, t_end) - _w_at(battery, t0)
        s0 = min(1.0, s_end + need)
        cycles.append((t0, s0, 0.0, s0))
        cycles.extend(reversed(reverse))
        if failure.recovery >= home.end:
            _store_cycles(dev, home, battery, cycles)
            return
        s_new, ramp = new_charge()
        cycles.append((failure.recovery, s_new, ramp, 0.0))
    else:
        s0 = float(rng.uniform(0.95, 1.0)) if t0 > home.start else float(rng.uniform(0.08, 1.0))
        cycles.append((t0, s0, 0.0, s0))
    dead_lo, dead_hi = math.inf, math.inf
    if failure is not None and failure.family in ("sudden_death", "stale"):
        dead_lo, dead_hi = failure.onset, failure.recovery
    # Forward from the last cycle: the user swaps/recharges after the level gets low.
    s_notice = _soc_for_level(battery, battery.notice_level)
    mean_delay = (0.5 if rechargeable else 2.0) * DAY
    for _ in range(200):
        begin, s, ramp, _ = cycles[-1]
        base = begin + ramp
        w_base = _w_at(battery, base)
        t_notice = max(_t_at(battery, w_base + max(s - s_notice, 0.0)), base)
        if t_notice >= home.end:
            break
        t_death = _t_at(battery, w_base + s)
        delay = float(rng.exponential(mean_delay))
        t_swap = t_notice + min(delay, 0.85 * (t_death - t_notice))
        if dead_lo <= t_swap < dead_hi:
            t_swap = dead_hi
        if t_swap >= home.end:
            break
        s_at = max(s - (_w_at(battery, t_swap) - w_base), 0.0)
        s_new, ramp_new = new_charge()
        cycles.append((t_swap, s_new, ramp_new, s_at))
    _store_cycles(dev, home, battery, cycles)


def _store_cycles(
    dev: _Device, home: _Home, battery: _Battery, cycles: list[tuple[float, float, float, float]]
) -> None:
    table = np.asarray(cycles, dtype=np.float64)
    battery.cycle_t, battery.cycle_s = table[:, 0].copy(), table[:, 1].copy()
    battery.cycle_ramp, battery.cycle_from = table[:, 2].copy(), table[:, 3].copy()
    dev.swaps = battery.cycle_t[1:][battery.cycle_t[1:] < home.end].copy()


def _battery_readings(dev: _Device, home: _Home) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return report times, displayed level (%) and voltage of a battery device."""
    if dev.battery_rows is not None:
        return dev.battery_rows
    battery = dev.battery
    assert battery is not None
    rng = dev.rng
    t = _report_times(rng, dev.t_create, home.end, battery.interval, 0.25)
    soc = _soc(battery, t)
    curve = _curve(battery, soc)
    ambient = _ambient(dev, home, t)
    cold = battery.cold_coef * np.maximum(15.0 - ambient, 0.0) * (1.5 - curve / 100.0)
    raw = curve - cold + rng.normal(0.0, battery.noise, t.size)
    raw = np.clip(raw, 0.0, 100.0)
    if battery.ceil_steps:
        level = np.minimum(np.ceil(raw / battery.step) * battery.step, 100.0)
    else:
        level = _quantize(raw, battery.step, 0)
    span = battery.v_full - battery.v_empty
    volts = battery.v_empty + span * (curve - cold) / 100.0
    volts = volts + rng.normal(0.0, 0.01 * home.var.noise, t.size)
    volts = np.round(volts * 1000.0) if battery.v_millivolts else _quantize(volts, 0.01, 2)
    dev.battery_rows = (t, level + 0.0, volts + 0.0)
    return dev.battery_rows


def _ambient(dev: _Device, home: _Home, t: FloatArray) -> FloatArray:
    """Return the temperature around a device (°C)."""
    if dev.outdoor:
        return home.outdoor_temperature(t)
    return home.indoor_temperature(t)


# --------------------------------------------------------------------------- home plan


def _plan_home(config: GeneratorConfig, home_index: int) -> _Home:
    """Draw a home: type, habits, climate, restarts, protocol stacks and size."""
    rng = _rng(config, home_index, 0)
    home_type = config.home_types[int(rng.integers(len(config.home_types)))]
    start = float(config.start)
    end = start + float(config.days) * DAY
    var = _perturb(config.variation, rng)
    tz = float(rng.choice([-8, -6, -5, 0, 1, 2, 8, 10])) * HOUR
    profiles = _BASE_PROFILES * rng.lognormal(0.0, 0.15, _BASE_PROFILES.shape)
    profiles = np.roll(profiles, int(rng.integers(-1, 2)), axis=2)
    if rng.random() < 0.3:  # someone works from home
        profiles[_INDOOR, 0, 9:17] *= 2.5
    weekly = (5.0 * profiles[:, 0].mean(axis=1) + 2.0 * profiles[:, 1].mean(axis=1)) / 7.0
    profiles = profiles / weekly[:, None, None]
    n_vac = int(rng.poisson(config.days / 120.0))
    vac_lo = _times_between(rng, start + 2 * DAY, end, n_vac)
    vac_lo, vac_hi = _union(vac_lo, vac_lo + rng.uniform(3.0, 14.0, vac_lo.size) * DAY)
    knot_t = np.arange(start - 2 * DAY, end + 2 * DAY, 6 * HOUR)
    knots = np.stack([knot_t, rng.normal(0.0, 2.5, knot_t.size)])
    # Restarts: Home Assistant is down a little while, then every entity replays.
    n_restarts = int(rng.poisson(config.days / 9.0 * var.restart_rate))
    restarts = _times_between(rng, start + 2 * HOUR, end - 2 * HOUR, n_restarts)
    if restarts.size > 1:
        restarts = restarts[np.concatenate([[True], np.diff(restarts) > 2 * HOUR])]
    downtime = np.clip(rng.lognormal(math.log(60.0), 0.8, restarts.size), 10.0, 900.0)
    # Per integration: whether entities show `unavailable` while it starts up,
    # how long after the restart it replays them, and for how long.
    restart_mode: dict[str, tuple[bool, float, float]] = {}
    unavailable_chance = {"zha": 0.5, "mqtt": 0.7, "zwave_js": 0.6, "esphome": 0.8}
    for integration in _ALL_INTEGRATIONS:
        restart_mode[integration] = (
            bool(rng.random() < unavailable_chance.get(integration, 0.15)),
            float(rng.uniform(1.0, 40.0)),
            float(rng.uniform(20.0, 150.0)),
        )
    if config.n_devices is not None:
        base, extra = divmod(config.n_devices, config.n_homes)
        n_devices = base + (1 if home_index < extra else 0)
    else:
        low, high = config.devices_per_home or _HOME_SIZES[home_type]
        n_devices = int(rng.integers(low, high + 1))
    stack_chance = _STACK_CHANCE[home_type]
    stacks = {name: bool(rng.random() < p) for name, p in stack_chance.items()}
    if n_devices < 6:
        stacks = {name: False for name in stacks}
    if home_type == "smart_enthusiast" and stacks["zigbee"] and rng.random() < 0.5:
        zigbee_stacks: tuple[str, ...] = ("zha", "mqtt")
    else:
        zigbee_stacks = ("zha",) if rng.random() < 0.5 else ("mqtt",)
    return _Home(
        index=home_index,
        home_id=f"{home_type}-s{config.seed}-{home_index:05d}",
        home_type=home_type,
        start=start,
        end=end,
        var=var,
        tz=tz,
        profiles=profiles,
        vacation_lo=vac_lo,
        vacation_hi=vac_hi,
        outdoor_mean=float(rng.uniform(6.0, 16.0)),
        outdoor_amp=float(rng.uniform(6.0, 13.0)),
        outdoor_daily=float(rng.uniform(2.5, 7.0)),
        season_shift=float(rng.uniform(-15.0, 15.0)),
        outdoor_knots=knots,
        restarts=restarts,
        downtime=downtime,
        restart_mode=restart_mode,
        mqtt_availability=bool(rng.random() < 0.6),
        n_devices=n_devices,
        stacks=stacks,
        zigbee_stacks=zigbee_stacks,
        thread_integration="matter" if rng.random() < 0.7 else "homekit_controller",
    )


def _perturb(variation: Variation, rng: np.random.Generator) -> Variation:
    """Give each home its own scales, spread log-normally around the configured ones."""
    spread = variation.home_spread
    scaled = {
        f.name: getattr(variation, f.name) * float(rng.lognormal(0.0, spread))
        for f in fields(variation)
        if f.name not in ("no_precursor_fraction", "lead_time_spread", "home_spread")
    }
    return replace(variation, **scaled)


def _timeout(integration: str, power: Power, home: _Home, rng: np.random.Generator) -> float | None:
    """Return after how long without messages HA marks the device unavailable (None: never)."""
    battery = power is not Power.MAINS
    if integration == "zha":
        return 6 * HOUR if battery else 2 * HOUR
    if integration == "mqtt":
        if not home.mqtt_availability:
            return None
        return 25 * HOUR if battery else 10 * MINUTE
    if integration == "zwave_js":
        return None if battery else float(rng.uniform(1.0, 10.0)) * MINUTE
    if integration in _BLE_INTEGRATIONS:
        return float(rng.uniform(15.0, 30.0)) * MINUTE
    if integration in ("matter", "homekit_controller", "otbr"):
        return float(rng.uniform(1.0, 2.0)) * HOUR if battery else float(rng.uniform(1, 3)) * MINUTE
    if battery and integration in ("shelly", "esphome"):
        return None  # sleeping devices keep their last state
    if integration in ("ring", "reolink") and battery:
        return 10 * MINUTE
    return float(rng.uniform(0.5, 5.0)) * MINUTE


def _plan_devices(config: GeneratorConfig, home: _Home) -> list[_Device]:
    """Draw the home's bridges and devices with their entities."""
    rng = _rng(config, home.index, 1)
    router = _choice(rng, _MODELS["router"])
    plan: list[tuple[str, _Model, str]] = [("router", router, router.integration)]
    if home.stacks["zigbee"]:
        for stack in home.zigbee_stacks:
            plan.append(("zigbee_coordinator", _choice(rng, _MODELS["zigbee_coordinator"]), stack))
    if home.stacks["zwave"]:
        plan.append(("zwave_controller", _choice(rng, _MODELS["zwave_controller"]), "zwave_js"))
    if home.stacks["thread"]:
        plan.append(("border_router", _MODELS["border_router"][0], "otbr"))
    weights = _KIND_WEIGHTS[home.home_type]
    kinds = list(weights)
    available = {Protocol.WIFI} | {
        p for p, name in ((_Z, "zigbee"), (_ZW, "zwave"), (_B, "ble"), (_T, "thread")) if home.stacks[name]
    }
    while len(plan) < home.n_devices:
        kind = _pick(rng, kinds, [weights[k] for k in kinds])
        models = [m for m in _MODELS[kind] if m.protocol in available]
        if not models:
            continue
        model = _choice(rng, models)
        integration = model.integration
        if model.protocol is Protocol.ZIGBEE:
            integration = home.zigbee_stacks[int(rng.integers(len(home.zigbee_stacks)))]
        elif model.protocol is Protocol.THREAD:
            integration = home.thread_integration
        plan.append((kind, model, integration))
    names: set[str] = set()
    entity_ids: set[str] = set()
    devices: list[_Device] = []
    coordinators: dict[str, str] = {}
    for i, (kind, model, integration) in enumerate(plan):
        dev = _make_device(config, home, i, kind, model, integration, names, coordinators)
        _add_entities(dev, home, entity_ids)
        devices.append(dev)
        if kind == "zigbee_coordinator":
            coordinators[integration] = dev.info.device_key
        elif kind == "zwave_controller":
            coordinators["zwave_js"] = dev.info.device_key
    return devices


def _choice(rng: np.random.Generator, models: Sequence[_Model]) -> _Model:
    p = np.asarray([m.weight for m in models])
    return models[int(rng.choice(len(models), p=p / p.sum()))]


def _make_device(
    config: GeneratorConfig,
    home: _Home,
    index: int,
    kind: str,
    model: _Model,
    integration: str,
    names: set[str],
    coordinators: dict[str, str],
) -> _Device:
    """Draw one device: name, area, timeout and the parameters of its behaviour."""
    rng = _rng(config, home.index, 2 + index)
    bridge = kind in _BRIDGE_KINDS
    outdoor_chance = {"camera": 0.7, "motion": 0.2, "temperature": 0.2, "light": 0.1}
    outdoor = rng.random() < outdoor_chance.get(kind, 0.0)
    areas: tuple[str, ...] = _OUTDOOR_AREAS if outdoor else _INDOOR_AREAS
    if home.home_type == "apartment":
        areas = ("Balcony",) if outdoor else _INDOOR_AREAS[:9]
    area = areas[int(rng.integers(len(areas)))]
    if bridge:
        label = {
            "router": "Router",
            "zigbee_coordinator": "Zigbee2MQTT Bridge" if integration == "mqtt" else "Zigbee Coordinator",
            "zwave_controller": "Z-Wave Controller",
            "border_router": "Thread Border Router",
        }[kind]
        name, area = label, "Utility Room"
    else:
        labels = _LABELS[kind]
        label = labels[int(rng.integers(len(labels)))]
        name = f"{area} {label}"
    base, n = name, 2
    while name in names:
        name, n = f"{base} {n}", n + 1
    names.add(name)
    t_create = home.start
    created = home.start - float(rng.uniform(30.0, 1000.0)) * DAY
    if not bridge and rng.random() < 0.05:  # added to the home during the history
        t_create = created = home.start + float(rng.uniform(0.0, 0.5)) * (home.end - home.start)
    via = coordinators.get(integration) if model.protocol in (_Z, _ZW) and not bridge else None
    info = DeviceRecord(
        device_key=rng.bytes(16).hex(),
        name=name,
        integration=integration,
        protocol=model.protocol,
        kind=kind,
        power=model.power,
        chemistry=model.chemistry,
        via_device_key=via,
        manufacturer=model.manufacturer,
        model=model.model,
        area_id=_slug(area),
        created=created,
    )
    params = _behaviour(kind, label, model, rng)
    return _Device(
        info=info,
        rng=rng,
        slug=_slug(name),
        model=model,
        kind=kind,
        outdoor=outdoor,
        bridge=bridge,
        timeout=_timeout(integration, model.power, home, rng),
        t_create=t_create,
        params=params,
    )


def _behaviour(kind: str, label: str, model: _Model, rng: np.random.Generator) -> dict[str, float]:
    """Draw how a device is used and reports (rates per day, durations in s)."""
    u = rng.uniform
    p: dict[str, float] = {
        "temp_base": float(u(19.0, 23.0)),
        "temp_amp": float(u(0.3, 1.5)),
        "temp_peak": float(u(16.0, 21.0)),
        "temp_summer": float(u(1.0, 3.5)),
        "temp_noise": float(u(0.2, 0.5)),
        "temp_spacing": float(u(1.5, 4.0)) * HOUR,
        "sample_s": float(u(300.0, 900.0)),
        "threshold": float(u(0.05, 0.25)),
        "heartbeat": float(u(1.0, 4.0)) * HOUR,
        "signal_base": float(np.clip(rng.normal(-64.0, 9.0), -90.0, -38.0)),
        "signal_noise": float(u(1.0, 3.0)),
        "signal_interval": float(u(20.0, 90.0)) * MINUTE,
        "self_heat": float(u(0.0, 2.0)),
        "profile": float(_INDOOR),
        "inverted": 0.0,
    }
    if model.protocol is Protocol.ZIGBEE:
        p["signal_base"] = float(np.clip(rng.normal(150.0, 55.0), 15.0, 255.0))
        p["signal_noise"] = float(u(4.0, 15.0))
    elif model.protocol is Protocol.BLE:
        p["signal_base"] = float(np.clip(rng.normal(-76.0, 8.0), -98.0, -50.0))
        p["signal_interval"] = float(u(10.0, 45.0)) * MINUTE
    elif model.protocol is Protocol.WIFI:
        p["signal_interval"] = float(u(5.0, 30.0)) * MINUTE
    usage = {
        "door_window": (u(2.0, 25.0), u(8.0, 60.0), 1.0, _INDOOR),
        "motion": (u(15.0, 60.0), u(60.0, 240.0), 0.6, _INDOOR),
        "leak": (u(0.002, 0.02), u(60.0, 900.0), 0.8, _FLAT),
        "lock": (u(1.0, 6.0), u(60.0, 900.0), 1.0, _INDOOR),
        "light": (u(2.0, 8.0), u(900.0, 5400.0), 1.0, _EVENING),
        "switch": (u(1.0, 6.0), u(300.0, 3600.0), 1.0, _EVENING),
        "plug": (u(0.5, 4.0), u(1800.0, 14400.0), 1.0, _FLAT),
        "camera": (u(2.0, 25.0), u(15.0, 90.0), 0.6, _OUTDOOR),
        "remote": (u(0.5, 8.0), 0.0, 0.0, _INDOOR),
    }.get(kind)
    if usage is not None:
        p["rate"], p["duration"], p["duration_sigma"], p["profile"] = (float(x) for x in usage)
    if kind == "door_window" and label in ("Window", "Skylight"):
        p["rate"], p["duration"] = float(u(0.2, 3.0)), float(u(600.0, 7200.0))
    if kind == "plug":
        if label == "Fridge Plug" or rng.random() < 0.25:  # an always-on appliance
            p["inverted"] = 1.0
            p["rate"], p["duration"] = float(u(0.01, 0.2)), float(u(600.0, 7200.0))
        p["load"] = float(rng.lognormal(math.log(40.0), 1.0))
        p["fridge"] = 1.0 if label == "Fridge Plug" else float(rng.random() < 0.15)
        p["cycle"] = float(u(30.0, 90.0)) * MINUTE
        p["duty"] = float(u(0.3, 0.6))
        p["self_heat"] = float(u(3.0, 10.0))
    if kind == "trv":
        p["threshold"], p["sample_s"] = float(u(0.3, 0.6)), float(u(300.0, 900.0))
    if kind in ("router", "zigbee_coordinator", "zwave_controller", "border_router"):
        p["self_heat"] = float(u(15.0, 35.0))
    p["heat_below"] = float(u(-0.2, 0.35))
    p["cooling"] = float(rng.random() < 0.35)
    return p


def _add_entities(dev: _Device, home: _Home, taken: set[str]) -> None:
    """Give a device its entities: primary, battery, signal, voltage, temperature..."""
    rng, slug, integration = dev.rng, dev.slug, dev.info.integration
    kind = dev.kind
    specs: list[tuple[str, EntityRole, str | None, str | None, str, bool, bool]] = []

    def add(
        entity_id: str,
        role: EntityRole,
        device_class: str | None,
        unit: str | None,
        stream: str,
        numeric: bool = False,
        statistics: bool = False,
    ) -> None:
        specs.append((entity_id, role, device_class, unit, stream, numeric, statistics))

    prim = EntityRole.PRIMARY
    if kind == "door_window":
        label_class = "window" if "window" in slug or "skylight" in slug else "door"
        suffix = {"mqtt": "contact", "zha": "opening"}.get(integration, label_class)
        add(f"binary_sensor.{slug}_{suffix}", prim, label_class, None, "sessions")
    elif kind == "motion":
        suffix = "occupancy" if integration in ("mqtt", "matter") else "motion"
        add(f"binary_sensor.{slug}_{suffix}", prim, suffix, None, "sessions")
    elif kind == "leak":
        suffix = {"mqtt": "water_leak", "zha": "moisture", "shelly": "flood"}.get(integration, "leak")
        add(f"binary_sensor.{slug}_{suffix}", prim, "moisture", None, "sessions")
    elif kind == "temperature":
        add(f"sensor.{slug}_temperature", prim, "temperature", "°C", "temperature", True, True)
        if rng.random() < 0.75:
            add(f"sensor.{slug}_humidity", EntityRole.OTHER, "humidity", "%", "humidity", True, True)
    elif kind == "lock":
        add(f"lock.{slug}", prim, None, None, "sessions")
    elif kind == "remote":
        add(f"event.{slug}_action", prim, "button", None, "events")
    elif kind in ("trv", "thermostat"):
        add(f"climate.{slug}", prim, None, None, "climate")
    elif kind in ("plug", "switch"):
        add(f"switch.{slug}", prim, "outlet" if kind == "plug" else None, None, "sessions")
        if kind == "plug" and rng.random() < 0.85:
            add(f"sensor.{slug}_power", EntityRole.OTHER, "power", "W", "power", True, True)
    elif kind == "light":
        add(f"light.{slug}", prim, None, None, "sessions")
    elif kind == "camera":
        add(f"camera.{slug}", prim, None, None, "sessions")
    elif kind == "router":
        add(f"binary_sensor.{slug}_wan_status", prim, "connectivity", None, "connectivity")
    else:
        add(f"binary_sensor.{slug}_connection_state", prim, "connectivity", None, "connectivity")

    battery_powered = dev.model.power is not Power.MAINS
    if battery_powered:
        add(f"sensor.{slug}_battery", EntityRole.BATTERY, "battery", "%", "battery", True, True)
        low_chance = {"mqtt": 0.5, "zwave_js": 0.5}.get(integration, 0.1)
        if rng.random() < low_chance:
            suffix = "low_battery_level" if integration == "zwave_js" else "battery_low"
            add(f"binary_sensor.{slug}_{suffix}", EntityRole.BATTERY_LOW, "battery", None, "battery_low")
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
    if signal is not None and rng.random() < signal[0]:
        _, suffix, unit, device_class = signal
        add(f"sensor.{slug}_{suffix}", EntityRole.SIGNAL, device_class, unit, "signal", True, True)
    if battery_powered:
        volt_chance = {"mqtt": 0.7, "zha": 0.3, "bthome": 0.4}.get(integration, 0.05)
        if rng.random() < volt_chance:
            unit = "mV" if integration == "mqtt" else "V"
            add(f"sensor.{slug}_voltage", EntityRole.VOLTAGE, "voltage", unit, "battery_voltage", True, True)
    elif kind == "plug" and rng.random() < 0.5:
        add(f"sensor.{slug}_voltage", EntityRole.VOLTAGE, "voltage", "V", "supply_voltage", True, True)
    temp_chance = 0.4 if integration == "mqtt" and dev.model.manufacturer == "Aqara" else 0.0
    if kind == "plug":
        temp_chance = 0.7 if integration == "shelly" else 0.3
    elif kind == "router":
        temp_chance = 0.4
    if rng.random() < temp_chance:
        add(
            f"sensor.{slug}_device_temperature",
            EntityRole.TEMPERATURE, "temperature", "°C", "device_temperature", True, True,
        )  # fmt: skip
    for entity_id, role, device_class, unit, stream, numeric, statistics in specs:
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


# --------------------------------------------------------------------------- scenarios


def _eligible_families(dev: _Device) -> list[str]:
    """Return the failure families that make sense for a device."""
    families: list[str] = []
    chem = dev.model.chemistry
    if chem in (Chemistry.COIN, Chemistry.LITHIUM):
        families.append("battery_cliff")
    if chem in (Chemistry.ALKALINE, Chemistry.LI_ION, Chemistry.NIMH):
        families.append("battery_slope")
    if dev.timeout is not None:
        families += ["sudden_death", "intermittent_dropouts", "flapping"]
        if dev.has_signal:
            families.append("signal_decay")
    else:
        families.append("stale")
    if dev.kind in ("temperature", "trv", "thermostat"):
        families.append("stuck_value")
    return families


def _assign_failure(dev: _Device, home: _Home, config: GeneratorConfig) -> None:
    """Maybe give a device a failure family, with its onset, precursor and recovery."""
    rng, var = dev.rng, home.var
    roll = rng.random()
    families = _eligible_families(dev)
    weights = DEFAULT_SCENARIO_WEIGHTS if config.scenario_weights is None else config.scenario_weights
    w = [float(weights.get(f, 0.0)) for f in families]
    if dev.bridge or roll >= config.failure_rate or sum(w) <= 0:
        return
    family = _pick(rng, families, w)
    t0, t1 = dev.t_create, home.end
    span = t1 - t0
    earliest, latest = t0 + 0.25 * span, t1 - max(0.5 * DAY, 0.03 * span)
    if latest <= earliest:
        return  # too short a history to fail in
    onset = float(rng.uniform(earliest, latest))
    if rng.random() < var.no_precursor_fraction:
        strength = 0.0
    else:
        strength = 1.0 - (1.0 - float(rng.beta(2.0, 2.0))) ** var.precursor_strength
    lead = float(rng.lognormal(math.log(var.lead_time_days * DAY), var.lead_time_spread))
    lead = float(np.clip(lead, 2 * HOUR, max(onset - t0 - HOUR, 2 * HOUR)))
    timeout = dev.timeout or 0.0
    revive_chance = {"battery_cliff": 0.6, "battery_slope": 0.6, "stuck_value": 0.3}.get(family, 0.3)
    if family in ("intermittent_dropouts", "signal_decay"):
        revive_chance = 0.6
    if rng.random() < revive_chance:
        down = max(float(rng.lognormal(math.log(2.5 * DAY), 0.9)), timeout + 2 * HOUR)
        recovery = onset + down
    else:
        recovery = math.inf
    dev.scenario = family
    dev.failure = _Failure(family=family, onset=onset, strength=strength, lead=lead, recovery=recovery)


def _plan_timeline(dev: _Device, home: _Home) -> None:
    """Lay out when a device is silent, unavailable, drops reports or drifts."""
    rng, var = dev.rng, home.var
    t0, t1 = dev.t_create, home.end
    days = (t1 - t0) / DAY
    # Background dropouts: mostly minutes; weak links drop more often.
    weak = 1.0
    if dev.has_signal:
        base = dev.params["signal_base"]
        weak += 3.0 / (1.0 + math.exp(((base - 60.0) / 15.0) if base > 0 else (base + 80.0) / 3.0))
    proto = {Protocol.WIFI: 1.5, Protocol.BLE: 2.0, Protocol.ZWAVE: 0.8}.get(dev.info.protocol, 1.0)
    n = int(rng.poisson(0.02 * var.dropout_rate * proto * weak * days))
    starts = rng.uniform(t0, t1, n)
    lengths = np.clip(rng.lognormal(math.log(240.0), 1.0, n), 20.0, HOUR)
    dev.silences.extend(_spans(starts, starts + lengths))
    if not dev.bridge and dev.failure is None and rng.random() < 0.08 * var.decoy_rate:
        _add_decoy(dev, home)
    failure = dev.failure
    if failure is not None:
        _add_failure(dev, home, failure)


def _add_decoy(dev: _Device, home: _Home) -> None:
    """Give a healthy device a precursor-like episode that resolves on its own."""
    rng = dev.rng
    t0, t1 = dev.t_create, home.end
    center = float(rng.uniform(t0 + 0.1 * (t1 - t0), t1))
    span = float(rng.uniform(1.0, 5.0)) * DAY
    choice = int(rng.integers(4))
    if choice == 0 or (choice == 3 and dev.timeout is None):
        n = int(rng.integers(3, 12))
        starts = center + rng.uniform(0.0, span, n)
        lengths = rng.lognormal(math.log(300.0), 0.8, n)
        dev.silences.extend(_spans(starts, starts + lengths))
    elif choice == 1 and dev.has_signal:
        depth = float(rng.uniform(0.3, 0.8)) * _signal_depth(dev)
        dev.dips.append((center, center + span, depth, center + span + rng.uniform(1.0, 5.0) * DAY))
    elif choice == 3:
        episodes = _flap_episodes(rng, center, center + float(rng.uniform(10.0, 120.0)) * MINUTE)
        dev.direct_unavailable.extend(episodes)
        dev.silences.extend(episodes)
    else:
        knots_t = np.array([center, center + span / 2, center + span])
        dev.drops.append((knots_t, np.array([0.0, float(rng.uniform(0.2, 0.6)), 0.0])))


def _signal_depth(dev: _Device) -> float:
    """Return how far a failing link's signal falls (dB for RSSI, units for LQI)."""
    if dev.info.protocol is Protocol.ZIGBEE:
        return float(dev.rng.uniform(40.0, 120.0))
    return float(dev.rng.uniform(8.0, 25.0))


def _flap_episodes(rng: np.random.Generator, lo: float, hi: float) -> list[tuple[float, float]]:
    """Return short unavailable episodes alternating with short available spells."""
    off_median = float(rng.uniform(30.0, 180.0))
    on_median = float(rng.uniform(60.0, 900.0))
    n = int((hi - lo) / (off_median + on_median) * 2.0) + 4
    off = rng.lognormal(math.log(off_median), 0.6, n)
    on = rng.lognormal(math.log(on_median), 0.8, n)
    starts = lo + np.concatenate([[0.0], np.cumsum(off + on)[:-1]])
    keep = starts < hi
    return _spans(starts[keep], (starts + off)[keep])


def _skewed_times(rng: np.random.Generator, n: int, lo: float, hi: float) -> FloatArray:
    """Return n sorted times in [lo, hi], denser towards hi."""
    result: FloatArray = np.sort(lo + (hi - lo) * np.sqrt(rng.random(n)))
    return result


def _add_failure(dev: _Device, home: _Home, failure: _Failure) -> None:
    """Turn a failure family into silences, unavailability, drifts and drops."""
    rng = dev.rng
    onset, strength, lead, recovery = failure.onset, failure.strength, failure.lead, failure.recovery
    end = min(recovery, home.end)
    family = failure.family
    if family in ("battery_cliff", "battery_slope", "sudden_death"):
        dev.silences.append((onset, end))
    elif family == "stale":
        dev.silences.append((onset, end))
        knots_t = np.array([onset - lead, onset, onset + 1.0])
        dev.drops.append((knots_t, np.array([0.0, 0.85 * strength, 0.0])))
    elif family in ("intermittent_dropouts", "signal_decay"):
        scale = 20.0 if family == "intermittent_dropouts" else 10.0
        n = int(rng.poisson(strength * rng.uniform(3.0, scale)))
        starts = _skewed_times(rng, n, onset - lead, onset)
        growth = (starts - (onset - lead)) / lead
        lengths = rng.lognormal(np.log(120.0 + 1800.0 * growth), 0.6)
        dev.silences.extend(_spans(starts, starts + lengths))
        dev.silences.append((onset, end))
        if family == "signal_decay":
            dev.dips.append((onset - lead, onset, _signal_depth(dev) * max(strength, 0.05), end))
    elif family == "flapping":
        stop = onset + float(np.clip(rng.lognormal(math.log(8 * HOUR), 1.0), HOUR, 4 * DAY))
        stop = min(stop, home.end)
        episodes = _flap_episodes(rng, onset, stop)
        n = int(rng.poisson(strength * rng.uniform(2.0, 12.0)))
        starts = _skewed_times(rng, n, onset - lead, onset)
        lengths = rng.uniform(30.0, 240.0, n)
        episodes += _spans(starts, starts + lengths)
        dev.direct_unavailable.extend(episodes)
        dev.silences.extend(episodes)
        failure.extra = stop
        if math.isfinite(recovery):
            failure.recovery = math.inf  # flapping settles down without a long outage
        elif stop < home.end:
            long_end = stop + max(float(rng.lognormal(math.log(2 * DAY), 0.8)), 3 * HOUR)
            dev.silences.append((stop, min(long_end, home.end)))
            dev.direct_unavailable.append((stop, min(long_end, home.end)))
            failure.recovery = long_end
    elif family == "stuck_value":
        hold = float(rng.uniform(2.0, 8.0)) * HOUR
        dev.stuck = (onset - lead, onset, strength, recovery, hold)


def _plan_bridge_outages(devices: list[_Device], home: _Home) -> None:
    """Take bridges down for a while: all their devices go unavailable together."""
    windows_lo, windows_hi = home.restarts - home.downtime, home.restarts + _REPLAY_WINDOW
    for bridge in (d for d in devices if d.bridge):
        rng = bridge.rng
        per_day = {"router": 1 / 90, "border_router": 1 / 75}.get(bridge.kind, 1 / 60)
        days = (home.end - home.start) / DAY
        n = int(rng.poisson(per_day * days * home.var.bridge_outage_rate))
        if bridge.kind == "router":
            lengths = np.clip(rng.lognormal(math.log(40 * MINUTE), 1.0, n), 5 * MINUTE, DAY)
        else:
            lengths = np.clip(rng.lognormal(math.log(2.5 * HOUR), 0.9, n), 15 * MINUTE, 2 * DAY)
        starts = _shift_out(_times_between(rng, home.start + DAY, home.end - HOUR, n), windows_lo, windows_hi)
        ends = _shift_out(np.minimum(starts + lengths[: starts.size], home.end), windows_lo, windows_hi)
        lo, hi = _union(starts, np.minimum(ends, home.end))
        if lo.size == 0:
            continue
        bridge.scenario = "bridge_outage"
        if bridge.kind == "router":
            members = [d for d in devices if d.info.protocol is Protocol.WIFI and not d.bridge]
        elif bridge.kind == "border_router":
            members = [d for d in devices if d.info.protocol is Protocol.THREAD and not d.bridge]
        else:
            members = [d for d in devices if d.info.via_device_key == bridge.info.device_key]
        for a, b in _spans(lo, hi):
            bridge.own_outages.append((a, b))
            bridge.events.append(
                FailureEvent(device_key=bridge.info.device_key, kind="bridge_outage", start=a, end=b)
            )
            for member in members:
                if member.t_create >= a:
                    continue
                if bridge.kind == "router":
                    delay = float(rng.uniform(0.0, min(member.timeout or 120.0, 120.0)))
                else:
                    delay = float(rng.uniform(0.0, 3.0))
                back = b + float(rng.uniform(5.0, 90.0))
                member.silences.append((a + delay, back))
                member.direct_unavailable.append((a + delay, back))


def _finalize(dev: _Device, home: _Home) -> None:
    """Resolve silences into HA's view: unavailable after the timeout, or stale."""
    t0, t1 = dev.t_create, home.end
    lo, hi = _intervals(dev.silences)
    lo, hi = _union(np.maximum(lo, t0), np.minimum(hi, t1))
    derived_lo: FloatArray = np.empty(0)
    derived_hi: FloatArray = np.empty(0)
    if dev.timeout is not None:
        long = hi - lo > dev.timeout
        derived_lo, derived_hi = lo[long] + dev.timeout, hi[long]
    d_lo, d_hi = _intervals(dev.direct_unavailable)
    u_lo = np.concatenate([derived_lo, np.maximum(d_lo, t0)])
    u_hi = np.concatenate([derived_hi, np.minimum(d_hi, t1)])
    windows_lo, windows_hi = home.restarts - home.downtime, home.restarts + _REPLAY_WINDOW
    u_lo, u_hi = _union(u_lo, u_hi)
    u_lo, u_hi = _union(_shift_out(u_lo, windows_lo, windows_hi), _shift_out(u_hi, windows_lo, windows_hi))
    dev.unavailable = (u_lo, u_hi)
    dev.silent = _union(np.concatenate([lo, u_lo]), np.concatenate([hi, u_hi]))


def _failure_events(dev: _Device, home: _Home) -> None:
    """Record the ground truth of a device's failure, consistent with its rows."""
    failure = dev.failure
    events = dev.events
    did = dev.info.device_key
    end = home.end
    for t in _floats(dev.swaps):
        events.append(FailureEvent(device_key=did, kind="swap", start=t, end=t))
    if failure is None:
        return
    onset, family = failure.onset, failure.family
    recovery = min(failure.recovery, end)
    warning = onset - failure.lead if failure.strength > 0 else None

    def failed(kind: str, start: float, stop: float, warn: float | None = warning) -> None:
        events.append(FailureEvent(device_key=did, kind=kind, start=start, end=stop, warning=warn))

    def availability(at: float, timeout: float | None, warn: float | None = warning) -> None:
        if timeout is None:
            failed(FailureType.STALE.value, at, recovery, warn)
            return
        lo, hi = dev.unavailable
        probe = at + timeout + 20 * MINUTE
        idx = int(np.searchsorted(lo, probe, side="right")) - 1
        if idx >= 0 and probe < hi[idx]:
            start, stop = float(lo[idx]), float(hi[idx])
        else:
            start, stop = at + timeout, recovery
        failed(FailureType.UNAVAILABLE.value, start, stop, warn)

    if family in ("battery_cliff", "battery_slope"):
        failed(FailureType.BATTERY_DEPLETED.value, onset, recovery)
        availability(onset, dev.timeout)
    elif family in ("sudden_death", "intermittent_dropouts", "signal_decay"):
        availability(onset, dev.timeout)
    elif family == "stale":
        failed(FailureType.STALE.value, onset, recovery)
    elif family == "stuck_value":
        failed("stuck", onset, recovery)
    elif family == "flapping":
        failed("flapping", onset, failure.extra)
        if math.isfinite(failure.recovery) and failure.extra < end:
            # The long outage is marked at once; the flapping before it is its warning.
            availability(failure.extra, 0.0, onset if warning is None else warning)


# --------------------------------------------------------------------------- streams


def _stream(spec: _EntitySpec, dev: _Device, home: _Home) -> _Stream:
    """Return the rows a device would produce for an entity, ignoring availability."""
    builders = {
        "sessions": _sessions_stream,
        "events": _events_stream,
        "temperature": _temperature_stream,
        "humidity": _humidity_stream,
        "climate": _climate_stream,
        "power": _power_stream,
        "battery": _battery_stream,
        "battery_low": _battery_low_stream,
        "battery_voltage": _battery_voltage_stream,
        "signal": _signal_stream,
        "device_temperature": _device_temperature_stream,
        "supply_voltage": _supply_voltage_stream,
        "connectivity": _connectivity_stream,
    }
    return builders[spec.stream](dev, home)


def _sessions_stream(dev: _Device, home: _Home) -> _Stream:
    """On/off (open/closed, unlocked/locked...) sessions following the home's habits."""
    p, rng = dev.params, dev.rng
    t0, t1 = dev.t_create, home.end
    starts = _poisson_times(rng, home, t0, t1, p["rate"] * home.var.activity, int(p["profile"]))
    lengths = p["duration"] * rng.lognormal(0.0, p["duration_sigma"], starts.size)
    if dev.kind == "motion":
        lengths = lengths + 30.0
    on, off = _merge_sessions(starts, lengths)
    dev.sessions = (on, off)
    t = np.empty(2 * on.size + 1)
    key: FloatArray = np.empty(2 * on.size + 1)
    t[0], key[0] = t0, 0.0
    t[1::2], t[2::2] = on, off
    key[1::2], key[2::2] = 1.0, 0.0
    if p["inverted"]:
        key = 1.0 - key
    keep = t < t1
    return _Stream(t[keep], key[keep], labels=_symbols(dev))


def _events_stream(dev: _Device, home: _Home) -> _Stream:
    """Button presses: every press is a new state (its timestamp)."""
    p = dev.params
    presses = _poisson_times(
        dev.rng, home, dev.t_create, home.end, p["rate"] * home.var.activity, int(p["profile"])
    )
    t = np.concatenate([[dev.t_create], presses])
    key = np.arange(t.size, dtype=np.float64)
    if dev.t_create > home.start:
        key[0] = _UNKNOWN_KEY  # a new remote has not been pressed yet
    # The state of an event entity is the time of its last event.
    pressed = np.concatenate([[dev.t_create - DAY], presses])
    labels = tuple(
        datetime.fromtimestamp(x, UTC).isoformat(timespec="milliseconds") for x in _floats(pressed)
    )
    return _Stream(t, key, labels=labels)


def _room_signal(dev: _Device, home: _Home, t: FloatArray) -> FloatArray:
    """Return the smooth temperature a sensor sees (°C), before reporting."""
    p = dev.params
    local = _smooth_noise(dev.rng, dev.t_create, home.end, p["temp_spacing"], p["temp_noise"], t)
    if dev.outdoor:
        result: FloatArray = home.outdoor_temperature(t) + local
        return result
    outdoor = home.outdoor_temperature(t)
    room: FloatArray = (
        p["temp_base"]
        + p["temp_amp"] * home.daily(t, p["temp_peak"])
        + p["temp_summer"] * np.maximum(home.season(t), 0.0)
        + 0.05 * (outdoor - 10.0)
        + local
    )
    return room


def _apply_stuck(dev: _Device, t: FloatArray, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Freeze a failing sensor: longer and longer holds, then one value for good."""
    scale = np.ones_like(x)
    if dev.stuck is None:
        return x, scale
    pre, at, strength, fixed, hold = dev.stuck
    window = (t >= pre) & (t < at)
    if strength > 0 and window.any():
        idx = np.flatnonzero(window)
        tw = t[idx]
        frac = np.clip((tw - pre) / max(at - pre, 1.0), 0.0, 1.0)
        length = 60.0 + strength * frac**2 * hold
        phase = np.floor(np.cumsum(np.diff(tw, prepend=tw[0]) / length))
        first = np.ones(idx.size, dtype=np.bool_)
        first[1:] = phase[1:] != phase[:-1]
        source = np.maximum.accumulate(np.where(first, np.arange(idx.size), 0))
        x = x.copy()
        x[idx] = x[idx[source]]
        scale[idx] = 1.0 - strength * frac
    frozen = (t >= at) & (t < fixed)
    if frozen.any():
        i = max(int(np.searchsorted(t, at)) - 1, 0)
        x = np.where(frozen, x[i], x)
        scale = np.where(frozen, 0.0, scale)
    return x, scale


def _measured(
    dev: _Device,
    t: FloatArray,
    x: FloatArray,
    threshold: float,
    sigma: float,
    step: float,
    decimals: int,
    *,
    relative: bool = False,
) -> _Stream:
    """Report a smooth signal on threshold crossings and heartbeats, with noise.

    The noise has standard deviation `sigma`, or `sigma * x` when `relative`.
    """
    x, scale = _apply_stuck(dev, t, x)
    mask = _change_mask(t, x, threshold, dev.params["heartbeat"])
    t, x, scale = t[mask], x[mask], scale[mask]
    noise = dev.rng.normal(0.0, sigma, t.size) * scale
    noisy = x * (1.0 + noise) if relative else x + noise
    return _Stream(t, _quantize(noisy, step, decimals))


def _temperature_stream(dev: _Device, home: _Home) -> _Stream:
    """A temperature sensor: 0.1 °C, reported on change and on a heartbeat."""
    p = dev.params
    t = _report_times(dev.rng, dev.t_create, home.end, p["sample_s"] / home.var.report_rate, 0.15)
    x = _room_signal(dev, home, t)
    return _measured(dev, t, x, p["threshold"], 0.04 * home.var.noise, 0.1, 1)


def _humidity_stream(dev: _Device, home: _Home) -> _Stream:
    """A humidity sensor: whole %, anti-correlated with the temperature."""
    p, rng = dev.params, dev.rng
    t = _report_times(rng, dev.t_create, home.end, p["sample_s"] / home.var.report_rate, 0.15)
    temp = _room_signal(dev, home, t)
    base = float(rng.uniform(35.0, 60.0))
    wet = _smooth_noise(rng, dev.t_create, home.end, 3 * HOUR, 4.0, t)
    x = np.clip(base - 1.5 * (temp - p["temp_base"]) + wet, 5.0, 99.0)
    return _measured(dev, t, x, float(rng.uniform(0.5, 1.5)), 0.3 * home.var.noise, 1.0, 0)


def _climate_stream(dev: _Device, home: _Home) -> _Stream:
    """A climate entity: the mode follows the season, current_temperature the room."""
    p = dev.params
    t = _report_times(dev.rng, dev.t_create, home.end, p["sample_s"] / home.var.report_rate, 0.15)
    x, scale = _apply_stuck(dev, t, _room_signal(dev, home, t))
    season = home.season(t)
    mode = np.where(season < p["heat_below"], 1.0, 0.0)
    if p["cooling"] and dev.kind == "thermostat":
        mode = np.where(season > 0.6, 2.0, mode)
    mask = _change_mask(t, x, p["threshold"], p["heartbeat"])
    mask[1:] |= mode[1:] != mode[:-1]
    t, x, scale, mode = t[mask], x[mask], scale[mask], mode[mask]
    step = 0.5 if dev.kind == "trv" else 0.1
    noisy = x + dev.rng.normal(0.0, 0.04 * home.var.noise, t.size) * scale
    return _Stream(t, mode, _quantize(noisy, step, 1), labels=STATE_SYMBOLS["climate"])


def _is_on(dev: _Device, t: FloatArray) -> BoolArray:
    """Return whether the device's primary switch is on at times t."""
    if dev.sessions is None:
        return np.ones(t.shape, dtype=np.bool_)
    on, off = dev.sessions
    inside = _inside(t, on, off)
    if dev.params["inverted"]:
        flipped: BoolArray = ~inside
        return flipped
    return inside


def _power_stream(dev: _Device, home: _Home) -> _Stream:
    """A plug's power (W): the load while on (cycling for fridges), standby while off."""
    p, rng = dev.params, dev.rng
    t = _report_times(
        rng, dev.t_create, home.end, float(rng.uniform(300.0, 900.0)) / home.var.report_rate, 0.2
    )
    load = p["load"] * (1.0 + _smooth_noise(rng, dev.t_create, home.end, HOUR, 0.08, t))
    if p["fridge"]:
        phase = ((t - dev.t_create) / p["cycle"]) % 1.0
        load = np.where(phase < p["duty"], load, float(rng.uniform(0.5, 3.0)))
    power = np.where(_is_on(dev, t), load, float(rng.uniform(0.0, 1.0)))
    threshold = max(1.0, 0.05 * p["load"])
    return _measured(dev, t, power, threshold, 0.01 * home.var.noise, 0.1, 1, relative=True)


def _battery_stream(dev: _Device, home: _Home) -> _Stream:
    """The battery level (%) as the device reports it."""
    t, level, _ = _battery_readings(dev, home)
    return _Stream(t, level)


def _battery_low_stream(dev: _Device, home: _Home) -> _Stream:
    """The battery-low flag: on below the device's threshold."""
    t, level, _ = _battery_readings(dev, home)
    assert dev.battery is not None
    low = (level < dev.battery.low_threshold).astype(np.float64)
    return _Stream(t, low, labels=STATE_SYMBOLS["binary_sensor"])


def _battery_voltage_stream(dev: _Device, home: _Home) -> _Stream:
    """The battery voltage (V or mV), sagging with charge and cold."""
    t, _, volts = _battery_readings(dev, home)
    return _Stream(t, volts)


def _signal_stream(dev: _Device, home: _Home) -> _Stream:
    """RSSI (dBm) or LQI: a noisy level that sinks when the link degrades."""
    p, rng = dev.params, dev.rng
    t = _report_times(rng, dev.t_create, home.end, p["signal_interval"] / home.var.report_rate, 0.3)
    sigma = p["signal_noise"] * home.var.noise
    x = p["signal_base"] + _smooth_noise(rng, dev.t_create, home.end, 6 * HOUR, 1.5 * sigma, t)
    spread: FloatArray = np.full(t.size, sigma)
    for lo, full, depth, recover in dev.dips:
        # A failing link sinks and gets noisier until it recovers.
        degraded = (t >= lo) & (t < recover)
        frac = np.clip((t - lo) / max(full - lo, 1.0), 0.0, 1.0)
        x = x - np.where(degraded, depth * frac**1.5, 0.0)
        spread = np.where(degraded, spread * (1.0 + frac), spread)
    x = x + rng.normal(0.0, 1.0, t.size) * spread
    lqi = dev.info.protocol is Protocol.ZIGBEE
    x = np.clip(x, 0.0, 255.0) if lqi else np.clip(x, -100.0, -20.0)
    return _Stream(t, _quantize(x, 1.0, 0))


def _device_temperature_stream(dev: _Device, home: _Home) -> _Stream:
    """The device's own temperature (°C): ambient plus self-heating and load."""
    p, rng = dev.params, dev.rng
    t = _report_times(
        rng, dev.t_create, home.end, float(rng.uniform(0.5, 2.0)) * HOUR / home.var.report_rate, 0.3
    )
    x = _ambient(dev, home, t) + p["self_heat"] + rng.normal(0.0, 0.6, t.size)
    if dev.kind == "plug":
        x = x + np.where(_is_on(dev, t), min(p["load"] / 20.0, 15.0), 0.0)
    return _Stream(t, _quantize(x, 1.0, 0))


def _supply_voltage_stream(dev: _Device, home: _Home) -> _Stream:
    """Mains voltage (V) seen by a plug."""
    rng = dev.rng
    t = _report_times(
        rng, dev.t_create, home.end, float(rng.uniform(10.0, 30.0)) * MINUTE / home.var.report_rate, 0.2
    )
    nominal = 120.0 if home.tz < 0 else 230.0
    x = nominal + float(rng.uniform(-4.0, 4.0)) + _smooth_noise(rng, dev.t_create, home.end, HOUR, 1.5, t)
    step = float(rng.choice([1.0, 0.1]))
    return _Stream(t, _quantize(x, step, 1))


def _connectivity_stream(dev: _Device, home: _Home) -> _Stream:
    """A bridge's connection state: on, off during its outages."""
    lo, hi = _intervals(dev.own_outages)
    t = np.empty(2 * lo.size + 1)
    key: FloatArray = np.empty(2 * lo.size + 1)
    t[0], key[0] = dev.t_create, 1.0
    t[1::2], t[2::2] = lo, hi
    key[1::2], key[2::2] = 0.0, 1.0
    keep = t < home.end
    return _Stream(t[keep], key[keep], labels=STATE_SYMBOLS["binary_sensor"])


def _symbols(dev: _Device) -> tuple[str, ...]:
    """Return the state strings of a device's primary on/off-like entity."""
    domain = dev.entities[0].info.entity_id.split(".", 1)[0]
    return STATE_SYMBOLS[domain]


# --------------------------------------------------------------------------- assembly


def _insert(
    t: FloatArray, key: FloatArray, attr: FloatArray, forced: BoolArray,
    ins_t: FloatArray, ins_key: FloatArray, ins_attr: FloatArray, ins_forced: bool,
) -> tuple[FloatArray, FloatArray, FloatArray, BoolArray]:  # fmt: skip
    """Insert rows (kept in their given order at equal times) into sorted rows."""
    if ins_t.size == 0:
        return t, key, attr, forced
    order = np.argsort(ins_t, kind="stable")
    ins_t, ins_key, ins_attr = ins_t[order], ins_key[order], ins_attr[order]
    pos = np.searchsorted(t, ins_t, side="right")
    return (
        np.insert(t, pos, ins_t),
        np.insert(key, pos, ins_key),
        np.insert(attr, pos, ins_attr),
        np.insert(forced, pos, np.full(ins_t.size, ins_forced)),
    )


def _entity_series(spec: _EntitySpec, dev: _Device, home: _Home) -> StateSeries:
    """Build one entity's recorder rows: availability, restarts, change-only writes."""
    stream = _stream(spec, dev, home)
    rng = dev.rng
    t_org, key_org = stream.time, stream.key
    attr_org = stream.attr if stream.attr is not None else np.zeros_like(t_org)
    t0 = float(t_org[0])
    # Restarts after the entity exists: HA is down, then replays the entity.
    use = home.restarts > t0 + 1.0
    restarts, downtime = home.restarts[use], home.downtime[use]
    flicker, delay, unavailable_for = home.restart_mode[dev.info.integration]
    delays = delay + rng.uniform(0.0, 2.0, restarts.size)
    replay_end = restarts + delays + (unavailable_for if flicker else 0.0)
    # 1. what the device got through to its integration, then what HA recorded
    silent_lo, silent_hi = dev.silent
    sent = ~_inside(t_org, silent_lo, silent_hi)
    for knots_t, knots_p in dev.drops:
        sent &= rng.random(t_org.size) >= np.interp(t_org, knots_t, knots_p)
    sent[0] = True
    t_dev, key_dev, attr_dev = t_org[sent], key_org[sent], attr_org[sent]
    keep = ~_inside(t_dev, restarts - downtime, replay_end)
    keep[0] = True
    t, key, attr = t_dev[keep], key_dev[keep], attr_dev[keep]
    forced: BoolArray = np.zeros(t.size, dtype=np.bool_)
    forced[0] = True
    # 2. unavailable episodes, and the state HA gets when the device is back
    u_lo, u_hi = dev.unavailable
    starts = u_lo[u_lo >= t0]
    back = u_hi[(u_hi > t0) & (u_hi < home.end)]
    idx = np.searchsorted(t_org, back, side="right") - 1
    t, key, attr, forced = _insert(
        t, key, attr, forced,
        np.concatenate([starts, back]),
        np.concatenate([np.full(starts.size, _UNAVAILABLE_KEY), key_org[idx]]),
        np.concatenate([np.zeros(starts.size), attr_org[idx]]),
        False,
    )  # fmt: skip
    # 3. restart replays of the state the integration holds for the device
    if restarts.size:
        at = restarts + delays
        latest = np.searchsorted(t_dev, at, side="right") - 1
        down = _inside(at, u_lo, u_hi)
        held = np.where(down, _UNAVAILABLE_KEY, key_dev[latest])
        held_attr = np.where(down, 0.0, attr_dev[latest])
        if flicker:
            up = held != _UNAVAILABLE_KEY
            ins_t = np.concatenate([at, (at + unavailable_for)[up]])
            ins_key = np.concatenate([np.full(at.size, _UNAVAILABLE_KEY), held[up]])
            ins_attr = np.concatenate([np.zeros(at.size), held_attr[up]])
        else:
            ins_t, ins_key, ins_attr = at, held, held_attr
        t, key, attr, forced = _insert(t, key, attr, forced, ins_t, ins_key, ins_attr, True)
    # 4. the recorder writes a row only when the state or its attributes change;
    # an unchanged report only moves the row's last_reported (HA >= 2024.3).
    inside = t <= home.end
    t, key, attr, forced = t[inside], key[inside], attr[inside], forced[inside]
    write = forced.copy()
    write[1:] |= (key[1:] != key[:-1]) | (attr[1:] != attr[:-1])
    rows = np.flatnonzero(write)
    last_reported = t[np.append(rows[1:] - 1, t.size - 1)]
    return _encode(spec, t[rows], key[rows], last_reported, stream.labels)


def _encode(
    spec: _EntitySpec,
    t: FloatArray,
    key: FloatArray,
    last_reported: FloatArray,
    labels: tuple[str, ...],
) -> StateSeries:
    """Turn row keys into a `StateSeries` with `records.encode_states` semantics.

    Numeric states get tokens in order of first appearance; the others keep
    their symbol's index, so `labels[code]` is the state string either way.
    """
    unavailable = key == _UNAVAILABLE_KEY
    unknown = key == _UNKNOWN_KEY
    valid = ~(unavailable | unknown)
    code = np.empty(t.size, dtype=np.int32)
    if spec.numeric:
        values = key[valid]
        unique, first, inverse = np.unique(values, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty(first.size, dtype=np.int32)
        rank[order] = np.arange(first.size, dtype=np.int32)
        code[valid] = rank[inverse]
        value = np.where(valid, key, np.nan)
        labels = tuple(_number_string(v) for v in _floats(unique[order]))
    else:
        code[valid] = key[valid].astype(np.int32)
        value = np.full(t.size, np.nan)
    code[unavailable] = UNAVAILABLE
    code[unknown] = UNKNOWN
    return StateSeries(
        time=t.astype(np.float64),
        value=value.astype(np.float64),
        code=code,
        labels=labels,
        last_reported=last_reported.astype(np.float64),
    )


def _number_string(value: float) -> str:
    """Return a number as a sensor state string ("95", "21.3")."""
    return str(int(value)) if value.is_integer() else repr(value)


def hourly_statistics(series: StateSeries, start: float, end: float) -> StatSeries:
    """Return hourly time-weighted mean, min and max of a numeric state series.

    Only whole hours within [start, end] count; time spent unavailable/unknown
    (or before the first row) is left out, and hours with no valid time get no row.
    """
    first_hour = math.ceil(start / HOUR) * HOUR
    n_hours = int((math.floor(end / HOUR) * HOUR - first_hour) // HOUR)
    if n_hours <= 0 or len(series) == 0:
        empty = np.empty(0)
        return StatSeries(start=empty, mean=empty.copy(), min=empty.copy(), max=empty.copy())
    bounds = first_hour + HOUR * np.arange(n_hours + 1, dtype=np.float64)
    t, v = series.time, series.value
    valid = np.isfinite(v)
    offset = float(np.median(v[valid])) if valid.any() else 0.0
    centred = np.where(valid, v - offset, 0.0)  # small numbers keep the running sums exact
    # Running integrals of the value and of the valid time, at each row, then at each bound.
    step = np.diff(t)
    integral = np.concatenate([[0.0], np.cumsum(centred[:-1] * step)])
    covered = np.concatenate([[0.0], np.cumsum(valid[:-1] * step)])
    row = np.searchsorted(t, bounds, side="right") - 1
    at = np.maximum(row, 0)
    since = np.where(row >= 0, bounds - t[at], 0.0)
    integral_b = np.where(row >= 0, integral[at] + centred[at] * since, 0.0)
    covered_b = np.where(row >= 0, covered[at] + valid[at] * since, 0.0)
    total = np.diff(covered_b)
    has = total > 0
    mean = np.diff(integral_b)[has] / total[has] + offset
    # min/max: the value held at the start of each hour and every value set within it
    held = np.where((row[:-1] >= 0) & valid[at[:-1]], v[at[:-1]], np.nan)
    low = np.where(np.isnan(held), np.inf, held)
    high = np.where(np.isnan(held), -np.inf, held)
    inside = valid & (t > bounds[0]) & (t < bounds[-1])
    if inside.any():
        values = v[inside]
        hours = ((t[inside] - first_hour) // HOUR).astype(np.int64)
        first = np.flatnonzero(np.concatenate([[True], hours[1:] != hours[:-1]]))
        group = hours[first]
        low[group] = np.minimum(low[group], np.minimum.reduceat(values, first))
        high[group] = np.maximum(high[group], np.maximum.reduceat(values, first))
    low, high = low[has], high[has]
    return StatSeries(start=bounds[:-1][has].copy(), mean=np.clip(mean, low, high), min=low, max=high)


# --------------------------------------------------------------------------- public API


def generate_home(config: GeneratorConfig, home_index: int) -> HomeHistory:
    """Generate the full history of one synthetic home (deterministic for config + index)."""
    _validate(config)
    if not 0 <= home_index < config.n_homes:
        raise ValueError(f"home_index must be within [0, {config.n_homes})")
    home = _plan_home(config, home_index)
    devices = _plan_devices(config, home)
    for dev in devices:
        _assign_failure(dev, home, config)
        if dev.model.power is not Power.MAINS:
            dev.battery = _plan_battery(dev, home)
            _plan_cycles(dev, home, dev.battery)
    _plan_bridge_outages(devices, home)
    for dev in devices:
        _plan_timeline(dev, home)
        _finalize(dev, home)
        _failure_events(dev, home)
    states: dict[str, StateSeries] = {}
    statistics: dict[str, StatSeries] = {}
    for dev in devices:
        # The primary first: plugs' power and temperature follow its sessions.
        for spec in dev.entities:
            series = _entity_series(spec, dev, home)
            states[spec.info.entity_id] = series
            if spec.statistics:
                statistics[spec.info.entity_id] = hourly_statistics(series, home.start, home.end)
        dev.battery_rows = None
    events = sorted((e for d in devices for e in d.events), key=lambda e: (e.start, e.device_key, e.kind))
    return HomeHistory(
        home_id=home.home_id,
        start=home.start,
        end=home.end,
        devices=[d.info for d in devices],
        entities=[s.info for d in devices for s in d.entities],
        states=states,
        statistics=statistics,
        battery_swaps={d.info.device_key: d.swaps for d in devices if d.battery is not None},
        restarts=home.restarts.copy(),
        ground_truth=events,
        scenario={d.info.device_key: d.scenario for d in devices},
    )


def generate_homes(
    config: GeneratorConfig,
    n_jobs: int = 1,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> list[HomeHistory]:
    """Generate all homes of a config, in parallel with joblib when it is importable.

    With `cache_dir`, homes are stored under a hash of the config and the
    generator version (.npz without pickle + JSON) and read back next time.
    """
    _validate(config)
    folder = Path(cache_dir) / config_fingerprint(config) if cache_dir is not None else None
    homes: dict[int, HomeHistory] = {}
    if folder is not None:
        for i in range(config.n_homes):
            if _is_cached(stem := _cache_stem(folder, i)):
                homes[i] = load_history(stem)
    todo = [i for i in range(config.n_homes) if i not in homes]
    with tempfile.TemporaryDirectory(prefix="homeiq-synthetic-") as scratch:
        results = _run(config, todo, n_jobs, folder or Path(scratch))
        if progress:
            results = _with_progress(results, len(todo))
        for i, history in zip(todo, results, strict=True):
            homes[i] = history
            if folder is not None and not _cache_stem(folder, i).with_suffix(".json").exists():
                save_history(history, _cache_stem(folder, i))
    return [homes[i] for i in range(config.n_homes)]


def _cache_stem(folder: Path, home_index: int) -> Path:
    """Where a home of a config's cache folder lives (`.npz` + `.json`)."""
    return folder / f"home_{home_index:05d}"


def _is_cached(stem: Path) -> bool:
    return stem.with_suffix(".json").exists() and stem.with_suffix(".npz").exists()


def cached_home(config: GeneratorConfig, home_index: int, folder: Path | None) -> HomeHistory:
    """One home, read from `folder` (a config's cache folder) or generated and stored there."""
    if folder is None:
        return generate_home(config, home_index)
    stem = _cache_stem(folder, home_index)
    if _is_cached(stem):
        return load_history(stem)
    history = generate_home(config, home_index)
    save_history(history, stem)
    return history


def _run(config: GeneratorConfig, todo: list[int], n_jobs: int, folder: Path) -> Iterator[HomeHistory]:
    """Yield the homes in order: serially, or from joblib workers through files.

    Workers hand homes over as .npz files rather than through the pipe: a
    home is tens of MB, and reading a file back is far cheaper than unpickling.
    """
    if n_jobs != 1 and len(todo) > 1:
        try:
            from joblib import Parallel, delayed
        except ImportError:
            pass
        else:
            parallel = Parallel(n_jobs=n_jobs, return_as="generator")
            stems = parallel(delayed(_generate_into)(config, i, folder) for i in todo)
            return (load_history(stem) for stem in stems)
    return (generate_home(config, i) for i in todo)


def _generate_into(config: GeneratorConfig, home_index: int, folder: Path) -> Path:
    """Generate one home into `<folder>/home_<index>.npz/.json` (a worker's task)."""
    stem = _cache_stem(folder, home_index)
    save_history(generate_home(config, home_index), stem)
    return stem


def _with_progress(results: Iterator[HomeHistory], total: int) -> Iterator[HomeHistory]:
    try:
        from tqdm import tqdm
    except ImportError:
        return results
    return iter(tqdm(results, total=total, desc="homes", unit="home"))


# --------------------------------------------------------------------------- storage


def save_history(history: HomeHistory, stem: str | os.PathLike[str]) -> None:
    """Store a history as `<stem>.npz` (arrays, no pickle) and `<stem>.json` (metadata)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    state_ids = list(history.states)
    stat_ids = list(history.statistics)
    swap_ids = list(history.battery_swaps)
    states = [history.states[e] for e in state_ids]
    stats = [history.statistics[e] for e in stat_ids]
    swaps = [history.battery_swaps[d] for d in swap_ids]
    arrays: dict[str, npt.NDArray[Any]] = {
        "state_time": _concat([s.time for s in states]),
        "state_value": _concat([s.value for s in states]),
        "state_code": np.concatenate([s.code for s in states]) if states else np.empty(0, np.int32),
        "state_last_reported": _concat(
            [s.time if s.last_reported is None else s.last_reported for s in states]
        ),
        "state_offsets": _offsets([len(s) for s in states]),
        "stat_start": _concat([s.start for s in stats]),
        "stat_mean": _concat([s.mean for s in stats]),
        "stat_min": _concat([s.min for s in stats]),
        "stat_max": _concat([s.max for s in stats]),
        "stat_offsets": _offsets([len(s) for s in stats]),
        "swap_time": _concat(swaps),
        "swap_offsets": _offsets([s.size for s in swaps]),
        "restarts": np.asarray(history.restarts, dtype=np.float64),
    }
    meta = {
        "generator_version": GENERATOR_VERSION,
        "home_id": history.home_id,
        "start": history.start,
        "end": history.end,
        "devices": [_device_dict(d) for d in history.devices],
        "entities": [_entity_dict(e) for e in history.entities],
        "state_entities": state_ids,
        "state_labels": [list(s.labels) for s in states],
        "stat_entities": stat_ids,
        "swap_devices": swap_ids,
        "ground_truth": [
            {"device_key": e.device_key, "kind": e.kind, "start": e.start, "end": e.end, "warning": e.warning}
            for e in history.ground_truth
        ],
        "scenario": history.scenario,
    }
    npz_tmp = stem.with_name(stem.name + ".npz.tmp")
    json_tmp = stem.with_name(stem.name + ".json.tmp")
    with npz_tmp.open("wb") as handle:
        np.savez(handle, allow_pickle=False, **arrays)
    json_tmp.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(npz_tmp, stem.with_suffix(".npz"))
    os.replace(json_tmp, stem.with_suffix(".json"))


def load_history(stem: str | os.PathLike[str]) -> HomeHistory:
    """Read a history written by `save_history` (never unpickles anything)."""
    stem = Path(stem)
    meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    with np.load(stem.with_suffix(".npz"), allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    state_bounds = _pairs(arrays["state_offsets"])
    stat_bounds = _pairs(arrays["stat_offsets"])
    swap_bounds = _pairs(arrays["swap_offsets"])
    states = {
        entity_id: StateSeries(
            time=arrays["state_time"][a:b],
            value=arrays["state_value"][a:b],
            code=arrays["state_code"][a:b],
            labels=tuple(labels),
            last_reported=arrays["state_last_reported"][a:b],
        )
        for entity_id, labels, (a, b) in zip(
            meta["state_entities"], meta["state_labels"], state_bounds, strict=True
        )
    }
    statistics = {
        entity_id: StatSeries(
            start=arrays["stat_start"][a:b],
            mean=arrays["stat_mean"][a:b],
            min=arrays["stat_min"][a:b],
            max=arrays["stat_max"][a:b],
        )
        for entity_id, (a, b) in zip(meta["stat_entities"], stat_bounds, strict=True)
    }
    swaps = {
        device_key: arrays["swap_time"][a:b]
        for device_key, (a, b) in zip(meta["swap_devices"], swap_bounds, strict=True)
    }
    return HomeHistory(
        home_id=meta["home_id"],
        start=float(meta["start"]),
        end=float(meta["end"]),
        devices=[_device_from(d) for d in meta["devices"]],
        entities=[_entity_from(e) for e in meta["entities"]],
        states=states,
        statistics=statistics,
        battery_swaps=swaps,
        restarts=arrays["restarts"],
        ground_truth=[FailureEvent(**e) for e in meta["ground_truth"]],
        scenario=dict(meta["scenario"]),
    )


def _concat(parts: Sequence[FloatArray]) -> FloatArray:
    if not parts:
        return np.empty(0)
    result: FloatArray = np.concatenate(parts).astype(np.float64, copy=False)
    return result


def _offsets(lengths: Iterable[int]) -> Int64Array:
    return np.concatenate([[0], np.cumsum(np.asarray(list(lengths), dtype=np.int64))]).astype(np.int64)


def _pairs(offsets: npt.NDArray[Any]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(cast("list[int]", offsets.tolist())))


def _device_dict(device: DeviceRecord) -> dict[str, Any]:
    return {f.name: _plain(getattr(device, f.name)) for f in fields(device)}


def _entity_dict(entity: EntityRecord) -> dict[str, Any]:
    return {f.name: _plain(getattr(entity, f.name)) for f in fields(entity)}


def _plain(value: object) -> object:
    return value.value if isinstance(value, Protocol | Power | Chemistry | EntityRole) else value


def _device_from(data: Mapping[str, Any]) -> DeviceRecord:
    return DeviceRecord(
        **{
            **data,
            "protocol": Protocol(data["protocol"]),
            "power": Power(data["power"]),
            "chemistry": Chemistry(data["chemistry"]),
        }
    )


def _entity_from(data: Mapping[str, Any]) -> EntityRecord:
    return EntityRecord(**{**data, "role": EntityRole(data["role"])})


def state_strings(entity: EntityRecord, series: StateSeries) -> list[str]:
    """Return the state strings of an entity's rows (for export and display)."""
    labels = series.labels
    out: list[str] = []
    for code, value in zip(cast("list[int]", series.code.tolist()), _floats(series.value), strict=True):
        if code == UNAVAILABLE:
            out.append("unavailable")
        elif code == UNKNOWN:
            out.append("unknown")
        elif code < len(labels):
            out.append(labels[code])
        elif math.isfinite(value):
            out.append(_number_string(value))
        else:
            raise ValueError(f"{entity.entity_id}: no state string for token {code}")
    return out


def is_valid_entity_id(entity_id: str) -> bool:
    """Return whether a string is a valid Home Assistant entity id."""
    return bool(_ENTITY_ID.match(entity_id)) and "__" not in entity_id
