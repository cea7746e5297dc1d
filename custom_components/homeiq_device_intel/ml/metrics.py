"""Evaluation metrics in numpy, used offline and on the device alike."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .alerts import MAX_ROW_GAP_HOURS, held_alarm, release_point

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
    n_alerts, precision = alert_precision(alarm, device, hour, y)
    both = precision + warned
    return {
        "alerts": float(n_alerts),
        "alert_precision": precision,
        "event_recall": warned,
        "event_f1": 2 * precision * warned / both if both > 0 else float("nan"),
    }


def alert_precision(
    alarm: npt.NDArray[np.bool_],
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    y: Array,
) -> tuple[int, float]:
    """Number of alerts and the share that came true (NaN without alerts); see `alert_metrics`.

    All arrays (n_rows,), ordered by device, then hour.
    """
    if not alarm.size:
        return 0, float("nan")
    _, _, came_true = alert_outcomes(alarm, device, hour, y)
    return came_true.size, float(came_true.mean()) if came_true.size else float("nan")


def alert_outcomes(
    alarm: npt.NDArray[np.bool_],
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    y: Array,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Each alert and whether it came true (any of its rows positive); see `alert_metrics`.

    Returns (n_rows,) the alerts' first rows (`alert_starts`), (n_rows,) each row's alert
    number (meaningful on alarmed rows) and (n_alerts,) whether each alert came true.
    """
    starts = alert_starts(alarm, device, hour)
    run_id = np.cumsum(starts) - 1
    came_true = np.zeros(int(starts.sum()), dtype=bool)
    came_true[np.unique(run_id[alarm & (y == 1.0)])] = True
    return starts, run_id, came_true


