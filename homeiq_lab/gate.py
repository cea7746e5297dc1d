"""The shipping gate, measured where an owner feels it (DESIGN decision 6).

Per failure type, at the model's operating threshold:

- precision: the share of alerts after which the failure did start within the
  horizon. An alert is a run of alarmed days of one device under the alert rule
  the integration applies (`ml.alerts`: on at the threshold, held until the
  failure type's release point), so a score wobbling around the threshold is
  one alert, as an owner sees it;
- recall: the share of *foreseeable* failures warned of at least a day before
  they started. Foreseeable: the generator's truth says the warning signs began
  at least a day before the start; a failure with no true failure behind it (a
  battery the owner swapped low, a home from a real recorder) counts as
  foreseeable. Failures without any warning sign are reported (recall over all
  failures) but not gated. A failure that starts less than a day after the first
  evaluated row of its device could not be warned of in the rows at all: it is
  counted apart (`failures_too_early_to_warn`), in neither recall;
- F1 of those two; accuracy over device-days.

Offline evaluation only: the generator's truth is never a feature or a label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.alerts import MAX_ROW_GAP_HOURS
from custom_components.homeiq_device_intel.ml.features import FEATURE_INDEX
from custom_components.homeiq_device_intel.ml.grid import HOUR, hour_start
from custom_components.homeiq_device_intel.ml.labels import TARGETS
from custom_components.homeiq_device_intel.ml.metrics import (
    alert_outcomes,
    alert_precision,
    alert_starts,
    confusion_metrics,
)
from custom_components.homeiq_device_intel.ml.records import HomeHistory

from .ceiling import MATCH_SECONDS, truth_index
from .dataset import Dataset

Float = npt.NDArray[np.float64]
ACCURACY = 0.85
FLOOR = 0.80
MIN_WARNING_DAYS = 1.0


def foreseeable_rows(homes: Sequence[HomeHistory], ds: Dataset, target: str) -> Float:
    """Per row of `ds`: 1.0 when the row's next failure of `target` was foreseeable, 0.0 when not.

    NaN for rows without a next failure. A detected failure is matched to its
    device's nearest true failure of the target within MATCH_SECONDS.
    """
    out = np.full(len(ds), np.nan)
    event_hour = ds.next_event_hour[target]
    has = np.flatnonzero(np.isfinite(event_hour))
    if has.size == 0:
        return out
    origin = {h.home_id: hour_start(h.start) for h in homes}
    truth = truth_index(homes)
    keys = np.stack([ds.home[has], ds.device[has], event_hour[has]]).astype(np.float64)
    unique, inverse = np.unique(keys, axis=1, return_inverse=True)
    verdict = np.ones(unique.shape[1])
    for k in range(unique.shape[1]):
        home_id = ds.home_ids[int(unique[0, k])]
        events = truth.get((home_id, ds.device_keys[int(unique[1, k])], target), [])
        if not events or home_id not in origin:
            continue
        start = origin[home_id] + unique[2, k] * HOUR
        nearest = min(events, key=lambda e: abs(e.start - start))
        if abs(nearest.start - start) > MATCH_SECONDS:
            continue
        verdict[k] = float(
            nearest.warning is not None and nearest.start - nearest.warning >= MIN_WARNING_DAYS * 86400.0
        )
    out[has] = verdict[inverse.reshape(-1)]
    return out


def judged_rows(ds: Dataset, horizon_hours: int) -> npt.NDArray[np.bool_]:
    """Per row of `ds`: whether the data holds its horizon (its home's last evaluated hour bounds it).

    A row whose horizon runs past the end of its home's data is labelled only when a failure
    came within it (`labels`), so an alert raised there is seen only when it came true
    (`owner_metrics`' `judged`).
    """
    last_hour = np.zeros(len(ds.home_ids), dtype=np.int64)
    np.maximum.at(last_hour, ds.home, ds.hour)
    judged: npt.NDArray[np.bool_] = ds.hour + horizon_hours <= last_hour[ds.home]
    return judged


def owner_metrics(
    alarm: npt.NDArray[np.bool_],
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    y: Float,
    event_hour: Float,
    foreseeable: Float,
    horizon_hours: int,
    *,
    judged: npt.NDArray[np.bool_] | None = None,
) -> dict[str, float]:
    """The gated figures of one failure type; arrays (n_rows,) ordered by device, then hour.

    `y`: row labels (ineligible rows removed); `event_hour`: the row's next failure's hour (NaN
    when none); `foreseeable`: its verdict from `foreseeable_rows`. `judged`: the rows whose
    horizon the data holds (None: all). A row whose horizon runs past the end of the data is
    labelled only when a failure came within it, so an alert raised there is seen only when it
    came true: the alerts that start on such a row are left out of the alerts' figures (not
    out of recall: a failure's rows are all labelled).
    """
    counted = _judged_alerts(alarm, device, hour, judged)
    n_alerts, precision = alert_precision(counted, device, hour, y)
    precision_at_start = _precision_at_start(counted, device, hour, y)
    unresolved, precision_resolved = _unresolved_alerts(counted, device, hour, y)
    in_horizon = np.isfinite(event_hour) & (event_hour >= hour) & (event_hour - hour < horizon_hours)
    keys = np.stack([device[in_horizon].astype(np.float64), event_hour[in_horizon]])
    nan = float("nan")
    if keys.shape[1] == 0:
        recall = recall_all = nan
        n_failures = n_foreseeable = too_early = 0
    else:
        _, inverse = np.unique(keys, axis=1, return_inverse=True)
        inverse = inverse.reshape(-1)
        n_failures = int(inverse.max()) + 1
        # Earliest alarmed hour per failure; warned when at least a day before its start.
        first_alarm = np.full(n_failures, np.inf)
        rows = alarm[in_horizon]
        np.minimum.at(first_alarm, inverse[rows], hour[in_horizon][rows].astype(np.float64))
        start = np.zeros(n_failures)
        start[inverse] = event_hour[in_horizon]
        warned = (start - first_alarm) >= MIN_WARNING_DAYS * 24
        seen = np.zeros(n_failures, dtype=bool)
        seen[inverse] = foreseeable[in_horizon] == 1.0
        # A failure no evaluated row precedes by a day (it starts on the first day of the
        # rows) could not be warned of here, whatever the model: it is left out of recall.
        earliest = np.full(n_failures, np.inf)
        np.minimum.at(earliest, inverse, hour[in_horizon].astype(np.float64))
        warnable = (start - earliest) >= MIN_WARNING_DAYS * 24
        too_early = int((~warnable).sum())
        seen &= warnable
        n_foreseeable = int(seen.sum())
        recall = float(warned[seen].mean()) if n_foreseeable else nan
        recall_all = float(warned[warnable].mean()) if warnable.any() else nan
    both = precision + recall
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / both if both > 0 else nan,
        "accuracy": confusion_metrics(y, alarm.astype(np.float64), 0.5)["accuracy"],
        "recall_all_failures": recall_all,
        "precision_at_start": precision_at_start,
        "alerts": float(n_alerts),
        "failures": float(n_failures),
        "foreseeable_failures": float(n_foreseeable),
        "failures_too_early_to_warn": float(too_early),
        "alerts_unresolved": float(unresolved),
        "precision_resolved": precision_resolved,
    }


def _judged_alerts(
    alarm: npt.NDArray[np.bool_],
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    judged: npt.NDArray[np.bool_] | None,
) -> npt.NDArray[np.bool_]:
    """The alarm without the alerts that start on a row that is not `judged` (see `owner_metrics`)."""
    if judged is None:
        return alarm
    starts = alert_starts(alarm, device, hour)
    if not starts.any():
        return alarm
    run_id = np.cumsum(starts) - 1
    kept: npt.NDArray[np.bool_] = alarm & judged[starts][np.maximum(run_id, 0)]
    return kept


# A battery's sign in HA's data: its level reads this low (the labels' "died from 25 % or less") ...
BATTERY_SIGN_LEVEL = 25.0
# ... or a straight line through a recent slope reaches empty within this many days.
BATTERY_SIGN_DAYS = 14.0


def battery_sign_shown(X: Float) -> npt.NDArray[np.bool_]:
    """Per row of the feature rows X: whether the battery level HA recorded shows that it may run out soon.

    The level reads BATTERY_SIGN_LEVEL % or less, or a straight line through any of its recent
    slopes (`battery_days_linear_min`: 3 to 30 days) reaches empty within BATTERY_SIGN_DAYS days
    (a cell's knee). A battery that dies at 45 % on its usual slope shows neither. NaN is no sign.
    """
    level = X[:, FEATURE_INDEX["battery_level"]]
    days_linear_min = X[:, FEATURE_INDEX["battery_days_linear_min"]]
    with np.errstate(invalid="ignore"):
        shown: npt.NDArray[np.bool_] = (level <= BATTERY_SIGN_LEVEL) | (days_linear_min <= BATTERY_SIGN_DAYS)
    return shown


def sign_trace(
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    event_hour: Float,
    shown: npt.NDArray[np.bool_],
) -> Float:
    """Per row, 1.0 when its next failure showed a sign in HA's data in time to warn of it, else 0.0.

    Arrays (n_rows,) of one evaluated set; `shown`: whether each row shows the failure type's
    sign. A failure showed it when its last row at least a day before it started (the last a
    warning still counts) does. The generator's truth counts a failure's warning signs from
    their first moment, also those HA never recorded. Rows without a next failure, or whose
    failure has no such row, get 0.0.
    """
    out = np.zeros(device.shape[0])
    has = np.flatnonzero(np.isfinite(event_hour))
    if has.size == 0:
        return out
    keys = np.stack([device[has].astype(np.float64), event_hour[has]])
    _, inverse = np.unique(keys, axis=1, return_inverse=True)
    inverse = inverse.reshape(-1)
    warnable = (event_hour[has] - hour[has]) >= MIN_WARNING_DAYS * 24
    last = np.full(int(inverse.max()) + 1, -1)
    np.maximum.at(last, inverse[warnable], hour[has][warnable])
    at_last = warnable & (hour[has] == last[inverse])
    traced = np.zeros(last.size, dtype=bool)
    traced[inverse[at_last]] = shown[has][at_last]
    out[has] = traced[inverse]
    return out


def dropout_trace(
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    event_hour: Float,
    drops_7d: Float,
    unavailable_7d: Float,
) -> Float:
    """`sign_trace` of outages: the device dropped out or was unavailable in the week before.

    A battery device's dropouts shorter than its hours-long timeout, or a mains device's
    shorter than its own, leave no unavailable state: the truth counts them, HA's data does not.
    """
    return sign_trace(device, hour, event_hour, (drops_7d > 0) | (unavailable_7d > 0))


def _precision_at_start(
    alarm: npt.NDArray[np.bool_], device: npt.NDArray[np.int64], hour: npt.NDArray[np.int64], y: Float
) -> float:
    """The share of alerts whose failure starts within the horizon of their first day (stricter)."""
    starts = alert_starts(alarm, device, hour)
    return float(np.mean(y[starts] == 1.0)) if starts.any() else float("nan")


def _unresolved_alerts(
    alarm: npt.NDArray[np.bool_], device: npt.NDArray[np.int64], hour: npt.NDArray[np.int64], y: Float
) -> tuple[int, float]:
    """Alerts whose outcome the rows do not tell, and the share of the others that came true.

    An alert still on at its device's last row, or at a row after which its device's rows stop
    for more than a day (unlabelled days: a battery already dark, the week before a swap at a
    level that was not low), with no failure come yet, is unresolved: it comes true if the
    failure starts within the horizon of any of its days, and the days after are not labelled.
    Reported beside the gate (not gated): the gate counts such an alert as false.
    """
    if not alarm.any():
        return 0, float("nan")
    _, run_id, came_true = alert_outcomes(alarm, device, hour, y)
    n_alerts = came_true.size
    # The row before a device change, or before a gap in its rows: an alert on there was cut.
    cut = np.concatenate(((device[1:] != device[:-1]) | (np.diff(hour) > MAX_ROW_GAP_HOURS), [True]))
    open_at_end = np.zeros(n_alerts, dtype=bool)
    open_at_end[run_id[alarm & cut]] = True
    unresolved = open_at_end & ~came_true
    resolved = ~unresolved
    return int(unresolved.sum()), float(came_true[resolved].mean()) if resolved.any() else float("nan")


def passes_gate(
    report: dict[str, Any], *, accuracy: float = ACCURACY, floor: float = FLOOR
) -> tuple[bool, list[str]]:
    """The seed's thresholds on each failure type's owner-level figures; returns the failures too."""
    failures = []
    for target in TARGETS:
        gate = report.get(target, {}).get("gate")
        if gate is None:
            failures.append(f"{target}: no held-out rows")
            continue
        if not gate["accuracy"] >= accuracy:
            failures.append(f"{target}: accuracy {gate['accuracy']:.3f} < {accuracy}")
        for name in ("precision", "recall", "f1"):
            if not gate[name] >= floor:
                failures.append(f"{target}: {name} {gate[name]:.3f} < {floor}")
    return not failures, failures


BOOTSTRAP_RESAMPLES = 1000
INTERVAL = (0.05, 0.95)  # a 90 % interval


def gate_intervals(
    alarm: npt.NDArray[np.bool_],
    home: npt.NDArray[np.int64],
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    y: Float,
    event_hour: Float,
    foreseeable: Float,
    horizon_hours: int,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    judged: npt.NDArray[np.bool_] | None = None,
) -> dict[str, list[float]]:
    """90 % intervals of the gated precision, recall and F1, homes resampled with replacement.

    Arrays as `owner_metrics` takes them (ordered by device, then hour), plus each row's home.
    A home is the unit that varies (its devices, its owner), so whole homes are drawn: each
    home's alerts (and those that came true) and foreseeable failures (and those warned of)
    are counted once, then summed over each resample. Intervals are NaN-free only where the
    resamples hold alerts and failures.
    """
    homes = np.unique(home)
    counts = np.zeros((4, homes.size))  # alerts, alerts true, foreseeable failures, warned
    for k, h in enumerate(homes):
        rows = home == h
        m = owner_metrics(
            alarm[rows],
            device[rows],
            hour[rows],
            y[rows],
            event_hour[rows],
            foreseeable[rows],
            horizon_hours,
            judged=None if judged is None else judged[rows],
        )
        alerts, found = m["alerts"], m["foreseeable_failures"]
        counts[:, k] = (
            alerts,
            m["precision"] * alerts if alerts else 0.0,
            found,
            m["recall"] * found if found else 0.0,
        )
    alerts, true, found, warned = (home_weights(homes.size, resamples, seed) @ counts.T).T
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = true / alerts
        recall = warned / found
        f1 = 2 * precision * recall / (precision + recall)
    out: dict[str, list[float]] = {}
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        finite = values[np.isfinite(values)]
        out[name] = [float(q) for q in np.quantile(finite, INTERVAL)] if finite.size else [np.nan, np.nan]
    return out


def home_weights(n_homes: int, resamples: int, seed: int) -> Float:
    """(resamples, n_homes): how often each home is drawn in each resample (with replacement)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_homes, size=(resamples, n_homes))
    weights = np.zeros((resamples, n_homes))
    np.add.at(weights, (np.repeat(np.arange(resamples), n_homes), draws.reshape(-1)), 1.0)
    return weights


def alert_margin_interval(
    alarms: tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]],
    home: npt.NDArray[np.int64],
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    y: Float,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> list[float]:
    """90 % interval of the first scorer's share of alerts that came true minus the second's.

    Both scorers' alerts (`alarms`, (n_rows,) each, rows ordered by device, then hour) are
    counted per home; the same homes are drawn for both in each resample (a paired
    bootstrap, as `gate_intervals`), so what both get right or wrong in a home cancels.
    [NaN, NaN] when a resample left either scorer without alerts every time.
    """
    homes, index = np.unique(home, return_inverse=True)
    counts = np.zeros((4, homes.size))  # first: alerts, true; second: alerts, true
    for k, alarm in enumerate(alarms):
        starts, _, came_true = alert_outcomes(alarm, device, hour, y)
        run_home = index[starts]
        counts[2 * k] = np.bincount(run_home, minlength=homes.size)
        counts[2 * k + 1] = np.bincount(run_home, weights=came_true.astype(float), minlength=homes.size)
    alerts_a, true_a, alerts_b, true_b = (home_weights(homes.size, resamples, seed) @ counts.T).T
    with np.errstate(invalid="ignore", divide="ignore"):
        margin = true_a / alerts_a - true_b / alerts_b
    finite = margin[np.isfinite(margin)]
    return [float(q) for q in np.quantile(finite, INTERVAL)] if finite.size else [np.nan, np.nan]
