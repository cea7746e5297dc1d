"""The integration's own compact history: hourly grids kept beyond the purge window.

Each night the fresh grid (from the recorder) is merged into the stored one
and saved, so availability, rhythm and flapping history outlive the
recorder's 10-day state window. Stored as a compressed .npz read with
allow_pickle=False; written atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.npyio import NpzFile

from .files import replace_atomically
from .grid import CHANNELS, HOUR, Channel, HourlyGrid, channel_dtype, compact_channel

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
        "device_ids": np.array(grid.device_keys, dtype=np.str_),
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


def load_grid(path: Path, *, home_id: str | None = None) -> HourlyGrid:
    """Read a stored grid; raise AggregatesError unless it is a well-formed grid of ours.

    With `home_id`, a grid of another home is refused too. Only a grid that
    passes every check is returned, so `merge_grids` never sees a damaged one.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, NpzFile):
                raise AggregatesError("not an .npz archive")
            arrays = {name: data[name] for name in data.files}
    except AggregatesError:
        raise
    # Bytes from disk can fail in zipfile, zlib or numpy in many ways; all mean "unreadable".
    except Exception as err:
        raise AggregatesError(f"unreadable aggregates: {err}") from err
    grid = _grid_from_arrays(arrays)
    if home_id is not None and grid.home_id != home_id:
        raise AggregatesError(f"aggregates of another home ({grid.home_id!r})")
    return grid


def _array(
    arrays: dict[str, npt.NDArray[Any]], name: str, kinds: str, shape: tuple[int, ...]
) -> npt.NDArray[Any]:
    """Return `arrays[name]` if its dtype kind is one of `kinds` and its shape is `shape` (-1: any)."""
    array = arrays.get(name)
    if array is None:
        raise AggregatesError(f"{name} is missing")
    fits = array.ndim == len(shape) and all(
        want in (-1, got) for want, got in zip(shape, array.shape, strict=True)
    )
    if array.dtype.kind not in kinds or not fits:
        raise AggregatesError(f"{name} is a {array.dtype} array of shape {array.shape}")
    return array


def _grid_from_arrays(arrays: dict[str, npt.NDArray[Any]]) -> HourlyGrid:
    """Check every array of a stored grid against the others and build the grid."""
    version = int(_array(arrays, "version", "iu", (1,))[0])
    if version != AGGREGATES_VERSION:
        raise AggregatesError(f"aggregates version {version}, expected {AGGREGATES_VERSION}")
    ids = [str(d) for d in _array(arrays, "device_ids", "U", (-1,))]
    if len(set(ids)) != len(ids):
        raise AggregatesError("device_ids repeat")
    n = len(ids)
    scalars = _array(arrays, "scalars", "f", (3,))
    if not np.isfinite(scalars).all() or (scalars[1:] != np.round(scalars[1:])).any():
        raise AggregatesError(f"scalars {scalars.tolist()} are not a start and two whole hour counts")
    start, n_hours, states_from = float(scalars[0]), int(scalars[1]), int(scalars[2])
    if not 0 <= states_from <= n_hours:
        raise AggregatesError(f"states_from {states_from} is outside 0..{n_hours} hours")
    # Files before the compact channels hold float32 (or float64) everywhere: same values.
    channels = {
        name: _array(
            arrays, f"channel_{name}", "f" if channel_dtype(name) is np.float32 else "fu", (n, n_hours)
        )
        for name in CHANNELS
    }
    bridge_down = _array(arrays, "bridge_down", "fu", (n, n_hours))
    _check_channel_values(channels, bridge_down)
    channels = {name: compact_channel(name, channel) for name, channel in channels.items()}
    bridge_down = compact_channel("bridge_down", bridge_down)
    first_seen = _array(arrays, "first_seen", "iu", (n,)).astype(np.int64)
    if ((first_seen < 0) | (first_seen > n_hours)).any():
        raise AggregatesError("first_seen is outside the grid")
    return HourlyGrid(
        home_id=str(_array(arrays, "home_id", "U", (1,))[0]),
        device_keys=ids,
        start=start,
        n_hours=n_hours,
        channels=channels,
        has_battery=_array(arrays, "has_battery", "b", (n,)),
        first_seen=first_seen,
        swap_hours=_swap_hours(arrays, n, n_hours),
        bridge_down=bridge_down,
        states_from=states_from,
        # Files written before these flags existed: the merge takes them from the fresh grid anyway.
        telemetry=_array(arrays, "telemetry", "b", (n,)) if "telemetry" in arrays else None,
        numeric_primary=(
            _array(arrays, "numeric_primary", "b", (n,)) if "numeric_primary" in arrays else None
        ),
    )


