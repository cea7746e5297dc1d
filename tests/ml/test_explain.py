"""Reasons belong to the prediction: path contributions, and only features that explain the failure type."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.bundle import BinaryClassifier, ModelBundle
from custom_components.homeiq_device_intel.ml.explain import EXPLAINS, may_explain, top_reasons
from custom_components.homeiq_device_intel.ml.features import (
    FEATURE_NAMES,
    FEATURE_SCHEMA_VERSION,
    RECHARGED_UNREAD,
    STATIC_FEATURES,
    FeatureFrame,
)
from custom_components.homeiq_device_intel.ml.records import FailureType
from custom_components.homeiq_device_intel.ml.scoring import score_frame
from custom_components.homeiq_device_intel.ml.trees.contributions import path_contributions
from custom_components.homeiq_device_intel.ml.trees.layout import MissingType, TreeEnsemble
from custom_components.homeiq_device_intel.ml.trees.predict import predict_raw

BATTERY = FEATURE_NAMES.index("battery_level")
SLOPE = FEATURE_NAMES.index("battery_slope_7d")
OUTAGE = FEATURE_NAMES.index("unavailable_hours_7d")


def test_every_failure_type_has_features_and_no_feature_explains_two() -> None:
    masks = {t: may_explain(t) for t in FailureType}

    assert set(EXPLAINS) == set(FailureType)
    assert all(mask.any() for mask in masks.values())
    assert int(np.max(sum(mask.astype(int) for mask in masks.values()))) == 1
    static = np.array([name in STATIC_FEATURES for name in FEATURE_NAMES])
    assert not any((mask & static).any() for mask in masks.values())
    battery = np.array([name.startswith("battery_") for name in FEATURE_NAMES])
    assert np.array_equal(masks[FailureType.BATTERY_DEPLETED] & battery, battery)
    assert not (masks[FailureType.UNAVAILABLE] & battery).any()
    assert not (masks[FailureType.STALE] & battery).any()


def two_split_tree() -> TreeEnsemble:
    """battery_level <= 20 (expected 1.0, else -0.5), then battery_slope_7d <= -1 (2.0, else 0.5)."""
    n = len(FEATURE_NAMES)
    return TreeEnsemble(
        n_features=n,
        objective="binary",
        tree_offsets=np.array([0, 5], dtype=np.int32),
        split_feature=np.array([BATTERY, SLOPE, -1, -1, -1], dtype=np.int32),
        threshold=np.array([20.0, -1.0, 0.0, 0.0, 0.0]),
        left_child=np.array([1, 2, -1, -1, -1], dtype=np.int32),
        right_child=np.array([4, 3, -1, -1, -1], dtype=np.int32),
        default_left=np.zeros(5, dtype=bool),
        missing_type=np.array([MissingType.NAN, MissingType.NAN, 0, 0, 0], dtype=np.int8),
        value=np.array([0.25, 1.0, 2.0, 0.5, -0.5]),
        node_values=True,
    )


def test_contributions_agree_in_sign_with_a_hand_built_two_split_tree() -> None:
    tree = two_split_tree()
    X = np.full((3, len(FEATURE_NAMES)), np.nan)
    X[:, BATTERY] = [10.0, 10.0, 80.0]
    X[:, SLOPE] = [-2.0, 0.0, -2.0]

    contributions, bias = path_contributions(tree, X)

    assert bias == 0.25
    # Low and falling: both push up. Low but flat: the level pushes up, the flat slope down.
    # High: the level pushes down and the slope, never reached, says nothing.
    assert contributions[:, [BATTERY, SLOPE]].tolist() == [[0.75, 1.0], [0.75, -0.5], [-0.75, 0.0]]
    assert np.count_nonzero(contributions) == 5
    assert np.allclose(bias + contributions.sum(axis=1), predict_raw(tree, X), rtol=0, atol=1e-12)
    first = top_reasons(contributions[0], X[0], failure_type=FailureType.BATTERY_DEPLETED)
    assert [feature for feature, _, _ in first] == ["battery_slope_7d", "battery_level"]
    assert sum(share for _, _, share in first) == pytest.approx(1.0)
    assert top_reasons(contributions[2], X[2], failure_type=FailureType.BATTERY_DEPLETED) == []


def test_features_that_do_not_belong_to_the_type_are_never_its_reasons() -> None:
    contributions = np.zeros(len(FEATURE_NAMES))
    contributions[BATTERY] = 5.0
    contributions[OUTAGE] = 1.0
    row = np.ones(len(FEATURE_NAMES))

    offline = top_reasons(contributions, row, failure_type=FailureType.UNAVAILABLE)
    battery = top_reasons(contributions, row, failure_type=FailureType.BATTERY_DEPLETED)

    assert offline == [("unavailable_hours_7d", "unavailable 1.0 h in the last week", 1.0)]
    assert [feature for feature, _, _ in battery] == ["battery_level"]
    assert top_reasons(contributions, row, failure_type="not_a_failure_type") == []


def test_a_value_that_says_nothing_is_wrong_is_never_a_reason() -> None:
    longest = FEATURE_NAMES.index("longest_unavailable_7d")
    own = FEATURE_NAMES.index("drops_7d_vs_own")
    reports = FEATURE_NAMES.index("reports_ratio_24h")
    contributions = np.zeros(len(FEATURE_NAMES))
    contributions[[longest, own, OUTAGE]] = [3.0, 2.0, 1.0]
    row = np.zeros(len(FEATURE_NAMES))
    row[own] = 0.8  # dropping less often than it used to
    row[OUTAGE] = 4.0
    # No outage this week and fewer dropouts than usual push the trees up, but tell the owner nothing.
    offline = top_reasons(contributions, row, failure_type=FailureType.UNAVAILABLE)
    assert offline == [("unavailable_hours_7d", "unavailable 4.0 h in the last week", 1.0)]
    row[[longest, own]] = [9.0, 3.0]
    offline = top_reasons(contributions, row, failure_type=FailureType.UNAVAILABLE)
    assert [feature for feature, _, _ in offline] == [
        "longest_unavailable_7d",
        "drops_7d_vs_own",
        "unavailable_hours_7d",
    ]
    # Reporting as often as usual is no reason for going stale; half as often is.
    contributions[reports] = 1.0
    row[reports] = 1.0
    assert top_reasons(contributions, row, failure_type=FailureType.STALE) == []
    row[reports] = 0.5
    assert [f for f, _, _ in top_reasons(contributions, row, failure_type=FailureType.STALE)] == [
        "reports_ratio_24h"
    ]


@pytest.fixture(scope="module")
def offline_forest() -> TreeEnsemble:
    """An `unavailable` forest that learned low batteries go offline (it splits on battery_level)."""
    lgb = pytest.importorskip("lightgbm")
    from custom_components.homeiq_device_intel.ml.export import ensemble_from_lightgbm

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, len(FEATURE_NAMES)))
    X[:, BATTERY] = rng.uniform(0, 100, 3000)
    X[:, OUTAGE] = rng.exponential(3.0, 3000)
    y = ((X[:, BATTERY] < 25) | (X[:, OUTAGE] > 6)).astype(float)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7, "seed": 0, "deterministic": True},
        lgb.Dataset(X, y),
        num_boost_round=30,
    )
    return ensemble_from_lightgbm(booster)


def offline_bundle(forest: TreeEnsemble) -> ModelBundle:
    """A bundle whose only classifier is `forest`, for going offline."""
    return ModelBundle(
        feature_names=FEATURE_NAMES,
        schema_version=FEATURE_SCHEMA_VERSION,
        classifiers={FailureType.UNAVAILABLE.value: BinaryClassifier(ensemble=forest)},
    )


def offline_frame() -> FeatureFrame:
    """Mains-less battery devices, most of them low, some with outages; none down now."""
    rng = np.random.default_rng(1)
    n = 200
    X = np.zeros((n, len(FEATURE_NAMES)))
    X[:, BATTERY] = rng.uniform(0, 40, n)
    X[:, OUTAGE] = np.where(rng.random(n) < 0.3, rng.uniform(6, 20, n), 0.0)
    X[:, FEATURE_NAMES.index("has_battery")] = 1.0
    return FeatureFrame(
        X=X,
        device_index=np.arange(n),
        eval_hour=np.zeros(n, dtype=np.int64),
        device_keys=[f"device{i}" for i in range(n)],
    )


@pytest.mark.parametrize("node_values", [True, False], ids=["path-contributions", "occlusion"])
def test_a_forest_that_splits_on_battery_level_never_blames_it_for_going_offline(
    offline_forest: TreeEnsemble, node_values: bool
) -> None:
    forest = offline_forest
    if not node_values:  # as an old bundle: leaf values only
        leaves = np.where(forest.split_feature == -1, forest.value, 0.0)
        forest = dataclasses.replace(forest, value=leaves, node_values=False)
    assert BATTERY in forest.split_feature
    bundle = offline_bundle(forest)
    frame = offline_frame()

    predictions = score_frame(frame, bundle)

    assert all(p.failure_type == FailureType.UNAVAILABLE for p in predictions)
    low = frame.X[:, BATTERY] < 25
    if node_values:  # the forest does credit low batteries with going offline...
        contributions, _ = path_contributions(forest, frame.X)
        assert np.all(contributions[low, BATTERY] > 0)
    # ...but the reasons shown for going offline never say so.
    reasons = [r for p in predictions for r in p.reasons]
    assert reasons
    allowed = {n for n, ok in zip(FEATURE_NAMES, may_explain(FailureType.UNAVAILABLE), strict=True) if ok}
    assert {r.feature for r in reasons} <= allowed
    assert "unavailable_hours_7d" in {r.feature for r in reasons}
    assert not any("battery" in r.text for r in reasons)
    # A device whose outages alone make it likely to go offline is told so.
    outage_only = (frame.X[:, OUTAGE] > 6) & ~low
    assert outage_only.any()
    assert all(p.reasons for p, alone in zip(predictions, outage_only, strict=True) if alone)


def test_the_battery_of_a_device_that_recharges_routinely_never_moves_its_outage_score(
    offline_forest: TreeEnsemble,
) -> None:
    # The forest learned that low batteries go offline: true of a primary battery, not of a phone
    # charged every night (an evening phone at 10 % is no device about to die).
    bundle = offline_bundle(offline_forest)
    frame = offline_frame()
    low = frame.X[:, BATTERY] < 25
    as_battery = np.array([p.probability for p in score_frame(frame, bundle)])
    # As `build_features` gives a phone's rows: its battery columns unknown.
    phone_rows = frame.X.copy()
    phone_rows[:, RECHARGED_UNREAD] = np.nan
    recharging = dataclasses.replace(frame, X=phone_rows, recharging=np.ones(frame.X.shape[0], dtype=bool))
    as_phone = np.array([p.probability for p in score_frame(recharging, bundle)])
    # Read as a phone, a device's level makes no difference: only its outages do.
    no_outage = frame.X[:, OUTAGE] == 0
    assert low[no_outage].any() and (~low[no_outage]).any()
    assert np.ptp(as_phone[no_outage]) < 1e-12
    assert np.ptp(as_battery[no_outage]) > 0.05
    # Every column a battery explains is one a phone's rows leave unknown.
    assert set(np.flatnonzero(may_explain(FailureType.BATTERY_DEPLETED))) == set(RECHARGED_UNREAD.tolist())


def test_a_device_scored_below_the_forests_starting_value_gets_no_reasons(
    offline_forest: TreeEnsemble,
) -> None:
    bundle = offline_bundle(offline_forest)
    frame = offline_frame()
    frame.X[:, BATTERY] = 90.0  # healthy batteries
    frame.X[:, OUTAGE] = 0.0  # and no outages: every device is below the average one
    frame.X[:3, OUTAGE] = 15.0  # but these three

    predictions = score_frame(frame, bundle)
    contributions, _ = path_contributions(offline_forest, frame.X)

    below = contributions.sum(axis=1) <= 0
    assert below[3:].all() and not below[:3].any()
    assert all(not p.reasons for p in predictions[3:])
    assert all(p.reasons for p in predictions[:3])
