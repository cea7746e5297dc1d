"""Five demo devices written directly, one for each thing an owner is shown beyond failure probabilities.

The synthetic generator gives batteries that last months and no attribute-only
batteries, so within the demo's five weeks of history it cannot show these;
their histories are written here instead, deterministically (a fixed seed),
relative to the demo's now:

- *Garden motion sensor*: a power-hungry motion sensor whose batteries last
  about ten days; swapped at 10-14 % four times, the last a day and a half
  ago: three past batteries, days remaining and a replace-by date from its
  own history (`source: own_history`, `past_batteries: 3`).
- *Back door sensor*: its battery read 62 % when the sensor went dark for 30
  hours two weeks ago, and it came back on a new battery: its reading is not
  trusted (`battery_reading: died_high`, `died_at_level: 62`).
- *Phone*: charged every night (about 20 % to 100 %): no depletion alarm and
  no days remaining.
- *Robot vacuum*: its battery is only the vacuum entity's `battery_level`
  attribute. It cleaned and went back to its dock every day until its dock
  was unplugged 16 days ago; since then it drains while idle (18 % now) and
  runs out in about four and a half days (a `battery_depleted` event in the
  ground truth).
- *Landing motion sensor*: a Zigbee sensor whose link quality (LQI) held
  around 150 and fell to about 90 over the last three days: a weakening link.

None of them is "built to fail" (see `home.WAYS`); the vacuum's running out
is its ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from custom_components.homeiq_device_intel.ml.records import (
    Chemistry,
    DeviceRecord,
    EntityRecord,
    EntityRole,
    FailureEvent,
    Power,
    Protocol,
    StateSeries,
    StatSeries,
    tokenize_states,
)

DAY: Final = 86400.0
HOUR: Final = 3600.0
SEED: Final = 1313
BATTERY_ATTRIBUTE: Final = "battery_level"

GARDEN: Final = "5e0a1c2d3b4f60718293a4b5c6d7e8f9"
BACK_DOOR: Final = "6f1b2d3e4c5a71829304b5c6d7e8f90a"
PHONE: Final = "7a2c3e4f5d6b82930415c6d7e8f90a1b"
VACUUM: Final = "8b3d4f5a6e7c93a41526d7e8f90a1b2c"
LANDING: Final = "9c4e5a6b7f8da4b52637e8f90a1b2c3d"

# What each device shows, for the check and the tests.
THREE_PAST_BATTERIES: Final = GARDEN
DIED_HIGH: Final = BACK_DOOR
RECHARGES_NIGHTLY: Final = PHONE
ATTRIBUTE_BATTERY: Final = VACUUM
WEAKENING_LINK: Final = LANDING
SNOOZED: Final = BACK_DOOR  # the demo snoozes it for a week (scripts/demo.py), as its owner would
SWAP_DAYS_AGO: Final = (31.5, 21.5, 11.5, 1.5)  # the garden sensor's battery swaps
DIED_AT_LEVEL: Final = 62
DOCK_UNPLUGGED_DAYS_AGO: Final = 16.0
# One daily run of the vacuum: minutes after it starts, its state and its battery level.
VACUUM_RUN: Final = (
    (0, "cleaning", 100.0),
    (30, "cleaning", 82.0),
    (60, "cleaning", 64.0),
    (75, "returning", 57.0),
    (80, "docked", 56.0),
    (140, "docked", 78.0),
    (200, "docked", 96.0),
    (230, "docked", 100.0),
)


@dataclass(frozen=True, slots=True)
class _Entity:
    """One entity's rows: state strings at times (and the hourly statistics of a numeric sensor)."""

    record: EntityRecord
    times: list[float]
    states: list[str]
    numeric: bool = False


def _series(times: Sequence[float], states: Sequence[str]) -> StateSeries:
    """A StateSeries of state strings (sorted by time)."""
    tokens = tokenize_states(list(states))
    return StateSeries(
        time=np.asarray(times, dtype=np.float64), value=tokens.value, code=tokens.code, labels=tokens.labels
    )


def hourly_statistics(series: StateSeries, start: float, end: float) -> StatSeries:
    """Hourly mean/min/max of a numeric series: the values in effect during each whole hour."""
    first = np.ceil(start / HOUR) * HOUR
    hours = np.arange(first, end - HOUR + 1e-6, HOUR)
    mean = np.full(hours.size, np.nan)
    low, high = mean.copy(), mean.copy()
    for k, hour in enumerate(hours.tolist()):
        at = int(np.searchsorted(series.time, hour, side="right")) - 1
        inside = int(np.searchsorted(series.time, hour + HOUR, side="left"))
        values = series.value[max(at, 0) : inside] if at >= 0 else series.value[:inside]
        values = values[np.isfinite(values)]
        if values.size and (at < 0 or np.isfinite(series.value[at])):
            mean[k], low[k], high[k] = values.mean(), values.min(), values.max()
    return StatSeries(start=hours, mean=mean, min=low, max=high)