def _check_channel_values(channels: dict[str, Channel], bridge_down: Channel) -> None:
    """Raise AggregatesError for a value no grid built from records can hold."""
    for name, channel in channels.items():
        if np.isinf(channel).any():
            raise AggregatesError(f"channel {name} holds infinities")
    battery = channels["battery"]
    checks = {
        "battery": np.isnan(battery) | ((battery >= 0.0) & (battery <= 100.0)),
        "battery_low": np.isin(channels["battery_low"], (0.0, 1.0)),
        "unavailable": (channels["unavailable"] >= 0.0) & (channels["unavailable"] <= 1.0),
        "bridge_down": np.isin(bridge_down, (0.0, 1.0)),
    }
    for name in ("reports", "changes", "drops"):
        checks[name] = channels[name] >= 0.0
    for name, ok in checks.items():
        if not ok.all():
            raise AggregatesError(f"{name} holds values out of range")


def _swap_hours(arrays: dict[str, npt.NDArray[Any]], n: int, n_hours: int) -> list[npt.NDArray[np.int64]]:
    """Split the flat swap hours per device, checking each run is increasing and inside the grid."""
    counts = _array(arrays, "swap_counts", "iu", (n,)).astype(np.int64)
    flat = _array(arrays, "swap_hours", "iu", (-1,)).astype(np.int64)
    if (counts < 0).any() or int(counts.sum()) != flat.size:
        raise AggregatesError("swap_counts do not add up to the swap hours")
    if ((flat < 0) | (flat >= n_hours)).any():
        raise AggregatesError("swap hours are outside the grid")
    bounds = np.concatenate(([0], np.cumsum(counts)))
    per_device = [flat[bounds[i] : bounds[i + 1]] for i in range(n)]
    if any((np.diff(hours) <= 0).any() for hours in per_device):
        raise AggregatesError("swap hours are not increasing")
    return per_device


def _hours_after(later: float, earlier: float, limit: int) -> int:
    """Whole hours from `earlier` to `later` (nearest), clamped to [-limit, limit]."""
    hours = (later - earlier) / HOUR  # may overflow to +-inf for starts far apart
    return round(min(max(hours, -limit), limit))


