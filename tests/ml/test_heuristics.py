"""The simple heuristics and the model-vs-heuristic comparison, on hand-built inputs.

Pure numpy: no Home Assistant is needed (conftest's autouse fixtures still start one).
"""

from __future__ import annotations

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.features import FEATURE_INDEX, FEATURE_NAMES
from custom_components.homeiq_device_intel.ml.grid import HourlyGrid
from custom_components.homeiq_device_intel.ml.metrics import event_max_scores, matched_alerts
from homeiq_lab.heuristics import (
    GRID_HEURISTICS,
    HEURISTICS,
    SCORE_CAP,
    days_to_empty,
    grid_heuristics,
    heuristic_scores,
    outage_trends,
    urgency,
)
from homeiq_lab.train import compare_heuristics

H = 24 * 7


def _rows(n: int, **columns: list[float]) -> np.ndarray:
    X = np.full((n, len(FEATURE_NAMES)), np.nan)
    for name, values in columns.items():
        X[:, FEATURE_INDEX[name]] = values
    return X


def test_straight_line_days_to_empty():
    level = np.array([50.0, 50.0, 50.0, np.nan, 3.0, 50.0])
    slope = np.array([-5.0, 0.0, 1.0, -5.0, -1.0, np.nan])
    days = days_to_empty(level, slope)
    assert days[0] == pytest.approx(9.0)  # (50 - 5 %) / 5 % a day
    assert np.isinf(days[[1, 2, 3, 5]]).all()  # flat, rising, unknown level or slope: never
    assert days[4] == 0.0  # already below the floor
    score = urgency(days, 7.0)
    assert score[0] == pytest.approx(7 / 9)
    assert score[4] == SCORE_CAP
    assert (score[[1, 2, 3, 5]] == 0.0).all()


def test_each_window_has_its_own_battery_heuristic():
    # Row 0 falls fast over 3 days only; row 1 falls slowly but steadily over 14 days.
    X = _rows(
        2,
        battery_level=[60.0, 60.0],
        battery_slope_3d=[-10.0, -2.0],
        battery_slope_7d=[-1.0, -2.0],
        battery_slope_14d=[0.0, -2.0],
    )
    s = heuristic_scores(X)
    assert s["days_to_empty_3d"][0] > s["days_to_empty_3d"][1]
    assert s["days_to_empty_14d"][1] > s["days_to_empty_14d"][0] == 0.0
    assert s["days_to_empty_7d"][1] == pytest.approx(7 / 27.5)


def test_scores_are_finite_and_missing_means_no_evidence():
    X = _rows(3)
    X[1, FEATURE_INDEX["battery_level"]] = 10.0
    X[2, FEATURE_INDEX["hours_since_report"]] = 30.0
    X[2, FEATURE_INDEX["silence_vs_usual"]] = 0.8
    X[2, FEATURE_INDEX["stillness_vs_usual"]] = 0.9
    s = heuristic_scores(X)
    for target, names in HEURISTICS.items():
        for name in names:
            assert np.isfinite(s[name]).all(), (target, name)
    assert s["battery_below_20"].tolist() == [0.0, 1.0, 0.0]
    assert s["stale_12h"].tolist() == [0.0, 0.0, 1.0]
    assert s["quiet_vs_usual"][2] == pytest.approx(0.9)  # the stiller of silence and stillness
    assert s["dropouts_7d"].tolist() == [0.0, 0.0, 0.0]
    # Without outage history the trends score below any measured trend.
    assert s["outage_growth"][0] == 0.0
    assert s["outage_slope"][0] == -SCORE_CAP


def _down(n_hours: int, outages: list[tuple[int, int]]) -> np.ndarray:
    mask = np.zeros((1, n_hours), dtype=bool)
    for start, length in outages:
        mask[0, start : start + length] = True
    return mask


