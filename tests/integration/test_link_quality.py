"""Tests for the link quality sensor: a device's radio link against its own history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done

from custom_components.homeiq_device_intel.ml.bundle import BinaryClassifier, ModelBundle, save_bundle
from tests.integration.conftest import _ensemble, _split_tree, build_bundle

Setup = Callable[[], Awaitable[MockConfigEntry]]
DAYS = 30


def _add_lqi(hass: HomeAssistant, device: dr.DeviceEntry, owner: MockConfigEntry, slug: str) -> str:
    """Give a device an LQI sensor, as Zigbee integrations do."""
    er.async_get(hass).async_get_or_create(
        "sensor",
        owner.domain,
        f"{slug}-lqi",
        device_id=device.id,
        unit_of_measurement="lqi",
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_object_id=f"{slug}_lqi",
        config_entry=owner,
    )
    return f"sensor.{slug}_lqi"


async def _seed_links(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    add_battery_device: Any,
    zha_entry: MockConfigEntry,
) -> None:
    """Thirty days of LQI every 3 hours: the landing weakens over the last week, the hall holds."""
    end = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    freezer.move_to(start)
    landing = _add_lqi(hass, add_battery_device("Landing"), zha_entry, "landing")
    hall = _add_lqi(hass, add_battery_device("Hall"), zha_entry, "hall")
    add_battery_device("Porch")  # no signal entity: no link quality sensor
    for step in range(DAYS * 8):
        at = start + timedelta(hours=3 * step)
        freezer.move_to(at)
        days_left = (end - at).total_seconds() / 86400
        falling = float(np.interp(days_left, [0.0, 7.0], [110.0, 200.0]))
        hass.states.async_set(landing, f"{falling:.0f}", {"unit_of_measurement": "lqi"})
        hass.states.async_set(hall, str(180 + step % 3), {"unit_of_measurement": "lqi"})
    freezer.move_to(end)
    await async_wait_recording_done(hass)


async def test_a_weakening_link_shows_its_falling_trend(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    add_battery_device: Any,
    zha_entry: MockConfigEntry,
    setup_integration: Setup,
) -> None:
    await _seed_links(hass, freezer, add_battery_device, zha_entry)
    await setup_integration()

    landing = hass.states.get("sensor.landing_link_quality")
    assert landing is not None
    assert float(landing.state) == pytest.approx(100 * 110 / 255, abs=3)
    assert landing.attributes["unit_of_measurement"] == "%"
    assert landing.attributes["trend"] == "weakening"
    assert landing.attributes["weakening"] is True
    assert landing.attributes["usual_level"] == pytest.approx(100 * 200 / 255, abs=2)
    assert landing.attributes["change_vs_usual"] < -25
    assert landing.attributes["change_vs_last_week"] < -10
    assert landing.attributes["trend_per_day"] < -3

    hall = hass.states.get("sensor.hall_link_quality")
    assert hall is not None
    assert hall.attributes["trend"] == "stable"
    assert hall.attributes["weakening"] is False
    assert abs(hall.attributes["trend_per_day"]) < 0.5

    assert hass.states.get("sensor.porch_link_quality") is None


async def test_a_link_without_two_weeks_of_history_is_learning(
    hass: HomeAssistant,
    add_battery_device: Any,
    zha_entry: MockConfigEntry,
    setup_integration: Setup,
) -> None:
    landing = _add_lqi(hass, add_battery_device("Landing"), zha_entry, "landing")
    hass.states.async_set(landing, "150", {"unit_of_measurement": "lqi"})
    await setup_integration()

    state = hass.states.get("sensor.landing_link_quality")
    assert state is not None
    assert float(state.state) == pytest.approx(100 * 150 / 255, abs=0.1)
    assert state.attributes["trend"] == "learning"
    assert state.attributes["usual_level"] is None


async def test_a_weakening_link_is_a_reason_for_going_offline(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    add_battery_device: Any,
    zha_entry: MockConfigEntry,
    setup_integration: Setup,
    shipped_model: Any,
) -> None:
    bundle = build_bundle()
    offline = _ensemble("binary", _split_tree("signal_delta_7d", -0.1, 3.0, -5.0))
    classifiers = {**bundle.classifiers, "unavailable": BinaryClassifier(ensemble=offline)}
    save_bundle(
        ModelBundle(
            feature_names=bundle.feature_names,
            schema_version=bundle.schema_version,
            classifiers=classifiers,
            regressors=bundle.regressors,
            metadata=bundle.metadata,
        ),
        shipped_model,
    )
    await _seed_links(hass, freezer, add_battery_device, zha_entry)
    await setup_integration()

    probability = hass.states.get("sensor.landing_failure_probability")
    assert probability is not None
    assert probability.attributes["failure_type"] == "unavailable"
    assert any("link quality" in reason for reason in probability.attributes["reasons"])
    hall = hass.states.get("sensor.hall_failure_probability")
    assert hall is not None
    assert not any("link quality" in reason for reason in hall.attributes["reasons"])
