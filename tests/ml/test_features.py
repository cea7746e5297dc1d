"""Feature and label correctness on small hand-built histories."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.features import (
    FEATURE_NAMES,
    build_features,
    default_eval_hours,
)
from custom_components.homeiq_device_intel.ml.grid import HOUR, HourlyGrid, build_grid, grid_tail
from custom_components.homeiq_device_intel.ml.labels import (
    STALE_BEFORE_DEPLETION_HOURS,
    _not_of_a_depletion,
    build_labels,
    dark_silence_hours,
    find_events,
)
from custom_components.homeiq_device_intel.ml.learning import _shifted
from custom_components.homeiq_device_intel.ml.records import (
    Chemistry,
    DeviceRecord,
    EntityRecord,
    EntityRole,
    FailureType,
    HomeHistory,
    Power,
    Protocol,
    StateSeries,
    StatSeries,
    encode_states,
)
from custom_components.homeiq_device_intel.ml.scoring import _failing_now, _failing_reasons

T0 = 1_700_000_000.0 - (1_700_000_000.0 % 86400)
DAY_S = 86400.0


def _device(device_key: str, *, via: str | None = "bridge", power: Power = Power.BATTERY) -> DeviceRecord:
    return DeviceRecord(
        device_key=device_key,
        name=device_key,
        integration="zha",
        protocol=Protocol.ZIGBEE,
        power=power,
        chemistry=Chemistry.COIN if power is Power.BATTERY else Chemistry.NONE,
        via_device_key=via,
    )


def _home(devices, entities, states, statistics=None, restarts=None, days=30) -> HomeHistory:
    return HomeHistory(
        home_id="test",
        start=T0,
        end=T0 + days * DAY_S,
        devices=devices,
        entities=entities,
        states=states,
        statistics=statistics or {},
        restarts=np.asarray(restarts or [], dtype=float),
    )


def _hourly(days: int, fn) -> tuple[list[float], list[str]]:
    times = [T0 + h * HOUR + 60 for h in range(days * 24)]
    return times, [fn(h) for h in range(days * 24)]


def _sensor_reporting(days: int, *, first_hour: int = 0, last_hour: int | None = None, value=None):
    """A mains sensor reporting every hour of [first_hour, last_hour) of `days` days, and no other."""
    times, values = _hourly(days, value or (lambda h: str(h % 3)))
    end = days * 24 if last_hour is None else last_hour
    keep = [k for k, t in enumerate(times) if T0 + first_hour * HOUR <= t < T0 + end * HOUR]
    return _home(
        [_device("d0", via=None, power=Power.MAINS)],
        [EntityRecord(entity_id="sensor.d0", device_key="d0", role=EntityRole.PRIMARY)],
        {"sensor.d0": encode_states([times[k] for k in keep], [values[k] for k in keep])},
        days=days,
    )


def _frame(history):
    grid = build_grid(history)
    frame = build_features(history, grid, default_eval_hours(grid))
    return grid, frame


def _at(frame, device: int, day: int, name: str) -> float:
    rows = np.flatnonzero(frame.device_index == device)
    return float(frame.X[rows[day - 1], FEATURE_NAMES.index(name)])


def test_battery_slope_matches_a_linear_discharge():
    times, states = _hourly(30, lambda h: str(round(100 - h / 24 * 2.0)))
    history = _home(
        [_device("a")],
        [EntityRecord(entity_id="sensor.a_battery", device_key="a", role=EntityRole.BATTERY)],
        {"sensor.a_battery": encode_states(times, states)},
    )
    _, frame = _frame(history)
    assert _at(frame, 0, 20, "battery_slope_7d") == pytest.approx(-2.0, abs=0.05)
    assert _at(frame, 0, 20, "battery_slope_14d") == pytest.approx(-2.0, abs=0.05)
    level = _at(frame, 0, 20, "battery_level")
    assert level == pytest.approx(100 - 2.0 * (20 - 1 / 24), abs=1.0)
    assert _at(frame, 0, 20, "battery_days_linear") == pytest.approx((level - 5) / 2.0, rel=0.05)


def test_battery_from_statistics_when_states_were_purged():
    hours = np.arange(30 * 24)
    mean = 90 - hours / 24 * 1.0
    stats = StatSeries(start=T0 + hours * HOUR, mean=mean, min=mean - 0.5, max=mean + 0.5)
    history = _home(
        [_device("a")],
        [EntityRecord(entity_id="sensor.a_battery", device_key="a", role=EntityRole.BATTERY)],
        {},
        statistics={"sensor.a_battery": stats},
    )
    _, frame = _frame(history)
    assert _at(frame, 0, 25, "battery_slope_14d") == pytest.approx(-1.0, abs=0.02)


def test_missing_data_is_nan_not_an_error():
    history = _home(
        [_device("a"), _device("b", power=Power.MAINS)],
        [EntityRecord(entity_id="switch.b", device_key="b", role=EntityRole.PRIMARY)],
        {"switch.b": encode_states([T0 + 10], ["on"])},
    )
    _, frame = _frame(history)
    assert np.isnan(_at(frame, 0, 5, "battery_level"))
    assert np.isnan(_at(frame, 0, 5, "reports_24h"))  # device a was never seen
    assert _at(frame, 1, 5, "hours_since_report") == pytest.approx(5 * 24 - 1, abs=1)


def test_unavailable_episode_counts_and_long_outage_label():
    # Available every hour, then unavailable from day 20 08:00 for 10 hours.
    down = range(20 * 24 + 8, 20 * 24 + 18)
    times, states = _hourly(30, lambda h: "unavailable" if h in down else str(h % 2))
    history = _home(
        [_device("a", via=None, power=Power.MAINS)],
        [EntityRecord(entity_id="sensor.a", device_key="a", role=EntityRole.PRIMARY)],
        {"sensor.a": encode_states(times, states)},
    )
    grid, frame = _frame(history)
    assert _at(frame, 0, 21, "unavailable_hours_24h") == pytest.approx(10.0, abs=0.1)
    assert _at(frame, 0, 21, "drops_24h") == 1.0
    assert _at(frame, 0, 21, "longest_unavailable_7d") == pytest.approx(10.0)
    events = find_events(grid)
    assert list(events.starts[FailureType.UNAVAILABLE][0]) == [20 * 24 + 8]
    labels = build_labels(grid, frame, events, horizon_days=7)
    y = labels.y[FailureType.UNAVAILABLE]
    # Day k's row sees hours < 24k: days 14..20 precede the outage within 7 days.
    assert [int(v) for v in y[13:20]] == [1] * 7
    assert y[12] == 0.0
    assert y[5] == 0.0


def test_restart_replays_and_reconnects_are_not_failures():
    restart = T0 + 10 * DAY_S + 3 * HOUR
    times, states = [T0 + 60, restart - 1], ["20.5", "20.5"]
    times += [restart + 5, restart + 60, restart + 120, restart + 400]
    states += ["unavailable", "20.5", "20.5", "20.5"]
    history = _home(
        [_device("a", via=None, power=Power.MAINS)],
        [EntityRecord(entity_id="sensor.a", device_key="a", role=EntityRole.PRIMARY)],
        {"sensor.a": encode_states(times, states)},
        restarts=[restart],
    )
    grid = build_grid(history)
    assert grid["unavailable"].sum() == 0
    assert grid["drops"].sum() == 0
    # The 20.5 replayed after the reconnect, and again, is no sign of life (it repeats the state
    # before the restart's `unavailable`); the row after the replay window is.
    hour = int((restart - T0) // HOUR)
    assert np.flatnonzero(grid["reports"][0]).tolist() == [0, hour - 1, hour]
    assert grid["reports"][0, hour] == 1.0


def test_a_replayed_state_reported_again_later_is_a_sign_of_life():
    # A leak sensor reads "off" all along: a restart replays it (after `unavailable`), then the
    # device re-reports "off" unchanged for hours (HA >= 2024.3 moves the row's last_reported).
    # The replay is no sign of life; its re-reports are, unless within the replay window.
    restart = T0 + 10 * DAY_S + 3 * HOUR
    series = encode_states([T0 + 60, restart + 5, restart + 60], ["off", "unavailable", "off"])
    series.last_reported = np.array([T0 + 60, restart + 5, restart + 5 * HOUR])
    early = encode_states([T0 + 60, restart + 5, restart + 60], ["off", "unavailable", "off"])
    early.last_reported = np.array([T0 + 60, restart + 5, restart + 200])
    history = _home(
        [_device("a"), _device("b")],
        [
            EntityRecord(entity_id="binary_sensor.a", device_key="a", role=EntityRole.PRIMARY),
            EntityRecord(entity_id="binary_sensor.b", device_key="b", role=EntityRole.PRIMARY),
        ],
        {"binary_sensor.a": series, "binary_sensor.b": early},
        restarts=[restart],
    )
    grid = build_grid(history)
    hour = int((restart - T0) // HOUR)
    assert np.flatnonzero(grid["reports"][0]).tolist() == [0, hour + 5]
    assert np.flatnonzero(grid["reports"][1]).tolist() == [0]


def test_bridge_outage_is_flagged_and_kept_out_of_device_labels():
    down = range(15 * 24, 15 * 24 + 12)
    devices = [_device(f"d{i}") for i in range(4)]
    entities, states = [], {}
    for i in range(4):
        times, values = _hourly(30, lambda h: "unavailable" if h in down else str(20 + h % 3))
        entities.append(EntityRecord(entity_id=f"sensor.d{i}", device_key=f"d{i}", role=EntityRole.PRIMARY))
        states[f"sensor.d{i}"] = encode_states(times, values)
    history = _home(devices, entities, states)
    grid, frame = _frame(history)
    assert grid.bridge_down[:, 15 * 24 + 2].tolist() == [1.0] * 4
    assert _at(frame, 0, 16, "bridge_down_24h") == pytest.approx(0.5)
    events = find_events(grid)
    assert all(s.size == 0 for s in events.starts[FailureType.UNAVAILABLE])


def test_battery_depletion_label_and_days_remaining():
    # 2 %/day from 60 %: crosses 5 % on day 27.5
    times, states = _hourly(30, lambda h: str(max(round(60 - h / 24 * 2.0), 0)))
    history = _home(
        [_device("a")],
        [EntityRecord(entity_id="sensor.a_battery", device_key="a", role=EntityRole.BATTERY)],
        {"sensor.a_battery": encode_states(times, states)},
    )
    grid, frame = _frame(history)
    events = find_events(grid)
    (start,) = events.starts[FailureType.BATTERY_DEPLETED][0]
    assert start / 24 == pytest.approx(27.5, abs=0.3)
    labels = build_labels(grid, frame, events)
    y = labels.y[FailureType.BATTERY_DEPLETED]
    assert y[25] == 1.0 and y[10] == 0.0
    assert labels.battery_days[19] == pytest.approx(start / 24 - 20, abs=0.01)


def test_stale_device_that_stops_reporting_is_labelled():
    times, states = _hourly(30, lambda h: str(round(20 + np.sin(h / 3), 1)))
    cut = 22 * 24
    history = _home(
        [_device("a", via=None)],
        [EntityRecord(entity_id="sensor.a_t", device_key="a", role=EntityRole.PRIMARY)],
        {"sensor.a_t": encode_states(times[:cut], states[:cut])},
    )
    grid, frame = _frame(history)
    events = find_events(grid)
    assert list(events.starts[FailureType.STALE][0]) == [cut]
    assert _at(frame, 0, 24, "hours_since_report") == pytest.approx(48, abs=1)
    labels = build_labels(grid, frame, events)
    assert labels.y[FailureType.STALE][20] == 1.0
    assert np.isnan(labels.y[FailureType.STALE][24])  # already stale: not a prediction


def test_detected_battery_swap_resets_days_since_swap():
    times, states = _hourly(30, lambda h: str(100 if h >= 10 * 24 else 40))
    history = _home(
        [_device("a")],
        [EntityRecord(entity_id="sensor.a_battery", device_key="a", role=EntityRole.BATTERY)],
        {"sensor.a_battery": encode_states(times, states)},
    )
    _, frame = _frame(history)
    assert np.isnan(_at(frame, 0, 5, "days_since_swap"))
    assert _at(frame, 0, 15, "days_since_swap") == pytest.approx(5.0, abs=0.1)


def test_in_place_re_reports_count_as_signs_of_life():
    series = encode_states([T0 + 60], ["21.0"])
    series.last_reported = np.array([T0 + 5 * DAY_S + 60])
    history = _home(
        [_device("a", via=None)],
        [EntityRecord(entity_id="sensor.a", device_key="a", role=EntityRole.PRIMARY)],
        {"sensor.a": series},
        days=8,
    )
    _, frame = _frame(history)
    assert _at(frame, 0, 7, "hours_since_report") == pytest.approx(47, abs=1)


def test_rate_ratios_need_a_baseline_first():
    # A device first seen on day 10: one day later it has no usual rate to compare against.
    history = _sensor_reporting(30, first_hour=10 * 24, value=lambda h: str(h % 2))
    _, frame = _frame(history)
    assert _at(frame, 0, 11, "reports_24h") == pytest.approx(24, abs=1)
    assert np.isnan(_at(frame, 0, 11, "reports_ratio_24h"))
    assert np.isnan(_at(frame, 0, 11, "changes_ratio_24h"))
    assert _at(frame, 0, 20, "reports_ratio_24h") == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("seed", range(5))
def test_trailing_max_matches_a_plain_window_maximum(seed: int):
    from custom_components.homeiq_device_intel.ml.features import _trailing_max

    rng = np.random.default_rng(seed)
    values = rng.normal(size=(4, 24 * 40 + 7))
    values[rng.random(values.shape) < 0.3] = np.nan
    values[1] = np.nan  # a device with no readings at all
    ends = np.array([1, 5, 24, 25, 24 * 10 + 3, 24 * 31, 24 * 40 + 7], dtype=np.int64)
    got = _trailing_max(values, ends, 30 * 24)
    for j, end in enumerate(ends):
        for i in range(values.shape[0]):
            window = values[i, max(end - 30 * 24, 0) : end]
            finite = window[np.isfinite(window)]
            expected = finite.max() if finite.size else np.nan
            np.testing.assert_array_equal(got[i, j], expected)


def test_battery_outlook_features_on_a_steady_discharge():
    # 2 %/day from 100 %, the level reported every hour; it stops moving after day 25.
    times, states = _hourly(30, lambda h: str(round(100 - min(h, 25 * 24) / 24 * 2.0)))
    history = _home(
        [_device("a")],
        [EntityRecord(entity_id="sensor.a_battery", device_key="a", role=EntityRole.BATTERY)],
        {"sensor.a_battery": encode_states(times, states)},
    )
    _, frame = _frame(history)
    level = _at(frame, 0, 20, "battery_level")
    assert _at(frame, 0, 20, "battery_days_linear_min") == pytest.approx((level - 5) / 2.0, rel=0.1)
    assert _at(frame, 0, 20, "battery_drop_30d") == pytest.approx(100 - level, abs=0.5)
    assert _at(frame, 0, 20, "battery_hours_since_change") <= 12  # moves 1 % every 12 h
    # Stuck at 50 % from day 25 on: on day 29 it has not moved since its last step.
    last_step = max(h for h in range(1, len(states)) if states[h] != states[h - 1])
    assert last_step <= 25 * 24
    assert _at(frame, 0, 29, "battery_hours_since_change") == 29 * 24 - 1 - last_step


def test_report_trend_features_see_a_quiet_day_and_dropouts():
    # Reports every hour; on day 20 only every other hour, and three short outages on days 18-20.
    def state(h: int) -> str:
        day, hour = divmod(h, 24)
        if day in (18, 19, 20) and hour == 4:
            return "unavailable"
        return str(h % 3)

    times, states = _hourly(30, state)
    keep = [i for i, t in enumerate(times) if not (20 * 24 <= i < 21 * 24 and i % 2)]
    history = _home(
        [_device("a", via=None, power=Power.MAINS)],
        [EntityRecord(entity_id="sensor.a", device_key="a", role=EntityRole.PRIMARY)],
        {"sensor.a": encode_states([times[i] for i in keep], [states[i] for i in keep])},
    )
    _, frame = _frame(history)
    assert _at(frame, 0, 17, "drops_3d") == 0
    assert _at(frame, 0, 21, "drops_3d") == 3
    assert _at(frame, 0, 21, "drops_1d_vs_6d") > 1.0
    assert _at(frame, 0, 21, "reports_z_24h") < -2.0  # far below its usual day
    assert _at(frame, 0, 17, "reports_z_24h") == pytest.approx(0.0, abs=0.5)
    assert _at(frame, 0, 21, "reports_ratio_3d") < _at(frame, 0, 17, "reports_ratio_3d")
    assert _at(frame, 0, 17, "silent_hours_3d") == 0


# ---------------------------------------------------------------- battery target (DESIGN decision 6)


def _battery_labels(levels):
    """Labels of one battery device whose hourly level is levels(h) over 40 days."""
    times, states = _hourly(40, lambda h: str(levels(h)))
    history = _home(
        [_device("a")],
        [EntityRecord(entity_id="sensor.a_battery", device_key="a", role=EntityRole.BATTERY)],
        {"sensor.a_battery": encode_states(times, states)},
        days=40,
    )
    grid, frame = _frame(history)
    events = find_events(grid)
    labels = build_labels(grid, frame, events)
    return events, labels, frame


def _day_row(frame, day: int) -> int:
    return int(np.flatnonzero(frame.device_index == 0)[day - 1])


def test_a_battery_swapped_at_a_low_level_needed_replacing():
    # 2 %/day from 50 %: 12 % on day 19, swapped for a fresh one on day 20 (never reaches 5 %).
    events, labels, frame = _battery_labels(lambda h: 100 if h >= 20 * 24 else round(50 - h / 24 * 2.0))
    y = labels.y[FailureType.BATTERY_DEPLETED]
    (start,) = events.starts[FailureType.BATTERY_DEPLETED][0]
    assert start == 20 * 24
    assert y[_day_row(frame, 16)] == 1.0  # replaced within 7 days
    assert y[_day_row(frame, 8)] == 0.0  # not within 7 days
    # It never ran out: no days-remaining target for the battery it replaced.
    assert np.isnan(labels.battery_days[_day_row(frame, 16)])


def test_a_swap_at_a_high_level_censors_the_old_battery():
    # 1 %/day from 80 %: swapped at 60 % on day 20; the old battery's end is unknown.
    events, labels, frame = _battery_labels(lambda h: 100 if h >= 20 * 24 else round(80 - h / 24))
    y = labels.y[FailureType.BATTERY_DEPLETED]
    assert events.starts[FailureType.BATTERY_DEPLETED][0].size == 0
    assert list(events.censors[0]) == [20 * 24]
    assert np.isnan(y[_day_row(frame, 15)])  # its horizon holds the swap: neither 1 nor 0
    assert y[_day_row(frame, 10)] == 0.0  # its horizon ends before the swap: a true negative
    assert y[_day_row(frame, 25)] == 0.0  # the new battery is labelled as usual


def test_a_battery_that_ran_out_then_was_swapped_is_one_failure_with_days_remaining():
    # 3 %/day from 60 %: reaches 5 % on day ~18.3, swapped two days later.
    events, labels, frame = _battery_labels(
        lambda h: 100 if h >= 20 * 24 else max(round(60 - h / 24 * 3.0), 0)
    )
    (start,) = events.starts[FailureType.BATTERY_DEPLETED][0]
    assert list(events.depletions[0]) == [start]
    assert start / 24 == pytest.approx(18.3, abs=0.3)
    assert labels.y[FailureType.BATTERY_DEPLETED][_day_row(frame, 14)] == 1.0
    assert labels.battery_days[_day_row(frame, 10)] == pytest.approx(start / 24 - 10, abs=0.01)


def _sagging_each_cold_night(h: int) -> str:
    """A weak cell at 12 % by day that sags to 4 % on the colder nights from day 15, swapped on day 30."""
    day, hour = divmod(h, 24)
    if day >= 30:
        return "100"
    if day < 15:
        return str(round(40 - day * 28 / 15))
    return "4" if hour < 5 and day % 3 == 0 else "12"


def test_a_battery_sagging_below_the_floor_on_cold_nights_ran_out_once():
    events, labels, frame = _battery_labels(_sagging_each_cold_night)
    y = labels.y[FailureType.BATTERY_DEPLETED]
    # One failure: the first night below the floor (not one per night), and the swap that
    # ended that same battery is no other.
    assert list(events.depletions[0]) == [15 * 24]
    assert list(events.starts[FailureType.BATTERY_DEPLETED][0]) == [15 * 24]
    assert y[_day_row(frame, 10)] == 1.0
    # Between running out and the swap the battery has run out: not predicted (neither a failure
    # to come nor a battery that will not run out), though it reads 12 % by day.
    for day in (17, 22, 28):
        assert np.isnan(y[_day_row(frame, day)]), day
    # The fresh battery is labelled as usual.
    assert y[_day_row(frame, 32)] == 0.0


def test_a_battery_that_ran_out_is_run_out_until_its_swap_however_late():
    # 3 %/day from 60 %: reaches 5 % on day ~18.3, left in at 2 % and swapped at it on day 30.
    events, labels, frame = _battery_labels(
        lambda h: 100 if h >= 30 * 24 else max(round(60 - h / 24 * 3.0), 2)
    )
    (start,) = events.starts[FailureType.BATTERY_DEPLETED][0]
    assert list(events.depletions[0]) == [start]
    assert start / 24 == pytest.approx(18.3, abs=0.3)
    assert np.isnan(labels.y[FailureType.BATTERY_DEPLETED][_day_row(frame, 26)])


def _dark_then(level: int, back: int, *, dark_from: int = 20, dark_days: float = 2, swap_delay_days: int = 0):
    """Levels of a battery at `level` that goes dark for `dark_days`, then reads `back`
    (after `swap_delay_days` more at `level` when the owner swaps later)."""

    def levels(h: int) -> str:
        day = h / 24
        if dark_from <= day < dark_from + dark_days:
            return "unavailable"
        if day >= dark_from + dark_days + swap_delay_days:
            return str(back)
        return str(level)

    return levels


def test_a_device_that_died_at_a_middling_level_and_came_back_on_a_fresh_battery_ran_out():
    # A coin cell reading 45 % dies on day 20; the owner puts in a fresh one two days later.
    events, labels, frame = _battery_labels(_dark_then(45, 100))
    (start,) = events.starts[FailureType.BATTERY_DEPLETED][0]
    assert start == 20 * 24
    assert list(events.depletions[0]) == [start]
    y = labels.y[FailureType.BATTERY_DEPLETED]
    assert y[_day_row(frame, 16)] == 1.0  # it needed replacing within 7 days
    assert y[_day_row(frame, 8)] == 0.0
    assert labels.battery_days[_day_row(frame, 15)] == pytest.approx(5.0, abs=0.05)


def test_a_device_dark_for_hours_that_came_back_on_a_fresh_battery_ran_out():
    # Dead at 45 % on day 20, found in the morning and given a fresh battery ten hours later.
    events, labels, frame = _battery_labels(_dark_then(45, 100, dark_days=10 / 24))
    assert list(events.depletions[0]) == [20 * 24]
    assert events.starts[FailureType.UNAVAILABLE][0].size == 0  # the battery's failure, not an outage
    assert labels.y[FailureType.BATTERY_DEPLETED][_day_row(frame, 16)] == 1.0
    # Dark for three hours around a swap: the swap itself, not a death (the swap censors).
    events, labels, frame = _battery_labels(_dark_then(45, 100, dark_days=3 / 24))
    assert events.depletions[0].size == 0
    assert list(events.censors[0]) == [20 * 24 + 3]
    # Dark ten hours at 45 % and back at 45 %: an outage, not its battery.
    events, _, _ = _battery_labels(_dark_then(45, 45, dark_days=10 / 24))
    assert events.depletions[0].size == 0
    assert list(events.starts[FailureType.UNAVAILABLE][0]) == [20 * 24]


def test_a_device_dark_for_days_that_came_back_on_the_same_battery_did_not_run_out():
    # Dark for two days at 45 %, back at 45 %: whatever took it away, not its battery.
    events, labels, frame = _battery_labels(_dark_then(45, 45))
    assert events.starts[FailureType.BATTERY_DEPLETED][0].size == 0
    assert labels.y[FailureType.BATTERY_DEPLETED][_day_row(frame, 16)] == 0.0


def test_a_swap_days_after_a_device_came_back_is_not_its_death():
    # Back at 45 % on day 22, swapped at 45 % three days later: that swap censors, it did not revive.
    events, _, _ = _battery_labels(_dark_then(45, 100, swap_delay_days=3))
    assert events.starts[FailureType.BATTERY_DEPLETED][0].size == 0
    assert list(events.censors[0]) == [25 * 24]


def test_a_device_dark_until_the_data_ends_from_a_middling_level_is_censored():
    # Dark from day 35 at 45 % to the end of the data: whether its battery ran out is unknown.
    events, labels, frame = _battery_labels(_dark_then(45, 45, dark_from=35, dark_days=10))
    y = labels.y[FailureType.BATTERY_DEPLETED]
    assert events.starts[FailureType.BATTERY_DEPLETED][0].size == 0
    assert list(events.censors[0]) == [35 * 24]
    assert np.isnan(y[_day_row(frame, 31)])  # its horizon holds the death: neither 1 nor 0
    assert y[_day_row(frame, 20)] == 0.0  # before that horizon: a true negative


def test_a_device_dark_until_the_data_ends_from_a_low_level_ran_out():
    events, labels, frame = _battery_labels(_dark_then(12, 12, dark_from=35, dark_days=10))
    assert list(events.starts[FailureType.BATTERY_DEPLETED][0]) == [35 * 24]
    assert events.censors[0].size == 0
    assert labels.y[FailureType.BATTERY_DEPLETED][_day_row(frame, 31)] == 1.0


def _silent_battery_labels(level: int, back: int, *, dark_from: float, dark_days: int, door: bool = False):
    """Labels of a sleeping battery sensor HA never marks unavailable (temperature and battery
    every hour) that falls silent at `level` on day `dark_from` for `dark_days`, then reads `back`.

    `door`: a door sensor instead (open/closed and battery every hour: no telemetry)."""
    hours = [h for h in range(40 * 24) if not dark_from <= h / 24 < dark_from + dark_days]
    times = [T0 + h * HOUR + 60 for h in hours]
    battery = [str(back if h / 24 >= dark_from else level) for h in hours]
    history = _home(
        [_device("a")],
        [
            EntityRecord(entity_id="sensor.a", device_key="a", role=EntityRole.PRIMARY),
            EntityRecord(entity_id="sensor.a_battery", device_key="a", role=EntityRole.BATTERY),
        ],
        {
            "sensor.a": encode_states(
                times, [("on" if h % 2 else "off") if door else f"{20 + (h % 7) / 10:.1f}" for h in hours]
            ),
            "sensor.a_battery": encode_states(times, battery),
        },
        days=40,
    )
    grid, frame = _frame(history)
    events = find_events(grid)
    return events, build_labels(grid, frame, events), frame


def test_a_sleeping_sensor_that_fell_silent_and_came_back_on_a_fresh_battery_ran_out():
    # Never unavailable: its coin cell reading 45 % dies on day 20, silent until a fresh one on day 23.
    events, labels, frame = _silent_battery_labels(45, 100, dark_from=20, dark_days=3)
    assert list(events.depletions[0]) == [20 * 24]
    y = labels.y[FailureType.BATTERY_DEPLETED]
    assert y[_day_row(frame, 16)] == 1.0
    assert np.isnan(y[_day_row(frame, 22)])  # silent for a day already: not predicted then
    # Silent at the same level and back at it: not its battery.
    events, labels, frame = _silent_battery_labels(45, 45, dark_from=20, dark_days=3)
    assert events.depletions[0].size == 0
    assert labels.y[FailureType.BATTERY_DEPLETED][_day_row(frame, 16)] == 0.0


def test_a_sensor_falling_silent_as_its_battery_dies_is_a_battery_failure_not_a_stale_one():
    # Silent for three days from day 20 and back on a fresh battery: its battery died. The owner
    # swaps the battery either way, warned once as a battery to replace (as for outages).
    events, labels, frame = _silent_battery_labels(45, 100, dark_from=20, dark_days=3)
    assert list(events.starts[FailureType.BATTERY_DEPLETED][0]) == [20 * 24]
    assert events.starts[FailureType.STALE][0].size == 0
    assert labels.y[FailureType.STALE][_day_row(frame, 16)] == 0.0
    assert events.stale_spans[0].tolist() == [[20 * 24], [23 * 24]]  # under way: not predicted
    # As long a silence, back on the same battery: the sensor went stale, not its battery.
    events, labels, frame = _silent_battery_labels(45, 45, dark_from=20, dark_days=3)
    assert list(events.starts[FailureType.STALE][0]) == [20 * 24]
    assert labels.y[FailureType.STALE][_day_row(frame, 16)] == 1.0


def test_only_stale_starts_near_a_depletion_are_that_batterys():
    # Depletions at 500 and 2000, each swapped the day after (run out until then).
    run_out = np.array([[500, 2000], [524, 2024]], dtype=np.int64)
    starts = np.sort(np.array([100, 451, 452, 500, 668, 669, 1952, 1951], dtype=np.int64))
    kept = _not_of_a_depletion(starts, run_out, before=STALE_BEFORE_DEPLETION_HOURS)
    assert kept.tolist() == [100, 451, 669, 1951]
    # Outages: only from the depletion on.
    assert _not_of_a_depletion(starts, run_out).tolist() == [100, 451, 452, 669, 1951, 1952]
    # A battery left in after it ran out, swapped only at hour 900: it has run out until then.
    left_in = np.array([[500, 2000], [900, 2024]], dtype=np.int64)
    assert _not_of_a_depletion(starts, left_in).tolist() == [100, 451, 452, 1951, 1952]


def test_a_door_sensor_silent_until_a_fresh_battery_ran_out_but_silent_alone_did_not():
    # No telemetry: only a silence that ends on a fresh battery tells its death.
    events, labels, frame = _silent_battery_labels(45, 100, dark_from=20, dark_days=3, door=True)
    assert list(events.depletions[0]) == [20 * 24]
    assert labels.y[FailureType.BATTERY_DEPLETED][_day_row(frame, 16)] == 1.0
    events, _, _ = _silent_battery_labels(20, 20, dark_from=20, dark_days=3, door=True)
    assert events.depletions[0].size == 0
    assert events.starts[FailureType.STALE][0].size == 0  # not scored as going stale either
    # Silent from 45 % until the data ends: not known yet (censored); from 12 %: it ran out.
    events, labels, frame = _silent_battery_labels(45, 45, dark_from=33, dark_days=10, door=True)
    assert (events.depletions[0].size, list(events.censors[0])) == (0, [33 * 24])
    assert np.isnan(labels.y[FailureType.BATTERY_DEPLETED][_day_row(frame, 30)])
    events, _, _ = _silent_battery_labels(12, 12, dark_from=33, dark_days=10, door=True)
    assert list(events.depletions[0]) == [33 * 24]


def test_a_sleeping_sensor_silent_until_the_data_ends_from_a_middling_level_is_censored():
    events, labels, frame = _silent_battery_labels(45, 45, dark_from=33, dark_days=10)
    y = labels.y[FailureType.BATTERY_DEPLETED]
    assert events.depletions[0].size == 0
    assert list(events.censors[0]) == [33 * 24]
    assert np.isnan(y[_day_row(frame, 30)])
    assert np.isnan(y[_day_row(frame, 36)])  # dead or not, a silent device is not scored as healthy
    assert y[_day_row(frame, 20)] == 0.0
    # It went stale all the same (the stale target keeps battery deaths: decision in the README).
    assert list(events.starts[FailureType.STALE][0]) == [33 * 24]


def _sleeping_sensor(level_of, silent: tuple[int, int], **options):
    """`_sleeping_grid`'s frame, events and labels."""
    return _sleeping_grid(level_of, silent, **options)[1:]


