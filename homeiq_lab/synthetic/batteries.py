"""Batteries and chemistries: discharge curves, a device's battery, its swaps and recharges, readings.

A battery is drawn per device (curve, reporting interval, hourly consumption);
its cycles are placed so that a battery failure dies exactly at its onset and
users swap or recharge after the level gets low; readings add cold and noise.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from custom_components.homeiq_device_intel.ml.records import Chemistry, Power

from .arrays import FloatArray, _quantize, _report_times, _smooth_noise
from .catalog import _BLE_INTEGRATIONS
from .config import DAY, HOUR, MINUTE, YEAR
from .plans import _INDOOR, _ambient, _Battery, _Device, _Failure, _Home

# A battery (or charge): when it starts, its state of charge once charged, how
# long charging takes (0 for a swap) and the charge it starts from.
_Cycle = tuple[float, float, float, float]

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


_COLD_COEF: Final[dict[Chemistry, tuple[float, float]]] = {
    # how much the level sags per °C below 15 °C (drawn within the range)
    Chemistry.ALKALINE: (0.3, 0.6),
    Chemistry.COIN: (0.1, 0.3),
}
_VOLTS: Final[dict[Chemistry, tuple[float, float]]] = {
    # voltage when empty and when full
    Chemistry.COIN: (2.1, 3.05),
    Chemistry.LITHIUM: (2.2, 3.6),
    Chemistry.ALKALINE: (2.0, 3.2),
    Chemistry.LI_ION: (3.3, 4.2),
    Chemistry.NIMH: (2.0, 2.8),
}


def _plan_battery(dev: _Device, home: _Home) -> _Battery:
    """Draw a device's battery: curve, reporting, and its consumption over time."""
    rng, model = dev.rng, dev.model
    chem = model.chemistry
    knee, shape, plateau = _draw_curve(rng, chem)
    life = float(rng.uniform(*model.life_days)) * home.var.battery_life * DAY
    rechargeable = model.power is Power.RECHARGEABLE
    step, ceil_steps = _draw_steps(rng, rechargeable)
    interval = _draw_interval(rng, dev.info.integration)
    cold = _COLD_COEF.get(chem, (0.05, 0.15))
    volts = _VOLTS[chem]
    grid_t, grid_w = _consumption(rng, home, dev.t_create, life)
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


def _draw_curve(rng: np.random.Generator, chem: Chemistry) -> tuple[float, float, float]:
    """Draw a battery's discharge curve: knee, shape and plateau (around its chemistry's)."""
    knee, shape, plateau = _CURVE_DEFAULTS[chem]
    if chem in (Chemistry.COIN, Chemistry.LITHIUM):
        knee = float(rng.uniform(0.01, 0.08))
        shape = float(rng.uniform(1.5, 3.5))
        plateau = float(rng.uniform(0.8, 0.95))
    elif chem is Chemistry.NIMH:
        knee, plateau = float(rng.uniform(0.08, 0.2)), float(rng.uniform(0.4, 0.7))
    else:
        shape = float(rng.uniform(0.75, 1.3))
    return knee, shape, plateau


def _draw_steps(rng: np.random.Generator, rechargeable: bool) -> tuple[float, bool]:
    """Draw the level's display step (%), and whether it is rounded up to it."""
    if rechargeable:
        return (25.0, True) if rng.random() < 0.5 else (10.0, False)
    return float(rng.choice([1.0, 1.0, 1.0, 1.0, 5.0, 10.0])), False


def _draw_interval(rng: np.random.Generator, integration: str) -> float:
    """Draw how often (s) a battery reports its level, by integration."""
    if integration == "zwave_js":
        return float(rng.uniform(6.0, 24.0)) * HOUR
    if integration in _BLE_INTEGRATIONS:
        return float(rng.uniform(10.0, 40.0)) * MINUTE
    if integration == "mqtt":
        return float(rng.uniform(0.8, 1.5)) * HOUR
    return float(rng.uniform(1.0, 6.0)) * HOUR


