"""Fixtures for the Home Assistant tests of HomeIQ Device Intelligence."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.homeiq_device_intel.const import CONFIG_MINOR_VERSION, DEFAULT_OPTIONS, DOMAIN
from custom_components.homeiq_device_intel.ml.bundle import (
    BinaryClassifier,
    ModelBundle,
    save_bundle,
)
from custom_components.homeiq_device_intel.ml.features import (
    FEATURE_NAMES,
    FEATURE_SCHEMA_VERSION,
)
from custom_components.homeiq_device_intel.ml.learning import TrainingCancelled, TrainingStep
from custom_components.homeiq_device_intel.ml.trees.layout import MissingType, TreeEnsemble

SHIPPED_VERSION = "test-1"

# The test harness logs every SQL statement; that drowns the output and slows the tests.
logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


@pytest.fixture(autouse=True)
def auto_enable(recorder_mock: Any, enable_custom_integrations: None) -> None:
    """Run every test with the real recorder and our custom integration."""


@pytest.fixture(autouse=True)
async def unload_before_the_recorder_closes(hass: HomeAssistant, recorder_mock: Any) -> AsyncGenerator[None]:
    """At teardown, unload our entries before the harness shuts the recorder down.

    The harness closes the recorder's database (its fixture's teardown) while
    Home Assistant still runs, and stops Home Assistant only afterwards. In a
    real stop our work ends at EVENT_HOMEASSISTANT_STOP, before the recorder
    closes at the final write; without this, an hourly scoring firing in that
    window reads from a database being closed, which can crash the process.
    """
    yield
    if hass.state is not CoreState.running:
        return
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)


# Where a test on the frozen clock starts, in the test time zone, unless it moves the clock itself.
# At the real time, a test moving the clock some hours on crossed the nightly run (02:00) or
# midnight only when run at certain hours of the day. Noon is far from both.
FROZEN_CLOCK_START = (2026, 6, 15, 12, 0)


@pytest.fixture(autouse=True)
def frozen_clock_starts_at_noon(request: pytest.FixtureRequest, hass: HomeAssistant) -> None:
    """Start the frozen clock (a test's `freezer`, also through `rescore`) at a fixed noon."""
    if "freezer" in request.fixturenames:
        freezer: FrozenDateTimeFactory = request.getfixturevalue("freezer")
        freezer.move_to(datetime(*FROZEN_CLOCK_START, tzinfo=dt_util.get_default_time_zone()))


@pytest.fixture(autouse=True)
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Keep files the integration writes (home models) in a temporary folder."""
    hass.config.config_dir = str(tmp_path / "config")
    return tmp_path / "config"


def _split_tree(feature: str, threshold: float, left: float, right: float) -> dict[str, Any]:
    """Arrays of one tree: left leaf when the feature is <= threshold (or missing: right)."""
    return {
        "split_feature": [FEATURE_NAMES.index(feature), -1, -1],
        "threshold": [threshold, 0.0, 0.0],
        "left_child": [1, -1, -1],
        "right_child": [2, -1, -1],
        "default_left": [False, False, False],
        "missing_type": [int(MissingType.NAN), int(MissingType.NONE), int(MissingType.NONE)],
        "value": [0.0, left, right],
    }


def _ensemble(objective: str, tree: dict[str, Any]) -> TreeEnsemble:
    """A one-tree ensemble over the real feature vector."""
    return TreeEnsemble(
        n_features=len(FEATURE_NAMES),
        objective=objective,  # type: ignore[arg-type]
        tree_offsets=np.array([0, 3], dtype=np.int32),
        split_feature=np.array(tree["split_feature"], dtype=np.int32),
        threshold=np.array(tree["threshold"], dtype=np.float64),
        left_child=np.array(tree["left_child"], dtype=np.int32),
        right_child=np.array(tree["right_child"], dtype=np.int32),
        default_left=np.array(tree["default_left"], dtype=np.bool_),
        missing_type=np.array(tree["missing_type"], dtype=np.int8),
        value=np.array(tree["value"], dtype=np.float64),
    )


def build_bundle(
    version: str = SHIPPED_VERSION, *, unavailable_margin: float = -5.0, **metadata: Any
) -> ModelBundle:
    """A tiny real bundle: a low battery means a likely battery failure, nothing else does.

    ``unavailable_margin`` sets the (constant) score for going offline: a high
    one is a badly calibrated model that training on the home's history beats.
    """
    battery = _split_tree("battery_level", 15.0, 4.0, -4.0)
    quiet = _split_tree("hours_unavailable_now", 1e9, -5.0, -5.0)
    offline = _split_tree("hours_unavailable_now", 1e9, unavailable_margin, unavailable_margin)
    return ModelBundle(
        feature_names=FEATURE_NAMES,
        schema_version=FEATURE_SCHEMA_VERSION,
        classifiers={
            "battery_depleted": BinaryClassifier(ensemble=_ensemble("binary", battery)),
            "unavailable": BinaryClassifier(ensemble=_ensemble("binary", offline)),
            "stale": BinaryClassifier(ensemble=_ensemble("binary", quiet)),
        },
        regressors={
            name: _ensemble("regression", _split_tree("battery_level", 15.0, low, high))
            for name, low, high in (
                ("battery_days_q10", 2.0, 60.0),
                ("battery_days_q50", 5.0, 120.0),
                ("battery_days_q90", 9.0, 200.0),
            )
        },
        metadata={
            "version": version,
            "source": "shipped",
            "created": "2025-01-01T00:00:00+00:00",
            "horizon_days": 7.0,
            # A healthy device: reasons explain the distance from it.
            "reference": [100.0 if name == "battery_level" else 0.0 for name in FEATURE_NAMES],
            "metrics": {
                "pr_auc": 0.9,
                "f1": 0.85,
                "precision": 0.86,
                "recall": 0.84,
                "brier": 0.05,
                "battery_depleted_alert_precision": 0.5,
                "battery_depleted_alerts": 10,
                "battery_depleted_event_recall": 0.7,
                "battery_depleted_lead_days_median": 4.5,
                "unavailable_alert_precision": 0.3,
                "unavailable_alerts": 30,
            },
            **metadata,
        },
    )


@pytest.fixture
def make_bundle() -> Callable[..., ModelBundle]:
    """Return the factory of tiny real model bundles."""
    return build_bundle


@pytest.fixture(autouse=True)
def shipped_model(tmp_path: Path) -> Generator[Path]:
    """Ship the tiny bundle instead of the packaged model."""
    directory = tmp_path / "shipped"
    save_bundle(build_bundle(), directory)
    with patch("custom_components.homeiq_device_intel.SHIPPED_MODEL_DIR", directory):
        yield directory


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """Our config entry with the default options, as this release creates it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="HomeIQ Device Intelligence",
        data={},
        options=dict(DEFAULT_OPTIONS),
        minor_version=CONFIG_MINOR_VERSION,
    )


