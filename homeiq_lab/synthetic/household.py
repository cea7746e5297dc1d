"""Drawing a home: its type, habits, climate, restarts, protocol stacks and size.

Each home draws from its own seeded stream (stream 0 of the home), in a fixed
order, so a home is the same for a config and seed however many are generated.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace

import numpy as np

from .arrays import FloatArray, _rng, _times_between, _union
from .catalog import _ALL_INTEGRATIONS, _HOME_SIZES, _STACK_CHANCE
from .config import DAY, HOUR, GeneratorConfig, Variation
from .plans import _BASE_PROFILES, _INDOOR, _Home


def _plan_home(config: GeneratorConfig, home_index: int) -> _Home:
    """Draw a home: type, habits, climate, restarts, protocol stacks and size."""
    rng = _rng(config, home_index, 0)
    home_type = config.home_types[int(rng.integers(len(config.home_types)))]
    start = float(config.start)
    end = start + float(config.days) * DAY
    var = _perturb(config.variation, rng)
    tz = float(rng.choice([-8, -6, -5, 0, 1, 2, 8, 10])) * HOUR
    profiles = _draw_profiles(rng)
    vac_lo, vac_hi = _draw_vacations(rng, config, start, end)
    knot_t = np.arange(start - 2 * DAY, end + 2 * DAY, 6 * HOUR)
    knots = np.stack([knot_t, rng.normal(0.0, 2.5, knot_t.size)])
    restarts, downtime = _draw_restarts(rng, config, var, start, end)
    restart_mode = _draw_restart_modes(rng)
    n_devices = _draw_size(rng, config, home_index, home_type)
    stacks, zigbee_stacks = _draw_stacks(rng, home_type, n_devices)
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


def _draw_profiles(rng: np.random.Generator) -> FloatArray:
    """Draw the home's hourly activity profiles (weekly mean 1), maybe with work from home."""
    profiles = _BASE_PROFILES * rng.lognormal(0.0, 0.15, _BASE_PROFILES.shape)
    profiles = np.roll(profiles, int(rng.integers(-1, 2)), axis=2)
    if rng.random() < 0.3:  # someone works from home
        profiles[_INDOOR, 0, 9:17] *= 2.5
    weekly = (5.0 * profiles[:, 0].mean(axis=1) + 2.0 * profiles[:, 1].mean(axis=1)) / 7.0
    result: FloatArray = profiles / weekly[:, None, None]
    return result


def _draw_vacations(
    rng: np.random.Generator, config: GeneratorConfig, start: float, end: float
) -> tuple[FloatArray, FloatArray]:
    """Draw the spans when nobody is home (3 to 14 days, about one per 120 days)."""
    n_vac = int(rng.poisson(config.days / 120.0))
    vac_lo = _times_between(rng, start + 2 * DAY, end, n_vac)
    return _union(vac_lo, vac_lo + rng.uniform(3.0, 14.0, vac_lo.size) * DAY)


def _draw_restarts(
    rng: np.random.Generator, config: GeneratorConfig, var: Variation, start: float, end: float
) -> tuple[FloatArray, FloatArray]:
    """Draw Home Assistant's restarts and how long it is down before each."""
    # Restarts: Home Assistant is down a little while, then every entity replays.
    n_restarts = int(rng.poisson(config.days / 9.0 * var.restart_rate))
    restarts = _times_between(rng, start + 2 * HOUR, end - 2 * HOUR, n_restarts)
    if restarts.size > 1:
        restarts = restarts[np.concatenate([[True], np.diff(restarts) > 2 * HOUR])]
    downtime = np.clip(rng.lognormal(math.log(60.0), 0.8, restarts.size), 10.0, 900.0)
    return restarts, downtime


def _draw_restart_modes(rng: np.random.Generator) -> dict[str, tuple[bool, float, float]]:
    """Draw, per integration, how it comes back after a restart.

    Whether entities show `unavailable` while it starts up, how long after the
    restart it replays them, and for how long.
    """
    restart_mode: dict[str, tuple[bool, float, float]] = {}
    unavailable_chance = {"zha": 0.5, "mqtt": 0.7, "zwave_js": 0.6, "esphome": 0.8}
    for integration in _ALL_INTEGRATIONS:
        restart_mode[integration] = (
            bool(rng.random() < unavailable_chance.get(integration, 0.15)),
            float(rng.uniform(1.0, 40.0)),
            float(rng.uniform(20.0, 150.0)),
        )
    return restart_mode


def _draw_size(rng: np.random.Generator, config: GeneratorConfig, home_index: int, home_type: str) -> int:
    """Return how many devices the home has: its share of `n_devices`, or drawn by its type."""
    if config.n_devices is not None:
        base, extra = divmod(config.n_devices, config.n_homes)
        return base + (1 if home_index < extra else 0)
    low, high = config.devices_per_home or _HOME_SIZES[home_type]
    return int(rng.integers(low, high + 1))


def _draw_stacks(
    rng: np.random.Generator, home_type: str, n_devices: int
) -> tuple[dict[str, bool], tuple[str, ...]]:
    """Draw which protocol stacks the home has, and which Zigbee integration(s) run its Zigbee."""
    stack_chance = _STACK_CHANCE[home_type]
    stacks = {name: bool(rng.random() < p) for name, p in stack_chance.items()}
    if n_devices < 6:
        stacks = {name: False for name in stacks}
    if home_type == "smart_enthusiast" and stacks["zigbee"] and rng.random() < 0.5:
        zigbee_stacks: tuple[str, ...] = ("zha", "mqtt")
    else:
        zigbee_stacks = ("zha",) if rng.random() < 0.5 else ("mqtt",)
    return stacks, zigbee_stacks


def _perturb(variation: Variation, rng: np.random.Generator) -> Variation:
    """Give each home its own scales, spread log-normally around the configured ones."""
    spread = variation.home_spread
    scaled = {
        f.name: getattr(variation, f.name) * float(rng.lognormal(0.0, spread))
        for f in fields(variation)
        if f.name not in ("no_precursor_fraction", "lead_time_spread", "home_spread")
    }
    return replace(variation, **scaled)
