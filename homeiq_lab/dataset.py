"""Labelled feature rows from many homes: the training and evaluation set."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.features import (
    FEATURE_NAMES,
    FeatureFrame,
    build_features,
    default_eval_hours,
)
from custom_components.homeiq_device_intel.ml.grid import HourlyGrid, build_grid
from custom_components.homeiq_device_intel.ml.labels import TARGETS, build_labels, find_events
from custom_components.homeiq_device_intel.ml.records import HomeHistory

from .heuristics import GRID_HEURISTICS, grid_heuristics
from .live_view import as_discovered
from .synthetic import GeneratorConfig, cached_home, config_fingerprint, home_sizes

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]


@dataclass(slots=True, kw_only=True)
class Dataset:
    """Feature rows with labels and the keys needed for honest splits.

    X: (n, n_features) float64. y[target]: (n,) 1/0, NaN = not eligible.
    home, device: (n,) int64 indices (device is unique across homes).
    hour: (n,) eval hour within its home's grid; day: hour // 24.
    family: (n,) scenario family of the device ("" when unknown).
    home_ids[home], device_keys[device]: what the indices stand for.
    heuristic_columns: (n, len(GRID_HEURISTICS)) what the simple heuristics need
    beyond the features (ml/heuristics.py), or None; never a model input.
    """

    X: Float
    y: dict[str, Float]
    battery_days: Float
    next_event_hour: dict[str, Float]
    home: Int
    device: Int
    hour: Int
    family: npt.NDArray[np.str_]
    home_ids: list[str]
    device_keys: list[str]
    heuristic_columns: Float | None = None

    def __len__(self) -> int:
        """Number of rows."""
        return int(self.X.shape[0])

    def subset(self, mask: npt.NDArray[np.bool_]) -> Dataset:
        """Rows where mask holds."""
        return Dataset(
            X=self.X[mask],
            y={k: v[mask] for k, v in self.y.items()},
            battery_days=self.battery_days[mask],
            next_event_hour={k: v[mask] for k, v in self.next_event_hour.items()},
            home=self.home[mask],
            device=self.device[mask],
            hour=self.hour[mask],
            family=self.family[mask],
            home_ids=self.home_ids,
            device_keys=self.device_keys,
            heuristic_columns=None if self.heuristic_columns is None else self.heuristic_columns[mask],
        )


def home_rows(
    history: HomeHistory,
    *,
    horizon_days: float = 7.0,
    eval_hours: Int | None = None,
) -> tuple[FeatureFrame, dict[str, Float], Float, dict[str, Float]]:
    """Features and labels of one home at daily evaluation points."""
    frame, y, battery_days, nxt, _ = _home_rows_with_heuristics(
        history, horizon_days=horizon_days, eval_hours=eval_hours
    )
    return frame, y, battery_days, nxt


def _home_rows_with_heuristics(
    history: HomeHistory,
    *,
    horizon_days: float = 7.0,
    eval_hours: Int | None = None,
) -> tuple[FeatureFrame, dict[str, Float], Float, dict[str, Float], Float]:
    """`home_rows` plus the grid columns of the simple heuristics (same rows)."""
    grid = build_grid(history)
    hours = default_eval_hours(grid) if eval_hours is None else eval_hours
    frame = build_features(history, grid, hours)
    labels = build_labels(grid, frame, find_events(grid), horizon_days=horizon_days)
    extra = _heuristic_columns(grid, hours, frame)
    return frame, labels.y, labels.battery_days, labels.next_event_hour, extra


def _heuristic_columns(grid: HourlyGrid, hours: Int, frame: FeatureFrame) -> Float:
    """`grid_heuristics(grid, hours)`: the outage trends the features computed, when they did."""
    if frame.outage_trends is None:
        return grid_heuristics(grid, hours)
    growth, slope = frame.outage_trends
    n, m = growth.shape
    return np.stack([growth.reshape(n * m), slope.reshape(n * m)], axis=1)


def concat(parts: Sequence[Dataset]) -> Dataset:
    """Concatenate datasets (home indices are kept as they are).

    The heuristic columns are kept only when every part has them.
    """
    extras = [p.heuristic_columns for p in parts]
    used = [p for p in parts if len(p) or p.home_ids or p.device_keys]
    if len(used) == 1 and all(p.X.dtype == used[0].X.dtype for p in parts):
        # One part with rows, the others empty (no recorder homes): the
        # concatenation would be a copy of it (hundreds of MB); share its arrays.
        only = used[0]
        keep = bool(extras) and all(e is not None for e in extras)
        return replace(only, heuristic_columns=only.heuristic_columns if keep else None)
    return Dataset(
        X=np.concatenate([p.X for p in parts]),
        y={t: np.concatenate([p.y[t] for p in parts]) for t in TARGETS},
        battery_days=np.concatenate([p.battery_days for p in parts]),
        next_event_hour={t: np.concatenate([p.next_event_hour[t] for p in parts]) for t in TARGETS},
        home=np.concatenate([p.home for p in parts]),
        device=np.concatenate([p.device for p in parts]),
        hour=np.concatenate([p.hour for p in parts]),
        family=np.concatenate([p.family for p in parts]),
        home_ids=[h for p in parts for h in p.home_ids],
        device_keys=[d for p in parts for d in p.device_keys],
        heuristic_columns=(
            np.concatenate([e for e in extras if e is not None])
            if extras and all(e is not None for e in extras)
            else None
        ),
    )


def _one_home(history: HomeHistory, horizon_days: float) -> Dataset:
    """Dataset rows of one home (home and device indices local, made global by `combine`)."""
    frame, y, battery_days, nxt, extra = _home_rows_with_heuristics(history, horizon_days=horizon_days)
    family = np.array([history.scenario.get(d, "") for d in frame.device_keys], dtype=np.str_)
    return Dataset(
        X=frame.X,
        y=y,
        battery_days=battery_days,
        next_event_hour=nxt,
        home=np.zeros(frame.X.shape[0], dtype=np.int64),
        device=frame.device_index,
        hour=frame.eval_hour,
        family=family[frame.device_index] if family.size else np.empty(0, dtype=np.str_),
        home_ids=[history.home_id],
        device_keys=list(frame.device_keys),
        heuristic_columns=extra,
    )


def _empty() -> Dataset:
    return Dataset(
        X=np.empty((0, len(FEATURE_NAMES))),
        y={t: np.empty(0) for t in TARGETS},
        battery_days=np.empty(0),
        next_event_hour={t: np.empty(0) for t in TARGETS},
        home=np.empty(0, dtype=np.int64),
        device=np.empty(0, dtype=np.int64),
        hour=np.empty(0, dtype=np.int64),
        family=np.empty(0, dtype=np.str_),
        home_ids=[],
        device_keys=[],
        heuristic_columns=np.empty((0, len(GRID_HEURISTICS))),
    )


def combine(parts: Sequence[Dataset]) -> Dataset:
    """Concatenate datasets of different homes, making home and device indices global."""
    homes = devices = 0
    shifted = []
    for part in parts:
        shifted.append(replace(part, home=part.home + homes, device=part.device + devices))
        homes += len(part.home_ids)
        devices += len(part.device_keys)
    return concat(shifted) if shifted else _empty()


def build_dataset(
    homes: Sequence[HomeHistory],
    *,
    horizon_days: float = 7.0,
    n_jobs: int = 1,
) -> Dataset:
    """Features and labels for many homes, with globally unique device indices."""
    return combine(_map(_one_home, [(h, horizon_days) for h in homes], n_jobs))


def _map[T](fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], n_jobs: int) -> list[T]:
    """`fn(*args)` for each args, in that order: in worker processes when asked for, else in turn.

    Workers are forked on Linux: they start with this process's modules, so none
    of them imports Home Assistant again (about 1.5 s of CPU a worker). Elsewhere
    (macOS's system libraries are not safe to fork), joblib's workers when
    importable. The calls run in the order given, one at a time per worker (the
    biggest homes first stay first). A call that raises stops the calls not
    started yet.
    """
    workers = _workers(n_jobs, len(calls))
    if workers > 1 and sys.platform == "linux":
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            try:
                return list(pool.map(_call, itertools.repeat(fn), calls))
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    if workers > 1:
        try:
            from joblib import Parallel, delayed
        except ImportError:
            pass
        else:
            return list(Parallel(n_jobs=workers)(delayed(fn)(*args) for args in calls))
    return [fn(*args) for args in calls]


def _workers(n_jobs: int, n_calls: int) -> int:
    """Workers `n_jobs` asks for, at most one a call (as joblib: -1 all CPUs, -2 all but one, 0 none)."""
    if n_jobs == 0:
        raise ValueError("n_jobs=0 asks for no worker: use 1, a number of workers, or -1 for all CPUs")
    if n_jobs == 1 or n_calls <= 1:
        return 1
    cpus = os.cpu_count() or 1
    if n_jobs < 0:
        return max(1, min(cpus + 1 + n_jobs, n_calls))
    return min(n_jobs, n_calls)


def _call[T](fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    """`fn(*args)` (what a worker runs for each call)."""
    return fn(*args)


def _synthetic_home(
    config: GeneratorConfig, index: int, horizon_days: float, folder: Path | None
) -> tuple[Dataset, HomeHistory]:
    """One synthetic home's rows, generated (or read from the cache) in this process.

    Returns the rows and the home without its records (metadata and ground truth).
    """
    history = cached_home(config, index, folder)
    # Rows of the home as a live Home Assistant shows it to the integration (`live_view`).
    part = _one_home(as_discovered(history), horizon_days)
    return part, replace(history, states={}, statistics={}, battery_swaps={})


def synthetic_dataset(
    config: GeneratorConfig,
    *,
    horizon_days: float = 7.0,
    n_jobs: int = 1,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[Dataset, list[HomeHistory]]:
    """Generate a config's homes and build their rows, each home in one worker.

    Same rows as `build_dataset(generate_homes(config))`, but the bulky histories
    never cross process boundaries: workers return rows and record-less homes
    (metadata and ground truth). With `cache_dir`, homes are cached as in
    `generate_homes` (same layout, shared).
    """
    return synthetic_datasets([config], horizon_days=horizon_days, n_jobs=n_jobs, cache_dir=cache_dir)[0]


def synthetic_datasets(
    configs: Sequence[GeneratorConfig],
    *,
    horizon_days: float = 7.0,
    n_jobs: int = 1,
    cache_dir: str | os.PathLike[str] | None = None,
) -> list[tuple[Dataset, list[HomeHistory]]]:
    """`synthetic_dataset` of each config, all homes in one pool of workers.

    The same results as one call per config; in workers, the homes with the
    most devices go first (so no worker is left with a big home at the end,
    nor waits between the configs).
    """
    calls: list[tuple[GeneratorConfig, int, float, Path | None]] = []
    sizes: list[int] = []
    for config in configs:
        folder = Path(cache_dir) / config_fingerprint(config) if cache_dir is not None else None
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        calls += [(config, i, horizon_days, folder) for i in range(config.n_homes)]
        if n_jobs != 1:
            sizes += home_sizes(config)
    order = sorted(range(len(calls)), key=lambda k: -sizes[k]) if sizes else list(range(len(calls)))
    done = _map(_synthetic_home, [calls[k] for k in order], n_jobs)
    results = dict(zip(order, done, strict=True))
    out = []
    first = 0
    for config in configs:
        part = [results[k] for k in range(first, first + config.n_homes)]
        first += config.n_homes
        out.append((combine([r[0] for r in part]), [r[1] for r in part]))
    return out
