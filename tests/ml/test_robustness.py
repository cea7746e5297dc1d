"""Bad input never breaks the feature pipeline: arbitrary histories in, well-formed arrays out."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_components.homeiq_device_intel.ml.features import (
    FEATURE_NAMES,
    LINEAR_DAYS_CAP,
    FeatureFrame,
    build_features,
)
from custom_components.homeiq_device_intel.ml.grid import (
    CHANNELS,
    HOUR,
    HourlyGrid,
    build_grid,
    channel_dtype,
)
from custom_components.homeiq_device_intel.ml.labels import (
    TARGETS,
    FailureEvents,
    Labels,
    build_labels,
    find_events,
)
from custom_components.homeiq_device_intel.ml.records import (
    UNAVAILABLE,
    UNKNOWN,
    Chemistry,
    DeviceRecord,
    EntityRecord,
    EntityRole,
    HomeHistory,
    Power,
    Protocol,
    StatSeries,
    encode_states,
)
from custom_components.homeiq_device_intel.ml.scoring import score_home
from tests.tiny_models import tiny_bundle

T0 = 1_700_000_000.0 - (1_700_000_000.0 % 86400)
DAY_S = 86400.0
GHOST = "ghost"  # a device id no DeviceRecord describes

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NASTY_STATES = (
    "unavailable",
    "unknown",
    "",
    "None",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "-1e309",
    "1e300",
    "3.5e38",
    "1e30",
    "-1e30",
    "-5",
    "150",
    "255",
    "0",
    "100",
    "42.5",
    " 7 ",
    "1_000",
    "on",
    "off",
    "low",
)
state_strings = st.one_of(
    st.sampled_from(NASTY_STATES),
    st.text(max_size=6),
    st.floats().map(str),
    st.integers(-(10**20), 10**20).map(str),
)
finite_times = st.floats(T0 - 2 * DAY_S, T0 + 6 * DAY_S)
# Whole hours repeat often, so duplicate timestamps are common.
times = st.one_of(
    finite_times,
    st.integers(-48, 150).map(lambda h: T0 + h * HOUR),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)
anything = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def stat_series(draw: st.DrawFn) -> StatSeries:
    """Hourly statistics with NaN, min > max, duplicated and unsorted hours."""
    n = draw(st.integers(0, 12))
    hour = st.one_of(st.integers(-48, 150).map(lambda h: T0 + h * HOUR), st.just(math.nan))
    value = st.one_of(anything, st.floats(-10.0, 200.0))

    def column(strategy: st.SearchStrategy[float]) -> np.ndarray:
        return np.array(draw(st.lists(strategy, min_size=n, max_size=n)), dtype=np.float64)

    return StatSeries(start=column(hour), mean=column(value), min=column(value), max=column(value))


@st.composite
def histories(draw: st.DrawFn) -> HomeHistory:
    """A home whose every record may be garbage."""
    devices = [
        DeviceRecord(
            device_key=f"d{i}",
            name=f"d{i}",
            integration=draw(st.sampled_from(["zha", "mqtt"])),
            protocol=draw(st.sampled_from(Protocol)),
            power=draw(st.sampled_from(Power)),
            chemistry=draw(st.sampled_from(Chemistry)),
            via_device_key=draw(st.sampled_from([None, "bridge"])),
        )
        for i in range(draw(st.integers(0, 4)))
    ]
    owners = [d.device_key for d in devices] + [GHOST]
    entities, states, statistics = [], {}, {}
    for k in range(draw(st.integers(0, 8))):
        entity_id = f"sensor.e{k}"
        entities.append(
            EntityRecord(
                entity_id=entity_id,
                device_key=draw(st.sampled_from(owners)),
                role=draw(st.sampled_from(EntityRole)),
            )
        )
        rows = draw(st.lists(st.tuples(times, state_strings), max_size=25))
        if rows or draw(st.booleans()):
            states[entity_id] = encode_states([t for t, _ in rows], [s for _, s in rows])
        if draw(st.booleans()):
            statistics[entity_id] = draw(stat_series())
    swaps = {
        draw(st.sampled_from(owners)): np.array(draw(st.lists(times, max_size=3)), dtype=np.float64)
        for _ in range(draw(st.integers(0, 2)))
    }
    return HomeHistory(
        home_id="fuzz",
        start=T0,
        # end before start and zero length included
        end=T0 + draw(st.one_of(st.just(0.0), st.floats(-2 * DAY_S, 5 * DAY_S))),
        devices=devices,
        entities=entities,
        states=states,
        statistics=statistics,
        battery_swaps=swaps,
        restarts=np.array(draw(st.lists(times, max_size=5)), dtype=np.float64),
    )


def _pipeline(history: HomeHistory) -> tuple[HourlyGrid, FeatureFrame, FailureEvents, Labels]:
    grid = build_grid(history)
    frame = build_features(history, grid, np.arange(1, grid.n_hours + 1, dtype=np.int64))
    events = find_events(grid)
    return grid, frame, events, build_labels(grid, frame, events)


def _within(values: np.ndarray, low: float, high: float) -> bool:
    """True when every value is NaN or within [low, high]."""
    known = values[~np.isnan(values)]
    return bool(np.all((known >= low) & (known <= high)))


# ---------------------------------------------------------------- encode_states


@PROPERTY
@given(st.lists(st.tuples(times, state_strings), max_size=40))
def test_encode_states_keeps_finite_times_sorted_and_codes_every_state(rows):
    series = encode_states([t for t, _ in rows], [s for _, s in rows])
    # Python's sort is stable too: rows with equal times keep their order.
    kept = sorted(((t, s) for t, s in rows if math.isfinite(t)), key=lambda row: row[0])
    np.testing.assert_array_equal(series.time, np.array([t for t, _ in kept], dtype=np.float64))
    assert series.value.shape == series.code.shape == (len(kept),)
    assert not np.any(np.isinf(series.value))
    for (_, state), code, value in zip(kept, series.code, series.value, strict=True):
        if state == "unavailable":
            assert code == UNAVAILABLE
        elif state in ("unknown", "", "None"):
            assert code == UNKNOWN
        else:
            assert series.labels[code] == state
        if code < 0:
            assert math.isnan(value)


def test_encode_states_refuses_times_and_states_of_different_lengths():
    with pytest.raises(ValueError, match="2 times but 3 states"):
        encode_states([T0, T0 + 1], ["1", "2", "3"])


# ---------------------------------------------------------------- grid, features, labels


@PROPERTY
@given(histories())
def test_grid_channels_are_well_formed_for_any_history(history):
    grid = build_grid(history)
    n, hours = len(history.devices), grid.n_hours
    assert hours >= 1
    assert grid.device_keys == [d.device_key for d in history.devices]
    assert set(grid.channels) == set(CHANNELS)
    for name, channel in grid.channels.items():
        assert channel.shape == (n, hours), name
        # Its compact dtype, or float32 for a count channel too large for it; read as float32.
        assert channel.dtype in (np.dtype(channel_dtype(name)), np.float32), name
        assert grid[name].dtype == np.float32, name
        assert not np.any(np.isinf(channel)), name
    assert _within(grid["battery"], 0.0, 100.0)
    assert np.all((grid["unavailable"] >= 0) & (grid["unavailable"] <= 1))
    for name in ("reports", "changes", "drops"):
        assert np.all(grid[name] >= 0), name
        assert np.all(grid[name] == np.round(grid[name])), name
    assert np.isin(grid["battery_low"], (0.0, 1.0)).all()
    assert np.isin(grid.bridge_down, (0.0, 1.0)).all()
    assert grid.bridge_down.shape == (n, hours)
    assert grid.has_battery.shape == grid.first_seen.shape == (n,)
    assert np.all((grid.first_seen >= 0) & (grid.first_seen <= hours))
    assert 0 <= grid.states_from <= hours
    assert len(grid.swap_hours) == n
    for swaps in grid.swap_hours:
        assert np.all(np.diff(swaps) > 0)
        assert np.all((swaps >= 0) & (swaps < hours))


@PROPERTY
@given(histories())
def test_features_are_finite_or_nan_and_battery_features_stay_sane(history):
    grid, frame, _, _ = _pipeline(history)
    n, m = len(history.devices), grid.n_hours
    assert frame.X.shape == (n * m, len(FEATURE_NAMES))
    assert not np.any(np.isinf(frame.X))
    assert frame.device_index.shape == frame.eval_hour.shape == (n * m,)
    col = frame.column
    assert _within(col("battery_level"), 0.0, 100.0)
    assert _within(col("battery_delta_24h"), -100.0, 100.0)
    assert _within(col("battery_days_linear"), 0.0, LINEAR_DAYS_CAP)
    for name in ("battery_low_flag", "has_battery"):
        assert _within(col(name), 0.0, 1.0), name
    assert _within(col("days_since_swap"), 0.0, m / 24)
    assert _within(col("age_days"), 0.0, m / 24)
    assert _within(col("unavailable_hours_24h"), 0.0, 24.0)
    assert _within(col("unavailable_hours_7d"), 0.0, 7 * 24.0)
    assert _within(col("signal_level"), 0.0, 1.0)
    for name in ("bridge_down_24h", "bridge_down_7d"):
        assert _within(col(name), 0.0, 1.0), name
    for name in ("reports_24h", "changes_24h", "drops_24h", "hours_since_report", "hours_unavailable_now"):
        assert _within(col(name), 0.0, math.inf), name


@PROPERTY
@given(histories())
def test_events_and_labels_are_well_formed_for_any_history(history):
    grid, frame, events, labels = _pipeline(history)
    n_rows = frame.X.shape[0]
    for target in TARGETS:
        assert len(events.starts[target]) == len(grid.device_keys)
        for starts in events.starts[target]:
            assert starts.dtype == np.int64
            assert np.all(np.diff(starts) > 0)
            assert np.all((starts >= 0) & (starts < grid.n_hours))
        y = labels.y[target]
        assert y.shape == (n_rows,)
        assert np.all(np.isnan(y) | (y == 0.0) | (y == 1.0))
        assert _within(labels.next_event_hour[target] - frame.eval_hour, 0.0, grid.n_hours)
    assert labels.battery_days.shape == (n_rows,)
    assert _within(labels.battery_days, 0.0, grid.n_hours / 24)


@PROPERTY
@given(histories(), st.floats(-DAY_S, 8 * DAY_S))
def test_score_home_predicts_every_device_with_probabilities_in_unit_interval(history, offset):
    predictions = score_home(history, tiny_bundle(), now=T0 + offset)
    assert [p.device_key for p in predictions] == [d.device_key for d in history.devices]
    for p in predictions:
        assert 0.0 <= p.probability <= 1.0
        assert all(0.0 <= v <= 1.0 for v in p.probabilities.values())
        if p.probabilities:
            assert p.probability == max(p.probabilities.values())
        if p.battery_days is not None:
            assert p.battery_days_low is not None
            assert p.battery_days_high is not None
            assert 0.0 <= p.battery_days_low <= p.battery_days <= p.battery_days_high < math.inf


# ---------------------------------------------------------------- order and duplicates


@PROPERTY
@given(
    st.lists(st.tuples(finite_times, state_strings), max_size=25, unique_by=lambda row: row[0]),
    st.randoms(use_true_random=False),
)
def test_row_order_does_not_change_the_grid(rows, random):
    shuffled = rows.copy()
    random.shuffle(shuffled)

    def grid_of(ordered: list[tuple[float, str]]) -> HourlyGrid:
        history = _battery_home([t for t, _ in ordered], [s for _, s in ordered], days=4)
        return build_grid(history)

    a, b = grid_of(rows), grid_of(shuffled)
    for name in CHANNELS:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@PROPERTY
@given(stat_series(), st.randoms(use_true_random=False))
def test_statistics_row_order_does_not_change_the_grid(stat, random):
    _, unique = np.unique(stat.start, return_index=True)
    base = StatSeries(stat.start[unique], stat.mean[unique], stat.min[unique], stat.max[unique])
    order = np.array(random.sample(range(len(base)), len(base)), dtype=np.int64)
    shuffled = StatSeries(base.start[order], base.mean[order], base.min[order], base.max[order])
    grids = []
    for stats in (base, shuffled):
        history = _battery_home([], [], days=4)
        history.statistics["sensor.battery"] = stats
        grids.append(build_grid(history))
    np.testing.assert_array_equal(grids[0]["battery"], grids[1]["battery"])
    assert grids[0].first_seen.tolist() == grids[1].first_seen.tolist()


# ---------------------------------------------------------------- battery levels


def _battery_home(times: list[float], states: list[str], *, days: int = 10) -> HomeHistory:
    return HomeHistory(
        home_id="battery",
        start=T0,
        end=T0 + days * DAY_S,
        devices=[
            DeviceRecord(
                device_key="d", name="d", integration="zha", power=Power.BATTERY, protocol=Protocol.ZIGBEE
            )
        ],
        entities=[EntityRecord(entity_id="sensor.battery", device_key="d", role=EntityRole.BATTERY)],
        states={"sensor.battery": encode_states(times, states)},
    )


def test_battery_readings_outside_0_to_100_are_ignored_and_the_last_good_level_carries_on():
    times = [T0 + 60, T0 + HOUR + 60, T0 + 2 * HOUR + 60, T0 + 3 * HOUR + 60]
    grid = build_grid(_battery_home(times, ["80", "250", "-3", "1e9"], days=1))
    assert grid["battery"][0, :5].tolist() == [80.0] * 5


def test_garbage_battery_readings_never_make_the_battery_look_empty_or_eternal():
    # A level that drifts 1 %/day, interleaved with garbage a buggy device reports.
    hours = range(0, 10 * 24)
    times = [T0 + h * HOUR + 60 for h in hours]
    garbage = ("-40", "655.35", "1e30", "nan", "-inf", "low")
    states = [garbage[h % 6] if h % 3 == 0 else f"{90 - h / 24:.2f}" for h in hours]
    history = _battery_home(times, states)
    grid = build_grid(history)
    frame = build_features(history, grid, np.array([grid.n_hours], dtype=np.int64))
    assert frame.column("battery_level")[0] == pytest.approx(80.0, abs=0.1)
    assert frame.column("battery_slope_7d")[0] == pytest.approx(-1.0, abs=0.05)
    assert frame.column("battery_days_linear")[0] == pytest.approx(75.0, abs=5.0)
    prediction = score_home(history, tiny_bundle(), now=history.end)[0]
    assert not prediction.failing_now


def test_statistics_outside_0_to_100_do_not_reach_the_battery_channel():
    history = _battery_home([], [], days=1)
    start = T0 + HOUR * np.arange(4)
    history.statistics["sensor.battery"] = StatSeries(
        start=start,
        mean=np.array([70.0, 300.0, -1.0, np.inf]),
        min=np.array([80.0, 0.0, 0.0, 0.0]),  # min > max must not matter either
        max=np.array([60.0, 0.0, 0.0, 0.0]),
    )
    grid = build_grid(history)
    assert grid["battery"][0, :5].tolist() == [70.0] * 5


def test_battery_swaps_and_restarts_outside_the_range_or_not_finite_are_ignored():
    history = _battery_home([T0 + 60], ["50"], days=2)
    history.battery_swaps["d"] = np.array(
        [np.nan, np.inf, -np.inf, T0 - DAY_S, T0 + 9 * DAY_S, T0 + 5 * HOUR]
    )
    history.restarts = np.array([np.nan, T0 + 9 * DAY_S, -np.inf, T0 - DAY_S])
    grid = build_grid(history)
    assert grid.swap_hours[0].tolist() == [5]


# ---------------------------------------------------------------- restarts


def test_an_outage_that_spans_restarts_is_one_episode():
    # HA writes 'unavailable' anew at every restart while the device stays down.
    restarts = [T0 + 2 * HOUR + k * 600 for k in range(6)]
    times = [T0 + 60, T0 + HOUR, *(r + 5 for r in restarts), T0 + 4 * HOUR]
    states = ["on", "unavailable", *["unavailable"] * 6, "on"]
    history = HomeHistory(
        home_id="restarts",
        start=T0,
        end=T0 + 6 * HOUR,
        devices=[DeviceRecord(device_key="d", name="d", integration="zha")],
        entities=[EntityRecord(entity_id="light.d", device_key="d", role=EntityRole.PRIMARY)],
        states={"light.d": encode_states(times, states)},
        restarts=np.array(restarts),
    )
    grid = build_grid(history)
    assert grid["drops"].sum() == 1
    assert grid["unavailable"].sum() == pytest.approx(3.0)


# ---------------------------------------------------------------- logging


def test_bad_battery_readings_are_logged_once_per_entity_per_call(caplog):
    history = _battery_home([T0 + k * 60 for k in range(6)], ["50", "999", "-1", "x", "nan", "40"], days=1)
    history.statistics["sensor.battery"] = StatSeries(
        start=np.array([T0]), mean=np.array([500.0]), min=np.array([0.0]), max=np.array([0.0])
    )
    caplog.set_level(logging.DEBUG, logger=build_grid.__module__)
    build_grid(history)
    records = [r for r in caplog.records if "sensor.battery" in r.getMessage()]
    assert len(records) == 1
    assert "ignored 5 battery readings" in records[0].getMessage()
    build_grid(history)
    assert len([r for r in caplog.records if "sensor.battery" in r.getMessage()]) == 2


def test_an_entity_of_an_unknown_device_is_skipped_and_logged_once(caplog):
    history = _battery_home([T0 + 60], ["50"], days=1)
    history.entities.append(
        EntityRecord(entity_id="sensor.orphan", device_key=GHOST, role=EntityRole.PRIMARY)
    )
    history.states["sensor.orphan"] = encode_states([T0 + 60, T0 + 120], ["1", "2"])
    caplog.set_level(logging.DEBUG, logger=build_grid.__module__)
    grid = build_grid(history)
    assert grid.device_keys == ["d"]
    assert [r.getMessage() for r in caplog.records if "sensor.orphan" in r.getMessage()] == [
        f"sensor.orphan: ignored, its device {GHOST} is unknown"
    ]


def test_good_input_logs_nothing(caplog):
    caplog.set_level(logging.DEBUG, logger=build_grid.__module__)
    build_grid(_battery_home([T0 + 60, T0 + 120], ["50", "49"], days=1))
    assert caplog.records == []
