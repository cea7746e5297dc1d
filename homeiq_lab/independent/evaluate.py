"""The clean-room homes scored through the integration's own path, against the truth and two simple baselines.

Each home's database is read by the core's recorder reader with the registry
the integration's discovery would pass (`registry.load_registry`), then scored
at the end of every whole day by `real_check.daily_scorings` (the shipped
bundle through `scoring.score_home`). Every (device, day) before the device's
first failure is a row; its label is "fails within the horizon (7 days)".

Scores ranked, over all rows and split by what powers the device (the truth):
- rules and the straight-line + dropout-trend heuristic (`baselines`);
- ours: the model's probability of the device, the highest over the failure
  types that apply to it (`DevicePrediction.probability`), since the label is
  any failure; a device the integration does not score counts as 0.
Per failure type, the type's own probability (not applicable: 0) against that
type's label. Also the Brier skill score of the per-type probabilities (pooled
over the rows where the type applies; reference: the base rate) and precision
and recall of "at risk" (the highest probability >= 20 %) over the rows.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.bundle import ModelBundle
from custom_components.homeiq_device_intel.ml.metrics import brier, pr_auc
from custom_components.homeiq_device_intel.ml.recorder.reading import read_history
from custom_components.homeiq_device_intel.ml.records import FailureType, HomeHistory
from homeiq_lab.real_check import Scorings, daily_scorings

from .baselines import (
    DeviceSignals,
    battery_trend_score,
    device_signals,
    dropout_trend_score,
    rules_score,
    trend_score,
)
from .registry import load_registry

DAY: Final = 86400.0
AT_RISK: Final = 0.2
# Truth failure type -> the model's failure type.
TYPES: Final[dict[str, str]] = {
    "battery_depleted": FailureType.BATTERY_DEPLETED.value,
    "offline": FailureType.UNAVAILABLE.value,
    "stale": FailureType.STALE.value,
}
METHODS: Final = ("rules", "trend", "ours")


@dataclass(slots=True)
class Rows:
    """One entry per (device, day) scored before the device's first failure."""

    home: list[int] = field(default_factory=list)
    device: list[str] = field(default_factory=list)
    day: list[float] = field(default_factory=list)
    power: list[str] = field(default_factory=list)
    fate: list[str] = field(default_factory=list)  # the truth's fate (healthy, flaky...)
    # False for a positive row of an offline/stale failure whose warning signs had not begun (or never did).
    foreseeable: list[bool] = field(default_factory=list)
    label: list[str | None] = field(default_factory=list)  # the failure type due within the horizon
    score: dict[str, list[float]] = field(
        default_factory=lambda: {m: [] for m in (*METHODS, "battery_trend", "dropout_trend")}
    )
    prob: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TYPES})
    scored: list[bool] = field(default_factory=list)


def read_home(db: Path, registry: Path, truth: dict[str, Any]) -> HomeHistory:
    """The home's history as the integration reads it: the watched entities, with the registry's devices."""
    entities = load_registry(registry)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        history = read_history(
            lambda sql, params: conn.execute(sql, params),
            start=float(truth["start"]),
            end=float(truth["end"]),
            entity_ids=list(entities),
            registry=entities,
            home_id=db.stem,
        )
    finally:
        conn.close()
    return history


def _add_row(rows: Rows, home: int, truth: dict[str, Any], now: float, signals: DeviceSignals) -> None:
    """The baselines' scores of one device at one time, and its label."""
    failure = truth["time"]
    due = failure is not None and failure <= now + 7 * DAY
    rows.home.append(home)
    rows.device.append(truth["key"])
    rows.day.append(now)
    rows.power.append(truth["power"])
    rows.fate.append(truth["fate"])
    silent = truth["failure"] in ("offline", "stale") and (truth["warning"] is None or truth["warning"] > now)
    rows.foreseeable.append(not (due and silent))
    rows.label.append(truth["failure"] if due else None)
    rows.score["rules"].append(rules_score(signals, now))
    rows.score["trend"].append(trend_score(signals, now))
    rows.score["battery_trend"].append(battery_trend_score(signals, now))
    rows.score["dropout_trend"].append(dropout_trend_score(signals, now))


def home_rows(rows: Rows, home: int, history: HomeHistory, truth: dict[str, Any], scorings: Scorings) -> None:
    """Add every (device, day) row of one home."""
    signals = device_signals(history)
    empty = DeviceSignals(np.empty(0), np.empty(0), [])
    for now, predictions in scorings:
        for device in truth["devices"]:
            if device["time"] is not None and device["time"] <= now:
                continue  # failed already: nothing left to predict
            _add_row(rows, home, device, now, signals.get(device["key"], empty))
            prediction = predictions.get(device["key"])
            rows.scored.append(prediction is not None)
            rows.score["ours"].append(0.0 if prediction is None else float(prediction.probability))
            for name, target in TYPES.items():
                p = None if prediction is None else prediction.probabilities.get(target)
                rows.prob[name].append(float(p) if p is not None and math.isfinite(p) else math.nan)


def average_precision(
    scores: Sequence[float] | npt.NDArray[Any], labels: Sequence[bool] | npt.NDArray[Any]
) -> float:
    """Average precision of ranking by score (ties share one threshold): the core's `metrics.pr_auc`.

    NaN without positives.
    """
    return pr_auc(np.asarray(labels, dtype=np.float64), np.asarray(scores, dtype=np.float64))