@pytest.fixture
def zha_entry(hass: HomeAssistant) -> MockConfigEntry:
    """A config entry of another integration that owns the devices we watch."""
    entry = MockConfigEntry(domain="zha", title="Zigbee")
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
def add_battery_device(hass: HomeAssistant, zha_entry: MockConfigEntry) -> Callable[..., dr.DeviceEntry]:
    """Return a factory registering battery sensor devices (a door contact and a battery %)."""

    def add(
        name: str,
        *,
        battery: float | None = 90.0,
        area_id: str | None = None,
        owner: MockConfigEntry | None = None,
    ) -> dr.DeviceEntry:
        owner = owner or zha_entry
        slug = name.lower().replace(" ", "_")
        devices = dr.async_get(hass)
        device = devices.async_get_or_create(
            config_entry_id=owner.entry_id,
            identifiers={(owner.domain, slug)},
            name=name,
            manufacturer="Acme",
            model="Door sensor",
        )
        if area_id is not None:
            device = devices.async_update_device(device.id, area_id=area_id) or device
        entities = er.async_get(hass)
        entities.async_get_or_create(
            "binary_sensor",
            owner.domain,
            f"{slug}-contact",
            device_id=device.id,
            original_device_class="door",
            suggested_object_id=f"{slug}_contact",
            config_entry=owner,
        )
        entities.async_get_or_create(
            "sensor",
            owner.domain,
            f"{slug}-battery",
            device_id=device.id,
            original_device_class="battery",
            unit_of_measurement=PERCENTAGE,
            entity_category=EntityCategory.DIAGNOSTIC,
            suggested_object_id=f"{slug}_battery",
            config_entry=owner,
        )
        hass.states.async_set(f"binary_sensor.{slug}_contact", "off", {"device_class": "door"})
        if battery is not None:
            hass.states.async_set(
                f"sensor.{slug}_battery",
                str(battery),
                {
                    "device_class": "battery",
                    "unit_of_measurement": PERCENTAGE,
                    "state_class": "measurement",
                },
            )
        return device

    return add


