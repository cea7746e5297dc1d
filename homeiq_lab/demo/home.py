"""The demo home: one synthetic home in which some devices are about to fail, each in its own way.

The generator draws a home's devices, entities, restarts and bridge outages
before it gives any device a failure, and every device draws from its own
seeded stream. So the same home generated under different failure settings
has the same devices, and each device's history is consistent on its own.
The demo uses that to compose a home without editing any history:

- a healthy variant (`failure_rate=0`) supplies every device by default;
- for each way of failing below, a variant in which every eligible device
  gets that failure family supplies one device whose failure starts a few days
  after the demo's "now" (and not before it), and whose history already shows
  a warning sign by then;
- homes are tried in order until one has a device for every way and a recent
  bridge outage; the search depends only on the generator, not on the clock;
- the home keeps its bridges, those devices and a mix of the others, up to
  MAX_DEVICES.

The history is then cut at "now" (about five weeks after it starts, at the
current time of day) and shifted so it ends at the moment the demo starts.
What happens after the cut is the ground truth the check compares with.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
from homeassistant.util import slugify

from custom_components.homeiq_device_intel.ml.records import (
    UNAVAILABLE,
    Chemistry,
    DeviceRecord,
    EntityRecord,
    EntityRole,
    FailureEvent,
    HomeHistory,
    Protocol,
    StateSeries,
    StatSeries,
)
from homeiq_lab import synthetic

from .owner_devices import owner_devices
from .recorder_db import RecordedEntity

DAY: Final = 86400.0
HOUR: Final = 3600.0
DEMO_SEED: Final = 20250
HORIZON_DAYS: Final = 7
GENERATED_DAYS: Final = 49
# The cut (the demo's now) falls on one of these days of the generated history,
# the first that fits in this order: about five weeks of history.
CUT_DAYS: Final = (35, 34, 36, 33, 37, 32, 38, 31, 39, 30, 40, 29, 41, 28, 42)
# Failures of the devices built to fail start this many days after the cut's
# day begins; the cut itself falls somewhere in that first day.
FAILURE_WINDOW: Final = (1.5, 6.5)
# A bridge outage between these many days before the cut's day.
OUTAGE_WINDOW: Final = (12.0, 1.0)
MIN_OUTAGE_SECONDS: Final = 20 * 60
MIN_OUTAGE_DEVICES: Final = 3
MAX_HOMES_TRIED: Final = 60
# Warning signs a device built to fail must show by the cut.
BATTERY_WARNING_LEVEL: Final = 30.0  # %
BATTERY_WARNING_DROP: Final = 8.0  # % over the last week
DROPOUT_WARNING_COUNT: Final = 3  # outages over the last week
HOLD_WARNING_DAYS: Final = 3.0
HOLD_WARNING_HOURS: Final = 3.0
HOLD_WARNING_RATIO: Final = 4.0  # times the usual time between changes
# Large homes have enough devices of every kind to fail in every way.
HOME_TYPES: Final = ("large_house",)
# Kinds whose main entity the demo integration cannot restore (event, camera).
SKIPPED_KINDS: Final = frozenset({"remote", "camera"})
BRIDGE_KINDS: Final = frozenset({"router", "zigbee_coordinator", "zwave_controller", "border_router"})
# A home of this many devices at most: the demo keeps the bridges, the devices
# built to fail and some behind the bridge that went down, then others of every kind.
MAX_DEVICES: Final = 40
OUTAGE_DEVICES_KEPT: Final = 4
FAILURE_KINDS: Final = frozenset({"battery_depleted", "unavailable", "stale", "stuck", "flapping"})
ENTITY_NAMES: Final = {
    "lqi": "LQI",
    "rssi": "RSSI",
    "linkquality": "Link quality",
    "wan_status": "WAN status",
}
DIAGNOSTIC_ROLES: Final = frozenset(
    {
        EntityRole.BATTERY,
        EntityRole.BATTERY_LOW,
        EntityRole.SIGNAL,
        EntityRole.VOLTAGE,
        EntityRole.TEMPERATURE,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Way:
    """One way a demo device is built to fail."""

    key: str
    family: str  # the generator's scenario family
    title: str
    accepts: Callable[[DeviceRecord], bool]
    # Whether the device's history shows a warning sign by a time: a failure
    # that gives none cannot be foreseen, by a model or by anyone.
    warns: Callable[[HomeHistory, str, float], bool]


def _series(history: HomeHistory, device_key: str, role: EntityRole) -> StateSeries | None:
    """Return the state rows of a device's first entity in a role."""
    entity = next((e for e in history.entities_of(device_key) if e.role is role), None)
    return None if entity is None else history.states.get(entity.entity_id)


