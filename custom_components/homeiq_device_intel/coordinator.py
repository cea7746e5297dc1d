"""Scores every watched device with the current model, hourly and after training."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Final

from homeassistant.components.recorder import is_entity_recorded
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import CALLBACK_TYPE, CoreState, Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .aggregates_store import AggregatesStore
from .const import (
    AT_RISK_HYSTERESIS,
    AT_RISK_OFF_SCORINGS,
    AT_RISK_ON_SCORINGS,
    DOMAIN,
    EVENT_DEVICE_AT_RISK,
    LOGGER,
    OUTAGE_MIN_DURATION,
    REGISTRY_DEBOUNCE_SECONDS,
    SCORE_INTERVAL,
)
from .discovery import DeviceDiscovery, WatchedDevice
from .issues import async_update_not_recorded, async_update_outages
from .lifecycle import WorkGuard, WorkStopped
from .ml.grid import BRIDGE_DOWN_SHARE, BRIDGE_MIN_DEVICES
from .ml.pipeline import SCORING_WINDOW_DAYS, DevicePrediction, home_grid, score_home
from .model_store import ActiveModel
from .recorder_source import KeptHistory, RecorderReadError
from .risk import AtRiskTracker, reason_texts, risk_scores
from .settings import HomeIQSettings
from .stored_state import StoredState

if TYPE_CHECKING:
    from .model_store import ModelStore
    from .training import TrainingManager

type HomeIQConfigEntry = ConfigEntry[HomeIQRuntimeData]

SCORE_WINDOW: Final = timedelta(days=SCORING_WINDOW_DAYS)
RISK_SAVE_DELAY: Final = 30
RELEVANT_DEVICE_CHANGES: Final = frozenset(
    {"area_id", "config_entries", "disabled_by", "entry_type", "name", "name_by_user", "via_device_id"}
)
RELEVANT_ENTITY_CHANGES: Final = frozenset(
    {
        "area_id",
        "device_class",
        "device_id",
        "disabled_by",
        "entity_category",
        "entity_id",
        "original_device_class",
        "unit_of_measurement",
    }
)


@dataclass(slots=True)
class HomeIQRuntimeData:
    """What a loaded config entry holds."""

    coordinator: HomeIQCoordinator
    trainer: TrainingManager
    store: ModelStore


@dataclass(slots=True, kw_only=True)
class HomeIQData:
    """The latest scoring of the home."""

    devices: dict[str, WatchedDevice] = field(default_factory=dict)
    predictions: dict[str, DevicePrediction] = field(default_factory=dict)
    at_risk: frozenset[str] = frozenset()
    scored_at: datetime | None = None


def probability_percent(prediction: DevicePrediction) -> float:
    """Return a prediction's failure probability in percent, rounded for display."""
    return round(100.0 * prediction.probability, 1)


