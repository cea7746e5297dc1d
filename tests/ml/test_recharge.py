"""Routine recharging (`ml.recharge`) and which rows a battery depletion applies to."""

from __future__ import annotations

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.bundle import load_bundle
from custom_components.homeiq_device_intel.ml.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from custom_components.homeiq_device_intel.ml.recharge import (
    RECHARGE_DAYS,
    recharge_starts,
    recharges_routinely,
)
from custom_components.homeiq_device_intel.ml.records import (
    DeviceRecord,
    EntityRecord,
    EntityRole,
    HomeHistory,
    Power,
    encode_states,
)
from custom_components.homeiq_device_intel.ml.scoring import score_home
from tests.ml.test_predictions_unchanged import SHIPPED

DAY = 24


def _nightly(days: int) -> np.ndarray:
    """A phone level: 100 % at 07:00, about 18 % at 23:00, back to 100 % overnight."""
    hours = np.arange(days * DAY) % DAY
    return np.where(hours < 7, 100.0, 100.0 - 82.0 * (hours - 7) / 16)[None, :]


def _draining(days: int) -> np.ndarray:
    """A primary battery: 90 % down to 20 % with sensor noise, never charged."""
    rng = np.random.default_rng(0)
    return (np.linspace(90.0, 20.0, days * DAY) + rng.normal(0, 2, days * DAY))[None, :]


def test_each_nightly_charge_counts_once():
    starts = recharge_starts(_nightly(10))
    assert int(starts.sum()) == 9  # the first morning has no evening before it


def test_a_draining_battery_with_noise_never_recharges():
    assert not recharge_starts(_draining(30)).any()


def test_a_battery_swap_is_one_recharge_and_not_a_routine():
    level = np.concatenate([np.linspace(60, 5, 10 * DAY), np.full(4 * DAY, 100.0)])[None, :]
    assert int(recharge_starts(level).sum()) == 1
    ends = np.array([level.shape[1]])
    assert not recharges_routinely(level, ends, np.array([False]))[0, 0]


def test_daily_charging_is_routine_without_any_prior():
    level = _nightly(RECHARGE_DAYS)
    ends = np.array([2 * DAY, level.shape[1]])
    routine = recharges_routinely(level, ends, np.array([False]))
    assert routine.tolist() == [[False, True]]  # one charge in two days is not yet a routine


def test_a_known_rechargeable_needs_two_charges_in_two_weeks():
    # Read for 16 days at 90 % (off its charger), then charged every night.
    level = np.concatenate([np.full((1, 16 * DAY), 90.0), _nightly(3)], axis=1)
    ends = np.array([17 * DAY + 8, 18 * DAY + 8])
    assert recharges_routinely(level, ends, np.array([True])).tolist() == [[False, True]]


def test_a_phone_read_for_less_than_two_weeks_is_taken_to_recharge():
    # A phone on its first day has not been on its charger yet: not a battery to replace. Once
    # its level has been read for two weeks without a charge, it is judged like any battery.
    level = _draining(20)
    ends = np.array([8, DAY, 10 * DAY, RECHARGE_DAYS * DAY, 20 * DAY])
    phone, known = np.array([True]), np.array([True])
    assert recharges_routinely(level, ends, known, phone).tolist() == [[True, True, True, False, False]]
    # Known rechargeable but not charged daily (a lock's pack), or not known at all: judged
    # from its first day.
    assert not recharges_routinely(level, ends, known, np.array([False])).any()
    assert not recharges_routinely(level, ends, np.array([False])).any()
    # Its level read only from day 5 on: two weeks from then.
    later = level.copy()
    later[:, : 5 * DAY] = np.nan
    assert recharges_routinely(later, ends, known, phone).tolist() == [[False, False, True, True, False]]


def test_unknown_levels_never_recharge():
    level = np.full((1, 5 * DAY), np.nan)
    assert not recharges_routinely(level, np.array([5 * DAY]), np.array([True])).any()


def test_a_battery_device_whose_level_cannot_be_read_shows_no_battery_outlook():
    start, hours = 1_700_000_000.0, 10 * DAY
    times = [start + 3600.0 * h for h in range(hours)]
    lock = EntityRecord(entity_id="lock.door", device_key="lock", role=EntityRole.PRIMARY)
    level = EntityRecord(
        entity_id="lock.door", device_key="lock", role=EntityRole.BATTERY, attribute="battery_level"
    )
    history = HomeHistory(
        home_id="h",
        start=start,
        end=times[-1] + 3600.0,
        devices=[
            DeviceRecord(device_key="lock", name="Door", integration="zha", kind="lock", power=Power.BATTERY)
        ],
        entities=[lock, level],
        states={
            lock.series_key: encode_states(times, ["locked" if h % 12 else "unlocked" for h in range(hours)]),
            level.series_key: encode_states(times, ["unknown"] * hours),
        },
    )
    bundle = load_bundle(
        SHIPPED, expected_feature_names=FEATURE_NAMES, expected_schema_version=FEATURE_SCHEMA_VERSION
    )
    (prediction,) = score_home(history, bundle, now=history.end)
    assert prediction.battery_days is None
    assert "battery_depleted" not in prediction.probabilities
    assert not any(reason.feature.startswith("battery") for reason in prediction.reasons)


def test_a_phone_is_scored_on_the_row_the_models_were_trained_and_evaluated_on():
    # A phone charged every night: its battery says nothing about it going offline, and scoring
    # reads it as unknown. The models must have learned (and been evaluated on) the same row:
    # otherwise its outage and stale probabilities at runtime come from inputs never trained on.
    from homeiq_lab.dataset import home_rows

    start, days = 1_700_000_000.0 - 1_700_000_000.0 % 86400, 21
    times = [start + 3600.0 * h + 60.0 for h in range(days * DAY)]
    phone = EntityRecord(entity_id="sensor.phone_steps", device_key="phone", role=EntityRole.PRIMARY)
    level = EntityRecord(entity_id="sensor.phone_battery", device_key="phone", role=EntityRole.BATTERY)
    history = HomeHistory(
        home_id="h",
        start=start,
        end=start + days * 86400.0,
        devices=[
            DeviceRecord(
                device_key="phone",
                name="Phone",
                integration="mobile_app",
                kind="phone",
                power=Power.RECHARGEABLE,
            )
        ],
        entities=[phone, level],
        states={
            phone.series_key: encode_states(times, [str(h * 7 % 50) for h in range(days * DAY)]),
            level.series_key: encode_states(times, [str(round(v)) for v in _nightly(days)[0]]),
        },
    )
    bundle = load_bundle(
        SHIPPED, expected_feature_names=FEATURE_NAMES, expected_schema_version=FEATURE_SCHEMA_VERSION
    )
    (prediction,) = score_home(history, bundle, now=history.end)
    frame, *_ = home_rows(history, eval_hours=np.array([days * DAY]))
    assert frame.recharging is not None and frame.recharging.all()
    trained = bundle.predict_proba(frame.X)
    for target in ("unavailable", "stale"):
        assert prediction.probabilities[target] == pytest.approx(float(trained[target][0]), abs=1e-9), target
