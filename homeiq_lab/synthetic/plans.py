"""The plan types: a home with its daily, weekly and seasonal rhythms, its devices and their parts.

`_Home` holds a home's draws (habits, vacations, climate, restarts, stacks) and
answers activity and temperature at any time; `_Device` gathers everything
planned for one device (entities, battery, failure, silences, outages) before
its rows are built. Also the special row keys and the hourly activity profiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from custom_components.homeiq_device_intel.ml.records import (
    Chemistry,
    DeviceRecord,
    EntityRecord,
    EntityRole,
    FailureEvent,
)

from .arrays import BoolArray, FloatArray, Int64Array, _floor_div, _floor_mod, _inside
from .catalog import _Model
from .config import DAY, HOUR, Variation

# Row keys of the special states while rows are assembled (never in the output).
_UNAVAILABLE_KEY: Final = -math.inf


_UNKNOWN_KEY: Final = math.inf


# After a restart every entity has written its replay rows within this time.
_REPLAY_WINDOW: Final = 200.0


# Hourly activity profiles (weekday, weekend) of rooms, evening lights, outdoors, appliances.
_INDOOR, _EVENING, _OUTDOOR, _FLAT = 0, 1, 2, 3


_BASE_PROFILES: Final = np.array(
    [
        [  # rooms: weekday, weekend
            [.05, .03, .03, .03, .05, .15, .8, 1.8, 1.6, .7, .5, .5,
             .6, .5, .5, .6, .9, 1.5, 2., 2.2, 2., 1.6, 1., .4],
            [.1, .05, .03, .03, .03, .05, .2, .6, 1.2, 1.6, 1.5, 1.3,
             1.4, 1.2, 1.1, 1.1, 1.2, 1.5, 1.8, 2., 1.9, 1.6, 1.2, .6],
        ],
        [  # evening lights
            [.1, .05, .03, .03, .03, .1, .6, .8, .4, .1, .05, .05,
             .05, .05, .1, .2, .6, 1.8, 3., 3.5, 3.2, 2.6, 1.6, .6],
            [.2, .1, .05, .03, .03, .05, .1, .3, .6, .5, .3, .2,
             .2, .2, .3, .5, .9, 1.8, 3., 3.5, 3.4, 2.8, 2., 1.],
        ],
        [  # outdoors
            [.05, .03, .03, .03, .05, .2, .8, 1.6, 1.2, .8, .8, .9,
             1., 1., 1.1, 1.3, 1.8, 1.9, 1.6, 1.2, .8, .5, .2, .1],
            [.05, .03, .03, .03, .03, .05, .2, .6, 1.2, 1.6, 1.8, 1.9,
             1.9, 1.9, 1.8, 1.7, 1.6, 1.4, 1.2, .9, .6, .4, .2, .1],
        ],
        [  # appliances
            [.7, .6, .6, .6, .6, .7, .9, 1.1, 1.1, 1., 1., 1.,
             1.1, 1.1, 1., 1., 1.1, 1.2, 1.3, 1.4, 1.3, 1.2, 1., .8],
            [.7, .6, .6, .6, .6, .6, .7, .9, 1.1, 1.2, 1.2, 1.2,
             1.2, 1.2, 1.2, 1.2, 1.2, 1.3, 1.3, 1.4, 1.3, 1.2, 1., .8],
        ],
    ],
    dtype=np.float64,
)  # fmt: skip


@dataclass(slots=True, kw_only=True)
class _Home:
    index: int
    home_id: str
    home_type: str
    start: float
    end: float
    var: Variation
    tz: float
    profiles: FloatArray  # (4, 2, 24)
    vacation_lo: FloatArray
    vacation_hi: FloatArray
    outdoor_mean: float
    outdoor_amp: float
    outdoor_daily: float
    season_shift: float
    outdoor_knots: FloatArray  # (2, n): times, values
    restarts: FloatArray
    downtime: FloatArray
    restart_mode: dict[str, tuple[bool, float, float]]  # -> (unavailable first, delay, for)
    mqtt_availability: bool
    n_devices: int
    stacks: dict[str, bool]
    zigbee_stacks: tuple[str, ...]
    thread_integration: str

    def local(self, t: FloatArray) -> tuple[Int64Array, BoolArray]:
        """Return the local hour of day and whether it is a weekend day."""
        local = t + self.tz
        days = np.floor(local / DAY)
        hour = _floor_div(local - days * DAY, HOUR).astype(np.int64)
        weekend = (days.astype(np.int64) + 3) % 7 >= 5
        return np.minimum(hour, 23), weekend

    def activity(self, t: FloatArray, profile: int) -> FloatArray:
        """Return the relative usage intensity (weekly mean 1) at times t."""
        hour, weekend = self.local(t)
        level: FloatArray = self.profiles[profile, weekend.astype(np.int64), hour]
        if profile != _FLAT and self.vacation_lo.size:
            away = _inside(t, self.vacation_lo, self.vacation_hi)
            level = np.where(away, level * 0.03, level)
        return level

    def season(self, t: FloatArray) -> FloatArray:
        """Return +1 in mid-summer and -1 in mid-winter (northern hemisphere)."""
        doy = (t / DAY) % 365.2425
        result: FloatArray = np.cos(2.0 * np.pi * (doy - 196.0 - self.season_shift) / 365.2425)
        return result

    def daily(self, t: FloatArray, peak_hour: float) -> FloatArray:
        """Return a daily cosine cycle (+1 at the local peak hour)."""
        return self.daily_at(self.local_hours(t), peak_hour)

    def local_hours(self, t: FloatArray) -> FloatArray:
        """Return the local time of day in hours (what `daily` reads)."""
        hours: FloatArray = np.divide(_floor_mod(t + self.tz, DAY), HOUR)
        return hours

    @staticmethod
    def daily_at(hours: FloatArray, peak_hour: float) -> FloatArray:
        """Return `daily` given the `local_hours` of the times."""
        result: FloatArray = np.cos(2.0 * np.pi * (hours - peak_hour) / 24.0)
        return result

    def outdoor_temperature(
        self, t: FloatArray, season: FloatArray | None = None, hours: FloatArray | None = None
    ) -> FloatArray:
        """Return the outdoor temperature in °C at times t (`season`, `local_hours` of t if known)."""
        weather = np.interp(t, self.outdoor_knots[0], self.outdoor_knots[1])
        result: FloatArray = (
            self.outdoor_mean
            + self.outdoor_amp * (self.season(t) if season is None else season)
            + self.outdoor_daily * self.daily_at(self.local_hours(t) if hours is None else hours, 15.0)
            + weather
        )
        return result

    def indoor_temperature(self, t: FloatArray) -> FloatArray:
        """Return a typical heated-room temperature in °C at times t."""
        result: FloatArray = 21.0 + 1.5 * np.maximum(self.season(t), 0.0) + 0.6 * self.daily(t, 19.0)
        return result


@dataclass(frozen=True, slots=True)
class _EntitySpec:
    info: EntityRecord
    stream: str
    numeric: bool
    statistics: bool


@dataclass(slots=True, kw_only=True)
class _Battery:
    chemistry: Chemistry
    knee: float
    shape: float
    plateau: float
    step: float
    ceil_steps: bool
    noise: float
    cold_coef: float
    low_threshold: float
    notice_level: float
    v_empty: float
    v_full: float
    v_millivolts: bool
    interval: float
    grid_t: FloatArray  # hourly times
    grid_w: FloatArray  # charge used up by then (state-of-charge units)
    # One row per battery (or charge): when it starts, its state of charge once
    # charged, how long charging takes (0 for a swap) and the charge it starts from.
    cycle_t: FloatArray = field(default_factory=lambda: np.zeros(1))
    cycle_s: FloatArray = field(default_factory=lambda: np.ones(1))
    cycle_ramp: FloatArray = field(default_factory=lambda: np.zeros(1))
    cycle_from: FloatArray = field(default_factory=lambda: np.ones(1))


@dataclass(slots=True, kw_only=True)
class _Failure:
    family: str
    onset: float
    strength: float
    lead: float
    recovery: float  # when the device works again (inf: never)
    extra: float = math.nan  # family specific: end of flapping
    # When the first warning sign was laid out in the history (NaN: none was): the
    # ground truth's `warning`, which the gate's "foreseeable" rests on.
    first_sign: float = math.nan


@dataclass(slots=True, kw_only=True)
class _Device:
    info: DeviceRecord
    rng: np.random.Generator
    slug: str
    model: _Model
    kind: str
    outdoor: bool
    bridge: bool
    timeout: float | None
    t_create: float
    params: dict[str, float]
    entities: list[_EntitySpec] = field(default_factory=list)
    scenario: str = "healthy"
    failure: _Failure | None = None
    silences: list[tuple[float, float]] = field(default_factory=list)
    direct_unavailable: list[tuple[float, float]] = field(default_factory=list)
    drops: list[tuple[FloatArray, FloatArray]] = field(default_factory=list)
    # signal dips: (start, deepest at, depth, recovered at)
    dips: list[tuple[float, float, float, float]] = field(default_factory=list)
    # stuck sensor: (holds start, frozen at, strength, fixed at, longest hold in s)
    stuck: tuple[float, float, float, float, float] | None = None
    own_outages: list[tuple[float, float]] = field(default_factory=list)
    # when each outage of its bridge ends for it: the bridge restores the state it held
    bridge_backs: list[float] = field(default_factory=list)
    battery: _Battery | None = None
    battery_rows: tuple[FloatArray, FloatArray, FloatArray] | None = None
    sessions: tuple[FloatArray, FloatArray] | None = None
    silent: tuple[FloatArray, FloatArray] = (np.empty(0), np.empty(0))
    unavailable: tuple[FloatArray, FloatArray] = (np.empty(0), np.empty(0))
    events: list[FailureEvent] = field(default_factory=list)
    swaps: FloatArray = field(default_factory=lambda: np.empty(0))

    @property
    def has_signal(self) -> bool:
        """Return whether the device has a signal strength entity."""
        return any(e.info.role is EntityRole.SIGNAL for e in self.entities)


@dataclass(slots=True)
class _Stream:
    time: FloatArray
    key: FloatArray  # the numeric value, or the token of a non-numeric state
    attr: FloatArray | None = None  # attributes whose changes also write rows
    labels: tuple[str, ...] = ()  # state string of each token (non-numeric)


def _ambient(dev: _Device, home: _Home, t: FloatArray) -> FloatArray:
    """Return the temperature around a device (°C)."""
    if dev.outdoor:
        return home.outdoor_temperature(t)
    return home.indoor_temperature(t)