@pytest.fixture
def setup_integration(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_config_entry: MockConfigEntry
) -> Callable[[], Awaitable[MockConfigEntry]]:
    """Return a coroutine that records the states written so far, then sets up our entry."""

    async def setup() -> MockConfigEntry:
        freezer.tick(timedelta(minutes=1))
        await async_wait_recording_done(hass)
        if hass.config_entries.async_get_entry(mock_config_entry.entry_id) is None:
            mock_config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
        return mock_config_entry

    return setup


@pytest.fixture
def rescore(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> Callable[[], Awaitable[None]]:
    """Return a coroutine that records what was written, then lets the hourly scoring run."""

    async def run() -> None:
        freezer.tick(timedelta(minutes=1))
        await async_wait_recording_done(hass)
        # Recording fires the time-changed listeners too, which may start a
        # registry-triggered scoring; a full interval more guarantees a fresh one.
        freezer.tick(timedelta(hours=1, minutes=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)

    return run


@pytest.fixture
def seed_history(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    add_battery_device: Callable[..., dr.DeviceEntry],
) -> Callable[..., Awaitable[list[dr.DeviceEntry]]]:
    """Return a coroutine writing weeks of history of six battery doors into the recorder.

    Two batteries drain to empty within the window, and one door drops off for
    half a day on ``outage_day`` (two thirds into the window by default). States
    are written every 6 hours at their real (frozen) times; battery levels are
    also imported as hourly long-term statistics.
    """

    async def seed(days: int, outage_day: int | None = None) -> list[dr.DeviceEntry]:
        end = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(days=days)
        freezer.move_to(start)
        drain = [4.5, 4.0, 0.5, 0.6, 0.4, 0.7]  # percent per day
        devices = [add_battery_device(f"Door {i}", battery=100.0) for i in range(len(drain))]
        first_down = start + timedelta(days=days * 2 // 3 if outage_day is None else outage_day)
        outage = (first_down, first_down + timedelta(hours=12))
        statistics: dict[str, list[StatisticData]] = {}
        for step in range(days * 4):
            at = start + timedelta(hours=6 * step)
            freezer.move_to(at)
            for index, rate in enumerate(drain):
                slug = f"door_{index}"
                level = max(0.0, 100.0 - rate * step / 4)
                down = index == 2 and outage[0] <= at < outage[1]
                contact = "unavailable" if down else ("on" if step % 2 else "off")
                hass.states.async_set(f"binary_sensor.{slug}_contact", contact)
                hass.states.async_set(
                    f"sensor.{slug}_battery",
                    "unavailable" if down else f"{level:.0f}",
                    {"device_class": "battery", "unit_of_measurement": PERCENTAGE},
                )
                for hour in range(6):
                    value = max(0.0, 100.0 - rate * (step * 6 + hour) / 24)
                    statistics.setdefault(slug, []).append(
                        StatisticData(start=at + timedelta(hours=hour), mean=value, min=value, max=value)
                    )
        freezer.move_to(end)
        for slug, rows in statistics.items():
            async_import_statistics(hass, battery_statistics_metadata(f"sensor.{slug}_battery"), rows)
        await async_wait_recording_done(hass)
        return devices

    return seed


def battery_statistics_metadata(statistic_id: str) -> StatisticMetaData:
    """The metadata of a battery sensor's hourly mean statistics, as the recorder compiles them."""
    metadata = StatisticMetaData(
        has_mean=True,
        mean_type=StatisticMeanType.ARITHMETIC,
        has_sum=False,
        name=None,
        source="recorder",
        statistic_id=statistic_id,
        unit_of_measurement=PERCENTAGE,
    )
    if "unit_class" in StatisticMetaData.__annotations__:  # newer HA requires it
        metadata["unit_class"] = None  # type: ignore[typeddict-unknown-key]
    return metadata


@pytest.fixture
def blocking_train_home() -> Generator[tuple[threading.Event, threading.Event]]:
    """Replace train_home with one that reports progress, then waits to be stopped."""
    started = threading.Event()
    stopped = threading.Event()

    def train_home(*args: Any, progress: Any, should_stop: Any, **kwargs: Any) -> Any:
        progress(0.5, TrainingStep.FITTING, "unavailable")
        progress(0.501, TrainingStep.FITTING, "unavailable")  # the same whole percent: shown once
        started.set()
        while not should_stop():
            stopped.wait(0.01)
        stopped.set()
        raise TrainingCancelled

    with patch("custom_components.homeiq_device_intel.training.train_home", train_home):
        yield started, stopped
