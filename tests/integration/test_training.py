"""Tests for learning from the home's recorder history: on demand, nightly, cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.models import StatisticData
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, PERCENTAGE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_purge_done,
    async_wait_recording_done,
)
from sqlalchemy.exc import DatabaseError, OperationalError

from custom_components.homeiq_device_intel import recorder_source, training
from custom_components.homeiq_device_intel.const import (
    BATTERY_LOG_FILE,
    CONF_NIGHTLY_TRAINING,
    CONF_TRAINING_MODE,
    CONF_TRAINING_TIME,
    DOMAIN,
    EVENT_TRAINING_FINISHED,
    HOME_MODELS_KEPT,
    SERVICE_ROLLBACK_MODEL,
    SERVICE_TRAIN,
)
from custom_components.homeiq_device_intel.ml.aggregates import load_grid
from custom_components.homeiq_device_intel.ml.bundle import ModelBundle, save_bundle
from custom_components.homeiq_device_intel.ml.grid import HourlyGrid
from custom_components.homeiq_device_intel.ml.learning import TrainingStep
from custom_components.homeiq_device_intel.model_store import ModelStore, NothingToRollBack
from tests.integration.conftest import battery_statistics_metadata

Setup = Callable[[], Awaitable[MockConfigEntry]]
Seed = Callable[[int], Awaitable[list[Any]]]
STATUS = "sensor.homeiq_device_intelligence_training_status"


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


def _without_nightly_training(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add the entry with nightly training turned off (set it up afterwards)."""
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_NIGHTLY_TRAINING: False})


