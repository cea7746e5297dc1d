"""Actions: train now, refresh predictions, roll the model back, snooze, acknowledge and unsnooze devices."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from typing import Any, cast

import voluptuous as vol
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

from .const import (
    ATTR_DEVICES,
    ATTR_DURATION,
    ATTR_MODE,
    DOMAIN,
    MAX_SNOOZE,
    PSEUDO_DEVICE_PREFIX,
    SERVICE_ACKNOWLEDGE,
    SERVICE_REFRESH_PREDICTIONS,
    SERVICE_ROLLBACK_MODEL,
    SERVICE_SNOOZE,
    SERVICE_TRAIN,
    SERVICE_UNSNOOZE,
    TRAINING_MODES,
)
from .coordinator import HomeIQConfigEntry, HomeIQRuntimeData
from .discovery import lone_key
from .issues import async_clear_model_refused, async_raise_model_refused
from .lifecycle import WorkStopped
from .ml.learning import TrainMode
from .model_store import ActiveModel, NothingToRollBack
from .training import RollbackInProgress, TrainingAlreadyRunning

_LOGGER = logging.getLogger(__name__)


def _translated(action: str, schema: vol.Schema) -> vol.Schema:
    """Wrap an action's schema so bad data raises a translated ServiceValidationError.

    Home Assistant raises a schema's bare ``vol.Invalid``, which is not translated.
    """

    def validate(data: Any) -> Any:
        try:
            return schema(data)
        # cv.time_period builds a timedelta: a duration too large for one raises OverflowError.
        except (vol.Invalid, OverflowError) as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_action_data",
                translation_placeholders={"action": action, "error": str(err)},
            ) from err

    return vol.Schema(validate)


TRAIN_SCHEMA = _translated(
    SERVICE_TRAIN,
    vol.Schema(
        {
            vol.Optional(ATTR_MODE): vol.In(TRAINING_MODES),
            vol.Optional(ATTR_DEVICES): vol.All(cv.ensure_list, [cv.string]),
        }
    ),
)
REFRESH_PREDICTIONS_SCHEMA = _translated(SERVICE_REFRESH_PREDICTIONS, vol.Schema({}))
ROLLBACK_MODEL_SCHEMA = _translated(SERVICE_ROLLBACK_MODEL, vol.Schema({}))
SNOOZE_SCHEMA = _translated(
    SERVICE_SNOOZE,
    vol.Schema(
        {
            vol.Required(ATTR_DEVICES): vol.All(cv.ensure_list, [cv.string]),
            vol.Required(ATTR_DURATION): cv.time_period,
        }
    ),
)
ACKNOWLEDGE_SCHEMA = _translated(
    SERVICE_ACKNOWLEDGE, vol.Schema({vol.Required(ATTR_DEVICES): vol.All(cv.ensure_list, [cv.string])})
)
UNSNOOZE_SCHEMA = _translated(
    SERVICE_UNSNOOZE, vol.Schema({vol.Optional(ATTR_DEVICES): vol.All(cv.ensure_list, [cv.string])})
)


def _loaded_entry(hass: HomeAssistant) -> HomeIQConfigEntry:
    """Return the loaded config entry, or tell the user there is none."""
    entries = hass.config_entries.async_loaded_entries(DOMAIN)
    if not entries:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")
    return cast(HomeIQConfigEntry, entries[0])


def _watched(entry: HomeIQConfigEntry, device_keys: list[str]) -> list[str]:
    """Return the watch keys of the devices (registry ids or watch keys) if HomeIQ watches them all.

    Tells which it does not watch otherwise. A lone entity may also be given as
    ``entity:<entity_id>``, as earlier releases keyed it (automations written then).
    """
    coordinator = entry.runtime_data.coordinator
    registry = er.async_get(coordinator.hass)
    keys = {key: _lone_entity_key(registry, key) for key in device_keys}
    unknown = {key for key, current in keys.items() if current not in coordinator.data.devices}
    if unknown:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="devices_not_watched",
            translation_placeholders={"devices": ", ".join(sorted(unknown))},
        )
    return [keys[key] for key in device_keys]


def _lone_entity_key(registry: er.EntityRegistry, key: str) -> str:
    """Return the watch key of a lone entity given as ``entity:<entity_id>``; any other key as it is."""
    entity_id = key.removeprefix(PSEUDO_DEVICE_PREFIX)
    if entity_id != key and (found := registry.async_get(entity_id)) is not None and found.device_id is None:
        return lone_key(found)
    return key


@contextmanager
def _refused_while_busy() -> Iterator[None]:
    """Turn a run or a rollback already going into a translated error."""
    try:
        yield
    except TrainingAlreadyRunning as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="training_in_progress"
        ) from err
    except RollbackInProgress as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="rollback_in_progress"
        ) from err


async def _async_train(call: ServiceCall) -> ServiceResponse:
    """Start a training run; wait for it and report when a response is wanted."""
    entry = _loaded_entry(call.hass)
    runtime = entry.runtime_data
    mode = cast(TrainMode, call.data.get(ATTR_MODE, runtime.coordinator.settings.training_mode))
    device_keys: list[str] | None = call.data.get(ATTR_DEVICES)
    if device_keys is not None:
        device_keys = _watched(entry, device_keys)
    try:
        with _refused_while_busy():
            task = runtime.trainer.async_start(mode, device_keys)
    except WorkStopped as err:
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="stopping") from err
    if not call.return_response:
        return None
    try:
        response: dict[str, Any] = await asyncio.shield(task)
    except asyncio.CancelledError:
        if task.cancelled():
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="training_cancelled"
            ) from None
        raise
    return response


async def _async_refresh_predictions(call: ServiceCall) -> None:
    """Score every device now."""
    coordinator = _loaded_entry(call.hass).runtime_data.coordinator
    await coordinator.async_refresh()
    if not coordinator.last_update_success:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="refresh_failed",
            translation_placeholders={"error": str(coordinator.last_exception)},
        )


async def _async_rollback_model(call: ServiceCall) -> None:
    """Return to the previous home model, or to the shipped one."""
    runtime = _loaded_entry(call.hass).runtime_data
    with _refused_while_busy():
        rollback = runtime.trainer.async_start_rollback(partial(_async_roll_back, call.hass, runtime))
    try:
        await asyncio.shield(rollback)
    except asyncio.CancelledError:
        # A call cancelled (its script stopped) leaves the rollback to end on its own: nobody
        # awaits it any more, so it says in the log how it failed, if it does.
        rollback.add_done_callback(_log_rollback_left_alone)
        raise


@callback
def _log_rollback_left_alone(rollback: asyncio.Task[None]) -> None:
    """Log the error of a rollback whose caller was cancelled (and retrieve it, so asyncio does not)."""
    if rollback.cancelled() or (err := rollback.exception()) is None:
        return
    if isinstance(err, HomeAssistantError):  # an outcome the action would have told its caller
        _LOGGER.warning("Rolling back the model ended after its action call was stopped: %s", err)
        return
    _LOGGER.error("Rolling back the model failed after its action call was stopped", exc_info=err)


async def _async_roll_back(hass: HomeAssistant, runtime: HomeIQRuntimeData) -> None:
    """Roll the model store back and put its model in use (no run may start meanwhile)."""
    store, dropped = runtime.store, runtime.coordinator.model

    def roll_back() -> tuple[ActiveModel, str | None]:
        active = store.rollback()
        # A release is declined only when the owner drops a home model learned on it for one
        # learned on an earlier release, in the same job: a stop after it keeps the decline.
        chose_against = dropped.version_id is not None and store.newer_release(dropped) is None
        return active, store.newer_release(active) if chose_against else None

    try:
        active, declined = await runtime.coordinator.guard.async_run(hass.async_add_executor_job, roll_back)
    except NothingToRollBack as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="nothing_to_roll_back"
        ) from err
    except WorkStopped as err:
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="stopping") from err
    if active.refused:
        async_raise_model_refused(hass, (r.version_id for r in active.refused), active.refused[0].reason)
    else:
        async_clear_model_refused(hass)
    runtime.coordinator.set_model(active)
    await runtime.trainer.async_rolled_back(declined)
    if not runtime.coordinator.guard.stopping:
        await runtime.coordinator.async_refresh()


async def _async_snooze(call: ServiceCall) -> None:
    """Snooze devices for a time: no at-risk alert for them until it ends."""
    entry = _loaded_entry(call.hass)
    device_keys = _watched(entry, call.data[ATTR_DEVICES])
    duration: timedelta = call.data[ATTR_DURATION]
    if not timedelta(0) < duration <= MAX_SNOOZE:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="snooze_duration_invalid",
            translation_placeholders={"duration": str(duration), "max_days": str(MAX_SNOOZE.days)},
        )
    entry.runtime_data.coordinator.async_snooze(device_keys, dt_util.utcnow() + duration)


async def _async_acknowledge(call: ServiceCall) -> None:
    """Quiet devices until they recover: their acknowledgement ends by itself once they are healthy."""
    entry = _loaded_entry(call.hass)
    entry.runtime_data.coordinator.async_acknowledge(_watched(entry, call.data[ATTR_DEVICES]))


async def _async_unsnooze(call: ServiceCall) -> None:
    """End the snooze of devices (of every device when none is named)."""
    entry = _loaded_entry(call.hass)
    coordinator = entry.runtime_data.coordinator
    device_keys: list[str] | None = call.data.get(ATTR_DEVICES)
    if device_keys is None:
        coordinator.async_unsnooze(list(coordinator.snoozes.snoozed(dt_util.utcnow())))
    else:
        coordinator.async_unsnooze(_watched(entry, device_keys))


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_TRAIN,
        _async_train,
        schema=TRAIN_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_REFRESH_PREDICTIONS,
        _async_refresh_predictions,
        schema=REFRESH_PREDICTIONS_SCHEMA,
    )
    hass.services.async_register(
        DOMAIN, SERVICE_ROLLBACK_MODEL, _async_rollback_model, schema=ROLLBACK_MODEL_SCHEMA
    )
    hass.services.async_register(DOMAIN, SERVICE_SNOOZE, _async_snooze, schema=SNOOZE_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_ACKNOWLEDGE, _async_acknowledge, schema=ACKNOWLEDGE_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_UNSNOOZE, _async_unsnooze, schema=UNSNOOZE_SCHEMA)
