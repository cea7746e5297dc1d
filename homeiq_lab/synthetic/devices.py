"""Drawing a home's devices: bridges, models, names, areas, timeouts, behaviour and entities.

Entities are named as Home Assistant names them (`<domain>.<device slug>[_<suffix>]`);
each device draws from its own seeded stream (stream 2 + its index).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from custom_components.homeiq_device_intel.ml.records import (
    DeviceRecord,
    EntityRecord,
    EntityRole,
    Power,
    Protocol,
)

from .arrays import _pick, _rng, _slug
from .catalog import (
    _B,
    _BLE_INTEGRATIONS,
    _BRIDGE_KINDS,
    _INDOOR_AREAS,
    _KIND_WEIGHTS,
    _LABELS,
    _MODELS,
    _OUTDOOR_AREAS,
    _T,
    _WIFI_INTEGRATIONS,
    _Z,
    _ZW,
    _Model,
)
from .config import DAY, HOUR, MINUTE, GeneratorConfig
from .plans import _EVENING, _FLAT, _INDOOR, _OUTDOOR, _Device, _EntitySpec, _Home

_ENTITY_ID = re.compile(r"^[a-z_]+\.[a-z0-9_]+$")


def is_valid_entity_id(entity_id: str) -> bool:
    """Return whether a string is a valid Home Assistant entity id."""
    return bool(_ENTITY_ID.match(entity_id)) and "__" not in entity_id


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
