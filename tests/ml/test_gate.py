"""The shipping gate of DESIGN decision 6, on hand-built rows."""

from __future__ import annotations

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.features import FEATURE_INDEX, FEATURE_NAMES
from homeiq_lab.gate import (
    BATTERY_SIGN_DAYS,
    BATTERY_SIGN_LEVEL,
    alert_margin_interval,
    battery_sign_shown,
    dropout_trace,
    gate_intervals,
    owner_metrics,
    passes_gate,
    sign_trace,
)

H = 7 * 24


def _rows(days: int, event_day: float | None, alarm_days: set[int], device: int = 0):
    hours = np.arange(days) * 24
    event = np.full(days, np.nan if event_day is None else event_day * 24)
    y = ((event - hours >= 0) & (event - hours < H)).astype(float)
    alarm = np.array([d in alarm_days for d in range(days)])
    return np.full(days, device), hours, y, event, alarm


def _metrics(*devices, foreseeable=None):
    parts = [_rows(*d[:3], device=k) for k, d in enumerate(devices)]
    device, hour, y, event, alarm = (np.concatenate([p[i] for p in parts]) for i in range(5))
    seen = (
        np.ones(device.size)
        if foreseeable is None
        else np.concatenate([np.full(p[0].size, f) for p, f in zip(parts, foreseeable, strict=True)])
    )
    return owner_metrics(alarm, device, hour, y, event, seen, H)


def test_a_failure_warned_of_two_days_ahead_by_one_true_alert_is_caught():
    m = _metrics((20, 15.0, {13, 14}))
    assert m["precision"] == 1.0 and m["recall"] == 1.0 and m["f1"] == 1.0
    assert m["alerts"] == 1.0 and m["failures"] == 1.0


def test_a_warning_less_than_a_day_ahead_does_not_count():
    m = _metrics((20, 15.0, {15}), (20, 15.0, {14}))
    # Device 1 alarms on day 14 (24 h before the start: caught); device 0 only on its day 15.
    assert m["recall"] == 0.5
    assert m["failures"] == 2.0


def test_an_alert_on_a_healthy_device_lowers_precision_not_recall():
    m = _metrics((20, 15.0, {12}), (20, None, {3, 4, 10}))
    assert m["alerts"] == 3.0  # device 1: days 3-4 are one alert, day 10 another
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == 1.0


def test_only_foreseeable_failures_are_gated_all_are_reported():
    m = _metrics((20, 15.0, set()), (20, 15.0, {12}), foreseeable=[0.0, 1.0])
    assert m["recall"] == 1.0
    assert m["recall_all_failures"] == 0.5
    assert m["foreseeable_failures"] == 1.0


def test_a_failure_on_the_first_day_of_the_rows_is_left_out_of_recall():
    # Device 0's rows start 12 h before its failure: nothing could warn a day ahead.
    device, hour, y, event, alarm = _rows(20, 15.0, {13})
    late = hour >= 14.5 * 24
    m = owner_metrics(alarm[late], device[late], hour[late], y[late], event[late], np.ones(late.sum()), H)
    assert m["failures"] == 1.0 and m["failures_too_early_to_warn"] == 1.0
    assert np.isnan(m["recall"]) and np.isnan(m["recall_all_failures"])
    # With one more day of rows it counts, and a missed warning is a miss.
    m = _metrics((20, 15.0, set()), (20, 15.0, {12}))
    assert m["failures_too_early_to_warn"] == 0.0 and m["recall"] == 0.5


def test_the_gate_reads_the_owner_level_figures():
    good = {"gate": {"accuracy": 0.9, "precision": 0.85, "recall": 0.8, "f1": 0.82}}
    report = {"battery_depleted": good, "unavailable": good, "stale": good}
    assert passes_gate(report) == (True, [])
    report["stale"] = {"gate": {**good["gate"], "recall": float("nan")}}
    ok, failures = passes_gate(report)
    assert not ok and failures == ["stale: recall nan < 0.8"]


def test_an_alert_that_began_too_early_came_true_but_not_from_its_first_day():
    # Alarmed from day 2 to day 14 before a failure on day 15: it came true (day 8 on is in the
    # horizon), but its first day was more than the horizon before the failure.
    m = _metrics((20, 15.0, set(range(2, 15))), (20, 15.0, {12, 13}))
    assert m["alerts"] == 2.0
    assert m["precision"] == 1.0
    assert m["precision_at_start"] == 0.5


