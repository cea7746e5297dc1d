"""The state rows of a simulated device's entities: report times, values, and 'unavailable' spells."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .battery import BatteryPlan, Floats
from .catalog import TEMPLATES, EntityTemplate
from .home import DAY, FLAKY, HOUR, MINUTE, OFFLINE, STALE, HomeSpec, Interval, SimDevice, poisson_times
from .simulate import (
    DeviceRun,
    device_failure,
    draw_battery,
    entity_id,
    inside,
    merge,
    physical_outages,
    visible_outages,
)

# How long one event keeps a device "on" (open door, motion, switched on, unlocked), median seconds.
ON_SECONDS = {"contact": 240.0, "motion": 90.0, "lock": 120.0, "remote": 1.0, "zw_multi": 90.0}


@dataclass(slots=True)
class Context:
    """What every entity of one device shares."""

    home: HomeSpec
    device: SimDevice
    battery: BatteryPlan | None
    outages: list[Interval]
    visible: list[Interval]
    on_spans: list[Interval]
    link: float  # the device's usual signal quality, 0 (bad) to 1 (good)
    phase: float


def cadence(rng: np.random.Generator, minutes: float, start: float, stop: float) -> Floats:
    """Report times every `minutes` (+/- 20 %) from a random phase."""
    step = minutes * MINUTE
    n = int((stop - start) / step * 1.3) + 2
    times = start + rng.uniform(0.0, step) + np.cumsum(rng.uniform(0.8, 1.2, n) * step)
    return np.asarray(times[times < stop], dtype=np.float64)


def _on_spans(rng: np.random.Generator, home: HomeSpec, device: SimDevice) -> list[Interval]:
    """When the device is "on": door open, motion, switched on, unlocked, TV watched."""
    template = TEMPLATES[device.kind]
    if device.kind in ("tv", "printer"):
        return [(d + 19 * HOUR, d + 22.5 * HOUR) for d in np.arange(home.start, home.stop, DAY).tolist()]
    if template.events_per_day <= 0:
        return []
    median = ON_SECONDS.get(device.kind, 2 * HOUR)
    starts = poisson_times(rng, template.events_per_day, home.start, home.stop)
    return merge([(t, t + float(rng.lognormal(math.log(median), 0.8))) for t in starts])


def _times(rng: np.random.Generator, ctx: Context, entity: EntityTemplate) -> Floats:
    """When an entity reports, before outages take reports away."""
    template = TEMPLATES[ctx.device.kind]
    start, stop = ctx.home.start, ctx.home.end
    if entity.signal == "battery":
        return cadence(rng, template.battery_minutes, start, stop)
    if entity.signal == "action":
        return np.array([s for s, _ in ctx.on_spans if s < stop], dtype=np.float64)
    times = cadence(rng, template.report_minutes, start, stop)
    if entity.signal in ("binary", "switch", "lock", "media", "power"):
        edges = [t for span in ctx.on_spans for t in span if t < stop]
        times = np.sort(np.concatenate([times, np.asarray(edges, dtype=np.float64)]))
    return times


def _silenced(rng: np.random.Generator, ctx: Context, times: Floats) -> Floats:
    """Reports that get through: none in outages, none after going stale, fewer and fewer before."""
    keep = ~inside(times, ctx.outages)
    device = ctx.device
    if device.fate == STALE:
        keep &= times < device.fate_time
        if device.lead_days > 0:
            t0 = device.fate_time - device.lead_days * DAY
            x = np.clip((times - t0) / (device.lead_days * DAY), 0.0, 1.0)
            keep &= rng.random(len(times)) >= 0.9 * x**1.5
    return np.asarray(times[keep], dtype=np.float64)


def _link(ctx: Context, times: Floats) -> Floats:
    """Signal quality 0..1 at each time: the device's usual link, sinking before an offline failure."""
    link = np.full(len(times), ctx.link)
    device = ctx.device
    if device.fate in (OFFLINE, STALE) and device.lead_days > 0:
        t0 = device.fate_time - device.lead_days * DAY
        link -= 0.5 * np.clip((times - t0) / (device.lead_days * DAY), 0.0, 1.0)
    return np.asarray(np.clip(link, 0.0, 1.0), dtype=np.float64)


