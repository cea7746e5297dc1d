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


def test_fixed_threshold_alarms_every_type_at_that_probability():
    scores = risk_scores({"d": _prediction(unavailable=0.42)}, _bundle({"unavailable": 0.1}), 40)
    assert scores["d"].alarm == pytest.approx(105.0)  # 42 % against 40 %
    assert scores["d"].hold == pytest.approx(210.0)  # against half of it, outages' release point


def test_automatic_measures_each_type_against_its_own_alarm_point():
    bundle = _bundle({"battery_depleted": 0.10, "stale": 0.01})
    # 6 % battery is below its 10 % point; 2 % stale is twice its 1 % point.
    scores = risk_scores({"d": _prediction(battery_depleted=0.06, stale=0.02)}, bundle, AUTOMATIC)
    assert scores["d"].alarm == pytest.approx(200.0)
    # Held by the battery: 6 % is six times its release point (a tenth of 10 %).
    assert scores["d"].hold == pytest.approx(600.0)


def test_automatic_turns_a_device_on_after_two_scorings_at_its_alarm_point():
    bundle = _bundle({"battery_depleted": 0.10})
    tracker = AtRiskTracker(on_after=2, off_after=2)
    for expected in ([], ["d"]):
        assert (
            tracker.update(risk_scores({"d": _prediction(battery_depleted=0.11)}, bundle, AUTOMATIC))
            == expected
        )
    below = {"d": _prediction(battery_depleted=0.095)}  # below the alarm point, above the release point
    tracker.update(risk_scores(below, bundle, AUTOMATIC))
    tracker.update(risk_scores(below, bundle, AUTOMATIC))
    assert tracker.is_on("d")


def test_a_battery_alert_holds_through_a_wobbling_reading_and_ends_when_replaced():
    """A battery at its alarm point whose probability dips to half of it stays one alert."""
    bundle = _bundle({"battery_depleted": 0.40, "unavailable": 0.40})
    tracker = AtRiskTracker(on_after=1, off_after=2)
    assert tracker.update(risk_scores({"d": _prediction(battery_depleted=0.45)}, bundle, AUTOMATIC)) == ["d"]
    for p in (0.20, 0.30, 0.10, 0.25):  # a noisy reading: far below the alarm point, still a tired battery
        assert tracker.update(risk_scores({"d": _prediction(battery_depleted=p)}, bundle, AUTOMATIC)) == []
        assert tracker.is_on("d")
    for _ in range(2):  # replaced: the probability falls to almost nothing
        tracker.update(risk_scores({"d": _prediction(battery_depleted=0.01)}, bundle, AUTOMATIC))
    assert not tracker.is_on("d")
    # An outage alert at the same dip ends: outages recover, their release point is half the alarm point.
    tracker.update(risk_scores({"d": _prediction(unavailable=0.45)}, bundle, AUTOMATIC))
    for _ in range(2):
        tracker.update(risk_scores({"d": _prediction(unavailable=0.15)}, bundle, AUTOMATIC))
    assert not tracker.is_on("d")
