"""The demo home is created from configuration.yaml only."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult

from . import DOMAIN


class DemoConfigFlow(ConfigFlow, domain=DOMAIN):
    """Create the single demo home entry."""

    VERSION = 1

    async def async_step_import(self, import_data: dict[str, Any]) -> ConfigFlowResult:
        """Create the entry the demo script asked for."""
        return self.async_create_entry(title="Demo home", data={})

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Refuse manual setup: the demo script writes the home."""
        return self.async_abort(reason="not_supported")