def _level(value: float) -> str:
    """A battery level as a sensor reports it (whole percent)."""
    return str(round(float(np.clip(value, 0.0, 100.0))))


def _motion(
    rng: np.random.Generator, start: float, end: float, every_hours: float
) -> tuple[list[float], list[str]]:
    """Motion on/off events about every `every_hours` hours."""
    times: list[float] = [start]
    states: list[str] = ["off"]
    t = start + rng.exponential(every_hours * HOUR)
    while t < end - 180:
        times += [t, t + 90.0]
        states += ["on", "off"]
        t += 90.0 + rng.exponential(every_hours * HOUR)
    return times, states


def _garden(rng: np.random.Generator, start: float, end: float) -> list[_Entity]:
    """Batteries of about ten days, swapped at 10-14 %: three past batteries, a fresh one now."""
    swaps = [end - d * DAY for d in SWAP_DAYS_AGO]
    times = np.arange(start, end, 2 * HOUR) + rng.uniform(0, 600)
    levels: list[str] = []
    for t in times.tolist():
        before = [s for s in swaps if s <= t]
        if not before:  # the battery before the first swap: 45 % at the start, 12 % at the first swap
            frac = (t - start) / (swaps[0] - start)
            value = 45.0 - 33.0 * frac
        else:
            age_days = (t - before[-1]) / DAY
            value = 100.0 - 8.8 * age_days + rng.normal(0, 0.4)
        levels.append(_level(value))
    motion_t, motion_s = _motion(rng, start, end, 3.0)
    return [
        _Entity(
            EntityRecord(
                entity_id="binary_sensor.garden_motion_sensor",
                device_key=GARDEN,
                role=EntityRole.PRIMARY,
                device_class="motion",
            ),
            motion_t,
            motion_s,
        ),
        _Entity(
            EntityRecord(
                entity_id="sensor.garden_motion_sensor_battery",
                device_key=GARDEN,
                role=EntityRole.BATTERY,
                device_class="battery",
                unit="%",
            ),
            times.tolist(),
            levels,
            numeric=True,
        ),
    ]


def _back_door(rng: np.random.Generator, start: float, end: float) -> tuple[list[_Entity], float, float]:
    """Dark for 30 h two weeks ago at a reading of 62 %, back on a new battery."""
    dark_from, dark_to = end - 14.0 * DAY, end - 14.0 * DAY + 30 * HOUR
    battery_t, battery_s = _back_door_battery(rng, start, end, dark_from, dark_to)
    door_t, door_s = _motion(rng, start, dark_from, 8.0)
    door_s = ["on" if s == "on" else "off" for s in door_s]
    after_t, after_s = _motion(rng, dark_to, end, 8.0)
    door_t += [dark_from, *after_t]
    door_s += ["unavailable", *after_s]
    return (
        [
            _Entity(
                EntityRecord(
                    entity_id="binary_sensor.back_door_sensor",
                    device_key=BACK_DOOR,
                    role=EntityRole.PRIMARY,
                    device_class="door",
                ),
                door_t,
                door_s,
            ),
            _Entity(
                EntityRecord(
                    entity_id="sensor.back_door_sensor_battery",
                    device_key=BACK_DOOR,
                    role=EntityRole.BATTERY,
                    device_class="battery",
                    unit="%",
                ),
                battery_t,
                battery_s,
                numeric=True,
            ),
        ],
        dark_from,
        dark_to,
    )


def _back_door_battery(
    rng: np.random.Generator, start: float, end: float, dark_from: float, dark_to: float
) -> tuple[list[float], list[str]]:
    """The back door's battery rows: 70 % falling to 62 %, unavailable while dark, 100 % after."""
    times = np.arange(start, end, 3 * HOUR) + rng.uniform(0, 600)
    levels: list[str] = []
    kept: list[float] = []
    for t in times.tolist():
        if dark_from <= t < dark_to:
            continue
        if t < dark_from:
            value = DIED_AT_LEVEL + 8.0 * (dark_from - t) / (dark_from - start)
        else:
            value = 100.0 - 0.25 * (t - dark_to) / DAY
        kept.append(t)
        levels.append(_level(value))
    # The reading just before it went dark is the level it died at.
    kept.append(dark_from - 60.0)
    levels.append(str(DIED_AT_LEVEL))
    kept.append(dark_from)
    levels.append("unavailable")
    kept.append(dark_to)
    levels.append("100")
    order = np.argsort(kept, kind="stable")
    return [kept[i] for i in order], [levels[i] for i in order]