def brier_skill(p: npt.NDArray[Any], y: npt.NDArray[Any]) -> float:
    """1 - Brier / Brier of always saying the base rate."""
    base = float(y.mean())
    reference = base * (1 - base)
    return math.nan if reference == 0 else 1.0 - brier(y, p) / reference


def _arrays(rows: Rows) -> dict[str, npt.NDArray[Any]]:
    """The rows as arrays."""
    out: dict[str, npt.NDArray[Any]] = {k: np.asarray(v) for k, v in rows.score.items()}
    out.update({f"p_{k}": np.asarray(v, dtype=np.float64) for k, v in rows.prob.items()})
    out["label"] = np.array([x is not None for x in rows.label])
    out["type"] = np.array([x or "" for x in rows.label])
    out["power"] = np.asarray(rows.power)
    out["fate"] = np.asarray(rows.fate)
    out["foreseeable"] = np.asarray(rows.foreseeable, dtype=bool)
    out["scored"] = np.asarray(rows.scored)
    return out


def ranking_table(a: dict[str, npt.NDArray[Any]]) -> dict[str, dict[str, Any]]:
    """AP of each method on all / battery / mains devices (label: any failure within the horizon).

    The last two lines are splits by the truth, not fair tests, only measures of what costs each
    method: leaving out the devices the truth calls flaky-but-healthy; leaving out the positive rows
    of offline/stale failures before their warning signs began (or that had none).
    """
    table: dict[str, dict[str, Any]] = {}
    for subset, keep in (
        ("all devices", np.ones(len(a["label"]), dtype=bool)),
        ("battery devices", a["power"] == "battery"),
        ("mains devices", a["power"] == "mains"),
        # What the flaky-but-healthy devices cost: the same rows without them (a split by the truth).
        ("mains devices, flaky-but-healthy left out", (a["power"] == "mains") & (a["fate"] != "flaky")),
        (
            "mains devices, positives only once warning signs began",
            (a["power"] == "mains") & a["foreseeable"],
        ),
    ):
        table[subset] = {m: average_precision(a[m][keep], a["label"][keep]) for m in METHODS}
        table[subset]["rows"] = int(keep.sum())
        table[subset]["positive_rows"] = int(a["label"][keep].sum())
    return table


def type_table(a: dict[str, npt.NDArray[Any]]) -> dict[str, dict[str, Any]]:
    """Per failure type: AP of rules, its own trend component and the model's probability of that type."""
    component = {"battery_depleted": "battery_trend", "offline": "dropout_trend", "stale": "dropout_trend"}
    table: dict[str, dict[str, Any]] = {}
    for name in TYPES:
        y = a["type"] == name
        p = np.nan_to_num(a[f"p_{name}"], nan=0.0)
        table[name] = {
            "rules": average_precision(a["rules"], y),
            "trend": average_precision(a[component[name]], y),
            "ours": average_precision(p, y),
            "positive_rows": int(y.sum()),
        }
    return table


def calibration(a: dict[str, npt.NDArray[Any]]) -> dict[str, Any]:
    """Brier skill per type (pooled where it applies), its rows and positives; at-risk precision, recall."""
    out: dict[str, Any] = {"brier_skill": {}, "brier_rows": {}}
    ps, ys = [], []
    for name in TYPES:
        p = a[f"p_{name}"]
        ok = np.isfinite(p)
        y = (a["type"] == name)[ok].astype(float)
        out["brier_skill"][name] = brier_skill(p[ok], y)
        out["brier_rows"][name] = {"rows": int(y.size), "positive": int(y.sum())}
        ps.append(p[ok])
        ys.append(y)
    out["brier_skill"]["pooled"] = brier_skill(np.concatenate(ps), np.concatenate(ys))
    risk = a["ours"] >= AT_RISK
    tp = int((risk & a["label"]).sum())
    out["at_risk"] = {
        "threshold": AT_RISK,
        "precision": tp / int(risk.sum()) if risk.any() else math.nan,
        "recall": tp / int(a["label"].sum()) if a["label"].any() else math.nan,
        "alerted_rows": int(risk.sum()),
    }
    return out


def evaluate_rows(rows: Rows) -> dict[str, Any]:
    """Every figure of the check from the rows."""
    a = _arrays(rows)
    return {
        "ranking": ranking_table(a),
        "by_type": type_table(a),
        **calibration(a),
        "rows": len(rows.label),
        "rows_not_scored_by_the_model": int((~a["scored"]).sum()),
    }


def load_truth(path: Path) -> dict[str, Any]:
    """A home's truth file."""
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def score_homes(paths: Sequence[dict[str, Path]], bundle: ModelBundle) -> tuple[Rows, list[dict[str, Any]]]:
    """Read and score every home; the rows and the truths."""
    horizon = float(bundle.metadata.get("horizon_days", 7.0))
    rows = Rows()
    truths = []
    for home, p in enumerate(paths):
        truth = load_truth(p["truth"])
        history = read_home(p["db"], p["registry"], truth)
        home_rows(rows, home, history, truth, daily_scorings(history, bundle, horizon))
        truths.append(truth)
    return rows, truths