def test_outages_getting_longer():
    # Outages of 1 h, 2 h and 8 h ending (back up) at hours 11, 52 and 108.
    down = _down(200, [(10, 1), (50, 2), (100, 8)])
    ends = np.array([11, 12, 52, 53, 108, 109, 150])
    growth, slope = outage_trends(down, ends)
    assert np.isnan(growth[0, :3]).all()  # fewer than two finished outages seen
    assert growth[0, 3] == pytest.approx(2.0)  # 2 h against the median of [1 h]
    assert growth[0, 4] == pytest.approx(2.0)  # the 8 h outage is not over before hour 108
    assert growth[0, 5] == pytest.approx(8.0 / 1.5)
    assert slope[0, 5] > 0
    assert growth[0, 6] == growth[0, 5]


def test_outages_getting_shorter_and_the_window():
    down = _down(2000, [(10, 8), (50, 4), (100, 1)])
    growth, slope = outage_trends(down, np.array([200, 1000]))
    assert growth[0, 0] == pytest.approx(1.0 / 6.0)
    assert slope[0, 0] < 0
    assert np.isnan(growth[0, 1])  # all three ended more than 30 days before hour 1000


def test_grid_columns_are_device_major():
    n_hours = 24 * 10
    unav = np.zeros((2, n_hours), dtype=np.float32)
    unav[1, [30, 60, 61, 62]] = 1.0  # device 1: 1 h then 3 h outages
    grid = HourlyGrid(
        home_id="h",
        device_keys=["a", "b"],
        start=0.0,
        n_hours=n_hours,
        channels={"unavailable": unav},
        has_battery=np.zeros(2, dtype=bool),
        first_seen=np.zeros(2, dtype=np.int64),
        swap_hours=[np.empty(0, dtype=np.int64)] * 2,
        bridge_down=np.zeros((2, n_hours), dtype=np.float32),
    )
    cols = grid_heuristics(grid, np.array([24, 72, 96], dtype=np.int64))
    assert cols.shape == (6, len(GRID_HEURISTICS))
    assert np.isnan(cols[:3]).all()  # device a: no outages
    assert np.isnan(cols[3, 0])  # device b at hour 24: none yet
    assert cols[4, 0] == pytest.approx(3.0) and cols[5, 0] == pytest.approx(3.0)


def _two_devices() -> tuple[np.ndarray, ...]:
    """Two devices x 20 days; device 0 fails on day 15, device 1 never."""
    device = np.repeat([0, 1], 20).astype(np.int64)
    hour = np.tile(np.arange(1, 21) * 24, 2).astype(np.int64)
    event = np.where((device == 0) & (hour <= 15 * 24), 15 * 24.0, np.nan)
    y = np.where((event - hour < H) & (event >= hour), 1.0, 0.0)
    return device, hour, event, y


def test_event_max_score_is_the_best_warning_in_the_horizon():
    device, hour, event, _ = _two_devices()
    score = np.zeros(40)
    score[2] = 0.9  # day 3: long before the horizon of the day-15 failure
    score[10] = 0.4  # day 11: inside it
    em = event_max_scores(score, device, hour, event, H)
    assert em.tolist() == [0.4]


def test_matched_alerts_compare_at_equal_failures_warned_of():
    device, hour, event, y = _two_devices()
    model = np.zeros(40)
    model[[11, 12]] = 0.8  # one true alert on days 12-13
    other = np.zeros(40)
    other[[11, 12]] = 0.5  # the same true alert...
    other[[25, 30]] = 0.6  # ...and two false alerts on device 1, scored higher
    m = matched_alerts(model, 0.5, other, device, hour, y, event, H)
    assert m["failures_warned"] == 1.0
    assert m["model_event_recall"] == m["event_recall"] == 1.0
    assert m["model_alerts"] == 1 and m["model_alert_precision"] == 1.0
    assert m["alerts"] == 3 and m["alert_precision"] == pytest.approx(1 / 3)


def test_alarming_everywhere_is_no_warning():
    device, hour, event, y = _two_devices()
    model = np.zeros(40)
    model[12] = 0.9
    flat = np.zeros(40)  # a heuristic that never points at anything
    m = matched_alerts(model, 0.5, flat, device, hour, y, event, H)
    assert m["failures_warned"] == 0.0
    assert np.isnan(m["alert_precision"]) and np.isnan(m["model_alert_precision"])

    # A rule that fires on one false day only: matched at what it can reach (nothing).
    rule = np.zeros(40)
    rule[30] = 1.0
    assert matched_alerts(model, 0.5, rule, device, hour, y, event, H)["failures_warned"] == 0.0


