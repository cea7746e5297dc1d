"""Battery discharge, brown-out and the owner's battery changes.

A battery's state is its used fraction u (0 new, 1 empty), rising linearly with
time at the device's drain rate. Its voltage follows the chemistry's curve and
the device reports a percentage mapped linearly from voltage, as firmware does:
- coin (CR2032...): 3.0 V falling slowly to 2.85 V over 85 % of the capacity,
  then a knee down to 2.0 V; reported as (V - 2.1) / 0.9, so 83-100 % for most
  of the life. The radio browns out at 2.25-2.45 V, i.e. while it still
  reports 15-40 %.
- alkaline (AA/AAA): 1.58 V falling steadily, faster at the end; dies at 1.0-1.1 V (0-17 %).
- lithium (AA/CR123A): flat at about 1.7 V, then a cliff; dies while reporting 5-25 %.
Owners change batteries when they notice a low level (a threshold of 5-30 %
and a delay of days), some never look, a few change one early at any level,
and most change a dead battery within days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .home import DAY, HOUR

Floats = npt.NDArray[np.float64]
_U: Floats = np.linspace(0.0, 1.0, 4001, dtype=np.float64)


def voltage(chemistry: str, used: Floats) -> Floats:
    """Cell voltage at used fraction `used`."""
    u = np.clip(used, 0.0, 1.0)
    if chemistry == "coin":
        knee = np.clip((u - 0.85) / 0.15, 0.0, 1.0)
        return np.where(u < 0.85, 3.0 - 0.15 * u / 0.85, 2.85 - 0.85 * knee**1.4)
    if chemistry == "lithium":
        cliff = np.clip((u - 0.9) / 0.1, 0.0, 1.0)
        return np.where(u < 0.9, 1.75 - 0.1 * u, 1.66 - 0.66 * cliff**1.5)
    return 1.58 - 0.25 * u - 0.35 * u**6


def percent(chemistry: str, volts: Floats) -> Floats:
    """The percentage the firmware reports for a voltage."""
    low, high = {"coin": (2.1, 3.0), "lithium": (1.1, 1.75)}.get(chemistry, (1.0, 1.58))
    return np.asarray(np.clip(100.0 * (volts - low) / (high - low), 0.0, 100.0), dtype=np.float64)


def death_fraction(chemistry: str, rng: np.random.Generator) -> float:
    """The used fraction at which the device browns out (its cut-off voltage drawn per device)."""
    cut = {"coin": (2.25, 2.45), "lithium": (1.15, 1.25)}.get(chemistry, (1.0, 1.1))
    v_cut = float(rng.uniform(*cut))
    below = np.flatnonzero(voltage(chemistry, _U) < v_cut)
    return float(_U[below[0]]) if len(below) else 1.0


@dataclass(slots=True)
class BatteryPlan:
    """One device's batteries over the simulation: pieces of linear use, death, swaps."""

    chemistry: str
    drain: float  # used fraction per second
    pieces: list[tuple[float, float]]  # (from time, used fraction then)
    death: float = math.inf
    revive: float = math.inf
    swaps: list[tuple[float, float]] = field(default_factory=list)  # (time, true % taken out)
    step: int = 1
    noise: float = 0.0
    stuck: bool = False  # the reported level never moves (a firmware that reports it once)

    def used(self, times: Floats) -> Floats:
        """Used fraction at each time."""
        starts = np.array([p[0] for p in self.pieces])
        index = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, None)
        u0 = np.array([p[1] for p in self.pieces])[index]
        return np.asarray(u0 + (times - starts[index]) * self.drain, dtype=np.float64)

    def true_percent(self, times: Floats) -> Floats:
        """The noise-free reported percentage."""
        return percent(self.chemistry, voltage(self.chemistry, self.used(times)))

    def reported(self, times: Floats, rng: np.random.Generator) -> Floats:
        """What the device reports: noisy, in its steps (or stuck at its first value)."""
        level = self.true_percent(times) + rng.normal(0.0, self.noise, len(times))
        level = np.clip(np.round(level / self.step) * self.step, 0.0, 100.0)
        if self.stuck and len(level):
            level[:] = level[0]
        return level


def plan_battery(
    rng: np.random.Generator, chemistry: str, life_days: tuple[float, float], start: float, stop: float
) -> BatteryPlan:
    """Draw a device's battery: its age at the start, drain, reporting, death and the owner's swaps."""
    u_death = death_fraction(chemistry, rng)
    plan = BatteryPlan(
        chemistry=chemistry,
        drain=1.0 / (float(rng.uniform(*life_days)) * DAY),
        pieces=[(start, float(rng.uniform(0.0, u_death - 0.01)))],
        step=1,
        noise=float(rng.choice([0.0, 0.5, 1.5, 3.0])),
        stuck=bool(rng.random() < 0.08),
    )
    grid: Floats = np.arange(start, stop, HOUR, dtype=np.float64)
    used = plan.used(grid)
    dead = np.flatnonzero(used >= u_death)
    death = float(grid[dead[0]]) if len(dead) else math.inf
    swap = _owner_swap(rng, plan, grid, death)
    if swap < death:
        plan.swaps.append((swap, float(plan.true_percent(np.array([swap]))[0])))
        plan.pieces.append((swap, float(rng.uniform(0.0, 0.03))))
        return plan
    plan.death = death
    if death < stop and rng.random() < 0.7:
        plan.revive = death + float(rng.uniform(1.0, 10.0)) * DAY
        plan.pieces.append((plan.revive, float(rng.uniform(0.0, 0.03))))
    return plan


def _owner_swap(rng: np.random.Generator, plan: BatteryPlan, grid: Floats, death: float) -> float:
    """When the owner changes the battery before it dies (inf: not before)."""
    swap = math.inf
    if rng.random() < 0.6:  # an owner who watches battery levels
        threshold = float(rng.uniform(5.0, 30.0))
        low = np.flatnonzero(plan.true_percent(grid) <= threshold)
        if len(low):
            swap = float(grid[low[0]]) + float(rng.exponential(3.0)) * DAY
    if rng.random() < 0.04:  # an early change at whatever level
        swap = min(swap, float(rng.uniform(grid[0], grid[-1])))
    return swap if swap < death else math.inf
