"""Tests for the per-device prediction sensors and the integration's own sensors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from homeassistant.const import PERCENTAGE, STATE_UNAVAILABLE, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.homeiq_device_intel.const import (
    CONF_EXCLUDE_AREAS,
    CONF_INCLUDE_INTEGRATIONS,
    DOMAIN,
)
from custom_components.homeiq_device_intel.coordinator import HomeIQData
from custom_components.homeiq_device_intel.ml.bundle import ModelBundle
from custom_components.homeiq_device_intel.model_store import ActiveModel
from custom_components.homeiq_device_intel.sensor import _quality, _quality_attributes

Setup = Callable[[], Awaitable[MockConfigEntry]]


async def test_failure_probability_follows_the_model(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    add_battery_device("Hall door", battery=10)
    add_battery_device("Kitchen", battery=80)
    await setup_integration()

    low = hass.states.get("sensor.hall_door_failure_probability")
    assert low is not None
    assert float(low.state) == pytest.approx(98.2, abs=0.1)  # sigmoid(4)
    assert low.attributes["unit_of_measurement"] == PERCENTAGE
    assert low.attributes["state_class"] == "measurement"
    assert low.attributes["failure_type"] == "battery_depleted"
    assert low.attributes["probabilities"]["battery_depleted"] == pytest.approx(98.2, abs=0.1)
    assert low.attributes["failing_now"] is False
    assert low.attributes["reasons"]
    assert all(isinstance(reason, str) for reason in low.attributes["reasons"])

    healthy = hass.states.get("sensor.kitchen_failure_probability")
    assert healthy is not None
    assert float(healthy.state) == pytest.approx(1.8, abs=0.1)


async def test_battery_days_remaining_with_interval(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    add_battery_device("Hall door", battery=10)
    await setup_integration()

    state = hass.states.get("sensor.hall_door_battery_days_remaining")
    assert state is not None
    assert float(state.state) == 5.0
    assert state.attributes["unit_of_measurement"] == "d"
    assert state.attributes["interval_low"] == 2.0
    assert state.attributes["interval_high"] == 9.0


async def test_entities_are_named_after_the_source_device_which_stays_foreign(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    device = add_battery_device("Hall door", battery=50)
    entry = await setup_integration()

    state = hass.states.get("sensor.hall_door_failure_probability")
    assert state is not None
    assert state.attributes["friendly_name"] == "Hall door Failure probability"
    source = dr.async_get(hass).async_get(device.id)
    assert source is not None
    assert entry.entry_id not in source.config_entries
    registered = er.async_get(hass).async_get("sensor.hall_door_failure_probability")
    assert registered is not None
    assert registered.unique_id == f"{device.id}_failure_probability"
    # On the source device's page on every supported HA version (device_entry from
    # 2025.8, our own registry entry's device_id before), without owning the device.
    assert registered.device_id == device.id
    assert registered.translation_key == "failure_probability"


async def test_entities_stay_on_the_source_device_page_after_a_reload(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    """A restart registers our entities again (HA before 2025.8 drops their device); they stay linked."""
    device = add_battery_device("Hall door", battery=50)
    entry = await setup_integration()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    registry = er.async_get(hass)
    ours = er.async_entries_for_config_entry(registry, entry.entry_id)
    per_device = [e for e in ours if e.unique_id.startswith(device.id)]
    assert len(per_device) >= 3
    assert all(e.device_id == device.id for e in per_device)
    state = hass.states.get("sensor.hall_door_failure_probability")
    assert state is not None
    assert state.state != STATE_UNAVAILABLE
    source = dr.async_get(hass).async_get(device.id)
    assert source is not None
    assert entry.entry_id not in source.config_entries


async def test_a_scoring_builds_entities_only_for_new_devices(
    hass: HomeAssistant,
    add_battery_device: Callable[..., dr.DeviceEntry],
    setup_integration: Setup,
    rescore: Callable[[], Awaitable[None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Entity objects of devices that already have theirs are not built again at each scoring."""
    from custom_components.homeiq_device_intel.entity import HomeIQDeviceEntity

    built: list[str] = []
    original = HomeIQDeviceEntity.__init__

    def counting(self: HomeIQDeviceEntity, coordinator: Any, device: Any, *args: Any) -> None:
        built.append(device.name)
        original(self, coordinator, device, *args)

    monkeypatch.setattr(HomeIQDeviceEntity, "__init__", counting)
    add_battery_device("Hall door", battery=50)
    entry = await setup_integration()
    assert set(built) == {"Hall door"}
    built.clear()
    await rescore()
    assert built == []
    add_battery_device("Kitchen", battery=60)
    await rescore()
    assert set(built) == {"Kitchen"}
    assert hass.states.get("sensor.kitchen_failure_probability") is not None
    # An entity whose registry entry went away is built and added again.
    built.clear()
    registry = er.async_get(hass)
    registry.async_remove("sensor.kitchen_failure_probability")
    await hass.async_block_till_done()
    await rescore()
    assert set(built) == {"Kitchen"}
    ours = {e.unique_id for e in er.async_entries_for_config_entry(registry, entry.entry_id)}
    assert any(uid.endswith("_failure_probability") and "kitchen" not in uid for uid in ours)
    assert sum(uid.endswith("_failure_probability") for uid in ours) == 2


