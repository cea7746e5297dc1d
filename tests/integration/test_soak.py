"""A long soak: a home runs the integration for weeks of simulated time and nothing degrades.

One long scenario with Home Assistant's real recorder (SQLite): battery doors
report every hour (batteries draining, one door dropping off now and then),
the integration scores them hourly and trains itself every night at the
options' training time. Along the way every kind of event of a real home
happens at least once: a device is added, renamed, removed, re-paired (removed
and added again with new identifiers, same name) and excluded; the options
change (through the options flow and directly), the entry is unloaded and set
up again while the nightly training runs (what a restart looks like to the
integration), and the recorder purges old states.

At the end (and at each event) the checks below hold: nothing stored is lost,
the current model is the last one deployed, predictions exist exactly for the
watched devices, the at-risk and training state survive reloads, nothing is
logged at error level, and memory does not grow from night to night. Home
Assistant's harness fails the test on any task or timer left behind.

The reduced form runs by default (12 days, 5 devices, about a minute).
``bench/bench_soak.py`` runs the same scenario for a month and more devices
through the environment variables ``HOMEIQ_SOAK_DAYS``, ``HOMEIQ_SOAK_DEVICES``
and ``HOMEIQ_SOAK_REPORT`` (a JSON file for the per-night figures).
"""

from __future__ import annotations

import gc
import importlib
import json
import logging
import os
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any
from unittest import mock
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import core as recorder_core
from homeassistant.components.recorder import get_instance, history
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util import slugify
from pytest_homeassistant_custom_component import patch_recorder
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_purge_done,
    async_wait_recording_done,
)

from custom_components.homeiq_device_intel import training
from custom_components.homeiq_device_intel.aggregates_store import AggregatesStore
from custom_components.homeiq_device_intel.const import (
    AGGREGATES_FILE,
    CONF_EXCLUDE_DEVICES,
    CONF_TRAINING_MODE,
    CONF_TRAINING_TIME,
    DOMAIN,
    EVENT_DEVICE_AT_RISK,
    EVENT_TRAINING_FINISHED,
    HOME_MODELS_KEPT,
    HOME_MODELS_SUBDIR,
    SHIPPED_MODEL_DIR,
)
from custom_components.homeiq_device_intel.ml.bundle import ModelBundle, save_bundle
from custom_components.homeiq_device_intel.ml.learning import TrainingCancelled
from custom_components.homeiq_device_intel.model_store import ModelStore

Setup = Callable[[], Awaitable[MockConfigEntry]]


def _real_clock() -> float:
    """Seconds of real time (the frozen clock patches time.perf_counter and time.monotonic)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


SOAK_DAYS = int(os.environ.get("HOMEIQ_SOAK_DAYS", "12"))
SOAK_DEVICES = max(5, int(os.environ.get("HOMEIQ_SOAK_DEVICES", "5")))
SOAK_REPORT = os.environ.get("HOMEIQ_SOAK_REPORT")
# Recorded before the integration is set up: enough for training to start on the first night.
PRE_HISTORY_DAYS = 24
# A date far from daylight-saving changes in the test's time zone (US/Pacific).
SOAK_START = datetime(2026, 5, 1, 0, 0)
PURGE_KEEP_DAYS = 10
# Traced Python memory may grow this much from the first third of the nights to the last.
MEMORY_GROWTH_LIMIT = 2 * 1024 * 1024
# Warnings expected, by logger: Home Assistant loading a custom integration, and
# asyncio's debug mode measuring a step of the test as slow when the frozen clock
# jumps an hour inside it (time travel, not a slow callback). Nothing else.
EXPECTED_WARNINGS = {
    "homeassistant.loader": "We found a custom integration homeiq_device_intel",
    "asyncio": "Executing <Task",
}
BATTERY_ATTRIBUTES = {
    "device_class": "battery",
    "unit_of_measurement": PERCENTAGE,
    "state_class": "measurement",
}


def _event_day(fraction: float) -> int:
    """The soak day (from 1) an event happens on, spread over the soak's length."""
    return max(1, round(SOAK_DAYS * fraction))


# When each kind of event happens (for the default 12 days: days 1 to 9, one a day). The
# options flow comes first: it switches to full training, whose first run is the warm-up.
DAY_OPTIONS_FLOW = _event_day(0.08)
DAY_ADD = _event_day(0.17)
DAY_RENAME = _event_day(0.25)
DAY_REMOVE = _event_day(0.42)
DAY_RESTART = _event_day(0.5)
DAY_REPAIR = _event_day(0.58)
DAY_PURGE = _event_day(0.67)
DAY_EXCLUDE = _event_day(0.75)


