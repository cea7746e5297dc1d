"""Drawing a home's devices: bridges, models, names, areas, timeouts, behaviour and entities.

Entities are named as Home Assistant names them (`<domain>.<device slug>[_<suffix>]`);
each device draws from its own seeded stream (stream 2 + its index).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from custom_components.homeiq_device_intel.ml.records import DeviceRecord, Power, Protocol

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
    _Z,
    _ZW,
    _Model,
)
from .config import DAY, HOUR, MINUTE, GeneratorConfig
from .entities import _add_entities
from .plans import _EVENING, _FLAT, _INDOOR, _OUTDOOR, _Device, _Home


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
    outdoor, area = _draw_place(rng, home, kind)
    name, label, area = _draw_name(rng, kind, integration, area, bridge, names)
    t_create, created = _draw_dates(rng, home, bridge)
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


def _draw_place(rng: np.random.Generator, home: _Home, kind: str) -> tuple[bool, str]:
    """Draw whether a device is outdoors, and its area."""
    outdoor_chance = {"camera": 0.7, "motion": 0.2, "temperature": 0.2, "light": 0.1}
    outdoor = rng.random() < outdoor_chance.get(kind, 0.0)
    areas: tuple[str, ...] = _OUTDOOR_AREAS if outdoor else _INDOOR_AREAS
    if home.home_type == "apartment":
        areas = ("Balcony",) if outdoor else _INDOOR_AREAS[:9]
    return outdoor, areas[int(rng.integers(len(areas)))]


def _draw_name(
    rng: np.random.Generator, kind: str, integration: str, area: str, bridge: bool, names: set[str]
) -> tuple[str, str, str]:
    """Draw a device's label and unique name; return the name, label and area (bridges move)."""
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
    return name, label, area


def _draw_dates(rng: np.random.Generator, home: _Home, bridge: bool) -> tuple[float, float]:
    """Draw when a device's history starts and when it was created (some join mid-history)."""
    t_create = home.start
    created = home.start - float(rng.uniform(30.0, 1000.0)) * DAY
    if not bridge and rng.random() < 0.05:  # added to the home during the history
        t_create = created = home.start + float(rng.uniform(0.0, 0.5)) * (home.end - home.start)
    return t_create, created


def _behaviour(kind: str, label: str, model: _Model, rng: np.random.Generator) -> dict[str, float]:
    """Draw how a device is used and reports (rates per day, durations in s)."""
    p = _common_behaviour(rng)
    _radio_behaviour(p, model, rng)
    usage = _usage(kind, rng)
    if usage is not None:
        p["rate"], p["duration"], p["duration_sigma"], p["profile"] = (float(x) for x in usage)
    _kind_behaviour(p, kind, label, rng)
    p["heat_below"] = float(rng.uniform(-0.2, 0.35))
    p["cooling"] = float(rng.random() < 0.35)
    return p


def _common_behaviour(rng: np.random.Generator) -> dict[str, float]:
    """Draw the parameters every device has: climate, reporting, signal, self-heating."""
    u = rng.uniform
    return {
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


def _radio_behaviour(p: dict[str, float], model: _Model, rng: np.random.Generator) -> None:
    """Redraw the signal level, noise and interval of Zigbee (LQI), BLE and Wi-Fi devices."""
    u = rng.uniform
    if model.protocol is Protocol.ZIGBEE:
        p["signal_base"] = float(np.clip(rng.normal(150.0, 55.0), 15.0, 255.0))
        p["signal_noise"] = float(u(4.0, 15.0))
    elif model.protocol is Protocol.BLE:
        p["signal_base"] = float(np.clip(rng.normal(-76.0, 8.0), -98.0, -50.0))
        p["signal_interval"] = float(u(10.0, 45.0)) * MINUTE
    elif model.protocol is Protocol.WIFI:
        p["signal_interval"] = float(u(5.0, 30.0)) * MINUTE


def _usage(kind: str, rng: np.random.Generator) -> tuple[float, float, float, int] | None:
    """Draw (rate per day, duration, its sigma, profile) of a used kind (None: not used).

    Every kind's draws are made whatever the kind, so the stream stays in step.
    """
    u = rng.uniform
    return {
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


def _kind_behaviour(p: dict[str, float], kind: str, label: str, rng: np.random.Generator) -> None:
    """Redraw what windows, plugs (loads, fridges), TRVs and bridges do differently."""
    u = rng.uniform
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