async def test_mains_device_has_no_battery_days_sensor(
    hass: HomeAssistant, zha_entry: MockConfigEntry, setup_integration: Setup
) -> None:
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=zha_entry.entry_id, identifiers={("zha", "plug")}, name="Plug"
    )
    registry = er.async_get(hass)
    registry.async_get_or_create(
        "switch", "zha", "plug-switch", device_id=device.id, suggested_object_id="plug"
    )
    registry.async_get_or_create(
        "sensor",
        "zha",
        "plug-rssi",
        device_id=device.id,
        original_device_class="signal_strength",
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_object_id="plug_rssi",
    )
    hass.states.async_set("switch.plug", "on")
    hass.states.async_set("sensor.plug_rssi", "-70", {"device_class": "signal_strength"})
    await setup_integration()

    assert hass.states.get("sensor.plug_failure_probability") is not None
    assert hass.states.get("sensor.plug_battery_days_remaining") is None


async def test_battery_entity_without_device_is_watched_on_its_own(
    hass: HomeAssistant, setup_integration: Setup
) -> None:
    hass.states.async_set(
        "sensor.garden_thermometer_battery",
        "12",
        {"device_class": "battery", "unit_of_measurement": PERCENTAGE, "friendly_name": "Garden"},
    )
    await setup_integration()

    state = hass.states.get("sensor.garden_failure_probability")
    assert state is not None
    assert state.attributes["friendly_name"] == "Garden failure probability"
    assert float(state.state) == pytest.approx(98.2, abs=0.1)


async def test_integration_sensors(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    add_battery_device("Hall door", battery=10)
    add_battery_device("Kitchen", battery=80)
    entry = await setup_integration()

    expected = {
        "training_status": "idle",
        "last_trained": "unknown",
        "model_version": "test-1",
        "model_source": "shipped",
        # Alerts that came true: (0.5 x 10 + 0.3 x 30) / 40 alerts.
        "model_quality": "35.0",
        "devices_monitored": "2",
        "devices_at_risk": "0",
    }
    registry = er.async_get(hass)
    for key, value in expected.items():
        entity_id = registry.async_get_entity_id("sensor", DOMAIN, f"{entry.entry_id}_{key}")
        assert entity_id is not None, key
        state = hass.states.get(entity_id)
        assert state is not None
        assert state.state == value, key
    service = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, entry.entry_id)})
    assert service is not None
    assert service.entry_type is dr.DeviceEntryType.SERVICE
    quality = hass.states.get("sensor.homeiq_device_intelligence_model_quality")
    assert quality is not None
    assert quality.attributes["f1"] == 0.85
    # What an owner can judge, per failure type, from the shipped model's held-out evaluation.
    assert quality.attributes["evaluated_on"] == "shipped_evaluation"
    assert quality.attributes["battery_depleted_alerts_came_true"] == 50.0
    assert quality.attributes["battery_depleted_failures_warned_of"] == 70.0
    assert quality.attributes["battery_depleted_days_of_warning"] == 4.5
    assert quality.attributes["battery_depleted_alerts"] == 10
    assert quality.attributes["unavailable_alerts_came_true"] == 30.0
    # Figures the evaluation does not hold are unknown, not made up.
    assert quality.attributes["unavailable_failures_warned_of"] is None
    assert quality.attributes["stale_alerts_came_true"] is None
    assert "alert_precision" not in quality.attributes


