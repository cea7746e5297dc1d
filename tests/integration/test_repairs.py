"""Tests for the repair issues: raised when the user must act, cleared once fixed."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from sqlalchemy.exc import OperationalError

from custom_components.homeiq_device_intel import recorder_source
from custom_components.homeiq_device_intel.const import (
    CONF_EXCLUDE_DEVICES,
    DOMAIN,
    HOME_MODELS_KEPT,
    SERVICE_ROLLBACK_MODEL,
    SERVICE_TRAIN,
)
from custom_components.homeiq_device_intel.ml.bundle import MODELS_FILE, ModelBundle
from custom_components.homeiq_device_intel.model_store import ModelStore

Setup = Callable[[], Awaitable[MockConfigEntry]]
Rescore = Callable[[], Awaitable[None]]


@pytest.mark.parametrize("recorder_config", [{"exclude": {"entity_globs": ["sensor.attic_*"]}}])
async def test_unrecorded_entities_raise_an_issue_fixed_by_excluding_the_device(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    add_battery_device: Any,
    setup_integration: Setup,
) -> None:
    add_battery_device("Hall door")
    attic = add_battery_device("Attic window")
    entry = await setup_integration()

    issue = issue_registry.async_get_issue(DOMAIN, "entities_not_recorded")
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders == {
        "count": "1",
        "entities": "sensor.attic_window_battery",
    }

    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, data={"issue_id": "entities_not_recorded"})
    assert result["type"] is FlowResultType.FORM
    assert result["description_placeholders"] == {"count": "1"}
    result = await manager.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    assert entry.options[CONF_EXCLUDE_DEVICES] == [attic.id]
    assert issue_registry.async_get_issue(DOMAIN, "entities_not_recorded") is None
    assert hass.states.get("sensor.attic_window_failure_probability") is None
    assert hass.states.get("sensor.hall_door_failure_probability") is not None


async def test_unrecorded_fix_flow_aborts_when_not_loaded(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, setup_integration: Setup
) -> None:
    entry = await setup_integration()
    ir.async_create_issue(
        hass,
        DOMAIN,
        "entities_not_recorded",
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="entities_not_recorded",
    )
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, data={"issue_id": "entities_not_recorded"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_loaded"


async def test_bridge_outage_is_one_issue_cleared_when_devices_return(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    zha_entry: MockConfigEntry,
    add_battery_device: Any,
    setup_integration: Setup,
    rescore: Rescore,
) -> None:
    devices = dr.async_get(hass)
    bridge = devices.async_get_or_create(
        config_entry_id=zha_entry.entry_id, identifiers={("zha", "coordinator")}, name="Zigbee stick"
    )
    names = [f"Door {i}" for i in range(4)]
    for name in names:
        device = add_battery_device(name)
        devices.async_update_device(device.id, via_device_id=bridge.id)
    await setup_integration()
    assert not [i for (d, i) in issue_registry.issues if d == DOMAIN and i.startswith("group_")]

    for index in range(3):
        hass.states.async_set(f"binary_sensor.door_{index}_contact", STATE_UNAVAILABLE)
        hass.states.async_set(f"sensor.door_{index}_battery", STATE_UNAVAILABLE)
    await rescore()
    outages = [i for (d, i) in issue_registry.issues if d == DOMAIN and i.startswith("group_")]
    assert outages == [f"group_unavailable_{bridge.id}"]
    issue = issue_registry.async_get_issue(DOMAIN, outages[0])
    assert issue is not None
    assert issue.translation_placeholders == {"name": "Zigbee stick", "down": "3", "total": "4"}

    for index in range(3):
        hass.states.async_set(f"binary_sensor.door_{index}_contact", "off")
        hass.states.async_set(f"sensor.door_{index}_battery", "90")
    await rescore()
    assert issue_registry.async_get_issue(DOMAIN, outages[0]) is None


def _add_plug(hass: HomeAssistant, owner: MockConfigEntry, name: str) -> None:
    """A mains device without a battery: a switch of another integration, on."""
    slug = name.lower().replace(" ", "_")
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=owner.entry_id, identifiers={(owner.domain, slug)}, name=name
    )
    er.async_get(hass).async_get_or_create(
        "switch",
        owner.domain,
        f"{slug}-switch",
        device_id=device.id,
        suggested_object_id=slug,
        config_entry=owner,
    )
    hass.states.async_set(f"switch.{slug}", "on")


async def test_a_power_cut_is_one_issue_cleared_when_devices_return(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    zha_entry: MockConfigEntry,
    setup_integration: Setup,
    rescore: Rescore,
) -> None:
    shelly, tplink = MockConfigEntry(domain="shelly"), MockConfigEntry(domain="tplink")
    shelly.add_to_hass(hass)
    tplink.add_to_hass(hass)
    plugs = {"switch.kettle": shelly, "switch.fridge": shelly, "switch.lamp": shelly}
    plugs |= {"switch.tv": tplink, "switch.hall_router": zha_entry}
    for entity_id, owner in plugs.items():
        _add_plug(hass, owner, entity_id.partition(".")[2].replace("_", " ").title())
    await setup_integration()
    await rescore()  # an hour of history with every plug on

    for entity_id in plugs:
        hass.states.async_set(entity_id, STATE_UNAVAILABLE)
    await rescore()
    await rescore()
    issue = issue_registry.async_get_issue(DOMAIN, "home_outage")
    assert issue is not None
    placeholders = issue.translation_placeholders or {}
    assert placeholders["count"] == "5"
    assert placeholders["groups"] == "shelly, tplink, zha"
    assert placeholders["devices"] == "Fridge, Hall Router, Kettle, Lamp, Tv"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:00", placeholders["since"])
    # The same event is not raised again as the Shelly integration's outage.
    assert not [i for (d, i) in issue_registry.issues if d == DOMAIN and i.startswith("group_")]
    probability = hass.states.get("sensor.kettle_failure_probability")
    assert probability is not None
    assert probability.attributes["failing_now"] is False

    for entity_id in plugs:
        hass.states.async_set(entity_id, "on")
    await rescore()
    assert issue_registry.async_get_issue(DOMAIN, "home_outage") is None


async def test_training_failing_three_times_raises_an_issue_cleared_by_success(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    add_battery_device: Any,
    setup_integration: Setup,
) -> None:
    add_battery_device("Hall door")
    await setup_integration()

    async def train() -> str:
        response = await hass.services.async_call(
            DOMAIN, SERVICE_TRAIN, {}, blocking=True, return_response=True
        )
        assert response is not None
        return str(response["status"])

    broken = OperationalError("SELECT", {}, Exception("database disk image is malformed"))
    with (
        patch.object(recorder_source, "RETRY_DELAYS", ()),
        patch.object(recorder_source, "plan_read", side_effect=broken),
    ):
        for attempt in range(3):
            assert await train() == "failed"
            raised = issue_registry.async_get_issue(DOMAIN, "training_failing") is not None
            assert raised is (attempt == 2)
    issue = issue_registry.async_get_issue(DOMAIN, "training_failing")
    assert issue is not None
    assert issue.translation_placeholders == {"count": "3"}

    assert await train() == "insufficient_data"
    assert issue_registry.async_get_issue(DOMAIN, "training_failing") is None


async def test_damaged_home_model_falls_back_with_an_issue_until_rollback(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    setup_integration: Setup,
) -> None:
    home = config_dir / ".storage" / DOMAIN / "models"
    store = ModelStore(shipped_model, home, keep=HOME_MODELS_KEPT)
    store.deploy(make_bundle(source="home"))
    store.deploy(make_bundle(source="home"))
    (home / "versions" / "v0002" / MODELS_FILE).write_bytes(b"not a model")

    await setup_integration()

    version = hass.states.get("sensor.homeiq_device_intelligence_model_version")
    assert version is not None
    assert version.state == "test-1+home.v0001"
    issue = issue_registry.async_get_issue(DOMAIN, "home_model_refused")
    assert issue is not None
    assert issue.translation_placeholders == {"versions": "v0002", "reason": "checksum_mismatch"}
    assert (home / "refused" / "v0002").is_dir()
    assert store.versions() == ["v0001"]

    await hass.services.async_call(DOMAIN, SERVICE_ROLLBACK_MODEL, {}, blocking=True)
    assert issue_registry.async_get_issue(DOMAIN, "home_model_refused") is None


async def test_all_home_models_damaged_falls_back_to_the_shipped_model(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    setup_integration: Setup,
) -> None:
    home = config_dir / ".storage" / DOMAIN / "models"
    store = ModelStore(shipped_model, home, keep=HOME_MODELS_KEPT)
    for _ in range(4):
        store.deploy(make_bundle(source="home"))
    for version in store.versions():
        (home / "versions" / version / "manifest.json").unlink()

    await setup_integration()

    source = hass.states.get("sensor.homeiq_device_intelligence_model_source")
    assert source is not None
    assert source.state == "shipped"
    issue = issue_registry.async_get_issue(DOMAIN, "home_model_refused")
    assert issue is not None
    assert issue.translation_placeholders == {
        "versions": "v0001, v0002, v0003, v0004",
        "reason": "missing",
    }
    # The newest few damaged versions are kept aside for support, the rest removed.
    assert sorted(p.name for p in (home / "refused").iterdir()) == ["v0002", "v0003", "v0004"]
    assert store.versions() == []


async def test_rolling_back_into_a_damaged_model_raises_the_issue(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    setup_integration: Setup,
) -> None:
    home = config_dir / ".storage" / DOMAIN / "models"
    store = ModelStore(shipped_model, home, keep=HOME_MODELS_KEPT)
    store.deploy(make_bundle(source="home"))
    store.deploy(make_bundle(source="home"))
    (home / "versions" / "v0001" / MODELS_FILE).write_bytes(b"damaged")
    await setup_integration()
    assert issue_registry.async_get_issue(DOMAIN, "home_model_refused") is None

    await hass.services.async_call(DOMAIN, SERVICE_ROLLBACK_MODEL, {}, blocking=True)

    source = hass.states.get("sensor.homeiq_device_intelligence_model_source")
    assert source is not None
    assert source.state == "shipped"
    issue = issue_registry.async_get_issue(DOMAIN, "home_model_refused")
    assert issue is not None
    assert issue.translation_placeholders == {"versions": "v0001", "reason": "checksum_mismatch"}


async def test_no_outage_is_reported_while_home_assistant_starts(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    add_battery_device: Any,
    setup_integration: Setup,
    freezer: Any,
) -> None:
    for index in range(3):
        add_battery_device(f"Door {index}")
        hass.states.async_set(f"binary_sensor.door_{index}_contact", STATE_UNAVAILABLE)
        hass.states.async_set(f"sensor.door_{index}_battery", STATE_UNAVAILABLE)
    freezer.tick(3600)
    hass.set_state(CoreState.starting)
    await setup_integration()
    assert not [i for (d, i) in issue_registry.issues if d == DOMAIN and i.startswith("group_")]
