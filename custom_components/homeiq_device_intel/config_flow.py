"""Config and options flow for HomeIQ Device Intelligence."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntry, ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.selector import (
    AreaSelector,
    AreaSelectorConfig,
    BooleanSelector,
    DeviceSelector,
    DeviceSelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TimeSelector,
)
from homeassistant.loader import async_get_integrations

from .const import (
    CONF_ALERT_GRACE_HOURS,
    CONF_EXCLUDE_AREAS,
    CONF_EXCLUDE_DEVICES,
    CONF_EXCLUDE_INTEGRATIONS,
    CONF_HORIZON_DAYS,
    CONF_INCLUDE_AREAS,
    CONF_INCLUDE_DEVICES,
    CONF_INCLUDE_INTEGRATIONS,
    CONF_NIGHTLY_TRAINING,
    CONF_RISK_THRESHOLD,
    CONF_TRAINING_MODE,
    CONF_TRAINING_TIME,
    CONFIG_MINOR_VERSION,
    DEFAULT_OPTIONS,
    DOMAIN,
    MAX_ALERT_GRACE_HOURS,
    TITLE,
    TRAINING_MODES,
)

_OVERLAPS: tuple[tuple[str, str], ...] = (
    (CONF_INCLUDE_DEVICES, CONF_EXCLUDE_DEVICES),
    (CONF_INCLUDE_AREAS, CONF_EXCLUDE_AREAS),
    (CONF_INCLUDE_INTEGRATIONS, CONF_EXCLUDE_INTEGRATIONS),
)


class HomeIQConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up HomeIQ Device Intelligence from the UI."""

    VERSION = 1
    MINOR_VERSION = CONFIG_MINOR_VERSION

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Confirm the setup; there is nothing to enter."""
        if user_input is not None:
            return self.async_create_entry(title=TITLE, data={}, options=dict(DEFAULT_OPTIONS))
        return self.async_show_form(step_id="user")

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> HomeIQOptionsFlow:
        """Return the options flow."""
        return HomeIQOptionsFlow()


class HomeIQOptionsFlow(OptionsFlow):
    """Change the schedule, the alerting and which devices are watched."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and validate the options form."""
        errors: dict[str, str] = {}
        if user_input is not None:
            for include, exclude in _OVERLAPS:
                if set(user_input.get(include, ())) & set(user_input.get(exclude, ())):
                    errors[exclude] = "include_exclude_overlap"
            if not errors:
                return self.async_create_entry(data={**DEFAULT_OPTIONS, **user_input})
        current = {**DEFAULT_OPTIONS, **self.config_entry.options, **(user_input or {})}
        schema = self.add_suggested_values_to_schema(await self._async_schema(current), current)
        return self.async_show_form(step_id="init", data_schema=schema, errors=errors)

    async def _async_schema(self, current: dict[str, Any]) -> vol.Schema:
        """Build the options schema, listing the integrations that have devices."""
        integrations = await self._async_integration_options(
            set(current[CONF_INCLUDE_INTEGRATIONS]) | set(current[CONF_EXCLUDE_INTEGRATIONS])
        )
        integration_selector = SelectSelector(
            SelectSelectorConfig(options=integrations, multiple=True, mode=SelectSelectorMode.DROPDOWN)
        )
        device_selector = DeviceSelector(DeviceSelectorConfig(multiple=True))
        area_selector = AreaSelector(AreaSelectorConfig(multiple=True))
        return vol.Schema(
            {
                vol.Required(CONF_NIGHTLY_TRAINING): BooleanSelector(),
                vol.Required(CONF_TRAINING_TIME): TimeSelector(),
                vol.Required(CONF_TRAINING_MODE): SelectSelector(
                    SelectSelectorConfig(
                        options=list(TRAINING_MODES),
                        translation_key=CONF_TRAINING_MODE,
                        mode=SelectSelectorMode.LIST,
                    )
                ),
                vol.Required(CONF_HORIZON_DAYS): NumberSelector(
                    NumberSelectorConfig(
                        min=1, max=30, step=1, mode=NumberSelectorMode.BOX, unit_of_measurement="d"
                    )
                ),
                vol.Required(CONF_RISK_THRESHOLD): NumberSelector(
                    NumberSelectorConfig(
                        min=0, max=95, step=1, mode=NumberSelectorMode.SLIDER, unit_of_measurement="%"
                    )
                ),
                vol.Required(CONF_ALERT_GRACE_HOURS): NumberSelector(
                    NumberSelectorConfig(
                        min=0,
                        max=MAX_ALERT_GRACE_HOURS,
                        step=1,
                        mode=NumberSelectorMode.BOX,
                        unit_of_measurement="h",
                    )
                ),
                vol.Optional(CONF_INCLUDE_DEVICES): device_selector,
                vol.Optional(CONF_EXCLUDE_DEVICES): device_selector,
                vol.Optional(CONF_INCLUDE_AREAS): area_selector,
                vol.Optional(CONF_EXCLUDE_AREAS): area_selector,
                vol.Optional(CONF_INCLUDE_INTEGRATIONS): integration_selector,
                vol.Optional(CONF_EXCLUDE_INTEGRATIONS): integration_selector,
            }
        )

    async def _async_integration_options(self, selected: set[str]) -> list[SelectOptionDict]:
        """List the integrations that own devices (plus any already selected)."""
        domains = set(selected)
        for device in dr.async_get(self.hass).devices.values():
            for entry_id in device.config_entries:
                if (entry := self.hass.config_entries.async_get_entry(entry_id)) is not None:
                    domains.add(entry.domain)
        domains.discard(DOMAIN)
        found = await async_get_integrations(self.hass, domains)
        labels = {
            domain: (result.name if not isinstance(result, Exception) else domain)
            for domain, result in found.items()
        }
        return [
            SelectOptionDict(value=domain, label=labels[domain])
            for domain in sorted(domains, key=lambda d: labels[d].casefold())
        ]