def _phone(rng: np.random.Generator, start: float, end: float) -> list[_Entity]:
    """Charged every night from about 20 % to 100 % (23:00 to 01:00), drained through the day."""
    times = np.arange(np.floor(start / (30 * 60)) * 30 * 60 + 30 * 60, end, 30 * 60)
    levels: list[str] = []
    low = 20.0
    for t in times.tolist():
        hour = (t % DAY) / HOUR
        if hour >= 23.0:
            value = low + (100.0 - low) * (hour - 23.0) / 2.0
        elif hour < 1.0:
            value = low + (100.0 - low) * (hour + 1.0) / 2.0
        else:
            value = 100.0 - (100.0 - low) * (hour - 1.0) / 22.0 + rng.normal(0, 0.5)
        levels.append(_level(value))
    return [
        _Entity(
            EntityRecord(
                entity_id="sensor.phone_battery",
                device_key=PHONE,
                role=EntityRole.BATTERY,
                device_class="battery",
                unit="%",
            ),
            times.tolist(),
            levels,
            numeric=True,
        )
    ]


def _vacuum(rng: np.random.Generator, start: float, end: float) -> tuple[list[_Entity], list[float], float]:
    """Daily runs and recharges on the dock, until the dock was unplugged; idle and draining since.

    Returns the vacuum's state rows, its `battery_level` at each row, and when it runs out (5 %).
    """
    unplugged = end - DOCK_UNPLUGGED_DAYS_AGO * DAY
    times, states, levels = _vacuum_daily_runs(rng, start, unplugged)
    # The last run ends off its dock (unplugged): idle, about 3 points a day.
    times += [unplugged, unplugged + 3600.0]
    states += ["cleaning", "idle"]
    levels += [100.0, 64.0]
    rate = 2.9  # points per day while idle
    t = unplugged + 3600.0 + 4 * HOUR
    while t < end:
        value = 64.0 - rate * (t - unplugged - 3600.0) / DAY
        times.append(t)
        states.append("idle")
        levels.append(float(round(value)))
        t += 4 * HOUR
    runs_out = unplugged + 3600.0 + (64.0 - 5.0) / rate * DAY
    vacuum = EntityRecord(entity_id="vacuum.robot_vacuum", device_key=VACUUM, role=EntityRole.PRIMARY)
    battery = EntityRecord(
        entity_id="vacuum.robot_vacuum",
        device_key=VACUUM,
        role=EntityRole.BATTERY,
        unit="%",
        attribute=BATTERY_ATTRIBUTE,
    )
    return (
        [_Entity(vacuum, times, states), _Entity(battery, times, [_level(v) for v in levels])],
        levels,
        runs_out,
    )


def _vacuum_daily_runs(
    rng: np.random.Generator, start: float, unplugged: float
) -> tuple[list[float], list[str], list[float]]:
    """Docked from `start`, then a run at about 10:00 and a recharge each day until the dock was unplugged."""
    times: list[float] = [start]
    states: list[str] = ["docked"]
    levels: list[float] = [100.0]
    day = np.floor(start / DAY) * DAY + DAY
    while day + 10 * HOUR < unplugged:
        run = day + 10 * HOUR + rng.uniform(0, 1800)
        for minutes, state, level in VACUUM_RUN:
            times.append(run + minutes * 60.0)
            states.append(state)
            levels.append(level)
        day += DAY
    return times, states, levels


