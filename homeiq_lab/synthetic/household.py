"""Drawing a home: its type, habits, climate, restarts, protocol stacks and size.

Each home draws from its own seeded stream (stream 0 of the home), in a fixed
order, so a home is the same for a config and seed however many are generated.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace

import numpy as np

from .arrays import _rng, _times_between, _union
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
