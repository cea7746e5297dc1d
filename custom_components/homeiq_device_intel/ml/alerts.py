"""The alert rule: when a device's alert turns on and when it ends.

One rule for the integration's at-risk state and for every offline figure about
alerts, so the evaluation counts the alerts an owner actually gets:

- an alert turns on when a score reaches its alarm point;
- it stays on until the score falls below its *release point*, a fraction of
  the way from the score's floor up to the alarm point.

For a battery the release point is low (a tenth of the alarm point): a primary
battery does not recover, so a reading that wobbles around the alarm point must
not end the alert and raise a new one the next day; the alert ends when the
battery is replaced (the probability then drops to near nothing). Outages and
stale sensors do recover; their alerts end at half the alarm point.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt

from .records import FailureType

RELEASE_FRACTION: Final[Mapping[str, float]] = MappingProxyType(
    {
        FailureType.BATTERY_DEPLETED: 0.1,
        FailureType.UNAVAILABLE: 0.5,
        FailureType.STALE: 0.5,
    }
)
DEFAULT_RELEASE_FRACTION: Final = 0.5
# Rows further apart than this belong to separate alerts (a gap in the rows is no alert).
MAX_ROW_GAP_HOURS: Final = 24


def release_fraction(failure_type: str) -> float:
    """The release point of a failure type as a fraction of its alarm point."""
    return RELEASE_FRACTION.get(failure_type, DEFAULT_RELEASE_FRACTION)


def release_point(alarm_point: float, fraction: float, floor: float = 0.0) -> float:
    """The score below which an alert ends: `fraction` of the way from `floor` to `alarm_point`."""
    return floor + fraction * (alarm_point - floor)


def held_alarm(
    score: npt.NDArray[np.float64],
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    alarm_point: float,
    release: float,
) -> npt.NDArray[np.bool_]:
    """Whether each row's alert is on: (n,) bool.

    Parameters
    ----------
    score : (n,) float64
        The scores, rows ordered by device, then hour.
    device, hour : (n,) int64
        Each row's device and hour; a new device, or a gap of more than
        MAX_ROW_GAP_HOURS, starts with the alert off.
    alarm_point : float
        A row at or above it turns the alert on.
    release : float
        A row below it turns the alert off (at most `alarm_point`); between the
        two the alert keeps its state.

    """
    n = score.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    release = min(release, alarm_point)
    turn_on = score >= alarm_point
    first = np.ones(n, dtype=bool)
    first[1:] = (device[1:] != device[:-1]) | (np.diff(hour) > MAX_ROW_GAP_HOURS)
    decided = turn_on | (score < release) | first  # a segment's first row decides its own state
    last_decided = np.maximum.accumulate(np.where(decided, np.arange(n), 0))
    alarm: npt.NDArray[np.bool_] = turn_on[last_decided]
    return alarm