def alert_starts(
    alarm: npt.NDArray[np.bool_], device: npt.NDArray[np.int64], hour: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """(n_rows,) the first row of each alert (a run of alarmed rows a day apart or closer, one device)."""
    new_device = np.concatenate(([True], device[1:] != device[:-1]))
    gap = np.concatenate(([True], np.diff(hour) > MAX_ROW_GAP_HOURS))
    prev_alarm = np.concatenate(([False], alarm[:-1]))
    starts: npt.NDArray[np.bool_] = alarm & (new_device | gap | ~prev_alarm)
    return starts


def event_max_scores(
    score: Array,
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    event_hour: Array,
    horizon_hours: int,
) -> Array:
    """Per failure, the highest score of its device's rows in the horizon before it: (n_events,).

    The failures are those of `lead_times` (one per device and event hour with an
    eligible row), in the same order; a failure is warned of at threshold t
    exactly when its value is >= t.
    """
    ok = np.isfinite(event_hour) & (event_hour - hour < horizon_hours) & (event_hour >= hour)
    if not ok.any():
        return np.empty(0)
    keys = np.stack([device[ok].astype(np.float64), event_hour[ok]])
    _, inverse = np.unique(keys, axis=1, return_inverse=True)
    inverse = inverse.reshape(-1)
    out = np.full(int(inverse.max()) + 1, -np.inf)
    np.maximum.at(out, inverse, score[ok])
    return out


def _threshold_warning(event_max: Array, k: int) -> float:
    """The highest threshold that warns of at least k failures (k >= 1)."""
    return float(np.sort(event_max)[::-1][min(k, event_max.size) - 1])


def matched_alerts(
    model: Array,
    model_threshold: float,
    other: Array,
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    y: Array,
    event_hour: Array,
    horizon_hours: int,
    *,
    release_fraction: float = 1.0,
) -> dict[str, float]:
    """Alerts that came true of two scorers at equal failures warned of.

    The model warns of k failures at its operating threshold (at least one). A
    coarse score (a rule, a count) can only warn of certain numbers of failures,
    one per distinct threshold; the one nearest to k is taken (the smaller on a
    tie), and the model takes the highest threshold warning of as many. A failure
    only counts as warned of when its score is above the scorer's lowest score:
    alarming on every row is no warning (one endless alert per device would make
    a poor rule look precise), so NaN figures when a scorer cannot warn of any
    failure that way. Ties in the model's score can leave it warning of more:
    each scorer's own share is returned. Arrays (n_rows,) ordered by device, then
    hour. Returns the common share of failures warned of, and per scorer its
    threshold, alerts, alerts that came true and failures warned of. Both
    scorers' alerts follow the alert rule (`alerts.held_alarm`): on at the
    threshold, held until the score falls `release_fraction` of the way from its
    floor (0 for the model's probability, the lowest score for the other) to the
    threshold (1.0: a plain threshold); this changes how many alerts, not which
    failures are warned of first.
    """
    em_model = event_max_scores(model, device, hour, event_hour, horizon_hours)
    em_other = event_max_scores(other, device, hour, event_hour, horizon_hours)
    nan = float("nan")
    if em_model.size == 0:
        return {"failures_warned": nan, "model_alert_precision": nan, "alert_precision": nan}
    matched = _matched_level(em_model, em_other, model_threshold, floors=(model.min(), other.min()))
    if matched is None:
        return {"failures_warned": 0.0, "model_alert_precision": nan, "alert_precision": nan}
    k, other_threshold = matched
    thresholds = (_threshold_warning(em_model, k), other_threshold)
    alarms = matched_alarms(model, other, device, hour, thresholds, release_fraction=release_fraction)
    out: dict[str, float] = {"failures_warned": k / em_model.size}
    for prefix, thr, em, alarm in zip(("model_", ""), thresholds, (em_model, em_other), alarms, strict=True):
        out[f"{prefix}threshold"] = thr
        out.update(_alert_figures(prefix, alarm, float(np.mean(em >= thr)), device, hour, y))
    return out


def matched_alarms(
    model: Array,
    other: Array,
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    thresholds: tuple[float, float],
    *,
    release_fraction: float,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Both scorers' alerts as `matched_alerts` makes them, at its `model_threshold` and `threshold`.

    (n_rows,) each: on at the threshold, held until the score falls `release_fraction` of the
    way from its floor (0 for the model's probability, the other's lowest score) to it.
    """
    floors = (0.0, float(other.min()))
    model_alarm, other_alarm = (
        held_alarm(score, device, hour, thr, release_point(thr, release_fraction, floor))
        for score, thr, floor in zip((model, other), thresholds, floors, strict=True)
    )
    return model_alarm, other_alarm


def _matched_level(
    em_model: Array, em_other: Array, model_threshold: float, *, floors: tuple[float, float]
) -> tuple[int, float] | None:
    """The number of failures both scorers warn of and the other's threshold for it (see matched_alerts).

    None when the other scorer cannot warn of any failure the model could also reach.
    """
    reachable_model = int(np.sum(em_model > floors[0]))
    levels = np.unique(em_other[em_other > floors[1]])
    counts = np.array([int(np.sum(em_other >= v)) for v in levels], dtype=np.int64)
    usable = counts <= reachable_model
    if not usable.any():
        return None
    levels, counts = levels[usable], counts[usable]
    k = max(int(np.sum(em_model >= model_threshold)), 1)
    pick = int(np.lexsort((counts, np.abs(counts - k)))[0])
    return int(counts[pick]), float(levels[pick])


def _alert_figures(
    prefix: str,
    alarm: npt.NDArray[np.bool_],
    event_recall: float,
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    y: Array,
) -> dict[str, float]:
    """Return one scorer's alerts, the share that came true and the share of failures warned of."""
    n_alerts, precision = alert_precision(alarm, device, hour, y)
    return {
        f"{prefix}alerts": float(n_alerts),
        f"{prefix}alert_precision": precision,
        f"{prefix}event_recall": event_recall,
    }


def interval_coverage(y: Array, low: Array, high: Array) -> float:
    """Share of true values inside [low, high]."""
    if y.size == 0:
        return float("nan")
    return float(np.mean((y >= low) & (y <= high)))
