"""A device's history: physical outages, what HA shows of them, reports and values; and its truth."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .battery import BatteryPlan, Floats, plan_battery
from .catalog import TEMPLATES, DeviceTemplate, EntityTemplate
from .home import DAY, FLAKY, HOUR, MINUTE, OFFLINE, STALE, HomeSpec, Interval, SimDevice, poisson_times

LOW_SWAP_PERCENT = 15.0  # a battery taken out at or below this needed replacing (a failure)


@dataclass(slots=True)
class DeviceRun:
    """A simulated device: its entities' rows (up to the home's end) and its truth."""

    device: SimDevice
    rows: dict[str, tuple[Floats, list[str]]]
    truth: dict[str, Any]
    outages: list[Interval] = field(default_factory=list)  # physical, to the simulation's stop


def merge(intervals: list[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union of intervals."""
    out: list[Interval] = []
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def inside(times: Floats, intervals: list[Interval]) -> npt.NDArray[np.bool_]:
    """Boolean mask of times within any of the (merged) intervals."""
    mask = np.zeros(len(times), dtype=bool)
    for s, e in intervals:
        mask |= (times >= s) & (times < e)
    return mask


def _spells(rng: np.random.Generator, starts: list[float], median: float, sigma: float) -> list[Interval]:
    """Outages starting at `starts` with lognormal durations."""
    return [(t, t + float(rng.lognormal(math.log(median), sigma))) for t in starts]


def _precursor(rng: np.random.Generator, device: SimDevice) -> list[Interval]:
    """Outages before an offline failure: more frequent and/or longer as it nears."""
    if device.lead_days <= 0:
        return []
    t0 = device.fate_time - device.lead_days * DAY
    more = device.mode in ("more", "both")
    longer = device.mode in ("longer", "both")
    r0, r1 = (0.5, 0.5 + float(rng.uniform(3.0, 10.0))) if more else (1.5, 1.5)
    m0 = float(rng.uniform(2.0, 6.0)) * MINUTE
    m1 = float(rng.uniform(1.0, 6.0)) * HOUR if longer else 2 * m0
    out: list[Interval] = []
    for t in poisson_times(rng, r1, t0, device.fate_time):
        x = (t - t0) / (device.fate_time - t0)
        if rng.random() < (r0 + (r1 - r0) * x**2) / r1:
            d = float(rng.lognormal(math.log(m0 * (m1 / m0) ** x), 0.6))
            out.append((t, min(t + d, device.fate_time)))
    return out


def _habit_outages(rng: np.random.Generator, home: HomeSpec, device: SimDevice) -> list[Interval]:
    """Healthy devices that leave the network when switched off: some TVs every night, printers most days."""
    if device.kind not in ("tv", "printer") or rng.random() < 0.4:
        return []
    out: list[Interval] = []
    for day in np.arange(home.start, home.stop, DAY).tolist():
        if device.kind == "tv":
            on = day + float(rng.uniform(17.0, 20.0)) * HOUR
            off = day + float(rng.uniform(22.5, 24.5)) * HOUR
            out.append((off, on + DAY))
        elif rng.random() < 0.7:  # the printer stays off that day
            out.append((day, day + DAY))
    return out


def physical_outages(
    rng: np.random.Generator,
    home: HomeSpec,
    device: SimDevice,
    battery: BatteryPlan | None,
    routers: dict[str, list[Interval]],
) -> list[Interval]:
    """When the device cannot talk to HA, for whatever reason, to the simulation's stop."""
    template = TEMPLATES[device.kind]
    out = _spells(rng, poisson_times(rng, 1 / 60, home.start, home.stop), 40 * MINUTE, 1.0)
    if device.fate == FLAKY:
        wifi = template.protocol == "wifi"
        median = float(rng.uniform(1.5, 8.0) if wifi else rng.uniform(3.0, 20.0)) * MINUTE
        out += _spells(
            rng, poisson_times(rng, float(rng.uniform(0.5, 6.0)), home.start, home.stop), median, 0.7
        )
    else:
        out += _spells(rng, poisson_times(rng, 0.05, home.start, home.stop), 3 * MINUTE, 0.7)
    if template.power == "mains":
        out += home.power_cuts
    if template.protocol == "wifi":
        out += home.wifi_reboots
    if device.parent is not None:
        reroute = float(rng.uniform(10.0, 90.0)) * MINUTE
        out += [
            (s + MINUTE, s + min(e - s, reroute)) for s, e in routers[device.parent] if e - s > 2 * MINUTE
        ]
    if device.fate == OFFLINE:
        out += [*_precursor(rng, device), (device.fate_time, math.inf)]
    if battery is not None and math.isfinite(battery.death):
        out.append((battery.death, battery.revive))
    out += _habit_outages(rng, home, device)
    return merge([(max(s, home.start), min(e, home.stop)) for s, e in out])


def visible_outages(
    rng: np.random.Generator, home: HomeSpec, device: SimDevice, outages: list[Interval]
) -> list[Interval]:
    """The spells HA shows as unavailable: outages longer than its detection delay, until the next report."""
    delay = home.delay(device)
    if delay is None:
        return []
    template = TEMPLATES[device.kind]
    catch_up = min(template.report_minutes * MINUTE, HOUR) if template.power == "battery" else MINUTE
    return merge([(s + delay, e + float(rng.uniform(0.0, catch_up))) for s, e in outages if e - s > delay])


def device_failure(home: HomeSpec, device: SimDevice, battery: BatteryPlan | None) -> dict[str, Any]:
    """The device's first failure before the simulation's stop: battery, offline or stale.

    A battery fails when it runs out or is changed at <= 15 %.

    A device that drops off the network where HA never marks it unavailable (zigbee2mqtt without
    availability, a sleeping Z-Wave node) is, as HA shows it, a device that stopped reporting: stale,
    how "offline_unmarked".
    """
    found: list[tuple[float, str, str, float | None]] = []
    if device.fate in (OFFLINE, STALE):
        warning = device.fate_time - device.lead_days * DAY if device.lead_days > 0 else None
        kind = device.fate if device.fate == STALE or home.delay(device) is not None else STALE
        how = "offline_unmarked" if kind != device.fate else device.fate
        found.append((device.fate_time, kind, how, warning))
    if battery is not None:
        if math.isfinite(battery.death):
            found.append((battery.death, "battery_depleted", "died", None))
        found += [
            (t, "battery_depleted", "swapped_low", None) for t, p in battery.swaps if p <= LOW_SWAP_PERCENT
        ]
    found = [f for f in found if f[0] < home.stop]
    if not found:
        return {"failure": None, "time": None, "how": None, "warning": None}
    time, kind, how, warning = min(found)
    return {"failure": kind, "time": time, "how": how, "warning": warning}


def draw_battery(rng: np.random.Generator, home: HomeSpec, template: DeviceTemplate) -> BatteryPlan | None:
    """The device's battery plan, with its reporting resolution (None for mains devices)."""
    if template.power != "battery":
        return None
    plan = plan_battery(rng, template.chemistry, template.life_days, home.start, home.stop)
    plan.step = int(rng.choice(template.battery_step))
    if template.protocol == "ble":
        plan.noise = max(plan.noise, 2.0)
    return plan


def entity_id(device: SimDevice, entity: EntityTemplate) -> str:
    """`<domain>.<device slug><suffix>`, as integrations name them."""
    return f"{entity.domain}.{device.slug}{entity.suffix}"
