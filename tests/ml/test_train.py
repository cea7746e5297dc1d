"""The lab's training choices that need no LightGBM: per-target features."""

from __future__ import annotations

import numpy as np

from custom_components.homeiq_device_intel.ml.features import FEATURE_INDEX, FEATURE_NAMES
from custom_components.homeiq_device_intel.ml.records import FailureType
from homeiq_lab.train import TARGET_ONLY_FEATURES, target_features


def test_features_reserved_for_another_target_are_hidden():
    X = np.ones((3, len(FEATURE_NAMES)))
    unavailable = target_features(X, FailureType.UNAVAILABLE)
    battery = target_features(X, FailureType.BATTERY_DEPLETED)
    for name in TARGET_ONLY_FEATURES:
        assert unavailable[0, FEATURE_INDEX[name]] == 1.0
        assert np.isnan(battery[0, FEATURE_INDEX[name]])
    assert battery[0, FEATURE_INDEX["battery_level"]] == 1.0
    assert np.all(X == 1.0)  # the caller's rows are untouched
