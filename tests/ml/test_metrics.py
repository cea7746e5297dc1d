"""Metrics on hand-made alarms: row-level figures, lead times, and what an owner experiences."""

from __future__ import annotations

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.metrics import alert_metrics, classification_report, lead_times

H = 24 * 7  # horizon in hours


def _device_days(n_days: int, device: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n_days, device, dtype=np.int64), np.arange(1, n_days + 1, dtype=np.int64) * 24


def test_lead_time_counts_from_the_first_alarm_in_the_horizon():
    device, hour = _device_days(30)
    event = np.full(30, 20 * 24.0)
    event[20:] = np.nan
    alarm = np.zeros(30, dtype=bool)
    alarm[[16, 17, 18]] = True  # rows of days 17..19: 3 days before the event on day 20
    lead = lead_times(alarm, device, hour, event, H)
    assert lead.tolist() == [3.0]
    assert lead_times(np.zeros(30, dtype=bool), device, hour, event, H).tolist() == [0.0]


def test_alerts_are_runs_of_alarmed_days_and_come_true_when_a_failure_follows():
    device, hour = _device_days(40)
    event = np.where(np.arange(40) < 20, 20 * 24.0, np.nan)
    y = np.where((event - hour < H) & (event >= hour), 1.0, 0.0)
    alarm = np.zeros(40, dtype=bool)
    alarm[[2, 3]] = True  # a false alert on days 3-4 (the failure is 16 days away)
    alarm[[17, 18]] = True  # a true alert on days 18-19
    alarm[30] = True  # a false alert after the failure
    m = alert_metrics(alarm, device, hour, y, event, H)
    assert m["alerts"] == 3
    assert m["alert_precision"] == pytest.approx(1 / 3)
    assert m["event_recall"] == 1.0
    assert m["event_f1"] == pytest.approx(2 * (1 / 3) / (1 / 3 + 1))


def test_alert_runs_split_by_device_and_by_gaps():
    d0, h0 = _device_days(5, device=0)
    d1, h1 = _device_days(5, device=1)
    device, hour = np.concatenate([d0, d1]), np.concatenate([h0, h1])
    hour[7:] += 48  # device 1 misses two days of rows before its last three
    alarm = np.ones(10, dtype=bool)
    y = np.zeros(10)
    event = np.full(10, np.nan)
    m = alert_metrics(alarm, device, hour, y, event, H)
    assert m["alerts"] == 3  # device 0; device 1 before and after its gap
    assert m["alert_precision"] == 0.0
    assert np.isnan(m["event_recall"])  # no failure to warn of


def test_a_missed_failure_and_no_alerts():
    device, hour = _device_days(20)
    event = np.full(20, 15 * 24.0)
    y = np.where((event - hour < H) & (event >= hour), 1.0, 0.0)
    m = alert_metrics(np.zeros(20, dtype=bool), device, hour, y, event, H)
    assert m["alerts"] == 0 and np.isnan(m["alert_precision"])
    assert m["event_recall"] == 0.0


def test_row_level_report_at_a_threshold():
    y = np.array([1.0, 1.0, 0.0, 0.0, 0.0])
    p = np.array([0.9, 0.2, 0.8, 0.1, 0.0])
    r = classification_report(y, p, 0.5)
    assert r["precision"] == 0.5 and r["recall"] == 0.5
    assert r["accuracy"] == pytest.approx(3 / 5)
