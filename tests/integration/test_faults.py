"""Reliability: damaged model files, faults and cancellation in training, registry churn,
daylight-saving days, recorder-safe attribute sizes and bad action data."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import CodeType, FrameType, SimpleNamespace
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, PERCENTAGE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.json import json_bytes
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from sqlalchemy.exc import OperationalError

from custom_components.homeiq_device_intel import coordinator, model_store, recorder_source, training
from custom_components.homeiq_device_intel.const import (
    DOMAIN,
    HOME_MODELS_KEPT,
    SERVICE_REFRESH_PREDICTIONS,
    SERVICE_ROLLBACK_MODEL,
    SERVICE_TRAIN,
)
from custom_components.homeiq_device_intel.ml.bundle import MANIFEST_FILE, MODELS_FILE, ModelBundle
from custom_components.homeiq_device_intel.ml.learning import (
    TrainingCancelled,
    TrainingStep,
    TrainResult,
    TrainStatus,
)
from custom_components.homeiq_device_intel.ml.scoring import DevicePrediction, Reason
from custom_components.homeiq_device_intel.model_store import ModelStore

Setup = Callable[[], Awaitable[MockConfigEntry]]
Rescore = Callable[[], Awaitable[None]]
STATUS = "sensor.homeiq_device_intelligence_training_status"
VERSION = "sensor.homeiq_device_intelligence_model_version"
SOURCE = "sensor.homeiq_device_intelligence_model_source"
GOOD = "test-1+home.v0001"
TRAINING_TASK = f"{DOMAIN} training"
RECORDER_ATTRIBUTES_LIMIT = 16384


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _home(config_dir: Path) -> Path:
    return config_dir / ".storage" / DOMAIN / "models"


def _good_home_model(config_dir: Path, shipped: Path, make_bundle: Callable[..., ModelBundle]) -> ModelStore:
    """Deploy v0001, a good home model, the way the integration does."""
    store = ModelStore(shipped, _home(config_dir), keep=HOME_MODELS_KEPT)
    store.deploy(make_bundle(source="home"))
    return store


def _files(directory: Path) -> dict[str, bytes]:
    """Every file under a directory (relative path to content), to compare before and after."""
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def _deployable(make_bundle: Callable[..., ModelBundle]) -> TrainResult:
    return TrainResult(status=TrainStatus.DEPLOYED, bundle=make_bundle(source="home"), message="better")


def _insufficient() -> TrainResult:
    return TrainResult(status=TrainStatus.INSUFFICIENT_DATA, bundle=None, message="too little history")


def _frames(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def _threads_running(code: CodeType) -> list[int]:
    """Return the threads whose stack is inside the function with this code."""
    return [
        ident
        for ident, frame in sys._current_frames().items()
        if any(f.f_code is code for f in _frames(frame))
    ]


def _training_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == TRAINING_TASK and not t.done()]


async def _train(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, SERVICE_TRAIN, data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


# ---------------------------------------------------------------------------
# 1. Model files we did not write


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_manifest(directory: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    edit(manifest)
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_and_fix_checksum(directory: Path) -> None:
    """Tamper consistently: change the models and record their new size and sha256."""
    _flip_middle_byte(directory / MODELS_FILE)
    content = (directory / MODELS_FILE).read_bytes()

    def edit(manifest: dict[str, Any]) -> None:
        manifest["files"][MODELS_FILE] = {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}

    _edit_manifest(directory, edit)


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated_models": (lambda d: _truncate(d / MODELS_FILE), "checksum_mismatch"),
    "truncated_manifest": (lambda d: _truncate(d / MANIFEST_FILE), "manifest_invalid"),
    "manifest_nested_too_deep": (
        lambda d: (d / MANIFEST_FILE).write_text("[" * 100_000 + "]" * 100_000),
        "manifest_invalid",
    ),
    "flipped_byte": (lambda d: _flip_middle_byte(d / MODELS_FILE), "checksum_mismatch"),
    "manifest_checksum_edited": (
        lambda d: _edit_manifest(d, lambda m: m["files"][MODELS_FILE].update(sha256="0" * 64)),
        "checksum_mismatch",
    ),
    "tampered_with_matching_checksum": (_flip_and_fix_checksum, "corrupt"),
    "newer_format_version": (
        lambda d: _edit_manifest(d, lambda m: m.update(format_version=m["format_version"] + 1)),
        "format_version",
    ),
    "other_feature_schema": (
        lambda d: _edit_manifest(d, lambda m: m.update(schema_version=m["schema_version"] + 1)),
        "schema_mismatch",
    ),
}


@pytest.mark.parametrize(("damage", "reason"), DAMAGE.values(), ids=DAMAGE.keys())
async def test_damaged_home_model_is_refused_and_the_previous_one_serves(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    add_battery_device: Any,
    setup_integration: Setup,
    damage: Callable[[Path], None],
    reason: str,
) -> None:
    store = _good_home_model(config_dir, shipped_model, make_bundle)
    store.deploy(make_bundle(source="home"))
    damage(_home(config_dir) / "versions" / "v0002")
    add_battery_device("Hall door", battery=10)

    entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    assert _state(hass, VERSION) == GOOD
    assert _state(hass, SOURCE) == "home"
    assert float(_state(hass, "sensor.hall_door_failure_probability")) > 90
    issue = issue_registry.async_get_issue(DOMAIN, "home_model_refused")
    assert issue is not None
    assert issue.translation_key == "home_model_refused"
    assert issue.translation_placeholders == {"versions": "v0002", "reason": reason}
    assert (_home(config_dir) / "refused" / "v0002").is_dir()
    assert sorted(p.name for p in (_home(config_dir) / "versions").iterdir()) == ["v0001"]


async def test_home_model_of_an_earlier_release_is_set_aside_without_a_repair(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    add_battery_device: Any,
    setup_integration: Setup,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = _good_home_model(config_dir, shipped_model, make_bundle)
    _edit_manifest(
        _home(config_dir) / "versions" / "v0001", lambda m: m.update(schema_version=m["schema_version"] - 1)
    )
    add_battery_device("Hall door", battery=10)

    entry = await setup_integration()

    assert entry.state is ConfigEntryState.LOADED
    assert _state(hass, SOURCE) == "shipped"
    assert issue_registry.async_get_issue(DOMAIN, "home_model_refused") is None
    assert "learned by an earlier release" in caplog.text
    assert "refused" not in caplog.text
    assert (_home(config_dir) / "refused" / "v0001").is_dir()
    assert store.versions() == []


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: _flip_middle_byte(d / MODELS_FILE),
            "(checksum_mismatch: models.npz does not match its manifest entry)",
        ),
        (
            lambda d: _edit_manifest(d, lambda m: m.update(format_version=2)),
            "(format_version: format version 2, expected 1)",
        ),
    ],
    ids=["flipped_byte", "newer_format_version"],
)
async def test_damaged_shipped_model_is_a_translated_setup_error_and_home_assistant_runs_on(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    add_battery_device: Any,
    setup_integration: Setup,
    mock_config_entry: MockConfigEntry,
    damage: Callable[[Path], None],
    message: str,
) -> None:
    add_battery_device("Hall door")
    damage(shipped_model)
    mock_config_entry.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert mock_config_entry.reason == (
        f"The model shipped with HomeIQ Device Intelligence cannot be loaded {message}. "
        "Reinstall the integration"
    )
    assert hass.is_running
    assert hass.states.get(VERSION) is None
    assert issue_registry.async_get_issue(DOMAIN, "home_model_refused") is None
    # Home Assistant and the integration's actions still answer.
    hass.states.async_set("sensor.still_running", "yes")
    assert _state(hass, "sensor.still_running") == "yes"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, SERVICE_TRAIN, {}, blocking=True)
    assert err.value.translation_key == "not_loaded"


# ---------------------------------------------------------------------------
# 2. Faults and cancellation in training


async def test_an_error_inside_training_keeps_the_good_model_and_writes_nothing(
    hass: HomeAssistant,
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    add_battery_device: Any,
    setup_integration: Setup,
) -> None:
    _good_home_model(config_dir, shipped_model, make_bundle)
    add_battery_device("Hall door")
    await setup_integration()
    before = _files(_home(config_dir))
    steps: list[str] = []

    def failing_train_home(*args: Any, progress: Any, **kwargs: Any) -> TrainResult:
        progress(0.4, TrainingStep.FITTING, "battery_depleted")
        steps.append("fitting battery_depleted")
        raise FloatingPointError("overflow in the gradient")

    with patch.object(training, "train_home", failing_train_home):
        response = await _train(hass)

    assert steps == ["fitting battery_depleted"]
    assert response["status"] == "failed"
    assert response["model_version"] == GOOD
    status = hass.states.get(STATUS)
    assert status is not None
    assert status.state == "failed"
    assert status.attributes["error"] == "FloatingPointError: overflow in the gradient"
    assert status.attributes["progress"] is None
    assert _state(hass, VERSION) == GOOD
    assert _files(_home(config_dir)) == before


async def test_a_disk_full_while_deploying_keeps_the_good_model_and_leaves_no_partial_files(
    hass: HomeAssistant,
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    add_battery_device: Any,
    setup_integration: Setup,
) -> None:
    store = _good_home_model(config_dir, shipped_model, make_bundle)
    add_battery_device("Hall door")
    entry = await setup_integration()
    before = _files(_home(config_dir))

    def disk_full(data: Any, handle: Any, **kwargs: Any) -> None:
        handle.write('{"versions": ["v00')  # part of the index reached the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    with (
        patch.object(training, "train_home", return_value=_deployable(make_bundle)),
        patch.object(model_store, "json", SimpleNamespace(dump=disk_full, loads=json.loads)),
    ):
        response = await _train(hass)

    assert response["status"] == "failed"
    assert "No space left on device" in response["message"]
    assert _state(hass, STATUS) == "failed"
    assert _state(hass, VERSION) == GOOD
    # Neither the new version nor a temporary file is left behind.
    assert _files(_home(config_dir)) == before
    (_home(config_dir) / "index.json").write_text("{", encoding="utf-8")  # rebuilt from the folders
    assert store.load_active().version_id == "v0001"
    assert entry.runtime_data.coordinator.model.version_id == "v0001"


@pytest.fixture
def slow_to_stop_train_home(
    make_bundle: Callable[..., ModelBundle],
) -> Iterator[tuple[threading.Event, CodeType]]:
    """Replace train_home with one that runs until stopped, then takes a while to return.

    It then returns a model better than the current one: a run finishing just as
    it is cancelled must still not be deployed.
    """
    started = threading.Event()
    result = _deployable(make_bundle)

    def train_home(*args: Any, progress: Any, should_stop: Any, **kwargs: Any) -> TrainResult:
        progress(0.5, TrainingStep.FITTING, "unavailable")
        started.set()
        while not should_stop():
            threading.Event().wait(0.01)
        threading.Event().wait(0.3)  # a step that only checks should_stop at its end
        return result

    with patch.object(training, "train_home", train_home):
        yield started, train_home.__code__


async def test_home_assistant_stopping_mid_run_keeps_the_good_model_and_writes_nothing(
    hass: HomeAssistant,
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    add_battery_device: Any,
    setup_integration: Setup,
    slow_to_stop_train_home: tuple[threading.Event, CodeType],
) -> None:
    started, code = slow_to_stop_train_home
    _good_home_model(config_dir, shipped_model, make_bundle)
    add_battery_device("Hall door")
    entry = await setup_integration()
    before = _files(_home(config_dir))
    await hass.services.async_call(DOMAIN, SERVICE_TRAIN, {}, blocking=True)
    assert await hass.async_add_executor_job(started.wait, 5)

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()

    assert not entry.runtime_data.trainer.running
    assert _threads_running(code) == []
    assert entry.runtime_data.trainer.state.last_run["outcome"] == "cancelled"
    status = hass.states.get(STATUS)
    assert status is not None
    assert status.state == "idle"
    assert status.attributes["progress"] is None
    assert _state(hass, VERSION) == GOOD
    assert _files(_home(config_dir)) == before


async def test_two_training_requests_at_once_run_once_and_refuse_the_other(
    hass: HomeAssistant, add_battery_device: Any, setup_integration: Setup
) -> None:
    add_battery_device("Hall door")
    await setup_integration()
    release = threading.Event()
    calls: list[str] = []

    def train_home(*args: Any, mode: str, should_stop: Any, **kwargs: Any) -> TrainResult:
        calls.append(mode)
        while not (release.is_set() or should_stop()):
            release.wait(0.01)
        return _insufficient()

    with patch.object(training, "train_home", train_home):
        requests = [
            asyncio.ensure_future(_train(hass, mode="full")),
            asyncio.ensure_future(_train(hass, mode="incremental")),
        ]
        done, pending = await asyncio.wait(requests, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1
        assert len(pending) == 1
        refused = done.pop().exception()
        assert isinstance(refused, ServiceValidationError)
        assert refused.translation_domain == DOMAIN
        assert refused.translation_key == "training_in_progress"
        assert str(refused) == "A training run is already going; wait for it to finish"
        release.set()
        response = await pending.pop()

    assert response["status"] == "insufficient_data"
    assert len(calls) == 1


async def test_unload_mid_run_ends_the_task_and_the_thread(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    slow_to_stop_train_home: tuple[threading.Event, CodeType],
) -> None:
    started, code = slow_to_stop_train_home
    add_battery_device("Hall door")
    entry = await setup_integration()
    trainer = entry.runtime_data.trainer
    call = asyncio.ensure_future(_train(hass))
    assert await hass.async_add_executor_job(started.wait, 5)
    assert _threads_running(code) != []

    assert await hass.config_entries.async_unload(entry.entry_id)

    assert entry.state is ConfigEntryState.NOT_LOADED
    assert _training_tasks() == []
    assert _threads_running(code) == []
    assert not trainer.running
    assert trainer.state.last_run["outcome"] == "cancelled"
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "training_cancelled"
    # Loading again starts clean: the next run is not refused.
    assert await hass.config_entries.async_setup(entry.entry_id)
    with patch.object(training, "train_home", return_value=_insufficient()):
        assert (await _train(hass))["status"] == "insufficient_data"


# ---------------------------------------------------------------------------
# 3. Registry changes while training


async def test_devices_removed_renamed_or_disabled_mid_run_are_cleaned_up_on_the_next_refresh(
    hass: HomeAssistant,
    zha_entry: MockConfigEntry,
    make_bundle: Callable[..., ModelBundle],
    add_battery_device: Any,
    setup_integration: Setup,
    rescore: Rescore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    removed = add_battery_device("Door 0")
    disabled = add_battery_device("Door 1")
    renamed = add_battery_device("Door 2")
    entities = er.async_get(hass)
    garage = entities.async_get_or_create(
        "sensor",
        "zha",
        "garage-battery",
        original_device_class="battery",
        unit_of_measurement=PERCENTAGE,
        suggested_object_id="garage_battery",
        config_entry=zha_entry,
    )
    battery = {"device_class": "battery", "unit_of_measurement": PERCENTAGE}
    hass.states.async_set("sensor.garage_battery", "60", battery)
    entry = await setup_integration()
    ours = {e.unique_id: e.entity_id for e in er.async_entries_for_config_entry(entities, entry.entry_id)}
    lone = f"entity:{garage.id}_failure_probability"
    assert ours[lone] == "sensor.garage_battery_failure_probability"
    assert f"{removed.id}_failure_probability" in ours
    assert f"{disabled.id}_at_risk" in ours
    release = threading.Event()
    started = threading.Event()
    result = _deployable(make_bundle)

    def train_home(*args: Any, should_stop: Any, **kwargs: Any) -> TrainResult:
        started.set()
        while not (release.is_set() or should_stop()):
            release.wait(0.01)
        if should_stop():
            raise TrainingCancelled
        return result

    with patch.object(training, "train_home", train_home):
        call = asyncio.ensure_future(_train(hass))
        assert await hass.async_add_executor_job(started.wait, 5)
        # What the owning integrations do: their entities (and states) go or move.
        for entity_id in ("binary_sensor.door_0_contact", "sensor.door_0_battery"):
            hass.states.async_remove(entity_id)
        dr.async_get(hass).async_remove_device(removed.id)
        dr.async_get(hass).async_update_device(disabled.id, disabled_by=dr.DeviceEntryDisabler.USER)
        for old, new, attributes in (
            ("sensor.door_2_battery", "sensor.door_2_battery_level", battery),
            ("sensor.garage_battery", "sensor.garage_remote_battery", battery),
        ):
            entities.async_update_entity(old, new_entity_id=new)
            hass.states.async_remove(old)
            hass.states.async_set(new, "55", attributes)
        await hass.async_block_till_done()
        release.set()
        response = await call

    assert response["status"] == "deployed"
    ours = {e.unique_id: e.entity_id for e in er.async_entries_for_config_entry(entities, entry.entry_id)}
    for key in ("failure_probability", "battery_days_remaining", "at_risk"):
        assert f"{removed.id}_{key}" not in ours
        assert f"{disabled.id}_{key}" not in ours
        assert f"{renamed.id}_{key}" in ours
    assert ours[lone] == "sensor.garage_battery_failure_probability"  # renamed, the same entity
    assert hass.states.get("sensor.door_0_failure_probability") is None
    assert _state(hass, "sensor.door_2_failure_probability") != "unavailable"
    watched = entry.runtime_data.coordinator.data.devices
    assert {e.entity_id for e in watched[renamed.id].entities} == {
        "binary_sensor.door_2_contact",
        "sensor.door_2_battery_level",
    }
    assert _state(hass, "sensor.homeiq_device_intelligence_devices_monitored") == "2"

    await rescore()  # and the debounced registry rescan that follows changes nothing
    assert _state(hass, "sensor.homeiq_device_intelligence_devices_monitored") == "2"
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


# ---------------------------------------------------------------------------
# 4. Daylight-saving days


BERLIN = "Europe/Berlin"


@pytest.mark.parametrize(
    ("start", "runs"),
    [
        # 30 March 2025: at 02:00 clocks jump to 03:00, so 02:00 does not exist.
        (
            (2025, 3, 29, 12),
            [(2025, 3, 30, 3, "+02:00"), (2025, 3, 31, 2, "+02:00")],
        ),
        # 26 October 2025: at 03:00 clocks go back to 02:00, so 02:00 happens twice.
        (
            (2025, 10, 25, 12),
            [(2025, 10, 26, 2, "+02:00"), (2025, 10, 27, 2, "+01:00")],
        ),
    ],
    ids=["spring_forward", "fall_back"],
)
async def test_nightly_training_runs_once_on_daylight_saving_days(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    add_battery_device: Any,
    setup_integration: Setup,
    start: tuple[int, int, int, int],
    runs: list[tuple[int, int, int, int, str]],
) -> None:
    await hass.config.async_set_time_zone(BERLIN)
    zone = dt_util.get_default_time_zone()
    freezer.move_to(datetime(*start, tzinfo=zone) - timedelta(minutes=1))  # setup takes a minute
    add_battery_device("Hall door")
    started: list[str] = []

    def train_home(*args: Any, now: float, **kwargs: Any) -> TrainResult:
        started.append(dt_util.as_local(dt_util.utc_from_timestamp(now)).isoformat())
        return _insufficient()

    with patch.object(training, "train_home", train_home):
        await setup_integration()
        end = dt_util.utcnow() + timedelta(hours=42)
        while dt_util.utcnow() < end:
            freezer.tick(timedelta(minutes=20))
            async_fire_time_changed(hass)
            await hass.async_block_till_done(wait_background_tasks=True)

    assert started == [f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:00:00{offset}" for y, m, d, h, offset in runs]


# ---------------------------------------------------------------------------
# 5. Attributes the recorder keeps


def _attribute_sizes(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, int]:
    """Return the size of the attributes as the recorder stores them, per entity of ours."""
    sizes = {}
    for registered in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        state = hass.states.get(registered.entity_id)
        assert state is not None, registered.entity_id
        sizes[registered.entity_id] = len(json_bytes(dict(state.attributes)))
    return sizes


async def test_device_attributes_stay_small_whatever_the_model_explains(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    rescore: Rescore,
) -> None:
    name = "Upstairs hallway door by the linen cupboard " * 2  # long, but a real name
    add_battery_device(name.strip(), battery=5)
    add_battery_device("Kitchen", battery=5)
    types = {f"failure_type_{index:02d}_{'x' * 60}": index / 100 for index in range(60)}

    def verbose_score_home(history: Any, *args: Any, **kwargs: Any) -> list[DevicePrediction]:
        return [
            DevicePrediction(
                device_key=device.device_key,
                probability=0.99,
                failure_type=max(types, key=types.__getitem__),
                probabilities=types,
                reasons=tuple(
                    Reason(feature=f"feature_{index}", text="signal " * 150, weight=0.01)
                    for index in range(40)
                ),
                battery_days=1.5,
                battery_days_low=0.5,
                battery_days_high=3.0,
                anomaly=0.9,
            )
            for device in history.devices
        ]

    with patch.object(coordinator, "score_home", verbose_score_home):
        entry = await setup_integration()
        await rescore()  # a second scoring at risk turns the at-risk sensors on

    sizes = _attribute_sizes(hass, entry)
    assert _state(hass, "binary_sensor.kitchen_at_risk") == "on"
    assert len(sizes) == 7 + 2 * 5  # per device: probability, battery days, replace by, at risk, snooze
    assert max(sizes.values()) < 2048, sizes
    kitchen = hass.states.get("sensor.kitchen_failure_probability")
    assert kitchen is not None
    assert len(kitchen.attributes["reasons"]) == 3
    assert len(kitchen.attributes["probabilities"]) == 8
    assert kitchen.attributes["failure_type"] in kitchen.attributes["probabilities"]


async def test_attributes_stay_small_with_hundreds_of_devices_at_risk_and_a_long_error(
    hass: HomeAssistant,
    add_battery_device: Any,
    setup_integration: Setup,
    rescore: Rescore,
) -> None:
    count = 300
    for index in range(count):
        add_battery_device(f"Window sensor {index:03d}", battery=5)
    entry = await setup_integration()
    await rescore()
    assert _state(hass, "sensor.homeiq_device_intelligence_devices_at_risk") == str(count)
    # Database errors quote the statement, which names every entity read.
    statement = "SELECT * FROM states WHERE entity_id IN ({})".format(
        ", ".join(f"'sensor.window_sensor_{index:03d}_battery'" for index in range(count))
    )
    locked = OperationalError(statement, {}, Exception("database is locked"))
    with (
        patch.object(recorder_source, "RETRY_DELAYS", ()),
        patch.object(recorder_source, "plan_read", side_effect=locked),
    ):
        response = await _train(hass)
    assert response["status"] == "failed"

    sizes = _attribute_sizes(hass, entry)
    assert len(sizes) == 7 + 5 * count  # per device: probability, at risk, snooze, battery days, replace by
    assert max(sizes.values()) < 2048, max(sizes.items(), key=lambda item: item[1])
    status = hass.states.get(STATUS)
    assert status is not None
    assert status.attributes["error"].startswith(
        "Could not read the recorder: (builtins.Exception) database is locked"
    )
    assert status.attributes["error"].endswith("…")


# ---------------------------------------------------------------------------
# 6. Actions with bad data


@pytest.mark.parametrize(
    ("service", "data", "key"),
    [
        (SERVICE_TRAIN, {"mode": "turbo"}, "invalid_action_data"),
        (SERVICE_TRAIN, {"mode": 3}, "invalid_action_data"),
        (SERVICE_TRAIN, {"devices": [{"id": "abc"}]}, "invalid_action_data"),
        (SERVICE_TRAIN, {"devices": {"id": "abc"}}, "invalid_action_data"),
        (SERVICE_TRAIN, {"devices": ["not-a-device"]}, "devices_not_watched"),
        (SERVICE_TRAIN, {"model": "v0001"}, "invalid_action_data"),
        (SERVICE_ROLLBACK_MODEL, {"version": "v0001"}, "invalid_action_data"),
        (SERVICE_REFRESH_PREDICTIONS, {"devices": ["abc"]}, "invalid_action_data"),
    ],
    ids=[
        "unknown_mode",
        "mode_not_a_string",
        "device_not_a_string",
        "devices_not_a_list",
        "unknown_device",
        "unknown_field",
        "rollback_unknown_field",
        "refresh_unknown_field",
    ],
)
async def test_actions_with_bad_data_are_refused_in_words_and_change_nothing(
    hass: HomeAssistant,
    config_dir: Path,
    shipped_model: Path,
    make_bundle: Callable[..., ModelBundle],
    add_battery_device: Any,
    setup_integration: Setup,
    service: str,
    data: dict[str, Any],
    key: str,
) -> None:
    store = _good_home_model(config_dir, shipped_model, make_bundle)
    store.deploy(make_bundle(source="home"))
    add_battery_device("Hall door")
    entry = await setup_integration()
    runtime = entry.runtime_data
    scoring = runtime.coordinator.data
    last_run = dict(runtime.trainer.state.last_run)
    files = _files(_home(config_dir))

    with (
        patch.object(training, "train_home") as train_home,
        pytest.raises(ServiceValidationError) as err,
    ):
        await hass.services.async_call(DOMAIN, service, data, blocking=True)

    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    message = str(err.value)
    if key == "invalid_action_data":
        assert message.startswith(f"Invalid data for the {service} action: ")
        assert err.value.translation_placeholders is not None
        assert next(iter(data)) in err.value.translation_placeholders["error"]
    else:
        assert message == "These devices are not watched by HomeIQ: not-a-device"
    await hass.async_block_till_done(wait_background_tasks=True)
    train_home.assert_not_called()
    assert not runtime.trainer.running
    assert runtime.trainer.state.last_run == last_run
    assert runtime.coordinator.data is scoring
    assert _state(hass, VERSION) == "test-1+home.v0002"
    assert _files(_home(config_dir)) == files
