"""The grid's faster paths give exactly what the plain formulas give.

Counts of many devices' times at once (`_Tally`), levels carried forward from
finite samples (`_last_before`), the restart replays found on the rows near a
restart only (`_replayed_rows`), and signs of life found with the replayed and
restored rows as row numbers, skipping the restart tests where no row can be
near a restart (`_reports`). Each formula here tests every row, with none of
the grid's shortcuts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from custom_components.homeiq_device_intel.ml.grid import (
    BRIDGE_RESTORE_SECONDS,
    HOUR,
    RESTART_REPLAY_SECONDS,
    _bridge_restored_rows,
    _carry_forward,
    _Hours,
    _replayed_rows,
    _reports,
    _Tally,
    _unavailable_share,
)
from custom_components.homeiq_device_intel.ml.records import (
    UNAVAILABLE,
    EntityRecord,
    EntityRole,
    HomeHistory,
    StateSeries,
)

Floats = npt.NDArray[np.float64]
T0 = 1_700_000_000.0 - 1_700_000_000.0 % HOUR


def _count_per_hour(times: Floats, start: float, n_hours: int) -> Floats:
    """Times in each hour of the grid from `start` (times outside it ignored)."""
    hour = np.floor((times - start) / HOUR)
    inside = (hour >= 0) & (hour < n_hours)
    return np.bincount(hour[inside].astype(np.int64), minlength=n_hours).astype(np.float64)


def _replays_formula(series: StateSeries, restarts: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Rows that replay the previous state right after a restart, every row tested."""
    same = np.zeros(len(series), dtype=bool)
    for i in range(1, len(series)):
        # compared with the state before the `unavailable` rows just before it (if any)
        j = i - 1
        while j > 0 and series.code[j] == UNAVAILABLE:
            j -= 1
        same[i] = series.code[i] == series.code[j]
    out: npt.NDArray[np.bool_] = _in_a_replay_window(series.time, restarts) & same
    return out


def _in_a_replay_window(times: Floats, restarts: Floats) -> npt.NDArray[np.bool_]:
    """Whether each time is at most RESTART_REPLAY_SECONDS after some restart, every pair tested."""
    since = times[:, None] - restarts[None, :]
    out: npt.NDArray[np.bool_] = ((since >= 0) & (since <= RESTART_REPLAY_SECONDS)).any(axis=1)
    return out


def _times(rng: np.random.Generator, start: float, n_hours: int, size: int) -> Floats:
    """Times around a grid of n_hours from start: some outside, on hour bounds, just before one, NaN, inf."""
    times = start + rng.uniform(-2 * HOUR, (n_hours + 2) * HOUR, size)
    if size >= 6:
        on_bound = start + HOUR * rng.integers(0, n_hours + 1, 2)
        times[:2] = on_bound
        times[2:4] = np.nextafter(on_bound, -np.inf)
        times[4] = np.nan
        times[5] = rng.choice([np.inf, -np.inf])
    return times


