"""Constants for the HomeIQ Device Intelligence integration."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Final

from homeassistant.const import Platform

DOMAIN: Final = "homeiq_device_intel"
LOGGER: Final = logging.getLogger(__package__)
TITLE: Final = "HomeIQ Device Intelligence"

PLATFORMS: Final = (Platform.BINARY_SENSOR, Platform.SELECT, Platform.SENSOR)

SHIPPED_MODEL_DIR: Final = Path(__file__).parent / "models"
STORAGE_SUBDIR: Final = DOMAIN
HOME_MODELS_SUBDIR: Final = "models"
HOME_MODELS_KEPT: Final = 5
AGGREGATES_FILE: Final = "aggregates.npz"
BATTERY_LOG_FILE: Final = "battery_log.json"  # beside the aggregates
# Its name before 0.2; moved to AGGREGATES_FILE on the first load.
LEGACY_AGGREGATES_FILE: Final = "history.npz"

SCORE_INTERVAL: Final = timedelta(hours=1)
REGISTRY_DEBOUNCE_SECONDS: Final = 10.0

# Options
CONF_NIGHTLY_TRAINING: Final = "nightly_training"
CONF_TRAINING_TIME: Final = "training_time"
CONF_TRAINING_MODE: Final = "training_mode"
CONF_HORIZON_DAYS: Final = "horizon_days"
CONF_RISK_THRESHOLD: Final = "risk_threshold"
CONF_ALERT_GRACE_HOURS: Final = "alert_grace_hours"
CONF_INCLUDE_DEVICES: Final = "include_devices"
CONF_EXCLUDE_DEVICES: Final = "exclude_devices"
CONF_INCLUDE_AREAS: Final = "include_areas"
CONF_EXCLUDE_AREAS: Final = "exclude_areas"
CONF_INCLUDE_INTEGRATIONS: Final = "include_integrations"
CONF_EXCLUDE_INTEGRATIONS: Final = "exclude_integrations"

TRAINING_MODE_FULL: Final = "full"
TRAINING_MODE_INCREMENTAL: Final = "incremental"
TRAINING_MODES: Final = (TRAINING_MODE_FULL, TRAINING_MODE_INCREMENTAL)

DEFAULT_NIGHTLY_TRAINING: Final = True
DEFAULT_TRAINING_TIME: Final = "02:00:00"
DEFAULT_TRAINING_MODE: Final = TRAINING_MODE_INCREMENTAL
DEFAULT_HORIZON_DAYS: Final = 7
DEFAULT_RISK_THRESHOLD: Final = 0  # automatic: the model's operating point
# 0: only the two-scorings-in-a-row rule below (about an hour) confirms an alert.
DEFAULT_ALERT_GRACE_HOURS: Final = 0
MAX_ALERT_GRACE_HOURS: Final = 168

FILTER_OPTIONS: Final = (
    CONF_INCLUDE_DEVICES,
    CONF_EXCLUDE_DEVICES,
    CONF_INCLUDE_AREAS,
    CONF_EXCLUDE_AREAS,
    CONF_INCLUDE_INTEGRATIONS,
    CONF_EXCLUDE_INTEGRATIONS,
)

DEFAULT_OPTIONS: Final[dict[str, object]] = {
    CONF_NIGHTLY_TRAINING: DEFAULT_NIGHTLY_TRAINING,
    CONF_TRAINING_TIME: DEFAULT_TRAINING_TIME,
    CONF_TRAINING_MODE: DEFAULT_TRAINING_MODE,
    CONF_HORIZON_DAYS: DEFAULT_HORIZON_DAYS,
    CONF_RISK_THRESHOLD: DEFAULT_RISK_THRESHOLD,
    CONF_ALERT_GRACE_HOURS: DEFAULT_ALERT_GRACE_HOURS,
    **{key: [] for key in FILTER_OPTIONS},
}

# At-risk: scorings in a row needed to switch on / off (how far the probability must
# fall to switch off is the failure type's release point, ml/alerts.py).
AT_RISK_ON_SCORINGS: Final = 2
AT_RISK_OFF_SCORINGS: Final = 2

# Repairs
TRAINING_FAILURES_FOR_ISSUE: Final = 3
# A device counts as down for the outage issue once unavailable this long
# (a bridge restarting is not an outage).
OUTAGE_MIN_DURATION: Final = timedelta(minutes=15)

# Events
EVENT_TRAINING_FINISHED: Final = f"{DOMAIN}_training_finished"
EVENT_DEVICE_AT_RISK: Final = f"{DOMAIN}_device_at_risk"

# Actions
SERVICE_TRAIN: Final = "train"
SERVICE_REFRESH_PREDICTIONS: Final = "refresh_predictions"
SERVICE_ROLLBACK_MODEL: Final = "rollback_model"
SERVICE_SNOOZE: Final = "snooze"
SERVICE_UNSNOOZE: Final = "unsnooze"
SERVICE_ACKNOWLEDGE: Final = "acknowledge"
ATTR_MODE: Final = "mode"
ATTR_DEVICES: Final = "devices"
ATTR_DURATION: Final = "duration"

# Snoozing a device: the presets its Snooze select offers, and the longest snooze the action takes.
SNOOZE_OFF: Final = "off"
SNOOZE_CUSTOM: Final = "custom"  # a time chosen with the snooze action
SNOOZE_UNTIL_RECOVERED: Final = "until_recovered"  # acknowledged: quiet until the device is healthy again
SNOOZE_PRESETS: Final[dict[str, timedelta]] = {
    "1_day": timedelta(days=1),
    "3_days": timedelta(days=3),
    "1_week": timedelta(weeks=1),
    "2_weeks": timedelta(weeks=2),
    "4_weeks": timedelta(weeks=4),
}
MAX_SNOOZE: Final = timedelta(days=365)
SNOOZE_SAVE_DELAY: Final = 1

# The config entry's minor version: 2 watches lone entities by their registry id (see migration.py).
CONFIG_MINOR_VERSION: Final = 2

# A device watched only through one of its entities (no device in the registry).
PSEUDO_DEVICE_PREFIX: Final = "entity:"

# Home Assistant Store keys of the state kept per watched device.
AT_RISK_STORE: Final = f"{DOMAIN}.at_risk"
SNOOZES_STORE: Final = f"{DOMAIN}.snoozes"
