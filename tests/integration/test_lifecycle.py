"""Stop and unload: no read of ours runs when the recorder closes, nothing outlives the entry.

These run Home Assistant's real stop sequence (``hass.async_stop``) with the real
recorder: Home Assistant neither waits for jobs on the recorder's executor nor
for tasks started before it stopped, and the recorder closes its connection at
the final write. A read still executing then crashes the process (seen on real
homes: a segmentation fault in sqlite).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.core import Recorder
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

import custom_components.homeiq_device_intel as integration_module
from custom_components.homeiq_device_intel import coordinator as coordinator_module
from custom_components.homeiq_device_intel import recorder_source
from custom_components.homeiq_device_intel import training as training_module
from custom_components.homeiq_device_intel.aggregates_store import AggregatesStore
from custom_components.homeiq_device_intel.const import (
    AGGREGATES_FILE,
    DOMAIN,
    HOME_MODELS_KEPT,
    HOME_MODELS_SUBDIR,
    SERVICE_ROLLBACK_MODEL,
    SERVICE_TRAIN,
)
from custom_components.homeiq_device_intel.lifecycle import WorkGuard, WorkStopped
from custom_components.homeiq_device_intel.model_store import ModelStore

Setup = Callable[[], Awaitable[MockConfigEntry]]
PROBABILITY = "sensor.door_0_failure_probability"
# Long enough for Home Assistant's stop to reach the recorder's final write if nothing waits.
HOLD_SECONDS = 1.0
# 10:00 in the tests' time zone (US/Pacific): hours from the nightly training either way.
CLEAR_OF_THE_NIGHTLY_TRAINING = "2026-12-01 18:00:00+00:00"


@dataclass
class Gate:
    """Counts our work on executor threads and holds one step until released."""

    armed: bool = False
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    stopping: bool = False
    started_after_stop: int = 0
    in_flight_at_close: list[int] = field(default_factory=list)

    def run(self, step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one step of ours, counting it; the armed step waits for ``release``."""
        with self.lock:
            self.in_flight += 1
            self.started_after_stop += self.stopping
            hold, self.armed = self.armed, False
        try:
            if hold:
                self.entered.set()
                self.release.wait(10)
            return step(*args, **kwargs)
        finally:
            with self.lock:
                self.in_flight -= 1

    def release_later(self) -> None:
        """Release the held step from another thread after HOLD_SECONDS of real time."""
        threading.Timer(HOLD_SECONDS, self.release.set).start()


@pytest.fixture
def gate(hass: HomeAssistant) -> Generator[Gate]:
    """Route every chunk read and scoring step through a Gate; record the recorder's close."""
    gate = Gate()
    read_chunk = recorder_source.read_chunk
    score_home = coordinator_module.score_home
    close = Recorder._close_connection

    def closing(recorder: Recorder) -> None:
        gate.in_flight_at_close.append(gate.in_flight)
        close(recorder)

    @callback
    def stopping(_: Event) -> None:
        gate.stopping = True

    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, stopping)
    with (
        patch.object(recorder_source, "CHUNK_ROWS", 10),  # a large home: many short reads
        patch.object(recorder_source, "read_chunk", lambda *a: gate.run(read_chunk, *a)),
        patch.object(coordinator_module, "score_home", lambda *a, **k: gate.run(score_home, *a, **k)),
        patch.object(Recorder, "_close_connection", closing),
    ):
        yield gate


async def _entered(hass: HomeAssistant, gate: Gate) -> None:
    assert await hass.async_add_executor_job(gate.entered.wait, 10)