def _sleeping_grid(
    level_of,
    silent: tuple[int, int],
    *,
    days: int = 40,
    restarts: tuple[float, ...] = (),
    bridge_down: tuple[float, float] | None = None,
    own_down: tuple[float, float] | None = None,
):
    """A sleeping sensor (temperature and battery every hour, never unavailable) reading
    `level_of(h)` %, silent for the hours in [silent[0], silent[1]): its grid, frame, events, labels.

    At each of `restarts`, HA shows its entities `unavailable` until the integration has
    started, then the states it holds (`_replayed`). With `bridge_down` (from, to), its bridge
    is down then, with three live neighbours (`_bridge_outage`); with `own_down` (from, to), the
    sensor alone is unavailable then (the same rows), its three neighbours live all along."""
    hours = [h for h in range(days * 24) if not silent[0] <= h < silent[1]]
    times = [T0 + h * HOUR + 60 for h in hours]
    temperature = [f"{20 + (h % 7) / 10:.1f}" for h in hours]
    level = [str(level_of(h)) for h in hours]
    devices = [_device("a")]
    entities = [
        EntityRecord(entity_id="sensor.a", device_key="a", role=EntityRole.PRIMARY),
        EntityRecord(entity_id="sensor.a_battery", device_key="a", role=EntityRole.BATTERY),
    ]
    own = bridge_down or own_down
    states = {
        "sensor.a": encode_states(*_bridge_outage(*_replayed(times, temperature, restarts), own)),
        "sensor.a_battery": encode_states(*_bridge_outage(*_replayed(times, level, restarts), own)),
    }
    if own is not None:
        for i in range(3):
            devices.append(_device(f"n{i}"))
            entities.append(
                EntityRecord(entity_id=f"sensor.n{i}", device_key=f"n{i}", role=EntityRole.PRIMARY)
            )
            every_hour = _hourly(days, lambda h, i=i: f"{18 + i + (h % 5) / 10:.1f}")
            states[f"sensor.n{i}"] = encode_states(*_bridge_outage(*every_hour, bridge_down))
    history = _home(devices, entities, states, restarts=list(restarts), days=days)
    grid, frame = _frame(history)
    events = find_events(grid)
    return grid, frame, events, build_labels(grid, frame, events)