def _runtime_with(bundle: ModelBundle, version_id: str | None) -> Any:
    """A runtime whose coordinator serves this model (all the model-quality sensor reads)."""
    return SimpleNamespace(
        coordinator=SimpleNamespace(model=ActiveModel(bundle=bundle, version_id=version_id))
    )


def test_model_quality_uses_the_home_models_own_recent_days_once_they_hold_an_alert(
    make_bundle: Callable[..., ModelBundle],
) -> None:
    home_metrics = {
        "battery_depleted_alert_precision": 1.0,
        "battery_depleted_alerts": 2,
        "battery_depleted_event_recall": 0.5,
        "battery_depleted_lead_days_median": 3.0,
        "unavailable_log_loss": 0.1,
    }
    home = make_bundle(source="home", home_metrics=home_metrics)
    runtime = _runtime_with(home, "3")
    assert _quality(runtime) == 100.0
    attributes = _quality_attributes(runtime)
    assert attributes["evaluated_on"] == "home_recent_days"
    assert attributes["battery_depleted_alerts_came_true"] == 100.0
    assert attributes["battery_depleted_days_of_warning"] == 3.0
    # Not mixed with the shipped figures of the other failure types.
    assert attributes["unavailable_alerts_came_true"] is None

    # Recent days without a single alert: the shipped evaluation stands in, and says so.
    quiet = make_bundle(source="home", home_metrics={"unavailable_log_loss": 0.1})
    runtime = _runtime_with(quiet, "4")
    assert _quality(runtime) == 35.0
    assert _quality_attributes(runtime)["evaluated_on"] == "shipped_evaluation"


async def test_devices_outside_the_filters_are_not_watched(
    hass: HomeAssistant,
    add_battery_device: Any,
    mock_config_entry: MockConfigEntry,
    setup_integration: Setup,
) -> None:
    garage = ar.async_get(hass).async_create("Garage")
    add_battery_device("Hall door", battery=10)
    add_battery_device("Garage door", battery=10, area_id=garage.id)
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={**mock_config_entry.options, CONF_EXCLUDE_AREAS: [garage.id]}
    )
    await setup_integration()

    assert hass.states.get("sensor.hall_door_failure_probability") is not None
    assert hass.states.get("sensor.garage_door_failure_probability") is None


async def test_new_device_is_picked_up_and_removed_device_cleaned_up(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    rescore: Callable[[], Awaitable[None]],
) -> None:
    add_battery_device("Hall door", battery=10)
    await setup_integration()
    assert hass.states.get("sensor.kitchen_failure_probability") is None

    kitchen = add_battery_device("Kitchen", battery=70)
    await rescore()
    state = hass.states.get("sensor.kitchen_failure_probability")
    assert state is not None
    assert state.state != STATE_UNAVAILABLE

    dr.async_get(hass).async_remove_device(kitchen.id)
    await rescore()
    assert hass.states.get("sensor.kitchen_failure_probability") is None
    assert er.async_get(hass).async_get("sensor.kitchen_failure_probability") is None
    assert hass.states.get("sensor.hall_door_failure_probability") is not None


