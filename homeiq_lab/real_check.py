"""Real recorder databases scored as the integration scores them (issue 12, "real data").

Each database is read by the core's recorder reader and scored once a day with the
exported bundle through `scoring.score_home`, the integration's own path: a failure
type is scored only where it applies (a battery we can read, not a daily recharger;
a device old enough to be stale), alerts follow the at-risk rule (`ml.alerts`), and
every alert and every failure found in the history is listed with the probability
the day before. The databases are a few days long: no accuracy is claimed, only
how often an owner would be alerted, on what, and what the model said before the
failures the history shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from custom_components.homeiq_device_intel.ml.alerts import held_alarm, release_fraction
from custom_components.homeiq_device_intel.ml.bundle import ModelBundle
from custom_components.homeiq_device_intel.ml.grid import HOUR, hour_start
from custom_components.homeiq_device_intel.ml.labels import TARGETS
from custom_components.homeiq_device_intel.ml.metrics import alert_starts
from custom_components.homeiq_device_intel.ml.records import HomeHistory
from custom_components.homeiq_device_intel.ml.scoring import DevicePrediction, score_home

from .dataset import build_dataset

DAY_SECONDS = 86400.0
Scorings = list[tuple[float, dict[str, DevicePrediction]]]


def daily_scorings(history: HomeHistory, bundle: ModelBundle, horizon_days: float) -> Scorings:
    """The home scored at the end of each whole day of its history, as the integration would."""
    first = hour_start(history.start) + DAY_SECONDS
    times = [float(t) for t in np.arange(first, history.end + 1.0, DAY_SECONDS)]
    if not times:  # less than a day recorded: one scoring at its end
        times = [history.end]
    return [
        (
            float(t),
            {p.device_key: p for p in score_home(history, bundle, now=float(t), horizon_days=horizon_days)},
        )
        for t in times
    ]


def _alerts(scorings: Scorings, target: str, alarm_at: float, names: dict[str, str]) -> list[dict[str, Any]]:
    """Alerts raised on one failure type, by the alert rule (`alerts.held_alarm`) over the daily scorings.

    A day a device is not scored on this type (absent, or the type does not apply) ends its alert.
    """
    keys = list(dict.fromkeys(key for _, predictions in scorings for key in predictions))
    rows = sorted(
        (keys.index(key), day, p)
        for day, (_, predictions) in enumerate(scorings)
        for key, prediction in predictions.items()
        if (p := prediction.probabilities.get(target)) is not None and np.isfinite(p)
    )
    if not rows:
        return []
    device = np.array([r[0] for r in rows], dtype=np.int64)
    day = np.array([r[1] for r in rows], dtype=np.int64)
    alarm = held_alarm(
        np.array([r[2] for r in rows]), device, 24 * day, alarm_at, release_fraction(target) * alarm_at
    )
    out = []
    for i in sorted(np.flatnonzero(alert_starts(alarm, device, 24 * day)), key=lambda i: (day[i], device[i])):
        key = keys[int(device[i])]
        prediction = scorings[int(day[i])][1][key]
        out.append(
            {
                "device": names.get(key, key),
                "day": (scorings[int(day[i])][0] - scorings[0][0]) / DAY_SECONDS,
                "probability": float(rows[i][2]),
                # Already failing (down for hours, battery at its floor): shown, not predicted.
                "failing_now": prediction.failing_now and prediction.failure_type == target,
                "reasons": [r.text for r in prediction.reasons] if prediction.failure_type == target else [],
            }
        )
    return out


def _failures(
    history: HomeHistory, scorings: Scorings, target: str, horizon_days: float, names: dict[str, str]
) -> list[dict[str, Any]]:
    """Failures the history shows (the core's labels) with the probability scored a day or more before."""
    ds = build_dataset([history], horizon_days=horizon_days)
    if not len(ds):
        return []
    events = ds.next_event_hour[target]
    origin = hour_start(history.start)
    seen = sorted({(int(d), float(e)) for d, e in zip(ds.device, events, strict=True) if np.isfinite(e)})
    out = []
    for device, event_hour in seen:
        key = ds.device_keys[device]
        start = origin + event_hour * HOUR
        before = [(t, p) for t, p in scorings if t <= start - DAY_SECONDS and key in p]
        p_before = before[-1][1][key].probabilities.get(target) if before else None
        out.append(
            {
                "device": names.get(key, key),
                "day": (start - origin) / DAY_SECONDS,
                "probability_day_before": None if p_before is None else float(p_before),
            }
        )
    return out


def check_home(history: HomeHistory, bundle: ModelBundle, horizon_days: float) -> dict[str, Any]:
    """One database: device-days scored per failure type, alerts, and failures with what came before."""
    names = {d.device_key: d.name for d in history.devices}
    scorings = daily_scorings(history, bundle, horizon_days)
    entry: dict[str, Any] = {"devices": len(history.devices), "days": len(scorings)}
    for target in TARGETS:
        classifier = bundle.classifiers.get(target)
        if classifier is None:
            continue
        scored = sum(
            1
            for _, predictions in scorings
            for p in predictions.values()
            if np.isfinite(p.probabilities.get(target, np.nan))
        )
        alerts = _alerts(scorings, target, classifier.threshold, names)
        entry[target] = {
            "device_days": scored,
            "alerts": alerts,
            "alerts_per_100_device_days": 100.0 * len(alerts) / scored if scored else None,
            "failures": _failures(history, scorings, target, horizon_days, names),
        }
    return entry


def check_homes(homes: Sequence[HomeHistory], names: Sequence[str], bundle: ModelBundle) -> dict[str, Any]:
    """Every database, by name."""
    horizon = float(bundle.metadata.get("horizon_days", 7.0))
    return {name: check_home(history, bundle, horizon) for history, name in zip(homes, names, strict=True)}
