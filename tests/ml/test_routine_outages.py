"""Devices that go offline routinely (`ml.routine_outages`): no outage alarm for a habit."""

from __future__ import annotations

import numpy as np

from custom_components.homeiq_device_intel.ml.bundle import load_bundle
from custom_components.homeiq_device_intel.ml.features import (
    FEATURE_NAMES,
    FEATURE_SCHEMA_VERSION,
    build_features,
    default_eval_hours,
)
from custom_components.homeiq_device_intel.ml.grid import build_grid
from custom_components.homeiq_device_intel.ml.labels import build_labels, find_events
from custom_components.homeiq_device_intel.ml.records import (
    DeviceRecord,
    EntityRecord,
    EntityRole,
    FailureType,
    HomeHistory,
    Power,
    encode_states,
)
from custom_components.homeiq_device_intel.ml.routine_outages import (
    ROUTINE_DAYS,
    offline_routinely,
    switched_off_prior,
)
from custom_components.homeiq_device_intel.ml.scoring import score_home
from tests.ml.test_predictions_unchanged import SHIPPED

DAY = 24
START = 1_700_000_000.0


def _nightly_off(days: int, hours_off: int = 12, at: int = 20) -> np.ndarray:
    """Unavailable from `at` o'clock for `hours_off` hours every day."""
    hour = np.arange(days * DAY)
    return ((hour - at) % DAY < hours_off).astype(np.float64)[None, :]


def test_a_device_off_every_night_goes_offline_routinely_after_four_nights():
    down = _nightly_off(ROUTINE_DAYS)
    routine = offline_routinely(down, np.array([3 * DAY, 6 * DAY, ROUTINE_DAYS * DAY]))
    assert routine.tolist() == [[False, True, True]]


def test_short_dropouts_and_a_single_long_outage_are_no_routine():
    blinks = ((np.arange(20 * DAY) % DAY) == 3).astype(np.float64)  # an hour every day
    once = np.zeros(20 * DAY)
    once[5 * DAY : 6 * DAY] = 1.0  # one day-long outage
    ends = np.array([20 * DAY])
    assert not offline_routinely(np.stack([blinks, once]), ends).any()


def test_a_device_that_stops_coming_back_leaves_the_routine():
    down = np.concatenate([_nightly_off(6), np.ones((1, 20 * DAY))], axis=1)
    routine = offline_routinely(down, np.array([6 * DAY, 6 * DAY + 10 * DAY, 26 * DAY]))
    # Routine while its nights still count; not any more once they aged out of the window.
    assert routine.tolist() == [[True, True, False]]


def _days_off(pattern: str) -> np.ndarray:
    """Unavailable on each day marked 'x' (so days off in a row merge into one outage)."""
    return np.repeat([1.0 if c == "x" else 0.0 for c in pattern], DAY)


def test_a_printer_off_for_days_at_a_time_goes_offline_routinely_after_coming_back_once():
    # On one day in four: its days off merge into three-day outages, three in a fortnight.
    down = _days_off("o" * 7 + "xxxo" * 4)[None, :].repeat(2, axis=0)
    ends = np.array([10 * DAY, 11 * DAY, 19 * DAY])
    printer_and_plug = np.array([True, False])
    routine = offline_routinely(down, ends, printer_and_plug)
    # The printer's first outage is judged (it never came back yet); from its first return on,
    # its days off are its habit. The same outages on a device with no such prior are not.
    assert routine.tolist() == [[False, True, True], [False, False, False]]
    assert not offline_routinely(down, ends).any()  # no prior given: none is known


def test_media_players_and_printers_are_known_to_be_switched_off():
    devices = [
        DeviceRecord(device_key="tv", name="TV", integration="webostv", kind="media_player"),
        DeviceRecord(device_key="printer", name="Printer", integration="ipp", kind="other"),
        DeviceRecord(device_key="mfc", name="MFC", integration="brother", kind="other"),
        DeviceRecord(device_key="plug", name="Plug", integration="shelly", kind="plug"),
        DeviceRecord(device_key="lock", name="Lock", integration="zwave_js", kind="lock"),
    ]
    history = HomeHistory(home_id="h", start=START, end=START + 3600.0, devices=devices, entities=[])
    prior = switched_off_prior(history, ["tv", "printer", "mfc", "plug", "lock", "unknown"])
    assert prior.tolist() == [True, True, True, False, False, False]