def _homes(per_home):
    """Rows of several homes, one device each: per_home = [(event_day, alarm_days), ...]."""
    parts = [_rows(20, event, alarms, device=k) for k, (event, alarms) in enumerate(per_home)]
    device, hour, y, event, alarm = (np.concatenate([p[i] for p in parts]) for i in range(5))
    home = device.copy()  # one device per home
    return alarm, home, device, hour, y, event, np.ones(device.size)


def test_homes_that_all_behave_alike_give_an_interval_of_one_point():
    rows = _homes([(15.0, {12})] * 6)  # every home: one true alert, its failure warned of
    intervals = gate_intervals(*rows, H, resamples=200)
    assert intervals == {"precision": [1.0, 1.0], "recall": [1.0, 1.0], "f1": [1.0, 1.0]}


def test_homes_that_differ_give_an_interval_around_the_figure():
    # Three homes caught their failure with a true alert, three had one false alert and a missed failure.
    rows = _homes([(15.0, {12})] * 3 + [(15.0, {2})] * 3)
    point = owner_metrics(rows[0], *rows[2:], H)
    assert point["precision"] == 0.5 and point["recall"] == 0.5
    intervals = gate_intervals(*rows, H, resamples=500)
    for name in ("precision", "recall", "f1"):
        lo, hi = intervals[name]
        assert 0.0 < lo < point[name] < hi < 1.0
    # Drawn again with the same seed: the same interval.
    assert gate_intervals(*rows, H, resamples=500) == intervals


def test_the_margin_of_two_scorers_alerts_is_paired_by_home():
    # Six homes, one failing device each. The first scorer's alert is true everywhere; the
    # second's is true in the first three homes and false (too early) in the last three.
    early = _homes([(15.0, {12})] * 3 + [(15.0, {2})] * 3)
    first = _homes([(15.0, {12})] * 6)[0]
    alarm_b, home, device, hour, y = early[:5]
    lo, hi = alert_margin_interval((first, alarm_b), home, device, hour, y, resamples=500)
    assert 0.0 < lo < 0.5 < hi <= 1.0  # the point margin: 1.0 - 0.5
    # The same alerts on both sides: every resample's margin is zero.
    assert alert_margin_interval((first, first), home, device, hour, y, resamples=50) == [0.0, 0.0]
    # The same homes are drawn for both: swapping the scorers mirrors the interval.
    back = alert_margin_interval((alarm_b, first), home, device, hour, y, resamples=500)
    assert back == pytest.approx([-hi, -lo])
    # A scorer without any alert leaves no margin to measure.
    none = np.zeros_like(first)
    assert np.isnan(alert_margin_interval((first, none), home, device, hour, y, resamples=50)).all()


def _trace(*devices):
    """dropout_trace of devices given as (days, event day or None, {day: dropouts in the week before})."""
    parts = [_rows(days, event, set(), device=k) for k, (days, event, _) in enumerate(devices)]
    drops = np.concatenate([[float(d[2].get(day, 0)) for day in range(d[0])] for d in devices])
    device, hour, _, event, _ = (np.concatenate([p[i] for p in parts]) for i in range(5))
    unavailable = np.zeros_like(drops)
    return device, dropout_trace(device, hour, event, drops, unavailable)


def test_a_failure_left_a_trace_when_its_device_dropped_out_by_the_last_day_a_warning_counts():
    # Failures on day 15 (last warnable row: day 14). Device 0 dropped out by then; device 1 only
    # on the failure's own day; device 2 in the week before day 9 and never since; device 3 never fails.
    device, traced = _trace((20, 15.0, {14: 1}), (20, 15.0, {15: 3}), (20, 15.0, {9: 2}), (20, None, {14: 5}))
    # Every row of a failure carries its verdict, also rows after the last warnable one.
    assert set(traced[device == 0]) == {1.0}
    assert set(traced[device == 1]) == {0.0}
    assert set(traced[device == 2]) == {0.0}
    assert set(traced[device == 3]) == {0.0}