def _landing(rng: np.random.Generator, start: float, end: float) -> list[_Entity]:
    """LQI around 150 for weeks, falling to about 90 over the last three days."""
    times = np.arange(start, end, HOUR) + rng.uniform(0, 900)
    lqi: list[str] = []
    for t in times.tolist():
        days_ago = (end - t) / DAY
        value = 150.0 if days_ago > 3.0 else 90.0 + 60.0 * days_ago / 3.0
        lqi.append(str(int(np.clip(round(value + rng.normal(0, 6)), 0, 255))))
    motion_t, motion_s = _motion(rng, start, end, 2.0)
    return [
        _Entity(
            EntityRecord(
                entity_id="binary_sensor.landing_motion_sensor",
                device_key=LANDING,
                role=EntityRole.PRIMARY,
                device_class="motion",
            ),
            motion_t,
            motion_s,
        ),
        _Entity(
            EntityRecord(
                entity_id="sensor.landing_motion_sensor_link_quality",
                device_key=LANDING,
                role=EntityRole.SIGNAL,
                unit="lqi",
            ),
            times.tolist(),
            lqi,
            numeric=True,
        ),
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerDevices:
    """The devices, entities, rows and ground truth the owner devices add to a home."""

    devices: list[DeviceRecord]
    entities: list[EntityRecord]
    states: dict[str, StateSeries]
    statistics: dict[str, StatSeries]
    ground_truth: list[FailureEvent]
    battery_swaps: dict[str, np.ndarray]
    # The vacuum's attributes change with its battery: per state row, the attribute's value.
    attribute_rows: dict[str, dict[str, list[float]]]


def owner_devices(start: float, end: float) -> OwnerDevices:
    """The five owner devices' histories from `start` to `end` (the demo's now)."""
    rng = np.random.default_rng(SEED)
    back_door, dark_from, dark_to = _back_door(rng, start, end)
    vacuum, vacuum_levels, runs_out = _vacuum(rng, start, end)
    written = [
        *_garden(rng, start, end),
        *back_door,
        *_phone(rng, start, end),
        *vacuum,
        *_landing(rng, start, end),
    ]
    states, statistics = _recorded_series(written, start, end)
    swaps = [end - d * DAY for d in SWAP_DAYS_AGO]
    ground_truth = [
        *(FailureEvent(device_key=GARDEN, kind="swap", start=t, end=t) for t in swaps),
        FailureEvent(device_key=BACK_DOOR, kind="unavailable", start=dark_from, end=dark_to),
        FailureEvent(device_key=BACK_DOOR, kind="swap", start=dark_to, end=dark_to),
        FailureEvent(device_key=VACUUM, kind="battery_depleted", start=runs_out, end=runs_out + DAY),
    ]
    return OwnerDevices(
        devices=_device_records(start),
        entities=[e.record for e in written],
        states=states,
        statistics=statistics,
        ground_truth=ground_truth,
        battery_swaps={
            GARDEN: np.asarray(swaps, dtype=np.float64),
            BACK_DOOR: np.asarray([dark_to], dtype=np.float64),
        },
        attribute_rows={"vacuum.robot_vacuum": {BATTERY_ATTRIBUTE: vacuum_levels}},
    )


def _recorded_series(
    written: list[_Entity], start: float, end: float
) -> tuple[dict[str, StateSeries], dict[str, StatSeries]]:
    """Each entity's states up to `end`, and the hourly statistics of the numeric ones."""
    states: dict[str, StateSeries] = {}
    statistics: dict[str, StatSeries] = {}
    for entity in written:
        # Nothing after the demo's now (readings drawn a few minutes late near the end).
        kept = [k for k, t in enumerate(entity.times) if t <= end]
        series = _series([entity.times[k] for k in kept], [entity.states[k] for k in kept])
        states[entity.record.series_key] = series
        if entity.numeric:
            statistics[entity.record.series_key] = hourly_statistics(series, start, end)
    return states, statistics


def _device_records(start: float) -> list[DeviceRecord]:
    """The five owner devices, in the order they are added to the home."""
    garden, back_door, landing = _zigbee_sensor_records(start)
    phone, vacuum = _wifi_device_records(start)
    return [garden, back_door, phone, vacuum, landing]


def _zigbee_sensor_records(start: float) -> tuple[DeviceRecord, DeviceRecord, DeviceRecord]:
    """The garden motion, back door and landing motion sensors (Zigbee, on batteries)."""
    garden = DeviceRecord(
        device_key=GARDEN,
        name="Garden motion sensor",
        integration="homeiq_demo",
        protocol=Protocol.ZIGBEE,
        kind="motion",
        power=Power.BATTERY,
        chemistry=Chemistry.ALKALINE,
        manufacturer="Aqara",
        model="Outdoor motion sensor",
        area_id="garden",
        created=start,
    )
    back_door = DeviceRecord(
        device_key=BACK_DOOR,
        name="Back door sensor",
        integration="homeiq_demo",
        protocol=Protocol.ZIGBEE,
        kind="door_window",
        power=Power.BATTERY,
        chemistry=Chemistry.COIN,
        manufacturer="Sonoff",
        model="SNZB-04",
        area_id="kitchen",
        created=start,
    )
    landing = DeviceRecord(
        device_key=LANDING,
        name="Landing motion sensor",
        integration="homeiq_demo",
        protocol=Protocol.ZIGBEE,
        kind="motion",
        power=Power.BATTERY,
        chemistry=Chemistry.COIN,
        manufacturer="IKEA",
        model="TRADFRI motion sensor",
        area_id="landing",
        created=start,
    )
    return garden, back_door, landing


def _wifi_device_records(start: float) -> tuple[DeviceRecord, DeviceRecord]:
    """The phone and the robot vacuum (Wi-Fi, rechargeable)."""
    phone = DeviceRecord(
        device_key=PHONE,
        name="Phone",
        integration="homeiq_demo",
        protocol=Protocol.WIFI,
        kind="other",
        power=Power.BATTERY,
        manufacturer="Google",
        model="Pixel 8",
        created=start,
    )
    vacuum = DeviceRecord(
        device_key=VACUUM,
        name="Robot vacuum",
        integration="homeiq_demo",
        protocol=Protocol.WIFI,
        kind="vacuum",
        power=Power.BATTERY,
        manufacturer="Roborock",
        model="S7",
        area_id="living_room",
        created=start,
    )
    return phone, vacuum
