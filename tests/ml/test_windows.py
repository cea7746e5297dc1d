"""Window arithmetic: sums read window by window (scoring) equal prefix sums (training); flat is slope 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml import windows
from custom_components.homeiq_device_intel.ml.features import build_features, default_eval_hours
from custom_components.homeiq_device_intel.ml.grid import F32, build_grid
from custom_components.homeiq_device_intel.ml.windows import (
    DAY,
    FEW_ENDS,
    Counts,
    TrailingSlopes,
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


def _flat_and_slow(hours: int) -> F32:
    """Three batteries: drained then flat from hour 200, flat with gaps, and a real slow fall."""
    level = np.full((3, hours), np.nan, dtype=np.float32)
    level[0, :200] = np.linspace(100, 63, 200)
    level[0, 200:] = 63.0
    level[1, ::2] = 37.0
    level[2, :] = 80.0 - np.arange(hours) / (30 * DAY)  # 1 % in 30 days
    return level


def test_a_flat_stretch_has_a_slope_of_exactly_zero_wherever_the_window_sits():
    """Trees split slopes at 0: rounding left by the sums of a flat stretch must not pick a side.

    The shipped trees of an earlier bundle split battery slopes at 1.9e-12 and -6.5e-14 % a day,
    noise whose sign moved with the window's position over the 45-day grid.
    """
    hours = 45 * DAY
    slopes = TrailingSlopes(_flat_and_slow(hours))
    ends = np.arange(200 + 3 * DAY, hours + 1, 7, dtype=np.int64)
    for days in (3, 7, 14):
        got = slopes.slope(ends, days * DAY)
        flat = ends - days * DAY >= 200
        assert np.all(got[0, flat] == 0.0)
        assert np.all(got[1] == 0.0)
        assert np.allclose(got[2], -1.0 / 30, rtol=1e-3)


def test_without_the_snap_a_flat_stretch_leaves_rounding_of_either_sign(monkeypatch):
    """What the snap removes is there: the sums alone leave tiny slopes of both signs."""
    monkeypatch.setattr(windows, "DECIMALS", 20)
    hours = 45 * DAY
    ends = np.arange(200 + 3 * DAY, hours + 1, 7, dtype=np.int64)
    got = TrailingSlopes(_flat_and_slow(hours)).slope(ends, 3 * DAY)[:2]
    got = got[:, ends - 3 * DAY >= 200]
    assert (got > 0).any() and (got < 0).any()
    assert np.nanmax(np.abs(got)) < 1e-9


@pytest.mark.parametrize("n_ends", [1, 3, FEW_ENDS])
def test_slopes_and_means_at_a_few_hours_equal_those_among_many(n_ends):
    """The hourly scoring sums each window alone; training reads prefix sums: the same features."""
    hours = 45 * DAY
    level = np.vstack([_flat_and_slow(hours), np.round(RNG.random((4, hours)) * 100).astype(np.float32)])
    level[3:, ::7] = np.nan
    level[4, :] = np.float32(np.nan)  # a device without this channel
    few = np.sort(RNG.choice(np.arange(3 * DAY, hours + 1), size=n_ends, replace=False)).astype(np.int64)
    many = np.union1d(few, np.arange(DAY, hours + 1, DAY)).astype(np.int64)
    at = np.searchsorted(many, few)
    for days in (1, 3, 7, 14, 30):
        a, b = TrailingSlopes(level), TrailingSlopes(level)
        np.testing.assert_array_equal(a.slope(few, days * DAY), b.slope(many, days * DAY)[:, at])
        np.testing.assert_array_equal(a.mean(few, days * DAY), b.mean(many, days * DAY)[:, at])
