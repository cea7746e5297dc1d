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
