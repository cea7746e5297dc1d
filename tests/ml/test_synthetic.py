"""Tests of the synthetic home generator: determinism, records, scenarios, storage."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from custom_components.homeiq_device_intel.ml.records import (
    UNAVAILABLE,
    UNKNOWN,
    Chemistry,
    DeviceRecord,
    EntityRole,
    FailureEvent,
    HomeHistory,
    Power,
    Protocol,
    StateSeries,
    encode_states,
    tokenize_positions,
    tokenize_states,
)
from homeiq_lab import synthetic
from homeiq_lab.synthetic import (
    SCENARIO_FAMILIES,
    GeneratorConfig,
    Variation,
    config_fingerprint,
    discharge_curve,
    generate_home,
    generate_homes,
    hourly_statistics,
    is_valid_entity_id,
    load_history,
    state_strings,
)
from homeiq_lab.synthetic import homes as synthetic_homes

FloatArray = npt.NDArray[np.float64]
HOUR = 3600.0
DAY = 86400.0
REPO = Path(__file__).resolve().parents[2]

FAST = GeneratorConfig(n_homes=3, days=30, devices_per_home=(15, 25), failure_rate=0.3, seed=5)
MIXED = GeneratorConfig(n_homes=6, days=60, devices_per_home=(35, 45), failure_rate=0.6, seed=11)
# Clear warnings, and no restarts or bridge outages to blur them.
QUIET = Variation(
    precursor_strength=50.0,
    no_precursor_fraction=0.0,
    restart_rate=0.0,
    bridge_outage_rate=0.0,
    home_spread=0.0,
)
STRONG = replace(MIXED, variation=QUIET, seed=12)


@pytest.fixture(scope="module")
def fast_homes() -> list[HomeHistory]:
    return [generate_home(FAST, i) for i in range(FAST.n_homes)]


@pytest.fixture(scope="module")
def mixed_homes() -> list[HomeHistory]:
    return [generate_home(MIXED, i) for i in range(MIXED.n_homes)]


@pytest.fixture(scope="module")
def strong_homes() -> list[HomeHistory]:
    return [generate_home(STRONG, i) for i in range(STRONG.n_homes)]


def state_at(series: StateSeries, t: float) -> int:
    """Code of the state in effect at t (UNKNOWN before the first row)."""
    i = int(np.searchsorted(series.time, t, side="right")) - 1
    return int(series.code[i]) if i >= 0 else UNKNOWN


def ints(values: npt.NDArray[np.int32]) -> list[int]:
    return [int(v) for v in values]


def floats(values: FloatArray) -> list[float]:
    return [float(v) for v in values]


def after_restart(home: HomeHistory, t: FloatArray) -> npt.NDArray[np.bool_]:
    """Whether each time falls within 200 s after a restart (when replays are written)."""
    if home.restarts.size == 0:
        return np.zeros(t.shape, dtype=bool)
    last = np.searchsorted(home.restarts, t, side="right") - 1
    result: npt.NDArray[np.bool_] = (last >= 0) & (t - home.restarts[np.maximum(last, 0)] <= 200.0)
    return result


def entity(home: HomeHistory, device_key: str, role: EntityRole) -> str | None:
    for e in home.entities_of(device_key):
        if e.role is role:
            return e.entity_id
    return None


def devices_with(homes: list[HomeHistory], scenario: str) -> list[tuple[HomeHistory, str]]:
    return [(h, d) for h in homes for d, s in h.scenario.items() if s == scenario]


def events_of(home: HomeHistory, device_key: str, kind: str) -> list[tuple[float, float]]:
    return [(e.start, e.end) for e in home.ground_truth if e.device_key == device_key and e.kind == kind]


def bridge_outages(homes: list[HomeHistory]) -> list[tuple[HomeHistory, FailureEvent, DeviceRecord]]:
    """Every bridge outage of `homes`, with its home and its bridge."""
    found = []
    for home in homes:
        by_id = {d.device_key: d for d in home.devices}
        found += [(home, e, by_id[e.device_key]) for e in home.ground_truth if e.kind == "bridge_outage"]
    return found


def assert_same_history(a: HomeHistory, b: HomeHistory) -> None:
    assert a.home_id == b.home_id
    assert (a.start, a.end) == (b.start, b.end)
    assert a.devices == b.devices
    assert a.entities == b.entities
    assert a.ground_truth == b.ground_truth
    assert a.scenario == b.scenario
    assert np.array_equal(a.restarts, b.restarts)
    assert list(a.states) == list(b.states)
    for entity_id, s in a.states.items():
        o = b.states[entity_id]
        assert np.array_equal(s.time, o.time)
        assert np.array_equal(s.value, o.value, equal_nan=True)
        assert np.array_equal(s.code, o.code)
        assert s.time.dtype == o.time.dtype
        assert s.code.dtype == o.code.dtype
    assert list(a.statistics) == list(b.statistics)
    for entity_id, st in a.statistics.items():
        ot = b.statistics[entity_id]
        for name in ("start", "mean", "min", "max"):
            assert np.array_equal(getattr(st, name), getattr(ot, name))
    assert list(a.battery_swaps) == list(b.battery_swaps)
    for device_key, swaps in a.battery_swaps.items():
        assert np.array_equal(swaps, b.battery_swaps[device_key])


# --------------------------------------------------------------------------- determinism


def test_same_config_and_seed_give_bit_identical_homes(fast_homes: list[HomeHistory]) -> None:
    assert_same_history(generate_home(FAST, 1), fast_homes[1])


def test_different_seeds_give_different_homes(fast_homes: list[HomeHistory]) -> None:
    other = generate_home(replace(FAST, seed=6), 1)
    assert [d.device_key for d in other.devices] != [d.device_key for d in fast_homes[1].devices]


def test_homes_of_one_config_differ(fast_homes: list[HomeHistory]) -> None:
    assert len({h.home_id for h in fast_homes}) == len(fast_homes)
    assert len({len(h.devices) for h in fast_homes} | {h.home_id for h in fast_homes}) > 1
    assert fast_homes[0].devices[0].device_key != fast_homes[1].devices[0].device_key


def test_fingerprint_changes_with_the_config() -> None:
    assert config_fingerprint(FAST) == config_fingerprint(replace(FAST))
    assert config_fingerprint(FAST) != config_fingerprint(replace(FAST, seed=6))
    assert config_fingerprint(FAST) != config_fingerprint(replace(FAST, variation=QUIET))


# --------------------------------------------------------------------------- records


def test_rows_are_sorted_and_within_the_history(fast_homes: list[HomeHistory]) -> None:
    for home in fast_homes:
        assert home.states.keys() == {e.entity_id for e in home.entities}
        for series in home.states.values():
            assert series.time.dtype == np.float64
            assert series.value.dtype == np.float64
            assert series.code.dtype == np.int32
            assert len(series) > 0
            assert np.all(np.diff(series.time) >= 0)
            assert series.time[0] >= home.start
            assert series.time[-1] <= home.end


def test_codes_are_tokens_or_special_states(fast_homes: list[HomeHistory]) -> None:
    for home in fast_homes:
        for entity_id, series in home.states.items():
            assert np.all(series.code >= UNKNOWN)
            numeric = entity_id in home.statistics
            valid = series.code >= 0
            if numeric:
                assert np.array_equal(np.isfinite(series.value), valid)
                # equal tokens <=> equal values
                pairs = set(zip(ints(series.code[valid]), floats(series.value[valid]), strict=True))
                assert len(pairs) == len(set(ints(series.code[valid])))
                assert len(pairs) == len(set(floats(series.value[valid])))
            else:
                assert np.all(np.isnan(series.value))


def test_codes_and_labels_follow_encode_states(fast_homes: list[HomeHistory]) -> None:
    home = fast_homes[0]
    for info in home.entities:
        series = home.states[info.entity_id]
        strings = state_strings(info, series)
        reference = encode_states(series.time, strings)
        assert np.array_equal(reference.time, series.time)
        assert np.array_equal(reference.value, series.value, equal_nan=True)
        special = series.code < 0
        assert np.array_equal(reference.code[special], series.code[special])
        ours = [series.labels[c] for c in ints(series.code[~special])]
        theirs = [reference.labels[c] for c in ints(reference.code[~special])]
        assert ours == theirs
        if info.entity_id in home.statistics:  # numeric: tokens in order of first appearance
            assert np.array_equal(reference.code, series.code)


def test_series_are_the_records_encoding_of_their_state_strings(fast_homes: list[HomeHistory]) -> None:
    for home in fast_homes:
        for info in home.entities:
            series = home.states[info.entity_id]
            strings = state_strings(info, series)
            vocabulary = (*series.labels, "unavailable", "unknown")
            position = {state: at for at, state in enumerate(vocabulary)}
            tokens = tokenize_positions(np.array([position[s] for s in strings]), vocabulary)
            assert tokens.labels == series.labels
            assert np.array_equal(tokens.code, series.code)
            assert np.array_equal(tokens.value, series.value, equal_nan=True)
            if info.entity_id in home.statistics:  # numeric: the vocabulary is the order of first appearance
                by_appearance = tokenize_states(strings)
                assert by_appearance.labels == series.labels
                assert np.array_equal(by_appearance.code, series.code)


def test_symbolic_states_use_home_assistant_strings(fast_homes: list[HomeHistory]) -> None:
    expected = {
        "binary_sensor": {"on", "off"},
        "switch": {"on", "off"},
        "light": {"on", "off"},
        "lock": {"locked", "unlocked"},
        "climate": {"heat", "off", "cool"},
    }
    for home in fast_homes:
        for info in home.entities:
            domain = info.entity_id.split(".")[0]
            series = home.states[info.entity_id]
            used = {series.labels[c] for c in ints(series.code[series.code >= 0])}
            if domain in expected:
                assert used <= expected[domain]
            if info.role is EntityRole.BATTERY_LOW:
                assert series.token("off") is not None


def test_last_reported_follows_unchanged_reports(fast_homes: list[HomeHistory]) -> None:
    for home in fast_homes:
        for series in home.states.values():
            assert series.last_reported is not None
            assert np.all(series.last_reported >= series.time)
            assert np.all(series.last_reported[:-1] <= series.time[1:])
            assert np.all(series.last_reported <= home.end)


def test_state_changes_only_are_written_outside_restarts(fast_homes: list[HomeHistory]) -> None:
    for home in fast_homes:
        for series in home.states.values():
            repeat = np.flatnonzero(series.code[1:] == series.code[:-1]) + 1
            numeric_repeat = repeat[np.isfinite(series.value[repeat])]
            assert np.all(after_restart(home, series.time[numeric_repeat]))


def test_entity_ids_are_valid_and_unique_in_a_home(mixed_homes: list[HomeHistory]) -> None:
    for home in mixed_homes:
        ids = [e.entity_id for e in home.entities]
        assert len(ids) == len(set(ids))
        assert all(is_valid_entity_id(i) for i in ids)
        device_keys = {d.device_key for d in home.devices}
        assert len(device_keys) == len(home.devices)
        assert {e.device_key for e in home.entities} <= device_keys
        for device in home.devices:
            roles = [e.role for e in home.entities_of(device.device_key)]
            assert roles.count(EntityRole.PRIMARY) == 1


def test_battery_devices_have_a_battery_entity_and_chemistry(
    mixed_homes: list[HomeHistory],
) -> None:
    for home in mixed_homes:
        for device in home.devices:
            battery = [e for e in home.entities_of(device.device_key) if e.role is EntityRole.BATTERY]
            if device.power is Power.MAINS:
                assert device.chemistry is Chemistry.NONE
                assert not battery
            else:
                assert device.chemistry not in (Chemistry.NONE, Chemistry.UNKNOWN)
                assert len(battery) == 1
                assert battery[0].unit == "%"
                assert battery[0].device_class == "battery"
                assert battery[0].entity_id.endswith("_battery")
                assert device.device_key in home.battery_swaps


def test_signal_entities_are_rssi_in_dbm_or_zigbee_lqi(mixed_homes: list[HomeHistory]) -> None:
    for home in mixed_homes:
        protocols = {d.device_key: d.protocol for d in home.devices}
        for info in home.entities:
            if info.role is not EntityRole.SIGNAL:
                continue
            values = home.states[info.entity_id].value
            values = values[np.isfinite(values)]
            if protocols[info.device_key] is Protocol.ZIGBEE:
                assert info.unit in (None, "lqi")
                assert np.all((values >= 0) & (values <= 255))
            else:
                assert info.unit == "dBm"
                assert np.all((values >= -100) & (values <= -20))


def test_zigbee_and_zwave_devices_hang_off_their_coordinator(
    mixed_homes: list[HomeHistory],
) -> None:
    for home in mixed_homes:
        by_id = {d.device_key: d for d in home.devices}
        for device in home.devices:
            if device.kind in ("zigbee_coordinator", "zwave_controller", "router"):
                assert device.via_device_key is None
            elif device.protocol in (Protocol.ZIGBEE, Protocol.ZWAVE):
                bridge = by_id[device.via_device_key or ""]
                assert bridge.protocol is device.protocol
                assert bridge.integration == device.integration


def test_home_types_and_protocols_vary(mixed_homes: list[HomeHistory]) -> None:
    devices = [d for h in mixed_homes for d in h.devices]
    assert {d.protocol for d in devices} >= {Protocol.ZIGBEE, Protocol.WIFI, Protocol.ZWAVE}
    assert {d.chemistry for d in devices} >= {
        Chemistry.COIN,
        Chemistry.ALKALINE,
        Chemistry.LITHIUM,
        Chemistry.LI_ION,
    }
    assert len({d.kind for d in devices}) >= 12
    assert len({d.integration for d in devices}) >= 8


def test_battery_levels_stay_within_0_and_100(mixed_homes: list[HomeHistory]) -> None:
    for home in mixed_homes:
        for info in home.entities:
            if info.role is EntityRole.BATTERY:
                values = home.states[info.entity_id].value
                values = values[np.isfinite(values)]
                assert np.all((values >= 0) & (values <= 100))


def test_n_devices_is_split_over_homes() -> None:
    config = GeneratorConfig(n_homes=3, days=3, n_devices=50, seed=1)
    assert [len(generate_home(config, i).devices) for i in range(3)] == [17, 17, 16]


# --------------------------------------------------------------------------- scenarios


def test_every_scenario_family_appears(mixed_homes: list[HomeHistory]) -> None:
    seen = Counter(s for h in mixed_homes for s in h.scenario.values())
    assert set(seen) == set(SCENARIO_FAMILIES)
    assert seen["healthy"] > sum(seen.values()) * 0.3
    kinds = {e.kind for h in mixed_homes for e in h.ground_truth}
    assert kinds == set(synthetic.EVENT_KINDS)


def test_each_failing_device_has_its_ground_truth(mixed_homes: list[HomeHistory]) -> None:
    expected = {
        "battery_cliff": {"battery_depleted"},
        "battery_slope": {"battery_depleted"},
        "sudden_death": {"unavailable"},
        "intermittent_dropouts": {"unavailable"},
        "signal_decay": {"unavailable"},
        "flapping": {"flapping"},
        "stuck_value": {"stuck"},
        "stale": {"stale"},
        "bridge_outage": {"bridge_outage"},
    }
    for home in mixed_homes:
        kinds: dict[str, set[str]] = {}
        for e in home.ground_truth:
            assert home.start <= e.start <= e.end <= home.end
            kinds.setdefault(e.device_key, set()).add(e.kind)
        for device_key, scenario in home.scenario.items():
            found = kinds.get(device_key, set()) - {"swap", "decoy_unavailable", "decoy_stale"}
            if scenario == "healthy":
                assert not found
            else:
                assert expected[scenario] <= found


def test_outages_may_come_early_in_the_history_but_silences_and_batteries_wait(
    mixed_homes: list[HomeHistory],
) -> None:
    """The history starts when the recorder began keeping it, not when the device was new.

    A device can go offline in its first days of history, and the labels know an outage of 6 h
    for a failure from the first hour; a stale device or a dead battery shows only against the
    device's usual rhythm, so those failures still wait for a quarter of the history.
    """
    early: Counter[str] = Counter()
    for home in mixed_homes:
        first_fifth = home.start + 0.15 * (home.end - home.start)
        quarter = home.start + 0.25 * (home.end - home.start)
        for e in home.ground_truth:
            family = home.scenario[e.device_key]
            if e.kind in ("unavailable", "flapping") and family not in ("battery_cliff", "battery_slope"):
                early[family] += e.start < first_fifth
            elif e.kind in ("battery_depleted", "stale"):
                assert e.start >= quarter, (family, e.kind)
    assert sum(early.values()) >= 2, early


def test_unavailable_events_show_as_unavailable(mixed_homes: list[HomeHistory]) -> None:
    checked = 0
    for home in mixed_homes:
        for e in home.ground_truth:
            if e.kind != "unavailable":
                continue
            for info in home.entities_of(e.device_key):
                series = home.states[info.entity_id]
                if series.time[0] >= e.start:
                    continue
                assert state_at(series, (e.start + e.end) / 2) == UNAVAILABLE
                assert state_at(series, e.start + 1.0) == UNAVAILABLE
                checked += 1
    assert checked > 20


def test_battery_cliff_falls_to_zero_then_the_device_dies(
    strong_homes: list[HomeHistory],
) -> None:
    devices = devices_with(strong_homes, "battery_cliff")
    assert len(devices) >= 3
    last_levels = []
    for home, device_key in devices:
        (start, _), *_ = events_of(home, device_key, "battery_depleted")
        battery = home.states[entity(home, device_key, EntityRole.BATTERY) or ""]
        before = battery.time < start
        levels = battery.value[before][np.isfinite(battery.value[before])]
        assert levels.max() >= 70.0  # it read high on its plateau
        last_levels.append(levels[-1])
        primary = home.states[entity(home, device_key, EntityRole.PRIMARY) or ""]
        gone = events_of(home, device_key, "unavailable") or events_of(home, device_key, "stale")
        (gone_start, gone_end), *_ = gone
        assert gone_start >= start
        inside = (primary.time > gone_start + 1.0) & (primary.time < gone_end)
        assert np.all(primary.code[inside] == UNAVAILABLE)
    # How far the last report got down the cliff depends on how often the device
    # reports its battery and how long its cliff lasts; most get near zero.
    assert np.median(last_levels) <= 12.0
    assert np.mean(np.asarray(last_levels) <= 40.0) >= 0.7


def hourly_levels(home: HomeHistory, entity_id: str, lo: float, hi: float) -> FloatArray:
    """The battery level in effect at each hour in [lo, hi) (NaN when unavailable)."""
    series = home.states[entity_id]
    hours = np.arange(lo, hi, HOUR)
    idx = np.searchsorted(series.time, hours, side="right") - 1
    return np.where(idx >= 0, series.value[np.maximum(idx, 0)], np.nan)


def test_coin_cells_stay_high_until_the_cliff_and_alkaline_cells_slope(
    strong_homes: list[HomeHistory],
) -> None:
    share_high: dict[str, list[float]] = {"battery_cliff": [], "battery_slope": []}
    for family, shares in share_high.items():
        for home, device_key in devices_with(strong_homes, family):
            if home.battery_swaps[device_key].size:
                continue  # one battery's life only
            (start, _), *_ = events_of(home, device_key, "battery_depleted")
            battery = entity(home, device_key, EntityRole.BATTERY) or ""
            levels = hourly_levels(home, battery, home.start, start)
            levels = levels[np.isfinite(levels)]
            shares.append(float(np.mean(levels > 75.0)))
    assert len(share_high["battery_cliff"]) >= 3
    assert len(share_high["battery_slope"]) >= 3
    assert np.mean(share_high["battery_cliff"]) > 0.7
    assert np.mean(share_high["battery_slope"]) < 0.3


def test_failures_without_precursor_die_at_a_normal_level() -> None:
    config = replace(
        MIXED,
        n_homes=3,
        scenario_weights={"battery_cliff": 1.0},
        variation=replace(QUIET, no_precursor_fraction=1.0),
    )
    homes = [generate_home(config, i) for i in range(config.n_homes)]
    devices = devices_with(homes, "battery_cliff")
    assert len(devices) >= 5
    for home, device_key in devices:
        (start, _), *_ = events_of(home, device_key, "battery_depleted")
        battery = home.states[entity(home, device_key, EntityRole.BATTERY) or ""]
        before = battery.value[battery.time < start]
        assert before[np.isfinite(before)][-1] >= 25.0


def test_bridge_outage_takes_all_its_devices_down_together(
    mixed_homes: list[HomeHistory],
) -> None:
    checked = 0
    for home, e, bridge in bridge_outages(mixed_homes):
        if bridge.kind == "router":
            members = [d for d in home.devices if d.protocol is Protocol.WIFI and d is not bridge]
            delay = 125.0
        elif bridge.kind == "border_router":
            members = [d for d in home.devices if d.protocol is Protocol.THREAD and d is not bridge]
            delay = 5.0
        else:
            members = [d for d in home.devices if d.via_device_key == bridge.device_key]
            delay = 5.0
        own = home.states[entity(home, bridge.device_key, EntityRole.PRIMARY) or ""]
        assert state_at(own, e.start + 1.0) == 0  # "off"
        for member in members:
            if member.created is not None and member.created >= e.start:
                continue
            for info in home.entities_of(member.device_key):
                series = home.states[info.entity_id]
                assert state_at(series, e.start + delay) == UNAVAILABLE
                assert state_at(series, e.end - 1.0) == UNAVAILABLE
                checked += 1
        # an outage of the bridge is not a failure of its devices
        assert all(home.scenario[m.device_key] != "bridge_outage" for m in members)
    assert checked > 20


def test_a_bridge_back_up_restores_the_state_each_device_last_sent(
    mixed_homes: list[HomeHistory],
) -> None:
    # The bridge restores the state it held, the last one the device got through (a dead
    # device's too), not a value the device never sent.
    checked = 0
    for home, e, bridge in bridge_outages(mixed_homes):
        if bridge.kind in ("router", "border_router"):
            continue
        for member in (d for d in home.devices if d.via_device_key == e.device_key):
            for info in home.entities_of(member.device_key):
                series = home.states[info.entity_id]
                j = int(np.searchsorted(series.time, e.end, side="left"))
                # the row that ends the member's spell, when its bridge ends it (5 to 90 s after)
                if j >= len(series) or series.time[j] > e.end + 90.0 or series.code[j - 1] != UNAVAILABLE:
                    continue
                before = j - 1
                while before > 0 and series.code[before] == UNAVAILABLE:
                    before -= 1
                assert series.code[j] == series.code[before], (info.entity_id, e.end)
                checked += 1
    assert checked > 20


def test_stale_device_writes_nothing_after_it_goes_stale(
    strong_homes: list[HomeHistory],
) -> None:
    devices = devices_with(strong_homes, "stale")
    assert len(devices) >= 3
    for home, device_key in devices:
        (start, end), *_ = events_of(home, device_key, "stale")
        for info in home.entities_of(device_key):
            series = home.states[info.entity_id]
            assert not np.any((series.time > start) & (series.time < end))
            if series.time[0] < start:
                assert state_at(series, end - 1.0) >= 0  # HA still shows the last value


def test_stale_device_rows_after_it_goes_stale_are_restart_replays() -> None:
    config = replace(
        MIXED,
        n_homes=3,
        failure_rate=1.0,
        scenario_weights={"stale": 1.0},
        variation=replace(QUIET, restart_rate=3.0),
    )
    homes = [generate_home(config, i) for i in range(config.n_homes)]
    checked = 0
    for home, device_key in devices_with(homes, "stale"):
        (start, end), *_ = events_of(home, device_key, "stale")
        for info in home.entities_of(device_key):
            series = home.states[info.entity_id]
            late = (series.time > start) & (series.time < end)
            assert np.all(after_restart(home, series.time[late]))
            held = state_at(series, start)
            assert set(ints(series.code[late])) <= {held, UNAVAILABLE}
            checked += int(late.sum())
    assert checked > 0


def test_stuck_sensor_holds_one_value_while_the_device_keeps_reporting(
    strong_homes: list[HomeHistory],
) -> None:
    checked = 0
    for home, device_key in devices_with(strong_homes, "stuck_value"):
        (start, end), *_ = events_of(home, device_key, "stuck")
        primary = home.states[entity(home, device_key, EntityRole.PRIMARY) or ""]
        late = (primary.time >= start) & (primary.time < end) & (primary.code >= 0)
        if np.isfinite(primary.value).any():  # a temperature sensor
            assert len(set(floats(primary.value[late]))) <= 1
        else:  # a climate entity: current_temperature stops changing
            assert late.sum() <= 4
        # the device itself keeps reporting: its other entities' reports go on
        others = [
            home.states[e.entity_id] for e in home.entities_of(device_key) if e.role is not EntityRole.PRIMARY
        ]
        if others and end - start > 3 * DAY:
            latest = max(float(np.max(s.last_reported)) for s in others if s.last_reported is not None)
            assert latest > start + 2 * DAY
        checked += 1
    assert checked >= 2


def test_flapping_toggles_availability_quickly(mixed_homes: list[HomeHistory]) -> None:
    checked = 0
    for home, device_key in devices_with(mixed_homes, "flapping"):
        (start, end), *_ = events_of(home, device_key, "flapping")
        outages = [e for e in home.ground_truth if e.kind == "bridge_outage"]
        if end - start < 2 * HOUR or any(e.start < end and e.end > start for e in outages):
            continue  # too short to count, or blurred by a bridge outage
        primary = home.states[entity(home, device_key, EntityRole.PRIMARY) or ""]
        window = (primary.time >= start) & (primary.time <= end)
        drops = np.flatnonzero(window & (primary.code == UNAVAILABLE))
        assert drops.size >= max(3.0, (end - start) / HOUR)  # at least one an hour
        back = drops[drops + 1 < len(primary)] + 1
        assert np.median(primary.time[back] - primary.time[back - 1]) < 15 * 60
        checked += 1
    assert checked >= 1


def test_signal_decays_before_the_outage(strong_homes: list[HomeHistory]) -> None:
    drops = []
    for home, device_key in devices_with(strong_homes, "signal_decay"):
        (start, _), *_ = events_of(home, device_key, "unavailable")
        signal = home.states[entity(home, device_key, EntityRole.SIGNAL) or ""]
        before = signal.value[(signal.time < start) & np.isfinite(signal.value)]
        if before.size < 30:
            continue
        drops.append(float(np.mean(before[:10]) - np.mean(before[-10:])))
    assert len(drops) >= 2
    assert np.median(drops) > 5.0


def test_intermittent_dropouts_come_before_the_long_outage(
    strong_homes: list[HomeHistory],
) -> None:
    def episodes(home: HomeHistory, device_key: str, lo: float, hi: float) -> int:
        primary = home.states[entity(home, device_key, EntityRole.PRIMARY) or ""]
        t = primary.time[primary.code == UNAVAILABLE]
        t = t[(t >= lo) & (t < hi)]
        return int(np.sum(~after_restart(home, t)))

    failing, healthy = [], []
    for home in strong_homes:
        for device in home.devices:
            if device.protocol is not Protocol.WIFI or device.power is not Power.MAINS:
                continue
            scenario = home.scenario[device.device_key]
            if scenario == "intermittent_dropouts":
                (start, _), *_ = events_of(home, device.device_key, "unavailable")
                failing.append(episodes(home, device.device_key, start - 7 * DAY, start - HOUR))
            elif scenario == "healthy":
                mid = (home.start + home.end) / 2
                healthy.append(episodes(home, device.device_key, mid - 7 * DAY, mid))
    assert failing
    assert healthy
    assert np.mean(failing) > 2 * np.mean(healthy) + 1


def test_the_truth_claims_a_warning_only_where_a_sign_was_laid_out() -> None:
    """The gate's "foreseeable" rests on `warning`: it must be a sign the history holds.

    A sudden death shows nothing before it. Intermittent dropouts show only their
    dropouts, a random number of them: faint precursors often draw none, and then
    there is no warning, though the failure was given a precursor strength.
    """
    faint = replace(
        MIXED,
        n_homes=4,
        failure_rate=0.9,
        scenario_weights={"sudden_death": 1.0, "intermittent_dropouts": 1.0},
        variation=replace(QUIET, precursor_strength=0.05),
    )
    homes = [generate_home(faint, i) for i in range(faint.n_homes)]
    warned: dict[str, list[bool]] = {"sudden_death": [], "intermittent_dropouts": []}
    for home in homes:
        for event in home.ground_truth:
            family = home.scenario.get(event.device_key, "")
            if event.kind == "unavailable" and family in warned:
                warned[family].append(event.warning is not None)
                if event.warning is not None:
                    assert event.warning < event.start
    assert warned["sudden_death"]
    assert not any(warned["sudden_death"])
    dropouts = warned["intermittent_dropouts"]
    assert any(dropouts)
    assert not all(dropouts)


def test_swaps_raise_the_battery_level(mixed_homes: list[HomeHistory]) -> None:
    checked = 0
    for home in mixed_homes:
        for device_key, swaps in home.battery_swaps.items():
            swap_events = [
                e.start for e in home.ground_truth if e.device_key == device_key and e.kind == "swap"
            ]
            assert np.array_equal(np.asarray(swap_events), swaps)
            battery = home.states[entity(home, device_key, EntityRole.BATTERY) or ""]
            reported = (battery.code >= 0) & ~after_restart(home, battery.time)
            for t in floats(swaps):
                if t + 2 * DAY > home.end:
                    continue
                # the next reports (some devices report their battery once a day)
                after = reported & (battery.time > t) & (battery.time < t + 2 * DAY)
                before = reported & (battery.time < t)
                if not after.any() or not before.any():
                    continue
                high = battery.value[after].max()
                assert high >= 75.0
                assert high >= battery.value[before][-1]
                checked += 1
    assert checked > 10


def test_rechargeable_batteries_report_coarse_steps(mixed_homes: list[HomeHistory]) -> None:
    levels = []
    for home in mixed_homes:
        for device in home.devices:
            if device.power is Power.RECHARGEABLE:
                series = home.states[entity(home, device.device_key, EntityRole.BATTERY) or ""]
                levels.append(series.value[np.isfinite(series.value)])
    values = np.concatenate(levels)
    assert values.size > 0
    assert np.all(values % 5 == 0)


def test_discharge_curves_have_their_shapes() -> None:
    soc = np.linspace(0.0, 1.0, 10001, dtype=np.float64)
    share_above_80 = {
        chem: float(np.mean(discharge_curve(chem, soc) > 80.0))
        for chem in (Chemistry.COIN, Chemistry.LITHIUM, Chemistry.ALKALINE, Chemistry.LI_ION)
    }
    assert share_above_80[Chemistry.COIN] > 0.85
    assert share_above_80[Chemistry.LITHIUM] > 0.85
    assert share_above_80[Chemistry.ALKALINE] < 0.3
    assert share_above_80[Chemistry.LI_ION] < 0.3
    for chem in (Chemistry.COIN, Chemistry.ALKALINE, Chemistry.NIMH):
        level = discharge_curve(chem, soc)
        assert np.all(np.diff(level) >= 0)
        assert level[0] == 0.0
        assert level[-1] == pytest.approx(100.0)
    # the coin cell's cliff: from 85% to 0 over its last 4% of charge
    coin = discharge_curve(Chemistry.COIN, np.array([0.0, 0.02, 0.04, 0.5], dtype=np.float64))
    assert coin[0] == 0.0
    assert coin[2] == pytest.approx(85.0)
    assert coin[1] > 50.0
    assert coin[3] > 90.0


def test_healthy_coin_cells_read_high_and_alkaline_cells_spread(
    mixed_homes: list[HomeHistory],
) -> None:
    shares: dict[Chemistry, list[float]] = {Chemistry.COIN: [], Chemistry.ALKALINE: []}
    for home in mixed_homes:
        for device in home.devices:
            if device.chemistry in shares and home.scenario[device.device_key] == "healthy":
                series = home.states[entity(home, device.device_key, EntityRole.BATTERY) or ""]
                values = series.value[np.isfinite(series.value)]
                shares[device.chemistry].append(float(np.mean(values >= 80.0)))
    assert np.mean(shares[Chemistry.COIN]) > 0.75
    assert np.mean(shares[Chemistry.ALKALINE]) < np.mean(shares[Chemistry.COIN]) - 0.2


def test_usage_follows_the_time_of_day_and_the_week(mixed_homes: list[HomeHistory]) -> None:
    for home in mixed_homes[:3]:
        on_times = []
        for device in home.devices:
            if device.kind in ("motion", "door_window"):
                series = home.states[entity(home, device.device_key, EntityRole.PRIMARY) or ""]
                on_times.append(series.time[1:][series.code[1:] == 1])
        times = np.concatenate(on_times)
        hours = np.bincount(((times % DAY) // HOUR).astype(int), minlength=24)
        assert hours.max() > 8 * max(hours.min(), 1)
        day = ((times // DAY).astype(int) + 3) % 7
        weekday = np.bincount(((times % DAY) // HOUR).astype(int)[day < 5], minlength=24)
        weekend = np.bincount(((times % DAY) // HOUR).astype(int)[day >= 5], minlength=24)
        difference = 0.5 * np.abs(weekday / weekday.sum() - weekend / weekend.sum()).sum()
        # sampling noise alone gives ~0.03; the home's time zone (unknown here) blurs days
        assert difference > 0.05


def test_restarts_replay_every_entity(fast_homes: list[HomeHistory]) -> None:
    checked = 0
    for home in fast_homes:
        assert np.all(np.diff(home.restarts) > 0)
        for r in floats(home.restarts):
            for series in home.states.values():
                if series.time[0] < r - 1000.0:
                    assert np.any((series.time >= r) & (series.time <= r + 200.0))
                    checked += 1
    assert checked > 100


def test_devices_added_during_the_history_start_with_it() -> None:
    config = replace(FAST, n_homes=4, devices_per_home=(40, 50))
    found = 0
    for i in range(config.n_homes):
        home = generate_home(config, i)
        for device in home.devices:
            if device.created is None or device.created <= home.start:
                continue
            for info in home.entities_of(device.device_key):
                series = home.states[info.entity_id]
                assert series.time[0] == device.created
                if info.role is EntityRole.BATTERY:
                    assert series.value[0] >= 75.0  # a fresh battery (cold and coarse steps read lower)
                if info.entity_id.startswith("event."):
                    assert series.code[0] == UNKNOWN  # never pressed yet
            found += 1
    assert found >= 1


# --------------------------------------------------------------------------- statistics


def reference_hour(series: StateSeries, start: float) -> tuple[float, float, float] | None:
    """Time-weighted mean/min/max of one hour, row by row."""
    end = start + HOUR
    total = weighted = 0.0
    low, high = math.inf, -math.inf
    for i in range(len(series)):
        seg_start = max(series.time[i], start)
        seg_end = min(series.time[i + 1] if i + 1 < len(series) else math.inf, end)
        value = series.value[i]
        if seg_end <= seg_start or not math.isfinite(value):
            continue
        total += seg_end - seg_start
        weighted += value * (seg_end - seg_start)
        low, high = min(low, value), max(high, value)
    return None if total == 0 else (weighted / total, low, high)


def test_hourly_statistics_of_a_small_series() -> None:
    series = encode_states(
        [0.0, 1800.0, 2400.0, 3000.0, 5000.0], ["10", "20", "unavailable", "30", "unavailable"]
    )
    stats = hourly_statistics(series, 0.0, 3 * HOUR)
    assert stats.start.tolist() == [0.0, HOUR]  # the third hour was unavailable throughout
    assert stats.mean[0] == pytest.approx((10 * 1800 + 20 * 600 + 30 * 600) / 3000)
    assert (stats.min[0], stats.max[0]) == (10.0, 30.0)
    assert stats.mean[1] == 30.0


def test_statistics_mean_lies_between_min_and_max(fast_homes: list[HomeHistory]) -> None:
    for home in fast_homes:
        assert home.statistics
        for stats in home.statistics.values():
            assert np.all(stats.min <= stats.mean)
            assert np.all(stats.mean <= stats.max)
            assert np.all(np.diff(stats.start) >= HOUR)
            assert np.all(stats.start % HOUR == 0)
            assert np.all((stats.start >= home.start) & (stats.start + HOUR <= home.end))


def test_statistics_match_the_states(fast_homes: list[HomeHistory]) -> None:
    home = fast_homes[0]
    rng = np.random.default_rng(0)
    hours = home.start + HOUR * np.arange(int((home.end - home.start) // HOUR))
    for entity_id, stats in home.statistics.items():
        series = home.states[entity_id]
        sample = floats(rng.choice(hours, size=12, replace=False))
        sample += floats(stats.start[:1])
        for start in sample:
            expected = reference_hour(series, start)
            row = np.flatnonzero(stats.start == start)
            if expected is None:
                assert row.size == 0
                continue
            assert row.size == 1
            i = int(row[0])
            assert stats.mean[i] == pytest.approx(expected[0], rel=1e-9, abs=1e-9)
            assert (stats.min[i], stats.max[i]) == (expected[1], expected[2])


def test_no_statistics_while_unavailable_for_a_whole_hour(
    mixed_homes: list[HomeHistory],
) -> None:
    checked = 0
    for home in mixed_homes:
        for e in home.ground_truth:
            if e.kind != "unavailable" or e.end - e.start < 4 * HOUR:
                continue
            for info in home.entities_of(e.device_key):
                stats = home.statistics.get(info.entity_id)
                if stats is None:
                    continue
                inside = (stats.start >= e.start) & (stats.start + HOUR <= e.end)
                assert not inside.any()
                checked += 1
    assert checked > 5


# --------------------------------------------------------------------------- config


def test_variation_changes_how_homes_behave() -> None:
    base = replace(FAST, n_homes=2, variation=replace(Variation(), home_spread=0.0))
    shifted = replace(base, variation=replace(Variation(), report_rate=0.5, home_spread=0.0))

    def signal_rows_per_day(config: GeneratorConfig) -> float:
        rows = days = 0.0
        for i in range(config.n_homes):
            home = generate_home(config, i)
            for info in home.entities:
                if info.role is EntityRole.SIGNAL:
                    rows += len(home.states[info.entity_id])
                    days += config.days
        return rows / days

    assert signal_rows_per_day(shifted) < 0.8 * signal_rows_per_day(base)


def test_scenario_weights_keep_families_out() -> None:
    config = replace(MIXED, n_homes=2, scenario_weights={"stale": 1.0, "flapping": 0.0})
    homes = [generate_home(config, i) for i in range(config.n_homes)]
    families = {s for h in homes for s in h.scenario.values()}
    assert families <= {"healthy", "stale", "bridge_outage"}
    assert "stale" in families


def test_failure_rate_zero_keeps_every_device_healthy() -> None:
    config = replace(MIXED, n_homes=2, failure_rate=0.0)
    for i in range(config.n_homes):
        home = generate_home(config, i)
        assert set(home.scenario.values()) <= {"healthy", "bridge_outage"}
        never_failures = {"swap", "bridge_outage", "decoy_unavailable", "decoy_stale"}
        assert {e.kind for e in home.ground_truth} <= never_failures


@pytest.mark.parametrize(
    "changes",
    [
        {"n_homes": 0},
        {"days": 0},
        {"devices_per_home": (5, 2)},
        {"n_devices": 1},
        {"home_types": ("castle",)},
        {"failure_rate": 1.5},
        {"scenario_weights": {"meteor": 1.0}},
        {"variation": Variation(noise=-1.0)},
    ],
)
def test_bad_configs_are_rejected(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        generate_home(replace(FAST, **changes), 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("days", [0.2, 1.0, 3.0])
def test_short_histories_still_generate(days: float) -> None:
    config = replace(FAST, days=days, failure_rate=1.0, n_homes=2)
    for home in generate_homes(config):
        assert home.end - home.start == pytest.approx(days * DAY)
        for series in home.states.values():
            assert home.start <= series.time[0] <= series.time[-1] <= home.end


def test_home_index_must_be_within_the_config() -> None:
    with pytest.raises(ValueError):
        generate_home(FAST, FAST.n_homes)


def test_home_types_can_be_restricted() -> None:
    config = replace(FAST, home_types=("apartment",), devices_per_home=None, n_homes=2)
    homes = generate_homes(config)
    assert all(h.home_id.startswith("apartment-") for h in homes)
    assert all(8 <= len(h.devices) <= 25 for h in homes)


# --------------------------------------------------------------------------- storage and runs


def test_cache_round_trips_without_pickle(
    tmp_path: Path, fast_homes: list[HomeHistory], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = replace(FAST, n_homes=2)
    homes = generate_homes(config, cache_dir=tmp_path)
    folder = tmp_path / config_fingerprint(config)
    assert sorted(p.name for p in folder.iterdir()) == [
        "home_00000.json",
        "home_00000.npz",
        "home_00001.json",
        "home_00001.npz",
    ]
    with np.load(folder / "home_00000.npz", allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)
    json.loads((folder / "home_00000.json").read_text())

    def fail(*_: object) -> HomeHistory:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(synthetic_homes, "generate_home", fail)
    cached = generate_homes(config, cache_dir=tmp_path)
    for a, b, c in zip(homes, cached, fast_homes, strict=False):
        assert_same_history(a, b)
        assert_same_history(a, c)
    assert_same_history(load_history(folder / "home_00001"), homes[1])


def test_parallel_generation_matches_serial(fast_homes: list[HomeHistory]) -> None:
    loky = pytest.importorskip("joblib.externals.loky")
    try:
        homes = generate_homes(FAST, n_jobs=2)
    finally:
        loky.get_reusable_executor().shutdown(wait=True)  # no worker threads left behind
    for a, b in zip(homes, fast_homes, strict=True):
        assert_same_history(a, b)


def test_runs_without_joblib_and_tqdm(monkeypatch: pytest.MonkeyPatch, fast_homes: list[HomeHistory]) -> None:
    monkeypatch.setitem(sys.modules, "joblib", None)
    monkeypatch.setitem(sys.modules, "tqdm", None)
    homes = generate_homes(replace(FAST, n_homes=2), n_jobs=2, progress=True)
    assert_same_history(homes[1], fast_homes[1])


def load_script() -> object:
    path = REPO / "scripts" / "generate_synthetic_data.py"
    spec = importlib.util.spec_from_file_location("generate_synthetic_data", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("fmt", "variation"), [("jsonl", "default"), ("csv", "shifted")])
def test_script_writes_the_files(
    tmp_path: Path, fmt: str, variation: str, capsys: pytest.CaptureFixture[str]
) -> None:
    script = load_script()
    out = tmp_path / "data"
    args = ["--homes", "2", "--days", "5", "--devices", "30", "--seed", "3", "--out", str(out)]
    args += ["--format", fmt, "--jobs", "1", "--variation", variation]
    assert script.main(args) == 0  # type: ignore[attr-defined]
    names = {"devices", "entities", "states", "statistics", "ground_truth", "restarts"}
    assert {p.name for p in out.iterdir()} == {f"{n}.{fmt}" for n in names} | {"summary.json"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["homes"] == 2
    assert summary["devices"] == 30
    assert sum(summary["devices_by_kind"].values()) == 30
    assert sum(summary["devices_by_scenario"].values()) == 30
    assert summary["config"]["variation"] == variation
    header = 1 if fmt == "csv" else 0
    for table in ("states", "statistics", "ground_truth", "devices", "entities"):
        lines = (out / f"{table}.{fmt}").read_text().splitlines()
        assert len(lines) - header == summary["rows"][table]
    assert summary["rows"]["ground_truth"] == sum(summary["events_by_kind"].values())
    assert summary["rows"]["states"] > 1000
    states = (out / f"states.{fmt}").read_text().splitlines()[header:]
    if fmt == "jsonl":
        row = json.loads(states[0])
        assert set(row) == {"home_id", "entity_id", "time", "state", "value", "code"}
        assert isinstance(row["state"], str)
    assert any(",on," in line or '"on"' in line for line in states)
    assert "device_days" in capsys.readouterr().out


def unavailable_spells(series: StateSeries) -> FloatArray:
    """Durations in seconds of the runs of `unavailable` rows that ended before the last row."""
    off = series.code == UNAVAILABLE
    starts = np.flatnonzero(off & ~np.concatenate([[False], off[:-1]]))
    ends = np.flatnonzero(~off & np.concatenate([[False], off[:-1]]))
    starts = starts[starts < (ends[-1] if ends.size else -1)]
    ends = ends[np.searchsorted(ends, starts)]
    return np.asarray(series.time[ends] - series.time[starts], dtype=np.float64)


def test_chronically_flaky_devices_blink_for_minutes_and_never_fail() -> None:
    calm = replace(
        QUIET, dropout_rate=0.0, decoy_rate=0.0, flaky_rate=0.0, precursor_strength=1.0, home_spread=0.0
    )
    base = replace(FAST, n_homes=3, failure_rate=0.0, variation=calm)
    flaky = replace(base, variation=replace(calm, flaky_rate=8.0))

    def spells(config: GeneratorConfig) -> tuple[list[FloatArray], set[str]]:
        found: list[FloatArray] = []
        kinds: set[str] = set()
        for i in range(config.n_homes):
            home = generate_home(config, i)
            kinds |= {e.kind for e in home.ground_truth}
            for device in home.devices:
                primary = entity(home, device.device_key, EntityRole.PRIMARY)
                if primary is not None and primary in home.states:
                    found.append(unavailable_spells(home.states[primary]))
        return found, kinds

    quiet_spells, _ = spells(base)
    flaky_spells, kinds = spells(flaky)
    blinking = [s for s in flaky_spells if s.size >= 10]  # several a week at least
    assert len(blinking) >= 5
    assert sum(s.size for s in quiet_spells) < 0.1 * sum(s.size for s in flaky_spells)
    every = np.concatenate(flaky_spells)
    assert np.median(every) < 15 * 60  # minutes, not hours
    assert every.max() < 6 * HOUR  # never as long as an outage the labels call a failure
    assert "unavailable" not in kinds  # and no failure in the generator's truth


def test_healthy_look_alike_episodes_are_in_the_truth_and_never_failures() -> None:
    calm = replace(QUIET, dropout_rate=0.0, flaky_rate=0.0, home_spread=0.0)
    base = replace(FAST, n_homes=2, failure_rate=0.0, variation=replace(calm, decoy_rate=10.0))
    look_alikes = {"decoy_unavailable", "decoy_stale"}
    found = []
    for i in range(base.n_homes):
        home = generate_home(base, i)
        for e in home.ground_truth:
            if e.kind in look_alikes:
                assert home.scenario[e.device_key] == "healthy"
                assert home.start <= e.start == e.warning <= e.end <= home.end
                found.append(e)
        none = generate_home(replace(base, variation=replace(calm, decoy_rate=0.0)), i)
        assert not {e.kind for e in none.ground_truth} & look_alikes
    assert {e.kind for e in found} == look_alikes
    # One episode at most per device.
    assert len({e.device_key for e in found}) == len(found)


def test_a_look_alike_is_listed_from_what_it_lays_out_as_the_failure_it_resembles_on_that_device() -> None:
    from homeiq_lab.synthetic.devices import _plan_devices
    from homeiq_lab.synthetic.failures import _add_decoy
    from homeiq_lab.synthetic.household import _plan_home

    config = replace(FAST, n_homes=4)
    seen: Counter[tuple[str, bool]] = Counter()
    for i in range(config.n_homes):
        home = _plan_home(config, i)
        for dev in _plan_devices(config, home):
            if dev.bridge:
                continue
            _add_decoy(dev, home)
            if not dev.events:
                continue  # begun after the data ends
            (event,) = dev.events
            laid_out = [*dev.silences, *dev.direct_unavailable]
            laid_out += [(start, recovered) for start, _, _, recovered in dev.dips]
            laid_out += [(float(knots[0]), float(knots[-1])) for knots, _ in dev.drops]
            assert event.start == event.warning == min(a for a, _ in laid_out)
            assert event.end == min(max(b for _, b in laid_out), home.end)
            # Dropouts, a dip or flapping end in an outage where HA marks the device unavailable,
            # in staleness where it never does; thinning reports always in staleness.
            resembles_outage = dev.timeout is not None and not dev.drops
            assert event.kind == ("decoy_unavailable" if resembles_outage else "decoy_stale")
            seen[(event.kind, dev.timeout is None)] += 1
    assert seen[("decoy_stale", True)] and seen[("decoy_unavailable", False)] and seen[("decoy_stale", False)]
