"""Evaluation metrics in numpy, used offline and on the device alike."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def confusion_metrics(y: Array, p: Array, threshold: float) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of `p >= threshold` against 0/1 labels."""
    pred = p >= threshold
    truth = y > 0.5
    tp = float(np.sum(pred & truth))
    fp = float(np.sum(pred & ~truth))
    fn = float(np.sum(~pred & truth))
    tn = float(np.sum(~pred & ~truth))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = tp + fp + fn + tn
    return {
        "accuracy": (tp + tn) / total if total else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def precision_recall_curve(y: Array, p: Array) -> tuple[Array, Array, Array]:
    """Precision, recall and the threshold at each distinct score, descending."""
    truth = y > 0.5
    order = np.argsort(-p, kind="mergesort")
    p_sorted, t_sorted = p[order], truth[order]
    tp = np.cumsum(t_sorted)
    fp = np.cumsum(~t_sorted)
    last = np.r_[np.flatnonzero(np.diff(p_sorted)), p_sorted.size - 1]
    n_pos = max(int(truth.sum()), 1)
    return tp[last] / (tp[last] + fp[last]), tp[last] / n_pos, p_sorted[last]


def pr_auc(y: Array, p: Array) -> float:
    """Area under the precision-recall curve (average precision, step-wise); NaN without positives."""
    if not np.any(y > 0.5):
        return float("nan")
    precision, recall, _ = precision_recall_curve(y, p)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def brier(y: Array, p: Array) -> float:
    """Mean squared error of probabilities."""
    return float(np.mean((p - y) ** 2)) if y.size else float("nan")


def log_loss(y: Array, p: Array) -> float:
    """Mean negative log-likelihood of 0/1 labels."""
    q = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))) if y.size else float("nan")


def best_f1_threshold(y: Array, p: Array) -> float:
    """The score threshold that maximises F1 (ties: the higher threshold)."""
    precision, recall, thresholds = precision_recall_curve(y, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    if f1.size == 0:
        return 0.5
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    return float(thresholds[best[0]])


def classification_report(y: Array, p: Array, threshold: float) -> dict[str, float]:
    """Every classification figure we report for one target."""
    report = confusion_metrics(y, p, threshold)
    report.update(
        {
            "pr_auc": pr_auc(y, p),
            "brier": brier(y, p),
            "log_loss": log_loss(y, p),
            "threshold": float(threshold),
            "positives": float(np.sum(y > 0.5)),
            "rows": float(y.size),
        }
    )
    return report


def lead_times(
    alarm: npt.NDArray[np.bool_],
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    event_hour: Array,
    horizon_hours: int,
) -> Array:
    """Days of warning per event: from the first alarm in the horizon to the event.

    One value per (device, event) that had an eligible row within the horizon;
    0 when no row raised the alarm (a missed event).
    """
    ok = np.isfinite(event_hour) & (event_hour - hour < horizon_hours) & (event_hour >= hour)
    if not ok.any():
        return np.empty(0)
    key_dev, key_evt, a, h = device[ok], event_hour[ok], alarm[ok], hour[ok]
    keys = np.unique(np.stack([key_dev.astype(np.float64), key_evt]), axis=1)
    out = np.zeros(keys.shape[1])
    for k in range(keys.shape[1]):
        rows = (key_dev == keys[0, k]) & (key_evt == keys[1, k]) & a
        if rows.any():
            out[k] = (keys[1, k] - h[rows].min()) / 24.0
    return out


def alert_metrics(
    alarm: npt.NDArray[np.bool_],
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    y: Array,
    event_hour: Array,
    horizon_hours: int,
) -> dict[str, float]:
    """What an owner experiences: alerts that came true and failures that were warned of.

    An alert is a run of consecutive alarmed rows of one device (rows a day apart
    or closer); it came true when any of its rows is positive (a failure starts
    within the horizon). A failure was warned of when at least one of the rows
    within the horizon before it raised the alarm. Rows must be ordered by
    device, then hour.
    """
    events = lead_times(alarm, device, hour, event_hour, horizon_hours)
    warned = float(np.mean(events > 0)) if events.size else float("nan")
    if alarm.size:
        new_device = np.concatenate(([True], device[1:] != device[:-1]))
        gap = np.concatenate(([True], np.diff(hour) > 24))
        prev_alarm = np.concatenate(([False], alarm[:-1]))
        starts = alarm & (new_device | gap | ~prev_alarm)
        run_id = np.cumsum(starts) - 1
        n_alerts = int(starts.sum())
        true_runs = np.zeros(n_alerts, dtype=bool)
        hit = alarm & (y == 1.0)
        true_runs[np.unique(run_id[hit])] = True
    else:
        n_alerts, true_runs = 0, np.zeros(0, dtype=bool)
    precision = float(true_runs.mean()) if n_alerts else float("nan")
    both = precision + warned
    return {
        "alerts": float(n_alerts),
        "alert_precision": precision,
        "event_recall": warned,
        "event_f1": 2 * precision * warned / both if both > 0 else float("nan"),
    }


def interval_coverage(y: Array, low: Array, high: Array) -> float:
    """Share of true values inside [low, high]."""
    if y.size == 0:
        return float("nan")
    return float(np.mean((y >= low) & (y <= high)))