def _replayed(
    times: list[float], states: list[str], restarts: tuple[float, ...]
) -> tuple[list[float], list[str]]:
    """The rows with, at each restart, `unavailable` 5 s after it and the held state 60 s after."""
    rows = list(zip(times, states, strict=True))
    for restart in restarts:
        held = [state for t, state in rows if t < restart and state != "unavailable"][-1]
        rows += [(restart + 5.0, "unavailable"), (restart + 60.0, held)]
    rows.sort(key=lambda row: row[0])
    return [t for t, _ in rows], [state for _, state in rows]


def _bridge_outage(
    times: list[float], states: list[str], down: tuple[float, float] | None
) -> tuple[list[float], list[str]]:
    """The rows with the bridge down in [down[0], down[1]): nothing gets through, `unavailable`
    2 s after it goes down, and 30 s after it is back the state its integration held."""
    if down is None:
        return times, states
    rows = [(t, state) for t, state in zip(times, states, strict=True) if not down[0] <= t < down[1]]
    held = [state for t, state in rows if t < down[0] and state != "unavailable"][-1]
    rows += [(down[0] + 2.0, "unavailable"), (down[1] + 30.0, held)]
    rows.sort(key=lambda row: row[0])
    return [t for t, _ in rows], [state for _, state in rows]


