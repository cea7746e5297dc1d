"""An untrusted battery reading changes the battery probability (and only then)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.battery_life import Unreliable
from custom_components.homeiq_device_intel.ml.bundle import ModelBundle, load_bundle
from custom_components.homeiq_device_intel.ml.features import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    FEATURE_SCHEMA_VERSION,
    build_features,
)
from custom_components.homeiq_device_intel.ml.grid import build_grid
from custom_components.homeiq_device_intel.ml.reading import as_died_high, as_read, as_stuck
from custom_components.homeiq_device_intel.ml.records import HomeHistory
from custom_components.homeiq_device_intel.ml.scoring import (
    DevicePrediction,
    lean_on_other_signals,
    score_frame,
    score_home,
    with_battery_life,
)

from .test_battery_life import DAY_S, T0, _home

SHIPPED = Path(__file__).resolve().parents[2] / "custom_components" / "homeiq_device_intel" / "models"
BATTERY = "battery_depleted"
NOW_DAY = 60


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return load_bundle(
        SHIPPED, expected_feature_names=FEATURE_NAMES, expected_schema_version=FEATURE_SCHEMA_VERSION
    )


def _reading_62(*, died_at_60: bool) -> HomeHistory:
    """A battery at 60 % that (or not) went dark for two days on day 20, swapped on day 22.

    The new battery falls 1 %/day: 62 % on day 60 (now).
    """
    levels = []
    for h in range(NOW_DAY * 24):
        day = h / 24.0
        if day < 10:
            levels.append(str(round(100 - 4 * day)))
        elif day < 20:
            levels.append("60")
        elif day < 22:
            levels.append("unavailable" if died_at_60 else "60")
        else:
            levels.append(str(round(100 - (day - 22))))
    return _home(levels, swaps_days=[22], days=NOW_DAY)


def _score(history: HomeHistory, bundle: ModelBundle, *, lean: bool = True) -> DevicePrediction:
    now = T0 + NOW_DAY * DAY_S
    if lean:
        [prediction] = score_home(history, bundle, now=now)
        return prediction
    grid = build_grid(history, start=T0, end=now)
    frame = build_features(history, grid, np.array([grid.n_hours], dtype=np.int64))
    [prediction] = with_battery_life(score_frame(frame, bundle), grid)
    return prediction


def test_a_device_that_died_at_60_reading_62_is_likelier_to_run_out(bundle: ModelBundle):
    died = _score(_reading_62(died_at_60=True), bundle)
    healthy = _score(_reading_62(died_at_60=False), bundle)
    assert died.battery_life is not None and died.battery_life.outlook.unreliable is Unreliable.DIED_HIGH
    assert healthy.battery_life is not None and healthy.battery_life.outlook.unreliable is None
    assert died.probabilities[BATTERY] > healthy.probabilities[BATTERY] + 0.2
    assert (
        died.probabilities[BATTERY]
        > _score(_reading_62(died_at_60=True), bundle, lean=False).probabilities[BATTERY]
    )
    assert died.failure_type == BATTERY
    assert died.probability == max(died.probabilities.values())
    assert died.reasons[0].text == "battery reading unreliable: this device died at 60 % last time"


def test_a_device_with_a_trusted_reading_is_scored_as_before(bundle: ModelBundle):
    history = _reading_62(died_at_60=False)
    assert _score(history, bundle) == _score(history, bundle, lean=False)


def test_an_untrusted_reading_never_lowers_the_probability(bundle: ModelBundle):
    history = _reading_62(died_at_60=True)
    raw = _score(history, bundle, lean=False)
    now = T0 + NOW_DAY * DAY_S
    grid = build_grid(history, start=T0, end=now)
    frame = build_features(history, grid, np.array([grid.n_hours], dtype=np.int64))
    # The model already says more than the reading read as untrusted would: its figure stays.
    certain = replace(raw, probabilities={**raw.probabilities, BATTERY: 1.0}, probability=1.0)
    assert lean_on_other_signals([certain], frame, bundle, horizon_days=7.0) == [certain]


def test_died_high_maps_the_level_onto_the_batterys_real_range():
    row = np.zeros(len(FEATURE_NAMES))
    row[FEATURE_INDEX["battery_level"]] = 62.0
    row[FEATURE_INDEX["battery_slope_7d"]] = -1.0
    row[FEATURE_INDEX["battery_days_linear"]] = 57.0  # (62 - 5) / 1
    read = as_died_high(row, 60.0)
    assert read[FEATURE_INDEX["battery_level"]] == pytest.approx(5.0 + 2.0 * 95.0 / 40.0)
    assert read[FEATURE_INDEX["battery_slope_7d"]] == pytest.approx(-95.0 / 40.0)
    assert read[FEATURE_INDEX["battery_days_linear"]] == pytest.approx(2.0)  # two days to 60 %
    row[FEATURE_INDEX["battery_level"]] = 100.0
    assert as_died_high(row, 60.0)[FEATURE_INDEX["battery_level"]] == pytest.approx(100.0)
    assert row[FEATURE_INDEX["battery_level"]] == 100.0  # the row itself is not changed


def test_stuck_makes_the_level_unknown_and_keeps_the_other_signals():
    row = np.arange(len(FEATURE_NAMES), dtype=np.float64)
    read = as_stuck(row)
    for name in ("battery_level", "battery_slope_7d", "battery_days_linear", "battery_drop_30d"):
        assert np.isnan(read[FEATURE_INDEX[name]]), name
    for name in ("battery_hours_since_change", "days_since_swap", "hours_since_report", "age_days"):
        assert read[FEATURE_INDEX[name]] == row[FEATURE_INDEX[name]], name
    assert as_read(row, Unreliable.COARSE, None) is None
    assert as_read(row, None, None) is None
