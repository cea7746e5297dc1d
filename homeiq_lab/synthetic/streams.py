"""Behaviour: what each kind of entity reports, with noise, following the home's rhythms.

One builder per stream: on/off sessions, button presses, temperatures and
humidity, climate modes, plug power, battery level/flag/voltage, signal,
device temperature, mains voltage and bridge connectivity. A stream is what the
device would send, before availability and restarts.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from custom_components.homeiq_device_intel.ml.records import Protocol

from .arrays import (
    BoolArray,
    FloatArray,
    _change_mask,
    _floats,
    _inside,
    _intervals,
    _merge_sessions,
    _quantize,
    _report_times,
    _smooth_noise,
)
from .batteries import _battery_readings
from .catalog import STATE_SYMBOLS
from .config import DAY, HOUR, MINUTE
from .plans import _UNKNOWN_KEY, _ambient, _Device, _EntitySpec, _Home, _Stream


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
    return _room_signal_season(dev, home, t)[0]


def _room_signal_season(dev: _Device, home: _Home, t: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return `_room_signal` and the season at times t (computed once for both)."""
    p = dev.params
    local = _smooth_noise(dev.rng, dev.t_create, home.end, p["temp_spacing"], p["temp_noise"], t)
    season, hours = home.season(t), home.local_hours(t)
    outdoor = home.outdoor_temperature(t, season, hours)
    if dev.outdoor:
        result: FloatArray = outdoor + local
        return result, season
    room: FloatArray = (
        p["temp_base"]
        + p["temp_amp"] * home.daily_at(hours, p["temp_peak"])
        + p["temp_summer"] * np.maximum(season, 0.0)
        + 0.05 * (outdoor - 10.0)
        + local
    )
    return room, season


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
    room, season = _room_signal_season(dev, home, t)
    x, scale = _apply_stuck(dev, t, room)
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
        cycles = (t - dev.t_create) / p["cycle"]
        phase = cycles - np.floor(cycles)  # `cycles % 1.0` (exact for cycles >= 0), faster
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
