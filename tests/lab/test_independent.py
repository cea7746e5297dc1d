"""The clean-room simulator (homeiq_lab.independent): deterministic, readable, true to its truth."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.bundle import load_bundle
from custom_components.homeiq_device_intel.ml.records import UNAVAILABLE, EntityRole
from homeiq_lab.independent.baselines import DeviceSignals, days_to_empty, dropout_trend_score, rules_score
from homeiq_lab.independent.catalog import TEMPLATES
from homeiq_lab.independent.evaluate import (
    average_precision,
    brier_skill,
    calibration,
    evaluate_rows,
    load_truth,
    read_home,
    score_homes,
)
from homeiq_lab.independent.simulate import entity_id
from homeiq_lab.independent.write import simulate_home, write_home

SHIPPED = Path(__file__).resolve().parents[2] / "custom_components" / "homeiq_device_intel" / "models"
DAY = 86400.0
SEED = 7
DAYS = 21.0


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    home, runs = simulate_home(SEED, 0, DAYS)
    return write_home(tmp_path_factory.mktemp("independent"), home, runs)


def test_a_home_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    _, a = simulate_home(SEED, 1, DAYS)
    _, b = simulate_home(SEED, 1, DAYS)
    _, c = simulate_home(SEED + 1, 1, DAYS)
    assert [r.truth for r in a] == [r.truth for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert ra.rows.keys() == rb.rows.keys()
        for key, (times, states) in ra.rows.items():
            assert np.array_equal(times, rb.rows[key][0]) and states == rb.rows[key][1]
    assert [r.truth for r in a] != [r.truth for r in c]


def test_the_database_reads_back_through_the_core_reader_with_every_device(written: dict[str, Path]) -> None:
    truth = load_truth(written["truth"])
    history = read_home(written["db"], written["registry"], truth)
    assert {d.device_key for d in history.devices} == {d["key"] for d in truth["devices"]}
    by_key = {d.device_key: d for d in history.devices}
    for device in truth["devices"]:
        record = by_key[device["key"]]
        roles = {e.role for e in history.entities_of(device["key"])}
        # As the integration's discovery says: a battery entity makes a battery device, mains is "unknown".
        assert (record.power.value == "battery") == (device["power"] == "battery")
        assert (EntityRole.BATTERY in roles) == (device["power"] == "battery")
        assert EntityRole.PRIMARY in roles
    # Every row written for an entity is read (the recorder stores changes; compare with SQL).
    conn = sqlite3.connect(written["db"])
    n_sql = dict(
        conn.execute(
            "SELECT m.entity_id, count(*) FROM states s JOIN states_meta m USING (metadata_id) GROUP BY 1"
        ).fetchall()
    )
    conn.close()
    for entity in history.entities:
        assert len(history.states[entity.series_key]) == n_sql[entity.entity_id]


def _primary_rows(runs: list[Any], key: str) -> tuple[np.ndarray, list[str]]:
    run = next(r for r in runs if r.device.key == key)
    template = TEMPLATES[run.device.kind]
    times, states = run.rows[entity_id(run.device, template.entities[0])]
    return times, states


def _find(kind: str, how: str) -> tuple[Any, list[Any], dict[str, Any]]:
    """A simulated home with a device that failed as asked, well inside its history."""
    for index in range(40):
        home, runs = simulate_home(SEED, index, DAYS)
        for run in runs:
            t = run.truth
            if t["failure"] == kind and t["how"] == how and t["time"] < home.end - 2 * DAY:
                return home, runs, t
    raise AssertionError(f"no {kind} ({how}) failure in 40 homes")


def test_a_device_labelled_offline_is_unavailable_from_soon_after_its_failure_to_the_end() -> None:
    home, runs, truth = _find("offline", "offline")
    times, states = _primary_rows(runs, truth["key"])
    delay = home.delay(next(d for d in home.devices if d.key == truth["key"]))
    assert delay is not None and truth["ha_marks_unavailable"]
    after = times > truth["time"]
    assert states[-1] == "unavailable"
    assert times[-1] <= truth["time"] + delay + 1.0
    # Nothing but the one 'unavailable' row after the failure.
    assert [s for s, a in zip(states, after, strict=True) if a] == ["unavailable"]


def test_a_stale_device_stops_reporting_at_its_failure_and_is_never_marked_unavailable_for_it() -> None:
    _, runs, truth = _find("stale", "stale")
    run = next(r for r in runs if r.device.key == truth["key"])
    for times, _ in run.rows.values():
        assert not (times >= truth["time"]).any()


def test_a_battery_that_died_reports_nothing_while_dead() -> None:
    _, runs, truth = _find("battery_depleted", "died")
    run = next(r for r in runs if r.device.key == truth["key"])
    [battery] = [key for key in run.rows if key.endswith(("_battery", "_battery_level"))]
    times, states = run.rows[battery]
    revive = truth["battery_revive"] or math.inf
    dead = (times >= truth["time"]) & (times < revive)
    assert all(s == "unavailable" for s, d in zip(states, dead, strict=True) if d)
    before = [
        float(s) for t, s in zip(times, states, strict=True) if t < truth["time"] and s != "unavailable"
    ]
    assert before and before[-1] <= 60.0


def test_average_precision_on_hand_built_rankings() -> None:
    # Positives at ranks 1 and 3: (1/2)(1/1) + (1/2)(2/3).
    assert average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) == pytest.approx(0.5 + 1 / 3)
    # Ties share a threshold: {1.0: one of two positive} then {0.0}: (1/2)(1/2) + (1/2)(2/3).
    assert average_precision([1.0, 1.0, 0.0], [0, 1, 1]) == pytest.approx(0.25 + 1 / 3)
    assert average_precision([1.0, 1.0, 0.0], [1, 0, 1]) == pytest.approx(0.25 + 1 / 3)  # order within ties
    assert average_precision([0.2, 0.1], [1, 1]) == pytest.approx(1.0)
    assert math.isnan(average_precision([0.2, 0.1], [0, 0]))
    assert brier_skill(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == pytest.approx(1.0)
    assert brier_skill(np.array([0.5, 0.5]), np.array([1.0, 0.0])) == pytest.approx(0.0)


def test_each_brier_skill_says_how_many_rows_and_positives_it_rests_on() -> None:
    """A type counts where its probability applies (NaN elsewhere); few positives make a noisy figure."""
    nan = math.nan
    rows = {
        "p_battery_depleted": np.array([0.9, 0.1, nan, nan]),
        "p_offline": np.array([0.2, 0.1, 0.3, 0.1]),
        "p_stale": np.array([nan, nan, 0.5, 0.0]),
        "type": np.array(["battery_depleted", "", "stale", ""]),
        "ours": np.array([0.9, 0.1, 0.5, 0.1]),
        "label": np.array([True, False, True, False]),
    }
    counts = calibration(rows)["brier_rows"]
    assert counts == {
        "battery_depleted": {"rows": 2, "positive": 1},
        "offline": {"rows": 4, "positive": 0},
        "stale": {"rows": 2, "positive": 1},
    }


def test_the_baselines_on_hand_built_signals() -> None:
    now = 100 * DAY
    t = now - np.arange(10, dtype=float)[::-1] * DAY
    line = DeviceSignals(t, 50.0 - 5.0 * np.arange(10), [])  # 5 %/day, 5 % left
    assert days_to_empty(line, now) == pytest.approx(1.0)
    assert rules_score(line, now) == 1.0
    worsening = DeviceSignals(
        np.empty(0),
        np.empty(0),
        [(now - (d + 0.5) * DAY, now - (d + 0.5) * DAY + 600 * (14 - d)) for d in range(14)],
    )
    steady = DeviceSignals(
        np.empty(0), np.empty(0), [(now - (d + 0.5) * DAY, now - (d + 0.5) * DAY + 600) for d in range(14)]
    )
    assert dropout_trend_score(worsening, now) > 0.6 > dropout_trend_score(steady, now) == pytest.approx(0.5)
    assert (
        rules_score(steady, now) == 1.0
        and rules_score(DeviceSignals(np.empty(0), np.empty(0), []), now) == 0.0
    )
    assert UNAVAILABLE == -1


def test_the_check_runs_end_to_end_on_a_small_home(written: dict[str, Path]) -> None:
    rows, truths = score_homes([written], load_bundle(SHIPPED))
    result = evaluate_rows(rows)
    assert result["rows_not_scored_by_the_model"] == 0
    assert result["rows"] == len(rows.label) > 0
    assert {"all devices", "battery devices", "mains devices"} <= set(result["ranking"])
    assert len(truths) == 1
