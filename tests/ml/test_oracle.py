"""The truth columns of the 'what stops the gate' study: hours since a coming failure's warning began."""

from __future__ import annotations

import numpy as np

from custom_components.homeiq_device_intel.ml.grid import HOUR, hour_start
from homeiq_lab.dataset import build_dataset
from homeiq_lab.oracle import markdown, warning_hours
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


def test_the_verdict_names_what_stops_the_gate():
    good = {"precision": 0.9, "recall": 0.85, "f1": 0.87}
    poor = {"precision": 0.3, "recall": float("nan"), "f1": float("nan")}
    report = {
        "held_out_homes": {
            "battery_depleted": {"model": good, "model_with_truth": good},
            "unavailable": {"model": poor, "model_with_truth": good},
            "stale": {"model": poor, "model_with_truth": poor},
        }
    }
    rows = markdown(report)[2:]
    assert rows[0].endswith("| nothing: the model passes |")
    assert "| the features:" in rows[1]
    assert "| the warnings themselves" in rows[2]