def _four_on_one_bridge_home(states: dict[str, StateSeries], days: int) -> HomeHistory:
    """Four battery devices, "a" to "d", one sensor each, behind one bridge."""
    devices = [_device(key) for key in "abcd"]
    entities = [EntityRecord(entity_id=f"sensor.{k}", device_key=k, role=EntityRole.PRIMARY) for k in "abcd"]
    return _home(devices, entities, states, days=days)


def _four_on_one_bridge(states: dict[str, StateSeries], days: int) -> HourlyGrid:
    """The grid of `_four_on_one_bridge_home`."""
    return build_grid(_four_on_one_bridge_home(states, days))


@pytest.mark.parametrize(
    "replay",
    [
        # On day 33 its bridge is down for 40 minutes across an hour's end (its neighbours go
        # `unavailable` with it, for less than half of each hour). Back up, the bridge restores
        # the state it held for each device, the dead sensor's too.
        {"bridge_down": (T0 + 33 * DAY_S + 10 * HOUR + 40 * 60, T0 + 33 * DAY_S + 11 * HOUR + 20 * 60)},
        # HA restarts on day 33 and the integration, slow to start, shows it `unavailable`, then
        # the states it held.
        {"restarts": (T0 + 33 * DAY_S + 30 * 60,)},
        # Its bridge is down for eight hours on day 33 (most of each hour unavailable, the
        # sensor and its neighbours alike): the silence runs on through the bridge's outage.
        {"bridge_down": (T0 + 33 * DAY_S + 10 * HOUR + 600, T0 + 33 * DAY_S + 18 * HOUR + 600)},
    ],
    ids=["bridge_restore", "restart_replay", "long_bridge_outage"],
)
def test_a_held_state_written_again_does_not_end_a_dark_spell(replay):
    # Silent at 70 % from day 25 until the data ends (day 40). The held state written again is
    # no sign of life: the spell still lasts until the data ends, so the battery's fate is
    # unknown from day 25 on, and the week before it is not a week without a failure.
    start = 25 * 24
    frame, events, labels = _sleeping_sensor(lambda h: 70, (start, 40 * 24), **replay)
    y = labels.y[FailureType.BATTERY_DEPLETED]
    assert events.battery_dark[0].tolist() == [[start], [40 * 24]]
    assert list(events.censors[0]) == [start]
    assert list(events.starts[FailureType.STALE][0]) == [start]
    assert np.isnan(y[_day_row(frame, 20)])  # its horizon holds the start of the spell
    assert np.isnan(y[_day_row(frame, 26)]) and np.isnan(y[_day_row(frame, 34)])
    assert y[_day_row(frame, 15)] == 0.0
    # Its features read one silence too: its usual silence is still an hour's after day 33.
    assert _at(frame, 0, 36, "silence_vs_usual") > 5.0