def _register(
    hass: HomeAssistant,
    owner: MockConfigEntry,
    name: str,
    entities: list[tuple[str, str, dict[str, Any]]],
    **device: Any,
) -> dr.DeviceEntry:
    """Register a device and its entities: (domain, object id, registry fields)."""
    entry = dr.async_get(hass).async_get_or_create(
        config_entry_id=owner.entry_id,
        identifiers=device.pop("identifiers", {(owner.domain, name)}),
        name=name,
        **device,
    )
    registry = er.async_get(hass)
    for domain, object_id, fields in entities:
        registry.async_get_or_create(
            domain,
            owner.domain,
            object_id,
            device_id=entry.id,
            suggested_object_id=object_id,
            config_entry=owner,
            **fields,
        )
    return entry


async def test_which_devices_are_watched_and_what_their_entities_tell(
    hass: HomeAssistant, setup_integration: Setup
) -> None:
    mqtt = MockConfigEntry(domain="mqtt")
    cloud = MockConfigEntry(domain="acme_cloud")
    mqtt.add_to_hass(hass)
    cloud.add_to_hass(hass)
    diagnostic = {"entity_category": EntityCategory.DIAGNOSTIC}
    motion = _register(
        hass,
        mqtt,
        "Landing motion",
        [
            ("binary_sensor", "landing_motion", {"original_device_class": "motion"}),
            ("binary_sensor", "landing_occupancy", {"original_device_class": "occupancy"}),
            ("sensor", "landing_rssi", diagnostic),
            ("sensor", "landing_link", {**diagnostic, "unit_of_measurement": "lqi"}),
            ("sensor", "landing_voltage", {**diagnostic, "original_device_class": "voltage"}),
            ("sensor", "landing_temperature", {**diagnostic, "original_device_class": "temperature"}),
            ("sensor", "landing_firmware", diagnostic),
        ],
        identifiers={("mqtt", "zigbee2mqtt_0x00158d0001")},
    )
    _register(hass, cloud, "Cloud switch", [("switch", "cloud_switch", {})])
    offline = _register(hass, cloud, "Cloud plug", [("switch", "cloud_plug", {})])
    lamp = _register(hass, cloud, "Desk lamp", [("light", "desk_lamp", {})])
    _register(
        hass,
        cloud,
        "Cloud account",
        [("sensor", "cloud_account_battery", {"original_device_class": "battery"})],
        entry_type=dr.DeviceEntryType.SERVICE,
    )
    disabled = _register(
        hass,
        cloud,
        "Old sensor",
        [("sensor", "old_sensor_battery", {"original_device_class": "battery"})],
    )
    dr.async_get(hass).async_update_device(disabled.id, disabled_by=dr.DeviceEntryDisabler.USER)
    _register(hass, cloud, "Cloud hub", [("sensor", "cloud_hub_firmware", diagnostic)])
    remote = _register(
        hass,
        cloud,
        "Remote",
        [("sensor", "remote_battery", {**diagnostic, "original_device_class": "battery"})],
    )
    hass.states.async_set("binary_sensor.landing_motion", "off")
    hass.states.async_set("sensor.landing_link", "120")
    hass.states.async_set("switch.cloud_switch", "on")
    hass.states.async_set("switch.cloud_plug", STATE_UNAVAILABLE)
    hass.states.async_set("light.desk_lamp", "on", {"battery_level": 40})
    entry = await setup_integration()

    devices = entry.runtime_data.coordinator.data.devices
    assert set(devices) == {motion.id, offline.id, lamp.id, remote.id}
    assert devices[remote.id].info.kind == "other"  # no main entity to tell
    landing = devices[motion.id]
    assert landing.info.protocol == "zigbee"
    assert landing.info.kind == "motion"
    assert not landing.has_battery
    assert {e.entity_id: e.role for e in landing.entities} == {
        "binary_sensor.landing_motion": "primary",
        "sensor.landing_rssi": "signal",
        "sensor.landing_link": "signal",
        "sensor.landing_voltage": "voltage",
        "sensor.landing_temperature": "temperature",
    }
    assert devices[lamp.id].has_battery
    assert devices[lamp.id].info.kind == "light"
    assert hass.states.get("sensor.desk_lamp_battery_days_remaining") is not None
    assert hass.states.get("sensor.landing_motion_battery_days_remaining") is None