async def _train(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, SERVICE_TRAIN, data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


@pytest.mark.database  # also run on MariaDB and PostgreSQL by scripts/test.sh
async def test_training_deploys_a_better_home_model(
    hass: HomeAssistant,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    seed_history: Seed,
    setup_integration: Setup,
    config_dir: Path,
) -> None:
    # A shipped model that overrates going offline: the home's history proves it wrong.
    save_bundle(make_bundle(unavailable_margin=2.0), shipped_model)
    await seed_history(30)
    entry = await setup_integration()
    before = float(_state(hass, "sensor.door_3_failure_probability"))
    events = async_capture_events(hass, EVENT_TRAINING_FINISHED)

    response = await _train(hass, mode="full")

    assert response["status"] == "deployed"
    assert response["model_version"] == "test-1+home.v0001"
    assert response["model_source"] == "home"
    assert response["metrics"]["unavailable_log_loss"] < 0.5
    assert [event.data["status"] for event in events] == ["deployed"]
    assert (config_dir / ".storage" / DOMAIN / "models" / "versions" / "v0001").is_dir()
    assert _state(hass, "sensor.homeiq_device_intelligence_model_source") == "home"
    assert _state(hass, "sensor.homeiq_device_intelligence_model_version") == ("test-1+home.v0001")
    assert _state(hass, STATUS) == "idle"
    assert _state(hass, "sensor.homeiq_device_intelligence_last_trained") == (
        dt_util.utcnow().isoformat(timespec="seconds")
    )
    # The predictions were refreshed with the new, better calibrated model.
    assert float(_state(hass, "sensor.door_3_failure_probability")) < before
    last_run = entry.runtime_data.trainer.state.last_run
    assert last_run["devices"] == 6
    assert last_run["deployed_version"] == "v0001"
    # Door contacts send no telemetry: there is nothing to judge a new stale classifier on.
    assert last_run["kept_current"] == {"stale": "no_labelled_held_out_days"}


async def test_a_run_shows_each_step_once_in_order_and_its_progress_never_goes_back(
    hass: HomeAssistant,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    seed_history: Seed,
    setup_integration: Setup,
) -> None:
    save_bundle(make_bundle(unavailable_margin=2.0), shipped_model)
    await seed_history(30)
    await setup_integration()
    changes = async_capture_events(hass, "state_changed")

    response = await _train(hass, mode="full")

    assert response["status"] == "deployed"
    shown = [
        (e.data["new_state"].attributes["progress"], e.data["new_state"].attributes["step"])
        for e in changes
        if e.data["entity_id"] == STATUS and e.data["new_state"].state == "running"
    ]
    progress = [p for p, _ in shown]
    assert progress == sorted(progress) and progress[0] == 0 and progress[-1] == 100
    steps = [step for _, step in shown]
    order = [s.value for s in TrainingStep]
    assert steps[0] == TrainingStep.READING_HISTORY
    assert {TrainingStep.FITTING, TrainingStep.EVALUATING, TrainingStep.DONE} <= set(steps)
    assert [order.index(s) for s in steps] == sorted(order.index(s) for s in steps)


async def test_training_keeps_the_current_model_when_not_better(
    hass: HomeAssistant, seed_history: Seed, setup_integration: Setup, config_dir: Path
) -> None:
    # The only outage is early on: learning from it overrates outages on recent days.
    await seed_history(30, outage_day=3)
    await setup_integration()

    response = await _train(hass, mode="full")

    assert response["status"] == "kept_current"
    assert response["model_source"] == "shipped"
    assert _state(hass, "sensor.homeiq_device_intelligence_model_source") == "shipped"
    assert not (config_dir / ".storage" / DOMAIN / "models" / "versions").exists()
    assert _state(hass, STATUS) == "idle"


def _home_models(config_dir: Path, shipped: Path) -> ModelStore:
    return ModelStore(shipped, config_dir / ".storage" / DOMAIN / "models", keep=HOME_MODELS_KEPT)


VERSION = "sensor.homeiq_device_intelligence_model_version"


async def test_a_newly_shipped_model_reaches_a_home_with_its_own_model(
    hass: HomeAssistant,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    seed_history: Seed,
    setup_integration: Setup,
    config_dir: Path,
) -> None:
    """An update ships a new model: the next run learns on it, not on the home model of the release before."""
    # The home's own model, learned on the release before the update; it overrates going offline.
    _home_models(config_dir, shipped_model).deploy(
        make_bundle("test-0", unavailable_margin=2.0, source="home")
    )
    save_bundle(make_bundle("test-1", unavailable_margin=2.0), shipped_model)
    doors = await seed_history(30)
    entry = await setup_integration()
    trainer = entry.runtime_data.trainer
    finished = async_capture_events(hass, EVENT_TRAINING_FINISHED)
    # It keeps serving until a run has learned on the new release; a run on some devices only
    # learns on it as before, and judges no release.
    assert _state(hass, VERSION) == "test-0+home.v0001"
    response = await _train(hass, mode="incremental", devices=[doors[0].id, doors[2].id])
    assert response["model_version"].startswith("test-0+home.")
    assert "new_release" not in trainer.state.last_run

    response = await _train(hass, mode="incremental")

    assert response["status"] == "deployed"
    assert response["model_version"].startswith("test-1+home.v000")
    assert trainer.state.last_run["new_release"] == "test-1"
    # The owner is told, in the action's response and the event alike.
    assert response["new_release"] == "test-1"
    assert finished[-1].data["new_release"] == "test-1"
    # Judged against the model in use: its figures are the ones shown beside the new model's.
    assert (
        response["metrics"]["unavailable_log_loss"]
        < trainer.state.last_run["current_metrics"]["unavailable_log_loss"]
    )
    assert trainer.state.declined_release is None

    # The owner rolls back to the earlier release's model: later runs learn on the model they chose.
    await hass.services.async_call(DOMAIN, SERVICE_ROLLBACK_MODEL, {}, blocking=True)
    assert _state(hass, VERSION).startswith("test-0+home.")
    assert trainer.state.declined_release == "test-1"
    response = await _train(hass, mode="incremental")
    assert response["model_version"].startswith("test-0+home.")
    assert "new_release" not in trainer.state.last_run
    assert response["new_release"] is None


async def test_a_home_model_better_than_the_newly_shipped_one_at_batteries_keeps_its_battery_classifier(
    hass: HomeAssistant,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    seed_history: Seed,
    setup_integration: Setup,
    config_dir: Path,
) -> None:
    """A new release worse than the home's own model at batteries: each failure type judged alone (rev21).

    The release's other classifiers, learned on all the history, come in; its battery
    classifier does not. Once learned on, the release is the home's: no run tries it again.
    """
    in_use = _home_models(config_dir, shipped_model).deploy(make_bundle("test-0", source="home"))
    # A new release blind to battery levels: no calibration makes up for that.
    blind = make_bundle("test-1")
    blind = dataclasses.replace(
        blind, classifiers={**blind.classifiers, "battery_depleted": blind.classifiers["stale"]}
    )
    save_bundle(blind, shipped_model)
    await seed_history(30)
    entry = await setup_integration()
    trainer = entry.runtime_data.trainer

    response = await _train(hass, mode="incremental")

    assert response["status"] == "deployed", response["message"]
    assert response["model_version"].startswith("test-1+home.")
    assert trainer.state.last_run["new_release"] == "test-1"
    # Its battery classifier was worse; nothing on the held-out days judges its stale one.
    assert trainer.state.last_run["kept_current"] == {
        "battery_depleted": "worse_on_held_out_days",
        "stale": "no_labelled_held_out_days",
    }
    assert response["kept_current"] == trainer.state.last_run["kept_current"]
    battery = entry.runtime_data.coordinator.model.bundle.classifiers["battery_depleted"]
    np.testing.assert_array_equal(
        battery.ensemble.value, in_use.bundle.classifiers["battery_depleted"].ensemble.value
    )
    response = await _train(hass, mode="incremental")
    assert "new_release" not in trainer.state.last_run


async def test_a_rollback_between_two_home_models_of_the_release_before_declines_no_release(
    hass: HomeAssistant,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    seed_history: Seed,
    setup_integration: Setup,
    config_dir: Path,
) -> None:
    """Review rev21: a rollback from a home model of the earlier release to another declined the new one.

    The owner rolled back last night's model before any run had learned on the newly shipped
    model: they chose against that home model, not against a release never tried. The release
    was declined all the same, never to be learned on until the next one.
    """
    store = _home_models(config_dir, shipped_model)
    store.deploy(make_bundle("test-0", unavailable_margin=2.0, source="home"))
    store.deploy(make_bundle("test-0", unavailable_margin=2.0, source="home"))
    save_bundle(make_bundle("test-1", unavailable_margin=2.0), shipped_model)
    await seed_history(30)
    entry = await setup_integration()
    trainer = entry.runtime_data.trainer

    await hass.services.async_call(DOMAIN, SERVICE_ROLLBACK_MODEL, {}, blocking=True)

    assert _state(hass, VERSION) == "test-0+home.v0001"
    assert trainer.state.declined_release is None
    response = await _train(hass, mode="incremental")
    assert trainer.state.last_run.get("new_release") == "test-1"
    assert response["model_version"].startswith("test-1+home.")


def _home_models_of_two_releases(
    config_dir: Path, shipped: Path, make_bundle: Callable[..., ModelBundle]
) -> None:
    """A home model learned on release test-0, then one on test-1, the release shipped now."""
    store = _home_models(config_dir, shipped)
    store.deploy(make_bundle("test-0", source="home"))
    store.deploy(make_bundle("test-1", source="home"))
    save_bundle(make_bundle("test-1"), shipped)


async def test_home_assistant_stopping_during_a_rollback_from_a_new_release_still_declines_it(
    hass: HomeAssistant,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    seed_history: Seed,
    setup_integration: Setup,
    config_dir: Path,
) -> None:
    """Review rev21: the decline ran an executor job after the rollback; a stop then raised WorkStopped.

    The model was rolled back on disk, the service failed with a bare WorkStopped (not a
    HomeAssistantError) and the decline was lost: after the restart the next run learned on
    the release the owner had just rolled back from.
    """
    _home_models_of_two_releases(config_dir, shipped_model, make_bundle)
    await seed_history(30)
    entry = await setup_integration()
    runtime = entry.runtime_data
    guard = runtime.coordinator.guard
    roll_back = runtime.store.rollback

    def roll_back_as_home_assistant_stops() -> Any:
        active = roll_back()
        hass.loop.call_soon_threadsafe(hass.bus.async_fire, EVENT_HOMEASSISTANT_STOP)
        while not guard.stopping:
            threading.Event().wait(0.01)
        return active

    # Done on disk before the stop: it may succeed, or say Home Assistant is stopping.
    with (
        patch.object(runtime.store, "rollback", roll_back_as_home_assistant_stops),
        contextlib.suppress(HomeAssistantError),
    ):
        await hass.services.async_call(DOMAIN, SERVICE_ROLLBACK_MODEL, {}, blocking=True)
    await hass.async_block_till_done()

    assert runtime.coordinator.model.version == "test-0+home.v0001"
    assert runtime.trainer.state.declined_release == "test-1"


@contextlib.contextmanager
def _rollback_waiting_in_its_job(
    runtime: Any, failure: Exception | None = None
) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Make the model store's rollback wait in its thread: (set once inside it, set to let it go on).

    failure: raised once let go, instead of rolling back.
    """
    roll_back = runtime.store.rollback
    inside, release = threading.Event(), threading.Event()

    def slow_roll_back() -> Any:
        inside.set()
        release.wait(10)
        if failure is not None:
            raise failure
        return roll_back()

    with patch.object(runtime.store, "rollback", slow_roll_back):
        yield inside, release


async def _start_rollback(hass: HomeAssistant, inside: threading.Event) -> asyncio.Task[Any]:
    """Call the rollback action in a task; return once its job is waiting in its thread."""
    call = hass.async_create_task(hass.services.async_call(DOMAIN, SERVICE_ROLLBACK_MODEL, {}, blocking=True))
    await hass.async_add_executor_job(inside.wait, 10)
    return call


async def test_no_run_starts_while_a_rollback_changes_the_model_in_use(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    seed_history: Seed,
    setup_integration: Setup,
    config_dir: Path,
) -> None:
    """A run started during a rollback learned on the model being dropped and deployed over the rollback.

    The rollback refused to start during a run, but a run (the nightly timer, the train action)
    could start while the rollback's job was on disk: both wrote the model store at once, and
    the run's model, learned on the dropped one, came back in use.
    """
    store = _home_models(config_dir, shipped_model)
    store.deploy(make_bundle("test-0", source="home"))
    store.deploy(make_bundle("test-0", source="home"))
    await seed_history(30)
    entry = await setup_integration()
    runtime = entry.runtime_data
    with _rollback_waiting_in_its_job(runtime) as (inside, release):
        rolling_back = await _start_rollback(hass, inside)
        for action in (SERVICE_TRAIN, SERVICE_ROLLBACK_MODEL):
            with pytest.raises(ServiceValidationError) as err:
                await hass.services.async_call(DOMAIN, action, {}, blocking=True)
            assert err.value.translation_key == "rollback_in_progress"
        # The nightly timer fires meanwhile: it skips the night.
        nightly = training.next_nightly_run(dt_util.utcnow(), runtime.coordinator.settings.training_time)
        freezer.move_to(nightly)
        async_fire_time_changed(hass)
        assert not runtime.trainer.running
        release.set()
        await rolling_back

    assert _state(hass, VERSION) == "test-0+home.v0001"
    response = await _train(hass, mode="incremental")
    assert response["status"] in ("deployed", "kept_current"), response["message"]


async def test_a_rollback_whose_caller_is_stopped_still_holds_off_runs_and_puts_its_model_in_use(
    hass: HomeAssistant,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    seed_history: Seed,
    setup_integration: Setup,
    config_dir: Path,
) -> None:
    """Review rev22: the hold ended with the action's call, not with the rollback's job on disk.

    A script or automation calling the rollback is cancelled when it is stopped (mode: restart,
    turned off, Home Assistant stopping). The job kept rolling the store back in its thread,
    but the hold was released at once: the train action started a run on the model being
    dropped, writing the model store alongside the rollback. Nor was the model rolled back to
    put in use, or the release rolled back from declined: the next run learned on it again.
    """
    _home_models_of_two_releases(config_dir, shipped_model, make_bundle)
    await seed_history(30)
    entry = await setup_integration()
    runtime = entry.runtime_data
    with _rollback_waiting_in_its_job(runtime) as (inside, release):
        call = await _start_rollback(hass, inside)
        call.cancel()  # the script calling it is stopped
        with contextlib.suppress(BaseException):
            await call
        try:
            with pytest.raises(ServiceValidationError) as err:
                await hass.services.async_call(DOMAIN, SERVICE_TRAIN, {}, blocking=True)
            assert err.value.translation_key == "rollback_in_progress"
        finally:
            release.set()
            await hass.async_block_till_done()

    assert runtime.coordinator.model.version == "test-0+home.v0001"
    assert runtime.trainer.state.declined_release == "test-1"


@pytest.mark.parametrize(
    ("failure", "said", "level"),
    [
        (OSError("No space left on device"), "No space left on device", "ERROR"),
        (NothingToRollBack(), "there is no older model to roll back to", "WARNING"),
    ],
)
async def test_a_rollback_that_fails_after_its_caller_is_stopped_says_so_in_the_log(
    failure: Exception,
    said: str,
    level: str,
    hass: HomeAssistant,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    seed_history: Seed,
    setup_integration: Setup,
    config_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A rollback left to end on its own whose job failed: its error was never retrieved.

    Nobody awaited the rollback's task once its caller was cancelled, so its error reached only
    asyncio's "Task exception was never retrieved" when the task was collected, if ever: the
    owner's log did not say the rollback failed. The model in use stays, and runs may start.
    """
    _home_models_of_two_releases(config_dir, shipped_model, make_bundle)
    await seed_history(30)
    entry = await setup_integration()
    runtime = entry.runtime_data
    with _rollback_waiting_in_its_job(runtime, failure) as (inside, release):
        call = await _start_rollback(hass, inside)
        rollback = runtime.trainer._rollback  # the task the caller no longer awaits
        assert rollback is not None
        call.cancel()  # the script calling it is stopped
        with contextlib.suppress(BaseException):
            await call
        release.set()
        await hass.async_block_till_done()

    assert rollback.done()
    told = [r for r in caplog.records if "Rolling back the model" in r.getMessage()]
    assert len(told) == 1
    assert told[0].levelname == level
    assert said in (told[0].getMessage() if level == "WARNING" else caplog.text)
    # Retrieved: asyncio would report it unretrieved when the task is collected.
    assert rollback._log_traceback is False  # asyncio's own flag: set until the error is retrieved
    assert runtime.coordinator.model.version == "test-1+home.v0002"
    assert not runtime.trainer.rolling_back


async def test_a_reload_during_a_rollback_from_a_new_release_waits_for_it_and_keeps_the_decline(
    hass: HomeAssistant,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    seed_history: Seed,
    setup_integration: Setup,
    config_dir: Path,
) -> None:
    """Review rev22: unload waited for the rollback's job, not for the rollback.

    The rest of it (the decline, the model put in use) ran on the entry unloaded, after its
    trainer had saved its state: the entry set up again (an options change reloads it) read
    the state without the decline, and learned on the release just rolled back from.
    """
    _home_models_of_two_releases(config_dir, shipped_model, make_bundle)
    await seed_history(30)
    entry = await setup_integration()
    runtime = entry.runtime_data
    with _rollback_waiting_in_its_job(runtime) as (inside, release):
        call = await _start_rollback(hass, inside)
        # The job ends once the unload has begun.
        runtime.coordinator.guard.async_on_stop(release.set)
        reload = hass.async_create_task(hass.config_entries.async_reload(entry.entry_id))
        with contextlib.suppress(HomeAssistantError):
            await call
        assert await reload

    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime
    assert entry.runtime_data.coordinator.model.version == "test-0+home.v0001"
    assert entry.runtime_data.trainer.state.declined_release == "test-1"


async def test_too_little_history_is_a_status_not_an_error(
    hass: HomeAssistant, seed_history: Seed, setup_integration: Setup
) -> None:
    await seed_history(3)
    entry = await setup_integration()

    response = await _train(hass)

    assert response["status"] == "insufficient_data"
    assert _state(hass, STATUS) == "insufficient_data"
    assert entry.runtime_data.trainer.state.consecutive_failures == 0
    assert _state(hass, "sensor.homeiq_device_intelligence_last_trained") == "unknown"


async def test_nightly_training_runs_at_the_configured_local_time(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    add_battery_device: Any,
    setup_integration: Setup,
) -> None:
    freezer.move_to(datetime(2025, 3, 10, 3, 0, tzinfo=dt_util.get_default_time_zone()))
    add_battery_device("Hall door")
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        options={
            **mock_config_entry.options,
            CONF_TRAINING_TIME: "03:30:00",
            CONF_TRAINING_MODE: "full",
        },
    )
    await setup_integration()
    events = async_capture_events(hass, EVENT_TRAINING_FINISHED)

    freezer.move_to(datetime(2025, 3, 10, 3, 29, 59, tzinfo=dt_util.get_default_time_zone()))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert events == []

    freezer.move_to(datetime(2025, 3, 10, 3, 30, 0, tzinfo=dt_util.get_default_time_zone()))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [event.data["status"] for event in events] == ["insufficient_data"]
    assert mock_config_entry.runtime_data.trainer.state.last_run["mode"] == "full"