def test_a_dead_sensors_silence_runs_on_through_its_bridges_outage_a_live_neighbours_does_not():
    # As above with the bridge down for thirty hours from day 33, 10:10: the dead sensor is one
    # dark spell, its silence one (`dark_silence_hours`, the battery log's). Its three neighbours
    # report every hour but in the outage, again after it: nothing of them is silent, though the
    # outage is longer than a day (the bridge's failure, not theirs).
    start, outage = 25 * 24, (T0 + 33 * DAY_S + 10 * HOUR + 600, T0 + 34 * DAY_S + 16 * HOUR + 600)
    grid, frame, events, _ = _sleeping_grid(lambda h: 70, (start, 40 * 24), bridge_down=outage)
    assert grid.bridge_down[:, 33 * 24 + 11].tolist() == [1, 1, 1, 1]
    assert events.battery_dark[0].tolist() == [[start], [40 * 24]]
    assert list(events.starts[FailureType.STALE][0]) == [start]
    dark = dark_silence_hours(grid, 0)
    assert not dark[:start].any() and dark[start:].all()
    for i in (1, 2, 3):
        assert events.starts[FailureType.STALE][i].size == 0
        assert events.stale_spans[i].shape[1] == 0
        assert not dark_silence_hours(grid, i).any()
        assert _at(frame, i, 36, "silence_vs_usual") < 0.1  # hourly again since day 34


def test_a_sensors_own_outage_still_ends_its_silence():
    # The same dead sensor unavailable on its own for eight hours on day 33 (its neighbours
    # live): its own outage, a failure of its own, ends the silence as it always did. The
    # silence before it ends there (neither its battery's end nor of unknown end), and the
    # silence after it is not unusual against the eight days just before.
    start, away = 25 * 24, (T0 + 33 * DAY_S + 10 * HOUR + 600, T0 + 33 * DAY_S + 18 * HOUR + 600)
    grid, _, events, _ = _sleeping_grid(lambda h: 70, (start, 40 * 24), own_down=away)
    assert grid.bridge_down.sum() == 0
    outage = 33 * 24 + 10
    assert list(events.starts[FailureType.UNAVAILABLE][0]) == [outage]
    assert events.battery_dark[0].shape[1] == 0 and events.censors[0].size == 0
    assert list(events.starts[FailureType.STALE][0]) == [start]
    assert events.stale_spans[0].tolist() == [[start], [outage]]
    dark = dark_silence_hours(grid, 0)
    assert dark[start:outage].all() and not dark[outage:].any()


def test_a_live_device_reports_after_its_bridge_is_back():
    # Four devices on a bridge down for three hours. Back up, the bridge restores their held
    # states (no sign of life); then each reports: "b" a new value within seconds, the others
    # at their next hourly report. Those are signs of life, the restored rows are not.
    hour = 10 * 24 + 10
    down = (T0 + hour * HOUR + 600, T0 + (hour + 3) * HOUR + 600)
    states = {}
    for i, key in enumerate("abcd"):
        times, values = _bridge_outage(*_hourly(20, lambda h, i=i: f"{18 + i + (h % 5) / 10:.1f}"), down)
        if key == "b":
            times, values = [*times, down[1] + 90.0], [*values, "25.0"]
            order = np.argsort(times, kind="stable")
            times, values = [times[j] for j in order], [values[j] for j in order]
        states[f"sensor.{key}"] = encode_states(times, values)
    grid = _four_on_one_bridge(states, days=20)
    assert grid.bridge_down[:, hour + 1].tolist() == [1.0] * 4
    reports = grid["reports"]
    # hour + 3: the restore (no report), "b"'s new value (a report); hour + 4: the hourly reports
    assert reports[:, hour + 3].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert reports[:, hour + 4].tolist() == [1.0] * 4
    assert reports[:, hour].tolist() == [1.0] * 4


def test_a_device_back_from_its_own_outage_reports_though_its_bridge_blinked_meanwhile():
    # "a" is unavailable on its own from day 3 to day 9 (a battery swap late), and comes back
    # with its old state: its own return, a sign of life. On day 5 its three neighbours blink
    # for ten minutes (the bridge "out" that hour); that is not the return that ends a's spell.
    away = (T0 + 3 * DAY_S + 600, T0 + 9 * DAY_S + 600)
    blink = (T0 + 5 * DAY_S + 1200, T0 + 5 * DAY_S + 1800)
    states = {"sensor.a": encode_states([T0 + 60, away[0], away[1] + 30.0], ["off", "unavailable", "off"])}
    for key in "bcd":
        times, values = _bridge_outage(*_hourly(12, lambda h: f"{20 + (h % 5) / 10:.1f}"), blink)
        states[f"sensor.{key}"] = encode_states(times, values)
    grid = _four_on_one_bridge(states, days=12)
    assert grid["reports"][0, 9 * 24] == 1.0  # a's return
    assert grid["reports"][1:, 5 * 24].tolist() == [1.0] * 3  # their hourly report; the restore is none


def test_a_restored_states_re_report_by_the_bridge_is_no_sign_of_life_a_later_one_is():
    # Four devices on a bridge down for three hours; "a" and "d" are dead (nothing after the
    # bridge's restore of their held state). The bridge writes a's state again a minute later
    # (HA re-reports in place: `last_reported`): no sign of life either. d's state is reported
    # again two hours later: that one is.
    hour = 5 * 24 + 10
    down = (T0 + hour * HOUR + 600, T0 + (hour + 3) * HOUR + 600)
    states = {}
    for key in "abcd":
        times, values = _bridge_outage(*_hourly(8, lambda h: "off"), down)
        if key in "ad":
            kept = [t < down[1] + 60.0 for t in times]  # dead: the restore is the last row
            times = [t for t, k in zip(times, kept, strict=True) if k]
            values = [v for v, k in zip(values, kept, strict=True) if k]
        series = encode_states(times, values)
        if key in "ad":
            again = np.full(len(times), np.nan)
            again[-1] = times[-1] + (60.0 if key == "a" else 2 * HOUR)
            series = replace(series, last_reported=again)
        states[f"sensor.{key}"] = series
    grid = _four_on_one_bridge(states, days=8)
    reports = grid["reports"]
    assert reports[:, hour + 3].tolist() == [0.0] * 4  # restores (and a's re-report): none
    assert reports[:, hour + 4].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert reports[3, hour + 5] == 1.0  # d's own re-report, two hours after the restore


