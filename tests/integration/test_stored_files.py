"""Every file the integration stores is read defensively: merged where it fits, set aside where not.

A stored file may come from another release, another set of devices or
another home, or be empty, truncated or damaged. Each case ends in the
expected fallback with one log line, never an exception out of setup or a refresh.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from unittest.mock import patch

import numpy as np
import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homeiq_device_intel.aggregates_store import AggregatesStore
from custom_components.homeiq_device_intel.const import AGGREGATES_FILE, DOMAIN, HOME_MODELS_KEPT
from custom_components.homeiq_device_intel.ml.aggregates import (
    KEEP_DAYS,
    STATE_CHANNELS,
    AggregatesError,
    load_grid,
    merge_grids,
    save_grid,
)
from custom_components.homeiq_device_intel.ml.bundle import ModelBundle
from custom_components.homeiq_device_intel.ml.grid import (
    CHANNELS,
    HOUR,
    HourlyGrid,
    build_grid,
    channel_dtype,
    compact_channel,
)
from custom_components.homeiq_device_intel.model_store import ModelStore
from custom_components.homeiq_device_intel.risk import AtRiskTracker
from custom_components.homeiq_device_intel.training import TrainingState, TrainingStatus
from tests.ml.test_aggregates import T0, _history
from tests.risk_helpers import at

Setup = Callable[[], Awaitable[MockConfigEntry]]
PROBABILITY = "sensor.hall_door_failure_probability"
TRAINING_STATUS = "sensor.homeiq_device_intelligence_training_status"
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HOME = DOMAIN
DEVICES = ("a", "b", "c", "d", "e")
LEVEL_CHANNELS = tuple(c for c in CHANNELS if c not in STATE_CHANNELS and c != "battery_low")
# Channels whose hours before `states_from` are unknown, and which the merge fills from the old grid.
FROM_STATES = tuple(c for c in CHANNELS if c not in LEVEL_CHANNELS)
# Python's json raises RecursionError (not a ValueError) on this; HA's orjson a JSONDecodeError.
NESTED_TOO_DEEP: Final = "[" * 100_000 + "]" * 100_000


# ---------------------------------------------------------------- grids of any shape


@st.composite
def grids(draw: st.DrawFn, *, start: float, device_keys: list[str] | None = None) -> HourlyGrid:
    """A well-formed grid as build_grid makes them: random devices, hours and channel contents.

    State channels are 0 before `states_from`, as no state row was seen then; some
    devices' own state rows begin later (`primary_states_from`: their last row was purged),
    some `unavailable`, with a drop counted there (`opens_unavailable`).
    """
    ids = draw(st.lists(st.sampled_from(DEVICES), unique=True)) if device_keys is None else device_keys
    n, n_hours = len(ids), draw(st.integers(1, 96))
    states_from = draw(st.integers(0, n_hours))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def level(low: float, high: float) -> np.ndarray:
        values = rng.uniform(low, high, (n, n_hours)).astype(np.float32)
        values[rng.random((n, n_hours)) < 0.3] = np.nan
        return values

    def from_states(values: np.ndarray) -> np.ndarray:
        values = values.astype(np.float32)
        values[:, :states_from] = 0.0
        return values

    primary_states_from = np.where(
        rng.random(n) < 0.3, rng.integers(states_from, n_hours + 1, n), states_from
    ).astype(np.int64)
    opens_unavailable = (rng.random(n) < 0.3) & (primary_states_from < n_hours)
    drops = from_states(rng.integers(0, 3, (n, n_hours)))
    drops[opens_unavailable, primary_states_from[opens_unavailable]] += 1
    channels = {
        "battery": level(0.0, 100.0),
        "signal": level(-100.0, 255.0),
        "temperature": level(-40.0, 80.0),
        "voltage": level(0.0, 5000.0),
        "battery_low": from_states(rng.integers(0, 2, (n, n_hours))),
        "unavailable": from_states(rng.random((n, n_hours))),
        "reports": from_states(rng.integers(0, 30, (n, n_hours))),
        "changes": from_states(rng.integers(0, 10, (n, n_hours))),
        "drops": drops,
    }
    return HourlyGrid(
        home_id=HOME,
        device_keys=ids,
        start=start,
        n_hours=n_hours,
        channels=channels,
        has_battery=rng.random(n) < 0.5,
        first_seen=rng.integers(0, n_hours + 1, n).astype(np.int64),
        swap_hours=[np.flatnonzero(rng.random(n_hours) < 0.05).astype(np.int64) for _ in range(n)],
        bridge_down=from_states(rng.integers(0, 2, (n, n_hours))),
        states_from=states_from,
        telemetry=rng.random(n) < 0.5,
        numeric_primary=rng.random(n) < 0.5,
        primary_states_from=primary_states_from,
        opens_unavailable=opens_unavailable,
    )


# How far the old grid's start is from the new one's: aligned or not, overlapping, far before or after.
offsets = st.one_of(
    st.integers(-150, 150).map(lambda h: h * HOUR),
    st.floats(-200 * HOUR, 200 * HOUR),
    st.integers(-(KEEP_DAYS + 30) * 24, (KEEP_DAYS + 30) * 24).map(lambda h: h * HOUR),
    st.sampled_from([-1e15, 1e15, -1.7e308, 1.7e308]),
)
keep = st.one_of(st.integers(1, 5), st.just(KEEP_DAYS))
# An old grid that starts before the new one, as last night's does: it often ends inside it.
nightly = st.integers(-96, 0).map(lambda h: h * HOUR)


@st.composite
def pairs(draw: st.DrawFn, starts: st.SearchStrategy[float] = offsets) -> tuple[HourlyGrid, HourlyGrid, int]:
    """An old and a new grid of one home, the old one `starts` from the new one, and the days to keep."""
    new = draw(grids(start=T0))
    old = draw(grids(start=T0 + draw(starts)))
    return old, new, draw(keep)


def _shift(merged: HourlyGrid, grid: HourlyGrid) -> int:
    """Column of the merged grid that holds `grid`'s first hour (clamped: far away is outside)."""
    hours = (grid.start - merged.start) / HOUR
    return round(min(max(hours, -1e9), 1e9))


