"""File I/O: a history as `<stem>.npz` (arrays, no pickle) + `<stem>.json` (metadata).

Also where a home lives in a config's cache folder and whether it is there.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.records import (
    Chemistry,
    DeviceRecord,
    EntityRecord,
    EntityRole,
    FailureEvent,
    HomeHistory,
    Power,
    Protocol,
    StateSeries,
    StatSeries,
)

from .arrays import FloatArray, Int64Array
from .config import GENERATOR_VERSION


def save_history(history: HomeHistory, stem: str | os.PathLike[str]) -> None:
    """Store a history as `<stem>.npz` (arrays, no pickle) and `<stem>.json` (metadata)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    npz_tmp = stem.with_name(stem.name + ".npz.tmp")
    json_tmp = stem.with_name(stem.name + ".json.tmp")
    with npz_tmp.open("wb") as handle:
        np.savez(handle, allow_pickle=False, **_arrays(history))
    json_tmp.write_text(json.dumps(_meta(history)), encoding="utf-8")
    os.replace(npz_tmp, stem.with_suffix(".npz"))
    os.replace(json_tmp, stem.with_suffix(".json"))


def _arrays(history: HomeHistory) -> dict[str, npt.NDArray[Any]]:
    """Return a history's arrays, each kind concatenated over entities with its offsets."""
    states = list(history.states.values())
    stats = list(history.statistics.values())
    swaps = list(history.battery_swaps.values())
    return {
        "state_time": _concat([s.time for s in states]),
        "state_value": _concat([s.value for s in states]),
        "state_code": np.concatenate([s.code for s in states]) if states else np.empty(0, np.int32),
        "state_last_reported": _concat(
            [s.time if s.last_reported is None else s.last_reported for s in states]
        ),
        "state_offsets": _offsets([len(s) for s in states]),
        "stat_start": _concat([s.start for s in stats]),
        "stat_mean": _concat([s.mean for s in stats]),
        "stat_min": _concat([s.min for s in stats]),
        "stat_max": _concat([s.max for s in stats]),
        "stat_offsets": _offsets([len(s) for s in stats]),
        "swap_time": _concat(swaps),
        "swap_offsets": _offsets([s.size for s in swaps]),
        "restarts": np.asarray(history.restarts, dtype=np.float64),
    }


def _meta(history: HomeHistory) -> dict[str, Any]:
    """Return a history's metadata: records, which entity each array slice is, ground truth."""
    return {
        "generator_version": GENERATOR_VERSION,
        "home_id": history.home_id,
        "start": history.start,
        "end": history.end,
        "devices": [_device_dict(d) for d in history.devices],
        "entities": [_entity_dict(e) for e in history.entities],
        "state_entities": list(history.states),
        "state_labels": [list(s.labels) for s in history.states.values()],
        "stat_entities": list(history.statistics),
        "swap_devices": list(history.battery_swaps),
        "ground_truth": [
            {"device_key": e.device_key, "kind": e.kind, "start": e.start, "end": e.end, "warning": e.warning}
            for e in history.ground_truth
        ],
        "scenario": history.scenario,
    }


def load_history(stem: str | os.PathLike[str]) -> HomeHistory:
    """Read a history written by `save_history` (never unpickles anything)."""
    stem = Path(stem)
    meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    with np.load(stem.with_suffix(".npz"), allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    state_bounds = _pairs(arrays["state_offsets"])
    stat_bounds = _pairs(arrays["stat_offsets"])
    swap_bounds = _pairs(arrays["swap_offsets"])
    states = {
        entity_id: StateSeries(
            time=arrays["state_time"][a:b],
            value=arrays["state_value"][a:b],
            code=arrays["state_code"][a:b],
            labels=tuple(labels),
            last_reported=arrays["state_last_reported"][a:b],
        )
        for entity_id, labels, (a, b) in zip(
            meta["state_entities"], meta["state_labels"], state_bounds, strict=True
        )
    }
    statistics = {
        entity_id: StatSeries(
            start=arrays["stat_start"][a:b],
            mean=arrays["stat_mean"][a:b],
            min=arrays["stat_min"][a:b],
            max=arrays["stat_max"][a:b],
        )
        for entity_id, (a, b) in zip(meta["stat_entities"], stat_bounds, strict=True)
    }
    swaps = {
        device_key: arrays["swap_time"][a:b]
        for device_key, (a, b) in zip(meta["swap_devices"], swap_bounds, strict=True)
    }
    return HomeHistory(
        home_id=meta["home_id"],
        start=float(meta["start"]),
        end=float(meta["end"]),
        devices=[_device_from(d) for d in meta["devices"]],
        entities=[_entity_from(e) for e in meta["entities"]],
        states=states,
        statistics=statistics,
        battery_swaps=swaps,
        restarts=arrays["restarts"],
        ground_truth=[FailureEvent(**e) for e in meta["ground_truth"]],
        scenario=dict(meta["scenario"]),
    )


def _concat(parts: Sequence[FloatArray]) -> FloatArray:
    if not parts:
        return np.empty(0)
    result: FloatArray = np.concatenate(parts).astype(np.float64, copy=False)
    return result


def _offsets(lengths: Iterable[int]) -> Int64Array:
    return np.concatenate([[0], np.cumsum(np.asarray(list(lengths), dtype=np.int64))]).astype(np.int64)


def _pairs(offsets: npt.NDArray[Any]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(cast("list[int]", offsets.tolist())))


def _device_dict(device: DeviceRecord) -> dict[str, Any]:
    return {f.name: _plain(getattr(device, f.name)) for f in fields(device)}


def _entity_dict(entity: EntityRecord) -> dict[str, Any]:
    return {f.name: _plain(getattr(entity, f.name)) for f in fields(entity)}


def _plain(value: object) -> object:
    return value.value if isinstance(value, Protocol | Power | Chemistry | EntityRole) else value


def _device_from(data: Mapping[str, Any]) -> DeviceRecord:
    return DeviceRecord(
        **{
            **data,
            "protocol": Protocol(data["protocol"]),
            "power": Power(data["power"]),
            "chemistry": Chemistry(data["chemistry"]),
        }
    )


def _entity_from(data: Mapping[str, Any]) -> EntityRecord:
    return EntityRecord(**{**data, "role": EntityRole(data["role"])})


def _cache_stem(folder: Path, home_index: int) -> Path:
    """Where a home of a config's cache folder lives (`.npz` + `.json`)."""
    return folder / f"home_{home_index:05d}"


def _is_cached(stem: Path) -> bool:
    return stem.with_suffix(".json").exists() and stem.with_suffix(".npz").exists()