def test_a_day_inside_the_silence_a_stale_failure_started_is_not_predicted():
    # Silent from noon of day 22 until the data ends (day 40); HA restarts on day 23 and replays
    # its held state after `unavailable`, no sign of life. The row of day 23 sees 12 h of the
    # silence, not yet unusually long by its own features, but the stale failure started at
    # hour 540: it is under way, not a day with no failure ahead (before the replay rule, the
    # replay cut the silence and a second stale start after it made this row a positive).
    start = 22 * 24 + 12
    frame, events, labels = _sleeping_sensor(
        lambda h: 70, (start, 40 * 24), restarts=(T0 + 23 * DAY_S + 6 * HOUR,)
    )
    y = labels.y[FailureType.STALE]
    assert list(events.starts[FailureType.STALE][0]) == [start]
    assert _at(frame, 0, 23, "silence_vs_usual") < 1.0
    assert np.isnan(y[_day_row(frame, 23)])
    assert np.isnan(y[_day_row(frame, 30)])
    assert y[_day_row(frame, 22)] == 1.0
    assert y[_day_row(frame, 10)] == 0.0
    assert events.stale_spans[0].tolist() == [[start], [40 * 24]]


def test_a_day_inside_the_dark_spell_that_ended_its_battery_is_not_predicted():
    # Silent from noon of day 25 at 45 %: the row of day 26 sees 12 h of it, not yet a day.
    # Silent until the data ends (day 40), its battery's fate is unknown; back on a fresh one,
    # it had died. Either way the failure, or not knowing, is already under way on day 26.
    for back, days, depleted in ((45, 15, False), (100, 3, True)):
        events, labels, frame = _silent_battery_labels(45, back, dark_from=25.5, dark_days=days)
        assert (events.depletions[0].size > 0) == depleted
        start = 25 * 24 + 12
        assert events.battery_dark[0].tolist() == [[start], [min(start + days * 24, 40 * 24)]]
        row = _day_row(frame, 26)
        assert frame.column("hours_since_report")[row] < 24  # not yet dark for a day
        assert np.isnan(labels.y[FailureType.BATTERY_DEPLETED][row])
    # Silent as long and back on the same battery: an outage, not its battery; the day is predicted.
    events, labels, frame = _silent_battery_labels(45, 45, dark_from=25.5, dark_days=3)
    assert events.battery_dark[0].shape == (2, 0)
    assert labels.y[FailureType.BATTERY_DEPLETED][_day_row(frame, 26)] == 0.0
    # A spell that begins at the row's own hour is still ahead of it: the day before it dies.
    events, labels, frame = _silent_battery_labels(45, 100, dark_from=26, dark_days=3)
    assert events.battery_dark[0].tolist() == [[26 * 24], [29 * 24]]
    assert labels.y[FailureType.BATTERY_DEPLETED][_day_row(frame, 26)] == 1.0


def test_a_death_a_day_after_the_battery_read_empty_is_still_its_dark_spell():
    # Reads 5 % at hour 600, 6 % until 611, silent 612-683, back on a fresh battery: one
    # depletion (the reading at the floor), and the silence that ended it is still dark.
    frame, events, labels = _sleeping_sensor(
        lambda h: 45 if h < 600 else 5 if h == 600 else 6 if h < 612 else 100, (612, 684)
    )
    assert list(events.depletions[0]) == [600]
    assert events.battery_dark[0].tolist() == [[612], [684]]
    assert np.isnan(labels.y[FailureType.BATTERY_DEPLETED][_day_row(frame, 26)])  # 12 h into it


def test_the_row_at_the_hour_a_dark_spell_ends_still_saw_only_the_dark():
    # Unavailable at 10 % from hour 612 until 624, back on a fresh battery at the row's hour
    # (a swap at a low level, so no censor): the row of day 26 (hour 624) saw twelve hours dark
    # and not yet the return. The day before, its death was coming; the day after, a fresh one.
    events, labels, frame = _battery_labels(
        lambda h: "unavailable" if 612 <= h < 624 else 10 if h < 612 else 100
    )
    assert events.battery_dark[0].tolist() == [[612], [624]]
    assert (list(events.depletions[0]), events.censors[0].size) == ([612], 0)
    assert frame.eval_hour[_day_row(frame, 26)] == 624
    y = labels.y[FailureType.BATTERY_DEPLETED]
    assert (y[_day_row(frame, 25)], y[_day_row(frame, 27)]) == (1.0, 0.0)
    assert np.isnan(y[_day_row(frame, 26)])


def test_events_found_on_a_grid_tail_are_shifted_into_the_whole_grids_hours():
    # The nightly learning reads events off the grid's tail (ml/learning.py): shifted back,
    # every battery event and dark spell is where the whole grid puts it.
    history = _home(
        [_device("a")],
        [EntityRecord(entity_id="sensor.a_battery", device_key="a", role=EntityRole.BATTERY)],
        {
            "sensor.a_battery": encode_states(
                *_hourly(40, lambda h: "unavailable" if 612 <= h < 640 else "10" if h < 612 else "100")
            )
        },
        days=40,
    )
    whole = find_events(build_grid(history))
    assert whole.battery_dark[0].size and whole.depletions[0].size
    for lo in (120, 240):
        tail = _shifted(find_events(grid_tail(build_grid(history), lo)), lo)
        for name in ("battery_dark", "depletions", "censors", "stale_spans"):
            np.testing.assert_array_equal(getattr(tail, name)[0], getattr(whole, name)[0], err_msg=name)


def test_no_days_remaining_are_labelled_inside_the_dark_spell():
    # At 20 % it falls silent from hour 612 to 684 (dead on its battery) and comes back reading
    # 20 % again, then 4 % from hour 720: the day inside the spell has no days remaining.
    frame, events, labels = _sleeping_sensor(lambda h: 4 if h >= 720 else 20, (612, 684))
    assert np.isnan(labels.battery_days[_day_row(frame, 26)])
    assert labels.battery_days[_day_row(frame, 24)] == pytest.approx(612 / 24 - 24)
    # No swap since (its level never jumped): the same battery, which ran out once.
    assert list(events.depletions[0]) == [612]
    assert np.isnan(labels.y[FailureType.BATTERY_DEPLETED][_day_row(frame, 29)])


def test_an_outage_that_is_the_battery_running_out_is_a_battery_failure_only():
    # Reaches 5 % on day ~18.3 and dies on day 20 (dark two days): one battery failure, no outage of its own.
    def levels(h: int) -> str:
        day = h / 24
        if 20 <= day < 22:
            return "unavailable"
        return "100" if day >= 22 else str(max(round(60 - day * 3.0), 0))

    events, labels, frame = _battery_labels(levels)
    assert events.starts[FailureType.BATTERY_DEPLETED][0][0] / 24 == pytest.approx(18.3, abs=0.3)
    assert events.starts[FailureType.UNAVAILABLE][0].size == 0
    assert labels.y[FailureType.UNAVAILABLE][_day_row(frame, 16)] == 0.0


def test_an_outage_of_a_healthy_battery_device_is_an_outage():
    # Dark for ten hours on day 20 at 80 %, back at 80 %: going offline, not its battery.
    def levels(h: int) -> str:
        return "unavailable" if 20 * 24 <= h < 20 * 24 + 10 else "80"

    events, labels, frame = _battery_labels(levels)
    assert list(events.starts[FailureType.UNAVAILABLE][0]) == [20 * 24]
    assert events.starts[FailureType.BATTERY_DEPLETED][0].size == 0
    assert labels.y[FailureType.UNAVAILABLE][_day_row(frame, 16)] == 1.0


def test_days_remaining_are_not_labelled_across_a_swap():
    # Swapped at 60 % on day 10, the new battery (100 %, 5 %/day) runs out on day ~29.
    def levels(h: int) -> int:
        return round(80 - h / 24) if h < 10 * 24 else max(round(100 - (h / 24 - 10) * 5.0), 0)

    events, labels, frame = _battery_labels(levels)
    (depleted,) = events.depletions[0]
    assert np.isnan(labels.battery_days[_day_row(frame, 5)])  # that battery was swapped, not run out
    assert labels.battery_days[_day_row(frame, 20)] == pytest.approx(depleted / 24 - 20, abs=0.01)


# ---------------------------------------------------------------- schema 3: against the device's own past


def _mains_home(down_fns, days: int = 40):
    """Mains Zigbee devices reporting every hour, device k unavailable where down_fns[k](h)."""
    devices, entities, states = [], [], {}
    for k, down in enumerate(down_fns):
        key = f"d{k}"
        times, values = _hourly(days, lambda h, down=down: "unavailable" if down(h) else str(h % 3))
        devices.append(_device(key, via=None, power=Power.MAINS))
        entities.append(EntityRecord(entity_id=f"sensor.{key}", device_key=key, role=EntityRole.PRIMARY))
        states[f"sensor.{key}"] = encode_states(times, values)
    return _home(devices, entities, states, days=days)