def _battery_warns(history: HomeHistory, device_key: str, at: float) -> bool:
    """A low battery, or one that fell fast over the last week."""
    series = _series(history, device_key, EntityRole.BATTERY)
    if series is None:
        return False
    known = np.isfinite(series.value) & (series.time <= at)
    times, levels = series.time[known], series.value[known]
    if levels.size == 0:
        return False
    week_ago = levels[max(int(np.searchsorted(times, at - 7 * DAY, side="right")) - 1, 0)]
    return bool(levels[-1] <= BATTERY_WARNING_LEVEL or week_ago - levels[-1] >= BATTERY_WARNING_DROP)


def _dropouts_warn(history: HomeHistory, device_key: str, at: float) -> bool:
    """Several short outages over the last week."""
    series = _series(history, device_key, EntityRole.PRIMARY)
    if series is None:
        return False
    recent = (series.time > at - 7 * DAY) & (series.time <= at)
    down = series.code == UNAVAILABLE
    went_down = recent[1:] & down[1:] & ~down[:-1]
    return int(went_down.sum()) >= DROPOUT_WARNING_COUNT


def _hold_warns(history: HomeHistory, device_key: str, at: float) -> bool:
    """A reading held far longer than it usually is over the last days."""
    series = _series(history, device_key, EntityRole.PRIMARY)
    if series is None:
        return False
    times = series.time[np.isfinite(series.value) & (series.time <= at)]
    gaps = np.diff(times)
    if gaps.size < 10:
        return False
    recent = times[1:] > at - HOLD_WARNING_DAYS * DAY
    usual = float(np.median(gaps[~recent])) if (~recent).any() else float(np.median(gaps))
    longest = float(gaps[recent].max()) if recent.any() else 0.0
    return longest >= max(HOLD_WARNING_HOURS * HOUR, HOLD_WARNING_RATIO * usual)


