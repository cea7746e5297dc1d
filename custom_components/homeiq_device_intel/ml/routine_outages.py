"""Devices that go offline routinely (a TV switched off at the wall, a printer off most days).

An outage of `ROUTINE_OUTAGE_HOURS` (6 h, the length the labels call a
failure) that ended, the device back again, is a *long outage*. A device goes
offline routinely at an evaluation hour when its last `ROUTINE_DAYS` days hold
at least `ROUTINE_OUTAGES` (four) long outages it came back from. For such a
device "unavailable for 6 h within the week" is its habit, not a failure: no
unavailable probability is given and it is not shown as failing while it is
off, exactly as a phone charged every night gets no depletion alarm
(`recharge`). A device that stops coming back leaves the routine once its long
outages age out of the window, and is judged like any other again.

Training (labels) and scoring (applicability) both read
`FeatureFrame.offline_routinely`, computed here from the grid, so they agree.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from .windows import completed_runs, prefix_sums, window_sums

DAY: Final = 24
ROUTINE_OUTAGE_HOURS: Final = 6
ROUTINE_DAYS: Final = 14
ROUTINE_OUTAGES: Final = 4


def offline_routinely(
    unavailable: npt.NDArray[np.floating], ends: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """(n_devices, m) whether each device went offline routinely before each end hour.

    unavailable: (n_devices, n_hours) share of each hour spent unavailable;
    ends: (m,) evaluation hours (a row at e sees hours < e).
    """
    down = np.asarray(unavailable, dtype=np.float64) > 0.5
    if down.shape[1] == 0:
        return np.zeros((down.shape[0], ends.shape[0]), dtype=bool)
    long_ended = completed_runs(down) >= ROUTINE_OUTAGE_HOURS
    count = window_sums(prefix_sums(long_ended), np.asarray(ends, dtype=np.int64), ROUTINE_DAYS * DAY)
    routine: npt.NDArray[np.bool_] = count >= ROUTINE_OUTAGES
    return routine
