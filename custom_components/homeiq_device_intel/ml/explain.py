"""Why a device scores high: which features may explain a failure type, and the phrases users see.

The contributions themselves come from the forest: `trees.contributions`
(along the tree paths) for forests with node values, `attributions` below
(occlusion) for older ones.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from .features import FEATURE_NAMES, STATIC_FEATURES
from .records import FailureType
from .trees.layout import TreeEnsemble
from .trees.predict import predict_raw

Float = npt.NDArray[np.float64]

# The one table of which features may explain which failure type: a feature
# explains a type when its name is, or starts with, one of the type's entries.
# A feature no entry matches (what a device is, its age, its temperature)
# explains nothing; no feature matches two types (tests check both).
EXPLAINS: Final[dict[str, tuple[str, ...]]] = {
    FailureType.BATTERY_DEPLETED: ("battery_", "days_since_swap", "voltage_"),
    FailureType.UNAVAILABLE: (
        "unavailable_",
        "hours_unavailable_",
        "longest_unavailable_",
        "drops_",
        "outage",
        "bridge_down_",
        "signal_",
    ),
    FailureType.STALE: (
        "reports_",
        "hours_since_report",
        "silence_",
        "silent_",
        "changes_",
        "hours_since_change",
        "stillness_",
        "still_",
    ),
}


def may_explain(failure_type: str, names: tuple[str, ...] = FEATURE_NAMES) -> npt.NDArray[np.bool_]:
    """(len(names),) which features may explain `failure_type` (none for an unknown type)."""
    prefixes = EXPLAINS.get(failure_type, ())
    return np.array(
        [name not in STATIC_FEATURES and name.startswith(prefixes) for name in names], dtype=np.bool_
    )


_MAY_EXPLAIN: Final = {str(t): may_explain(t) for t in EXPLAINS}


def attributions(ensemble: TreeEnsemble, X: Float, reference: Float, base: Float | None = None) -> Float:
    """Margin lost when each feature is set back to its healthy reference value.

    X: (n, n_features); reference: (n_features,); base: the raw scores of X when
    the caller has them already. Returns (n, n_features): positive entries are
    features pushing the margin up. Costs one batched prediction of
    n * n_features rows.
    """
    n, f = X.shape
    if base is None:
        base = predict_raw(ensemble, X)
    probe = np.repeat(X[:, None, :], f, axis=1)
    idx = np.arange(f)
    probe[:, idx, idx] = reference[None, :]
    moved = predict_raw(ensemble, probe.reshape(n * f, f)).reshape(n, f)
    out: Float = base[:, None] - moved
    return out


# Phrase of each feature value; "{v...}" is the value (English fallback; the UI translates keys).
_PHRASES: dict[str, str] = {
    "battery_level": "battery at {v:.0f}%",
    "battery_delta_24h": "battery changed {v:+.0f}% in 24 h",
    "battery_days_linear": "battery empty in ~{v:.0f} days at the current rate",
    "days_since_swap": "battery swapped {v:.0f} days ago",
    "reports_24h": "{v:.0f} reports in the last 24 h",
    "reports_baseline": "usually {v:.0f} reports a day",
    "silence_vs_usual": "silent for {v:.0%} of its longest usual silence",
    "stillness_vs_usual": "value still for {v:.0%} of its longest usual stillness",
    "reports_ratio_24h": "reporting at {v:.0%} of its usual rate",
    "hours_since_report": "no report for {v:.0f} h",
    "silence_ratio": "silent for {v:.1f}x its usual gap",
    "changes_24h": "{v:.0f} value changes in 24 h",
    "changes_ratio_24h": "value changing at {v:.0%} of its usual rate",
    "hours_since_change": "value unchanged for {v:.0f} h",
    "unavailable_hours_24h": "unavailable {v:.1f} h in the last day",
    "unavailable_hours_7d": "unavailable {v:.1f} h in the last week",
    "drops_24h": "dropped offline {v:.0f} times today",
    "drops_7d": "dropped offline {v:.0f} times this week",
    "drops_trend": "{v:+.0f} dropouts versus the week before",
    "longest_unavailable_7d": "longest outage this week {v:.0f} h",
    "hours_unavailable_now": "unavailable for {v:.0f} h now",
    "signal_level": "link quality {v:.0%}",
    "temperature_level": "device temperature {v:.0f} °C",
    "voltage_level": "voltage {v / 1000 if value > 100 else value:.2f} V",
    "voltage_slope_7d": "voltage trend {v:+.3f}/day",
    "bridge_down_24h": "its bridge was down {v:.0%} of the last day",
    "bridge_down_7d": "its bridge was down {v:.0%} of the last week",
    "age_days": "known for {v:.0f} days",
    "reports_z_24h": "reports today {v:+.1f} standard deviations from its usual day",
    "reports_ratio_3d": "reporting at {v:.0%} of its usual rate over 3 days",
    "silent_hours_3d": "silent {v:.0f} h in the last 3 days",
    "still_3d_vs_14d": "value still {v:.1f}x as often as in the two weeks before",
    "drops_3d": "dropped offline {v:.0f} times in 3 days",
    "drops_1d_vs_6d": "dropping offline {v:.1f}x as often as in the days before",
    "battery_days_linear_min": "battery empty in ~{v:.0f} days at its fastest recent rate",
    "battery_drop_30d": "battery {v:.0f}% below its level of the last 30 days",
    "battery_hours_since_change": "battery level unchanged for {v:.0f} h",
    "outage_growth": "last outage {v:.1f}x as long as the ones before",
    "outage_slope": "outages getting longer ({v:+.2f} log-hours per outage)",
    "drops_7d_vs_own": "dropping offline {v:.1f}x as often as it used to",
    "unavailable_7d_vs_own": "unavailable {v:.1f}x as long as it used to be",
    "own_drop_rate": "usually drops offline {v:.1f} times a day",
    "drops_3d_vs_own": "dropping offline {v:.1f}x as often as usual these 3 days",
}


def describe(feature: str, value: float) -> str:
    """A short English phrase for a feature value (English fallback; UI translates keys)."""
    if not np.isfinite(value):
        return f"{feature.replace('_', ' ')} unknown"
    if feature == "battery_low_flag":
        return "device reports battery low" if value > 0.5 else "battery-low flag off"
    if feature == "voltage_level":
        return f"voltage {value / 1000 if value > 100 else value:.2f} V"
    if feature.startswith("battery_slope_"):
        window = feature.rsplit("_", 1)[1]
        verb = "falling" if value < 0 else "rising"
        return f"battery {verb} {abs(value):.1f}%/day over {window}"
    if feature == "signal_delta_7d":  # the 0-1 scale's change, said in points of 100
        side = "below" if value < 0 else "above"
        return f"link quality {abs(value) * 100:.0f} points {side} last week"
    if feature == "signal_slope_7d":
        verb = "falling" if value < 0 else "rising"
        return f"link quality {verb} {abs(value) * 100:.1f} points a day"
    if feature == "battery_curvature_7d":
        return "battery drain accelerating" if value < 0 else "battery drain slowing"
    if feature == "outage_length_vs_own":  # a log ratio
        return f"dropouts {float(np.exp(value)):.1f}x as long as usual these 3 days"
    template = _PHRASES.get(feature)
    if template is None:
        return f"{feature.replace('_', ' ')} = {value:.3g}"
    return template.format(v=value)


# Values at which a feature says nothing is wrong: (bound, direction). A feature at or below
# its bound ("<=") or at or above it (">=") is never shown as a reason, even where the trees
# lean on it (an owner told "longest outage this week 0 h" as why a device may go offline
# learns nothing): no outage, no dropout, a ratio to its usual of 1 or less, a trend not rising.
NOT_A_REASON: Final[dict[str, tuple[float, str]]] = {
    **dict.fromkeys(
        (
            "unavailable_hours_24h",
            "unavailable_hours_7d",
            "drops_24h",
            "drops_7d",
            "drops_3d",
            "drops_trend",
            "longest_unavailable_7d",
            "hours_unavailable_now",
            "bridge_down_24h",
            "bridge_down_7d",
            "silent_hours_3d",
            "outage_slope",
            "outage_length_vs_own",
        ),
        (0.0, "<="),
    ),
    **dict.fromkeys(
        (
            "drops_7d_vs_own",
            "drops_3d_vs_own",
            "unavailable_7d_vs_own",
            "drops_1d_vs_6d",
            "outage_growth",
            "silence_ratio",
            "silence_vs_usual",
            "stillness_vs_usual",
            "still_3d_vs_14d",
        ),
        (1.0, "<="),
    ),
    **dict.fromkeys(("reports_ratio_24h", "reports_ratio_3d"), (1.0, ">=")),
}
_BOUND: Final = np.array([NOT_A_REASON.get(name, (np.nan, ""))[0] for name in FEATURE_NAMES])
_AT_MOST: Final = np.array([NOT_A_REASON.get(name, (0.0, ""))[1] == "<=" for name in FEATURE_NAMES])
_AT_LEAST: Final = np.array([NOT_A_REASON.get(name, (0.0, ""))[1] == ">=" for name in FEATURE_NAMES])


def says_nothing_wrong(row: Float) -> npt.NDArray[np.bool_]:
    """(n_features,) where the row's value is one at which its feature reports nothing amiss."""
    with np.errstate(invalid="ignore"):
        quiet: npt.NDArray[np.bool_] = (_AT_MOST & (row <= _BOUND)) | (_AT_LEAST & (row >= _BOUND))
    return quiet


def top_reasons(
    contributions: Float, row: Float, *, failure_type: str, limit: int = 3
) -> list[tuple[str, str, float]]:
    """The strongest positive contributions to one row's `failure_type` score: (feature, phrase, share).

    contributions and row are (n_features,). Only features that may explain
    the type (`EXPLAINS`) and whose value says something is amiss (`NOT_A_REASON`) count, and
    shares are of their positive total.
    """
    allowed = _MAY_EXPLAIN.get(failure_type)
    if allowed is None:
        return []
    # A feature the device does not have (NaN), or whose value says nothing is wrong, explains
    # nothing to its owner.
    usable = allowed & np.isfinite(row) & ~says_nothing_wrong(row)
    c = np.where(usable & (contributions > 0), contributions, 0.0)
    total = float(c.sum())
    if total <= 0:
        return []
    order = np.argsort(-c, kind="stable")[:limit]
    return [
        (FEATURE_NAMES[j], describe(FEATURE_NAMES[j], float(row[j])), float(c[j] / total))
        for j in order
        if c[j] > 0
    ]