# ---------------------------------------------------------------------------
# The simulated home


@dataclass
class SimDevice:
    """A battery door: drains a fixed share a day and drops off on some hours."""

    name: str
    identifier: str
    drain_per_day: float
    outage_every_days: int | None
    device_id: str = ""

    @property
    def slug(self) -> str:
        return slugify(self.name)

    def battery(self, day: float) -> float:
        """Battery percent ``day`` days after the history began (never quite empty)."""
        return max(1.0, 100.0 - self.drain_per_day * day)

    def offline(self, day: float) -> bool:
        """Whether the door is unavailable: ten hours from noon every few days."""
        if self.outage_every_days is None:
            return False
        whole = int(day)
        return whole % self.outage_every_days == self.outage_every_days - 1 and 0.5 <= day - whole < 0.92


@dataclass
class SimHome:
    """The devices of the home, registered as another integration (zha) owns them."""

    hass: HomeAssistant
    owner: MockConfigEntry
    began: datetime
    devices: dict[str, SimDevice] = field(default_factory=dict)
    removed_ids: set[str] = field(default_factory=set)

    def add(self, device: SimDevice) -> SimDevice:
        """Register a device and its two entities, as its integration would."""
        entry = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.owner.entry_id,
            identifiers={("zha", device.identifier)},
            name=device.name,
            manufacturer="Acme",
            model="Door sensor",
        )
        device.device_id = entry.id
        entities = er.async_get(self.hass)
        entities.async_get_or_create(
            "binary_sensor",
            "zha",
            f"{device.identifier}-contact",
            device_id=entry.id,
            original_device_class="door",
            suggested_object_id=f"{device.slug}_contact",
            config_entry=self.owner,
        )
        entities.async_get_or_create(
            "sensor",
            "zha",
            f"{device.identifier}-battery",
            device_id=entry.id,
            original_device_class="battery",
            unit_of_measurement=PERCENTAGE,
            entity_category=EntityCategory.DIAGNOSTIC,
            suggested_object_id=f"{device.slug}_battery",
            config_entry=self.owner,
        )
        self.devices[device.name] = device
        return device

    def remove(self, name: str) -> SimDevice:
        """Delete a device as its integration does: states go, then the device and its entities."""
        device = self.devices.pop(name)
        for entity_id in self.entity_ids(device):
            self.hass.states.async_remove(entity_id)
        dr.async_get(self.hass).async_remove_device(device.device_id)
        self.removed_ids.add(device.device_id)
        return device

    @staticmethod
    def entity_ids(device: SimDevice) -> tuple[str, str]:
        return f"binary_sensor.{device.slug}_contact", f"sensor.{device.slug}_battery"

    def report(self, at: datetime) -> None:
        """Every device reports its contact and battery at ``at`` (the frozen now)."""
        day = (at - self.began).total_seconds() / 86400.0
        hour = int(day * 24)
        for device in self.devices.values():
            contact, battery = self.entity_ids(device)
            if device.offline(day):
                self.hass.states.async_set(contact, "unavailable", {"device_class": "door"})
                self.hass.states.async_set(battery, "unavailable", BATTERY_ATTRIBUTES)
                continue
            self.hass.states.async_set(contact, "on" if hour % 2 else "off", {"device_class": "door"})
            self.hass.states.async_set(battery, f"{device.battery(day):.0f}", BATTERY_ATTRIBUTES)


def _initial_devices() -> list[SimDevice]:
    """One door empties early, one during the soak, one drops off every five days, the rest idle."""
    devices = [
        SimDevice("Door 0", "door-0", 3.6, None),
        SimDevice("Door 1", "door-1", 2.6, None),
        SimDevice("Door 2", "door-2", 0.5, 5),
    ]
    devices += [
        SimDevice(f"Door {i}", f"door-{i}", 0.3 + 0.1 * (i % 4), 7 + i % 5 if i % 3 == 0 else None)
        for i in range(3, SOAK_DEVICES)
    ]
    return devices


# ---------------------------------------------------------------------------
# Measurements


@dataclass
class Night:
    """One nightly run as seen by the soak."""

    day: int
    outcome: str
    model_version: str
    wall_s: float
    traced_bytes: int
    rss_bytes: int