def test_an_always_flaky_device_is_judged_against_its_own_past():
    # d0 drops offline for an hour every day; d1 never did, until three dropouts on days 33-35.
    flaky = lambda h: h % 24 == 3  # noqa: E731
    newly = lambda h: divmod(h, 24)[0] in (33, 34, 35) and h % 24 == 3  # noqa: E731
    _, frame = _frame(_mains_home([flaky, newly]))
    assert _at(frame, 0, 37, "drops_7d") > _at(frame, 1, 37, "drops_7d")
    # Judged against itself the flaky device is as usual, the other one is not.
    assert _at(frame, 0, 37, "drops_7d_vs_own") == pytest.approx(1.0, abs=0.35)
    assert _at(frame, 1, 37, "drops_7d_vs_own") > 2.0 * _at(frame, 0, 37, "drops_7d_vs_own")
    assert _at(frame, 0, 37, "own_drop_rate") == pytest.approx(1.0, abs=0.3)
    # The quiet device's own rate is shrunk toward its home's Zigbee devices, not zero.
    assert 0.0 < _at(frame, 1, 30, "own_drop_rate") < _at(frame, 0, 30, "own_drop_rate")
    assert _at(frame, 1, 37, "unavailable_7d_vs_own") > _at(frame, 0, 37, "unavailable_7d_vs_own")


def test_the_last_three_days_are_judged_against_the_devices_own_dropouts():
    # d0 drops for an hour every day; d1 too, until its outages last four hours on days 34-36;
    # d2 too, until it drops four times a day on days 34-36.
    flaky = lambda h: h % 24 == 3  # noqa: E731
    longer = lambda h: h % 24 == 3 or (divmod(h, 24)[0] in (34, 35, 36) and 3 <= h % 24 < 7)  # noqa: E731
    oftener = lambda h: h % 24 == 3 or (divmod(h, 24)[0] in (34, 35, 36) and h % 6 == 3)  # noqa: E731
    _, frame = _frame(_mains_home([flaky, longer, oftener]))
    # As usual for the flaky device: about its own rate, about its own length (log ratio ~0).
    assert _at(frame, 0, 37, "drops_3d_vs_own") == pytest.approx(1.0, abs=0.3)
    assert _at(frame, 0, 37, "outage_length_vs_own") == pytest.approx(0.0, abs=0.2)
    # Longer dropouts, not more of them; more of them, not longer.
    assert _at(frame, 1, 37, "outage_length_vs_own") > np.log(2.5)
    assert _at(frame, 1, 37, "drops_3d_vs_own") == pytest.approx(1.0, abs=0.3)
    assert _at(frame, 2, 37, "drops_3d_vs_own") > 2.5
    assert _at(frame, 2, 37, "outage_length_vs_own") == pytest.approx(0.0, abs=0.2)
    # Before the change all three look alike.
    for device in range(3):
        assert _at(frame, device, 33, "outage_length_vs_own") == pytest.approx(0.0, abs=0.2)


def test_no_dropout_lately_has_no_length_ratio():
    quiet_lately = lambda h: h % 24 == 3 and h < 30 * 24  # noqa: E731
    _, frame = _frame(_mains_home([quiet_lately]))
    assert np.isnan(_at(frame, 0, 37, "outage_length_vs_own"))
    assert _at(frame, 0, 37, "drops_3d_vs_own") < 0.5


def test_outages_getting_longer_are_features_and_match_the_heuristic():
    from homeiq_lab.heuristics import grid_heuristics

    # Outages of 2, 3, 6 and 12 hours starting on days 10, 14, 18 and 22 at 02:00.
    outages = {10: 2, 14: 3, 18: 6, 22: 12}

    def down(h: int) -> bool:
        day, hour = divmod(h, 24)
        return day in outages and 2 <= hour < 2 + outages[day]

    grid, frame = _frame(_mains_home([down]))
    assert np.isnan(_at(frame, 0, 14, "outage_growth"))  # one outage so far: no trend
    assert _at(frame, 0, 24, "outage_growth") == pytest.approx(12.0 / 3.0)
    assert _at(frame, 0, 24, "outage_slope") > 0.3
    extra = grid_heuristics(grid, default_eval_hours(grid))
    rows = np.flatnonzero(frame.device_index == 0)
    np.testing.assert_array_equal(extra[rows, 0], frame.column("outage_growth")[rows])


def test_a_device_dead_all_window_with_only_restarts_unavailable_rows_builds_a_grid():
    # Dead for weeks: its only rows in the window are the `unavailable` HA writes a second after
    # each restart. The replay rule looks for the state before them, and there is none.
    restarts = [T0 + 2 * DAY_S, T0 + 6 * DAY_S]
    devices = [_device("live"), _device("dead")]
    entities = [
        EntityRecord(entity_id="sensor.live", device_key="live", role=EntityRole.PRIMARY),
        EntityRecord(entity_id="binary_sensor.dead", device_key="dead", role=EntityRole.PRIMARY),
    ]
    states = {
        "sensor.live": encode_states(*_hourly(10, lambda h: f"{20 + (h % 5) / 10:.1f}")),
        "binary_sensor.dead": encode_states([r + 2.0 for r in restarts], ["unavailable"] * 2),
    }
    grid = build_grid(_home(devices, entities, states, restarts=restarts, days=10))
    assert grid["reports"][1].sum() == 0
    assert grid["reports"][0].sum() == 10 * 24


def test_a_device_dark_for_a_day_from_a_low_level_is_a_battery_to_replace_now():
    # An hourly sensor falls silent (or goes unavailable alone) 8 h before day 20's row. On day
    # 21's row it has been dark 32 h: from 20 % its battery died, as the labels read it (one
    # failure, a battery to replace); from 45 % it is going stale, or offline.
    dark = (20 * 24 - 8, 40 * 24)
    own = (T0 + dark[0] * HOUR, T0 + 40 * DAY_S)
    for level, silent, own_down, shown in (
        (20, dark, None, FailureType.BATTERY_DEPLETED),
        (45, dark, None, FailureType.STALE),
        (20, (0, 0), own, FailureType.BATTERY_DEPLETED),
        (45, (0, 0), own, FailureType.UNAVAILABLE),
    ):
        _, frame, _, _ = _sleeping_grid(lambda h, v=level: v, silent, own_down=own_down)
        failing = _failing_now(frame)
        row = _day_row(frame, 21)
        assert [t for t in failing if failing[t][row]] == [shown], (level, own_down)
        if shown is FailureType.BATTERY_DEPLETED:  # says why: its level, and how long it is dark
            reasons = _failing_reasons(frame.X[row], shown)
            assert [r.text for r in reasons] == [
                "battery at 20%",
                "no report for 32 h" if own_down is None else "unavailable for 32 h now",
            ]
        before = _day_row(frame, 20)  # dark 8 h: not yet a day
        assert not failing[FailureType.BATTERY_DEPLETED][before]


def test_live_devices_behind_a_long_bridge_outage_are_not_silent_when_it_ends():
    # Four devices reporting hourly behind a bridge down for 30 hours. The hour it is back, and
    # until each reports again, their silence is the hours without a report while the bridge was
    # up (none): not stale now, as the labels say (no stale event).
    down = (T0 + 33 * DAY_S + 10 * HOUR + 600, T0 + 34 * DAY_S + 16 * HOUR + 600)
    states = {
        f"sensor.{key}": encode_states(
            *_bridge_outage(*_hourly(40, lambda h, i=i: f"{18 + i + (h % 5) / 10:.1f}"), down)
        )
        for i, key in enumerate("abcd")
    }
    history = _four_on_one_bridge_home(states, days=40)
    grid = build_grid(history)
    assert all(starts.size == 0 for starts in find_events(grid).starts[FailureType.STALE])
    back = 34 * 24 + 17  # the first hour after the bridge's return, before the hourly reports
    frame = build_features(history, grid, np.array([back]))
    assert frame.column("hours_since_report").tolist() == [30.0] * 4
    assert (frame.column("silence_vs_usual") < 0.1).all()
    assert not _failing_now(frame)[FailureType.STALE].any()


# The bridge of `_stuck_behind_bridge` down for 30 hours: from 10:10 on day 25 (hours 610 to 639
# unavailable for most of each hour; back at 16:10 on day 26, hour 640).
BRIDGE_DOWN_DAY_25 = (T0 + 25 * DAY_S + 10 * HOUR + 600, T0 + 26 * DAY_S + 16 * HOUR + 600)


def _stuck_behind_bridge(
    stuck_from: int,
    *,
    bridge_down: tuple[float, float] | None = None,
    own_down: tuple[float, float] | None = None,
    days: int = 40,
):
    """Four numeric sensors behind one bridge, each reporting a new value every hour; sensor "a"
    holds one value from hour `stuck_from` on, still reporting it every hour (stuck, not silent).

    With `bridge_down` (from, to), the bridge is down then for all four (`_bridge_outage`); with
    `own_down`, "a" alone is unavailable then. Its grid, frame, events and labels."""
    states = {}
    for i, key in enumerate("abcd"):
        times, values = _hourly(days, lambda h, i=i: f"{18 + i + (h % 5) / 10:.1f}")
        if key == "a":
            values = [values[min(h, stuck_from - 1)] for h in range(len(values))]
        times, values = _bridge_outage(times, values, bridge_down)
        if key == "a":
            times, values = _bridge_outage(times, values, own_down)
        states[f"sensor.{key}"] = encode_states(times, values)
    history = _four_on_one_bridge_home(states, days=days)
    grid, frame = _frame(history)
    events = find_events(grid)
    return grid, frame, events, build_labels(grid, frame, events)