def test_unavailable_hours_alone_are_a_trace_and_a_failure_too_early_to_warn_has_none():
    device = np.array([0, 0, 1])
    hour = np.array([0, 24, 0])
    event = np.array([48.0, 48.0, 12.0])
    zeros = np.zeros(3)
    traced = dropout_trace(device, hour, event, zeros, np.array([0.0, 2.5, 9.0]))
    assert list(traced) == [1.0, 1.0, 0.0]


def _battery_rows(levels, days_linear):
    X = np.full((len(levels), len(FEATURE_NAMES)), np.nan)
    X[:, FEATURE_INDEX["battery_level"]] = levels
    X[:, FEATURE_INDEX["battery_days_linear_min"]] = days_linear
    return X


def test_a_battery_shows_its_sign_by_a_low_level_or_a_line_reaching_empty_soon():
    shown = battery_sign_shown(
        _battery_rows(
            [BATTERY_SIGN_LEVEL, BATTERY_SIGN_LEVEL + 20, BATTERY_SIGN_LEVEL + 20, 45.0, np.nan, np.nan],
            [200.0, BATTERY_SIGN_DAYS, BATTERY_SIGN_DAYS + 1, 300.0, np.nan, 3.0],
        )
    )
    # Low enough; a knee in sight; neither; a battery at 45 % on a long slope; nothing read; a line alone.
    assert list(shown) == [True, True, False, False, False, True]


def test_a_failure_showed_its_sign_only_if_its_last_warnable_row_shows_it():
    # Failures on day 15 (last warnable row: day 14). Device 0 shows the sign on day 14; device 1
    # showed it on day 10 only (a battery read back up after a swap that did not count); device 2
    # on its failure's day only; device 3 shows it but never fails.
    parts = [_rows(20, event, set(), device=k) for k, event in enumerate((15.0, 15.0, 15.0, None))]
    device, hour, _, event, _ = (np.concatenate([p[i] for p in parts]) for i in range(5))
    day = hour // 24
    shown = ((device == 0) & (day == 14)) | ((device == 1) & (day == 10)) | ((device == 2) & (day == 15))
    shown |= device == 3
    traced = sign_trace(device, hour, event, shown)
    assert set(traced[device == 0]) == {1.0}
    for k in (1, 2, 3):
        assert set(traced[device == k]) == {0.0}
    # The outages' trace is this rule with a dropout or an unavailable hour in the week as the sign.
    drops = shown.astype(float)
    assert np.array_equal(dropout_trace(device, hour, event, drops, np.zeros_like(drops)), traced)


def test_an_alert_still_on_when_the_rows_end_with_no_failure_yet_is_unresolved():
    # Device 0: alerted days 12-19 (its last row), no failure seen: outcome unknown.
    # Device 1: alerted days 3-5, then quiet to its end: false. Device 2: alerted to its end and
    # its failure came (day 19): true. Device 3: alerted on day 2 only, its last row is day 9: false.
    m = _metrics(
        (20, None, set(range(12, 20))), (20, None, {3, 4, 5}), (20, 19.0, {17, 18, 19}), (10, None, {2})
    )
    assert m["alerts"] == 4.0
    assert m["precision"] == pytest.approx(1 / 4)  # the gate counts the unresolved one as false
    assert m["alerts_unresolved"] == 1.0
    assert m["precision_resolved"] == pytest.approx(1 / 3)


def test_an_alert_cut_by_unlabelled_days_is_unresolved_one_that_ended_before_them_is_not():
    # Device 0: rows on days 0-9 and 17-25 (days 10-16 unlabelled), alarmed on days 7-9: cut.
    # Device 1: the same rows, alarmed on days 5-6, quiet on days 7-9: it ended, false.
    days = np.array([*range(10), *range(17, 26)])
    hour = np.concatenate([days * 24, days * 24])
    device = np.repeat([0, 1], days.size)
    alarm = np.concatenate([np.isin(days, [7, 8, 9]), np.isin(days, [5, 6])])
    y = np.zeros(hour.size)
    m = owner_metrics(alarm, device, hour, y, np.full(hour.size, np.nan), np.ones(hour.size), H)
    assert (m["alerts"], m["alerts_unresolved"], m["precision_resolved"]) == (2.0, 1.0, 0.0)


