"""A hand-made model bundle over the real feature vector, so tests need no LightGBM."""

from __future__ import annotations

import numpy as np

from custom_components.homeiq_device_intel.ml.bundle import BinaryClassifier, ModelBundle
from custom_components.homeiq_device_intel.ml.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from custom_components.homeiq_device_intel.ml.records import FailureType
from custom_components.homeiq_device_intel.ml.trees.layout import MissingType, TreeEnsemble

# Each classifier splits once on the feature that drives its failure type.
SPLITS: dict[str, tuple[str, float]] = {
    FailureType.BATTERY_DEPLETED.value: ("battery_level", 20.0),
    FailureType.UNAVAILABLE.value: ("unavailable_hours_7d", 6.0),
    FailureType.STALE.value: ("hours_since_report", 24.0),
}


def stump(feature: str, threshold: float, *, left: float, right: float, objective: str) -> TreeEnsemble:
    """One tree, one split: `left` where feature <= threshold or NaN, else `right`."""
    return TreeEnsemble(
        n_features=len(FEATURE_NAMES),
        objective=objective,  # type: ignore[arg-type]
        tree_offsets=np.array([0, 3], dtype=np.int32),
        split_feature=np.array([FEATURE_NAMES.index(feature), -1, -1], dtype=np.int32),
        threshold=np.array([threshold, 0.0, 0.0]),
        left_child=np.array([1, -1, -1], dtype=np.int32),
        right_child=np.array([2, -1, -1], dtype=np.int32),
        default_left=np.array([True, False, False]),
        missing_type=np.array([MissingType.NAN, 0, 0], dtype=np.int8),
        value=np.array([0.0, left, right]),
    )


def tiny_bundle() -> ModelBundle:
    """Three single-split classifiers and battery-days quantile regressors."""
    classifiers = {}
    for target, (feature, threshold) in SPLITS.items():
        # Low battery is the risky side; for the others a high value is.
        risky_left = feature == "battery_level"
        classifiers[target] = BinaryClassifier(
            ensemble=stump(
                feature,
                threshold,
                left=2.0 if risky_left else -2.0,
                right=-2.0 if risky_left else 2.0,
                objective="binary",
            )
        )
    regressors = {
        f"battery_days_{q}": stump("battery_level", 20.0, left=days / 4, right=days, objective="quantile")
        for q, days in (("q10", 10.0), ("q50", 30.0), ("q90", 90.0))
    }
    return ModelBundle(
        feature_names=FEATURE_NAMES,
        schema_version=FEATURE_SCHEMA_VERSION,
        classifiers=classifiers,
        regressors=regressors,
        metadata={"version": "tiny", "source": "shipped", "horizon_days": 7.0},
    )
