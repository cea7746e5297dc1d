"""Synthetic homes are trained on as a live Home Assistant shows them (`homeiq_lab.live_view`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.classify import protocol_for
from custom_components.homeiq_device_intel.ml.features import FEATURE_INDEX, PROTOCOL_CODE
from custom_components.homeiq_device_intel.ml.records import Chemistry, DeviceRecord, Protocol
from homeiq_lab.dataset import synthetic_dataset
from homeiq_lab.live_view import as_discovered
from homeiq_lab.synthetic import GeneratorConfig, generate_homes

# Big homes, so that devices of integrations discovery maps to no radio (cameras, Wi-Fi bulbs) come up.
CONFIG = GeneratorConfig(n_homes=2, days=20, devices_per_home=(60, 70), seed=5)


@pytest.fixture(scope="module")
def rows_and_homes():
    ds, _ = synthetic_dataset(CONFIG)
    return ds, generate_homes(CONFIG)


def _code(protocol: Protocol) -> float:
    return PROTOCOL_CODE[protocol]


def _same_code(a: float, b: float) -> bool:
    return a == b or (np.isnan(a) and np.isnan(b))


def test_the_protocol_trained_on_is_the_one_discovery_reads_off_the_integration(rows_and_homes):
    # Discovery knows a device's radio only from its integration (`classify.protocol_for`): a Reolink
    # camera or a WiZ bulb is on Wi-Fi, but HA does not say so; a HomeKit thermostat reads as Thread.
    # The generator knows the truth; the rows must show what a live home shows.
    ds, homes = rows_and_homes
    devices = {d.device_key: d for h in homes for d in h.devices}
    column = ds.X[:, FEATURE_INDEX["protocol"]]
    truth_differs = 0
    for index, key in enumerate(ds.device_keys):
        device = devices[key]
        live = protocol_for(
            device.integration, (("mqtt", "zigbee2mqtt_0x1"),) if device.integration == "mqtt" else ()
        )
        seen = column[ds.device == index]
        assert all(_same_code(float(v), _code(live)) for v in seen), (device.integration, device.protocol)
        truth_differs += not _same_code(_code(device.protocol), _code(live))
    assert truth_differs > 0  # the homes hold devices whose radio HA does not tell


@pytest.mark.parametrize(
    ("integration", "truth", "live"),
    [
        ("reolink", Protocol.WIFI, Protocol.UNKNOWN),
        ("wiz", Protocol.WIFI, Protocol.UNKNOWN),
        ("otbr", Protocol.THREAD, Protocol.UNKNOWN),
        ("homekit_controller", Protocol.WIFI, Protocol.THREAD),
        ("mqtt", Protocol.ZIGBEE, Protocol.ZIGBEE),  # the generator's MQTT devices are zigbee2mqtt's
        ("zha", Protocol.ZIGBEE, Protocol.ZIGBEE),
        ("shelly", Protocol.WIFI, Protocol.WIFI),
    ],
)
def test_a_device_record_as_discovery_makes_it(integration: str, truth: Protocol, live: Protocol):
    home = generate_homes(replace(CONFIG, n_homes=1, devices_per_home=(8, 10)))[0]
    device = DeviceRecord(device_key="x", name="X", integration=integration, protocol=truth)
    seen = as_discovered(replace(home, devices=[device])).devices[0]
    assert seen.protocol is live
    assert replace(seen, protocol=truth) == device  # nothing else of it changes
    assert as_discovered(replace(home, devices=[replace(device, chemistry=Chemistry.NONE)])).devices[
        0
    ].chemistry is (Chemistry.UNKNOWN)


def test_a_device_without_a_battery_has_no_chemistry_in_the_rows(rows_and_homes):
    # The generator gives a mains device the chemistry "none" (coded 0); discovery reads a chemistry
    # only from Battery Notes' battery type, so a live plug's is unknown (NaN), as in training now.
    ds, homes = rows_and_homes
    devices = {d.device_key: d for h in homes for d in h.devices}
    column = ds.X[:, FEATURE_INDEX["chemistry"]]
    mains = np.array([devices[key].chemistry is Chemistry.NONE for key in ds.device_keys])[ds.device]
    assert mains.any() and np.isnan(column[mains]).all()
    # A battery's chemistry is still the generator's in the rows (hidden per device only in training).
    assert np.isfinite(column[~mains]).all()
