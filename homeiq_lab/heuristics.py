"""The simple heuristics a skeptical engineer would write in an afternoon, as scores.

Every heuristic is a score per feature row, higher = more at risk, always
finite (missing inputs score as "no evidence", the lowest value). They read the
same rows the model sees: the feature matrix (n_rows, n_features) in
FEATURE_NAMES order and, for what the features do not carry (the trend of
outage durations), a few extra columns computed from the hourly grid by
`grid_heuristics` where the features are built. The model's feature schema is
not touched. Evaluation compares the model with the best of these per failure
type (design decision 3).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.features import (
    BATTERY_FLOOR,
    FEATURE_INDEX,
)
from custom_components.homeiq_device_intel.ml.features import (
    OUTAGE_SLOPE_LAST as OUTAGE_SLOPE_LAST,
)
from custom_components.homeiq_device_intel.ml.features import (
    OUTAGE_WINDOW_HOURS as OUTAGE_WINDOW_HOURS,
)
from custom_components.homeiq_device_intel.ml.features import (
    outage_trends as outage_trends,
)
from custom_components.homeiq_device_intel.ml.grid import HourlyGrid
from custom_components.homeiq_device_intel.ml.records import FailureType

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]

SLOPE_EPS = 1e-3  # % per day: flatter than this is not draining
SCORE_CAP = 1e3  # horizon / days-to-empty when the battery is (about) empty now
# The outage-duration trends (`outage_trends`) are the core's: model features too since schema 3.

# Columns computed from the grid (not in the model's features), in this order.
GRID_HEURISTICS: tuple[str, ...] = ("outage_growth", "outage_slope")

# Per failure type, the heuristics compared with the model; the first is today's rule.
HEURISTICS: dict[str, tuple[str, ...]] = {
    FailureType.BATTERY_DEPLETED: (
        "battery_below_20",
        "battery_level_low",
        "days_to_empty_3d",
        "days_to_empty_7d",
        "days_to_empty_14d",
    ),
    FailureType.UNAVAILABLE: (
        "unavailable_24h",
        "dropouts_7d",
        "dropout_trend",
        "outage_growth",
        "outage_slope",
    ),
    FailureType.STALE: (
        "stale_12h",
        "silence_vs_usual",
        "silence_vs_rate",
        "quiet_vs_usual",
    ),
}
RULES: dict[str, str] = {target: names[0] for target, names in HEURISTICS.items()}


def days_to_empty(level: Float, slope_per_day: Float) -> Float:
    """Straight-line days until the level reaches the floor: (n,) -> (n,).

    inf where the level is not falling (or unknown), 0 at or below the floor.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        days = (level - BATTERY_FLOOR) / -slope_per_day
    falling = np.isfinite(level) & np.isfinite(slope_per_day) & (slope_per_day < -SLOPE_EPS)
    out: Float = np.where(falling, np.maximum(days, 0.0), np.inf)
    return out


def urgency(days: Float, horizon_days: float) -> Float:
    """Score of a days-to-empty estimate: horizon / days, in [0, SCORE_CAP]; 0 where never."""
    with np.errstate(divide="ignore"):
        score = horizon_days / days
    out: Float = np.clip(np.nan_to_num(score, nan=0.0, posinf=SCORE_CAP), 0.0, SCORE_CAP)
    return out


def grid_heuristics(grid: HourlyGrid, eval_hours: Int) -> Float:
    """Columns of GRID_HEURISTICS for every device and evaluation hour: (n_devices * m, k).

    Rows are device-major, like `build_features` with the same eval_hours.
    """
    ends = np.asarray(eval_hours, dtype=np.int64)
    growth, slope = outage_trends(grid["unavailable"] > 0.5, ends)
    n, m = growth.shape
    return np.stack([growth.reshape(n * m), slope.reshape(n * m)], axis=1)


def _col(X: Float, name: str, missing: float = 0.0) -> Float:
    """One feature column with NaN replaced by `missing`."""
    out: Float = np.nan_to_num(X[:, FEATURE_INDEX[name]], nan=missing, posinf=SCORE_CAP, neginf=-SCORE_CAP)
    return out


def heuristic_scores(X: Float, extra: Float | None = None, *, horizon_days: float = 7.0) -> dict[str, Float]:
    """Every heuristic's score per row: name -> (n_rows,), higher = more at risk, finite.

    X: (n_rows, n_features) feature rows; extra: (n_rows, len(GRID_HEURISTICS))
    from `grid_heuristics` (NaN or None: the outage trends score 0, no evidence).
    """
    n = X.shape[0]
    if extra is None:
        extra = np.full((n, len(GRID_HEURISTICS)), np.nan)
    level = X[:, FEATURE_INDEX["battery_level"]]
    scores: dict[str, Float] = {
        "battery_below_20": (np.nan_to_num(level, nan=100.0) < 20).astype(np.float64),
        "battery_level_low": np.clip(100.0 - np.nan_to_num(level, nan=100.0), 0.0, 100.0),
    }
    for days in (3, 7, 14):
        slope = X[:, FEATURE_INDEX[f"battery_slope_{days}d"]]
        scores[f"days_to_empty_{days}d"] = urgency(days_to_empty(level, slope), horizon_days)
    scores["unavailable_24h"] = (_col(X, "unavailable_hours_24h") > 0).astype(np.float64)
    scores["dropouts_7d"] = np.maximum(_col(X, "drops_7d"), 0.0)
    scores["dropout_trend"] = _col(X, "drops_trend")
    # Ratios below 1 (shrinking outages) still score above "no outage history" (0).
    scores["outage_growth"] = np.clip(np.nan_to_num(extra[:, 0], nan=0.0), 0.0, SCORE_CAP)
    scores["outage_slope"] = np.nan_to_num(extra[:, 1], nan=-SCORE_CAP)
    scores["stale_12h"] = (_col(X, "hours_since_report") >= 12).astype(np.float64)
    scores["silence_vs_usual"] = np.maximum(_col(X, "silence_vs_usual"), 0.0)
    scores["silence_vs_rate"] = np.maximum(_col(X, "silence_ratio"), 0.0)
    scores["quiet_vs_usual"] = np.maximum(scores["silence_vs_usual"], _col(X, "stillness_vs_usual"))
    return scores
