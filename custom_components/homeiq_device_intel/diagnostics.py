"""Diagnostics: options, models, training and counts, without names or ids."""

from __future__ import annotations

from collections import Counter
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import FILTER_OPTIONS
from .coordinator import HomeIQConfigEntry
from .recorder_source import recorder_layout

TO_REDACT = set(FILTER_OPTIONS)
# Per-feature arrays: long, and no help when reading a support case.
BULKY_METADATA = frozenset({"reference"})


async def async_get_config_entry_diagnostics(hass: HomeAssistant, entry: HomeIQConfigEntry) -> dict[str, Any]:
    """Return diagnostics for the config entry."""
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    data = coordinator.data
    model = coordinator.model
    home_versions = await hass.async_add_executor_job(runtime.store.versions)
    devices = data.devices.values()
    return {
        "options": async_redact_data(dict(entry.options), TO_REDACT),
        "filters": {key: len(entry.options.get(key, [])) for key in FILTER_OPTIONS},
        "model": {
            "source": model.source,
            "home_version": model.version_id,
            "metadata": {k: v for k, v in model.metadata.items() if k not in BULKY_METADATA},
            "home_versions": home_versions,
            "refused": [
                {"version": r.version_id, "reason": r.reason, "detail": r.detail} for r in model.refused
            ],
            "outdated": list(model.outdated),
        },
        "training": {
            "status": runtime.trainer.state.status.value,
            "running": runtime.trainer.running,
            "error": runtime.trainer.state.error,
            "last_trained": runtime.trainer.state.last_trained,
            "consecutive_failures": runtime.trainer.state.consecutive_failures,
            "last_run": runtime.trainer.state.last_run,
            "declined_release": runtime.trainer.state.declined_release,
        },
        "recorder_layout": recorder_layout(hass),
        "stored_history": {
            "days": round(coordinator.aggregates_store.days, 1),
            "devices": len(grid.device_keys) if (grid := coordinator.aggregates_store.grid) else 0,
        },
        "scoring": {
            "last_update_success": coordinator.last_update_success,
            "scored_at": data.scored_at,
            "devices_monitored": len(data.devices),
            "devices_predicted": len(data.predictions),
            "devices_at_risk": len(data.at_risk),
            "devices_with_battery": sum(device.has_battery for device in devices),
            "lone_entities": sum(device.device_id is None for device in devices),
            "by_integration": dict(Counter(device.info.integration for device in devices)),
            "by_protocol": dict(Counter(device.info.protocol.value for device in devices)),
            "by_failure_type": dict(
                Counter(prediction.failure_type for prediction in data.predictions.values())
            ),
        },
    }
