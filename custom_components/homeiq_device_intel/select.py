"""Snooze select per watched device: no at-risk alert for it for a chosen time, or until it recovers."""

from __future__ import annotations

from typing import Any

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .const import (
    DOMAIN,
    SERVICE_SNOOZE,
    SNOOZE_CUSTOM,
    SNOOZE_OFF,
    SNOOZE_PRESETS,
    SNOOZE_UNTIL_RECOVERED,
)
from .coordinator import HomeIQConfigEntry, HomeIQCoordinator
from .discovery import WatchedDevice
from .entity import HomeIQDeviceEntity, async_track_device_entities
from .snooze import Snooze

PARALLEL_UPDATES = 0

SNOOZE_DESCRIPTION = SelectEntityDescription(
    key="snooze",
    translation_key="snooze",
    entity_category=EntityCategory.CONFIG,
    options=[SNOOZE_OFF, *SNOOZE_PRESETS, SNOOZE_UNTIL_RECOVERED, SNOOZE_CUSTOM],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HomeIQConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up a snooze select for every watched device, now and as devices come and go."""
    coordinator = entry.runtime_data.coordinator

    def build(device: WatchedDevice) -> list[HomeIQDeviceEntity]:
        return [HomeIQSnoozeSelect(coordinator, device)]

    async_track_device_entities(entry, Platform.SELECT, build, async_add_entities, set())


class HomeIQSnoozeSelect(HomeIQDeviceEntity, SelectEntity):
    """Off, for how long the device's at-risk alerts are snoozed, or until it recovers."""

    def __init__(self, coordinator: HomeIQCoordinator, device: WatchedDevice) -> None:
        """Create the select for one device."""
        super().__init__(coordinator, device, SNOOZE_DESCRIPTION, Platform.SELECT)

    @property
    def _snooze(self) -> Snooze | None:
        """Return the device's snooze, if it has not ended."""
        return self.coordinator.snoozes.get(self.device_key, dt_util.utcnow())

    @property
    def available(self) -> bool:
        """A device can be snoozed whether or not its latest scoring has a prediction for it."""
        return self.coordinator.last_update_success

    @property
    def current_option(self) -> str:
        """Return the snooze preset in force, or off."""
        snooze = self._snooze
        return SNOOZE_OFF if snooze is None else snooze.preset

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return until when the device is snoozed, and whether until it recovers."""
        snooze = self._snooze
        return {
            "snoozed_until": None if snooze is None or snooze.until is None else snooze.until.isoformat(),
            "until_recovered": snooze is not None and snooze.until is None,
        }

    async def async_select_option(self, option: str) -> None:
        """Snooze the device for a preset's time from now or until it recovers, or end its snooze."""
        if option == SNOOZE_OFF:
            self.coordinator.async_unsnooze([self.device_key])
            return
        if option == SNOOZE_UNTIL_RECOVERED:
            self.coordinator.async_acknowledge([self.device_key])
            return
        if option not in SNOOZE_PRESETS:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="snooze_custom_needs_action",
                translation_placeholders={"action": f"{DOMAIN}.{SERVICE_SNOOZE}"},
            )
        self.coordinator.async_snooze([self.device_key], dt_util.utcnow() + SNOOZE_PRESETS[option], option)
