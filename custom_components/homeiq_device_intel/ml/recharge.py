"""Devices that recharge routinely (phones, tablets, remotes on a dock): no depletion alarms.

A recharge is a climb of the battery level by at least `RECHARGE_STEP` points
above its lowest value of the `RECHARGE_HOURS` before (a charger, not a
reading's noise); a run of such hours counts once. A device recharges
routinely at an evaluation hour when its last `RECHARGE_DAYS` days hold at
least `ROUTINE_RECHARGES` (four) recharges, or at least `PRIOR_RECHARGES` (two) for a device
known to be rechargeable (the `mobile_app` integration, a rechargeable power
source or chemistry). A primary battery swapped now and then never reaches
the first count; a rechargeable remote left off its dock for two weeks drains
like any battery and is judged like one again. A phone or tablet (the
`mobile_app` integration) whose level has been read for less than
`RECHARGE_DAYS` is taken to recharge routinely until those days show otherwise:
on its first day it has not been on its charger yet, and is not a battery to
replace. (Other devices known to be rechargeable, a lock's or a camera's pack,
are charged now and then, not daily: they are judged from their first day.)

Training (labels) and scoring (applicability) both read `FeatureFrame.recharging`,
computed here from the grid's `battery` channel, so they agree.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from .records import Chemistry, HomeHistory, Power

DAY: Final = 24
RECHARGE_STEP: Final = 20.0  # points a level climbs on a charger
RECHARGE_HOURS: Final = 6  # hours a climb may take (hourly grid, carried-forward levels)
RECHARGE_DAYS: Final = 14
BLOCK_DEVICES: Final = 64  # devices per pass of recharges_routinely
ROUTINE_RECHARGES: Final = 4  # in RECHARGE_DAYS, for any battery device
PRIOR_RECHARGES: Final = 2  # in RECHARGE_DAYS, for a device known to be rechargeable
RECHARGING_INTEGRATIONS: Final = frozenset({"mobile_app"})
_RECHARGEABLE_CHEMISTRIES: Final = frozenset({Chemistry.LI_ION, Chemistry.NIMH})


def recharge_starts(battery: npt.NDArray[np.floating]) -> npt.NDArray[np.bool_]:
    """The first hour of each recharge: bool (n_devices, n_hours) of a level grid (NaN: unknown)."""
    level = np.asarray(battery, dtype=np.float64)
    lowest = np.full(level.shape, np.inf)
    for k in range(1, RECHARGE_HOURS + 1):
        if k < level.shape[1]:
            lowest[:, k:] = np.fmin(lowest[:, k:], level[:, :-k])
    with np.errstate(invalid="ignore"):
        climbing = (level - lowest) >= RECHARGE_STEP
    starts: npt.NDArray[np.bool_] = climbing.copy()
    starts[:, 1:] &= ~climbing[:, :-1]
    return starts


def charged_daily(history: HomeHistory, device_keys: list[str]) -> npt.NDArray[np.bool_]:
    """Per device, True for a phone or tablet (`RECHARGING_INTEGRATIONS`): charged as a routine."""
    info = {d.device_key: d for d in history.devices}
    return np.array(
        [
            (d := info.get(key)) is not None and d.integration in RECHARGING_INTEGRATIONS
            for key in device_keys
        ],
        dtype=bool,
    )


def rechargeable_prior(history: HomeHistory, device_keys: list[str]) -> npt.NDArray[np.bool_]:
    """Per device, True when it is known to be rechargeable (integration, power or chemistry)."""
    info = {d.device_key: d for d in history.devices}
    return np.array(
        [
            (d := info.get(key)) is not None
            and (
                d.integration in RECHARGING_INTEGRATIONS
                or d.power is Power.RECHARGEABLE
                or d.chemistry in _RECHARGEABLE_CHEMISTRIES
            )
            for key in device_keys
        ],
        dtype=bool,
    )


def recharges_routinely(
    battery: npt.NDArray[np.floating],
    ends: npt.NDArray[np.int64],
    prior: npt.NDArray[np.bool_],
    daily: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.bool_]:
    """Bool (n_devices, m): recharged routinely in the RECHARGE_DAYS days before each end hour.

    battery: (n_devices, n_hours) level grid; ends: int64 (m,) evaluation hours
    (a row at hour e sees hours < e); prior: bool (n_devices,) known rechargeable;
    daily: bool (n_devices,) charged as a routine (`charged_daily`; None: none is).
    """
    n, width = battery.shape
    ends = np.clip(np.asarray(ends, dtype=np.int64), 0, width)
    need = np.where(prior, PRIOR_RECHARGES, ROUTINE_RECHARGES)[:, None]
    routine: npt.NDArray[np.bool_] = np.zeros((n, ends.shape[0]), dtype=bool)
    # A phone whose level was read for less than RECHARGE_DAYS before the row: not yet known not to.
    read = np.isfinite(np.asarray(battery, dtype=np.float64))
    first_read = np.where(read.any(axis=1), read.argmax(axis=1), width)
    daily = np.zeros(n, dtype=bool) if daily is None else np.asarray(daily, dtype=bool)
    young = (
        daily[:, None]
        & (first_read[:, None] < ends[None, :])
        & (ends[None, :] - first_read[:, None] < RECHARGE_DAYS * DAY)
    )
    # Devices a block at a time: each row is its own, and the float64 temporaries stay small.
    for lo in range(0, n, BLOCK_DEVICES):
        hi = min(lo + BLOCK_DEVICES, n)
        starts = recharge_starts(battery[lo:hi])
        prefix = np.zeros((hi - lo, width + 1))
        np.cumsum(starts, axis=1, out=prefix[:, 1:])
        count = prefix[:, ends] - prefix[:, np.maximum(ends - RECHARGE_DAYS * DAY, 0)]
        routine[lo:hi] = (count >= need[lo:hi]) | young[lo:hi]
    return routine
