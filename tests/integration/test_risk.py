"""At-risk scores: a fixed probability, or each failure type at the model's own alarm point."""

from __future__ import annotations

import pytest

from custom_components.homeiq_device_intel.ml.bundle import BinaryClassifier, ModelBundle
from custom_components.homeiq_device_intel.ml.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from custom_components.homeiq_device_intel.ml.scoring import DevicePrediction
from custom_components.homeiq_device_intel.risk import AUTOMATIC, AtRiskTracker, risk_scores
from tests.tiny_models import stump


def _bundle(thresholds: dict[str, float]) -> ModelBundle:
    return ModelBundle(
        feature_names=FEATURE_NAMES,
        schema_version=FEATURE_SCHEMA_VERSION,
        classifiers={
            name: BinaryClassifier(
                ensemble=stump("battery_level", 50.0, left=1.0, right=-1.0, objective="binary"),
                threshold=value,
            )
            for name, value in thresholds.items()
        },
    )


def _prediction(**probabilities: float) -> DevicePrediction:
    best = max(probabilities, key=probabilities.__getitem__)
    return DevicePrediction(
        device_key="d",
        probability=probabilities[best],
        failure_type=best,
        probabilities=probabilities,
        reasons=(),
        battery_days=None,
        battery_days_low=None,
        battery_days_high=None,
        anomaly=None,
    )


def test_fixed_threshold_compares_the_probability_in_percent():
    scores, threshold = risk_scores({"d": _prediction(unavailable=0.42)}, _bundle({"unavailable": 0.1}), 40)
    assert threshold == 40
    assert scores["d"] == pytest.approx(42.0)


def test_automatic_measures_each_type_against_its_own_alarm_point():
    bundle = _bundle({"battery_depleted": 0.10, "stale": 0.01})
    # 6 % battery is below its 10 % point; 2 % stale is twice its 1 % point.
    scores, threshold = risk_scores({"d": _prediction(battery_depleted=0.06, stale=0.02)}, bundle, AUTOMATIC)
    assert threshold == 100
    assert scores["d"] == pytest.approx(200.0)


def test_automatic_turns_a_device_on_after_two_scorings_at_its_alarm_point():
    bundle = _bundle({"battery_depleted": 0.10})
    tracker = AtRiskTracker(on_after=2, off_after=2, hysteresis=10)
    for expected in ([], ["d"]):
        scores, threshold = risk_scores({"d": _prediction(battery_depleted=0.11)}, bundle, AUTOMATIC)
        assert tracker.update(scores, threshold) == expected
    below = {"d": _prediction(battery_depleted=0.095)}  # within the hysteresis: stays on
    tracker.update(*risk_scores(below, bundle, AUTOMATIC))
    tracker.update(*risk_scores(below, bundle, AUTOMATIC))
    assert tracker.is_on("d")
