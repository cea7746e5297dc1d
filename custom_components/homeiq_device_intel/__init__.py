"""HomeIQ Device Intelligence: predict which devices are about to fail."""

from __future__ import annotations

from pathlib import Path

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .aggregates_store import AggregatesStore
from .const import (
    AGGREGATES_FILE,
    CONFIG_MINOR_VERSION,
    DOMAIN,
    HOME_MODELS_KEPT,
    HOME_MODELS_SUBDIR,
    PLATFORMS,
    SHIPPED_MODEL_DIR,
    STORAGE_SUBDIR,
)
from .coordinator import HomeIQConfigEntry, HomeIQCoordinator, HomeIQRuntimeData
from .issues import async_delete_all_issues, async_raise_model_refused
from .lifecycle import WorkGuard
from .migration import async_key_lone_entities_by_registry_id
from .ml.bundle import ModelLoadError
from .model_store import ModelStore
from .services import async_setup_services
from .settings import HomeIQSettings
from .training import TrainingManager

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: HomeIQConfigEntry) -> bool:
    """Load the model, score the home and schedule the nightly training."""
    store = ModelStore(
        SHIPPED_MODEL_DIR,
        Path(hass.config.path(".storage", STORAGE_SUBDIR, HOME_MODELS_SUBDIR)),
        keep=HOME_MODELS_KEPT,
    )
    try:
        model = await hass.async_add_executor_job(store.load_active)
    except ModelLoadError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="shipped_model_invalid",
            translation_placeholders={"reason": err.reason, "detail": err.detail},
        ) from err
    aggregates_store = _aggregates_store(hass)
    await hass.async_add_executor_job(aggregates_store.load)
    if model.refused:
        async_raise_model_refused(hass, (r.version_id for r in model.refused), model.refused[0].reason)
    guard = WorkGuard(hass)
    coordinator = HomeIQCoordinator(
        hass, entry, HomeIQSettings.from_options(entry.options), model, aggregates_store, guard
    )
    trainer = TrainingManager(hass, coordinator, store)
    await trainer.async_load()
    runtime = HomeIQRuntimeData(coordinator=coordinator, trainer=trainer, store=store)
    entry.runtime_data = runtime

    async def _async_home_assistant_stopping(_: Event) -> None:
        await _async_stop_work(runtime)

    # Before the first read: Home Assistant may stop while the entry is still setting up.
    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _async_home_assistant_stopping))
    await coordinator.async_config_entry_first_refresh()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)

    if (unsubscribe_nightly := trainer.async_schedule()) is not None:
        entry.async_on_unload(unsubscribe_nightly)
    entry.async_on_unload(coordinator.async_track_registries())
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: HomeIQConfigEntry) -> bool:
    """Bring what an earlier release stored up to this one (an entry of a newer release cannot be read)."""
    if entry.version > 1:
        return False
    if entry.minor_version < CONFIG_MINOR_VERSION:
        await async_key_lone_entities_by_registry_id(hass, entry, _aggregates_store(hass))
        hass.config_entries.async_update_entry(entry, minor_version=CONFIG_MINOR_VERSION)
    return True


def _aggregates_store(hass: HomeAssistant) -> AggregatesStore:
    """The store of the home's hourly aggregates and battery log (not read yet)."""
    return AggregatesStore(Path(hass.config.path(".storage", STORAGE_SUBDIR, AGGREGATES_FILE)))


async def _async_options_updated(hass: HomeAssistant, entry: HomeIQConfigEntry) -> None:
    """Reload so new options (schedule, filters, threshold) take effect."""
    await hass.config_entries.async_reload(entry.entry_id)


async def _async_stop_work(runtime: HomeIQRuntimeData) -> None:
    """Start no new read, scoring or training; end the work in flight and wait for it.

    Home Assistant's recorder closes its database at the final write: no read
    of ours may still run then, or the process crashes.
    """
    guard = runtime.coordinator.guard
    guard.stop()
    await runtime.trainer.async_shutdown()
    await guard.async_wait()


async def async_unload_entry(hass: HomeAssistant, entry: HomeIQConfigEntry) -> bool:
    """Stop the work in flight, then unload the platforms."""
    await _async_stop_work(entry.runtime_data)
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: HomeIQConfigEntry) -> None:
    """Delete the repair issues of the integration being removed (its stored files stay, see README)."""
    async_delete_all_issues(hass)
