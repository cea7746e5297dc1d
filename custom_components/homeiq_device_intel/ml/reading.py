"""What an untrusted battery reading means for the model's features.

Two readings are read differently when the battery failure probability is
weighed (`pipeline.lean_on_other_signals`):

- died_high: the device died at level L before, so its battery's real range
  is L..100 %, not 5..100 %. The level axis is mapped onto it: a reading r
  becomes 5 + (r - L) * (100 - 5) / (100 - L) (L becomes empty, 100 stays
  100), and every level difference (slopes, 24 h change, 30-day drop) is
  stretched by the same factor, so the straight-line days count down to L.
- stuck: the level has not moved for a month while the battery ages; it says
  nothing, so every level feature is made unknown and the model weighs the
  battery's age, the hours since the level moved and the device's reporting.

Plain arrays in and out; the rows are copied, never changed in place.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .battery_life import Unreliable
from .features import BATTERY_FLOOR, FEATURE_INDEX

Float = npt.NDArray[np.float64]

LEVEL = "battery_level"
# Differences of levels: stretched with the level axis for died_high.
LEVEL_DIFFERENCES = (
    "battery_delta_24h",
    "battery_slope_3d",
    "battery_slope_7d",
    "battery_slope_14d",
    "battery_slope_30d",
    "battery_curvature_7d",
    "battery_drop_30d",
)
LINEAR_DAYS = ("battery_days_linear", "battery_days_linear_min")
FULL = 100.0


def level_map(died_at: float) -> tuple[float, float]:
    """(scale, offset) of the map r -> scale * r + offset that puts `died_at` at the floor, 100 at 100."""
    died_at = min(max(died_at, BATTERY_FLOOR), FULL - 1.0)
    scale = (FULL - BATTERY_FLOOR) / (FULL - died_at)
    return scale, BATTERY_FLOOR - scale * died_at


def as_died_high(row: Float, died_at: float) -> Float:
    """A feature row (n_features,) read on the battery's real range died_at..100 %."""
    out = row.copy()
    level = row[FEATURE_INDEX[LEVEL]]
    if not np.isfinite(level):
        return out
    scale, offset = level_map(died_at)
    mapped = max(scale * level + offset, 0.0)
    out[FEATURE_INDEX[LEVEL]] = mapped
    for name in LEVEL_DIFFERENCES:
        out[FEATURE_INDEX[name]] = row[FEATURE_INDEX[name]] * scale
    # Days to empty shrink with the distance left to empty (the slopes stretch with it).
    if level > BATTERY_FLOOR:
        share = (mapped - BATTERY_FLOOR) / (scale * (level - BATTERY_FLOOR))
        for name in LINEAR_DAYS:
            out[FEATURE_INDEX[name]] = row[FEATURE_INDEX[name]] * max(share, 0.0)
    return out


def as_stuck(row: Float) -> Float:
    """A feature row (n_features,) with every level feature unknown (its age and reporting kept)."""
    out = row.copy()
    for name in (LEVEL, *LEVEL_DIFFERENCES, *LINEAR_DAYS):
        out[FEATURE_INDEX[name]] = np.nan
    return out


def as_read(row: Float, unreliable: Unreliable | None, died_at: float | None) -> Float | None:
    """The row as an untrusted reading is read, or None when the reading stands as it is."""
    if unreliable is Unreliable.DIED_HIGH and died_at is not None:
        return as_died_high(row, died_at)
    if unreliable is Unreliable.STUCK:
        return as_stuck(row)
    return None
