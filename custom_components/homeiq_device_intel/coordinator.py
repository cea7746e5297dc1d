"""Scores every watched device with the current model, hourly and after training."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field, replace
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
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .aggregates_store import AggregatesStore
from .const import (
    AT_RISK_OFF_SCORINGS,
    AT_RISK_ON_SCORINGS,
    AT_RISK_STORE,
    DOMAIN,
    EVENT_DEVICE_AT_RISK,
    LOGGER,
    OUTAGE_MIN_DURATION,
    REGISTRY_DEBOUNCE_SECONDS,
    SCORE_INTERVAL,
    SNOOZE_CUSTOM,
    SNOOZE_SAVE_DELAY,
    SNOOZES_STORE,
)
from .discovery import DeviceDiscovery, WatchedDevice
from .issues import async_update_home_outage, async_update_not_recorded, async_update_outages
from .lifecycle import WorkGuard, WorkStopped
from .ml.grid import BRIDGE_DOWN_SHARE, BRIDGE_MIN_DEVICES, HOME_MIN_DEVICES
from .ml.link import LinkQuality, link_quality
from .ml.scoring import SCORING_WINDOW_DAYS, DevicePrediction, SharedOutage, home_grid, score_home
from .model_store import ActiveModel
from .recorder_source import KeptHistory, RecorderReadError, with_stored_devices
from .risk import FULL, AtRiskTracker, RiskScore, reason_texts, risk_scores
from .settings import HomeIQSettings
from .snooze import SnoozeBook
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
    links: dict[str, LinkQuality] = field(default_factory=dict)
    at_risk: frozenset[str] = frozenset()  # at risk and not snoozed
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
            grace_seconds=3600.0 * settings.alert_grace_hours,
        )
        self._risk_store = StoredState(hass, AT_RISK_STORE)
        self.snoozes = SnoozeBook()
        self._snooze_store = StoredState(hass, SNOOZES_STORE)
        self._cancel_snooze_end: CALLBACK_TYPE | None = None
        # The scoring window's history, kept between scorings: each hour reads new rows only.
        self.kept_history = KeptHistory()
        self._scoring_lock = asyncio.Lock()

    async def _async_setup(self) -> None:
        """Restore the at-risk state and the snoozes so a restart does not re-alert."""
        if (saved := await self._risk_store.async_load()) is not None:
            self.risk.restore(saved)
        if (snoozes := await self._snooze_store.async_load()) is not None:
            self.snoozes.restore(snoozes)
        self.snoozes.expire(dt_util.utcnow())
        self._schedule_snooze_end()

    async def async_shutdown(self) -> None:
        """Save the at-risk state and the snoozes now rather than after the save delay."""
        self.async_cancel_snooze_end()
        await super().async_shutdown()
        await self._risk_store.async_save(self.risk.as_dict())
        await self._snooze_store.async_save(self.snoozes.as_dict())

    def watched_devices(self) -> dict[str, WatchedDevice]:
        """Return the devices to watch under the current options."""
        return self.discovery.discover(self.settings.device_filter)

    async def _async_update_data(self) -> HomeIQData:
        """Read the recent history of every watched device and score it.

        Once Home Assistant stops or the entry unloads, the scoring in flight
        ends at its next chunk and the last predictions stay. Home Assistant
        cancels the task of a scheduled scoring when it stops: that is a stop
        too, not a failed update (which would turn every entity unavailable
        at the next redraw, such as the end of a training the stop cut short).
        """
        try:
            async with self.guard.work():
                return await self._async_score_home()
        except WorkStopped:
            if self.data is not None:
                return self.data
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="stopping") from None
        except asyncio.CancelledError:
            if not self.guard.stopping or self.data is None or (task := asyncio.current_task()) is None:
                raise
            # The task ends here, with the last predictions; the guard waits for its thread. Every
            # cancel pending is absorbed (the stop's, and the trainer's at shutdown when this is its
            # refresh after a deploy): each caller ends right after the refresh, none goes on.
            task.uncancel()
            return self.data

    async def _async_predict(
        self, devices: dict[str, WatchedDevice], now: datetime
    ) -> tuple[dict[str, DevicePrediction], dict[str, LinkQuality]]:
        """Read the devices' recent history, extend it with the stored one, score it and rate the links.

        One scoring at a time: the next reading writes its new rows into the
        arrays of the kept window (`KeptHistory`), which this one is still using.
        """
        async with self._scoring_lock:
            return await self._async_read_and_score(devices, now)

    async def _async_read_and_score(
        self, devices: dict[str, WatchedDevice], now: datetime
    ) -> tuple[dict[str, DevicePrediction], dict[str, LinkQuality]]:
        """`_async_predict` once it holds the lock."""
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
        stored = self.aggregates_store.grid
        # Not into the kept window: it stays what a full read returns.
        history = with_stored_devices(history, devices, stored)
        run = partial(self.guard.async_run, self.hass.async_add_executor_job)
        grid = await run(partial(home_grid, history, now=now.timestamp(), stored=stored))
        scored = await run(
            partial(
                score_home,
                history,
                self.model.bundle,
                now=now.timestamp(),
                horizon_days=self.settings.horizon_days,
                grid=grid,
                battery_log=self.aggregates_store.battery_log,
            )
        )
        links = await run(partial(link_quality, grid))
        if self.aggregates_store.behind(now.timestamp()):
            # No training kept the history for a day (nightly training off, or failing): this
            # grid, merged with the stored one, keeps it beyond the recorder's purge window.
            try:
                await run(partial(self.aggregates_store.keep, grid, history.battery_swaps))
            except OSError as err:  # the scoring stands; the next hour tries again
                LOGGER.warning("Stored history could not be saved (%s)", err)
        return (
            {p.device_key: p for p in scored if p.device_key in devices},
            {key: link for key, link in links.items() if key in devices},
        )

    async def _async_score_home(self) -> HomeIQData:
        """Score the watched devices and update the at-risk state and the issues."""
        devices = self.watched_devices()
        now = dt_util.utcnow()
        predictions, links = await self._async_predict(devices, now) if devices else ({}, {})
        scores = risk_scores(predictions, self.model.bundle, self.settings.risk_threshold)
        turned_on = self.risk.update(scores, now=now.timestamp())
        self._risk_store.async_delay_save(self.risk.as_dict, RISK_SAVE_DELAY)
        if recovered := self.snoozes.recover(self._healthy(predictions, scores)):
            LOGGER.info("Acknowledgement ended, recovered: %s", ", ".join(sorted(recovered)))
            self._snooze_store.async_delay_save(self.snoozes.as_dict, SNOOZE_SAVE_DELAY)
        snoozed = self.snoozes.snoozed(now)
        for key in turned_on:
            if key not in snoozed:
                self._fire_at_risk(devices[key], predictions[key])
        self._update_issues(devices, predictions)
        return HomeIQData(
            devices=devices,
            predictions=predictions,
            links=links,
            at_risk=self.risk.at_risk - snoozed,
            scored_at=now,
        )

    def _healthy(self, predictions: dict[str, DevicePrediction], scores: dict[str, RiskScore]) -> set[str]:
        """Devices whose failure has cleared: not at risk, not failing, below every release point."""
        at_risk = self.risk.at_risk  # built on each access: once, not per device
        return {
            key
            for key, score in scores.items()
            if key not in at_risk and not predictions[key].failing_now and score.hold < FULL
        }

    @callback
    def async_acknowledge(self, keys: list[str]) -> None:
        """Quiet devices until they recover: no at-risk alert until a scoring finds them healthy."""
        self.snoozes.acknowledge(keys)
        self._snoozes_changed()

    @callback
    def async_snooze(self, keys: list[str], until: datetime, preset: str = SNOOZE_CUSTOM) -> None:
        """Snooze devices until a time: no at-risk alert for them until then."""
        self.snoozes.snooze(keys, until, preset)
        self._snoozes_changed()

    @callback
    def async_unsnooze(self, keys: list[str]) -> None:
        """End the snooze of devices; one still at risk is alerted at once."""
        self.snoozes.unsnooze(keys)
        self._snoozes_changed()

    @callback
    def _snoozes_changed(self) -> None:
        """Save the snoozes, move the timer of the next snooze end and show the new at-risk state."""
        self._snooze_store.async_delay_save(self.snoozes.as_dict, SNOOZE_SAVE_DELAY)
        self._schedule_snooze_end()
        data = self.data
        if data is None:
            return
        at_risk = self.risk.at_risk.intersection(data.devices) - self.snoozes.snoozed(dt_util.utcnow())
        for key in at_risk - data.at_risk:
            if (prediction := data.predictions.get(key)) is not None:
                self._fire_at_risk(data.devices[key], prediction)
        self.data = replace(data, at_risk=at_risk)
        self.async_update_listeners()

    @callback
    def _schedule_snooze_end(self) -> None:
        """Wake up when the first snooze ends (never once the entry stops)."""
        self.async_cancel_snooze_end()
        if (end := self.snoozes.next_end()) is None or self.guard.stopping:
            return
        self._cancel_snooze_end = async_track_point_in_utc_time(self.hass, self._async_snooze_ended, end)

    @callback
    def _async_snooze_ended(self, now: datetime) -> None:
        """Forget the snoozes that ended and alert the devices still at risk."""
        self._cancel_snooze_end = None
        self.snoozes.expire(dt_util.utcnow())
        self._snoozes_changed()

    @callback
    def async_cancel_snooze_end(self) -> None:
        """Cancel the timer of the next snooze end."""
        if self._cancel_snooze_end is not None:
            self._cancel_snooze_end()
            self._cancel_snooze_end = None

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

    def _update_issues(
        self, devices: dict[str, WatchedDevice], predictions: dict[str, DevicePrediction]
    ) -> None:
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
        home = self._update_home_outage(devices, predictions)
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
                if totals[group] >= BRIDGE_MIN_DEVICES
                and down[group] >= BRIDGE_DOWN_SHARE * totals[group]
                and group not in home
            },
        )

    def _update_home_outage(
        self, devices: dict[str, WatchedDevice], predictions: dict[str, DevicePrediction]
    ) -> set[str]:
        """Raise or clear the issue of a home-wide outage; return the groups it took devices of.

        Read off the scoring (`SharedOutage.HOME`: down together across integrations in the
        recorder's history), not off the states now: after a restart, every device still down
        shows `unavailable` since the restart, as if they had all gone down together. A group
        the home's outage took devices of gets no issue of its own: one event, one issue.
        """
        down = [
            devices[key]
            for key, prediction in predictions.items()
            if prediction.shared_outage == SharedOutage.HOME and key in devices
        ]
        if len(down) < HOME_MIN_DEVICES:
            async_update_home_outage(self.hass, (), (), "")
            return set()
        began = min(
            predictions[device.key].shared_outage_since or dt_util.utcnow().timestamp() for device in down
        )
        async_update_home_outage(
            self.hass,
            (device.name for device in down),
            (device.group_name for device in down),
            dt_util.as_local(dt_util.utc_from_timestamp(began)).strftime("%Y-%m-%d %H:%M"),
        )
        return {device.group for device in down}

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
