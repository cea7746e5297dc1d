"""Recorder databases scored as the integration scores them: alerts and failures listed (issue 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from custom_components.homeiq_device_intel.ml.bundle import load_bundle
from custom_components.homeiq_device_intel.ml.grid import HOUR
from custom_components.homeiq_device_intel.ml.records import (
    Chemistry,
    DeviceRecord,
    EntityRecord,
    EntityRole,
    FailureType,
    HomeHistory,
    Power,
    Protocol,
    encode_states,
)
from homeiq_lab.real_check import check_home

SHIPPED = Path(__file__).resolve().parents[2] / "custom_components" / "homeiq_device_intel" / "models"
T0 = 1_700_000_000.0 - (1_700_000_000.0 % 86400)
DAYS = 40


def _home() -> HomeHistory:
    """A sensor whose battery falls from 100 % to empty on day 30 and a mains plug that never fails."""
    hours = range(DAYS * 24)
    times = [T0 + h * HOUR + 60 for h in hours]
    level = [str(max(0, round(100 - 100 * h / (30 * 24)))) for h in hours]
    power = ["12.5" if h % 2 else "13.0" for h in hours]
    return HomeHistory(
        home_id="test",
        start=T0,
        end=T0 + DAYS * 86400.0,
        devices=[
            DeviceRecord(
                device_key="door",
                name="Door sensor",
                integration="zha",
                protocol=Protocol.ZIGBEE,
                power=Power.BATTERY,
                chemistry=Chemistry.ALKALINE,
            ),
            DeviceRecord(
                device_key="plug",
                name="Kitchen plug",
                integration="zha",
                protocol=Protocol.ZIGBEE,
                power=Power.MAINS,
            ),
        ],
        entities=[
            EntityRecord(entity_id="sensor.door_battery", device_key="door", role=EntityRole.BATTERY),
            EntityRecord(entity_id="sensor.plug_power", device_key="plug", role=EntityRole.PRIMARY),
        ],
        states={
            "sensor.door_battery": encode_states(times, level),
            "sensor.plug_power": encode_states(times, power),
        },
        statistics={},
        restarts=np.asarray([], dtype=float),
    )


def test_a_draining_battery_is_alerted_once_before_it_runs_out_and_a_mains_plug_never_on_battery():
    bundle = load_bundle(SHIPPED)
    entry = check_home(_home(), bundle, 7.0)
    battery = entry[FailureType.BATTERY_DEPLETED]
    # Scored only where the type applies: the battery device, once a day.
    assert battery["device_days"] == entry["days"] == DAYS
    threshold = bundle.classifiers[FailureType.BATTERY_DEPLETED].threshold
    [alert] = [a for a in battery["alerts"] if not a["failing_now"]]  # one alert, however the score wobbles
    assert alert["device"] == "Door sensor" and alert["probability"] >= threshold
    [failure] = battery["failures"]
    assert failure["device"] == "Door sensor"
    assert alert["day"] < failure["day"] - 1  # warned more than a day before
    assert failure["probability_day_before"] >= threshold
    assert entry[FailureType.UNAVAILABLE]["alerts"] == []
