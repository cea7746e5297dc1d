"""Risk scores for tracker tests, written as probabilities beside a threshold."""

from __future__ import annotations

from custom_components.homeiq_device_intel.risk import FULL, RiskScore


def at(values: dict[str, float], threshold: float, release: float | None = None) -> dict[str, RiskScore]:
    """Scores of devices whose probability is `values` with an alarm point and a release point.

    The release point defaults to 10 below the threshold.
    """
    release = threshold - 10.0 if release is None else release
    return {key: RiskScore(alarm=FULL * v / threshold, hold=FULL * v / release) for key, v in values.items()}
