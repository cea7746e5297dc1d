"""Simulated homes written as HA would hold them: a recorder database, the registries, and the truth.

For each home `home_NN`:
- `home_NN.db`: a SQLite recorder database in HA's current schema
  (`homeiq_lab.demo.recorder_db`), every state row kept (a recorder whose
  purge_keep_days covers the 60 days), HA restarts as start/stop events;
- `home_NN.registry.json`: the device and entity registries' entries the
  integration's discovery reads (name, manufacturer, model, integration,
  via device, created; entity device class, unit, category);
- `home_NN.truth.json`: per device, its fate and first failure (type, time,
  how, when its warning signs began), battery swaps, and the run's settings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from homeiq_lab.demo.recorder_db import RecordedEntity, write_recorder_db

from .catalog import TEMPLATES
from .home import DAY, HomeSpec, Interval, draw_home
from .rows import simulate_device
from .simulate import DeviceRun, entity_id

DEFAULT_SEED: Final = 20261204
DEFAULT_HOMES: Final = 10
DEFAULT_DAYS: Final = 60.0
HORIZON_DAYS: Final = 7.0


def simulate_home(
    seed: int, index: int, days: float = DEFAULT_DAYS, horizon_days: float = HORIZON_DAYS
) -> tuple[HomeSpec, list[DeviceRun]]:
    """One home: routers first (their outages cut their children off), then everything else."""
    home = draw_home(seed, index, days, horizon_days)
    routers: dict[str, list[Interval]] = {}
    runs: dict[str, DeviceRun] = {}
    for device in sorted(home.devices, key=lambda d: not TEMPLATES[d.kind].router):
        run = simulate_device(home, device, routers)
        runs[device.key] = run
        if TEMPLATES[device.kind].router:
            routers[device.key] = run.outages
    return home, [runs[d.key] for d in home.devices]


def _attributes(run: DeviceRun, entity_key: int) -> dict[str, Any]:
    """The state attributes an entity's integration sets."""
    entity = TEMPLATES[run.device.kind].entities[entity_key]
    name = run.device.name + entity.suffix.replace("_", " ").title()
    attributes: dict[str, Any] = {"friendly_name": name}
    for key, value in (
        ("device_class", entity.device_class),
        ("unit_of_measurement", entity.unit),
        ("state_class", entity.state_class),
    ):
        if value is not None:
            attributes[key] = value
    return attributes


def registry(home: HomeSpec, runs: list[DeviceRun]) -> dict[str, Any]:
    """The device and entity registry entries of a home (bridges included, with no entities)."""
    created = home.start - 90 * DAY
    devices = [
        {"id": key, "name": name, "integration": integration, "model": model, "manufacturer": None,
         "via_device_id": None, "area": None, "created_at": created}
        for key, (name, integration, model) in home.bridges.items()
    ]  # fmt: skip
    entities = []
    for run in runs:
        device = run.device
        template = TEMPLATES[device.kind]
        devices.append(
            {"id": device.key, "name": device.name, "integration": device.integration,
             "model": template.model, "manufacturer": template.manufacturer,
             "via_device_id": device.via, "area": device.room.lower().replace(" ", "_"),
             "created_at": created}
        )  # fmt: skip
        entities += [
            {"entity_id": entity_id(device, e), "device_id": device.key, "platform": device.integration,
             "original_device_class": e.device_class, "unit_of_measurement": e.unit,
             "entity_category": "diagnostic" if e.diagnostic else None}
            for e in template.entities
        ]  # fmt: skip
    return {"devices": devices, "entities": entities}


def truth(home: HomeSpec, runs: list[DeviceRun]) -> dict[str, Any]:
    """The home's ground truth and settings."""
    return {
        "seed": home.seed,
        "index": home.index,
        "start": home.start,
        "end": home.end,
        "horizon_stop": home.stop,
        "zigbee": home.zigbee,
        "z2m_availability": home.z2m_availability,
        "restarts": home.restarts,
        "power_cuts": home.power_cuts,
        "devices": [run.truth for run in runs],
    }


def write_home(folder: Path, home: HomeSpec, runs: list[DeviceRun]) -> dict[str, Path]:
    """Write a home's database, registry and truth files into `folder`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"home_{home.index:02d}"
    paths = {"db": stem.with_suffix(".db"), "registry": Path(f"{stem}.registry.json")}
    paths["truth"] = Path(f"{stem}.truth.json")
    entities: dict[str, RecordedEntity] = {}
    for run in runs:
        for k, (eid, (times, states)) in enumerate(run.rows.items()):
            if len(times):
                entities[eid] = RecordedEntity(attributes=_attributes(run, k), times=times, states=states)
    write_recorder_db(paths["db"], entities, restarts=home.restarts, start=home.start, end=home.end)
    paths["registry"].write_text(json.dumps(registry(home, runs), indent=1))
    paths["truth"].write_text(json.dumps(truth(home, runs), indent=1))
    return paths


def write_homes(
    folder: Path, seed: int = DEFAULT_SEED, homes: int = DEFAULT_HOMES, days: float = DEFAULT_DAYS
) -> list[dict[str, Path]]:
    """Simulate and write `homes` homes."""
    return [write_home(folder, *simulate_home(seed, i, days)) for i in range(homes)]
