"""Labelled feature rows from many homes: the training and evaluation set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .features import FEATURE_NAMES, FeatureFrame, build_features, default_eval_hours
from .grid import build_grid
from .labels import TARGETS, build_labels, find_events
from .records import HomeHistory

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]


@dataclass(slots=True, kw_only=True)
class Dataset:
    """Feature rows with labels and the keys needed for honest splits.

    X: (n, n_features) float64. y[target]: (n,) 1/0, NaN = not eligible.
    home, device: (n,) int64 indices (device is unique across homes).
    hour: (n,) eval hour within its home's grid; day: hour // 24.
    family: (n,) scenario family of the device ("" when unknown).
    home_ids[home], device_ids[device]: what the indices stand for.
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
    device_ids: list[str]

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
            device_ids=self.device_ids,
        )


def home_rows(
    history: HomeHistory,
    *,
    horizon_days: float = 7.0,
    eval_hours: Int | None = None,
) -> tuple[FeatureFrame, dict[str, Float], Float, dict[str, Float]]:
    """Features and labels of one home at daily evaluation points."""
    grid = build_grid(history)
    hours = default_eval_hours(grid) if eval_hours is None else eval_hours
    frame = build_features(history, grid, hours)
    labels = build_labels(grid, frame, find_events(grid), horizon_days=horizon_days)
    return frame, labels.y, labels.battery_days, labels.next_event_hour


def concat(parts: Sequence[Dataset]) -> Dataset:
    """Concatenate datasets (home indices are kept as they are)."""
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
        device_ids=[d for p in parts for d in p.device_ids],
    )


def _one_home(history: HomeHistory, home_index: int, horizon_days: float) -> Dataset:
    """Dataset rows of one home (device indices local, made global later)."""
    frame, y, battery_days, nxt = home_rows(history, horizon_days=horizon_days)
    family = np.array([history.scenario.get(d, "") for d in frame.device_ids], dtype=np.str_)
    return Dataset(
        X=frame.X,
        y=y,
        battery_days=battery_days,
        next_event_hour=nxt,
        home=np.full(frame.X.shape[0], home_index, dtype=np.int64),
        device=frame.device_index,
        hour=frame.eval_hour,
        family=family[frame.device_index] if family.size else np.empty(0, dtype=np.str_),
        home_ids=[history.home_id],
        device_ids=list(frame.device_ids),
    )


def build_dataset(
    homes: Sequence[HomeHistory],
    *,
    horizon_days: float = 7.0,
    n_jobs: int = 1,
) -> Dataset:
    """Features and labels for many homes, with globally unique device indices."""
    if n_jobs != 1:
        try:
            from joblib import Parallel, delayed
        except ImportError:
            parts = [_one_home(h, i, horizon_days) for i, h in enumerate(homes)]
        else:
            parts = Parallel(n_jobs=n_jobs)(
                delayed(_one_home)(h, i, horizon_days) for i, h in enumerate(homes)
            )
    else:
        parts = [_one_home(h, i, horizon_days) for i, h in enumerate(homes)]
    offset = 0
    for i, part in enumerate(parts):
        part.home[:] = i
        part.device += offset
        offset += len(part.device_ids)
    if not parts:
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
            device_ids=[],
        )
    return concat(parts)