def merge_grids(
    old: HourlyGrid, new: HourlyGrid, *, keep_days: int = KEEP_DAYS, consume_new: bool = False
) -> HourlyGrid:
    """The new grid, extended back in time with what the old grid knew.

    Both must be well-formed grids of the same home (as `build_grid` and
    `load_grid` return). The result ends where the new grid ends and starts
    with the earlier of the two, at most `keep_days` before the end, on the
    new grid's hours (an old grid off by part of an hour lands on the nearest
    hour; old hours after the new grid's end are dropped). Devices are the new
    grid's, in its order (removed devices drop out). Hours the new grid has
    state rows for come from it; earlier hours of state channels come from the
    old grid (0 for devices it did not know); level channels take the new
    value where it is known, else the old one (NaN when neither knows).
    A device the old grid knew whose own state rows begin later in the new
    grid (`primary_states_from`: its last row before them was purged) keeps
    the old grid's state channels until then, its unavailable share carried
    on from the old grid's last hour (an outage that began before the purge
    cutoff goes on; an available device stays available).
    One outage is one drop: where a device's own state rows in the new grid
    open `unavailable` (`opens_unavailable`) and the merged grid has it
    unavailable in the hour before (from the old grid, or held on), its outage
    goes on and the drop the new grid counted there is taken back. Without
    such an hour (a device the old grid did not know, hours nobody saw) the
    outage begins for the merged grid where it is first seen, drop and all.
    With `consume_new`, each channel of `new` is dropped once merged, so the
    two grids never both sit whole in memory (`new` is left without channels).
    """
    if old.home_id != new.home_id:
        raise ValueError(f"cannot merge grids of two homes ({old.home_id!r}, {new.home_id!r})")
    at = _layout(old, new, keep_days)
    channels: dict[str, Channel] = {}
    for name in CHANNELS:
        level = name not in STATE_CHANNELS and name != "battery_low"
        fill = np.nan if level else 0.0
        fresh = at.place(new.channels.pop(name) if consume_new else new.channels[name], at.new_off, fill)
        stored = at.place(old.channels[name], at.old_off, fill, at.rows)
        if level:
            channels[name] = np.where(np.isfinite(fresh), fresh, stored)
        else:
            channels[name] = at.joined(fresh, stored)
            if name == "unavailable":
                np.copyto(channels[name], _last_hour(old.channels[name], at.rows)[:, None], where=at.carried)
        del fresh, stored
    _take_back_continued_drops(channels, new, at)
    bridge = at.joined(
        at.place(new.bridge_down, at.new_off, 0.0), at.place(old.bridge_down, at.old_off, 0.0, at.rows)
    )
    return HourlyGrid(
        home_id=new.home_id,
        device_keys=list(new.device_keys),
        start=new.start + at.first * HOUR,
        n_hours=at.n_hours,
        channels=channels,
        has_battery=new.has_battery.copy(),
        telemetry=None if new.telemetry is None else new.telemetry.copy(),
        numeric_primary=None if new.numeric_primary is None else new.numeric_primary.copy(),
        first_seen=_merged_first_seen(old, new, at.rows, at.old_off, at.new_off, at.n_hours),
        swap_hours=_merged_swaps(old, new, at.rows, at.old_off, at.new_off, at.n_hours),
        bridge_down=bridge,
        states_from=int(
            np.clip(min(at.old_off + old.states_from, at.cut) if at.have.any() else at.cut, 0, at.n_hours)
        ),
    )


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the old and the new grid land in the merged one (hours after its start)."""

    first: int  # the merged grid's first hour, in hours after the new grid's start
    n_hours: int
    new_off: int  # the new grid's first hour in the merged grid
    old_off: int  # the old grid's first hour in the merged grid
    rows: npt.NDArray[np.int64]  # each new device's row in the old grid, -1 if it had none
    have: npt.NDArray[np.bool_]  # rows >= 0
    cut: int  # the first hour the new grid saw state rows (may be negative)
    # (n_new_devices, n_hours) the hours each device's state channels come from the old grid:
    # those before `cut`, and until its own state rows begin those the old grid covers
    from_old: npt.NDArray[np.bool_]
    # (n_new_devices, n_hours) the hours after the old grid's end before the device's own state
    # rows begin, when the old grid reaches `cut`: its last unavailable share in the old grid holds
    carried: npt.NDArray[np.bool_]

    def place(
        self, src: Channel, offset: int, fill: float, sel: npt.NDArray[np.int64] | None = None
    ) -> Channel:
        """Return a (n_new_devices, n_hours) channel holding `src` from hour `offset`, `fill` elsewhere.

        With `sel`, row i comes from `src[sel[i]]` (rows with sel < 0 keep `fill`).
        """
        out = np.full((self.rows.shape[0], self.n_hours), fill, dtype=src.dtype)
        lo, hi = max(offset, 0), min(offset + src.shape[1], self.n_hours)
        if hi <= lo:
            return out
        part = src[:, lo - offset : hi - offset]
        if sel is None:
            out[:, lo:hi] = part
        else:
            out[self.have, lo:hi] = part[sel[self.have]]
        return out

    def joined(self, fresh: Channel, stored: Channel) -> Channel:
        """Return a state channel: `stored` in the hours `from_old`, `fresh` in the others."""
        fresh = _widened(fresh, stored)  # a count channel either grid had to keep in float32
        np.copyto(fresh, stored, where=self.from_old)  # `fresh` is place()'s own array
        return fresh


def _layout(old: HourlyGrid, new: HourlyGrid, keep_days: int) -> _Layout:
    """Return where the two grids land in the merged one."""
    keep_hours = keep_days * 24
    # Offsets beyond this put the old grid wholly outside the result, whatever its size.
    limit = old.n_hours + new.n_hours + keep_hours + 1
    old_shift = _hours_after(old.start, new.start, limit)
    first = max(min(old_shift, 0), new.n_hours - keep_hours)  # in hours after new.start
    old_row = {d: i for i, d in enumerate(old.device_keys)}
    rows = np.array([old_row.get(d, -1) for d in new.device_keys], dtype=np.int64)
    n_hours, cut, old_off = new.n_hours - first, new.states_from - first, old_shift - first
    old_end = old_off + old.n_hours
    assert new.primary_states_from is not None  # set by HourlyGrid.__post_init__
    # Each device's own state rows begin here; the old grid's state is kept until then.
    own = np.where(rows >= 0, np.maximum(new.primary_states_from - first, cut), cut)[:, None]
    hour = np.arange(n_hours)
    # The last state the old grid saw holds on only if the new grid sees every row after it.
    carried = (hour >= old_end) & (hour < own) if old_end >= cut else np.zeros((rows.size, n_hours), bool)
    return _Layout(
        first=first,
        n_hours=n_hours,
        new_off=-first,
        old_off=old_off,
        rows=rows,
        have=rows >= 0,
        cut=cut,
        from_old=(hour < cut) | ((hour >= old_off) & (hour < old_end) & (hour < own)),
        carried=carried,
    )


def _take_back_continued_drops(channels: dict[str, Channel], new: HourlyGrid, at: _Layout) -> None:
    """Remove the new grid's opening drop of each device the old grid had unavailable the hour before.

    That hour is one of the old grid's, or one its last share is held on to (`from_old`, `carried`):
    the device's state rows in the new grid begin at the drop's hour, right after it.
    """
    assert new.opens_unavailable is not None and new.primary_states_from is not None  # __post_init__
    hour = new.primary_states_from + at.new_off
    devices = np.flatnonzero(new.opens_unavailable & (hour >= 1) & (hour < at.n_hours))
    before = hour[devices] - 1
    stored = at.from_old[devices, before] | at.carried[devices, before]
    devices = devices[stored & (channels["unavailable"][devices, before] > 0.0)]
    channels["drops"][devices, hour[devices]] -= 1


def _last_hour(channel: Channel, rows: npt.NDArray[np.int64]) -> Channel:
    """(n_new_devices,) each device's value in the old grid's last hour (0 for one it did not know)."""
    last = np.zeros(rows.shape, dtype=channel.dtype)
    if channel.shape[1]:
        last[rows >= 0] = channel[rows[rows >= 0], -1]
    return last


def _widened(fresh: Channel, stored: Channel) -> Channel:
    """`fresh`, in a dtype that holds the values of both (float32 when they differ)."""
    return fresh if fresh.dtype == stored.dtype else fresh.astype(np.result_type(fresh, stored, np.float32))


def _merged_first_seen(
    old: HourlyGrid, new: HourlyGrid, rows: npt.NDArray[np.int64], old_off: int, new_off: int, n_hours: int
) -> npt.NDArray[np.int64]:
    """First hour each new device was seen in either grid; n_hours for never (shape (n_new,))."""
    never = np.iinfo(np.int64).max
    first_new = np.where(new.first_seen < new.n_hours, new.first_seen + new_off, never)
    first_old = np.full(rows.shape, never, dtype=np.int64)
    have = rows >= 0
    seen_old = old.first_seen[rows[have]]
    first_old[have] = np.where(seen_old < old.n_hours, seen_old + old_off, never)
    first_seen: npt.NDArray[np.int64] = np.clip(np.minimum(first_new, first_old), 0, n_hours).astype(np.int64)
    return first_seen


def _merged_swaps(
    old: HourlyGrid, new: HourlyGrid, rows: npt.NDArray[np.int64], old_off: int, new_off: int, n_hours: int
) -> list[npt.NDArray[np.int64]]:
    """Known battery swap hours of each new device from both grids, sorted, inside the result."""
    swaps = []
    for i, r in enumerate(rows):
        hours = new.swap_hours[i] + new_off
        if r >= 0:
            hours = np.concatenate((hours, old.swap_hours[r] + old_off))
        hours = np.unique(hours)
        swaps.append(hours[(hours >= 0) & (hours < n_hours)].astype(np.int64))
    return swaps