async def test_nightly_training_can_be_switched_off(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    add_battery_device: Any,
    setup_integration: Setup,
) -> None:
    add_battery_device("Hall door")
    _without_nightly_training(hass, mock_config_entry)
    await setup_integration()
    events = async_capture_events(hass, EVENT_TRAINING_FINISHED)

    freezer.tick(timedelta(days=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert events == []


async def test_transient_recorder_errors_are_retried(
    hass: HomeAssistant, seed_history: Seed, setup_integration: Setup
) -> None:
    await seed_history(3)
    await setup_integration()
    real_plan_read = recorder_source.plan_read
    calls = 0

    def flaky_plan_read(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return real_plan_read(*args, **kwargs)

    with (
        patch.object(recorder_source, "RETRY_DELAYS", (0.0, 0.0, 0.0)),
        patch.object(recorder_source, "plan_read", flaky_plan_read),
    ):
        response = await _train(hass)

    assert calls == 3
    assert response["status"] == "insufficient_data"


@pytest.mark.parametrize(
    ("error", "reads"),
    [
        (OperationalError("SELECT", {}, Exception("disk I/O error")), 2),  # retried once
        (DatabaseError("SELECT", {}, Exception("disk I/O error")), 1),  # not transient
    ],
)
async def test_recorder_failure_fails_the_run_with_the_error_shown(
    hass: HomeAssistant,
    seed_history: Seed,
    setup_integration: Setup,
    error: Exception,
    reads: int,
) -> None:
    await seed_history(3)
    entry = await setup_integration()

    with (
        patch.object(recorder_source, "RETRY_DELAYS", (0.0,)),
        patch.object(recorder_source, "plan_read", side_effect=error) as plan_read,
    ):
        response = await _train(hass)

    assert plan_read.call_count == reads
    assert response["status"] == "failed"
    assert "disk I/O error" in response["message"]
    state = hass.states.get(STATUS)
    assert state is not None
    assert state.state == "failed"
    assert "disk I/O error" in state.attributes["error"]
    assert entry.runtime_data.trainer.state.consecutive_failures == 1


async def test_progress_is_shown_and_unload_cancels_the_run(
    hass: HomeAssistant,
    seed_history: Seed,
    setup_integration: Setup,
    blocking_train_home: tuple[threading.Event, threading.Event],
) -> None:
    started, stopped = blocking_train_home
    await seed_history(3)
    entry = await setup_integration()
    trainer = entry.runtime_data.trainer

    await hass.services.async_call(DOMAIN, SERVICE_TRAIN, {}, blocking=True)
    await hass.async_add_executor_job(started.wait, 5)
    await hass.async_block_till_done()
    state = hass.states.get(STATUS)
    assert state is not None
    assert state.state == "running"
    # train_home's half-way comes after the share of the run spent reading the history.
    assert state.attributes["progress"] == 55
    assert state.attributes["step"] == "fitting"
    assert state.attributes["fitting"] == "unavailable"

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert await hass.async_add_executor_job(stopped.wait, 5)
    assert not trainer.running
    assert trainer.state.last_run["outcome"] == "cancelled"


async def test_home_assistant_stopping_cancels_the_run(
    hass: HomeAssistant,
    seed_history: Seed,
    setup_integration: Setup,
    blocking_train_home: tuple[threading.Event, threading.Event],
) -> None:
    started, stopped = blocking_train_home
    await seed_history(3)
    entry = await setup_integration()
    await hass.services.async_call(DOMAIN, SERVICE_TRAIN, {}, blocking=True)
    await hass.async_add_executor_job(started.wait, 5)

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert await hass.async_add_executor_job(stopped.wait, 5)
    assert not entry.runtime_data.trainer.running


async def test_nightly_run_is_skipped_while_a_run_is_going(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    add_battery_device: Any,
    setup_integration: Setup,
    blocking_train_home: tuple[threading.Event, threading.Event],
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, _ = blocking_train_home
    freezer.move_to(datetime(2025, 3, 10, 1, 0, tzinfo=dt_util.get_default_time_zone()))
    add_battery_device("Hall door")
    entry = await setup_integration()
    await hass.services.async_call(DOMAIN, SERVICE_TRAIN, {}, blocking=True)
    await hass.async_add_executor_job(started.wait, 5)

    freezer.move_to(datetime(2025, 3, 10, 2, 0, tzinfo=dt_util.get_default_time_zone()))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert "Nightly training skipped: a run is already going" in caplog.text
    assert entry.runtime_data.trainer.running
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_an_unexpected_error_fails_the_run_without_escaping(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    add_battery_device("Hall door")
    await setup_integration()

    with patch.object(training, "train_home", side_effect=RuntimeError("out of memory")):
        response = await _train(hass)

    assert response["status"] == "failed"
    assert response["message"] == "RuntimeError: out of memory"
    assert _state(hass, STATUS) == "failed"


async def test_stored_history_outlives_the_recorder_purge(
    hass: HomeAssistant,
    seed_history: Seed,
    setup_integration: Setup,
    config_dir: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    await seed_history(30)
    entry = await setup_integration()
    await _train(hass)
    stored = entry.runtime_data.coordinator.aggregates_store
    assert (config_dir / ".storage" / DOMAIN / "aggregates.npz").is_file()
    assert stored.grid is not None
    early = slice(0, 24 * 10)  # the first ten days
    reports_before = float(stored.grid["reports"][:, early].sum())
    assert reports_before > 0

    await hass.services.async_call("recorder", "purge", {"keep_days": 5, "repack": False}, blocking=True)
    await async_wait_purge_done(hass)
    freezer.tick(timedelta(minutes=1))
    await _train(hass)

    assert stored.grid is not None
    assert float(stored.grid["reports"][:, early].sum()) == reports_before


async def _a_door_dark_since_day_3(
    hass: HomeAssistant, add_battery_device: Any, freezer: FrozenDateTimeFactory, *, battery_statistics: bool
) -> tuple[datetime, Any]:
    """Write 20 days of two doors, one unavailable from day 3 on with no row since; return its start and it.

    With `battery_statistics`, the dark door's battery has long-term statistics until then
    (HA never purges those).
    """
    start = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(days=20)
    freezer.move_to(start)
    add_battery_device("Door alive")
    dark = add_battery_device("Door dark")
    for day in range(20):
        freezer.move_to(start + timedelta(days=day, hours=1))
        hass.states.async_set("binary_sensor.door_alive_contact", "on" if day % 2 else "off")
        if day == 3:
            hass.states.async_set("binary_sensor.door_dark_contact", "unavailable")
            hass.states.async_set("sensor.door_dark_battery", "unavailable")
        await async_wait_recording_done(hass)
    freezer.move_to(start + timedelta(days=20))
    if battery_statistics:
        levels = [StatisticData(start=start + timedelta(hours=h), mean=90.0) for h in range(3 * 24)]
        async_import_statistics(hass, battery_statistics_metadata("sensor.door_dark_battery"), levels)
    return start, dark


async def _train_purge_train(
    hass: HomeAssistant, setup_integration: Setup, freezer: FrozenDateTimeFactory
) -> Any:
    """Train (storing the aggregates), purge all but the last 10 days, train again; return the store."""
    entry = await setup_integration()
    await _train(hass)
    await hass.services.async_call("recorder", "purge", {"keep_days": 10, "repack": False}, blocking=True)
    await async_wait_purge_done(hass)
    freezer.tick(timedelta(hours=6))
    await _train(hass)
    return entry.runtime_data.coordinator.aggregates_store


def _assert_dark_from_day_3_on(grid: HourlyGrid | None, start: datetime, device_key: str) -> None:
    """The stored grid has the dark door unavailable from its last row (day 3) to its end, 17 days on."""
    assert grid is not None
    row = grid.device_keys.index(device_key)
    since = round((start.timestamp() - grid.start) / 3600) + 3 * 24 + 2
    assert grid["unavailable"][row, since:].min() == 1.0
    assert grid.n_hours - since > 17 * 24


@pytest.mark.parametrize(
    "battery_statistics",
    [True, False],
    ids=["kept in the reading by its battery statistics", "nothing of it left in the reading"],
)
async def test_a_door_dark_since_before_the_purge_cutoff_stays_dark_in_the_stored_history(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    freezer: FrozenDateTimeFactory,
    battery_statistics: bool,
) -> None:
    """HA's purge deletes an entity's last row once it is older than the cutoff: no row says it is down.

    With battery statistics the door stays in the reading; without, the stored grid knows it, so it
    stays too. Either way it is dark to the end.
    """
    start, dark = await _a_door_dark_since_day_3(
        hass, add_battery_device, freezer, battery_statistics=battery_statistics
    )
    stored = await _train_purge_train(hass, setup_integration, freezer)

    _assert_dark_from_day_3_on(stored.grid, start, dark.id)


async def test_a_door_without_statistics_dark_since_before_the_purge_cutoff_is_shown_failing(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    rescore: Callable[[], Awaitable[None]],
    freezer: FrozenDateTimeFactory,
) -> None:
    """The hourly scoring keeps it too: its entities show it unavailable now, not themselves unavailable."""
    await _a_door_dark_since_day_3(hass, add_battery_device, freezer, battery_statistics=False)
    await _train_purge_train(hass, setup_integration, freezer)
    await rescore()
    await rescore()  # at risk after two scorings in a row

    probability = hass.states.get("sensor.door_dark_failure_probability")
    assert probability is not None
    assert probability.state != "unavailable"
    assert probability.attributes["failing_now"] is True
    assert _state(hass, "binary_sensor.door_dark_at_risk") == "on"


async def test_a_watched_device_never_seen_with_no_history_is_not_scored(
    hass: HomeAssistant,
    add_battery_device: Any,
    zha_entry: MockConfigEntry,
    setup_integration: Setup,
    rescore: Callable[[], Awaitable[None]],
    freezer: FrozenDateTimeFactory,
) -> None:
    """No base-rate guess for a device nothing is known of: neither the recorder nor the stored grid."""
    await _a_door_dark_since_day_3(hass, add_battery_device, freezer, battery_statistics=False)
    entry = await setup_integration()
    await _train(hass)
    stored = entry.runtime_data.coordinator.aggregates_store
    # Registered, never reporting a state (not even at setup).
    silent = dr.async_get(hass).async_get_or_create(
        config_entry_id=zha_entry.entry_id, identifiers={("zha", "door_silent")}, name="Door silent"
    )
    er.async_get(hass).async_get_or_create(
        "sensor",
        "zha",
        "door_silent-battery",
        device_id=silent.id,
        original_device_class="battery",
        unit_of_measurement=PERCENTAGE,
        suggested_object_id="door_silent_battery",
        config_entry=zha_entry,
    )
    await rescore()

    assert stored.grid is not None
    assert silent.id not in stored.grid.device_keys
    assert silent.id in entry.runtime_data.coordinator.data.devices
    assert silent.id not in entry.runtime_data.coordinator.data.predictions
    assert _state(hass, "sensor.door_silent_failure_probability") == "unavailable"


async def test_unreadable_stored_history_is_set_aside(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    config_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    history = config_dir / ".storage" / DOMAIN / "aggregates.npz"
    history.parent.mkdir(parents=True)
    history.write_bytes(b"not a grid")
    add_battery_device("Hall door")
    entry = await setup_integration()

    assert entry.runtime_data.coordinator.aggregates_store.grid is None
    assert history.with_suffix(".unreadable").read_bytes() == b"not a grid"
    assert "Stored history is unreadable" in caplog.text


async def test_with_nightly_training_off_the_hourly_scoring_keeps_the_history_beyond_the_purge(
    hass: HomeAssistant,
    seed_history: Seed,
    mock_config_entry: MockConfigEntry,
    setup_integration: Setup,
    rescore: Callable[[], Awaitable[None]],
    config_dir: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No training ever runs: once a day the scoring's grid (merged with the stored one) is saved."""
    await seed_history(30)
    _without_nightly_training(hass, mock_config_entry)
    entry = await setup_integration()
    stored = entry.runtime_data.coordinator.aggregates_store
    path = config_dir / ".storage" / DOMAIN / "aggregates.npz"
    await rescore()
    assert not path.exists()  # not a day since the entry set up

    freezer.tick(timedelta(hours=23))
    await rescore()
    assert path.is_file()
    assert (config_dir / ".storage" / DOMAIN / BATTERY_LOG_FILE).is_file()
    assert stored.grid is not None
    early = slice(0, 24 * 10)  # the first ten days of the 30 written
    reports_before = float(stored.grid["reports"][:, early].sum())
    assert reports_before > 0
    saved_at = path.stat().st_mtime_ns

    await rescore()  # an hour later: the stored history is not a day behind
    assert path.stat().st_mtime_ns == saved_at

    await hass.services.async_call("recorder", "purge", {"keep_days": 5, "repack": False}, blocking=True)
    await async_wait_purge_done(hass)
    freezer.tick(timedelta(hours=24))
    await rescore()
    assert path.stat().st_mtime_ns != saved_at
    assert float(stored.grid["reports"][:, early].sum()) == reports_before
    assert float(load_grid(path, home_id=DOMAIN)["reports"][:, early].sum()) == reports_before


async def test_with_nightly_training_on_the_hourly_scoring_leaves_the_history_to_it(
    hass: HomeAssistant,
    seed_history: Seed,
    setup_integration: Setup,
    rescore: Callable[[], Awaitable[None]],
    config_dir: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    # The frozen clock starts at noon (conftest.FROZEN_CLOCK_START): three hours on are still
    # hours before the nightly run (02:00). At the real time, this failed from 23:00 to 01:00.
    await seed_history(30)
    await setup_integration()
    await _train(hass)
    path = config_dir / ".storage" / DOMAIN / "aggregates.npz"
    saved_at = path.stat().st_mtime_ns
    freezer.tick(timedelta(hours=2))  # before the nightly run
    await rescore()
    assert path.stat().st_mtime_ns == saved_at


async def test_history_the_hourly_scoring_cannot_save_leaves_the_scoring_standing(
    hass: HomeAssistant,
    seed_history: Seed,
    mock_config_entry: MockConfigEntry,
    setup_integration: Setup,
    rescore: Callable[[], Awaitable[None]],
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seed_history(20)
    _without_nightly_training(hass, mock_config_entry)
    entry = await setup_integration()
    coordinator = entry.runtime_data.coordinator
    freezer.tick(timedelta(hours=24))
    with patch.object(type(coordinator.aggregates_store), "save", side_effect=OSError("disk full")):
        await rescore()
    assert coordinator.last_update_success
    assert coordinator.aggregates_store.grid is None
    assert "Stored history could not be saved (disk full)" in caplog.text