@pytest.mark.parametrize(
    "stuck_from",
    # Stuck 34 hours before the outage: the 320 still hours after it were a second stale failure
    # (more than twice the 34 before). Stuck 10 hours before it: its stale failure started only
    # when the bridge was back (a week ahead of day 19, its row read "no failure ahead").
    [24 * 24, 25 * 24],
    ids=["cut_in_two", "started_late"],
)
def test_a_stuck_sensors_stillness_runs_on_through_its_bridges_outage(stuck_from: int):
    # A bridge back restores the value it held: a stuck sensor is as stuck after the outage as
    # before it. Its stillness is one, from the hour it stuck until the data ends; the rows
    # after the outage are inside it (under way), the earliest row whose week holds its start is
    # positive. Its three neighbours change every hour but in the outage, again after it:
    # nothing of them is still (the outage is the bridge's failure, not theirs).
    grid, frame, events, labels = _stuck_behind_bridge(stuck_from, bridge_down=BRIDGE_DOWN_DAY_25)
    assert grid.bridge_down[:, 610].tolist() == [1, 1, 1, 1] and grid.bridge_down[:, 640].sum() == 0
    assert grid["reports"][0, 700] == 1.0 and grid["changes"][0, stuck_from:].sum() == 0
    assert list(events.starts[FailureType.STALE][0]) == [stuck_from]
    assert events.stale_spans[0].tolist() == [[stuck_from], [40 * 24]]
    y = labels.y[FailureType.STALE]
    assert y[_day_row(frame, stuck_from // 24 - 6)] == 1.0
    assert np.isnan(y[_day_row(frame, 27)]) and np.isnan(y[_day_row(frame, 35)])
    for i in (1, 2, 3):
        assert events.starts[FailureType.STALE][i].size == 0
        assert events.stale_spans[i].shape[1] == 0


def test_a_stuck_sensors_own_outage_still_ends_its_stillness_its_bridges_does_not():
    # Stuck from day 24, through its bridge's outage on day 25 (the stillness runs on), then
    # unavailable on its own for eight hours on day 33 (its neighbours live): its own outage, a
    # failure of its own, ends the stillness. The 150 still hours after it are not unusual
    # against the 196 before.
    stuck_from, away = 24 * 24, (T0 + 33 * DAY_S + 10 * HOUR + 600, T0 + 33 * DAY_S + 18 * HOUR + 600)
    grid, _, events, _ = _stuck_behind_bridge(stuck_from, bridge_down=BRIDGE_DOWN_DAY_25, own_down=away)
    outage = 33 * 24 + 10
    assert grid.bridge_down[:, outage].sum() == 0
    assert list(events.starts[FailureType.UNAVAILABLE][0]) == [outage]
    assert list(events.starts[FailureType.STALE][0]) == [stuck_from]
    assert events.stale_spans[0].tolist() == [[stuck_from], [outage]]


def test_stillness_vs_usual_does_not_count_a_bridges_outage_hours():
    # The stillness under way as the labels count it. "a", stuck from day 24 (its last change at
    # hour 575), on day 27 has not changed for 72 hours, 30 of them its bridge's outage: 42 still
    # hours against its usual (none: 24 h at least). Its neighbours, the hour after the bridge is
    # back and before their next hourly value, last changed 30 hours before (in the bridge's
    # first hour out, before it went down), the 29 hours since all the outage's: not still (for
    # the labels, not "stale now"). hours_since_change keeps the outage's hours (the value was
    # last seen to change then).
    _, frame, _, _ = _stuck_behind_bridge(24 * 24, bridge_down=BRIDGE_DOWN_DAY_25)
    assert _at(frame, 0, 27, "hours_since_change") == 72.0
    assert _at(frame, 0, 27, "stillness_vs_usual") == pytest.approx(42 / 24)
    states = {}
    for i, key in enumerate("abcd"):
        times, values = _hourly(40, lambda h, i=i: f"{18 + i + (h % 5) / 10:.1f}")
        states[f"sensor.{key}"] = encode_states(*_bridge_outage(times, values, BRIDGE_DOWN_DAY_25))
    history = _four_on_one_bridge_home(states, days=40)
    back = 641  # the first hour after the bridge's return (its restore), before the hourly values
    frame = build_features(history, build_grid(history), np.array([back]))
    assert frame.column("hours_since_change").tolist() == [30.0] * 4
    assert (frame.column("stillness_vs_usual") < 0.1).all()


def test_a_device_not_seen_yet_is_not_labelled_before_its_first_record():
    # d0 reports every hour from day 10 on; nothing of it before. Its rows before then have no
    # feature at all (NaN, age_days too): "too new a device" is not predicted, for any target.
    grid, frame = _frame(_sensor_reporting(30, first_hour=10 * 24))
    assert grid.first_seen[0] == 10 * 24
    labels = build_labels(grid, frame, find_events(grid), horizon_days=7)
    unseen = frame.eval_hour <= 10 * 24
    assert np.isnan(frame.column("age_days")[unseen]).all()
    for target in (FailureType.UNAVAILABLE, FailureType.STALE):
        assert np.isnan(labels.y[target][unseen]).all(), target
    assert np.isfinite(labels.y[FailureType.UNAVAILABLE][frame.eval_hour == 12 * 24]).all()


def test_an_outage_under_way_when_the_data_ends_leaves_the_days_before_it_unknown():
    # d0 reports every hour and goes unavailable 3 h before the data ends: whether that is an
    # outage of 6 h (a failure) is not known yet. Day 23's row has its whole horizon in the data
    # (hours 552..719) and the outage began inside it: it is not known to be free of failure.
    days = 30
    end = days * 24
    times, values = _hourly(days, lambda h: "unavailable" if h >= end - 3 else str(h % 3))
    history = _home(
        [_device("d0", via=None, power=Power.MAINS)],
        [EntityRecord(entity_id="sensor.d0", device_key="d0", role=EntityRole.PRIMARY)],
        {"sensor.d0": encode_states(times, values)},
        days=days,
    )
    grid, frame = _frame(history)
    labels = build_labels(grid, frame, find_events(grid), horizon_days=7)
    y = labels.y[FailureType.UNAVAILABLE]
    assert y[frame.eval_hour == end - 8 * 24][0] == 0.0  # its horizon ends before the outage
    assert np.isnan(y[frame.eval_hour == end - 7 * 24][0])


def test_a_silence_under_way_when_the_data_ends_leaves_the_days_before_it_unknown():
    # d0 reports every hour and falls silent 10 h before the data ends: whether that becomes an
    # unusual silence (a stale failure starting where it began) is not known yet.
    end = 30 * 24
    grid, frame = _frame(_sensor_reporting(30, last_hour=30 * 24 - 10))
    events = find_events(grid)
    assert events.starts[FailureType.STALE][0].size == 0  # not unusual yet
    assert events.pending[FailureType.STALE][0].tolist() == [end - 10]
    y = build_labels(grid, frame, events, horizon_days=7).y[FailureType.STALE]
    assert y[frame.eval_hour == end - 8 * 24][0] == 0.0  # its horizon ends before the silence
    assert np.isnan(y[frame.eval_hour == end - 7 * 24][0])


def test_a_silence_that_already_became_a_failure_is_not_pending():
    # Silent for the last 3 days: an unusual silence, a stale failure that started; nothing pends.
    end = 30 * 24
    grid, frame = _frame(_sensor_reporting(30, last_hour=30 * 24 - 72))
    events = find_events(grid)
    assert events.starts[FailureType.STALE][0].tolist() == [end - 72]
    assert events.pending[FailureType.STALE][0].size == 0
    y = build_labels(grid, frame, events, horizon_days=7).y[FailureType.STALE]
    assert y[frame.eval_hour == end - 9 * 24][0] == 1.0


def test_the_power_feature_reads_only_what_home_assistant_tells():
    # The live integration knows a battery or nothing (`discovery`: BATTERY or UNKNOWN); the
    # generator and the registry-less recorder reader also know mains and rechargeable. Trained
    # on those, the models would read a live plug as a device they never saw.
    def power_of(power: Power) -> float:
        device = replace(_device("a", power=power), chemistry=Chemistry.NONE)
        entities = [EntityRecord(entity_id="switch.a", device_key="a", role=EntityRole.PRIMARY)]
        history = _home([device], entities, {"switch.a": encode_states(*_hourly(3, lambda h: "on"))}, days=3)
        frame = build_features(history, build_grid(history), np.array([48]))
        return float(frame.column("power")[0])

    assert np.isnan(power_of(Power.MAINS)) and np.isnan(power_of(Power.UNKNOWN))
    assert power_of(Power.RECHARGEABLE) == power_of(Power.BATTERY) == 1.0
