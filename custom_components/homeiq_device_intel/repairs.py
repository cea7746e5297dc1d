"""Fix flows for the repair issues that the integration can resolve itself."""

from __future__ import annotations

from typing import cast

import voluptuous as vol
from homeassistant.components.recorder import is_entity_recorded
from homeassistant.components.repairs import RepairsFlow
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult

from .const import CONF_EXCLUDE_DEVICES, DOMAIN
from .coordinator import HomeIQConfigEntry


class ExcludeUnrecordedFlow(RepairsFlow):
    """Stop watching the devices whose entities the recorder does not keep."""

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> FlowResult:
        """Go straight to the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(self, user_input: dict[str, str] | None = None) -> FlowResult:
        """Exclude the devices once the user confirms."""
        entries = self.hass.config_entries.async_loaded_entries(DOMAIN)
        if not entries:
            return self.async_abort(reason="not_loaded")
        entry = cast(HomeIQConfigEntry, entries[0])
        devices = sorted(
            {
                device.device_id
                for device in entry.runtime_data.coordinator.data.devices.values()
                if device.device_id is not None
                and not all(is_entity_recorded(self.hass, e.entity_id) for e in device.entities)
            }
        )
        if user_input is None:
            return self.async_show_form(
                step_id="confirm",
                data_schema=vol.Schema({}),
                description_placeholders={"count": str(len(devices))},
            )
        excluded = sorted({*entry.options.get(CONF_EXCLUDE_DEVICES, []), *devices})
        self.hass.config_entries.async_update_entry(
            entry, options={**entry.options, CONF_EXCLUDE_DEVICES: excluded}
        )
        return self.async_create_entry(data={})


async def async_create_fix_flow(
    hass: HomeAssistant,
    issue_id: str,
    data: dict[str, str | int | float | None] | None,
) -> RepairsFlow:
    """Create the fix flow for an issue (only the unrecorded-entities one is fixable)."""
    return ExcludeUnrecordedFlow()
