"""Hourly scoring from new rows only, with HA's real recorder: the same entity states as a full refresh."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from unittest.mock import PropertyMock, patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import PERCENTAGE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homeiq_device_intel.const import DOMAIN
from custom_components.homeiq_device_intel.recorder_source import RECORDER_BEHIND_BACKLOG

Setup = Callable[[], Awaitable[MockConfigEntry]]


def _device_states(hass: HomeAssistant) -> dict[str, tuple[str, dict[str, Any]]]:
    """State and attributes of every per-device sensor of ours (at-risk ones count scorings: left out)."""
    registry = er.async_get(hass)
    out = {}
    for entry in registry.entities.values():
        if entry.platform != DOMAIN or not entry.entity_id.startswith("sensor."):
            continue
        if entry.entity_id.startswith("sensor.homeiq_device_intelligence_"):
            continue  # the home's own sensors: devices at risk moves with the number of scorings
        state = hass.states.get(entry.entity_id)
        if state is not None:
            out[entry.entity_id] = (state.state, dict(state.attributes))
    return out


async def test_hourly_scorings_from_new_rows_match_a_full_refresh(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    seed_history: Callable[..., Awaitable[list[Any]]],
    add_battery_device: Callable[..., Any],
    setup_integration: Setup,
    rescore: Callable[[], Awaitable[None]],
) -> None:
    await seed_history(21)
    entry = await setup_integration()
    coordinator = entry.runtime_data.coordinator
    kept = coordinator.kept_history
    assert kept.full_reads >= 1
    full_reads = kept.full_reads
    compared = 0
    for hour in range(30):
        # New rows: batteries fall, doors open and close, one door drops off for a few hours.
        for index in range(6):
            slug = f"door_{index}"
            down = index == 3 and 8 <= hour < 13
            hass.states.async_set(
                f"binary_sensor.{slug}_contact", "unavailable" if down else ("on" if hour % 2 else "off")
            )
            hass.states.async_set(
                f"sensor.{slug}_battery",
                "unavailable" if down else f"{max(0, 40 - index * 6 - hour // 3)}",
                {"device_class": "battery", "unit_of_measurement": PERCENTAGE, "state_class": "measurement"},
            )
        if hour == 20:
            add_battery_device("Late door", battery=55.0)  # a device added: the next reading is whole
        await rescore()
        incremental = _device_states(hass)
        predictions = coordinator.data.predictions
        assert predictions
        # The same moment scored from a whole read of the window.
        kept.clear()
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        assert coordinator.data.predictions == predictions, f"hour {hour}"
        assert _device_states(hass) == incremental, f"hour {hour}"
        compared += 1
    # Every hourly scoring read only new rows, except the one after the device was added.
    assert kept.new_row_reads >= 29
    assert kept.full_reads - full_reads <= 30 + 2
    assert compared == 30


async def test_a_reading_after_the_recorder_was_behind_reads_the_whole_window(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    seed_history: Callable[..., Awaitable[list[Any]]],
    setup_integration: Setup,
    rescore: Callable[[], Awaitable[None]],
) -> None:
    """Rows the recorder writes late keep their own times: after a backlog, read everything again."""
    # Counted readings: the five hours scored here stay clear of the nightly training (02:00
    # local), whose own reading of new rows would count among them when run in the evening.
    freezer.move_to("2026-12-01 18:00:00+00:00")
    await seed_history(21)
    entry = await setup_integration()
    kept = entry.runtime_data.coordinator.kept_history
    await rescore()
    assert kept.last_full_reason is not None
    reads = (kept.full_reads, kept.new_row_reads)
    recorder_type = type(get_instance(hass))
    # The recorder's queue holds a backlog when this reading begins (its database locked for a
    # backup): this reading still reads new rows; the one after it reads the whole window.
    with patch.object(
        recorder_type, "backlog", new_callable=PropertyMock, return_value=RECORDER_BEHIND_BACKLOG + 1
    ):
        await rescore()
    assert (kept.full_reads, kept.new_row_reads) == (reads[0], reads[1] + 1)
    await rescore()
    assert kept.full_reads == reads[0] + 1
    assert kept.last_full_reason == "the recorder was behind at the last reading"
    # Caught up: new rows only again.
    await rescore()
    assert (kept.full_reads, kept.new_row_reads) == (reads[0] + 1, reads[1] + 2)