async def test_included_integrations_narrow_the_watched_devices(
    hass: HomeAssistant,
    add_battery_device: Any,
    mock_config_entry: MockConfigEntry,
    setup_integration: Setup,
) -> None:
    other = MockConfigEntry(domain="deconz")
    other.add_to_hass(hass)
    add_battery_device("Hall door")
    add_battery_device("Bedroom door", owner=other)
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        options={**mock_config_entry.options, CONF_INCLUDE_INTEGRATIONS: ["deconz"]},
    )
    await setup_integration()

    assert hass.states.get("sensor.bedroom_door_failure_probability") is not None
    assert hass.states.get("sensor.hall_door_failure_probability") is None


async def test_registered_battery_entity_without_device(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    setup_integration: Setup,
) -> None:
    kitchen = ar.async_get(hass).async_create("Kitchen")
    registry = er.async_get(hass)
    remote = registry.async_get_or_create(
        "sensor",
        "template",
        "remote",
        original_device_class="battery",
        original_name="Remote battery",
        suggested_object_id="remote_battery",
    )
    fridge = registry.async_get_or_create(
        "sensor",
        "template",
        "fridge",
        original_device_class="battery",
        suggested_object_id="fridge_battery",
    )
    registry.async_update_entity(fridge.entity_id, area_id=kitchen.id)
    registry.async_get_or_create("sensor", "template", "outdoor", suggested_object_id="outdoor_temperature")
    hass.states.async_set("sensor.remote_battery", "50", {"device_class": "battery"})
    hass.states.async_set("sensor.fridge_battery", "50", {"device_class": "battery"})
    hass.states.async_set("sensor.outdoor_temperature", "5")
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={**mock_config_entry.options, CONF_EXCLUDE_AREAS: [kitchen.id]}
    )
    entry = await setup_integration()

    assert set(entry.runtime_data.coordinator.data.devices) == {f"entity:{remote.id}"}
    state = hass.states.get("sensor.remote_battery_failure_probability")
    assert state is not None
    assert state.attributes["friendly_name"] == "Remote battery failure probability"


async def test_registry_changes_that_matter_trigger_a_rescan(
    hass: HomeAssistant,
    freezer: Any,
    setup_integration: Setup,
) -> None:
    cloud = MockConfigEntry(domain="acme_cloud")
    cloud.add_to_hass(hass)
    _register(
        hass,
        cloud,
        "Thermostat",
        [("climate", "thermostat", {}), ("sensor", "thermostat_level", {})],
    )
    hass.states.async_set("climate.thermostat", "heat")
    hass.states.async_set("sensor.thermostat_level", "80")
    entry = await setup_integration()
    coordinator = entry.runtime_data.coordinator
    assert coordinator.data.devices == {}
    scored_at = coordinator.data.scored_at

    registry = er.async_get(hass)
    registry.async_update_entity("sensor.thermostat_level", name="Level")
    freezer.tick(timedelta(seconds=30))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert coordinator.data.scored_at == scored_at  # a new name changes nothing

    registry.async_update_entity("sensor.thermostat_level", device_class="battery")
    freezer.tick(timedelta(seconds=30))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert coordinator.data.scored_at != scored_at
    assert [device.name for device in coordinator.data.devices.values()] == ["Thermostat"]


async def test_renaming_a_watched_device_keeps_its_prediction_entities(
    hass: HomeAssistant,
    add_battery_device: Callable[..., dr.DeviceEntry],
    setup_integration: Setup,
    rescore: Callable[[], Awaitable[None]],
) -> None:
    """Home Assistant before 2025.8 drops our entities from a device's page when the device changes."""
    device = add_battery_device("Hall door", battery=40.0)
    entry = await setup_integration()

    dr.async_get(hass).async_update_device(device.id, name_by_user="Front door")
    await rescore()

    ours = {e.unique_id for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)}
    assert f"{device.id}_failure_probability" in ours
    assert f"{device.id}_at_risk" in ours
    probabilities = [
        state
        for state in hass.states.async_all("sensor")
        if state.entity_id.endswith("_failure_probability") and state.state != STATE_UNAVAILABLE
    ]
    assert len(probabilities) == 1