async def _scheduled_refresh(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let the hourly scoring start (a background task, as in a running home)."""
    freezer.tick(timedelta(hours=1, minutes=1))
    async_fire_time_changed(hass)


async def _hold_the_scheduled_scoring(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gate: Gate
) -> None:
    """Start the hourly scoring and return once it is held at its scoring step (not its reads)."""
    counted = coordinator_module.score_home  # the gate's

    def hold_scoring(*args: Any, **kwargs: Any) -> Any:
        gate.armed = True
        return counted(*args, **kwargs)

    with patch.object(coordinator_module, "score_home", hold_scoring):
        await _scheduled_refresh(hass, freezer)
        await _entered(hass, gate)


@pytest.fixture
async def home(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    seed_history: Callable[..., Awaitable[Any]],
    setup_integration: Setup,
) -> MockConfigEntry:
    """A home with ten days of recorded history, set up and scored once.

    The clock starts at a daytime hour: a scheduled scoring an hour later must not meet the
    nightly training (02:00 local), as it did when these ran between 01:00 and 02:00 local.
    """
    freezer.move_to(CLEAR_OF_THE_NIGHTLY_TRAINING)
    await seed_history(10)
    return await setup_integration()


def _assert_stopped_cleanly(gate: Gate) -> None:
    assert gate.in_flight_at_close == [0], "a read or scoring of ours ran when the recorder closed"
    assert gate.started_after_stop == 0, "work of ours started after Home Assistant began stopping"


@pytest.mark.database
async def test_stopping_mid_read_waits_for_the_read_and_starts_no_other(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gate: Gate, home: MockConfigEntry
) -> None:
    gate.armed = True
    await _scheduled_refresh(hass, freezer)
    await _entered(hass, gate)

    gate.release_later()
    await hass.async_stop()

    _assert_stopped_cleanly(gate)


async def test_stopping_mid_scoring_waits_for_the_scoring_and_keeps_the_predictions(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gate: Gate, home: MockConfigEntry
) -> None:
    before = hass.states.get(PROBABILITY)
    assert before is not None
    await _hold_the_scheduled_scoring(hass, freezer, gate)
    gate.release_later()
    await hass.async_stop()

    _assert_stopped_cleanly(gate)
    after = hass.states.get(PROBABILITY)
    assert after is not None
    assert after.state == before.state  # the last predictions stay


async def test_stopping_mid_scoring_while_training_keeps_every_entity_showing_its_last_state(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gate: Gate, home: MockConfigEntry
) -> None:
    """HA cancels a scheduled scoring's task when it stops; the training's end then redraws the entities.

    Before, the cancelled scoring counted as a failed update, and the entities the training's
    end redrew turned unavailable (seen when a stop met the nightly training).
    """
    before = _our_states(hass, home)
    await _hold_the_scheduled_scoring(hass, freezer, gate)
    await hass.services.async_call(DOMAIN, SERVICE_TRAIN, {"mode": "full"}, blocking=True)
    assert home.runtime_data.trainer.running
    gate.release_later()
    await hass.async_stop()

    _assert_stopped_cleanly(gate)
    assert home.runtime_data.trainer.state.last_run["outcome"] == "cancelled"
    after = _our_states(hass, home)
    assert "unavailable" not in after.values()
    changed = {key for key in before if after[key] != before[key]}
    assert changed <= {"sensor.homeiq_device_intelligence_last_trained"}  # the cancelled run's time


@pytest.mark.parametrize("stopped", [True, False])
async def test_a_scoring_cancelled_by_the_stop_ends_with_the_last_predictions_any_other_cancel_cancels(
    hass: HomeAssistant, gate: Gate, home: MockConfigEntry, stopped: bool
) -> None:
    """The scoring itself, on every HA version (HA 2026 counts a cancelled update as failed)."""
    coordinator = home.runtime_data.coordinator
    last = coordinator.data
    gate.armed = True
    task = hass.async_create_task(coordinator._async_update_data())
    await _entered(hass, gate)
    if stopped:
        coordinator.guard.stop()  # as Home Assistant's stop does, then it cancels the task
    task.cancel()
    gate.release.set()
    if stopped:
        assert await task is last
        assert not task.cancelled()
    else:
        with pytest.raises(asyncio.CancelledError):
            await task
    await coordinator.guard.async_wait()
    assert gate.in_flight == 0


def _our_states(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, str]:
    """Return the state of every entity of the entry."""
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    assert entities
    return {entity.entity_id: hass.states.get(entity.entity_id).state for entity in entities}  # type: ignore[union-attr]


async def test_a_nightly_run_falling_due_while_home_assistant_stops_starts_nothing(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, home: MockConfigEntry
) -> None:
    """The nightly timer ends when the entry's work stops, not at unload only.

    Before, it fired during the stop, re-armed itself and raised WorkStopped in its callback
    (an error in Home Assistant's log at every stop at the training hour).
    """
    runtime = home.runtime_data
    await integration_module._async_stop_work(runtime)  # what Home Assistant's stop event runs
    freezer.move_to("2026-12-02 10:00:30+00:00")  # 02:00 local the next night: the training time
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert not runtime.trainer.running


@pytest.mark.database
async def test_stopping_mid_training_ends_the_run_and_keeps_the_model(
    hass: HomeAssistant, gate: Gate, home: MockConfigEntry, config_dir: Path
) -> None:
    trainer = home.runtime_data.trainer
    version = home.runtime_data.coordinator.model.version
    gate.armed = True
    await hass.services.async_call(DOMAIN, SERVICE_TRAIN, {"mode": "full"}, blocking=True)
    await _entered(hass, gate)

    gate.release_later()
    await hass.async_stop()

    _assert_stopped_cleanly(gate)
    assert not trainer.running
    assert trainer.state.last_run["outcome"] == "cancelled"
    assert home.runtime_data.coordinator.model.version == version
    models = config_dir / ".storage" / DOMAIN / "models"
    assert not models.exists() or not any(models.rglob("*.tmp"))


async def test_reloading_while_a_refresh_reads_waits_for_it_and_loads_again(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gate: Gate, home: MockConfigEntry
) -> None:
    gate.armed = True
    await _scheduled_refresh(hass, freezer)
    await _entered(hass, gate)

    gate.release_later()
    assert await hass.config_entries.async_reload(home.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert home.state is ConfigEntryState.LOADED
    state = hass.states.get(PROBABILITY)
    assert state is not None
    assert state.state not in ("unavailable", "unknown")


async def test_unloading_while_a_registry_refresh_runs_leaves_no_timer(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gate: Gate,
    home: MockConfigEntry,
    add_battery_device: Callable[..., Any],
) -> None:
    """A device added starts a debounced refresh; unloading during it must not re-arm the debouncer."""
    gate.armed = True
    add_battery_device("Porch door")
    freezer.tick(timedelta(seconds=30))
    async_fire_time_changed(hass)
    await _entered(hass, gate)

    gate.release_later()
    assert await hass.config_entries.async_unload(home.entry_id)
    await hass.async_block_till_done()

    assert gate.in_flight == 0, "the refresh outlived the entry"
    assert home.state is ConfigEntryState.NOT_LOADED
    # The test harness fails the test on a lingering Debouncer timer.


@pytest.mark.parametrize(("action", "data"), [(SERVICE_TRAIN, {}), (SERVICE_ROLLBACK_MODEL, {})])
async def test_actions_while_home_assistant_stops_start_nothing_and_say_why(
    hass: HomeAssistant, home: MockConfigEntry, action: str, data: dict[str, Any]
) -> None:
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()

    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(DOMAIN, action, data, blocking=True)

    assert err.value.translation_key == "stopping"
    assert not home.runtime_data.trainer.running


async def test_after_a_stop_mid_training_the_next_start_finds_the_last_good_model_and_history(
    hass: HomeAssistant,
    gate: Gate,
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., Any],
    seed_history: Callable[..., Awaitable[Any]],
    setup_integration: Setup,
) -> None:
    """What a restart reads back from disk after HA stopped in the middle of fitting."""
    storage = config_dir / ".storage" / DOMAIN
    good = ModelStore(shipped_model, storage / HOME_MODELS_SUBDIR, keep=HOME_MODELS_KEPT).deploy(
        make_bundle(source="home")
    )
    await seed_history(30)
    home = await setup_integration()
    fitting = training_module.train_home

    def hold_fitting(*args: Any, **kwargs: Any) -> Any:
        gate.armed = True
        return gate.run(fitting, *args, **kwargs)

    with patch.object(training_module, "train_home", hold_fitting):
        await hass.services.async_call(DOMAIN, SERVICE_TRAIN, {"mode": "full"}, blocking=True)
        await _entered(hass, gate)
        gate.release_later()
        await hass.async_stop()

    _assert_stopped_cleanly(gate)
    assert home.runtime_data.trainer.state.last_run["outcome"] == "cancelled"
    restarted = ModelStore(shipped_model, storage / HOME_MODELS_SUBDIR, keep=HOME_MODELS_KEPT).load_active()
    assert (restarted.version_id, restarted.refused) == (good.version_id, ())
    history = AggregatesStore(storage / AGGREGATES_FILE)
    history.load()
    assert history.grid is not None and history.grid.device_keys
    assert not list(storage.rglob("*.tmp")) and not list(storage.rglob("*.unreadable"))


@dataclass
class _BusyThread:
    """One executor thread held by a first job the guard runs; see `_a_busy_thread`."""

    submit: Callable[[Callable[[], Any]], asyncio.Future[Any]]
    submitted: list[asyncio.Future[Any]]
    first: asyncio.Future[None]
    release: threading.Event
    ran: list[str]


@asynccontextmanager
async def _a_busy_thread(hass: HomeAssistant, guard: WorkGuard) -> AsyncIterator[_BusyThread]:
    """An executor of one thread, busy with a job the guard runs until `release` is set."""
    busy, release = threading.Event(), threading.Event()
    ran: list[str] = []
    submitted: list[asyncio.Future[Any]] = []
    with ThreadPoolExecutor(max_workers=1) as executor:
        loop = asyncio.get_running_loop()

        def submit(job: Callable[[], Any]) -> asyncio.Future[Any]:
            submitted.append(loop.run_in_executor(executor, job))
            return submitted[-1]

        def hold() -> None:
            busy.set()
            release.wait(10)
            ran.append("first")

        first = asyncio.ensure_future(guard.async_run(submit, hold))
        assert await hass.async_add_executor_job(busy.wait, 10)
        try:
            yield _BusyThread(submit, submitted, first, release, ran)
        finally:
            release.set()


async def test_a_job_cancelled_before_its_thread_took_it_is_not_waited_for(hass: HomeAssistant) -> None:
    """HA cancels background tasks' executor futures at stop; one still queued never runs."""
    guard = WorkGuard(hass)
    async with _a_busy_thread(hass, guard) as thread:
        queued = asyncio.ensure_future(guard.async_run(thread.submit, lambda: thread.ran.append("queued")))
        await asyncio.sleep(0)
        thread.submitted[1].cancel()  # as Home Assistant does to a background task's executor job
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert len(guard._jobs) == 1, "the cancelled job, which will never run, is still waited for"
        thread.release.set()
        await thread.first
        guard.stop()
        await guard.async_wait()

    assert thread.ran == ["first"]
    assert not guard._jobs


async def test_a_job_a_thread_takes_after_the_stop_does_not_run(hass: HomeAssistant) -> None:
    """A job queued before the stop can wait for a thread past it (the recorder has two): it must not run."""
    guard = WorkGuard(hass)
    async with _a_busy_thread(hass, guard) as thread:
        queued = asyncio.ensure_future(guard.async_run(thread.submit, lambda: thread.ran.append("queued")))
        await asyncio.sleep(0)
        guard.stop()
        thread.release.set()
        await thread.first
        with pytest.raises(WorkStopped):
            await queued
        await guard.async_wait()
        assert not guard._jobs
    assert thread.ran == ["first"]
