"""The truth columns of the 'what stops the gate' study: hours since a coming failure's warning began."""

from __future__ import annotations

import numpy as np

from custom_components.homeiq_device_intel.ml.features import FEATURE_INDEX
from custom_components.homeiq_device_intel.ml.grid import HOUR, hour_start
from custom_components.homeiq_device_intel.ml.records import FailureEvent
from homeiq_lab.dataset import build_dataset
from homeiq_lab.oracle import episode_hours, markdown, recorded_warning_hours, warning_hours
from tests.ml.test_ceiling import OUTAGE_HOUR, T0, UNAVAILABLE, _home, _outage


def test_warning_hours_count_from_the_warning_to_the_failure_and_are_unknown_elsewhere():
    history = _home([_outage(warning_day=17.0)])
    ds = build_dataset([history])
    hours = warning_hours([history], ds, UNAVAILABLE)
    times = hour_start(history.start) + ds.hour * HOUR
    under_way = (times >= T0 + 17 * 86400) & (times < T0 + OUTAGE_HOUR * HOUR)
    assert under_way.any() and (~under_way).any()
    np.testing.assert_allclose(hours[under_way], (times[under_way] - (T0 + 17 * 86400)) / HOUR)
    assert np.isnan(hours[~under_way]).all()
    # Another failure type has nothing under way on this device.
    assert np.isnan(warning_hours([history], ds, "stale")).all()


def test_a_failure_without_warning_gives_no_truth_column():
    history = _home([_outage(warning_day=None)])
    ds = build_dataset([history])
    assert np.isnan(warning_hours([history], ds, UNAVAILABLE)).all()


def test_episode_hours_also_count_a_healthy_look_alike_while_it_lasts():
    look_alike = FailureEvent(
        device_key="a",
        kind="decoy_unavailable",
        start=T0 + 3 * 86400,
        end=T0 + 6 * 86400,
        warning=T0 + 3 * 86400,
    )
    history = _home([_outage(warning_day=17.0), look_alike])
    ds = build_dataset([history])
    times = hour_start(history.start) + ds.hour * HOUR
    hours = episode_hours([history], ds, UNAVAILABLE)
    during = (times >= look_alike.start) & (times < look_alike.end)
    assert during.any()
    np.testing.assert_allclose(hours[during], (times[during] - look_alike.start) / HOUR)
    # The failure's warning counts as before; the look-alike is no warning of a failure.
    warned = np.isfinite(warning_hours([history], ds, UNAVAILABLE))
    np.testing.assert_array_equal(np.isfinite(hours), warned | during)
    assert not (warned & during).any()
    # An outage's look-alike says nothing of staleness.
    assert np.isnan(episode_hours([history], ds, "stale")).all()


def test_the_verdict_names_what_stops_the_gate():
    good = {"precision": 0.9, "recall": 0.85, "f1": 0.87}
    poor = {"precision": 0.3, "recall": float("nan"), "f1": float("nan")}
    report = {
        "held_out_homes": {
            "battery_depleted": {"model": good, "model_with_truth": good},
            "unavailable": {"model": poor, "model_with_truth": good},
            "stale": {"model": poor, "model_with_truth": poor, "model_with_episodes": poor},
        },
        "varied_generator": {
            "unavailable": {"model": poor, "model_with_truth": good, "model_with_episodes": poor},
            "stale": {"model": poor, "model_with_truth": good, "model_with_episodes": good},
        },
    }
    rows = markdown(report)[2:]
    assert rows[0].endswith("| nothing: the model passes |")
    assert "| – (no look-alikes) |" in rows[0]
    assert "| the features:" in rows[1]
    assert "| the warnings themselves" in rows[2]
    assert "| the look-alikes," in rows[3]
    assert "| the features:" in rows[4]


def test_a_recorded_warning_counts_only_once_ha_has_recorded_a_dropout_since_it_began():
    history = _home([_outage(warning_day=17.0)])
    ds = build_dataset([history])
    hours = warning_hours([history], ds, UNAVAILABLE)
    assert np.isfinite(hours).any()
    # This history's device reports on through its warning: HA recorded nothing of it.
    assert np.isnan(recorded_warning_hours([history], ds, UNAVAILABLE)).all()
    # Where the rows show dropouts in the window that fits the warning's age, it counts from its start.
    under_way = np.flatnonzero(np.isfinite(hours))
    young, old = under_way[hours[under_way] < 24], under_way[hours[under_way] >= 72]
    middle = under_way[(hours[under_way] >= 24) & (hours[under_way] < 72)]
    assert young.size and middle.size and old.size
    # Only the window that fits the warning's age counts: a week's dropout is not a young
    # warning's, a day's unavailable hour not a two-day-old one's.
    ds.X[np.concatenate([young, middle]), FEATURE_INDEX["drops_7d"]] = 1.0
    ds.X[middle, FEATURE_INDEX["unavailable_hours_24h"]] = 1.0
    assert np.isnan(recorded_warning_hours([history], ds, UNAVAILABLE)[np.concatenate([young, middle])]).all()
    ds.X[young, FEATURE_INDEX["drops_24h"]] = 1.0
    ds.X[middle, FEATURE_INDEX["drops_3d"]] = 1.0
    ds.X[old, FEATURE_INDEX["drops_3d"]] = 1.0  # the wrong window for a warning this old
    recorded = recorded_warning_hours([history], ds, UNAVAILABLE)
    np.testing.assert_array_equal(recorded[young], hours[young])
    np.testing.assert_array_equal(recorded[middle], hours[middle])
    assert np.isnan(recorded[old]).all()
    ds.X[old, FEATURE_INDEX["unavailable_hours_7d"]] = 2.0
    np.testing.assert_array_equal(recorded_warning_hours([history], ds, UNAVAILABLE)[old], hours[old])
    # A dropout on a row with no warning under way is no recorded warning.
    ds.X[:, FEATURE_INDEX["drops_7d"]] = 1.0
    assert np.isnan(recorded_warning_hours([history], ds, UNAVAILABLE)[np.isnan(hours)]).all()


def test_the_verdict_names_the_warnings_that_never_showed_as_a_dropout():
    good = {"precision": 0.9, "recall": 0.85, "f1": 0.87}
    poor = {"precision": 0.3, "recall": 0.4, "f1": 0.34}
    both = {"model": poor, "model_with_truth": good, "model_with_recorded_warnings": poor}
    report = {
        "held_out_homes": {"unavailable": {**both, "model_with_episodes": poor}},
        "varied_generator": {"unavailable": {**both, "model_with_episodes": good}},
    }
    rows = markdown(report)[2:]
    assert "| warnings that never showed as a dropout" in rows[0] and "; and the look-alikes," in rows[0]
    assert rows[1].endswith("the model does not pass |")
    assert "0.30 / 0.40 / 0.34 | warnings that never showed as a dropout" in rows[1]