WAYS: Final[tuple[Way, ...]] = (
    Way(
        key="coin_cell",
        family="battery_cliff",
        title="coin cell about to fall off its cliff",
        accepts=lambda d: d.chemistry is Chemistry.COIN,
        warns=_battery_warns,
    ),
    Way(
        key="alkaline",
        family="battery_slope",
        title="alkaline batteries running down",
        accepts=lambda d: d.chemistry is Chemistry.ALKALINE,
        warns=_battery_warns,
    ),
    Way(
        key="flaky_wifi_plug",
        family="intermittent_dropouts",
        title="Wi-Fi plug dropping out more and more",
        accepts=lambda d: d.kind == "plug" and d.protocol is Protocol.WIFI,
        warns=_dropouts_warn,
    ),
    Way(
        key="stuck_sensor",
        family="stuck_value",
        title="sensor stuck on one value",
        accepts=lambda d: d.kind == "temperature",
        warns=_hold_warns,
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Truth:
    """What really happens to one device (times shifted like the history)."""

    device_key: str
    name: str
    way: Way | None
    family: str
    failure: FailureEvent | None  # the first failure after now, within the horizon
    failing_now: bool  # a failure already under way at now
    swap_soon: float | None  # when the battery is swapped within the horizon (low, not failing)

    @property
    def built_to_fail(self) -> bool:
        """Return whether the device is one the demo chose to fail soon."""
        return self.way is not None

    @property
    def fails_within_horizon(self) -> bool:
        """Return whether a failure starts within the horizon (or is under way)."""
        return self.failure is not None or self.failing_now


@dataclass(slots=True, kw_only=True)
class DemoHome:
    """The composed, cut and shifted home, ready to be written."""

    history: HomeHistory
    home_index: int
    truth: dict[str, Truth]
    recorded: dict[str, RecordedEntity]
    description: dict[str, Any]
    bridge_outage: FailureEvent

    @property
    def end(self) -> float:
        """Return the end of the history: the moment the demo starts."""
        return self.history.end


def _config(**changes: Any) -> synthetic.GeneratorConfig:
    """Return the demo's generator config with some fields changed."""
    base = synthetic.GeneratorConfig(
        n_homes=MAX_HOMES_TRIED,
        days=GENERATED_DAYS,
        home_types=HOME_TYPES,
        failure_rate=0.0,
        seed=DEMO_SEED,
    )
    return replace(base, **changes)


def _way_config(way: Way) -> synthetic.GeneratorConfig:
    """Every eligible device fails this way; a failure with no warning cannot be foreseen."""
    variation = replace(synthetic.Variation(), no_precursor_fraction=0.0)
    return _config(failure_rate=1.0, scenario_weights={way.family: 1.0}, variation=variation)


def _failures(history: HomeHistory) -> dict[str, list[FailureEvent]]:
    """Return each device's failure events (not swaps or bridge outages), in time order."""
    out: dict[str, list[FailureEvent]] = {}
    for event in history.ground_truth:
        if event.kind in FAILURE_KINDS:
            out.setdefault(event.device_key, []).append(event)
    for events in out.values():
        events.sort(key=lambda e: e.start)
    return out


def _same_devices(a: HomeHistory, b: HomeHistory) -> bool:
    """Return whether two variants of a home hold the same devices and entities."""
    return [d.device_key for d in a.devices] == [d.device_key for d in b.devices] and [
        e.entity_id for e in a.entities
    ] == [e.entity_id for e in b.entities]


def _onsets(variant: HomeHistory, way: Way) -> list[tuple[float, str]]:
    """Return (first failure start, device id) of the variant's devices that fail this way, in time order."""
    failures = _failures(variant)
    return sorted(
        (failures[d.device_key][0].start, d.device_key)
        for d in variant.devices
        if d.device_key in failures
        and d.kind not in SKIPPED_KINDS
        and variant.scenario.get(d.device_key) == way.family
        and way.accepts(d)
    )


def _behind(history: HomeHistory, bridge_id: str) -> list[DeviceRecord]:
    """Return the devices that go down with a bridge (a router takes the Wi-Fi devices)."""
    bridge = next(d for d in history.devices if d.device_key == bridge_id)
    return [
        d
        for d in history.devices
        if d.kind not in SKIPPED_KINDS | BRIDGE_KINDS
        and (
            d.via_device_key == bridge_id
            if bridge.kind != "router"
            else d.protocol is Protocol.WIFI and d.via_device_key is None
        )
    ]


def _outages(healthy: HomeHistory) -> list[FailureEvent]:
    """Return the home's bridge outages long enough and with enough devices behind the bridge."""
    return [
        event
        for event in healthy.ground_truth
        if event.kind == "bridge_outage"
        and event.end - event.start >= MIN_OUTAGE_SECONDS
        and len(_behind(healthy, event.device_key)) >= MIN_OUTAGE_DEVICES
    ]


def _keep(healthy: HomeHistory, choice: HomeChoice) -> set[str]:
    """Pick the devices of the demo home: bridges, the built to fail, some behind the outage, then a mix."""
    candidates = [d for d in healthy.devices if d.kind not in SKIPPED_KINDS]
    kept = [d.device_key for d in candidates if d.kind in BRIDGE_KINDS]
    kept += list(choice.chosen.values())
    kept += [d.device_key for d in _behind(healthy, choice.outage.device_key)][:OUTAGE_DEVICES_KEPT]
    by_kind: dict[str, list[str]] = {}
    for device in candidates:
        by_kind.setdefault(device.kind, []).append(device.device_key)
    # Round-robin over kinds, in the generator's order, so every kind shows.
    queues = [iter(ids) for ids in by_kind.values()]
    while queues and len(set(kept)) < MAX_DEVICES:
        for queue in list(queues):
            if (device_key := next(queue, None)) is None:
                queues.remove(queue)
            elif device_key not in kept and len(set(kept)) < MAX_DEVICES:
                kept.append(device_key)
    return set(kept)


def _fit(
    start: float,
    outages: list[FailureEvent],
    variants: dict[str, HomeHistory],
    onsets: dict[str, list[tuple[float, str]]],
) -> tuple[int, dict[str, str], FailureEvent] | None:
    """Return the first cut day with a recent outage and, for every way, a device failing soon that warns."""
    for day in CUT_DAYS:
        day_start = start + day * DAY
        outage = next(
            (
                e
                for e in outages
                if day_start - OUTAGE_WINDOW[0] * DAY <= e.start
                and e.end <= day_start - OUTAGE_WINDOW[1] * DAY
            ),
            None,
        )
        if outage is None:
            continue
        lo, hi = day_start + FAILURE_WINDOW[0] * DAY, day_start + FAILURE_WINDOW[1] * DAY
        chosen: dict[str, str] = {}
        for way in WAYS:
            device_key = next(
                (
                    d
                    for t, d in onsets[way.key]
                    if lo < t <= hi
                    and d not in chosen.values()
                    and way.warns(variants[way.key], d, day_start)
                ),
                None,
            )
            if device_key is None:
                break
            chosen[way.key] = device_key
        else:
            return day, chosen, outage
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeChoice:
    """Which generated home the demo uses, where it is cut, and what fails."""

    index: int
    cut_day: int
    chosen: dict[str, str]  # way key -> device id
    outage: FailureEvent


def find_home() -> HomeChoice:
    """Return the first generated home that has every way of failing and a recent bridge outage."""
    healthy_config = _config()
    way_configs = {way.key: _way_config(way) for way in WAYS}
    for index in range(MAX_HOMES_TRIED):
        healthy = synthetic.generate_home(healthy_config, index)
        outages = _outages(healthy)
        if not outages:
            continue
        variants: dict[str, HomeHistory] = {}
        onsets: dict[str, list[tuple[float, str]]] = {}
        for way in WAYS:
            variant = synthetic.generate_home(way_configs[way.key], index)
            if not _same_devices(healthy, variant):
                raise RuntimeError("the generator no longer keeps a home's devices across failure settings")
            variants[way.key] = variant
            onsets[way.key] = _onsets(variant, way)
            if not onsets[way.key]:
                break
        else:
            if (fit := _fit(healthy.start, outages, variants, onsets)) is not None:
                day, chosen, outage = fit
                return HomeChoice(index=index, cut_day=day, chosen=chosen, outage=outage)
    raise RuntimeError(f"none of the first {MAX_HOMES_TRIED} generated homes can host the demo")


def _cut_series(series: StateSeries, cut: float, shift: float) -> StateSeries:
    """Keep the rows up to the cut, moved by `shift` seconds."""
    keep = series.time <= cut
    return StateSeries(
        time=series.time[keep] + shift, value=series.value[keep], code=series.code[keep], labels=series.labels
    )


def _cut_stats(stats: StatSeries, cut: float, shift: float) -> StatSeries:
    """Keep the whole hours before the cut, moved by `shift` seconds."""
    keep = stats.start + HOUR <= cut
    return StatSeries(
        start=stats.start[keep] + shift, mean=stats.mean[keep], min=stats.min[keep], max=stats.max[keep]
    )


def _shift_event(event: FailureEvent, shift: float) -> FailureEvent:
    """Move a ground-truth event by `shift` seconds."""
    return replace(event, start=event.start + shift, end=event.end + shift)


def compose(choice: HomeChoice, now: float) -> DemoHome:
    """Build the chosen home, cut at the demo's now and shifted to end at `now`."""
    healthy = synthetic.generate_home(_config(), choice.index)
    source, way_of = _way_variants(choice)
    day_start = healthy.start + choice.cut_day * DAY
    cut = day_start + (now - day_start) % DAY  # the same time of day as now
    shift = now - cut
    kept = _keep(healthy, choice)
    devices, entities, states, statistics = _kept_rows(healthy, source, kept, cut, shift)
    ground_truth, scenario, swaps = _kept_truth(healthy, source, kept, cut, shift)
    # The devices that show what an owner is told (owner_devices.py), written directly.
    owners = owner_devices(healthy.start + shift, now)
    devices += owners.devices
    entities += owners.entities
    states.update(owners.states)
    statistics.update(owners.statistics)
    ground_truth += owners.ground_truth
    swaps.update(owners.battery_swaps)
    scenario.update({d.device_key: "healthy" for d in owners.devices})
    ground_truth.sort(key=lambda e: (e.start, e.device_key))
    restarts = healthy.restarts[healthy.restarts <= cut] + shift
    history = HomeHistory(
        home_id=f"demo-{healthy.home_id}",
        start=healthy.start + shift,
        end=now,
        devices=devices,
        entities=entities,
        states=states,
        statistics=statistics,
        battery_swaps=swaps,
        restarts=restarts,
        ground_truth=ground_truth,
        scenario=scenario,
    )
    truth = _truth(history, way_of)
    recorded, description = _describe(history, owners.attribute_rows)
    return DemoHome(
        history=history,
        home_index=choice.index,
        truth=truth,
        recorded=recorded,
        description=description,
        bridge_outage=_shift_event(choice.outage, shift),
    )


def _way_variants(choice: HomeChoice) -> tuple[dict[str, HomeHistory], dict[str, Way]]:
    """Per chosen device: the generated variant of the home it fails in, and its way of failing."""
    source: dict[str, HomeHistory] = {}
    way_of: dict[str, Way] = {}
    for way in WAYS:
        variant = synthetic.generate_home(_way_config(way), choice.index)
        source[choice.chosen[way.key]] = variant
        way_of[choice.chosen[way.key]] = way
    return source, way_of


def _kept_rows(
    healthy: HomeHistory, source: dict[str, HomeHistory], kept: set[str], cut: float, shift: float
) -> tuple[list[DeviceRecord], list[EntityRecord], dict[str, StateSeries], dict[str, StatSeries]]:
    """The kept devices, their entities, and each entity's states and statistics cut and shifted."""
    devices = [
        replace(d, created=None if d.created is None else d.created + shift)
        for d in healthy.devices
        if d.device_key in kept
    ]
    entities = [e for e in healthy.entities if e.device_key in kept]
    states: dict[str, StateSeries] = {}
    statistics: dict[str, StatSeries] = {}
    for entity in entities:
        origin = source.get(entity.device_key, healthy)
        states[entity.entity_id] = _cut_series(origin.states[entity.entity_id], cut, shift)
        if (stats := origin.statistics.get(entity.entity_id)) is not None:
            statistics[entity.entity_id] = _cut_stats(stats, cut, shift)
    return devices, entities, states, statistics


def _kept_truth(
    healthy: HomeHistory, source: dict[str, HomeHistory], kept: set[str], cut: float, shift: float
) -> tuple[list[FailureEvent], dict[str, str], dict[str, Any]]:
    """The kept devices' ground-truth events, scenarios and battery swaps, cut and shifted."""
    ground_truth: list[FailureEvent] = []
    scenario: dict[str, str] = {}
    swaps: dict[str, Any] = {}
    for device_key in kept:
        origin = source.get(device_key, healthy)
        scenario[device_key] = origin.scenario.get(device_key, "healthy")
        ground_truth += [_shift_event(e, shift) for e in origin.ground_truth if e.device_key == device_key]
        if (swapped := origin.battery_swaps.get(device_key)) is not None:
            swaps[device_key] = swapped[swapped <= cut] + shift
    return ground_truth, scenario, swaps


def build_demo_home(now: float) -> DemoHome:
    """Find and compose the demo home, ending at `now`."""
    return compose(find_home(), now)


def _truth(history: HomeHistory, way_of: dict[str, Way]) -> dict[str, Truth]:
    """Return what happens to each device around the end of the history."""
    now, horizon = history.end, history.end + HORIZON_DAYS * DAY
    failures = _failures(history)
    truth: dict[str, Truth] = {}
    for device in history.devices:
        events = failures.get(device.device_key, [])
        upcoming = next((e for e in events if now < e.start <= horizon), None)
        under_way = any(e.start <= now < e.end for e in events)
        swaps = [
            e.start for e in history.ground_truth if e.device_key == device.device_key and e.kind == "swap"
        ]
        truth[device.device_key] = Truth(
            device_key=device.device_key,
            name=device.name,
            way=way_of.get(device.device_key),
            family=history.scenario.get(device.device_key, "healthy"),
            failure=upcoming,
            failing_now=under_way,
            swap_soon=next((t for t in sorted(swaps) if now < t <= horizon), None),
        )
    return truth


def _entity_name(entity_id: str, device_name: str) -> str | None:
    """Return the entity's own name (None: it is the device's main entity), as HA would name it."""
    object_id = entity_id.split(".", 1)[1]
    prefix = slugify(device_name)
    if object_id == prefix or not object_id.startswith(f"{prefix}_"):
        return None
    suffix = object_id.removeprefix(f"{prefix}_")
    suffix = re.sub(r"_\d+$", "", suffix)
    return ENTITY_NAMES.get(suffix, suffix.replace("_", " ").capitalize())


def _attributes(entity: EntityRecord, name: str | None, device_name: str, numeric: bool) -> dict[str, Any]:
    """Return the state attributes the entity reports, in the order HA writes them."""
    attributes: dict[str, Any] = {}
    if numeric:
        attributes["state_class"] = "measurement"
    if entity.unit:
        attributes["unit_of_measurement"] = entity.unit
    if entity.device_class:
        attributes["device_class"] = entity.device_class
    attributes["friendly_name"] = f"{device_name} {name}" if name else device_name
    return attributes


def _connections(device: DeviceRecord) -> list[list[str]]:
    """Return the radio address a real integration would register for the device."""
    octets = [device.device_key[i : i + 2] for i in range(0, 16, 2)]
    if device.protocol is Protocol.ZIGBEE:
        return [["zigbee", ":".join(octets)]]
    if device.protocol is Protocol.BLE:
        return [["bluetooth", ":".join(octets[:6]).upper()]]
    if device.protocol is Protocol.WIFI:
        return [["mac", ":".join(octets[:6])]]
    return []


def _describe(
    history: HomeHistory, attribute_rows: dict[str, dict[str, list[float]]] | None = None
) -> tuple[dict[str, RecordedEntity], dict[str, Any]]:
    """Return the recorder rows of every entity and the demo integration's description.

    An attribute-only reading (an EntityRecord with `attribute`, e.g. a vacuum's
    `battery_level`) is no entity of its own: its values, one per state row of
    the entity (`attribute_rows`), go into the rows' attributes.
    """
    by_id = {d.device_key: d for d in history.devices}
    recorded: dict[str, RecordedEntity] = {}
    described_entities: list[dict[str, Any]] = []
    attribute_rows = attribute_rows or {}
    for entity in history.entities:
        if entity.attribute is not None:
            continue
        device = by_id[entity.device_key]
        series = history.states[entity.entity_id]
        if len(series) == 0:
            continue
        strings = synthetic.state_strings(entity, series)
        numeric = entity.entity_id.startswith("sensor.") and entity.entity_id in history.statistics
        name = _entity_name(entity.entity_id, device.name)
        attributes = _attributes(entity, name, device.name, numeric)
        per_row = attribute_rows.get(entity.entity_id, {})
        rows = _row_attributes(attributes, per_row, len(strings))
        recorded[entity.entity_id] = RecordedEntity(
            attributes=attributes if rows is None else rows[-1],
            times=series.time,
            states=strings,
            statistics=history.statistics.get(entity.entity_id) if numeric else None,
            row_attributes=rows,
        )
        described_entities.append(_described_entity(entity, name, numeric, strings[-1], rows, per_row))
    description = {"devices": _described_devices(history), "entities": described_entities}
    return recorded, description


def _row_attributes(
    attributes: dict[str, Any], per_row: dict[str, list[float]], n_rows: int
) -> list[dict[str, Any]] | None:
    """Each state row's attributes with its attribute-only readings, or None without any."""
    if not per_row:
        return None
    return [
        {**attributes, **{key: _whole(values[k]) for key, values in per_row.items()}} for k in range(n_rows)
    ]


def _described_entity(
    entity: EntityRecord,
    name: str | None,
    numeric: bool,
    state: str,
    rows: list[dict[str, Any]] | None,
    per_row: dict[str, list[float]],
) -> dict[str, Any]:
    """One entity as the demo integration restores it: name, classes, unit and last state."""
    described = {
        "entity_id": entity.entity_id,
        "device": entity.device_key,
        "name": name,
        "device_class": entity.device_class,
        "unit": entity.unit,
        "state_class": "measurement" if numeric else None,
        "entity_category": "diagnostic" if entity.role in DIAGNOSTIC_ROLES else None,
        "state": state,
    }
    if rows is not None:
        described["attributes"] = {key: rows[-1][key] for key in per_row}
    return described


def _described_devices(history: HomeHistory) -> list[dict[str, Any]]:
    """The devices as the demo integration registers them, bridges first."""
    # Bridges first: a device's via_device must exist before the device.
    devices = sorted(history.devices, key=lambda d: d.via_device_key is not None)
    return [
        {
            "id": d.device_key,
            "name": d.name,
            "manufacturer": d.manufacturer,
            "model": d.model,
            "via_device": d.via_device_key,
            "area": (d.area_id or "").replace("_", " ").capitalize() or None,
            "connections": _connections(d),
        }
        for d in devices
    ]


def _whole(value: float) -> int | float:
    """An attribute's number as an integration reports it (whole numbers as int)."""
    return int(value) if float(value).is_integer() else float(value)


def days_from_now(home: DemoHome, timestamp: float) -> float:
    """Return how many days after the demo's now a time is."""
    return (timestamp - home.end) / DAY


def history_days(home: DemoHome) -> float:
    """Return the length of the written history in days."""
    return (home.history.end - home.history.start) / DAY
