"""The integration's own compact history: hourly grids kept beyond the purge window.

Each night the fresh grid (from the recorder) is merged into the stored one
and saved, so availability, rhythm and flapping history outlive the
recorder's 10-day state window. Stored as a compressed .npz read with
allow_pickle=False; written atomically.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .files import replace_atomically
from .grid import CHANNELS, HOUR, HourlyGrid

AGGREGATES_VERSION = 1
KEEP_DAYS = 120
# Channels that come from state rows; before a grid's states_from they are unknown.
STATE_CHANNELS = frozenset({"unavailable", "reports", "changes", "drops"})


class AggregatesError(Exception):
    """The stored aggregates are unreadable or of another version."""


def save_grid(grid: HourlyGrid, path: Path) -> None:
    """Write a grid atomically (temp file in the same folder, fsync, rename)."""
    swaps = [np.asarray(s, dtype=np.int64) for s in grid.swap_hours]
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "version": np.array([AGGREGATES_VERSION], dtype=np.int64),
        "device_ids": np.array(grid.device_ids, dtype=np.str_),
        "home_id": np.array([grid.home_id], dtype=np.str_),
        "scalars": np.array([grid.start, grid.n_hours, grid.states_from], dtype=np.float64),
        "has_battery": grid.has_battery,
        "telemetry": np.asarray(grid.telemetry, dtype=bool),
        "numeric_primary": np.asarray(grid.numeric_primary, dtype=bool),
        "first_seen": grid.first_seen,
        "swap_counts": np.array([s.size for s in swaps], dtype=np.int64),
        "swap_hours": np.concatenate(swaps) if swaps else np.empty(0, dtype=np.int64),
        "bridge_down": grid.bridge_down,
    }
    for name in CHANNELS:
        arrays[f"channel_{name}"] = grid.channels[name]
    replace_atomically(path, lambda handle: np.savez_compressed(handle, **arrays))  # type: ignore[arg-type]


def load_grid(path: Path) -> HourlyGrid:
    """Read a stored grid; raise AggregatesError when it is not one of ours."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["version"][0]) != AGGREGATES_VERSION:
                raise AggregatesError(f"aggregates version {int(data['version'][0])}")
            ids = [str(d) for d in data["device_ids"]]
            start, n_hours, states_from = (float(v) for v in data["scalars"])
            channels = {name: data[f"channel_{name}"].astype(np.float32) for name in CHANNELS}
            counts = data["swap_counts"]
            flat = data["swap_hours"]
            bounds = np.concatenate(([0], np.cumsum(counts)))
            grid = HourlyGrid(
                home_id=str(data["home_id"][0]),
                device_ids=ids,
                start=start,
                n_hours=int(n_hours),
                channels=channels,
                has_battery=data["has_battery"].astype(bool),
                first_seen=data["first_seen"].astype(np.int64),
                swap_hours=[flat[bounds[i] : bounds[i + 1]].astype(np.int64) for i in range(len(ids))],
                bridge_down=data["bridge_down"].astype(np.float32),
                states_from=int(states_from),
                telemetry=data["telemetry"].astype(bool),
                numeric_primary=data["numeric_primary"].astype(bool),
            )
    except AggregatesError:
        raise
    except (
        OSError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
    ) as err:
        raise AggregatesError(f"unreadable aggregates: {err}") from err
    shape = (len(ids), grid.n_hours)
    if any(c.shape != shape for c in channels.values()) or grid.bridge_down.shape != shape:
        raise AggregatesError("aggregates arrays have inconsistent shapes")
    return grid


def merge_grids(
    old: HourlyGrid, new: HourlyGrid, *, keep_days: int = KEEP_DAYS, consume_new: bool = False
) -> HourlyGrid:
    """The new grid, extended back in time with what the old grid knew.

    Devices are the new grid's (removed devices drop out). Hours the new grid
    has state rows for come from it; earlier hours of state channels come from
    the old grid; level channels take the new value where it is known.
    With `consume_new`, each channel of `new` is dropped once merged, so the two
    grids never both sit whole in memory (`new` is left without channels).
    """
    start = min(old.start, new.start)
    end = max(old.start + old.n_hours * HOUR, new.start + new.n_hours * HOUR)
    keep_start = max(start, end - keep_days * 24 * HOUR)
    n_hours = round((end - keep_start) / HOUR)
    new_off = round((new.start - keep_start) / HOUR)
    old_off = round((old.start - keep_start) / HOUR)
    old_row = {d: i for i, d in enumerate(old.device_ids)}
    rows = np.array([old_row.get(d, -1) for d in new.device_ids], dtype=np.int64)
    have = rows >= 0

    def place(
        src: npt.NDArray[np.float32], offset: int, fill: float, sel: npt.NDArray[np.int64] | None
    ) -> npt.NDArray[np.float32]:
        out = np.full((len(new.device_ids), n_hours), fill, dtype=np.float32)
        lo, hi = max(offset, 0), min(offset + src.shape[1], n_hours)
        if hi <= lo:
            return out
        part = src[:, lo - offset : hi - offset]
        if sel is None:
            out[:, lo:hi] = part
        else:
            out[have, lo:hi] = part[sel[have]]
        return out

    cut = new_off + new.states_from  # first hour the new grid saw state rows
    channels: dict[str, npt.NDArray[np.float32]] = {}
    for name in CHANNELS:
        level = name not in STATE_CHANNELS and name != "battery_low"
        fill = np.nan if level else 0.0
        fresh = place(new.channels.pop(name) if consume_new else new.channels[name], new_off, fill, None)
        stored = place(old.channels[name], old_off, fill, rows)
        if level:
            channels[name] = np.where(np.isfinite(fresh), fresh, stored)
        else:
            fresh[:, : max(cut, 0)] = stored[:, : max(cut, 0)]  # `fresh` is place()'s own array
            channels[name] = fresh
        del fresh, stored
    bridge = place(new.bridge_down, new_off, 0.0, None)
    bridge[:, : max(cut, 0)] = place(old.bridge_down, old_off, 0.0, rows)[:, : max(cut, 0)]
    first_new = new.first_seen + new_off
    first_old = np.where(have, old.first_seen[np.maximum(rows, 0)] + old_off, np.iinfo(np.int64).max)
    first_seen = np.clip(np.minimum(first_new, first_old), 0, n_hours)
    swaps = []
    for i, r in enumerate(rows):
        hours = new.swap_hours[i] + new_off
        if r >= 0:
            hours = np.union1d(hours, old.swap_hours[r] + old_off)
        swaps.append(hours[(hours >= 0) & (hours < n_hours)].astype(np.int64))
    old_states = old_off + old.states_from
    return HourlyGrid(
        home_id=new.home_id,
        device_ids=list(new.device_ids),
        start=keep_start,
        n_hours=n_hours,
        channels=channels,
        has_battery=new.has_battery.copy(),
        telemetry=None if new.telemetry is None else new.telemetry.copy(),
        numeric_primary=None if new.numeric_primary is None else new.numeric_primary.copy(),
        first_seen=first_seen.astype(np.int64),
        swap_hours=swaps,
        bridge_down=bridge,
        states_from=max(min(old_states if have.any() else cut, cut), 0),
    )
