"""What to generate: the generator's constants, `Variation`, `GeneratorConfig` and its cache key.

Holds the version and file format (both part of the cache key), the time
units, the home types and scenario families with their default weights, the
ground-truth event kinds, and the validation of a config.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Final

from custom_components.homeiq_device_intel.ml.records import FailureType

GENERATOR_VERSION: Final = "1.5.4"


# The stored history files' field names (2: `device_key` for the watch key); part of the cache key.
HISTORY_FILE_FORMAT: Final = 2


MINUTE: Final = 60.0


HOUR: Final = 3600.0


DAY: Final = 86400.0


YEAR: Final = 365.2425 * DAY


DEFAULT_START: Final = datetime(2024, 1, 1, tzinfo=UTC).timestamp()


HOME_TYPES: Final[tuple[str, ...]] = ("apartment", "house", "large_house", "smart_enthusiast")


FAILURE_FAMILIES: Final[tuple[str, ...]] = (
    "battery_cliff",
    "battery_slope",
    "sudden_death",
    "intermittent_dropouts",
    "flapping",
    "stuck_value",
    "stale",
    "signal_decay",
)


SCENARIO_FAMILIES: Final[tuple[str, ...]] = ("healthy", *FAILURE_FAMILIES, "bridge_outage")


# How often each family is drawn for a failing device it suits: batteries are
# what fails most in real homes.
DEFAULT_SCENARIO_WEIGHTS: Final[Mapping[str, float]] = {
    "battery_cliff": 3.0,
    "battery_slope": 3.0,
    "sudden_death": 1.0,
    "intermittent_dropouts": 1.0,
    "flapping": 0.7,
    "stuck_value": 1.5,
    "stale": 1.5,
    "signal_decay": 1.0,
}


EVENT_KINDS: Final[tuple[str, ...]] = (
    FailureType.BATTERY_DEPLETED.value,
    FailureType.UNAVAILABLE.value,
    FailureType.STALE.value,
    "bridge_outage",
    "flapping",
    "stuck",
    "swap",
    "decoy_unavailable",
    "decoy_stale",
)
# A healthy device's warning-like episode that resolves on its own (never a failure).
DECOY_OUTAGE: Final = "decoy_unavailable"
DECOY_STALE: Final = "decoy_stale"


@dataclass(frozen=True, slots=True, kw_only=True)
class Variation:
    """Scales of the generator's behaviour; shift them to build unseen kinds of homes."""

    report_rate: float = 1.0  # multiplies how often devices report
    activity: float = 1.0  # multiplies door/motion/light usage
    noise: float = 1.0  # multiplies measurement noise
    precursor_strength: float = 1.0  # > 1 clearer warnings, < 1 fainter ones
    no_precursor_fraction: float = 0.2  # share of failures with no warning at all
    lead_time_days: float = 5.0  # median lead time of a precursor
    lead_time_spread: float = 0.8  # sigma of the log lead time
    battery_life: float = 1.0  # multiplies battery life
    dropout_rate: float = 1.0  # background dropouts of healthy devices
    restart_rate: float = 1.0  # Home Assistant restarts
    bridge_outage_rate: float = 1.0  # coordinator/router outages
    decoy_rate: float = 1.0  # healthy devices with precursor-like episodes
    flaky_rate: float = 1.0  # devices with frequent short dropouts all their life (never a failure)
    home_spread: float = 0.25  # per-home log-normal spread of the scales


# Another plausible world, for evaluation on homes unlike the training homes.
SHIFTED_VARIATION: Final = Variation(
    report_rate=0.7,
    activity=1.3,
    noise=1.4,
    precursor_strength=0.8,
    no_precursor_fraction=0.25,
    lead_time_days=4.0,
    lead_time_spread=0.9,
    battery_life=0.8,
    dropout_rate=1.5,
    restart_rate=1.5,
    bridge_outage_rate=1.5,
    decoy_rate=1.5,
    flaky_rate=1.5,
    home_spread=0.35,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratorConfig:
    """What to generate: how many homes, how long, how many failures, and the seed."""

    n_homes: int = 10
    days: float = 90.0
    devices_per_home: tuple[int, int] | None = None  # None: by home type
    n_devices: int | None = None  # total over all homes; overrides devices_per_home
    home_types: tuple[str, ...] = HOME_TYPES
    failure_rate: float = 0.15  # share of (non-bridge) devices given a failure family
    # family -> weight (unlisted families 0); None: DEFAULT_SCENARIO_WEIGHTS
    scenario_weights: Mapping[str, float] | None = None
    seed: int = 0
    start: float = DEFAULT_START
    variation: Variation = Variation()


def config_fingerprint(config: GeneratorConfig) -> str:
    """Return a hash of the config and the generator version (the cache key)."""
    payload = {
        "generator_version": GENERATOR_VERSION,
        "file_format": HISTORY_FILE_FORMAT,
        **_config_dict(config),
    }
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _config_dict(config: GeneratorConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, Variation):
            value = {v.name: getattr(value, v.name) for v in fields(value)}
        elif isinstance(value, Mapping):
            value = {k: float(value[k]) for k in sorted(value)}
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _validate(config: GeneratorConfig) -> None:
    if config.n_homes < 1:
        raise ValueError("n_homes must be at least 1")
    if not config.days > 0:
        raise ValueError("days must be positive")
    if config.devices_per_home is not None:
        low, high = config.devices_per_home
        if low < 1 or high < low:
            raise ValueError("devices_per_home must be (min, max) with 1 <= min <= max")
    if config.n_devices is not None and config.n_devices < config.n_homes:
        raise ValueError("n_devices must be at least n_homes")
    if not config.home_types or not set(config.home_types) <= set(HOME_TYPES):
        raise ValueError(f"home_types must be a non-empty subset of {HOME_TYPES}")
    if not 0.0 <= config.failure_rate <= 1.0:
        raise ValueError("failure_rate must be within [0, 1]")
    if config.scenario_weights is not None:
        unknown = set(config.scenario_weights) - set(FAILURE_FAMILIES)
        if unknown:
            raise ValueError(f"unknown scenario families: {sorted(unknown)}")
        if any(w < 0 for w in config.scenario_weights.values()):
            raise ValueError("scenario weights must be >= 0")
    variation = config.variation
    for f in fields(variation):
        if not getattr(variation, f.name) >= 0:
            raise ValueError(f"variation.{f.name} must be >= 0")
    if variation.no_precursor_fraction > 1:
        raise ValueError("variation.no_precursor_fraction must be within [0, 1]")
    if variation.lead_time_days <= 0 or variation.report_rate <= 0:
        raise ValueError("variation.lead_time_days and report_rate must be positive")
