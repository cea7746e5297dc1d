"""The lab's training choices that need no LightGBM: operating thresholds, per-target features, rows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from custom_components.homeiq_device_intel.ml.features import FEATURE_INDEX, FEATURE_NAMES
from custom_components.homeiq_device_intel.ml.metrics import alert_precision, best_f1_threshold
from custom_components.homeiq_device_intel.ml.records import FailureType
from homeiq_lab.dataset import build_dataset
from homeiq_lab.train import (
    TARGET_ONLY_FEATURES,
    TrainConfig,
    make_split,
    owner_f1_threshold,
    target_features,
)

from .test_ceiling import _home, _outage


def _rows():
    """Two devices, 30 daily rows each. Device 0 fails at hour 480 (day 20); device 1 never does.

    Device 0 scores 0.9 six days before its failure, then 0.6 on the days up to it;
    device 1 blinks to 0.6 on four separate days (four false one-day alerts).
    """
    days = np.arange(1, 31)
    hour = np.concatenate([days * 24, days * 24]).astype(np.int64)
    device = np.repeat(np.arange(2), 30).astype(np.int64)
    event = np.where(device == 0, 480.0, np.nan)
    y = np.where((device == 0) & (hour <= 480) & (480 - hour < 168), 1.0, 0.0)
    p = np.where(y == 1.0, 0.6, 0.05)
    p[(device == 0) & (hour == 336)] = 0.9
    p[30:] = np.where(np.isin(days, [3, 9, 15, 27]), 0.6, 0.1)
    return p, device, hour, y, event


def test_owner_threshold_keeps_alerts_true_where_row_f1_takes_the_blinks():
    p, device, hour, y, event = _rows()
    owner = owner_f1_threshold(p, device, hour, y, event, 168)
    n_alerts, precision = alert_precision(p >= owner, device, hour, y)
    assert (n_alerts, precision) == (1, 1.0)  # one alert, six days ahead, and it came true
    # Row-level F1 prefers the six positive rows at 0.6, and with them the four blinks.
    row = best_f1_threshold(y, p)
    n_alerts, precision = alert_precision(p >= row, device, hour, y)
    assert (n_alerts, precision) == (5, 0.2)


def test_features_reserved_for_another_target_are_hidden():
    X = np.ones((3, len(FEATURE_NAMES)))
    unavailable = target_features(X, FailureType.UNAVAILABLE)
    battery = target_features(X, FailureType.BATTERY_DEPLETED)
    for name in TARGET_ONLY_FEATURES:
        assert unavailable[0, FEATURE_INDEX[name]] == 1.0
        assert np.isnan(battery[0, FEATURE_INDEX[name]])
    assert battery[0, FEATURE_INDEX["battery_level"]] == 1.0
    # Some rows only: the same as hiding in all rows, then picking them.
    rows = np.array([True, False, True])
    np.testing.assert_array_equal(target_features(X, FailureType.BATTERY_DEPLETED, rows), battery[rows])
    np.testing.assert_array_equal(target_features(X, FailureType.UNAVAILABLE, rows), unavailable[rows])
    assert np.all(X == 1.0)  # the caller's rows are untouched


def test_a_signs_only_target_learns_without_its_failing_days_before_the_first_sign():
    unavailable = FailureType.UNAVAILABLE.value
    homes = [replace(_home([_outage(17.0)]), home_id=f"h{i}") for i in range(6)]
    ds = build_dataset(homes)
    config = TrainConfig(holdout_families=(), signs_only_targets=(unavailable,))
    split = make_split(ds, config, homes)
    y = ds.y[unavailable]
    rows = split.train_rows(unavailable, y)
    positives = split.train & (y == 1.0)
    assert positives.sum() == 7 * 3  # three training homes (two test, one validation), 7 days each
    # Each home's three days before its warning began are left out; nothing else is.
    assert np.array_equal(split.signless[unavailable], positives & (ds.hour < 17 * 24))
    assert np.array_equal(rows, split.train & np.isfinite(y) & ~split.signless[unavailable])
    # Validation keeps every row; without the homes' truth, or for other targets, nothing is left out.
    assert not (split.signless[unavailable] & split.validation).any()
    plain = make_split(ds, config, ())
    assert np.array_equal(plain.train_rows(unavailable, y), split.train & np.isfinite(y))
    stale = FailureType.STALE.value
    assert np.array_equal(split.train_rows(stale, ds.y[stale]), split.train & np.isfinite(ds.y[stale]))
