"""The alert rule: on at the alarm point, held until the release point."""

from __future__ import annotations

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.alerts import (
    RELEASE_FRACTION,
    held_alarm,
    release_fraction,
    release_point,
)
from custom_components.homeiq_device_intel.ml.metrics import alert_precision, matched_alerts
from custom_components.homeiq_device_intel.ml.records import FailureType

DAY = 24


def _rows(scores: list[float], device: int = 0, start: int = 0):
    n = len(scores)
    return (
        np.asarray(scores, dtype=np.float64),
        np.full(n, device, dtype=np.int64),
        np.arange(start, start + n * DAY, DAY, dtype=np.int64),
    )


def _reference(score, device, hour, on, off):
    """The rule written row by row, as the integration's tracker applies it (one scoring each)."""
    out, state = [], False
    for i in range(score.size):
        if i == 0 or device[i] != device[i - 1] or hour[i] - hour[i - 1] > DAY:
            state = False
        if state and score[i] < off:
            state = False
        elif not state and score[i] >= on:
            state = True
        out.append(state)
    return np.asarray(out)


def test_a_score_wobbling_around_the_alarm_point_is_one_alert():
    score, device, hour = _rows([0.1, 0.45, 0.35, 0.42, 0.3, 0.5, 0.02, 0.02])
    raw = score >= 0.4
    held = held_alarm(score, device, hour, 0.4, 0.04)
    assert alert_precision(raw, device, hour, np.zeros(8))[0] == 3
    assert held.tolist() == [False, True, True, True, True, True, False, False]
    assert alert_precision(held, device, hour, np.zeros(8))[0] == 1


def test_an_alert_ends_below_the_release_point_and_a_new_one_can_start():
    score, device, hour = _rows([0.5, 0.1, 0.5, 0.3])
    assert held_alarm(score, device, hour, 0.4, 0.2).tolist() == [True, False, True, True]


def test_a_release_point_at_the_alarm_point_is_the_plain_threshold():
    rng = np.random.default_rng(3)
    score, device, hour = _rows(list(rng.random(50)))
    np.testing.assert_array_equal(held_alarm(score, device, hour, 0.6, 0.6), score >= 0.6)
    np.testing.assert_array_equal(held_alarm(score, device, hour, 0.6, 0.9), score >= 0.6)  # capped


def test_an_alert_does_not_carry_over_to_the_next_device_or_across_a_gap():
    a = _rows([0.9, 0.5], device=0)
    b = _rows([0.5, 0.5], device=1)
    c = _rows([0.5], device=1, start=10 * DAY)  # device 1 again, after a week without rows
    d = _rows([0.9], device=1, start=11 * DAY)
    score, device, hour = (np.concatenate(parts) for parts in zip(a, b, c, d, strict=True))
    held = held_alarm(score, device, hour, 0.8, 0.1)
    assert held.tolist() == [True, True, False, False, False, True]


def test_matches_the_row_by_row_rule_on_random_homes():
    rng = np.random.default_rng(11)
    device = np.sort(rng.integers(0, 30, 3000))
    hour = np.zeros(device.size, dtype=np.int64)
    for d in np.unique(device):
        rows = np.flatnonzero(device == d)
        hour[rows] = np.cumsum(rng.choice([DAY, DAY, DAY, 3 * DAY], rows.size))
    score = np.clip(np.cumsum(rng.normal(0, 0.1, device.size)) % 1.0, 0, 1)
    for on, off in ((0.5, 0.05), (0.3, 0.15), (0.7, 0.7)):
        np.testing.assert_array_equal(
            held_alarm(score, device, hour, on, off), _reference(score, device, hour, on, off)
        )


def test_release_points_per_failure_type():
    assert release_fraction(FailureType.BATTERY_DEPLETED) < release_fraction(FailureType.UNAVAILABLE)
    assert set(RELEASE_FRACTION) == set(FailureType)
    assert release_point(80.0, 0.1, floor=0.0) == pytest.approx(8.0)
    assert release_point(1.0, 0.5, floor=-1.0) == pytest.approx(0.0)


def test_matched_alerts_hold_both_scorers_alike():
    # One device whose battery fails at day 10; both scorers wobble around their alarm points before.
    model = np.array([0.1, 0.1, 0.6, 0.4, 0.6, 0.4, 0.6, 0.4, 0.6, 0.4])
    level_low = np.array([10, 10, 85, 75, 85, 75, 85, 75, 85, 75], dtype=np.float64)  # 100 - battery level
    score, device, hour = _rows(list(model))
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1], dtype=np.float64)
    event = np.full(10, 10.0 * DAY)
    raw = matched_alerts(score, 0.5, level_low, device, hour, y, event, 7 * DAY)
    held = matched_alerts(score, 0.5, level_low, device, hour, y, event, 7 * DAY, release_fraction=0.1)
    assert raw["model_alerts"] == 4 and raw["alerts"] == 4
    assert held["model_alerts"] == 1 and held["alerts"] == 1
    assert held["failures_warned"] == raw["failures_warned"] == 1.0
    assert held["model_alert_precision"] == held["alert_precision"] == 1.0
