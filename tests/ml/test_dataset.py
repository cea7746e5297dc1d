"""Datasets: rows built in the generating worker equal rows built from the generated homes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.features import FEATURE_INDEX, default_eval_hours
from custom_components.homeiq_device_intel.ml.grid import build_grid
from homeiq_lab.dataset import (
    _home_rows_with_heuristics,
    _map,
    _workers,
    build_dataset,
    combine,
    synthetic_dataset,
)
from homeiq_lab.heuristics import GRID_HEURISTICS, grid_heuristics
from homeiq_lab.live_view import as_discovered
from homeiq_lab.synthetic import GeneratorConfig, generate_homes

CONFIG = GeneratorConfig(n_homes=3, days=30, devices_per_home=(8, 14), failure_rate=0.4, seed=21)


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.X, b.X)
    for t in a.y:
        np.testing.assert_array_equal(a.y[t], b.y[t])
        np.testing.assert_array_equal(a.next_event_hour[t], b.next_event_hour[t])
    np.testing.assert_array_equal(a.home, b.home)
    np.testing.assert_array_equal(a.device, b.device)
    np.testing.assert_array_equal(a.hour, b.hour)
    np.testing.assert_array_equal(a.family, b.family)
    assert a.home_ids == b.home_ids and a.device_keys == b.device_keys
    np.testing.assert_array_equal(a.heuristic_columns, b.heuristic_columns)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_synthetic_dataset_matches_generate_then_build(tmp_path, n_jobs: int):
    homes = generate_homes(CONFIG)
    expected = build_dataset([as_discovered(home) for home in homes])
    try:
        ds, light = synthetic_dataset(CONFIG, n_jobs=n_jobs, cache_dir=tmp_path)
    finally:
        if n_jobs != 1:  # no worker threads left behind (the HA test plugin checks)
            loky = pytest.importorskip("joblib.externals.loky")
            loky.get_reusable_executor().shutdown(wait=True)
    _same(ds, expected)
    # The returned homes keep what the evaluation needs and drop the records.
    assert [h.ground_truth for h in light] == [h.ground_truth for h in homes]
    assert [h.scenario for h in light] == [h.scenario for h in homes]
    assert all(not h.states and not h.statistics for h in light)
    # Second run reads the cache written by the first: same rows.
    again, _ = synthetic_dataset(CONFIG, n_jobs=1, cache_dir=tmp_path)
    _same(again, expected)


def test_combine_makes_indices_global():
    homes = generate_homes(CONFIG)
    first, second = build_dataset(homes[:1]), build_dataset(homes[1:])
    both = combine([first, second])
    _same(both, build_dataset(homes))
    assert both.device.max() + 1 == len(both.device_keys)
    # Every device index points at a device of the row's own home.
    for home_index, home in enumerate(homes):
        ids = {d.device_key for d in home.devices}
        rows = both.home == home_index
        assert {both.device_keys[i] for i in np.unique(both.device[rows])} <= ids


def test_heuristic_columns_follow_the_rows():
    ds = build_dataset(generate_homes(CONFIG))
    assert ds.heuristic_columns is not None
    assert ds.heuristic_columns.shape == (len(ds), len(GRID_HEURISTICS))
    growth = ds.heuristic_columns[:, GRID_HEURISTICS.index("outage_growth")]
    # A duration trend needs two finished outages: never where the device never dropped out.
    never = ds.X[:, FEATURE_INDEX["unavailable_hours_7d"]] == 0
    seen = np.isfinite(growth)
    assert seen.any() and not (seen & never & (ds.hour < 7 * 24)).any()
    sub = ds.subset(seen)
    np.testing.assert_array_equal(sub.heuristic_columns, ds.heuristic_columns[seen])


def test_heuristic_columns_are_the_grid_heuristics():
    # The rows take the outage trends the features computed: the columns `grid_heuristics` gives.
    seen = []
    for history in generate_homes(CONFIG):
        grid = build_grid(history)
        *_, extra = _home_rows_with_heuristics(history)
        expected = grid_heuristics(grid, default_eval_hours(grid))
        np.testing.assert_array_equal(extra, expected)
        seen.append(np.isfinite(expected))
    assert np.concatenate(seen).any(axis=0).all()  # both trends somewhere


def test_worker_count_reads_n_jobs_as_joblib_does():
    cpus = os.cpu_count() or 1
    assert _workers(1, 10) == 1 and _workers(4, 1) == 1  # in turn
    assert _workers(4, 3) == 3  # never more workers than calls
    assert _workers(-1, 1000) == cpus
    assert _workers(-2, 1000) == max(1, cpus - 1)
    with pytest.raises(ValueError, match="n_jobs=0"):
        _workers(0, 10)  # as joblib: no worker is no way to run


def _square_but_three(x: int) -> int:
    if x == 3:
        raise ValueError("home 3 is broken")
    return x * x


def test_worker_processes_keep_the_order_and_pass_a_failure_on():
    assert _map(_square_but_three, [(x,) for x in (5, 1, 4)], n_jobs=2) == [25, 1, 16]
    with pytest.raises(ValueError, match="home 3 is broken"):
        _map(_square_but_three, [(x,) for x in (1, 2, 3, 4, 5, 6)], n_jobs=2)