def _columns(merged_hours: int, grid: HourlyGrid, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Merged columns that `grid` covers, and the matching columns of `grid`."""
    cols = np.arange(max(shift, 0), min(shift + grid.n_hours, merged_hours))
    return cols, cols - shift


def _copy(grid: HourlyGrid) -> HourlyGrid:
    """A deep copy (merge_grids must not change its inputs)."""
    return HourlyGrid(
        home_id=grid.home_id,
        device_keys=list(grid.device_keys),
        start=grid.start,
        n_hours=grid.n_hours,
        channels={k: v.copy() for k, v in grid.channels.items()},
        has_battery=grid.has_battery.copy(),
        first_seen=grid.first_seen.copy(),
        swap_hours=[s.copy() for s in grid.swap_hours],
        bridge_down=grid.bridge_down.copy(),
        states_from=grid.states_from,
        telemetry=None if grid.telemetry is None else grid.telemetry.copy(),
        numeric_primary=None if grid.numeric_primary is None else grid.numeric_primary.copy(),
        primary_states_from=None if grid.primary_states_from is None else grid.primary_states_from.copy(),
        opens_unavailable=None if grid.opens_unavailable is None else grid.opens_unavailable.copy(),
    )


def _own_states_from(old: HourlyGrid, new: HourlyGrid) -> np.ndarray:
    """Per new device, the first hour of the new grid the merge takes its state channels from."""
    known = np.isin(new.device_keys, old.device_keys)
    return np.where(known, np.maximum(new.primary_states_from, new.states_from), new.states_from)


@PROPERTY
@given(pairs())
def test_merged_grid_has_the_new_devices_and_ends_where_the_new_grid_ends(pair):
    old, new, keep_days = pair
    merged = merge_grids(old, new, keep_days=keep_days)
    assert merged.device_keys == new.device_keys
    assert merged.start + merged.n_hours * HOUR == new.start + new.n_hours * HOUR
    assert min(new.n_hours, keep_days * 24) <= merged.n_hours <= keep_days * 24
    assert (merged.start - new.start) / HOUR == round((merged.start - new.start) / HOUR)
    np.testing.assert_array_equal(merged.has_battery, new.has_battery)


@PROPERTY
@given(pairs())
def test_merged_grid_is_well_formed_and_survives_a_round_trip(pair):
    old, new, keep_days = pair
    merged = merge_grids(old, new, keep_days=keep_days)
    shape = (len(new.device_keys), merged.n_hours)
    assert set(merged.channels) == set(CHANNELS)
    assert all(c.shape == shape and c.dtype == np.float32 for c in merged.channels.values())
    assert merged.bridge_down.shape == shape
    assert np.all((merged.first_seen >= 0) & (merged.first_seen <= merged.n_hours))
    assert 0 <= merged.states_from <= merged.n_hours
    for swaps in merged.swap_hours:
        assert np.all(np.diff(swaps) > 0)
        assert np.all((swaps >= 0) & (swaps < merged.n_hours))
    with tempfile.TemporaryDirectory() as folder:
        save_grid(merged, Path(folder) / "agg.npz")
        load_grid(Path(folder) / "agg.npz", home_id=HOME)


def _taken_back(old: HourlyGrid, new: HourlyGrid, merged: HourlyGrid) -> np.ndarray:
    """(n_new_devices, new.n_hours) 1 at the new grid's opening drop of a device whose outage goes on.

    It goes on where the old grid had the device unavailable the hour before: in an hour of its
    own, or in one its last share holds on to (the old grid reaching the new one's state rows).
    """
    out = np.zeros((len(new.device_keys), new.n_hours))
    new_shift, old_shift = _shift(merged, new), _shift(merged, old)
    old_end = old_shift + old.n_hours
    for i, device in enumerate(new.device_keys):
        first = int(new.primary_states_from[i])
        before = new_shift + first - 1  # in the merged grid
        if not new.opens_unavailable[i] or device not in old.device_keys or before < 0:
            continue
        row = old.device_keys.index(device)
        if old_shift <= before < old_end:
            share = old["unavailable"][row, before - old_shift]
        elif old_end <= before and old_end >= new_shift + new.states_from and old.n_hours:
            share = old["unavailable"][row, -1]
        else:
            continue
        out[i, first] = share > 0.0
    return out


@PROPERTY
@given(st.one_of(pairs(), pairs(nightly)))
def test_hours_the_new_grid_knows_come_from_the_new_grid(pair):
    old, new, keep_days = pair
    merged = merge_grids(old, new, keep_days=keep_days)
    cols, src = _columns(merged.n_hours, new, _shift(merged, new))
    taken_back = _taken_back(old, new, merged)
    for i, own in enumerate(_own_states_from(old, new)):
        stated = src >= own
        for name in FROM_STATES:
            expected = new[name][i, src[stated]] - (taken_back[i, src[stated]] if name == "drops" else 0.0)
            np.testing.assert_array_equal(merged[name][i, cols[stated]], expected, err_msg=name)
        np.testing.assert_array_equal(merged.bridge_down[i, cols[stated]], new.bridge_down[i, src[stated]])
    for name in LEVEL_CHANNELS:
        known = np.isfinite(new[name][:, src])
        np.testing.assert_array_equal(merged[name][:, cols][known], new[name][:, src][known], err_msg=name)


@PROPERTY
@given(pairs())
def test_state_hours_before_the_new_grid_come_from_the_old_grid(pair):
    old, new, keep_days = pair
    merged = merge_grids(old, new, keep_days=keep_days)
    cols, src = _columns(merged.n_hours, old, _shift(merged, old))
    for i, (device, own) in enumerate(zip(new.device_keys, _own_states_from(old, new), strict=True)):
        if device not in old.device_keys:
            continue
        row = old.device_keys.index(device)
        before = cols < _shift(merged, new) + own
        for name in FROM_STATES:
            np.testing.assert_array_equal(merged[name][i, cols[before]], old[name][row, src[before]])


@PROPERTY
@given(st.one_of(pairs(), pairs(nightly)))
def test_an_unavailable_share_holds_after_the_old_grid_until_the_devices_own_state_rows(pair):
    old, new, keep_days = pair
    merged = merge_grids(old, new, keep_days=keep_days)
    old_end = _shift(merged, old) + old.n_hours
    new_shift = _shift(merged, new)
    if old_end < new_shift + new.states_from:
        return  # hours nobody saw lie between the grids: nothing holds across them
    for i, (device, own) in enumerate(zip(new.device_keys, _own_states_from(old, new), strict=True)):
        if device not in old.device_keys:
            continue
        held = merged["unavailable"][i, max(old_end, 0) : max(new_shift + own, 0)]
        assert (held == old["unavailable"][old.device_keys.index(device), -1]).all()


@PROPERTY
@given(pairs())
def test_devices_the_old_grid_did_not_know_get_the_new_values_and_fill_elsewhere(pair):
    old, new, keep_days = pair
    merged = merge_grids(old, new, keep_days=keep_days)
    cols, src = _columns(merged.n_hours, new, _shift(merged, new))
    elsewhere = np.setdiff1d(np.arange(merged.n_hours), cols)
    for i, device in enumerate(new.device_keys):
        if device in old.device_keys:
            continue
        for name in LEVEL_CHANNELS:
            np.testing.assert_array_equal(merged[name][i, cols], new[name][i, src])
            assert np.isnan(merged[name][i, elsewhere]).all()
        for name in FROM_STATES:
            np.testing.assert_array_equal(merged[name][i, cols], new[name][i, src])
            assert (merged[name][i, elsewhere] == 0).all()
        assert merged.first_seen[i] == np.clip(new.first_seen[i] + _shift(merged, new), 0, merged.n_hours)


@PROPERTY
@given(grids(start=T0), grids(start=T0, device_keys=[]), offsets, keep)
def test_merging_into_an_empty_old_grid_gives_the_new_grid_on_its_hours(new, empty, offset, keep_days):
    empty.start = T0 + offset
    merged = merge_grids(empty, new, keep_days=keep_days)
    cols, src = _columns(merged.n_hours, new, _shift(merged, new))
    for name in CHANNELS:
        np.testing.assert_array_equal(merged[name][:, cols], new[name][:, src], err_msg=name)
    np.testing.assert_array_equal(merged.bridge_down[:, cols], new.bridge_down[:, src])


@PROPERTY
@given(pairs())
def test_merging_leaves_both_grids_as_they_were(pair):
    old, new, keep_days = pair
    old_before, new_before = _copy(old), _copy(new)
    merge_grids(old, new, keep_days=keep_days)
    for before, after in ((old_before, old), (new_before, new)):
        assert after.device_keys == before.device_keys
        for name in CHANNELS:
            np.testing.assert_array_equal(after[name], before[name])
        np.testing.assert_array_equal(after.first_seen, before.first_seen)


def test_a_stored_grid_without_devices_merges_into_a_fresh_one():
    """Regression: an empty stored grid crashed every scoring with an IndexError."""
    fresh = build_grid(_history(5, 10), start=T0, end=T0 + 10 * 86400)
    empty = build_grid(_history(0, 5, devices=()))
    assert empty.device_keys == []

    merged = merge_grids(empty, fresh)

    assert merged.device_keys == fresh.device_keys
    np.testing.assert_array_equal(merged.first_seen, fresh.first_seen)


def test_a_fresh_grid_without_devices_merges_to_a_grid_without_devices():
    merged = merge_grids(build_grid(_history(0, 5)), build_grid(_history(0, 10, devices=())))
    assert merged.device_keys == []
    assert all(c.shape == (0, merged.n_hours) for c in merged.channels.values())


def test_a_device_never_seen_in_either_grid_stays_never_seen():
    old, new = build_grid(_history(0, 5)), build_grid(_history(5, 10))
    old.first_seen[:] = old.n_hours  # "never" in the old grid is its own length
    new.first_seen[:] = new.n_hours
    old.start = new.start + 3 * 86400  # an old grid reaching past the new grid's end
    merged = merge_grids(old, new)
    assert (merged.first_seen == merged.n_hours).all()


def test_grids_of_two_homes_are_not_merged():
    other = build_grid(_history(0, 5))
    other.home_id = "someone else"
    with pytest.raises(ValueError, match="two homes"):
        merge_grids(other, build_grid(_history(0, 10)))


# ---------------------------------------------------------------- the stored aggregates file


def _saved_grid(path: Path, **changes: Any) -> Path:
    """Save a real two-device grid of this home, then replace or drop (None) some of its arrays."""
    grid = build_grid(_history(0, 5))
    grid.home_id = HOME
    save_grid(grid, path)
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    for name, value in changes.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = np.asarray(value)
    np.savez_compressed(path, **arrays)
    return path


def _scalars(start: float = T0, n_hours: float = 120, states_from: float = 0) -> np.ndarray:
    return np.array([start, n_hours, states_from], dtype=np.float64)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _single_array(path: Path) -> None:
    with path.open("wb") as handle:
        np.save(handle, np.zeros(3))


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(7).bytes(4096))


DAMAGED_AGGREGATES: dict[str, Callable[[Path], Any]] = {
    "empty_file": lambda p: p.write_bytes(b""),
    "truncated": lambda p: _truncate(_saved_grid(p)),
    "random_bytes": _random_bytes,
    "a_single_array": _single_array,
    "newer_release": lambda p: _saved_grid(p, version=[2]),
    "older_release": lambda p: _saved_grid(p, version=[0]),
    "another_home": lambda p: _saved_grid(p, home_id=["someone else"]),
    "channel_missing": lambda p: _saved_grid(p, channel_reports=None),
    "channel_of_other_shape": lambda p: _saved_grid(p, channel_reports=np.zeros((2, 7), np.float32)),
    "first_seen_too_short": lambda p: _saved_grid(p, first_seen=np.zeros(1, np.int64)),
    "has_battery_too_long": lambda p: _saved_grid(p, has_battery=np.zeros(3, bool)),
    "swap_counts_too_short": lambda p: _saved_grid(p, swap_counts=np.zeros(1, np.int64)),
    "swap_counts_not_adding_up": lambda p: _saved_grid(p, swap_counts=np.array([5, 0])),
    "swap_hour_outside": lambda p: _saved_grid(
        p, swap_counts=np.array([1, 0]), swap_hours=np.array([999], np.int64)
    ),
    "first_seen_outside": lambda p: _saved_grid(p, first_seen=np.array([-1, 500])),
    "repeated_devices": lambda p: _saved_grid(p, device_ids=np.array(["a", "a"])),
    "nan_start": lambda p: _saved_grid(p, scalars=_scalars(start=math.nan)),
    "infinite_start": lambda p: _saved_grid(p, scalars=_scalars(start=math.inf)),
    "negative_hours": lambda p: _saved_grid(p, scalars=_scalars(n_hours=-120)),
    "fractional_hours": lambda p: _saved_grid(p, scalars=_scalars(n_hours=119.5)),
    "states_after_the_end": lambda p: _saved_grid(p, scalars=_scalars(states_from=121)),
    "strings_for_numbers": lambda p: _saved_grid(p, scalars=np.array(["1", "2", "3"])),
    "infinite_level": lambda p: _saved_grid(p, channel_signal=np.full((2, 120), np.inf, np.float32)),
    "share_above_one": lambda p: _saved_grid(p, channel_unavailable=np.full((2, 120), 2.0, np.float32)),
    "negative_counts": lambda p: _saved_grid(p, channel_reports=np.full((2, 120), -1.0, np.float32)),
}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("custom_components.homeiq_device_intel")
    ]


@pytest.mark.parametrize("damage", DAMAGED_AGGREGATES.values(), ids=DAMAGED_AGGREGATES.keys())
def test_damaged_aggregates_are_set_aside_and_history_restarts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], Any]
) -> None:
    path = tmp_path / "aggregates.npz"
    damage(path)
    store = AggregatesStore(path)

    store.load()

    assert store.grid is None
    assert not path.exists()
    assert path.with_suffix(".unreadable").exists()
    assert len(_warnings(caplog)) == 1


@pytest.mark.parametrize("damage", DAMAGED_AGGREGATES.values(), ids=DAMAGED_AGGREGATES.keys())
def test_load_grid_refuses_damaged_aggregates_with_its_own_error(
    tmp_path: Path, damage: Callable[[Path], Any]
) -> None:
    path = tmp_path / "aggregates.npz"
    damage(path)
    with pytest.raises(AggregatesError):
        load_grid(path, home_id=HOME)


def test_aggregates_written_before_the_device_flags_existed_still_load(tmp_path: Path) -> None:
    path = _saved_grid(tmp_path / "aggregates.npz", telemetry=None, numeric_primary=None)
    grid = load_grid(path, home_id=HOME)
    assert grid.device_keys == ["a", "b"]
    assert grid.telemetry is not None and not grid.telemetry.any()


def test_aggregates_written_with_float_channels_load_compact_with_the_same_values(tmp_path: Path) -> None:
    # Files written before the compact channels hold every channel and bridge_down in float32.
    grid = build_grid(_history(0, 5))
    grid.home_id = HOME
    old_style = {f"channel_{name}": grid[name] for name in CHANNELS}
    old_style["bridge_down"] = grid.bridge_down.astype(np.float32)
    loaded = load_grid(_saved_grid(tmp_path / "agg.npz", **old_style), home_id=HOME)
    for name in CHANNELS:
        assert loaded.channels[name].dtype == channel_dtype(name), name
        np.testing.assert_array_equal(loaded[name], grid[name], err_msg=name)
    assert loaded.bridge_down.dtype == np.uint8
    np.testing.assert_array_equal(loaded.bridge_down, grid.bridge_down)


def test_merging_a_compact_grid_with_an_old_float_grid_keeps_every_value(tmp_path: Path) -> None:
    fresh = build_grid(_history(0, 5))
    old = build_grid(_history(0, 5), end=T0 + 3 * 86400.0)
    old_float = build_grid(_history(0, 5), end=T0 + 3 * 86400.0)
    old_float.channels = {name: old_float[name] for name in CHANNELS}  # float32, as older files held
    old_float.bridge_down = old_float.bridge_down.astype(np.float32)
    a, b = merge_grids(old, fresh), merge_grids(old_float, fresh)
    for name in CHANNELS:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    np.testing.assert_array_equal(a.bridge_down.astype(np.float32), b.bridge_down.astype(np.float32))


def test_a_count_too_large_for_uint16_keeps_its_channel_in_float32(tmp_path: Path) -> None:
    counts = np.array([[0.0, 70_000.0, 3.0]])
    assert compact_channel("reports", counts).dtype == np.float32
    assert compact_channel("reports", np.array([[0.0, 65_535.0]])).dtype == np.uint16
    assert compact_channel("reports", np.array([[0.5]])).dtype == np.float32
    assert compact_channel("battery_low", np.array([[0.0, 1.0]])).dtype == np.uint8


def test_aggregates_under_their_old_name_are_moved_and_loaded(tmp_path: Path) -> None:
    old = _saved_grid(tmp_path / "history.npz")
    store = AggregatesStore(tmp_path / "aggregates.npz")

    store.load()

    assert store.grid is not None and store.grid.device_keys == ["a", "b"]
    assert not old.exists()
    assert (tmp_path / "aggregates.npz").exists()


def test_stored_aggregates_without_devices_load(tmp_path: Path) -> None:
    save_grid(build_grid(_history(0, 5, devices=())), tmp_path / "aggregates.npz")
    assert load_grid(tmp_path / "aggregates.npz").device_keys == []


def test_history_restarts_when_unreadable_aggregates_cannot_be_moved(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "aggregates.npz"
    path.write_bytes(b"garbage")

    def read_only(*_args: Any) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(Path, "replace", read_only)
    store = AggregatesStore(path)

    store.load()

    assert store.grid is None
    assert path.read_bytes() == b"garbage"
    [warning] = _warnings(caplog)
    assert "could not be set aside" in warning.getMessage()


# ---------------------------------------------------------------- through Home Assistant


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _stored(key: str, data: Any) -> dict[str, Any]:
    """The envelope HA's Store writes around our data."""
    return {"version": 1, "minor_version": 1, "key": key, "data": data}


async def test_stored_aggregates_without_devices_let_the_entry_load_and_score(
    hass: HomeAssistant, config_dir: Path, add_battery_device: Any, setup_integration: Setup
) -> None:
    """Regression: the entry stayed in SETUP_RETRY, every scoring raising IndexError."""
    empty = build_grid(_history(0, 5, devices=()))
    empty.home_id = DOMAIN
    save_grid(empty, config_dir / ".storage" / DOMAIN / AGGREGATES_FILE)
    add_battery_device("Hall door", battery=10)

    entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    assert float(_state(hass, PROBABILITY)) > 90


DAMAGED_STORE_DATA = {
    "a_list": [1, 2],
    "a_string": "on",
    "null": None,
    "entries_of_wrong_types": {"x": [], "y": {"on": "yes", "streak": "2"}, "z": {"on": True, "streak": None}},
}


@pytest.mark.parametrize("data", DAMAGED_STORE_DATA.values(), ids=DAMAGED_STORE_DATA.keys())
async def test_damaged_at_risk_state_lets_the_entry_load_and_score(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    add_battery_device: Any,
    setup_integration: Setup,
    data: Any,
) -> None:
    hass_storage[f"{DOMAIN}.at_risk"] = _stored(f"{DOMAIN}.at_risk", data)
    add_battery_device("Hall door", battery=10)

    entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    assert float(_state(hass, PROBABILITY)) > 90
    assert _state(hass, "binary_sensor.hall_door_at_risk") == "off"


@pytest.mark.parametrize("data", DAMAGED_STORE_DATA.values(), ids=DAMAGED_STORE_DATA.keys())
async def test_damaged_training_state_lets_the_entry_load_idle(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    add_battery_device: Any,
    setup_integration: Setup,
    data: Any,
) -> None:
    hass_storage[f"{DOMAIN}.training"] = _stored(f"{DOMAIN}.training", data)
    add_battery_device("Hall door", battery=10)

    entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    assert _state(hass, TRAINING_STATUS) == "idle"


DAMAGED_STORE_ENVELOPES = {
    "newer_release": {"version": 99, "minor_version": 1, "key": "k", "data": {}},
    "no_data": {"version": 1, "minor_version": 1, "key": "k"},
    "not_an_object": [1, 2, 3],
}


@pytest.mark.parametrize("store", ["at_risk", "training"])
@pytest.mark.parametrize("envelope", DAMAGED_STORE_ENVELOPES.values(), ids=DAMAGED_STORE_ENVELOPES.keys())
async def test_a_store_file_home_assistant_cannot_read_is_set_aside_and_the_entry_loads(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    add_battery_device: Any,
    setup_integration: Setup,
    caplog: pytest.LogCaptureFixture,
    store: str,
    envelope: Any,
) -> None:
    """Regression: HA's Store raised on these (another release's version, no data), failing setup."""
    hass_storage[f"{DOMAIN}.{store}"] = envelope
    add_battery_device("Hall door", battery=10)

    entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    assert float(_state(hass, PROBABILITY)) > 90
    assert _state(hass, TRAINING_STATUS) == "idle"
    assert [r.getMessage().split(" is unreadable")[0] for r in _warnings(caplog)] == [
        f"Stored state {DOMAIN}.{store}"
    ]


@pytest.mark.parametrize("store", ["at_risk", "snoozes", "training"])
async def test_a_store_file_nested_too_deep_is_set_aside_by_home_assistant_and_the_entry_loads(
    hass: HomeAssistant,
    config_dir: Path,
    add_battery_device: Any,
    setup_integration: Setup,
    store: str,
) -> None:
    """HA's Store reads with orjson, whose depth limit raises a JSONDecodeError it handles."""
    path = config_dir / ".storage" / f"{DOMAIN}.{store}"
    path.parent.mkdir(parents=True)
    path.write_text(NESTED_TOO_DEEP)
    add_battery_device("Hall door", battery=10)

    async def read_from_disk(self: Store[Any]) -> Any:
        return await self._async_load_data()

    with patch.object(Store, "_async_load", read_from_disk):  # hass_storage keeps files in memory
        entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    assert float(_state(hass, PROBABILITY)) > 90
    assert not path.exists()
    assert [p.name.split(".corrupt.")[0] for p in path.parent.glob(f"{path.name}.corrupt.*")] == [path.name]


# ---------------------------------------------------------------- the at-risk and training state


def _tracker() -> AtRiskTracker:
    return AtRiskTracker(on_after=2, off_after=3)


def test_at_risk_state_restores_well_formed_devices_and_ignores_the_rest_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = _tracker()
    tracker.restore({"good": {"on": True, "streak": 1}, "bad": {"on": "yes", "streak": "2"}, "worse": []})
    assert tracker.at_risk == {"good"}
    [warning] = _warnings(caplog)
    assert "ignored 2 of 3" in warning.getMessage()


@pytest.mark.parametrize("data", [[1, 2], "on", 3, None], ids=["list", "string", "number", "null"])
def test_at_risk_state_of_another_type_starts_afresh_with_one_warning(
    caplog: pytest.LogCaptureFixture, data: Any
) -> None:
    tracker = _tracker()
    tracker.restore(data)
    assert tracker.at_risk == frozenset()
    assert len(_warnings(caplog)) == 1


def test_at_risk_state_of_another_release_with_longer_streaks_does_not_flip_at_once() -> None:
    tracker = _tracker()
    tracker.restore({"door": {"on": False, "streak": 50}})
    assert tracker.update(at({"door": 99.0}, 50.0)) == ["door"]  # the streak's last step, not a jump
    assert tracker.update(at({"door": 99.0}, 50.0)) == []


def test_well_formed_at_risk_state_restores_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    saved = _tracker()
    for _ in range(2):
        saved.update(at({"door": 99.0, "lamp": 1.0}, 50.0))
    tracker = _tracker()
    tracker.restore(saved.as_dict())
    assert tracker.at_risk == {"door"}
    assert _warnings(caplog) == []


DAMAGED_TRAINING_STATE = {
    "status_unknown": ({"status": "exploded"}, "status"),
    "status_a_list": ({"status": ["idle"]}, "status"),
    "error_a_number": ({"error": 42}, "error"),
    "time_not_a_time": ({"last_trained": "2024-13-45T00:00:00+00:00"}, "last_trained"),
    "time_a_number": ({"last_trained": 1_700_000_000}, "last_trained"),
    "failures_a_string": ({"consecutive_failures": "3"}, "consecutive_failures"),
    "failures_negative": ({"consecutive_failures": -1}, "consecutive_failures"),
    "last_run_a_list": ({"last_run": [1]}, "last_run"),
    "declined_release_a_number": ({"declined_release": 3}, "declined_release"),
}


@pytest.mark.parametrize(
    ("data", "field"), DAMAGED_TRAINING_STATE.values(), ids=DAMAGED_TRAINING_STATE.keys()
)
def test_training_state_keeps_good_fields_and_defaults_a_bad_one_with_one_warning(
    caplog: pytest.LogCaptureFixture, data: dict[str, Any], field: str
) -> None:
    good = TrainingState(
        status=TrainingStatus.FAILED,
        error="boom",
        last_trained=datetime(2025, 1, 1, tzinfo=UTC),
        consecutive_failures=2,
        last_run={"status": "failed"},
        declined_release="shipped-1",
    )
    restored = TrainingState.from_dict({**good.as_dict(), **data})
    default = TrainingState()
    for name in ("status", "error", "last_trained", "consecutive_failures", "last_run", "declined_release"):
        expected = getattr(default if name == field else good, name)
        assert getattr(restored, name) == expected, name
    [warning] = _warnings(caplog)
    assert field in warning.getMessage()


@pytest.mark.parametrize("data", [[1], "idle", 7, None], ids=["list", "string", "number", "null"])
def test_training_state_of_another_type_starts_afresh_with_one_warning(
    caplog: pytest.LogCaptureFixture, data: Any
) -> None:
    assert TrainingState.from_dict(data) == TrainingState()
    assert len(_warnings(caplog)) == 1


# ---------------------------------------------------------------- the model index


def _home_models(config_dir: Path, shipped: Path, make_bundle: Callable[..., ModelBundle]) -> ModelStore:
    """A model store with one good home model, v0001, deployed the way the integration does."""
    store = ModelStore(shipped, config_dir / "models", keep=HOME_MODELS_KEPT)
    store.deploy(make_bundle(source="home"))
    return store


DAMAGED_INDEX: dict[str, str] = {
    "empty_file": "",
    "truncated": '{"versions": ["v00',
    "random_bytes": "\udcff\udcfe garbage",
    "a_list": '["v0001"]',
    "null": "null",
    "versions_a_string": '{"versions": "v0001", "next": 2}',
    "versions_outside_the_folder": '{"versions": ["../../shipped"], "next": 2}',
    "versions_repeat": '{"versions": ["v0001", "v0001"], "next": 2}',
    "next_a_string": '{"versions": ["v0001"], "next": "2"}',
    "next_missing": '{"versions": ["v0001"]}',
    "nested_too_deep": NESTED_TOO_DEEP,
}


@pytest.mark.parametrize("content", DAMAGED_INDEX.values(), ids=DAMAGED_INDEX.keys())
def test_damaged_model_index_is_set_aside_and_rebuilt_from_the_version_folders(
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    caplog: pytest.LogCaptureFixture,
    content: str,
) -> None:
    store = _home_models(config_dir, shipped_model, make_bundle)
    index = config_dir / "models" / "index.json"
    index.write_bytes(content.encode("utf-8", "surrogateescape"))

    active = store.load_active()

    assert active.version_id == "v0001"
    assert (config_dir / "models" / "index.json.unreadable").exists()
    assert len(_warnings(caplog)) == 1
    assert store.versions() == ["v0001"]  # the rebuilt index was written: no second warning
    assert len(_warnings(caplog)) == 1
    assert (shipped_model / "manifest.json").exists()


def test_a_listed_model_version_whose_folder_is_gone_is_refused_and_the_older_one_serves(
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = _home_models(config_dir, shipped_model, make_bundle)
    (config_dir / "models" / "index.json").write_text('{"versions": ["v0001", "v0002"], "next": 3}')

    active = store.load_active()

    assert active.version_id == "v0001"
    assert [r.version_id for r in active.refused] == ["v0002"]
    assert len(_warnings(caplog)) == 1


def test_an_index_counting_behind_its_versions_never_reuses_a_version_number(
    config_dir: Path, shipped_model: Path, make_bundle: Callable[..., ModelBundle]
) -> None:
    store = _home_models(config_dir, shipped_model, make_bundle)
    (config_dir / "models" / "index.json").write_text('{"versions": ["v0001"], "next": 1}')

    assert store.deploy(make_bundle(source="home")).version_id == "v0002"
    assert store.versions() == ["v0001", "v0002"]


def test_aggregates_written_before_the_battery_log_existed_load_with_an_empty_log(tmp_path: Path) -> None:
    _saved_grid(tmp_path / "aggregates.npz")
    store = AggregatesStore(tmp_path / "aggregates.npz")

    store.load()

    assert store.grid is not None and store.grid.device_keys == ["a", "b"]
    assert store.battery_log == {}
    assert not (tmp_path / "battery_log.json").exists()
