"""Small state kept in Home Assistant's storage, loaded defensively.

The at-risk state and the training state live in ``.storage`` through HA's
``Store``. HA renames a file that is not JSON; a JSON file of another shape
(not an object, no ``data``, a version this release does not know, e.g. from a
newer release before a downgrade) makes ``Store.async_load`` raise. Such a
file is set aside with one warning and the state starts afresh: it is a
convenience, never a reason for the entry to fail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import Store

from .const import LOGGER
from .ml.files import set_aside

STORE_VERSION = 1


class StoredState:
    """One ``Store`` of ours: load defensively, save now or later."""

    def __init__(self, hass: HomeAssistant, key: str) -> None:
        """Remember where the state lives."""
        self._hass = hass
        self._store: Store[dict[str, Any]] = Store(hass, STORE_VERSION, key)

    async def async_load(self) -> Any:
        """Return the stored data (of any JSON type: the caller validates it), or None."""
        try:
            return await self._store.async_load()
        except (HomeAssistantError, KeyError, TypeError, ValueError, NotImplementedError) as err:
            LOGGER.warning(
                "Stored state %s is unreadable (%s: %s); set aside, starting afresh",
                self._store.key,
                type(err).__name__,
                err,
            )
            path = Path(self._store.path)
            await self._hass.async_add_executor_job(
                set_aside, path, path.with_name(f"{path.name}.unreadable")
            )
            return None

    async def async_save(self, data: dict[str, Any]) -> None:
        """Save now."""
        await self._store.async_save(data)

    def async_delay_save(self, data: Callable[[], dict[str, Any]], delay: float) -> None:
        """Save ``data()`` after ``delay`` seconds (and at Home Assistant's final write)."""
        self._store.async_delay_save(data, delay)