def _rss_bytes() -> int:
    """Resident memory of this process."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


# Home Assistant's recorder keeps the id of each distinct attributes JSON it wrote in an LRU
# (its key the decoded JSON, core.py's `shared_attrs = shared_attrs_bytes.decode(...)`; its
# entry added in StateAttributesManager.post_commit_pending), bounded at
# max(CACHE_SIZE = 2048, twice the entity count) (recorder/table_managers/state_attributes.py,
# Recorder._adjust_lru_size). The hourly scorings write new attributes, so it fills for weeks
# (about 40 KiB a night for 20 devices) and then stays: Home Assistant's bounded cache, left out.
def _cache_filter(path: Path, statement: str) -> tracemalloc.Filter:
    """Leave out what the one line of ``path`` holding ``statement`` allocates."""
    lines = path.read_text(encoding="utf-8").splitlines()
    lineno = next(i for i, line in enumerate(lines, 1) if line.strip() == statement)
    return tracemalloc.Filter(False, str(path), lineno=lineno)


_RECORDER = Path(recorder_core.__file__).parent
RECORDER_ATTRIBUTE_CACHE = [
    _cache_filter(_RECORDER / "core.py", 'shared_attrs = shared_attrs_bytes.decode("utf-8")'),
    _cache_filter(
        _RECORDER / "table_managers" / "state_attributes.py",
        "self._id_map[shared_attrs] = db_state_attributes.attributes_id",
    ),
]


def _memory() -> tuple[int, int]:
    """Traced Python memory (without the test harness's own records) and RSS, after a full collection.

    pytest keeps every log record of the test for its report, and the harness's
    mocks every call made to them: those grow with the soak's length whatever
    the integration does, so their allocations are left out.
    """
    # The harness's mocks keep every call they were given, with its arguments, forever:
    # the storage mock every write (every at-risk and training state ever saved), and the
    # recorder's session_scope spy (patched over patch_recorder.real_session_scope) every
    # SQLAlchemy Session the recorder or a reader ever opened, with what that Session
    # holds. Forget them: they are the harness's, not the integration's.
    # (patched with autospec: a function carrying its mock)
    for spied in (Store._async_write_data, patch_recorder.real_session_scope):
        if isinstance(spy := getattr(spied, "mock", None), mock.Mock):
            spy.reset_mock()
    gc.collect()
    harness = [tracemalloc.Filter(False, module.__file__) for module in (logging, mock, tracemalloc)]
    snapshot = tracemalloc.take_snapshot().filter_traces(harness + RECORDER_ATTRIBUTE_CACHE)
    return sum(stat.size for stat in snapshot.statistics("filename")), _rss_bytes()


# ---------------------------------------------------------------------------
# Checks, each a named property of the soak


def check_no_error_logged(caplog: pytest.LogCaptureFixture, when: str) -> None:
    """Neither the integration nor Home Assistant logged a warning or an error."""
    noisy = [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR
        or (
            r.levelno >= logging.WARNING
            and not r.getMessage().startswith(EXPECTED_WARNINGS.get(r.name, "\0"))
        )
    ]
    assert not noisy, f"{when}: {noisy}"
    caplog.clear()


def check_predictions_match_watched_devices(
    hass: HomeAssistant, entry: MockConfigEntry, home: SimHome, when: str = ""
) -> None:
    """Every device present and not excluded has a prediction and sensors; removed ones have neither."""
    data = entry.runtime_data.coordinator.data
    excluded = set(entry.options.get(CONF_EXCLUDE_DEVICES, []))
    expected = {d.device_id for d in home.devices.values()} - excluded
    assert set(data.devices) == expected
    assert set(data.predictions) == expected
    ours = {e.unique_id for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)}
    for device_id in expected:
        assert f"{device_id}_failure_probability" in ours, (when, data.devices[device_id].name)
    for device_id in home.removed_ids | excluded:
        assert not any(unique_id.startswith(device_id) for unique_id in ours), device_id


async def check_stored_files_load(hass: HomeAssistant, entry: MockConfigEntry, config_dir: Path) -> None:
    """The stored aggregates and the home model index exist and load; the model is the last deployed."""
    storage = config_dir / ".storage" / DOMAIN
    aggregates = AggregatesStore(storage / AGGREGATES_FILE)
    await hass.async_add_executor_job(aggregates.load)
    assert aggregates.grid is not None, "the stored aggregates did not load"
    assert not list(storage.rglob("*.unreadable")), "a stored file was set aside as unreadable"
    store = ModelStore(SHIPPED_MODEL_DIR, storage / HOME_MODELS_SUBDIR, keep=HOME_MODELS_KEPT)
    active = await hass.async_add_executor_job(store.load_active)
    assert not active.refused
    assert active.source == "home"
    assert active.version == entry.runtime_data.coordinator.model.version


def check_current_model_is_last_deployed(entry: MockConfigEntry, finished: list[Event]) -> None:
    """The model in use is the one the last deploying run reported."""
    deployed = [e.data["model_version"] for e in finished if e.data["status"] == "deployed"]
    assert deployed, "no nightly run deployed a home model"
    assert entry.runtime_data.coordinator.model.version == deployed[-1]


def check_one_run_a_night(nights: list[Night]) -> None:
    """The integration trained once on every night of the soak (and never during the day)."""
    assert [n.day for n in nights] == list(range(1, SOAK_DAYS + 1))
    assert all(n.outcome in ("deployed", "kept_current", "cancelled") for n in nights), nights
    assert sum(n.outcome == "cancelled" for n in nights) == 1


def check_memory_bounded(nights: list[Night]) -> None:
    """Traced memory of the last third of the nights exceeds that of the first third by < 2 MiB.

    The nights up to the first full training run are a warm-up (its learners'
    first use). After it, what legitimately stays in memory is bounded: one model, one aggregates
    grid, the last scoring, registries of a fixed size (the recorder's SQLite
    database lives outside Python's allocator; the harness's log records and
    mock calls are left out). 2 MiB is about ten times what one night adds if
    it keeps its training read, its model or its scoring alive (a few hundred
    KiB for this home): such a leak crosses it within the soak; allocator
    noise and caches filling up (tens of KiB a night) do not.
    """
    warm = [n for n in nights if n.day > DAY_OPTIONS_FLOW + 1]
    third = max(1, len(warm) // 3)
    first = mean(n.traced_bytes for n in warm[:third])
    last = mean(n.traced_bytes for n in warm[-third:])
    assert last - first < MEMORY_GROWTH_LIMIT, f"traced memory grew {(last - first) / 1024:.0f} KiB"


# ---------------------------------------------------------------------------
# The soak


@contextmanager
def _training_held_once() -> Iterator[threading.Event]:
    """Make the next training run wait (in its thread) until it is told to stop."""
    started = threading.Event()
    real = training.train_home
    used = False

    def train_home(*args: Any, should_stop: Callable[[], bool], **kwargs: Any) -> Any:
        nonlocal used
        if used:
            return real(*args, should_stop=should_stop, **kwargs)
        used = True
        started.set()
        while not should_stop():
            time.sleep(0.01)
        raise TrainingCancelled

    with patch.object(training, "train_home", train_home):
        yield started


@dataclass
class Soak:
    """The soak's running state: the clock, the home, the entry and what was observed."""

    hass: HomeAssistant
    freezer: FrozenDateTimeFactory
    home: SimHome
    entry: MockConfigEntry
    finished: list[Event]
    at_risk: list[Event]
    nights: list[Night] = field(default_factory=list)
    reloads_with_devices_at_risk: int = 0

    async def hour(self) -> None:
        """The devices report, an hour passes, and whatever is due (scoring, training) runs."""
        self.home.report(dt_util.utcnow())
        await async_wait_recording_done(self.hass)
        self.freezer.tick(timedelta(hours=1))
        async_fire_time_changed(self.hass)
        await self.hass.async_block_till_done(wait_background_tasks=True)

    async def day(
        self,
        day: int,
        events: dict[int, Callable[[], Awaitable[None]]],
        restart: Callable[[], Awaitable[None]],
    ) -> None:
        """Run 24 hours, with the day's event at 14:00; on the restart day, restart in the training hour."""
        at = self.entry.runtime_data.coordinator.settings.training_time
        training_hour = at.hour if at.minute or at.second else at.hour - 1  # the hour whose end passes it
        for hour in range(24):
            if hour == 14 and day in events:
                await events[day]()
            if hour == training_hour and day == DAY_RESTART:
                await restart()
                continue
            runs = len(self.finished)
            began = _real_clock()
            await self.hour()
            if len(self.finished) > runs:
                self.note_night(day, self.finished[-1], _real_clock() - began)

    def note_night(self, day: int, event: Event, wall_s: float) -> None:
        traced, rss = _memory()
        self.nights.append(
            Night(
                day=day,
                outcome=event.data["status"],
                model_version=event.data["model_version"],
                wall_s=round(wall_s, 3),
                traced_bytes=traced,
                rss_bytes=rss,
            )
        )

    async def reload_keeping_state(self, reload: Callable[[], Awaitable[None]]) -> None:
        """Reload the entry another way (``reload``); the at-risk and training state must survive."""
        coordinator = self.entry.runtime_data.coordinator
        at_risk_before = set(coordinator.data.at_risk)
        trained_before = self.entry.runtime_data.trainer.state.last_trained
        alerts = len(self.at_risk)

        await reload()
        await self.hass.async_block_till_done(wait_background_tasks=True)

        assert self.entry.state is ConfigEntryState.LOADED
        coordinator = self.entry.runtime_data.coordinator
        still_watched = at_risk_before & set(coordinator.data.devices)
        assert still_watched <= coordinator.data.at_risk, "the at-risk state was lost"
        realerted = [
            e.data["device_id"] for e in self.at_risk[alerts:] if e.data["device_id"] in still_watched
        ]
        assert not realerted, f"devices already at risk alerted again after a reload: {realerted}"
        assert self.entry.runtime_data.trainer.state.last_trained == trained_before
        self.reloads_with_devices_at_risk += bool(still_watched)


def _report(soak: Soak, wall_s: float) -> None:
    """Write the per-night figures for bench/bench_soak.py."""
    if not SOAK_REPORT:
        return
    report = {
        "days": SOAK_DAYS,
        "devices": SOAK_DEVICES,
        "wall_s": round(wall_s, 1),
        "nights": [n.__dict__ for n in soak.nights],
    }
    Path(SOAK_REPORT).write_text(json.dumps(report, indent=2), encoding="utf-8")


async def test_a_home_runs_for_weeks_without_losing_anything_or_growing(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    zha_entry: MockConfigEntry,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    setup_integration: Setup,
    config_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The harness logs every recorder step at debug level: weeks of it slow the soak down.
    caplog.set_level(logging.INFO, logger="homeassistant")
    # The harness's storage mock logs every write at debug level with the dict it writes,
    # and then fills that dict in (the whole registry or state saved, JSON fragments and
    # all); pytest keeps every record of the test for its report, so every saved registry
    # and at-risk state stayed alive through its log record (about 0.2 MiB a night for
    # 20 devices: the 'growth' the month soak measured). The records are the harness's.
    caplog.set_level(logging.INFO, logger="pytest_homeassistant_custom_component")
    # Every hour of time travel makes asyncio's debug mode report the step that jumped as
    # slow; pytest keeps those records (with task reprs) for the whole soak.
    hass.loop.slow_callback_duration = 24 * 3600.0
    # The first full run with enough failures to learn from imports LightGBM (and with it
    # scikit-learn and SciPy, about 45 MiB): once per process, as every import. Import it
    # before tracing starts, so the nights compare what the integration keeps.
    with suppress(ImportError):
        importlib.import_module("lightgbm")
    began = _real_clock()
    tracemalloc.start()
    try:
        soak = await _run_soak(
            hass, freezer, zha_entry, shipped_model, make_bundle, setup_integration, caplog
        )
    finally:
        tracemalloc.stop()
    _report(soak, _real_clock() - began)

    check_one_run_a_night(soak.nights)
    check_current_model_is_last_deployed(soak.entry, soak.finished)
    await check_stored_files_load(hass, soak.entry, config_dir)
    check_predictions_match_watched_devices(hass, soak.entry, soak.home)
    assert soak.reloads_with_devices_at_risk >= 2, "no reload happened with a device at risk"
    check_memory_bounded(soak.nights)
    check_no_error_logged(caplog, "at the end")


async def _run_soak(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    zha_entry: MockConfigEntry,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    setup_integration: Setup,
    caplog: pytest.LogCaptureFixture,
) -> Soak:
    """Record the pre-history, set up the integration and live through the soak's days."""
    # A shipped model that overrates going offline: the home's history proves it wrong.
    save_bundle(make_bundle(unavailable_margin=2.0), shipped_model)
    zone = dt_util.get_default_time_zone()
    start = SOAK_START.replace(tzinfo=zone)
    history_began = start - timedelta(days=PRE_HISTORY_DAYS)
    freezer.move_to(history_began)
    home = SimHome(hass, zha_entry, history_began)
    for device in _initial_devices():
        home.add(device)
    for step in range(PRE_HISTORY_DAYS * 4):  # every six hours, at their times
        freezer.move_to(history_began + timedelta(hours=6 * step))
        home.report(dt_util.utcnow())
    await async_wait_recording_done(hass)
    freezer.move_to(start - timedelta(minutes=1))  # setting up takes a minute
    entry = await setup_integration()
    soak = Soak(
        hass,
        freezer,
        home,
        entry,
        finished=async_capture_events(hass, EVENT_TRAINING_FINISHED),
        at_risk=async_capture_events(hass, EVENT_DEVICE_AT_RISK),
    )
    check_no_error_logged(caplog, "setup")

    async def add_device() -> None:
        home.add(SimDevice("Attic window", "attic-window", 0.4, None))

    async def rename_device() -> None:
        dr.async_get(hass).async_update_device(home.devices["Door 1"].device_id, name_by_user="Front door")

    async def change_options_in_flow() -> None:
        async def through_the_flow() -> None:
            flow = await hass.config_entries.options.async_init(entry.entry_id)
            result = await hass.config_entries.options.async_configure(
                flow["flow_id"],
                {**entry.options, CONF_TRAINING_TIME: "03:30:00", CONF_TRAINING_MODE: "full"},
            )
            assert result["type"] == "create_entry"

        await soak.reload_keeping_state(through_the_flow)
        assert entry.runtime_data.coordinator.settings.training_mode == "full"

    async def remove_device() -> None:
        home.remove("Door 3")

    async def restart_mid_training() -> None:
        trained_before = entry.runtime_data.trainer.state.last_trained
        version_before = entry.runtime_data.coordinator.model.version
        with _training_held_once() as started:
            home.report(dt_util.utcnow())
            await async_wait_recording_done(hass)
            freezer.tick(timedelta(hours=1))
            async_fire_time_changed(hass)
            assert await hass.async_add_executor_job(started.wait, 10)
            trainer = entry.runtime_data.trainer
            assert trainer.running

            async def unload_and_set_up() -> None:
                assert await hass.config_entries.async_unload(entry.entry_id)
                assert await hass.config_entries.async_setup(entry.entry_id)

            await soak.reload_keeping_state(unload_and_set_up)
        trainer = entry.runtime_data.trainer
        assert not trainer.running
        assert trainer.state.last_run["outcome"] == "cancelled"
        assert trainer.state.last_trained == trained_before
        assert entry.runtime_data.coordinator.model.version == version_before
        soak.nights.append(Night(DAY_RESTART, "cancelled", version_before, 0.0, *_memory()))

    async def repair_device() -> None:
        old = home.remove("Door 4")
        home.add(SimDevice(old.name, "door-4-repaired", old.drain_per_day, old.outage_every_days))

    async def purge_recorder() -> None:
        await hass.services.async_call(
            "recorder", "purge", {"keep_days": PURGE_KEEP_DAYS, "repack": False}, blocking=True
        )
        await async_wait_purge_done(hass)
        first_day = await get_instance(hass).async_add_executor_job(
            history.state_changes_during_period,
            hass,
            history_began,
            history_began + timedelta(days=1),
            "sensor.door_2_battery",
        )
        assert not first_day.get("sensor.door_2_battery"), "the purge kept the oldest states"

    async def exclude_device() -> None:
        async def update_options() -> None:
            excluded = [home.devices["Attic window"].device_id]
            hass.config_entries.async_update_entry(
                entry, options={**entry.options, CONF_EXCLUDE_DEVICES: excluded}
            )

        await soak.reload_keeping_state(update_options)

    events: dict[int, Callable[[], Awaitable[None]]] = {
        DAY_ADD: add_device,
        DAY_RENAME: rename_device,
        DAY_OPTIONS_FLOW: change_options_in_flow,
        DAY_REMOVE: remove_device,
        DAY_REPAIR: repair_device,
        DAY_PURGE: purge_recorder,
        DAY_EXCLUDE: exclude_device,
    }
    assert len({*events, DAY_RESTART}) == 8, "two events fell on the same day"
    assert DAY_OPTIONS_FLOW < DAY_ADD  # the memory check's warm-up ends early
    assert DAY_OPTIONS_FLOW < DAY_RESTART  # the restart is timed for the new training time
    for day in range(1, SOAK_DAYS + 1):
        await soak.day(day, events, restart_mid_training)
        check_predictions_match_watched_devices(hass, entry, home, f"day {day}")
        check_no_error_logged(caplog, f"day {day}")
    return soak
