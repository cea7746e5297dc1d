"""Cells of the lab's Markdown tables (the model card, leave-one-family-out, the seeds' spread)."""

from __future__ import annotations

from typing import Any

import numpy as np


def fmt(value: Any) -> str:
    """A metric for a table cell.

    A float to three places, "–" for None or a float that is not finite, anything else as `str`.
    """
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if np.isfinite(value) else "–"
    return str(value)


def fmt_margin(summary: dict[str, Any]) -> str:
    """The model's alerts that came true minus the toughest heuristic's, with its 90 % interval.

    `summary`: a `vs_heuristics` summary (or a row holding its keys); "–" where either share
    or the interval is missing (no home to resample, or a heuristic that warns of nothing).
    """
    lo, hi = summary.get("alert_margin", (np.nan, np.nan))
    point = summary["model_alert_precision"] - summary["heuristic_alert_precision"]
    if not all(np.isfinite(v) for v in (point, lo, hi)):
        return "–"
    return f"{point:+.3f} [{lo:+.3f}, {hi:+.3f}]"
