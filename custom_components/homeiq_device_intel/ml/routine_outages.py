"""Devices that go offline routinely (a TV switched off at the wall, a printer off most days).

An outage of `ROUTINE_OUTAGE_HOURS` (6 h, the length the labels call a
failure) that ended, the device back again, is a *long outage*. A device goes
offline routinely at an evaluation hour when its last `ROUTINE_DAYS` days hold
at least `ROUTINE_OUTAGES` (four) long outages it came back from, or at least
`PRIOR_OUTAGES` (one) for a device known to be switched off routinely: a media
player (TVs, speakers, receivers) or a printer (`SWITCHED_OFF_INTEGRATIONS`),
whose days off merge into outages of several days that rarely number four in
two weeks. For such a device "unavailable for 6 h within the week" is its habit, not a failure: no
unavailable probability is given and it is not shown as failing while it is
off, exactly as a phone charged every night gets no depletion alarm
(`recharge`). A device that stops coming back leaves the routine once its long
outages age out of the window, and is judged like any other again; a known
switched-off device's first outage, before it ever came back, is judged too.

Training (labels) and scoring (applicability) both read
`FeatureFrame.offline_routinely`, computed here from the grid, so they agree.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from .records import HomeHistory
from .windows import Counts, completed_runs

DAY: Final = 24
ROUTINE_OUTAGE_HOURS: Final = 6
ROUTINE_DAYS: Final = 14
ROUTINE_OUTAGES: Final = 4  # in ROUTINE_DAYS, for any device
PRIOR_OUTAGES: Final = 1  # in ROUTINE_DAYS, for a device known to be switched off routinely
SWITCHED_OFF_KINDS: Final = frozenset({"media_player"})
# Office and 3D printers: on when printing, off (or asleep off the network) for days between.
SWITCHED_OFF_INTEGRATIONS: Final = frozenset({"ipp", "brother", "syncthru", "octoprint", "prusalink"})


def switched_off_prior(history: HomeHistory, device_keys: list[str]) -> npt.NDArray[np.bool_]:
    """Per device, True when it is known to be switched off routinely (by its kind or integration)."""
    info = {d.device_key: d for d in history.devices}
    return np.array(
        [
            (d := info.get(key)) is not None
            and (d.kind in SWITCHED_OFF_KINDS or d.integration in SWITCHED_OFF_INTEGRATIONS)
            for key in device_keys
        ],
        dtype=bool,
    )


def offline_routinely(
    unavailable: npt.NDArray[np.floating],
    ends: npt.NDArray[np.int64],
    prior: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.bool_]:
    """(n_devices, m) whether each device went offline routinely before each end hour.

    unavailable: (n_devices, n_hours) share of each hour spent unavailable;
    ends: (m,) evaluation hours (a row at e sees hours < e); prior: (n_devices,)
    known to be switched off routinely (`switched_off_prior`; None: none is).
    """
    down = np.asarray(unavailable, dtype=np.float64) > 0.5
    if down.shape[1] == 0:
        return np.zeros((down.shape[0], ends.shape[0]), dtype=bool)
    long_ended = completed_runs(down) >= ROUTINE_OUTAGE_HOURS
    count = Counts(long_ended).window(np.asarray(ends, dtype=np.int64), ROUTINE_DAYS * DAY)
    known = np.zeros(down.shape[0], dtype=bool) if prior is None else np.asarray(prior, dtype=bool)
    need = np.where(known, PRIOR_OUTAGES, ROUTINE_OUTAGES)[:, None]
    routine: npt.NDArray[np.bool_] = count >= need
    return routine
