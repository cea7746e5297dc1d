"""Home-wide outages (a power cut with HA on a UPS, the home's network down): no device's own failure."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.features import build_features, default_eval_hours
from custom_components.homeiq_device_intel.ml.grid import (
    HOME_START_HOURS,
    HOUR,
    build_grid,
    home_down,
)
from custom_components.homeiq_device_intel.ml.labels import build_labels, find_events
from custom_components.homeiq_device_intel.ml.records import (
    DeviceRecord,
    EntityRecord,
    EntityRole,
    FailureType,
    HomeHistory,
    Power,
    Protocol,
    encode_states,
)
from custom_components.homeiq_device_intel.ml.scoring import SharedOutage, home_grid, score_home
from tests.tiny_models import tiny_bundle

T0 = 1_700_000_000.0 - (1_700_000_000.0 % 86400)
DAY = 24
DAYS = 30
CUT = 20 * DAY + 2  # the power cut's first hour (day 20, 02:00)

# (integration, bridge it hangs off, power): one group per Wi-Fi integration, one per coordinator.
SHELLY = ("shelly", None, Power.MAINS)
TPLINK = ("tplink", None, Power.MAINS)
ZHA_ROUTER = ("zha", "coordinator", Power.MAINS)
ZHA_SENSOR = ("zha", "coordinator", Power.BATTERY)


def _home(
    devices: list[tuple[tuple[str, str | None, Power], set[int]]],
    days: int = DAYS,
    *,
    level: float | None = None,
) -> HomeHistory:
    """Devices reporting every hour, device k unavailable in the hours of its set.

    `level`: the battery level battery devices read (88-90 % otherwise)."""
    records, entities, states = [], [], {}
    for k, ((integration, via, power), down) in enumerate(devices):
        key = f"d{k}"
        records.append(
            DeviceRecord(
                device_key=key,
                name=key,
                integration=integration,
                protocol=Protocol.ZIGBEE if integration == "zha" else Protocol.WIFI,
                power=power,
                via_device_key=via,
            )
        )
        role = EntityRole.BATTERY if power is Power.BATTERY else EntityRole.PRIMARY
        entities.append(EntityRecord(entity_id=f"sensor.{key}", device_key=key, role=role))
        hours = range(days * DAY)
        times = [T0 + h * HOUR + 60 for h in hours]
        reading = str(level) if level is not None and power is Power.BATTERY else None
        values = ["unavailable" if h in down else reading or str(90 - h % 3) for h in hours]
        states[f"sensor.{key}"] = encode_states(times, values)
    return HomeHistory(
        home_id="test",
        start=T0,
        end=T0 + days * DAY * HOUR,
        devices=records,
        entities=entities,
        states=states,
    )


def _hours(first: int, last: int) -> set[int]:
    return set(range(first, last))


def _power_cut(hours: int = 8, *, lag: int = 0) -> HomeHistory:
    """A Shelly plug, a TP-Link plug and a Zigbee router down together (the router `lag` hours later)."""
    return _home(
        [
            (SHELLY, _hours(CUT, CUT + hours)),
            (TPLINK, _hours(CUT, CUT + hours)),
            (ZHA_ROUTER, _hours(CUT + lag, CUT + hours)),
        ]
    )


# ---------------------------------------------------------------- the grid


def test_mains_devices_of_two_groups_going_down_together_are_a_home_outage():
    history = _power_cut()
    grid = build_grid(history)
    flagged = home_down(history, grid)
    assert [np.flatnonzero(row).tolist() for row in flagged] == [list(range(CUT, CUT + 8))] * 3
    # What the grid treats as "its bridge was out", as in a bridge's outage.
    np.testing.assert_array_equal(grid.bridge_down, flagged)


@pytest.mark.parametrize(
    ("lag", "together"), [(1, True), (HOME_START_HOURS, True), (HOME_START_HOURS + 2, False)]
)
def test_outages_began_together_within_a_few_hours(lag: int, together: bool):
    # ZHA marks a mains device unavailable two hours after its last check-in; Wi-Fi plugs in minutes.
    history = _power_cut(lag=lag)
    grid = build_grid(history)
    assert bool(grid.bridge_down[:, CUT + 7].all()) is together
    if together:  # each device from its own outage's start
        assert np.flatnonzero(grid.bridge_down[2]).min() == CUT + lag
        assert np.flatnonzero(grid.bridge_down[0]).min() == CUT


def test_three_plugs_that_died_on_their_own_weeks_apart_are_not_a_power_cut():
    # Down together from day 19 to the end, of three groups: but each went down on its own.
    history = _home(
        [
            (SHELLY, _hours(5 * DAY, DAYS * DAY)),
            (TPLINK, _hours(12 * DAY + 7, DAYS * DAY)),
            (ZHA_ROUTER, _hours(19 * DAY + 15, DAYS * DAY)),
        ]
    )
    grid = build_grid(history)
    assert not grid.bridge_down.any()
    assert [len(s) for s in find_events(grid).starts[FailureType.UNAVAILABLE]] == [1, 1, 1]


def test_battery_devices_are_not_counted():
    # Two plugs and a battery sensor down together: two devices without a battery are too few.
    history = _home(
        [
            (SHELLY, _hours(CUT, CUT + 8)),
            (TPLINK, _hours(CUT, CUT + 8)),
            (ZHA_SENSOR, _hours(CUT, CUT + 8)),
        ]
    )
    assert not build_grid(history).bridge_down.any()


def test_a_battery_device_down_with_them_is_in_the_home_wide_outage_without_counting_towards_it():
    # The router down for 8 h: two plugs, a Zigbee router and a Wi-Fi camera at 20 % (its own
    # integration) go down the same hour. The camera is down in the outage (neither an outage of
    # its own nor its battery dying); it is not counted: the three mains devices make the outage.
    camera = ("ring", None, Power.BATTERY)
    down = _hours(CUT, CUT + 30)
    history = _home([(SHELLY, down), (TPLINK, down), (ZHA_ROUTER, down), (camera, down)], level=20)
    grid = build_grid(history)
    assert home_down(history, grid)[:, CUT : CUT + 30].all()
    events = find_events(grid)
    assert events.starts[FailureType.UNAVAILABLE][3].size == 0
    assert events.depletions[3].size == 0
    # The camera down alone as long: its battery died.
    alone = build_grid(_home([(SHELLY, set()), (TPLINK, set()), (camera, down)], level=20))
    assert find_events(alone).depletions[2].tolist() == [CUT]


def test_devices_of_one_group_only_are_a_bridge_outage_not_a_home_outage():
    history = _home([(ZHA_ROUTER, _hours(CUT, CUT + 8))] * 3)
    grid = build_grid(history)
    assert grid.bridge_down[:, CUT : CUT + 8].all()  # the bridge's outage, as before
    assert not home_down(history, grid).any()


def test_a_device_still_down_when_the_others_are_back_is_down_on_its_own_from_then():
    history = _home(
        [
            (SHELLY, _hours(CUT, CUT + 8)),
            (TPLINK, _hours(CUT, CUT + 8)),
            (ZHA_ROUTER, _hours(CUT, DAYS * DAY)),  # never came back
        ]
    )
    grid = build_grid(history)
    assert np.flatnonzero(grid.bridge_down[2]).tolist() == list(range(CUT, CUT + 8))


def test_an_outage_under_way_when_the_data_begins_has_no_known_start():
    # Down from the first hour: whether they went down together is not known (a scoring window
    # that begins after three plugs died on their own looks the same).
    history = _home([(SHELLY, _hours(0, 8)), (TPLINK, _hours(0, 8)), (ZHA_ROUTER, _hours(0, 8))])
    assert not build_grid(history).bridge_down.any()


# ---------------------------------------------------------------- labels


def test_devices_down_in_a_power_cut_have_no_outage_of_their_own():
    history = _power_cut()
    grid = build_grid(history)
    frame = build_features(history, grid, default_eval_hours(grid))
    events = find_events(grid)
    assert all(s.size == 0 for s in events.starts[FailureType.UNAVAILABLE])
    y = build_labels(grid, frame, events).y[FailureType.UNAVAILABLE]
    day_before = (frame.eval_hour == 19 * DAY) | (frame.eval_hour == 16 * DAY)
    assert (y[day_before] == 0.0).all()  # a healthy week ahead, not a failure


def test_a_plug_that_never_came_back_after_the_power_cut_still_failed():
    history = _home(
        [
            (SHELLY, _hours(CUT, CUT + 8)),
            (TPLINK, _hours(CUT, CUT + 8)),
            (ZHA_ROUTER, _hours(CUT, DAYS * DAY)),
        ]
    )
    starts = find_events(build_grid(history)).starts[FailureType.UNAVAILABLE]
    assert [s.tolist() for s in starts] == [[], [], [CUT]]


# ---------------------------------------------------------------- scoring


def _scored(history: HomeHistory, hour: int):
    return {p.device_key: p for p in score_home(history, tiny_bundle(), now=T0 + hour * HOUR)}


def test_devices_down_in_a_power_cut_are_not_failing_now():
    history = _power_cut(hours=DAYS * DAY - CUT)  # still out when scored, 8 h on
    now = CUT + 8
    scored = _scored(history, now)
    before = _scored(history, CUT)
    for key, prediction in scored.items():
        assert not prediction.failing_now
        assert prediction.shared_outage == SharedOutage.HOME
        assert prediction.shared_outage_since == T0 + CUT * HOUR
        assert prediction.reasons[0].feature == "home_outage"
        # Scored as it stood when the power went: the outage tells nothing of the device.
        assert prediction.probabilities == before[key].probabilities


def test_devices_down_with_their_bridge_are_not_failing_now():
    history = _home([(ZHA_ROUTER, _hours(CUT, DAYS * DAY))] * 3 + [(ZHA_SENSOR, set())])
    scored = _scored(history, CUT + 8)
    for key in ("d0", "d1", "d2"):
        assert not scored[key].failing_now
        assert scored[key].shared_outage == SharedOutage.BRIDGE
        assert scored[key].reasons[0].feature == "bridge_outage"
    assert scored["d3"].shared_outage is None


def test_a_device_down_alone_is_failing_now():
    history = _home([(SHELLY, _hours(CUT, DAYS * DAY)), (TPLINK, set()), (ZHA_ROUTER, set())])
    scored = _scored(history, CUT + 8)
    assert scored["d0"].failing_now
    assert scored["d0"].probabilities[FailureType.UNAVAILABLE] == 1.0
    assert scored["d0"].shared_outage is None


def test_a_device_down_on_its_own_before_its_bridge_went_down_is_still_failing_now():
    # d0 went down ten hours before the other two devices of its bridge.
    history = _home(
        [
            (ZHA_ROUTER, _hours(CUT - 10, DAYS * DAY)),
            (ZHA_ROUTER, _hours(CUT, DAYS * DAY)),
            (ZHA_ROUTER, _hours(CUT, DAYS * DAY)),
        ]
    )
    scored = _scored(history, CUT + 8)
    assert scored["d0"].failing_now and scored["d0"].shared_outage is None
    assert not scored["d1"].failing_now and scored["d1"].shared_outage == SharedOutage.BRIDGE


# ---------------------------------------------------------------- cases a review found wrong


def _long_dead_home(restart: int) -> HomeHistory:
    """A live Hue light reporting hourly, and three mains devices of three integrations dead since
    long before the recorder's window: their only rows are the `unavailable` HA wrote for them at a
    restart (hour `restart`)."""
    history = _home(
        [(SHELLY, set()), (TPLINK, set()), (ZHA_ROUTER, set()), (("hue", "b", Power.MAINS), set())]
    )
    purged = {
        f"sensor.d{k}": encode_states([T0 + restart * HOUR + 30 + k], ["unavailable"]) for k in range(3)
    }
    return replace(history, states={**history.states, **purged}, restarts=np.array([T0 + restart * HOUR]))


def test_long_dead_devices_are_no_home_outage_once_the_grid_was_stored():
    restart = 3 * DAY + 5
    history = _long_dead_home(restart)
    fresh = build_grid(history)
    # The recorder's rows do not tell when they went down (their rows open unavailable).
    assert fresh.primary_states_from[:3].tolist() == [restart] * 3
    assert not home_down(history, fresh).any() and not fresh.bridge_down.any()
    # A grid saved an hour ago (nightly training, or the hourly scoring's keep), merged now.
    merged = home_grid(history, now=history.end, stored=build_grid(history, end=history.end - HOUR))
    assert not merged.bridge_down[:3].any()
    scored = {p.device_key: p for p in score_home(history, tiny_bundle(), now=history.end, grid=merged)}
    assert scored["d0"].shared_outage is None and scored["d0"].failing_now


def test_a_low_battery_device_down_in_a_home_wide_outage_is_not_a_battery_to_replace_now():
    # The network down for 30 h: three plugs of three integrations, and a Wi-Fi camera at 20 %.
    camera = ("ring", None, Power.BATTERY)
    down = _hours(CUT, DAYS * DAY)
    history = _home(
        [(SHELLY, down), (TPLINK, down), (("tuya", None, Power.MAINS), down), (camera, down)], level=20
    )
    scored = _scored(history, CUT + 30)
    assert all(scored[k].shared_outage == SharedOutage.HOME for k in ("d0", "d1", "d2", "d3"))
    assert not scored["d3"].failing_now
    # Down alone as long, the same camera's battery died.
    alone = _scored(_home([(SHELLY, set()), (TPLINK, set()), (camera, down)], level=20), CUT + 30)["d2"]
    assert alone.failing_now and alone.failure_type == FailureType.BATTERY_DEPLETED


def test_devices_of_a_bridge_down_since_before_the_window_stay_failing_now():
    # A Hue bridge unplugged long ago, its three lights still in HA: when they went down is unknown.
    hue = ("hue", "hue_bridge", Power.MAINS)
    dead = _hours(0, DAYS * DAY)
    scored = _scored(_home([(hue, dead), (hue, dead), (hue, dead), (SHELLY, set())]), DAYS * DAY)
    assert scored["d0"].shared_outage is None and scored["d0"].failing_now


def test_outages_begun_three_hours_apart_in_a_chain_are_all_or_none_a_home_outage():
    tuya = ("tuya", None, Power.MAINS)
    starts = (CUT, CUT + HOME_START_HOURS, CUT + 2 * HOME_START_HOURS)
    history = _home([(g, _hours(t, DAYS * DAY)) for g, t in zip((SHELLY, TPLINK, tuya), starts, strict=True)])
    grid = build_grid(history)
    assert len({bool(grid.bridge_down[k].any()) for k in range(3)}) == 1


def test_a_device_failing_beside_a_long_dead_one_of_its_integration_is_failing_now():
    # Three Shelly plugs: one dead for weeks, one fails today, one fine. Two of three down is most
    # of the group, but they did not go down together: today's is a failure of its own.
    history = _home(
        [(SHELLY, _hours(5 * DAY, DAYS * DAY)), (SHELLY, _hours(CUT, DAYS * DAY)), (SHELLY, set())]
    )
    scored = _scored(history, CUT + 8)
    assert scored["d1"].failing_now and scored["d1"].shared_outage is None
    assert scored["d0"].failing_now


def test_a_device_away_every_day_is_no_dead_battery_when_away_for_a_weekend():
    # A BLE key tag at 20 %, out of range 08:00-18:00 every day (offline routinely), then away two days.
    away = {h for d in range(DAYS) for h in range(d * DAY + 8, d * DAY + 18)} | _hours(
        (DAYS - 2) * DAY, DAYS * DAY
    )
    tag = ("ibeacon", None, Power.BATTERY)
    [prediction] = score_home(_home([(tag, away)], level=20), tiny_bundle(), now=T0 + DAYS * DAY * HOUR)
    assert not prediction.failing_now


def _down_with_the_outage(history: HomeHistory, row: int, hour: int) -> None:
    """Device `row` is down in the home-wide outage alike in the scoring and in the labels."""
    scored = _scored(history, hour)[f"d{row}"]
    assert scored.shared_outage == SharedOutage.HOME and not scored.failing_now
    grid = build_grid(history)
    assert home_down(history, grid)[row].any()
    events = find_events(grid)
    assert events.depletions[row].size == 0 and events.starts[FailureType.UNAVAILABLE][row].size == 0


CAMERA = ("ring", None, Power.BATTERY)
TUYA = ("tuya", None, Power.MAINS)


def test_a_battery_device_noticed_an_hour_before_the_plugs_is_down_in_the_outage():
    # The camera's cloud integration marks it unavailable at 01:55, the plugs at 02:10.
    down, early = _hours(CUT, DAYS * DAY), _hours(CUT - 1, DAYS * DAY)
    history = _home([(SHELLY, down), (TPLINK, down), (TUYA, down), (CAMERA, early)], level=20)
    _down_with_the_outage(history, 3, CUT + 30)


def test_a_battery_device_down_within_three_hours_of_a_late_member_is_down_in_the_outage():
    # Two plugs at 02:00, a third at 05:00 (a slow integration), the camera at 07:00.
    late = CUT + HOME_START_HOURS
    history = _home(
        [
            (SHELLY, _hours(CUT, DAYS * DAY)),
            (TPLINK, _hours(CUT, DAYS * DAY)),
            (TUYA, _hours(late, DAYS * DAY)),
            (CAMERA, _hours(late + 2, DAYS * DAY)),
        ],
        level=20,
    )
    _down_with_the_outage(history, 3, late + 30)


def test_labels_and_scoring_agree_on_a_mains_device_down_after_the_outages_window():
    # The same with a fourth plug at 07:00: past the window of starts (3 h from the first), it is
    # down on its own, in the scoring as in the labels.
    late = CUT + HOME_START_HOURS
    history = _home(
        [
            (SHELLY, _hours(CUT, DAYS * DAY)),
            (TPLINK, _hours(CUT, DAYS * DAY)),
            (ZHA_ROUTER, _hours(late, DAYS * DAY)),
            (TUYA, _hours(late + 2, DAYS * DAY)),
        ]
    )
    assert _scored(history, late + 30)["d3"].shared_outage is None
    assert not home_down(history, build_grid(history))[3].any()


def test_outages_begun_together_but_never_down_together_are_no_home_wide_outage():
    # Three plugs of three integrations, each down one hour, one after the other.
    tuya = ("tuya", None, Power.MAINS)
    history = _home([(g, _hours(CUT + k, CUT + k + 1)) for k, g in enumerate((SHELLY, TPLINK, tuya))])
    assert not home_down(history, build_grid(history)).any()
