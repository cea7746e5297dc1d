"""Tests for the train, refresh_predictions and rollback_model actions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.service import async_get_all_descriptions
from homeassistant.helpers.translation import async_get_translations
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from sqlalchemy.exc import OperationalError

from custom_components.homeiq_device_intel import recorder_source, training
from custom_components.homeiq_device_intel.const import (
    DOMAIN,
    HOME_MODELS_KEPT,
    SERVICE_ACKNOWLEDGE,
    SERVICE_REFRESH_PREDICTIONS,
    SERVICE_ROLLBACK_MODEL,
    SERVICE_SNOOZE,
    SERVICE_TRAIN,
    SERVICE_UNSNOOZE,
    SHIPPED_MODEL_DIR,
)
from custom_components.homeiq_device_intel.ml.bundle import ModelBundle
from custom_components.homeiq_device_intel.ml.learning import TrainingCancelled
from custom_components.homeiq_device_intel.model_store import ModelStore

Setup = Callable[[], Awaitable[MockConfigEntry]]
SOURCE = "sensor.homeiq_device_intelligence_model_source"
VERSION = "sensor.homeiq_device_intelligence_model_version"


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


def _home_store(config_dir: Path, shipped: Path) -> ModelStore:
    return ModelStore(shipped, config_dir / ".storage" / DOMAIN / "models", keep=HOME_MODELS_KEPT)


async def test_actions_need_a_loaded_entry(hass: HomeAssistant, setup_integration: Setup) -> None:
    entry = await setup_integration()
    assert await hass.config_entries.async_unload(entry.entry_id)
    for service in (SERVICE_TRAIN, SERVICE_REFRESH_PREDICTIONS, SERVICE_ROLLBACK_MODEL):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(DOMAIN, service, {}, blocking=True)
        assert err.value.translation_key == "not_loaded"
        assert str(err.value) == "HomeIQ Device Intelligence is not set up or not loaded"


async def test_train_rejects_devices_that_are_not_watched(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    add_battery_device("Hall door")
    await setup_integration()
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, SERVICE_TRAIN, {"devices": ["not-a-device"]}, blocking=True)
    assert err.value.translation_key == "devices_not_watched"
    assert err.value.translation_placeholders == {"devices": "not-a-device"}


async def test_train_on_chosen_devices_only(
    hass: HomeAssistant, seed_history: Any, setup_integration: Setup
) -> None:
    devices = await seed_history(30)
    entry = await setup_integration()
    response = await hass.services.async_call(
        DOMAIN,
        SERVICE_TRAIN,
        {"devices": [devices[0].id, devices[1].id]},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert response["status"] != "failed"
    assert entry.runtime_data.trainer.state.last_run["devices"] == 2


async def test_train_is_refused_while_a_run_is_going(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    add_battery_device("Hall door")
    await setup_integration()
    release = threading.Event()

    def slow_train_home(*args: Any, should_stop: Any, **kwargs: Any) -> Any:
        while not (release.is_set() or should_stop()):
            release.wait(0.01)
        raise TrainingCancelled

    with patch.object(training, "train_home", slow_train_home):
        await hass.services.async_call(DOMAIN, SERVICE_TRAIN, {}, blocking=True)
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(DOMAIN, SERVICE_TRAIN, {}, blocking=True)
        assert err.value.translation_key == "training_in_progress"
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(DOMAIN, SERVICE_ROLLBACK_MODEL, {}, blocking=True)
        assert err.value.translation_key == "training_in_progress"
        release.set()
        await hass.async_block_till_done(wait_background_tasks=True)


async def test_refresh_predictions_scores_now(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    freezer: FrozenDateTimeFactory,
) -> None:
    add_battery_device("Hall door", battery=80)
    await setup_integration()
    assert float(_state(hass, "sensor.hall_door_failure_probability")) < 5

    hass.states.async_set("sensor.hall_door_battery", "8")
    freezer.tick(60)
    await async_wait_recording_done(hass)
    await hass.services.async_call(DOMAIN, SERVICE_REFRESH_PREDICTIONS, {}, blocking=True)
    assert float(_state(hass, "sensor.hall_door_failure_probability")) > 95


async def test_refresh_predictions_reports_a_recorder_failure(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    add_battery_device("Hall door")
    await setup_integration()
    with (
        patch.object(recorder_source, "RETRY_DELAYS", ()),
        patch.object(
            recorder_source,
            "plan_read",
            side_effect=OperationalError("SELECT", {}, Exception("database is locked")),
        ),
        pytest.raises(HomeAssistantError) as err,
    ):
        await hass.services.async_call(DOMAIN, SERVICE_REFRESH_PREDICTIONS, {}, blocking=True)
    assert err.value.translation_key == "refresh_failed"
    assert "database is locked" in str(err.value.translation_placeholders)
    assert _state(hass, "sensor.hall_door_failure_probability") == "unavailable"


async def test_rollback_walks_back_to_the_shipped_model(
    hass: HomeAssistant,
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    setup_integration: Setup,
) -> None:
    store = _home_store(config_dir, shipped_model)
    store.deploy(make_bundle(source="home"))
    store.deploy(make_bundle(source="home"))
    await setup_integration()
    assert _state(hass, VERSION) == "test-1+home.v0002"

    await hass.services.async_call(DOMAIN, SERVICE_ROLLBACK_MODEL, {}, blocking=True)
    assert _state(hass, VERSION) == "test-1+home.v0001"
    assert _state(hass, SOURCE) == "home"

    await hass.services.async_call(DOMAIN, SERVICE_ROLLBACK_MODEL, {}, blocking=True)
    assert _state(hass, VERSION) == "test-1"
    assert _state(hass, SOURCE) == "shipped"

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, SERVICE_ROLLBACK_MODEL, {}, blocking=True)
    assert err.value.translation_key == "nothing_to_roll_back"
    assert store.versions() == []


async def test_only_the_newest_home_models_are_kept(
    config_dir: Path, shipped_model: Path, make_bundle: Callable[..., ModelBundle]
) -> None:
    store = _home_store(config_dir, shipped_model)
    for _ in range(HOME_MODELS_KEPT + 2):
        store.deploy(make_bundle(source="home"))
    assert store.versions() == [f"v{n:04d}" for n in range(3, HOME_MODELS_KEPT + 3)]
    versions_dir = config_dir / ".storage" / DOMAIN / "models" / "versions"
    assert sorted(p.name for p in versions_dir.iterdir()) == store.versions()
    assert SHIPPED_MODEL_DIR not in versions_dir.parents


async def test_train_waiting_for_a_response_reports_a_cancelled_run(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    blocking_train_home: tuple[threading.Event, threading.Event],
) -> None:
    started, _ = blocking_train_home
    add_battery_device("Hall door")
    entry = await setup_integration()
    call = hass.async_create_task(
        hass.services.async_call(DOMAIN, SERVICE_TRAIN, {}, blocking=True, return_response=True)
    )
    await hass.async_add_executor_job(started.wait, 5)

    assert await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "training_cancelled"


async def test_an_unreadable_model_index_is_rebuilt_from_the_versions_on_disk(
    config_dir: Path, shipped_model: Path, make_bundle: Callable[..., ModelBundle]
) -> None:
    store = _home_store(config_dir, shipped_model)
    store.deploy(make_bundle(source="home"))
    store.deploy(make_bundle(source="home"))
    (config_dir / ".storage" / DOMAIN / "models" / "index.json").write_text("{", encoding="utf-8")

    assert store.versions() == ["v0001", "v0002"]
    assert store.load_active().version_id == "v0002"
    assert store.deploy(make_bundle(source="home")).version_id == "v0003"


async def test_a_failed_model_write_keeps_the_index_intact(
    config_dir: Path, shipped_model: Path, make_bundle: Callable[..., ModelBundle]
) -> None:
    store = _home_store(config_dir, shipped_model)
    store.deploy(make_bundle(source="home"))
    home = config_dir / ".storage" / DOMAIN / "models"
    index = (home / "index.json").read_text(encoding="utf-8")

    with (
        patch(
            "custom_components.homeiq_device_intel.model_store.json.dump",
            side_effect=OSError("No space left on device"),
        ),
        pytest.raises(OSError, match="No space left"),
    ):
        store.deploy(make_bundle(source="home"))

    assert (home / "index.json").read_text(encoding="utf-8") == index
    assert [p.name for p in home.iterdir() if p.name.endswith(".tmp")] == []
    assert store.load_active().version_id == "v0001"


async def test_cancelling_a_waiting_caller_leaves_the_run_going(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    blocking_train_home: tuple[threading.Event, threading.Event],
) -> None:
    started, _ = blocking_train_home
    add_battery_device("Hall door")
    entry = await setup_integration()
    call = hass.async_create_task(
        hass.services.async_call(DOMAIN, SERVICE_TRAIN, {}, blocking=True, return_response=True)
    )
    await hass.async_add_executor_job(started.wait, 5)

    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert entry.runtime_data.trainer.running
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_actions_are_described_for_the_ui(hass: HomeAssistant, setup_integration: Setup) -> None:
    await setup_integration()
    descriptions = (await async_get_all_descriptions(hass))[DOMAIN]
    assert set(descriptions) == {
        SERVICE_TRAIN,
        SERVICE_REFRESH_PREDICTIONS,
        SERVICE_ROLLBACK_MODEL,
        SERVICE_SNOOZE,
        SERVICE_ACKNOWLEDGE,
        SERVICE_UNSNOOZE,
    }
    assert descriptions[SERVICE_ACKNOWLEDGE]["fields"]["devices"]["required"] is True
    # The UI's name comes from the translations (newer HA leaves it out of the descriptions).
    translations = await async_get_translations(hass, "en", "services", [DOMAIN])
    assert (
        translations[f"component.{DOMAIN}.services.{SERVICE_ACKNOWLEDGE}.name"]
        == "Acknowledge until recovered"
    )
    snooze = descriptions[SERVICE_SNOOZE]
    assert snooze["fields"]["devices"]["required"] is True
    assert snooze["fields"]["duration"]["selector"] == {"duration": {"enable_day": True}}
    assert descriptions[SERVICE_UNSNOOZE]["fields"]["devices"]["required"] is False
    train = descriptions[SERVICE_TRAIN]
    assert train["response"] == {"optional": True}
    assert train["fields"]["mode"]["selector"]["select"]["options"] == ["full", "incremental"]
    assert train["fields"]["devices"]["selector"] == {"device": {"multiple": True}}
