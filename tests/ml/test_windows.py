"""Window sums and latest hours read window by window (hourly scoring) equal the prefix sums (training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.features import build_features, default_eval_hours
from custom_components.homeiq_device_intel.ml.grid import build_grid
from custom_components.homeiq_device_intel.ml.windows import (
    FEW_ENDS,
    Counts,
    last_true,
    latest_true,
    prefix_sums,
    window_sums,
)

RNG = np.random.default_rng(18)


@pytest.mark.parametrize(
    "values",
    [
        RNG.random((7, 300)) < 0.2,
        RNG.integers(0, 40, size=(7, 300)).astype(np.uint16),
        RNG.integers(0, 3, size=(7, 300)).astype(np.float64),
        np.zeros((0, 300), dtype=bool),
    ],
    ids=["flags", "counts", "whole floats", "no devices"],
)
@pytest.mark.parametrize("n_ends", [1, 3, FEW_ENDS, FEW_ENDS + 1, 40])
def test_counts_sum_window_by_window_as_prefix_sums_do(values, n_ends):
    ends = np.sort(RNG.integers(1, 301, size=n_ends)).astype(np.int64)
    ends[-1] = 300
    prefix = prefix_sums(values.astype(np.float64))
    counts = Counts(values)
    for hours in (1, 24, 72, 300, 500):
        np.testing.assert_array_equal(counts.window(ends, hours), window_sums(prefix, ends, hours))
    # Per device starts: the sums from each device's own hour to each end.
    lo = np.minimum(RNG.integers(0, 301, size=(values.shape[0], n_ends)), ends[None, :])
    expected = prefix[:, ends] - np.take_along_axis(prefix, lo, axis=1)
    np.testing.assert_array_equal(counts.between(lo, ends), expected)


@pytest.mark.parametrize("n_last", [1, 2, FEW_ENDS + 3])
def test_latest_true_finds_the_hour_last_true_does(n_last):
    mask = RNG.random((9, 200)) < 0.03
    mask[0] = False  # never true: -1
    mask[1, 0] = True  # true only at the first hour
    mask[1, 1:] = False
    last = np.sort(RNG.integers(0, 200, size=n_last)).astype(np.int64)
    last[0] = 0
    np.testing.assert_array_equal(latest_true(mask, last), last_true(mask)[:, last])


def test_features_at_the_scoring_hour_alone_equal_that_hour_among_every_day(tmp_path: Path):
    """The hourly scoring (one end) reads the same features as training (many ends) at that hour."""
    pytest.importorskip("homeiq_lab")
    from homeiq_lab.synthetic.config import GeneratorConfig
    from homeiq_lab.synthetic.homes import cached_home

    config = GeneratorConfig(n_homes=1, days=60, devices_per_home=(40, 40), failure_rate=0.8, seed=4)
    history = cached_home(config, 0, tmp_path)
    grid = build_grid(history, start=history.start, end=history.end)
    daily = default_eval_hours(grid)
    every = build_features(history, grid, daily)
    for k in (len(daily) // 2, len(daily) - 1):
        alone = build_features(history, grid, daily[k : k + 1])
        np.testing.assert_array_equal(alone.X, every.X[every.eval_hour == daily[k]])
