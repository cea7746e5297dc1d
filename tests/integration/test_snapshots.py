"""Snapshots of every entity's state and attributes, and of the diagnostics download.

A home of six battery doors with three weeks of history (two draining to empty,
one with an outage) is scored by the test bundle at a fixed time. Device
registry ids are random per run, so they are replaced by the device's name
before comparing. Update with `pytest tests/integration/test_snapshots.py
--snapshot-update` when a change is meant to show, and review the diff.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.homeiq_device_intel.diagnostics import async_get_config_entry_diagnostics

NOW = "2026-01-05 12:00:00+00:00"


def _stable(value: Any, names: dict[str, str]) -> Any:
    """The value as JSON-like data, with every registry id replaced by a readable name."""
    text = json.dumps(value, sort_keys=True, default=str)
    for raw, name in names.items():
        text = text.replace(raw, name)
    return json.loads(text)


@pytest.fixture
async def scored_home(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    seed_history: Callable[..., Awaitable[list[dr.DeviceEntry]]],
    setup_integration: Callable[[], Awaitable[MockConfigEntry]],
) -> tuple[MockConfigEntry, dict[str, str]]:
    freezer.move_to(NOW)
    devices = await seed_history(21)
    entry = await setup_integration()
    names = {d.id: f"<device {d.name}>" for d in devices}
    names[entry.entry_id] = "<entry>"
    return entry, names


async def test_every_entity_state_and_attributes(
    hass: HomeAssistant,
    scored_home: tuple[MockConfigEntry, dict[str, str]],
    snapshot: SnapshotAssertion,
) -> None:
    entry, names = scored_home
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    assert len(entities) > 6
    shown = {}
    for entity in sorted(entities, key=lambda e: e.entity_id):
        state = hass.states.get(entity.entity_id)
        assert state is not None, entity.entity_id
        shown[entity.entity_id] = {
            "unique_id": entity.unique_id,
            "translation_key": entity.translation_key,
            "entity_category": entity.entity_category,
            "disabled_by": entity.disabled_by,
            "state": state.state,
            "attributes": dict(state.attributes),
        }
    assert _stable(shown, names) == snapshot


async def test_diagnostics_download(
    hass: HomeAssistant,
    scored_home: tuple[MockConfigEntry, dict[str, str]],
    snapshot: SnapshotAssertion,
) -> None:
    entry, names = scored_home
    # Called directly: the download's HTTP path (tested in test_diagnostics.py) needs an access
    # token, which the fixed time of this home would expire.
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert _stable(diagnostics, names) == snapshot