def _mains_home(downs: dict[str, np.ndarray], days: int, kinds: dict[str, str] | None = None) -> HomeHistory:
    times = [START + 3600.0 * h + 60.0 for h in range(days * DAY)]
    devices, entities, states = [], [], {}
    for key, down in downs.items():
        kind = (kinds or {}).get(key, "tv")
        record = DeviceRecord(device_key=key, name=key, integration="cast", kind=kind, power=Power.MAINS)
        devices.append(record)
        entity = EntityRecord(entity_id=f"media_player.{key}", device_key=key, role=EntityRole.PRIMARY)
        entities.append(entity)
        values = ["unavailable" if d > 0.5 else ("on" if h % 3 else "idle") for h, d in enumerate(down)]
        states[entity.series_key] = encode_states(times, values)
    return HomeHistory(
        home_id="h", start=START, end=times[-1] + 3540.0, devices=devices, entities=entities, states=states
    )


def test_a_tv_off_every_night_is_not_failing_while_off_and_gets_no_outage_probability():
    days = 21
    tv = _nightly_off(days)[0]
    plug = np.zeros(days * DAY)
    plug[-9:] = 1.0  # first outage of its life, 9 h so far
    history = _mains_home({"tv": tv, "plug": plug}, days)
    bundle = load_bundle(
        SHIPPED, expected_feature_names=FEATURE_NAMES, expected_schema_version=FEATURE_SCHEMA_VERSION
    )
    now = START + (days * DAY - 5) * 3600.0  # 01:00 on the last night: the TV has been off 5 h
    predictions = {p.device_key: p for p in score_home(history, bundle, now=now)}
    assert FailureType.UNAVAILABLE not in predictions["tv"].probabilities
    assert not predictions["tv"].failing_now
    later = {p.device_key: p for p in score_home(history, bundle, now=history.end)}
    assert not later["tv"].failing_now  # off 12 h now, as every night
    assert later["plug"].failing_now and later["plug"].failure_type == FailureType.UNAVAILABLE


def test_the_labels_of_a_routine_device_are_neither_failures_nor_healthy():
    days = 21
    # Off from 12:00 to 20:00: the daily rows (at midnight) see it up.
    history = _mains_home({"tv": _nightly_off(days, hours_off=8, at=12)[0]}, days)
    grid = build_grid(history)
    frame = build_features(history, grid, default_eval_hours(grid))
    labels = build_labels(grid, frame, find_events(grid))
    y = labels.y[FailureType.UNAVAILABLE]
    hours = frame.eval_hour
    routine = hours >= 6 * DAY
    assert np.isnan(y[routine]).all()
    assert (y[~routine] == 1.0).any()  # before it was a routine, its first nights looked like failures


def test_a_tv_off_for_days_at_a_time_is_not_failing_once_it_came_back_but_a_plug_so_is():
    # Off for two or three days at a time, back for a day: never four long outages in two weeks.
    pattern = "o" * 10 + "xxo" + "xxxo" + "xxx"
    days = len(pattern)
    kinds = {"tv": "media_player", "plug": "plug"}
    history = _mains_home({"tv": _days_off(pattern), "plug": _days_off(pattern)}, days, kinds)
    bundle = load_bundle(
        SHIPPED, expected_feature_names=FEATURE_NAMES, expected_schema_version=FEATURE_SCHEMA_VERSION
    )
    predictions = {p.device_key: p for p in score_home(history, bundle, now=history.end)}
    assert FailureType.UNAVAILABLE not in predictions["tv"].probabilities
    assert not predictions["tv"].failing_now
    # The same history on a smart plug is a plug that keeps dropping for days: judged.
    assert predictions["plug"].failing_now and predictions["plug"].failure_type == FailureType.UNAVAILABLE