@pytest.mark.parametrize("seed", range(12))
def test_counting_many_devices_at_once_equals_counting_each_alone(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(seed)
    n_hours, n_rows = int(rng.integers(1, 50)), 6
    start = T0 + HOUR * int(rng.integers(0, 1000))
    # A few times held before counting, or many: the counting in parts adds up the same.
    monkeypatch.setattr(_Tally, "_FLUSH", int(rng.choice([1, 7, 100, 1 << 16])))
    # And rows counted together a few at a time, or all of them.
    monkeypatch.setattr(_Tally, "_MAX_CELLS", int(rng.choice([1, n_hours, 3 * n_hours, 1 << 18])))
    tally = _Tally(np.zeros((n_rows, n_hours), np.uint16), _Hours.of(start, n_hours))
    expected = np.zeros((n_rows, n_hours))
    for row in rng.integers(0, n_rows, 25):  # rows in any order, some several times
        times = _times(rng, start, n_hours, int(rng.integers(0, 60)))
        tally.add(int(row), times)
        expected[row] += _count_per_hour(times, start, n_hours)
    counts = tally.channel()
    assert counts.dtype == np.uint16
    np.testing.assert_array_equal(counts, expected)


def test_a_count_too_large_for_uint16_keeps_every_count_in_float32() -> None:
    tally = _Tally(np.zeros((2, 3), np.uint16), _Hours.of(T0, 3))
    tally.add(0, np.array([T0 + 1.0, T0 + 2 * HOUR]))
    tally.add(1, np.full(70_000, T0 + HOUR + 5.0))
    tally.add(1, np.full(3, T0 + HOUR + 6.0))  # counted into the widened channel
    counts = tally.channel()
    assert counts.dtype == np.float32
    np.testing.assert_array_equal(counts, [[1, 0, 1], [0, 70_003, 0]])


def _carry_forward_formula(times: Floats, values: Floats, bounds: Floats) -> Floats:
    """The last finite sample strictly before each bound, NaN if none (as written before)."""
    ok = np.isfinite(values) & np.isfinite(times)
    times, values = times[ok], values[ok]
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    idx = np.searchsorted(times, bounds, side="left") - 1
    out = np.full(bounds.shape[0], np.nan)
    out[idx >= 0] = values[idx[idx >= 0]]
    return out


@pytest.mark.parametrize("seed", range(12))
def test_carry_forward_equals_its_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_hours = int(rng.integers(1, 40))
    hours = _Hours.of(T0, n_hours)
    times = _times(rng, T0, n_hours, int(rng.integers(0, 80)))
    if rng.random() < 0.5:
        times = np.sort(times)
    values = rng.normal(50.0, 30.0, times.size)
    values[rng.random(times.size) < 0.2] = np.nan
    np.testing.assert_array_equal(
        _carry_forward(times, values, hours.ends), _carry_forward_formula(times, values, hours.ends)
    )


def _signs_of_life_formula(
    series: StateSeries, restarts: Floats, bridge_out: npt.NDArray[np.uint8], start: float, n_hours: int
) -> Floats:
    """Signs of life per hour of one entity, every row tested (as written before the row numbers)."""
    valid = series.code != UNAVAILABLE
    restored = np.zeros(len(series), dtype=bool)
    restored[_bridge_restored_rows(series, bridge_out, start)] = True
    alive = valid & ~_replays_formula(series, restarts) & ~restored
    times = [series.time[alive]]
    if series.last_reported is not None:
        again, row_time = series.last_reported[valid], series.time[valid]
        later = np.isfinite(again) & (again > row_time + 1.0)
        later &= ~restored[valid] | (again > row_time + BRIDGE_RESTORE_SECONDS)
        times.append(again[later & ~_in_a_replay_window(again, restarts)])
    return _count_per_hour(np.concatenate(times), start, n_hours)


def _series(rng: np.random.Generator, n_hours: int) -> StateSeries:
    """Rows of a few states, `unavailable` spells, re-reports; some rows exactly at restarts."""
    n = int(rng.integers(1, 300))
    time = T0 + rng.uniform(0.0, n_hours * HOUR, n)
    time[1:5] = time[0] + 20.0 * np.arange(1, 5)[: n - 1]  # a few rows soon after the first
    time = np.sort(time)
    code = rng.integers(0, 3, n).astype(np.int32)
    code[rng.random(n) < 0.25] = UNAVAILABLE
    reported = time + rng.choice([0.0, 0.5, 30.0, BRIDGE_RESTORE_SECONDS + 1.0, 900.0], n)
    reported[rng.random(n) < 0.05] = np.nan
    return StateSeries(time=time, value=np.full(n, np.nan), code=code, last_reported=reported)


def _random_case(seed: int, most_hours: int) -> tuple[np.random.Generator, _Hours, StateSeries]:
    """A random generator of `seed`, a grid of up to `most_hours` from T0 and one entity's rows on it."""
    rng = np.random.default_rng(seed)
    hours = _Hours.of(T0, int(rng.integers(2, most_hours)))
    return rng, hours, _series(rng, hours.n)


def _signs_of_life(
    series: StateSeries, restarts: Floats, bridge_out: npt.NDArray[np.uint8], hours: _Hours
) -> Floats:
    """`_reports` of a device with one entity, counted per hour."""
    entity = EntityRecord(entity_id="sensor.a", device_key="a", role=EntityRole.PRIMARY)
    history = HomeHistory(
        home_id="h",
        start=hours.start,
        end=float(hours.bounds[-1]),
        devices=[],
        entities=[entity],
        states={"sensor.a": series},
    )
    times, _ = _reports(history, [entity], restarts, bridge_out, hours)
    return _count_per_hour(np.concatenate(times), hours.start, hours.n) if times else np.zeros(hours.n)


@pytest.mark.parametrize("seed", range(60))
def test_signs_of_life_equal_the_every_row_formula(seed: int) -> None:
    rng, hours, series = _random_case(seed, 72)
    n_hours = hours.n
    if rng.random() < 0.3:
        series.last_reported = None
    # Restarts among the rows, all before them (more or less than a replay window), or all after.
    where = seed % 4
    if where == 0:
        restarts = np.sort(rng.choice(series.time, min(3, len(series)), replace=False))
    elif where == 1:
        before = [30.0, 250.0, 280.0, RESTART_REPLAY_SECONDS, RESTART_REPLAY_SECONDS + 1.0, 5e4]
        restarts = np.sort(series.time[0] - rng.choice(before, 2, replace=False))
    elif where == 2:
        restarts = np.array([series.time[-1] + 1.0])
    else:
        restarts = np.empty(0)
    bridge_out = (rng.random(n_hours) < 0.3).astype(np.uint8) if seed % 3 else np.zeros(n_hours, np.uint8)
    np.testing.assert_array_equal(
        _signs_of_life(series, restarts, bridge_out, hours),
        _signs_of_life_formula(series, restarts, bridge_out, T0, n_hours),
    )


@pytest.mark.parametrize("seed", range(12))
def test_restarts_too_far_from_the_rows_change_no_unavailable_share(seed: int) -> None:
    _, hours, series = _random_case(seed, 48)
    share, drops = _unavailable_share(series, np.empty(0), hours)
    far = np.array([series.time[0] - RESTART_REPLAY_SECONDS - 1.0, series.time[-1] + 10.0])
    for restarts in (far[:1], far[1:], far):
        far_share, far_drops = _unavailable_share(series, restarts, hours)
        np.testing.assert_array_equal(far_share, share)
        np.testing.assert_array_equal(far_drops, drops)


def test_a_restart_just_within_reach_of_the_first_row_still_makes_a_reconnect() -> None:
    """An `unavailable` first row RESTART_REPLAY_SECONDS after a restart, for 100 s: a reconnect."""
    time = T0 + np.array([600.0, 700.0, 2000.0])
    series = StateSeries(time=time, value=np.full(3, np.nan), code=np.array([UNAVAILABLE, 0, 1], np.int32))
    hours = _Hours.of(T0, 2)
    alone, _ = _unavailable_share(series, np.empty(0), hours)
    assert alone[0] == pytest.approx(100.0 / HOUR)
    share, drops = _unavailable_share(series, np.array([time[0] - RESTART_REPLAY_SECONDS]), hours)
    assert (share == 0.0).all() and drops.size == 0
    later, _ = _unavailable_share(series, np.array([time[0] - RESTART_REPLAY_SECONDS - 1.0]), hours)
    np.testing.assert_array_equal(later, alone)


def test_only_the_spells_right_after_a_restart_are_reconnects() -> None:
    time = T0 + np.array([600.0, 700.0, 2000.0, 3000.0])
    code = np.array([UNAVAILABLE, 0, UNAVAILABLE, 1], np.int32)
    series = StateSeries(time=time, value=np.full(4, np.nan), code=code)
    share, drops = _unavailable_share(series, np.array([time[0] - 10.0]), _Hours.of(T0, 2))
    assert share[0] == pytest.approx(1000.0 / HOUR)
    np.testing.assert_array_equal(drops, [time[2]])


@pytest.mark.parametrize("before", [0.0, 30.0, 250.0, 279.0, 280.0, 281.0, 299.0, 300.0, 301.0, 5e4])
def test_signs_of_life_near_a_restart_just_before_the_first_row(before: float) -> None:
    """The second row repeats the first, 20 s after it; the first is re-reported 30 s after it."""
    time = T0 + 100.0 + np.array([0.0, 20.0, 4000.0])
    series = StateSeries(
        time=time,
        value=np.full(3, np.nan),
        code=np.array([1, 1, 2], np.int32),
        last_reported=time + np.array([30.0, 0.0, 0.0]),
    )
    restarts = np.array([time[0] - before])
    counted = _signs_of_life(series, restarts, np.zeros(2, np.uint8), _Hours.of(T0, 2))
    np.testing.assert_array_equal(
        counted, _signs_of_life_formula(series, restarts, np.zeros(2, np.uint8), T0, 2)
    )
    # The replay (second row) and the re-report are within the restart's window up to 280 s before.
    assert counted[0] == 1 + (before > 280.0) + (before > 270.0)


@pytest.mark.parametrize("seed", range(20))
def test_restart_replays_found_near_restarts_equal_the_every_row_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t0 = 1_700_000_000.0
    n = int(rng.integers(0, 400))
    time = np.sort(t0 + rng.uniform(0, 5 * 86400.0, n))
    restarts = np.unique(t0 + rng.uniform(-3600.0, 5 * 86400.0, int(rng.integers(0, 12))))
    if n and restarts.size:
        # Rows exactly at, and at the edge of, a restart's replay window.
        k = min(n, restarts.size)
        time[:k] = restarts[:k]
        time[-k:] = restarts[:k] + RESTART_REPLAY_SECONDS * rng.choice([1.0, 1.0 + 1e-12, 0.5], k)
        time = np.sort(time)
    code = rng.integers(-2, 3, n).astype(np.int32)
    series = StateSeries(time=time, value=np.full(n, np.nan), code=code)
    np.testing.assert_array_equal(
        _replayed_rows(series, restarts), np.flatnonzero(_replays_formula(series, restarts))
    )