async def test_many_new_entities_are_added_in_batches(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    rescore: Callable[[], Awaitable[None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """More new entities than one batch are all added (in several turns of the event loop)."""
    monkeypatch.setattr("custom_components.homeiq_device_intel.entity.ADD_BATCH", 2)
    added: list[int] = []
    _count_platform_adds(monkeypatch, added)
    for name in ("Hall door", "Kitchen", "Porch", "Garage"):
        add_battery_device(name, battery=60)
    entry = await setup_integration()
    for name in ("hall_door", "kitchen", "porch", "garage"):
        assert hass.states.get(f"sensor.{name}_failure_probability") is not None, name
        assert hass.states.get(f"binary_sensor.{name}_at_risk") is not None, name
    assert added and max(added) <= 2  # no call added more than one batch
    # A device added later comes in the usual single call; nothing is added twice.
    ours = len(er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id))
    add_battery_device("Shed", battery=60)
    await rescore()
    assert hass.states.get("sensor.shed_failure_probability") is not None
    assert len(er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)) > ours


async def test_a_scoring_between_batches_adds_no_entity_twice(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression: entities of a batch not yet added were built and added again by the next scoring.

    Home Assistant then logged "does not generate unique IDs" for each of them.
    """
    monkeypatch.setattr("custom_components.homeiq_device_intel.entity.ADD_BATCH", 2)
    scorings: list[HomeIQData] = []
    _score_after_the_first_batch(monkeypatch, scorings)
    for name in ("Hall door", "Kitchen", "Porch", "Garage", "Shed"):
        add_battery_device(name, battery=60)

    entry = await setup_integration()
    await hass.async_block_till_done()

    assert scorings  # a scoring did arrive between two batches
    assert "does not generate unique IDs" not in caplog.text
    for name in ("hall_door", "kitchen", "porch", "garage", "shed"):
        assert hass.states.get(f"sensor.{name}_failure_probability") is not None, name
        assert hass.states.get(f"binary_sensor.{name}_at_risk") is not None, name
    ours = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    added = [
        state.entity_id for state in hass.states.async_all() if state.entity_id in {e.entity_id for e in ours}
    ]
    assert len(added) == len(ours)


def _score_after_the_first_batch(monkeypatch: pytest.MonkeyPatch, scorings: list[HomeIQData]) -> None:
    """Let a new scoring reach the listeners right after the first batch of a platform is added."""
    from custom_components.homeiq_device_intel import entity as entity_module

    original = entity_module.async_track_device_entities

    def scoring_between(entry: Any, platform: Any, build: Any, add: Any, keep: set[str]) -> None:
        coordinator = entry.runtime_data.coordinator

        def score() -> None:
            scorings.append(replace(coordinator.data))
            coordinator.async_set_updated_data(scorings[-1])

        def add_then_score(entities: Any) -> None:
            entities = list(entities)
            add(entities)
            if len(entities) == 2 and not scorings:  # a batch: the rest follow in later turns of the loop
                coordinator.hass.loop.call_soon(score)

        original(entry, platform, build, add_then_score, keep)

    for module in ("sensor", "binary_sensor", "select"):
        monkeypatch.setattr(
            f"custom_components.homeiq_device_intel.{module}.async_track_device_entities", scoring_between
        )


def _count_platform_adds(monkeypatch: pytest.MonkeyPatch, added: list[int]) -> None:
    """Count the entities of each add_entities call our per-device platforms make."""
    from custom_components.homeiq_device_intel import entity as entity_module

    original = entity_module.async_track_device_entities

    def counting(entry: Any, platform: Any, build: Any, add: Any, keep: set[str]) -> None:
        def add_counted(entities: Any) -> None:
            entities = list(entities)
            added.append(len(entities))
            add(entities)

        original(entry, platform, build, add_counted, keep)

    for module in ("sensor", "binary_sensor", "select"):
        monkeypatch.setattr(
            f"custom_components.homeiq_device_intel.{module}.async_track_device_entities", counting
        )