def _evaluated(
    p: np.ndarray,
    y: np.ndarray,
    event: np.ndarray,
    device: np.ndarray,
    hour: np.ndarray,
    *,
    target: str = "unavailable",
    X: np.ndarray | None = None,
):
    """`train.evaluate`'s gate for one target of hand-built rows of one home (threshold 0.5)."""
    from types import SimpleNamespace

    from custom_components.homeiq_device_intel.ml.features import FEATURE_NAMES
    from custom_components.homeiq_device_intel.ml.labels import TARGETS
    from homeiq_lab.dataset import Dataset
    from homeiq_lab.train import TrainConfig, evaluate

    n = p.size
    nan = np.full(n, np.nan)
    ds = Dataset(
        X=np.full((n, len(FEATURE_NAMES)), np.nan) if X is None else X,
        y={t: (y if t == target else nan) for t in TARGETS},
        battery_days=nan,
        next_event_hour={t: (event if t == target else nan) for t in TARGETS},
        home=np.zeros(n, dtype=np.int64),
        device=device,
        hour=hour,
        family=np.full(n, "", dtype=np.str_),
        home_ids=["h"],
        device_keys=[f"d{k}" for k in range(int(device.max()) + 1)],
    )
    models = SimpleNamespace(thresholds={t: 0.5 for t in TARGETS}, regressors={})
    probs = {t: (p if t == target else np.zeros(n)) for t in TARGETS}
    report = evaluate(models, ds, np.ones(n, dtype=bool), TrainConfig(), with_baselines=False, probs=probs)  # type: ignore[arg-type]
    return report[target]["gate"]


def test_an_alert_raised_in_the_last_horizon_of_the_data_is_not_judged_only_because_it_came_true():
    # 20 daily rows per device, the data ends at hour 480. A row whose horizon runs past the end
    # with no failure seen is unlabelled (NaN), one with a failure is labelled 1: so an alert
    # raised in the last horizon can only be seen when it came true. Device 0 fails at hour 470
    # and alarms from day 16; device 1 alarms the same days and never fails (its rows there are
    # unlabelled: its alert is unknown, not absent); device 2 raises one false alert on days 4-5.
    # Judging only device 0's alert in the last horizon counts it because it came true: alerts
    # that came true would read 1/2. Alerts there are judged alike, whatever came of them: none
    # of them is (their outcome is not known unless it came true), so 0 of 1 came true.
    days = np.arange(1, 21)
    hour = np.tile(days * 24, 3).astype(np.int64)
    device = np.repeat(np.arange(3), 20).astype(np.int64)
    end = 480
    event = np.where(device == 0, 470.0, np.nan)
    positive = (device == 0) & (hour <= 470) & (470 - hour < H)
    y = np.where(positive, 1.0, np.where(hour + H > end, np.nan, 0.0))
    late = (hour >= 16 * 24) & (device < 2)
    early = (device == 2) & np.isin(hour, [96, 120])
    p = np.where(late | early, 0.9, 0.05)
    gate = _evaluated(p, y, event, device, hour)
    assert gate["recall"] == 1.0  # device 0's failure was warned of 3 days ahead
    assert gate["alerts"] == 1.0
    assert gate["precision"] == 0.0


def test_stale_rows_the_integration_does_not_score_are_not_evaluated():
    # The integration gives a stale probability only from 14 days of age (scoring._applicable):
    # before that no alert can be raised, nor a failure warned of. A device 1..20 days old goes
    # stale at day 11; the model's scores on days 6-9 would warn of it, but no owner saw them.
    from custom_components.homeiq_device_intel.ml.features import FEATURE_INDEX, FEATURE_NAMES

    days = np.arange(1, 21)
    hour = (days * 24).astype(np.int64)
    device = np.zeros(days.size, dtype=np.int64)
    event = np.where(hour <= 11 * 24 + 5, 11 * 24 + 5.0, np.nan)
    y = np.where(np.isfinite(event) & (event - hour < H), 1.0, 0.0)
    y[(days >= 12) & (days <= 13)] = np.nan  # the stale spell under way
    p = np.where((days >= 6) & (days <= 9), 0.9, 0.05)
    X = np.full((days.size, len(FEATURE_NAMES)), np.nan)
    X[:, FEATURE_INDEX["age_days"]] = days
    X[:, FEATURE_INDEX["has_telemetry"]] = 1.0
    gate = _evaluated(p, y, event, device, hour, target="stale", X=X)
    assert gate["alerts"] == 0.0
    assert gate["failures"] == 0.0
