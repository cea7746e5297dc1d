"""A config flow, so that a stored bench_devices entry sets up (only bench_startup creates one)."""

from __future__ import annotations

from homeassistant.config_entries import ConfigFlow


class BenchDevicesFlow(ConfigFlow, domain="bench_devices"):
    """No steps: bench_startup writes the entry."""

    VERSION = 1
