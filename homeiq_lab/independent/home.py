"""Drawing a home: its devices, their fates, and home-wide events (power cuts, Wi-Fi reboots, restarts)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .catalog import AVAILABILITY_DELAY, HOME_MIX, INTEGRATION_BY_KIND, ROOMS, TEMPLATES, ZIGBEE_STACKS

DAY = 86400.0
HOUR = 3600.0
MINUTE = 60.0
FIRST_DAY = 1_772_323_200.0  # 2026-03-01 00:00 UTC
Interval = tuple[float, float]

# Fates, drawn per device (battery devices may also run down, whatever their fate).
HEALTHY = "healthy"
FLAKY = "flaky"  # many short dropouts, never fails
OFFLINE = "offline"  # goes unavailable for good
STALE = "stale"  # stops reporting, not marked unavailable


@dataclass(slots=True, kw_only=True)
class SimDevice:
    """One device of a simulated home and what will happen to it."""

    key: str
    name: str
    slug: str
    kind: str
    integration: str
    room: str
    via: str | None  # the bridge (coordinator/controller) it hangs off
    parent: str | None = None  # the mains router a Zigbee end device talks through
    fate: str = HEALTHY
    fate_time: float = math.inf
    lead_days: float = 0.0  # how long the precursor lasts (0: none)
    mode: str = ""  # offline precursor: "longer", "more" or "both"
    seed: tuple[int, ...] = ()


@dataclass(slots=True, kw_only=True)
class HomeSpec:
    """A home before any history is simulated."""

    index: int
    seed: int
    start: float
    end: float  # the recorded history ends here
    stop: float  # the simulation runs on to here (truth of the last days' horizon)
    zigbee: str
    z2m_availability: bool
    devices: list[SimDevice]
    bridges: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # key -> name, integration, model
    power_cuts: list[Interval] = field(default_factory=list)
    wifi_reboots: list[Interval] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)

    def delay(self, device: SimDevice) -> float | None:
        """Seconds of silence before HA marks this device unavailable (None: it never does)."""
        mains, battery = AVAILABILITY_DELAY.get(device.integration, (None, None))
        if device.integration == "mqtt" and not self.z2m_availability:
            return None
        return mains if TEMPLATES[device.kind].power == "mains" else battery


def poisson_times(rng: np.random.Generator, per_day: float, start: float, stop: float) -> list[float]:
    """Event times of a Poisson process of `per_day` events a day on [start, stop)."""
    if per_day <= 0 or stop <= start:
        return []
    n = int(rng.poisson(per_day * (stop - start) / DAY))
    return sorted(float(t) for t in rng.uniform(start, stop, n))


def draw_home(seed: int, index: int, days: float, horizon_days: float) -> HomeSpec:
    """A home: devices by `HOME_MIX`, fates, and home-wide events; deterministic per (seed, index)."""
    rng = np.random.default_rng([seed, index])
    start = FIRST_DAY + index * 3 * DAY
    end = start + days * DAY
    zigbee = str(rng.choice(ZIGBEE_STACKS))
    home = HomeSpec(
        index=index,
        seed=seed,
        start=start,
        end=end,
        stop=end + horizon_days * DAY,
        zigbee=zigbee,
        z2m_availability=bool(rng.random() < 0.6),
        devices=[],
        bridges={
            f"h{index}_zigbee": ("Zigbee Coordinator", zigbee, "SLZB-06"),
            f"h{index}_zwave": ("Z-Wave Controller", "zwave_js", "Zooz 800"),
            f"h{index}_ble": ("Bluetooth Proxy", "esphome", "ESP32 BLE proxy"),
        },
    )
    home.devices = _draw_devices(rng, home)
    _draw_parents(rng, home)
    _draw_fates(rng, home)
    _draw_events(rng, home)
    return home


def _draw_devices(rng: np.random.Generator, home: HomeSpec) -> list[SimDevice]:
    """Devices of each kind in `HOME_MIX`, named after rooms."""
    devices: list[SimDevice] = []
    used: set[str] = set()
    for kind, (low, high) in HOME_MIX.items():
        template = TEMPLATES[kind]
        for _ in range(int(rng.integers(low, high + 1))):
            room = str(rng.choice(ROOMS))
            name = f"{room} {template.label}"
            n = 2
            while name in used:
                name, n = f"{room} {template.label} {n}", n + 1
            used.add(name)
            integration = INTEGRATION_BY_KIND.get(kind, home.zigbee)
            via = {"zigbee": "zigbee", "zwave": "zwave", "ble": "ble"}.get(template.protocol)
            devices.append(
                SimDevice(
                    key=f"h{home.index}_d{len(devices):02d}",
                    name=name,
                    slug=name.lower().replace(" ", "_"),
                    kind=kind,
                    integration=integration,
                    room=room,
                    via=None if via is None else f"h{home.index}_{via}",
                    seed=(home.seed, home.index, len(devices)),
                )
            )
    return devices


def _draw_parents(rng: np.random.Generator, home: HomeSpec) -> None:
    """Most Zigbee end devices talk through a mains router (a plug or bulb), the rest to the coordinator."""
    routers = [
        d.key for d in home.devices if TEMPLATES[d.kind].router and TEMPLATES[d.kind].protocol == "zigbee"
    ]
    for device in home.devices:
        template = TEMPLATES[device.kind]
        if template.protocol == "zigbee" and template.power == "battery" and routers and rng.random() < 0.6:
            device.parent = str(rng.choice(routers))


def _draw_fates(rng: np.random.Generator, home: HomeSpec) -> None:
    """Flaky, offline and stale devices; the failure times fall from day 8 to past the end."""
    for device in home.devices:
        template = TEMPLATES[device.kind]
        mains = template.power == "mains"
        silent_ok = home.delay(device) is None or device.kind == "esphome"
        u = rng.random()
        p_offline = 0.10 if mains else 0.03
        p_stale = 0.12 if silent_ok and template.kind not in ("tv", "printer", "remote") else 0.0
        p_flaky = 0.30 if mains else 0.15
        if u < p_offline:
            device.fate = OFFLINE
            device.mode = str(rng.choice(["longer", "more", "both"]))
        elif u < p_offline + p_stale:
            device.fate = STALE
        elif u < p_offline + p_stale + p_flaky:
            device.fate = FLAKY
            continue
        else:
            continue
        device.fate_time = float(rng.uniform(home.start + 8 * DAY, home.stop - 2 * DAY))
        # About a quarter fail without warning.
        device.lead_days = 0.0 if rng.random() < 0.25 else float(rng.uniform(2.0, 12.0))


def _draw_events(rng: np.random.Generator, home: HomeSpec) -> None:
    """Power cuts (mains devices), Wi-Fi access point reboots (Wi-Fi devices) and HA restarts."""
    home.power_cuts = [
        (t, t + float(rng.lognormal(math.log(20 * MINUTE), 1.0)))
        for t in poisson_times(rng, 1 / 25, home.start, home.stop)
    ]
    home.wifi_reboots = [
        (t, t + float(rng.uniform(2, 6)) * MINUTE) for t in poisson_times(rng, 1 / 8, home.start, home.stop)
    ]
    home.restarts = poisson_times(rng, 1 / 5, home.start + HOUR, home.end - HOUR)
