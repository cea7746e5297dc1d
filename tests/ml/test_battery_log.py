"""The battery log: finished batteries kept beyond the grid's 120 days, counted once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.aggregates import KEEP_DAYS
from custom_components.homeiq_device_intel.ml.battery_life import Ending, Source, outlook
from custom_components.homeiq_device_intel.ml.battery_log import (
    BatteryLogError,
    SwapSource,
    earlier_batteries,
    load_log,
    log_as_json,
    log_from_json,
    save_log,
    updated_log,
)
from custom_components.homeiq_device_intel.ml.grid import build_grid
from custom_components.homeiq_device_intel.ml.scoring import DevicePrediction, with_battery_life

from .test_battery_life import DAY_S, T0, _dark_at_60, _home

HOME = "test"
LOG = "homeiq_battery_log"


def _coin_cell() -> tuple[object, float]:
    """A 90-day coin cell swapped on day 1 and ran out on day 91; swapped on day 100; now day 300.

    The second battery falls 100 -> 50 % over its 200 days (it has not run out).
    """
    levels = []
    for h in range(300 * 24):
        day = h / 24.0
        if day < 1.0:
            levels.append("30")
        elif day < 100.0:
            levels.append(str(round(max(100.0 - 95.0 * (day - 1.0) / 90.0, 5.0))))
        else:
            levels.append(str(round(100.0 - 50.0 * (day - 100.0) / 200.0)))
    return _home(levels, swaps_days=[1, 100], days=300), T0 + 300 * DAY_S


def _log_at_day(history, day: float):  # type: ignore[no-untyped-def]
    """The log a nightly run on `day` would have kept (its grid: the KEEP_DAYS before)."""
    end = T0 + day * DAY_S
    grid = build_grid(history, start=max(T0, end - KEEP_DAYS * DAY_S), end=end)
    return updated_log({}, grid, history.battery_swaps)


def test_a_battery_that_ended_before_the_kept_days_still_counts():
    history, now = _coin_cell()
    log = _log_at_day(history, 110.0)
    [logged] = log["a"]
    assert logged.ending is Ending.RAN_OUT
    assert logged.source is SwapSource.BATTERY_NOTES
    assert logged.life_days == pytest.approx(90.0, abs=0.5)
    assert logged.start_level == pytest.approx(100.0, abs=1.0)

    grid = build_grid(history, start=now - KEEP_DAYS * DAY_S, end=now)
    assert outlook(grid, 0).past == ()  # the grid alone has lost it
    earlier = earlier_batteries(grid, 0, log["a"])
    view = outlook(grid, 0, earlier=earlier)
    assert len(view.past) == 1
    assert view.typical_life_days == pytest.approx(90.0, abs=0.5)

    prediction = DevicePrediction(
        device_key="a",
        probability=0.01,
        failure_type="battery_depleted",
        probabilities={"battery_depleted": 0.01},
        reasons=(),
        battery_days=300.0,
        battery_days_low=200.0,
        battery_days_high=400.0,
        anomaly=None,
    )
    [without] = with_battery_life([prediction], grid)
    [with_log] = with_battery_life([prediction], grid, log)
    assert without.battery_life is not None and without.battery_life.source is Source.MODEL
    assert with_log.battery_life is not None and with_log.battery_life.source is Source.OWN_HISTORY
    assert with_log.battery_life.outlook.typical_life_days == pytest.approx(90.0, abs=0.5)


def test_a_battery_both_logged_and_in_the_grid_counts_once():
    history, _ = _coin_cell()
    end = T0 + 110 * DAY_S
    grid = build_grid(history, start=T0, end=end)
    log = updated_log({}, grid, history.battery_swaps)
    assert earlier_batteries(grid, 0, log["a"]) == []
    assert len(outlook(grid, 0, earlier=earlier_batteries(grid, 0, log["a"])).past) == 1
    # The next night finds it again: updated, not appended.
    assert len(updated_log(log, grid, history.battery_swaps)["a"]) == 1


def test_the_log_keeps_devices_the_grid_no_longer_holds():
    history, _ = _coin_cell()
    log = _log_at_day(history, 110.0)
    other = {"gone": log["a"]}
    grid = build_grid(history, start=T0, end=T0 + 110 * DAY_S)
    assert set(updated_log(other, grid)) == {"gone", "a"}


def test_the_log_survives_a_save_and_load(tmp_path: Path):
    history, _ = _coin_cell()
    log = _log_at_day(history, 110.0)
    path = tmp_path / "battery_log.json"
    save_log(log, path, HOME)
    assert load_log(path, home_id=HOME) == log


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00",
        b"[]",
        json.dumps({"format": "something else", "version": 1}).encode(),
        json.dumps({"format": "homeiq_battery_log", "version": 99, "home_id": HOME, "devices": {}}).encode(),
        json.dumps(
            {"format": "homeiq_battery_log", "version": 1, "home_id": "other", "devices": {}}
        ).encode(),
        json.dumps({"format": "homeiq_battery_log", "version": 1, "home_id": HOME, "devices": []}).encode(),
    ],
)
def test_an_unreadable_or_foreign_log_is_refused(tmp_path: Path, content: bytes):
    path = tmp_path / "battery_log.json"
    path.write_bytes(content)
    with pytest.raises(BatteryLogError):
        load_log(path, home_id=HOME)


def test_a_damaged_battery_entry_refuses_the_whole_log():
    history, _ = _coin_cell()
    document = log_as_json(_log_at_day(history, 110.0), HOME)
    for field, value in (
        ("ending", "exploded"),
        ("life_days", float("nan")),
        ("start", "x"),
        ("level_days", [1]),
    ):
        broken = json.loads(json.dumps(document))
        broken["devices"]["a"][0][field] = value
        with pytest.raises(BatteryLogError):
            log_from_json(broken, home_id=HOME)
    assert log_from_json(document, home_id=HOME)["a"][0].life_days == pytest.approx(90.0, abs=0.5)


def test_a_logged_battery_gives_the_time_to_a_level():
    history, now = _coin_cell()
    log = _log_at_day(history, 110.0)
    grid = build_grid(history, start=now - KEEP_DAYS * DAY_S, end=now)
    view = outlook(grid, 0, earlier=earlier_batteries(grid, 0, log["a"]))
    assert view.own_days is not None
    # 200 days old at 50 %: the 90-day battery was long empty (0 by age) but took ~47 days to reach
    # 50 % (43 days left by level): the median of the two estimates lies between them.
    assert 0.0 < view.own_days[1] < 43.5
    assert np.isfinite(view.own_days).all()


def test_a_battery_whose_sensor_fell_silent_before_a_fresh_one_is_logged_as_died():
    history = _dark_at_60("silent", 72)
    history.battery_swaps["a"] = np.concatenate(([T0 + 0.5 * DAY_S], history.battery_swaps["a"]))
    [logged] = updated_log({}, build_grid(history), history.battery_swaps)["a"]
    assert logged.ending is Ending.DIED
    assert (logged.end - T0) / DAY_S == pytest.approx(20.0, abs=0.05)  # when it fell silent
