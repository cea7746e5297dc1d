"""Typed view of the config entry options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Any

from homeassistant.util import dt as dt_util

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
    DEFAULT_OPTIONS,
)
from .ml.learning import TrainMode


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceFilter:
    """Which devices the user wants watched: includes narrow, excludes win."""

    include_devices: frozenset[str] = frozenset()
    exclude_devices: frozenset[str] = frozenset()
    include_areas: frozenset[str] = frozenset()
    exclude_areas: frozenset[str] = frozenset()
    include_integrations: frozenset[str] = frozenset()
    exclude_integrations: frozenset[str] = frozenset()

    def accepts(self, device_id: str | None, area_id: str | None, integration: str) -> bool:
        """Return whether a device with these properties is watched."""
        if (
            (device_id is not None and device_id in self.exclude_devices)
            or (area_id is not None and area_id in self.exclude_areas)
            or integration in self.exclude_integrations
        ):
            return False
        if not (self.include_devices or self.include_areas or self.include_integrations):
            return True
        return (
            (device_id is not None and device_id in self.include_devices)
            or (area_id is not None and area_id in self.include_areas)
            or integration in self.include_integrations
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeIQSettings:
    """The user's choices, with defaults filled in."""

    nightly_training: bool
    training_time: time
    training_mode: TrainMode
    horizon_days: float
    risk_threshold: float  # percent
    alert_grace_hours: float  # hours a device stays above the threshold before it is at risk
    device_filter: DeviceFilter

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> HomeIQSettings:
        """Build the settings from config entry options."""
        merged = {**DEFAULT_OPTIONS, **options}
        return cls(
            nightly_training=bool(merged[CONF_NIGHTLY_TRAINING]),
            training_time=dt_util.parse_time(str(merged[CONF_TRAINING_TIME])) or time(2, 0),
            training_mode="full" if merged[CONF_TRAINING_MODE] == "full" else "incremental",
            horizon_days=float(merged[CONF_HORIZON_DAYS]),
            risk_threshold=float(merged[CONF_RISK_THRESHOLD]),
            alert_grace_hours=float(merged[CONF_ALERT_GRACE_HOURS]),
            device_filter=DeviceFilter(
                include_devices=frozenset(merged[CONF_INCLUDE_DEVICES]),
                exclude_devices=frozenset(merged[CONF_EXCLUDE_DEVICES]),
                include_areas=frozenset(merged[CONF_INCLUDE_AREAS]),
                exclude_areas=frozenset(merged[CONF_EXCLUDE_AREAS]),
                include_integrations=frozenset(merged[CONF_INCLUDE_INTEGRATIONS]),
                exclude_integrations=frozenset(merged[CONF_EXCLUDE_INTEGRATIONS]),
            ),
        )