def _consumption(
    rng: np.random.Generator, home: _Home, t0: float, life: float
) -> tuple[FloatArray, FloatArray]:
    """Return hourly times and the charge used up by then: usage follows activity, aging accelerates."""
    grid_t = np.arange(t0, home.end + 2 * DAY, HOUR, dtype=np.float64)
    usage = 1.0 + float(rng.uniform(0.0, 0.4)) * (home.activity(grid_t, _INDOOR) - 1.0)
    aging = 1.0 + float(rng.uniform(0.0, 0.5)) * (grid_t - t0) / YEAR
    days = np.exp(_smooth_noise(rng, t0, float(grid_t[-1]) + DAY, DAY, 0.1, grid_t))
    per_hour = HOUR / life * usage * aging * days
    grid_w = np.concatenate([[0.0], np.cumsum(per_hour[:-1])])
    return grid_t, grid_w


def _new_charge(rng: np.random.Generator, rechargeable: bool) -> tuple[float, float]:
    """Draw a fresh battery's (or a recharge's) state of charge and how long charging takes."""
    ramp = float(rng.uniform(2.0, 5.0)) * HOUR if rechargeable else 0.0
    return (1.0 if rechargeable else float(rng.uniform(0.93, 1.0))), ramp


def _plan_cycles(dev: _Device, home: _Home, battery: _Battery) -> None:
    """Place battery swaps/recharges; a battery failure dies exactly at its onset."""
    rng = dev.rng
    t0 = dev.t_create
    failure = dev.failure
    if failure is not None and failure.family in ("battery_cliff", "battery_slope"):
        cycles = _cycles_until_death(dev, home, battery, failure)
        if failure.recovery >= home.end:
            _store_cycles(dev, home, battery, cycles)
            return
        s_new, ramp = _new_charge(rng, dev.model.power is Power.RECHARGEABLE)
        cycles.append((failure.recovery, s_new, ramp, 0.0))
    else:
        s0 = float(rng.uniform(0.95, 1.0)) if t0 > home.start else float(rng.uniform(0.08, 1.0))
        cycles = [(t0, s0, 0.0, s0)]
    _add_swaps(dev, home, battery, cycles)
    _store_cycles(dev, home, battery, cycles)


def _cycles_until_death(dev: _Device, home: _Home, battery: _Battery, failure: _Failure) -> list[_Cycle]:
    """Work backwards from the death so the charge hits its dead level at the onset."""
    rng = dev.rng
    t0 = dev.t_create
    rechargeable = dev.model.power is Power.RECHARGEABLE
    s_end = _soc_for_level(battery, _dead_level(dev, home, battery, failure))
    t_end = failure.onset
    if t0 > home.start:
        # A device added during the history starts on a fresh battery: one
        # that dies this soon drains faster than its model's usual life.
        fresh = float(rng.uniform(0.95, 1.0))
        need = _w_at(battery, t_end) - _w_at(battery, t0)
        if need < fresh - s_end:
            battery.grid_w = battery.grid_w * ((fresh - s_end) / need)
    reverse: list[_Cycle] = []
    for _ in range(200):
        need = _w_at(battery, t_end) - _w_at(battery, t0)
        if s_end + need <= 1.0:
            break
        s_new, ramp = _new_charge(rng, rechargeable)
        begin = _t_at(battery, _w_at(battery, t_end) - (s_new - s_end)) - ramp
        s_before = float(rng.uniform(0.02, 0.25))
        if begin <= t0 + HOUR:
            break
        reverse.append((begin, s_new, ramp, s_before))
        t_end, s_end = begin, s_before
    need = _w_at(battery, t_end) - _w_at(battery, t0)
    s0 = min(1.0, s_end + need)
    return [(t0, s0, 0.0, s0), *reversed(reverse)]


def _dead_level(dev: _Device, home: _Home, battery: _Battery, failure: _Failure) -> float:
    """Draw the level (%) a failing battery dies at; a cliff's knee is set by the lead time."""
    rng = dev.rng
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
    return float(dead_level)


def _add_swaps(dev: _Device, home: _Home, battery: _Battery, cycles: list[_Cycle]) -> None:
    """Forward from the last cycle: the user swaps/recharges after the level gets low."""
    rng = dev.rng
    rechargeable = dev.model.power is Power.RECHARGEABLE
    failure = dev.failure
    dead_lo, dead_hi = math.inf, math.inf
    if failure is not None and failure.family in ("sudden_death", "stale"):
        dead_lo, dead_hi = failure.onset, failure.recovery
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
        s_new, ramp_new = _new_charge(rng, rechargeable)
        cycles.append((t_swap, s_new, ramp_new, s_at))


def _store_cycles(dev: _Device, home: _Home, battery: _Battery, cycles: list[_Cycle]) -> None:
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
