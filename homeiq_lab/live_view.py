"""A synthetic home as a live Home Assistant would show it to the integration.

The generator knows each device's truth (its radio, how it is powered, its
battery's chemistry); a live home shows the integration only what its
registries say, through `discovery.DeviceDiscovery`: the protocol its
integration implies (`classify.protocol_for`) and the chemistry only when
Battery Notes names the battery type (its power, battery or "unknown" since the
registry does not say mains, is left to `features.POWER_CODE`, which codes
mains as unknown). Training on the generator's
truth taught the models values no live home ever shows (the `power` feature's
lesson, `features.POWER_CODE`); this rewrites a synthetic home's device records
as discovery would make them, before its grid, features and labels are built.

Only the device records change: the records of the entities, their states and
the generator's truth stay as they are.
"""

from __future__ import annotations

from dataclasses import replace

from custom_components.homeiq_device_intel.ml.classify import protocol_for
from custom_components.homeiq_device_intel.ml.records import (
    Chemistry,
    DeviceRecord,
    HomeHistory,
)

# A zigbee2mqtt device's identifiers in the device registry (the generator's "mqtt" devices are
# all zigbee2mqtt's): what `protocol_for` reads to tell them from other MQTT devices.
_ZIGBEE2MQTT_IDENTIFIERS = (("mqtt", "zigbee2mqtt_0x0000000000000000"),)


def live_protocol(device: DeviceRecord) -> DeviceRecord:
    """The device with the protocol discovery reads off its integration."""
    identifiers = _ZIGBEE2MQTT_IDENTIFIERS if device.integration == "mqtt" else ()
    return replace(device, protocol=protocol_for(device.integration, identifiers))


def live_chemistry(device: DeviceRecord) -> DeviceRecord:
    """The device with the chemistry discovery could know: never "none" (mains).

    Discovery reads a chemistry only from Battery Notes' battery type
    (`battery_life.chemistry_for_battery_type`), which names a battery: a device
    without one is "unknown", never "none". (A battery's chemistry is hidden for
    a share of devices in training, `train.TrainConfig.chemistry_dropout`.)
    """
    if device.chemistry is Chemistry.NONE:
        return replace(device, chemistry=Chemistry.UNKNOWN)
    return device


def as_discovered(history: HomeHistory) -> HomeHistory:
    """The home with its device records as discovery would make them (a new history, records shared)."""
    devices = [live_chemistry(live_protocol(device)) for device in history.devices]
    return replace(history, devices=devices)