class HomeIQCoordinator(DataUpdateCoordinator[HomeIQData]):
    """Discover devices, read their history and score them."""

    config_entry: HomeIQConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: HomeIQConfigEntry,
        settings: HomeIQSettings,
        model: ActiveModel,
        aggregates_store: AggregatesStore,
        guard: WorkGuard,
    ) -> None:
        """Set up the coordinator with the model to score with."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=DOMAIN,
            update_interval=SCORE_INTERVAL,
        )
        self.settings = settings
        self.model = model
        self.aggregates_store = aggregates_store
        self.guard = guard
        self.discovery = DeviceDiscovery(hass)
        self.risk = AtRiskTracker(
            on_after=AT_RISK_ON_SCORINGS,
            off_after=AT_RISK_OFF_SCORINGS,
            hysteresis=AT_RISK_HYSTERESIS,
        )
        self._risk_store = StoredState(hass, f"{DOMAIN}.at_risk")
        # The scoring window's history, kept between scorings: each hour reads new rows only.
        self.kept_history = KeptHistory()

    async def _async_setup(self) -> None:
        """Restore the at-risk state so a restart does not re-alert."""
        if (saved := await self._risk_store.async_load()) is not None:
            self.risk.restore(saved)

    async def async_shutdown(self) -> None:
        """Save the at-risk state now rather than after the save delay."""
        await super().async_shutdown()
        await self._risk_store.async_save(self.risk.as_dict())

    def watched_devices(self) -> dict[str, WatchedDevice]:
        """Return the devices to watch under the current options."""
        return self.discovery.discover(self.settings.device_filter)

    async def _async_update_data(self) -> HomeIQData:
        """Read the recent history of every watched device and score it.

        Once Home Assistant stops or the entry unloads, the scoring in flight
        ends at its next chunk and the last predictions stay.
        """
        try:
            async with self.guard.work():
                return await self._async_score_home()
        except WorkStopped:
            if self.data is not None:
                return self.data
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="stopping") from None

    async def _async_predict(
        self, devices: dict[str, WatchedDevice], now: datetime
    ) -> dict[str, DevicePrediction]:
        """Read the devices' recent history, extend it with the stored one and score it."""
        try:
            history = await self.kept_history.async_read(
                self.hass, devices, start=now - SCORE_WINDOW, end=now, guard=self.guard
            )
        except RecorderReadError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="recorder_read_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        run = partial(self.guard.async_run, self.hass.async_add_executor_job)
        grid = await run(partial(home_grid, history, now=now.timestamp(), stored=self.aggregates_store.grid))
        scored = await run(
            partial(
                score_home,
                history,
                self.model.bundle,
                now=now.timestamp(),
                horizon_days=self.settings.horizon_days,
                grid=grid,
            )
        )
        return {p.device_key: p for p in scored if p.device_key in devices}

    async def _async_score_home(self) -> HomeIQData:
        """Score the watched devices and update the at-risk state and the issues."""
        devices = self.watched_devices()
        now = dt_util.utcnow()
        predictions = await self._async_predict(devices, now) if devices else {}
        scores, threshold = risk_scores(predictions, self.model.bundle, self.settings.risk_threshold)
        turned_on = self.risk.update(scores, threshold)
        self._risk_store.async_delay_save(self.risk.as_dict, RISK_SAVE_DELAY)
        for key in turned_on:
            self._fire_at_risk(devices[key], predictions[key])
        self._update_issues(devices)
        return HomeIQData(
            devices=devices,
            predictions=predictions,
            at_risk=self.risk.at_risk,
            scored_at=now,
        )

    def _fire_at_risk(self, device: WatchedDevice, prediction: DevicePrediction) -> None:
        """Tell automations a device has just become at risk."""
        LOGGER.info(
            "%s is at risk (%s, %.0f%%)",
            device.name,
            prediction.failure_type,
            100 * prediction.probability,
        )
        self.hass.bus.async_fire(
            EVENT_DEVICE_AT_RISK,
            {
                "device_id": device.device_id,
                "device_key": device.key,
                "device_name": device.name,
                "failure_type": prediction.failure_type,
                "probability": probability_percent(prediction),
                "reasons": reason_texts(prediction),
            },
        )

    def _update_issues(self, devices: dict[str, WatchedDevice]) -> None:
        """Raise or clear the issues that follow from the watched devices' state."""
        not_recorded = {
            entity.entity_id
            for device in devices.values()
            for entity in device.entities
            if not is_entity_recorded(self.hass, entity.entity_id)
        }
        async_update_not_recorded(self.hass, not_recorded)
        if self.hass.state is not CoreState.running:
            # While Home Assistant starts, integrations still loading look unavailable.
            return
        since = dt_util.utcnow() - OUTAGE_MIN_DURATION
        totals: Counter[str] = Counter()
        down: Counter[str] = Counter()
        names: dict[str, str] = {}
        for device in devices.values():
            totals[device.group] += 1
            names[device.group] = device.group_name
            if self._unavailable_since(device, since):
                down[device.group] += 1
        async_update_outages(
            self.hass,
            {
                group: (names[group], down[group], totals[group])
                for group in down
                if totals[group] >= BRIDGE_MIN_DEVICES and down[group] >= BRIDGE_DOWN_SHARE * totals[group]
            },
        )

    def _unavailable_since(self, device: WatchedDevice, since: datetime) -> bool:
        """Return whether every entity of a device has been unavailable since ``since``."""
        states = [self.hass.states.get(entity.entity_id) for entity in device.entities]
        known = [state for state in states if state is not None]
        return bool(known) and all(
            state.state == STATE_UNAVAILABLE and state.last_changed <= since for state in known
        )

    @callback
    def async_track_registries(self) -> CALLBACK_TYPE:
        """Rescore (debounced) when devices or entities come, go or change."""
        debouncer = Debouncer(
            self.hass,
            LOGGER,
            cooldown=REGISTRY_DEBOUNCE_SECONDS,
            immediate=False,
            function=self.async_refresh,
        )
        # Not async_cancel(): a refresh still running would re-arm the cooldown timer.
        self.guard.async_on_stop(debouncer.async_shutdown)

        @callback
        def _device_changed(event: Event[dr.EventDeviceRegistryUpdatedData]) -> None:
            data = event.data
            if data["action"] != "update" or RELEVANT_DEVICE_CHANGES.intersection(data["changes"]):
                debouncer.async_schedule_call()

        @callback
        def _entity_changed(event: Event[er.EventEntityRegistryUpdatedData]) -> None:
            data = event.data
            entry = er.async_get(self.hass).async_get(data["entity_id"])
            if entry is not None and entry.platform == DOMAIN:
                return
            if data["action"] == "update" and not RELEVANT_ENTITY_CHANGES.intersection(data["changes"]):
                return
            debouncer.async_schedule_call()

        unsubscribers = (
            self.hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, _device_changed),
            self.hass.bus.async_listen(er.EVENT_ENTITY_REGISTRY_UPDATED, _entity_changed),
        )

        @callback
        def _stop() -> None:
            for unsubscribe in unsubscribers:
                unsubscribe()
            debouncer.async_shutdown()

        return _stop

    def set_model(self, model: ActiveModel) -> None:
        """Switch to another model; the caller refreshes the predictions."""
        self.model = model