def test_matching_is_capped_at_what_the_heuristic_reaches():
    # Two failing devices; the model warns of both, the heuristic of one only.
    device = np.repeat([0, 1], 10).astype(np.int64)
    hour = np.tile(np.arange(1, 11) * 24, 2).astype(np.int64)
    event = np.full(20, 10 * 24.0)
    y = np.where(event - hour < H, 1.0, 0.0)
    model = np.where(y > 0, np.where(device == 0, 0.9, 0.8), 0.1)
    other = np.zeros(20)
    other[5] = 1.0
    m = matched_alerts(model, 0.5, other, device, hour, y, event, H)
    assert m["failures_warned"] == 0.5
    assert m["event_recall"] == m["model_event_recall"] == 0.5
    assert m["alerts"] == 1 and m["alert_precision"] == 1.0
    assert m["model_threshold"] == 0.9 and m["model_alert_precision"] == 1.0


def test_a_coarse_heuristic_is_matched_at_its_nearest_level():
    # Four failing devices, one day each in the horizon; a count-like heuristic ties three of them.
    device = np.arange(4, dtype=np.int64)
    hour = np.full(4, 24, dtype=np.int64)
    event = np.full(4, 48.0)
    y = np.ones(4)
    model = np.array([0.9, 0.8, 0.3, 0.2])  # warns of 2 at its threshold 0.5
    other = np.array([3.0, 1.0, 1.0, 1.0])  # can warn of 1 or of 4 (its floor), nothing between
    m = matched_alerts(model, 0.5, other, device, hour, y, event, H)
    assert m["failures_warned"] == 0.25  # 1 is the level nearest to 2 it reaches without alarming everywhere
    assert m["model_threshold"] == 0.9 and m["threshold"] == 3.0


def test_comparison_summary_names_the_best_heuristic_and_the_verdict():
    device, hour, event, y = _two_devices()
    model = np.where(y > 0, 0.9, 0.1)  # perfect ranking
    good = np.where(y > 0, 0.7, 0.2)
    good[30] = 0.8  # a perfect score but for one false alarm
    noise = np.linspace(0, 1, 40)
    out = compare_heuristics(model, 0.5, {"good": good, "noise": noise}, y, device, hour, event, H)
    assert set(out["heuristics"]) == {"good", "noise"}
    v = out["vs_heuristics"]
    assert v["best_pr_auc_heuristic"] == "good"
    assert v["model_pr_auc"] == 1.0 > v["best_pr_auc"]
    assert v["beats_pr_auc"] and v["beats_alerts"] and v["beats_best_heuristic"]

    # A heuristic as good as the model is not beaten (ties are not wins).
    out = compare_heuristics(model, 0.5, {"same": model.copy()}, y, device, hour, event, H)
    assert not out["vs_heuristics"]["beats_best_heuristic"]


def test_with_homes_the_comparison_gives_the_margin_over_the_toughest_with_its_interval():
    device, hour, event, y = _two_devices()
    model = np.where(y > 0, 0.9, 0.1)
    good = np.where(y > 0, 0.7, 0.2)
    good[30] = 0.8  # one false alert on the healthy device
    home = device.copy()  # each device its own home
    out = compare_heuristics(model, 0.5, {"good": good}, y, device, hour, event, H, home=home)
    v = out["vs_heuristics"]
    assert v["model_alert_precision"] == 1.0 and v["heuristic_alert_precision"] == 0.5
    lo, hi = v["alert_margin"]
    assert out["heuristics"]["good"]["alert_margin"] == [lo, hi]
    # Homes drawn again: both failing-home draws (margin 0, the heuristic's false alert left out)
    # and draws with the healthy home (margin up to 1 - 1/2).
    assert lo == 0.0 and 0.0 < hi <= 0.5
    # Without homes, no interval: the summary says so with NaN.
    bare = compare_heuristics(model, 0.5, {"good": good}, y, device, hour, event, H)["vs_heuristics"]
    assert np.isnan(bare["alert_margin"]).all()
