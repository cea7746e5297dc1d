"""The demo home: devices and entities described by `homeiq_demo.json` in the config folder.

Written into the demo configuration by `scripts/demo.py`; not part of the product.
Each entity keeps the last state its recorded history ends with, so starting
Home Assistant adds nothing that changes the picture the history paints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from homeassistant.config_entries import SOURCE_IMPORT, ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import ConfigType

DOMAIN: Final = "homeiq_demo"
HOME_FILE: Final = "homeiq_demo.json"
# Sensors last: a device's main entity (a contact, a plug, a lock...) is then
# registered before its secondary readings, as real integrations tend to do.
PLATFORMS: Final = (
    Platform.BINARY_SENSOR,
    Platform.CLIMATE,
    Platform.LIGHT,
    Platform.LOCK,
    Platform.SWITCH,
    Platform.VACUUM,
    Platform.SENSOR,
)

CONFIG_SCHEMA = cv.empty_config_schema(DOMAIN)

type DemoConfigEntry = ConfigEntry[dict[str, Any]]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Create the config entry from `homeiq_demo:` in configuration.yaml."""
    if DOMAIN in config and not hass.config_entries.async_entries(DOMAIN):
        hass.async_create_task(
            hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_IMPORT}, data={})
        )
    return True


def _load(path: Path) -> dict[str, Any]:
    """Read the demo home description."""
    return dict(json.loads(path.read_text(encoding="utf-8")))


async def async_setup_entry(hass: HomeAssistant, entry: DemoConfigEntry) -> bool:
    """Register the devices (bridges first), then add their entities."""
    home = await hass.async_add_executor_job(_load, Path(hass.config.path(HOME_FILE)))
    registry = dr.async_get(hass)
    for device in home["devices"]:
        registry.async_get_or_create(
            config_entry_id=entry.entry_id,
            identifiers={(DOMAIN, device["id"])},
            name=device["name"],
            manufacturer=device.get("manufacturer"),
            model=device.get("model"),
            suggested_area=device.get("area"),
            connections={(kind, address) for kind, address in device.get("connections", [])},
            via_device=(DOMAIN, device["via_device"]) if device.get("via_device") else None,
        )
    entry.runtime_data = home
    for platform in PLATFORMS:
        await hass.config_entries.async_forward_entry_setups(entry, [platform])
    return True


async def async_unload_entry(hass: HomeAssistant, entry: DemoConfigEntry) -> bool:
    """Unload the entities."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
