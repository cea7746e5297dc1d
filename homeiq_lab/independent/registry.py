"""The reader's registry, made from a home's registry file as the integration's discovery makes it.

The integration's discovery (`discovery.DeviceDiscovery`, in the HA layer the lab
must not import) turns HA's registries into `DeviceRecord`s and entity roles;
this is the same rule on the registry file, through the same core helpers
(`classify.entity_role`, `device_kind`, `primary_rank`): power is "battery"
when the device has a battery entity and "unknown" otherwise (the registry does
not say mains), chemistry is unknown (no Battery Notes), the protocol comes
from the integration, and one primary entity per device is kept.
One difference: discovery skips a device with no battery, an integration it does not
map to a radio, no signal entity and no via device unless it is unavailable at set-up
(here TVs and printers); they are all kept, as if set up while they were unavailable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from custom_components.homeiq_device_intel.ml.classify import (
    device_kind,
    entity_role,
    primary_rank,
    protocol_for,
)
from custom_components.homeiq_device_intel.ml.recorder.devices import RegisteredEntity
from custom_components.homeiq_device_intel.ml.records import DeviceRecord, EntityRole, Power

# The registry file names no identifiers: its "mqtt" devices are all zigbee2mqtt's, as
# `classify.protocol_for` tells them from their identifiers in a live registry.
_ZIGBEE2MQTT_IDENTIFIERS: Final = (("mqtt", "zigbee2mqtt"),)


def _role(entity: dict[str, Any]) -> EntityRole:
    """The role discovery gives an entity (`discovery.role_for`)."""
    role = entity_role(
        entity["entity_id"],
        entity["original_device_class"],
        entity["unit_of_measurement"],
        diagnostic=entity["entity_category"] == "diagnostic",
    )
    if role is not None:
        return role
    return EntityRole.OTHER if entity["entity_category"] is not None else EntityRole.PRIMARY


def _device_entities(device: dict[str, Any], entities: list[dict[str, Any]]) -> dict[str, RegisteredEntity]:
    """One device's watched entities, as discovery describes them."""
    roles = [(e, _role(e)) for e in entities]
    candidates = [e for e, role in roles if role is EntityRole.PRIMARY]
    main = min(
        candidates, key=lambda e: primary_rank(e["entity_id"], e["original_device_class"]), default=None
    )
    kept = [
        (e, r) for e, r in roles if r is not EntityRole.OTHER and (r is not EntityRole.PRIMARY or e is main)
    ]
    has_battery = any(r in (EntityRole.BATTERY, EntityRole.BATTERY_LOW) for _, r in kept)
    record = DeviceRecord(
        device_key=device["id"],
        name=device["name"],
        integration=device["integration"],
        protocol=protocol_for(
            device["integration"], _ZIGBEE2MQTT_IDENTIFIERS if device["integration"] == "mqtt" else ()
        ),
        kind="other"
        if main is None
        else device_kind(main["entity_id"].partition(".")[0], main["original_device_class"]),
        power=Power.BATTERY if has_battery else Power.UNKNOWN,
        via_device_key=device["via_device_id"],
        manufacturer=device["manufacturer"],
        model=device["model"],
        area_id=device["area"],
        created=device["created_at"],
    )
    return {
        e["entity_id"]: RegisteredEntity(record, r, e["original_device_class"], e["unit_of_measurement"])
        for e, r in kept
    }


def load_registry(path: Path) -> dict[str, RegisteredEntity]:
    """Every watched entity of a home's registry file, keyed by entity id."""
    data = json.loads(path.read_text())
    by_device: dict[str, list[dict[str, Any]]] = {}
    for entity in data["entities"]:
        by_device.setdefault(entity["device_id"], []).append(entity)
    out: dict[str, RegisteredEntity] = {}
    for device in data["devices"]:
        out.update(_device_entities(device, by_device.get(device["id"], [])))
    return out