def _values(rng: np.random.Generator, ctx: Context, entity: EntityTemplate, times: Floats) -> list[str]:
    """The state strings an entity reports at `times`."""
    signal = entity.signal
    on = inside(times, ctx.on_spans)
    if signal == "battery":
        assert ctx.battery is not None
        return [str(int(v)) for v in ctx.battery.reported(times, rng)]
    if signal == "lqi":
        return [
            str(int(v)) for v in np.clip(30 + 200 * _link(ctx, times) + rng.normal(0, 12, len(times)), 0, 255)
        ]
    if signal == "rssi":
        return [str(int(v)) for v in -95 + 50 * _link(ctx, times) + rng.normal(0, 3, len(times))]
    if signal in ("temperature", "humidity"):
        return _climate(rng, ctx, signal, times)
    if signal in ("binary", "switch"):
        return ["on" if o else "off" for o in on]
    if signal == "lock":
        return ["unlocked" if o else "locked" for o in on]
    if signal == "media":
        return ["on" if o else "off" for o in on]
    if signal == "power":
        load = float(rng.uniform(4.0, 150.0))
        watts = np.where(on, load * (1 + rng.normal(0, 0.03, len(times))), rng.uniform(0.0, 0.6, len(times)))
        return [f"{w:.1f}" for w in watts]
    if signal == "action":
        return [str(a) for a in rng.choice(["single", "double", "hold"], len(times))]
    return ["printing" if o else "idle" for o in on]


def _climate(rng: np.random.Generator, ctx: Context, signal: str, times: Floats) -> list[str]:
    """Room temperature (daily swing, slow drift) or humidity, at the device's resolution."""
    day = 2 * np.pi * (times - ctx.home.start) / DAY + ctx.phase
    drift = np.sin(2 * np.pi * (times - ctx.home.start) / (9 * DAY) + 3 * ctx.phase)
    if signal == "temperature":
        values = 20.5 + 2.0 * np.sin(day) + 1.5 * drift + rng.normal(0, 0.1, len(times))
    else:
        values = 50.0 + 6.0 * np.sin(day + 1.0) + 8.0 * drift + rng.normal(0, 0.8, len(times))
    digits = 2 if ctx.device.kind == "climate" else 1
    return [f"{v:.{digits}f}" for v in values]


def entity_rows(rng: np.random.Generator, ctx: Context, entity: EntityTemplate) -> tuple[Floats, list[str]]:
    """An entity's rows up to the home's end, 'unavailable' where HA shows the device so."""
    end = ctx.home.end
    last = min(end, ctx.device.fate_time) if ctx.device.fate == STALE else end
    times = _silenced(rng, ctx, _times(rng, ctx, entity))
    back = [e for _, e in ctx.visible if e < last and not inside(np.array([e]), ctx.outages)[0]]
    if entity.signal != "action":
        times = np.concatenate([times, np.asarray(back, dtype=np.float64)])
    times = np.sort(times[~inside(times, ctx.visible)])
    states = _values(rng, ctx, entity, times)
    gone = [s for s, _ in ctx.visible if s < end]
    all_times = np.concatenate([times, np.asarray(gone, dtype=np.float64)])
    all_states = states + ["unavailable"] * len(gone)
    order = np.argsort(all_times, kind="stable")
    return all_times[order], [all_states[i] for i in order]


def simulate_device(home: HomeSpec, device: SimDevice, routers: dict[str, list[Interval]]) -> DeviceRun:
    """Simulate one device (its router's outages must be known)."""
    rng = np.random.default_rng(device.seed)
    template = TEMPLATES[device.kind]
    battery = draw_battery(rng, home, template)
    outages = physical_outages(rng, home, device, battery, routers)
    ctx = Context(
        home=home,
        device=device,
        battery=battery,
        outages=outages,
        visible=visible_outages(rng, home, device, outages),
        on_spans=_on_spans(rng, home, device),
        link=float(rng.uniform(0.05, 0.45) if device.fate == FLAKY else rng.uniform(0.35, 0.95)),
        phase=float(rng.uniform(0, 2 * np.pi)),
    )
    rows = {entity_id(device, e): entity_rows(rng, ctx, e) for e in template.entities}
    failure = device_failure(home, device, battery)
    if failure["how"] in (OFFLINE, "offline_unmarked"):
        # Gone for good from the start of the outage it never came back from (a precursor may run into it).
        failure["time"] = next(s for s, e in outages if s <= device.fate_time < e or s == device.fate_time)
    truth: dict[str, Any] = {
        "key": device.key,
        "name": device.name,
        "kind": device.kind,
        "power": template.power,
        "protocol": template.protocol,
        "integration": device.integration,
        "fate": device.fate,
        "mode": device.mode or None,
        "parent": device.parent,
        **failure,
        "swaps": [] if battery is None else [[t, round(p, 1)] for t, p in battery.swaps],
        "battery_death": None if battery is None or not math.isfinite(battery.death) else battery.death,
        "battery_revive": None if battery is None or not math.isfinite(battery.revive) else battery.revive,
        "stuck_battery": None if battery is None else battery.stuck,
        "ha_marks_unavailable": home.delay(device) is not None,
    }
    return DeviceRun(device=device, rows=rows, truth=truth, outages=outages)
