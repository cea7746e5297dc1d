"""Battery life from a device's own past batteries, and untrusted readings, on hand-built histories."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.battery_life import (
    OWN_SPREAD,
    OWN_SPREAD_PER_BATTERY,
    BatteryOutlook,
    Ending,
    Source,
    Unreliable,
    chemistry_for_battery_type,
    combine,
    outlook,
)
from custom_components.homeiq_device_intel.ml.grid import HOUR, build_grid
from custom_components.homeiq_device_intel.ml.records import (
    Chemistry,
    DeviceRecord,
    EntityRecord,
    EntityRole,
    HomeHistory,
    Power,
    Protocol,
    encode_states,
)
from custom_components.homeiq_device_intel.ml.scoring import DevicePrediction, Reason, with_battery_life
from homeiq_lab.battery_life_eval import _pieces, blended_intervals

T0 = 1_700_000_000.0 - (1_700_000_000.0 % 86400)
DAY_S = 86400.0


def _home(levels: list[str], *, swaps_days: list[float], days: int) -> HomeHistory:
    """One Zigbee sensor whose battery entity reports `levels` hourly; swaps known (Battery Notes)."""
    times = [T0 + h * HOUR + 60 for h in range(len(levels))]
    return HomeHistory(
        home_id="test",
        start=T0,
        end=T0 + days * DAY_S,
        devices=[
            DeviceRecord(
                device_key="a",
                name="a",
                integration="zha",
                protocol=Protocol.ZIGBEE,
                power=Power.BATTERY,
                chemistry=Chemistry.ALKALINE,
            )
        ],
        entities=[EntityRecord(entity_id="sensor.a_battery", device_key="a", role=EntityRole.BATTERY)],
        states={"sensor.a_battery": encode_states(times, levels)},
        statistics={},
        battery_swaps={"a": np.asarray([T0 + d * DAY_S + 1800 for d in swaps_days])},
        restarts=np.asarray([], dtype=float),
    )


def _three_batteries() -> HomeHistory:
    """Batteries swapped on days 1, 21, 41 and 61, each falling 100 -> 5 % in 19 days; now day 71."""
    levels = []
    for h in range(71 * 24):
        day = h / 24.0
        if day < 1.0:
            levels.append("40")
            continue
        since = (day - 1.0) % 20.0
        levels.append(str(round(max(100.0 - 95.0 * since / 19.0, 5.0))))
    return _home(levels, swaps_days=[1, 21, 41, 61], days=71)


def test_three_past_batteries_give_the_days_left_of_the_fourth():
    grid = build_grid(_three_batteries())
    view = outlook(grid, 0)
    assert len(view.past) == 3
    assert all(b.ending is Ending.RAN_OUT for b in view.past)
    assert view.typical_life_days == pytest.approx(19.0, abs=0.3)
    assert view.age_days == pytest.approx(10.0, abs=0.1)
    assert view.unreliable is None
    assert view.own_days is not None
    low, mid, high = view.own_days
    # 19-day batteries, this one 10 days old at about 50 %: about 9 days left.
    assert mid == pytest.approx(9.0, abs=0.7)
    assert low < mid < high
    assert low >= 0.0


def test_own_history_outweighs_the_model_and_the_model_serves_alone_without_it():
    grid = build_grid(_three_batteries())
    view = outlook(grid, 0)
    life = combine((20.0, 40.0, 80.0), view)
    assert life is not None
    assert life.source is Source.OWN_HISTORY
    assert view.own_days is not None
    # Three batteries weigh 3/4: much nearer the own 9 days than the model's 40.
    assert view.own_days[1] < life.days < 20.0
    assert life.days_low <= life.days <= life.days_high

    no_past = BatteryOutlook(past=(), typical_life_days=None, age_days=None, level=80.0)
    model_only = combine((20.0, 40.0, 80.0), no_past)
    assert model_only is not None
    assert model_only.source is Source.MODEL
    assert (model_only.days_low, model_only.days, model_only.days_high) == (20.0, 40.0, 80.0)
    assert combine(None, no_past) is None


def _died_at_60() -> HomeHistory:
    """A battery flat at 60 % that went dark for two days on day 20, swapped on day 22; now day 30."""
    levels = []
    for h in range(30 * 24):
        day = h / 24.0
        if day < 10:
            levels.append(str(round(100 - 4 * day)))
        elif day < 20:
            levels.append("60")
        elif day < 22:
            levels.append("unavailable")
        else:
            levels.append("100")
    return _home(levels, swaps_days=[22], days=30)


def _dark_at_60(dark: str, hours: int, *, swap: bool = True) -> HomeHistory:
    """A battery flat at 60 % from day 10, `dark` ("silent": no rows, or "unavailable") for `hours`
    from day 20, back on a fresh battery (or at 60 % without `swap`); now day 30."""
    times, levels = [], []
    for h in range(30 * 24):
        day = h / 24.0
        if 20 * 24 <= h < 20 * 24 + hours:
            if dark == "silent":
                continue
            level = "unavailable"
        elif day < 10:
            level = str(round(100 - 4 * day))
        else:
            level = "100" if swap and h >= 20 * 24 + hours else "60"
        times.append(T0 + h * HOUR + 60)
        levels.append(level)
    home = _home(levels, swaps_days=[20 + hours / 24] if swap else [], days=30)
    home.states = {"sensor.a_battery": encode_states(times, levels)}
    return home


@pytest.mark.parametrize(("dark", "hours"), [("silent", 72), ("unavailable", 10)])
def test_a_battery_that_fell_silent_or_dark_for_hours_before_a_fresh_one_died(dark: str, hours: int):
    # A sleeping sensor HA never marks unavailable dies silent; a found-dead one is swapped within hours.
    view = outlook(build_grid(_dark_at_60(dark, hours)), 0)
    assert view.unreliable is Unreliable.DIED_HIGH
    assert view.unreliable_level == pytest.approx(60.0)
    # The same dark spell back at the same level, or three hours dark around a swap: no death.
    assert outlook(build_grid(_dark_at_60(dark, hours, swap=False)), 0).unreliable is not Unreliable.DIED_HIGH
    assert outlook(build_grid(_dark_at_60(dark, 3)), 0).unreliable is not Unreliable.DIED_HIGH


def test_a_device_that_died_at_a_high_reading_is_flagged_and_its_interval_reaches_zero():
    grid = build_grid(_died_at_60())
    view = outlook(grid, 0)
    assert view.unreliable is Unreliable.DIED_HIGH
    assert view.unreliable_level == pytest.approx(60.0)
    life = combine((30.0, 60.0, 90.0), view)
    assert life is not None
    assert life.days_low == 0.0  # it may die at any reading
    assert life.days == 60.0

    prediction = DevicePrediction(
        device_key="a",
        probability=0.2,
        failure_type="battery_depleted",
        probabilities={"battery_depleted": 0.2},
        reasons=(Reason(feature="battery_level", text="battery at 100 %", weight=1.0),),
        battery_days=60.0,
        battery_days_low=30.0,
        battery_days_high=90.0,
        anomaly=None,
    )
    [scored] = with_battery_life([prediction], grid)
    assert scored.battery_life is not None
    assert scored.battery_days_low == 0.0
    assert scored.reasons[0].text == "battery reading unreliable: this device died at 60 % last time"
    assert scored.reasons[1].text == "battery at 100 %"

    # Beside going offline, a battery phrase is no reason: the reading shows on the battery sensor.
    offline = Reason(feature="drops_7d", text="dropped offline 3 times this week", weight=1.0)
    going_offline = replace(prediction, failure_type="unavailable", reasons=(offline,))
    [scored] = with_battery_life([going_offline], grid)
    assert scored.battery_life is not None and scored.battery_days_low == 0.0
    assert scored.reasons == (offline,)


def test_coarse_steps_are_flagged_and_widen_the_low_end():
    steps = [100, 70, 40, 10]
    levels = [str(steps[min(h // (12 * 24), 3)]) for h in range(40 * 24)]
    grid = build_grid(_home(levels, swaps_days=[], days=40))
    view = outlook(grid, 0)
    assert view.unreliable is Unreliable.COARSE
    life = combine((4.0, 8.0, 12.0), view)
    assert life is not None
    assert life.days_low < 4.0  # one step lower could be empty already
    assert life.source is Source.MODEL


def test_a_level_stuck_at_one_percent_for_a_month_is_flagged_but_a_moving_one_is_not():
    stuck = build_grid(_home(["1"] * (40 * 24), swaps_days=[], days=40))
    assert outlook(stuck, 0).unreliable is Unreliable.STUCK
    moving = build_grid(_home([str(round(90 - h / 24)) for h in range(40 * 24)], swaps_days=[], days=40))
    assert outlook(moving, 0).unreliable is None


def test_no_past_battery_before_the_first_known_swap():
    levels = [str(round(100 - h / 48)) for h in range(30 * 24)]
    view = outlook(build_grid(_home(levels, swaps_days=[], days=30)), 0)
    assert view.past == ()
    assert view.age_days is None
    assert view.own_days is None


@pytest.mark.parametrize(
    ("battery_type", "chemistry"),
    [
        ("CR2032", Chemistry.COIN),
        ("CR2450", Chemistry.COIN),
        ("CR123A", Chemistry.LITHIUM),
        ("AAA", Chemistry.ALKALINE),
        ("AA", Chemistry.ALKALINE),
        ("LR6", Chemistry.ALKALINE),
        ("9V", Chemistry.ALKALINE),
        ("Rechargeable", Chemistry.LI_ION),
        ("18650", Chemistry.LI_ION),
        ("NiMH AA", Chemistry.NIMH),
        ("Lithium AA", Chemistry.LITHIUM),
        ("MANUAL", Chemistry.UNKNOWN),
        ("", Chemistry.UNKNOWN),
        (None, Chemistry.UNKNOWN),
    ],
)
def test_battery_notes_battery_types_set_the_chemistry(battery_type: object, chemistry: Chemistry) -> None:
    assert chemistry_for_battery_type(battery_type) is chemistry


def test_the_evaluations_vectorised_intervals_are_those_combine_gives():

    view = outlook(build_grid(_three_batteries()), 0)
    for model in ((20.0, 40.0, 80.0), (1.0, 3.0, 5.0)):
        life = combine(model, view)
        assert life is not None
        pieces = np.asarray([_pieces(view, model)])
        [est] = blended_intervals(pieces, (OWN_SPREAD, OWN_SPREAD_PER_BATTERY))
        assert est == pytest.approx([life.days_low, life.days, life.days_high])
