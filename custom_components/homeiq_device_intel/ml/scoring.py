"""Hourly scoring: a home's grid and features to `DevicePrediction`s, with reasons and battery days."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from .aggregates import KEEP_DAYS, merge_grids
from .battery_life import BatteryLife, Unreliable, combine, outlook
from .battery_log import BatteryLog, earlier_batteries
from .bundle import ModelBundle
from .calibration import apply_platt, rescale_horizon
from .explain import attributions, describe, top_reasons
from .features import (
    BATTERY_FLOOR,
    FEATURE_NAMES,
    FeatureFrame,
    build_features,
)
from .grid import (
    HOME_START_HOURS,
    HOUR,
    HourlyGrid,
    bridge_groups,
    build_grid,
    home_down,
)
from .labels import DEAD_BATTERY_HOURS, DEAD_BATTERY_LEVEL
from .reading import as_read
from .records import FailureType, HomeHistory
from .trees.contributions import path_contributions
from .trees.predict import predict_raw

Float = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    """One signal that pushed a device's failure probability up."""

    feature: str  # feature name, e.g. "battery_slope_7d"
    text: str  # short English phrase, e.g. "battery falling 2.1 %/day"
    weight: float  # share of the explanation, 0..1


@dataclass(frozen=True, slots=True, kw_only=True)
class DevicePrediction:
    """The model's view of one device at one moment."""

    device_key: str
    probability: float  # 0..1, highest over the failure types that apply
    failure_type: str  # the FailureType value with that probability
    probabilities: dict[str, float]  # per applicable failure type
    reasons: tuple[Reason, ...]  # up to 3, strongest first
    battery_days: float | None  # median days until the battery is empty
    battery_days_low: float | None  # 10th percentile
    battery_days_high: float | None  # 90th percentile
    anomaly: float | None  # 0..1, how unusual the device looks
    failing_now: bool = False  # the failure is already under way, not predicted
    # The battery's own history (past batteries, replace-by, trust in its reading); set by score_home.
    battery_life: BatteryLife | None = None
    # Down now with its bridge (SharedOutage.BRIDGE) or the whole home (HOME), not on its own: scored
    # as it stood when that outage began (`score_home`); since: when it began (POSIX seconds).
    shared_outage: str | None = None
    shared_outage_since: float | None = None


class SharedOutage(StrEnum):
    """An outage that takes a device down with others: no failure of its own."""

    BRIDGE = "bridge"  # most devices of its bridge or integration (`grid.bridge_groups`)
    HOME = "home"  # devices across integrations at once: a power cut, the home's network (`grid.home_down`)


SCORING_WINDOW_DAYS = 45  # enough history for every feature window and baseline
MODEL_HORIZON_KEY = "horizon_days"
TRAINED_UNTIL_KEY = "trained_until"
FAILED_OUTAGE_HOURS = 6.0  # unavailable this long: the device has failed already
STALE_BASELINE_DAYS = 14.0  # a device's rhythm is known after two weeks


def _applicable(frame: FeatureFrame) -> dict[str, npt.NDArray[np.bool_]]:
    """Which failure types make sense for each row's device."""
    col = frame.column
    return {
        FailureType.BATTERY_DEPLETED: frame.depletion_applies(),
        FailureType.UNAVAILABLE: frame.outage_applies(),
        FailureType.STALE: (col("age_days") >= STALE_BASELINE_DAYS) & (col("has_telemetry") > 0.5),
    }


def _failing_now(frame: FeatureFrame) -> dict[str, npt.NDArray[np.bool_]]:
    """Failures already under way: shown as certain, not predicted.

    A battery device dark for a day from a low level has died on its battery, as the labels read
    it (`labels.DEAD_BATTERY_LEVEL`): a battery to replace, not an outage or a stale sensor.
    """
    col = frame.column
    level = np.nan_to_num(col("battery_level"), nan=100.0)
    silent = (col("has_telemetry") > 0.5) & (np.nan_to_num(col("silence_vs_usual")) >= 1.0)
    # Away routinely (a key tag out with its owner) is not dark: `outage_applies`.
    own_down = np.where(frame.outage_applies(), col("hours_unavailable_now"), 0.0)
    dark_hours = np.maximum(own_down, np.where(silent, col("hours_since_report"), 0.0))
    applies = frame.depletion_applies()
    died = applies & (level <= DEAD_BATTERY_LEVEL) & (dark_hours >= DEAD_BATTERY_HOURS)
    return {
        FailureType.BATTERY_DEPLETED: (applies & (level <= BATTERY_FLOOR)) | died,
        FailureType.UNAVAILABLE: frame.outage_applies()
        & (col("hours_unavailable_now") >= FAILED_OUTAGE_HOURS)
        & ~died,
        FailureType.STALE: (col("age_days") >= STALE_BASELINE_DAYS)
        & silent
        & (col("hours_unavailable_now") == 0)
        & ~died,
    }


def _reference(bundle: ModelBundle) -> Float:
    """Healthy reference feature values stored with the model."""
    ref = bundle.metadata.get("reference")
    if isinstance(ref, list) and len(ref) == len(bundle.feature_names):
        return np.asarray(ref, dtype=np.float64)
    return np.zeros(len(bundle.feature_names))


def score_frame(
    frame: FeatureFrame, bundle: ModelBundle, *, horizon_days: float = 7.0
) -> list[DevicePrediction]:
    """Predictions for the rows of a feature frame (one row per device)."""
    # A device that recharges routinely has its battery columns unknown already (`build_features`).
    X = frame.X
    n = X.shape[0]
    applicable = _applicable(frame)
    failing = _failing_now(frame)
    probs, raw = _probabilities(X, bundle, horizon_days, applicable, failing)
    targets = list(probs)
    stacked = np.stack([probs[t] for t in probs], axis=1) if probs else np.zeros((n, 0))
    best = np.argmax(np.nan_to_num(stacked, nan=-1.0), axis=1) if targets else np.zeros(n, dtype=int)
    reasons = _reasons(X, bundle, targets, best, raw, failing)
    q = _battery_days(X, bundle, failing)
    # Days remaining only from a level we read, never a guess from the other signals.
    level_known = applicable[FailureType.BATTERY_DEPLETED] & np.isfinite(frame.column("battery_level"))
    anomaly = bundle.anomaly_score(X) if bundle.anomaly is not None else np.full(n, np.nan)

    out: list[DevicePrediction] = []
    for i in range(n):
        per_type = {t: float(probs[t][i]) for t in targets if np.isfinite(probs[t][i])}
        days = q[:, i] if q is not None and level_known[i] else None
        out.append(
            DevicePrediction(
                device_key=frame.device_keys[int(frame.device_index[i])],
                probability=max(per_type.values(), default=0.0),
                failure_type=targets[int(best[i])] if per_type else FailureType.UNAVAILABLE.value,
                probabilities=per_type,
                reasons=reasons[i],
                battery_days=None if days is None else float(days[1]),
                battery_days_low=None if days is None else float(days[0]),
                battery_days_high=None if days is None else float(days[2]),
                anomaly=float(anomaly[i]) if np.isfinite(anomaly[i]) else None,
                failing_now=bool(any(failing[t][i] for t in failing if t in per_type)),
            )
        )
    return out


def _probabilities(
    X: Float,
    bundle: ModelBundle,
    horizon_days: float,
    applicable: dict[str, npt.NDArray[np.bool_]],
    failing: dict[str, npt.NDArray[np.bool_]],
) -> tuple[dict[str, Float], dict[str, Float]]:
    """Per target, calibrated probabilities over the horizon (NaN where it does not apply) and raw scores."""
    n = X.shape[0]
    model_horizon = float(bundle.metadata.get(MODEL_HORIZON_KEY, 7.0))
    probs: dict[str, Float] = {}
    raw: dict[str, Float] = {}
    for target, classifier in bundle.classifiers.items():
        raw[target] = predict_raw(classifier.ensemble, X)
        margin = classifier.ensemble.sigmoid * raw[target]
        p = apply_platt(margin, classifier.calibration_a, classifier.calibration_b)
        p = rescale_horizon(p, model_horizon, horizon_days)
        if target in failing:
            p = np.where(failing[target], 1.0, p)
        probs[target] = np.where(applicable.get(target, np.ones(n, dtype=bool)), p, np.nan)
    return probs, raw


# The feature that says why a failure already under way is certain.
_FAILING_FEATURE = {
    FailureType.BATTERY_DEPLETED: "battery_level",
    FailureType.UNAVAILABLE: "hours_unavailable_now",
    FailureType.STALE: "hours_since_report",
}


def _reasons(
    X: Float,
    bundle: ModelBundle,
    targets: list[str],
    best: npt.NDArray[np.intp],
    raw: dict[str, Float],
    failing: dict[str, npt.NDArray[np.bool_]],
) -> list[tuple[Reason, ...]]:
    """Per row, the reasons for its most likely failure type (targets[best[row]]).

    Reasons are the features allowed to explain that type (`explain.top_reasons`)
    that pushed its score up: contributions along the tree paths where the
    forest has node values (none when the score is not above the forest's
    starting value), the margin lost to a healthy reference otherwise.
    """
    n = X.shape[0]
    reference = _reference(bundle)
    reasons: list[tuple[Reason, ...]] = [() for _ in range(n)]
    for k, target in enumerate(targets):
        rows = np.flatnonzero(best == k)
        if rows.size == 0:
            continue
        ensemble = bundle.classifiers[target].ensemble
        if ensemble.node_values:
            contrib, _ = path_contributions(ensemble, X[rows])
            # A score at or below the forest's starting value (its average device): nothing stands out.
            contrib[contrib.sum(axis=1) <= 0] = 0.0
        else:
            contrib = attributions(ensemble, X[rows], reference, base=raw[target][rows])
        for r, row in enumerate(rows):
            if failing.get(target, np.zeros(n, dtype=bool))[row]:
                reasons[row] = _failing_reasons(X[row], FailureType(target))
                continue
            reasons[row] = tuple(
                Reason(feature=f, text=t, weight=w)
                for f, t, w in top_reasons(contrib[r], X[row], failure_type=target)
            )
    return reasons


def _failing_reasons(x: Float, target: FailureType) -> tuple[Reason, ...]:
    """Why a failure under way is certain: its feature (`_FAILING_FEATURE`).

    A battery that died above the floor also says how long the device has been dark (`_failing_now`).
    """
    names = [_FAILING_FEATURE[target]]
    if target is FailureType.BATTERY_DEPLETED and x[FEATURE_NAMES.index("battery_level")] > BATTERY_FLOOR:
        down = x[FEATURE_NAMES.index("hours_unavailable_now")] >= DEAD_BATTERY_HOURS
        names.append("hours_unavailable_now" if down else "hours_since_report")
    return tuple(
        Reason(
            feature=name, text=describe(name, float(x[FEATURE_NAMES.index(name)])), weight=1.0 / len(names)
        )
        for name in names
    )


def _battery_days(X: Float, bundle: ModelBundle, failing: dict[str, npt.NDArray[np.bool_]]) -> Float | None:
    """Days to an empty battery, (3, n_rows): 10th, 50th, 90th percentile (0 when empty now).

    None unless the bundle has all three quantile regressors.
    """
    days: dict[str, Float] = {}
    for name in ("battery_days_q10", "battery_days_q50", "battery_days_q90"):
        if name in bundle.regressors:
            days[name] = np.clip(bundle.predict_regression(name, X), 0.0, None)
    if len(days) != 3:
        return None
    q = np.sort(
        np.stack([days["battery_days_q10"], days["battery_days_q50"], days["battery_days_q90"]]),
        axis=0,
    )
    empty = failing[FailureType.BATTERY_DEPLETED]
    q[:, empty] = 0.0
    return q


MAX_REASONS = 3


def reading_reason(life: BatteryLife) -> Reason | None:
    """The reason that says a battery's reading cannot be trusted, or None when it can."""
    view = life.outlook
    if view.unreliable is None:
        return None
    if view.unreliable is Unreliable.DIED_HIGH:
        text = f"battery reading unreliable: this device died at {view.unreliable_level or 0:.0f} % last time"
    elif view.unreliable is Unreliable.STUCK:
        text = "battery reading unreliable: the level has not moved for a month while the battery ages"
    else:
        text = "battery reading unreliable: it moves in coarse steps that hide when it runs out"
    return Reason(feature=f"battery_reading_{view.unreliable.value}", text=text, weight=0.0)


def _with_reading_reason(prediction: DevicePrediction, life: BatteryLife) -> tuple[Reason, ...]:
    """The reasons, with the untrusted reading first for a battery prediction.

    Only there: beside another failure type a battery phrase would not be a
    reason for it (the Battery days remaining sensor shows the reading anyway).
    """
    reason = reading_reason(life)
    if reason is None or prediction.failure_type != FailureType.BATTERY_DEPLETED:
        return prediction.reasons
    return (reason, *prediction.reasons)[:MAX_REASONS]


def home_grid(history: HomeHistory, *, now: float, stored: HourlyGrid | None = None) -> HourlyGrid:
    """The home's hourly grid up to `now`, extended back with stored aggregates.

    Only the last KEEP_DAYS are kept (and learned from), so older hours are not
    even resampled.
    """
    grid = build_grid(history, start=max(history.start, now - KEEP_DAYS * 86400.0), end=now)
    if stored is None:
        return grid
    # Home-wide outages are in each grid's bridge_down as `build_grid` read them (on the
    # recorder's rows, which tell when a device went down); a merged grid does not know that any
    # more (`grid.primary_states_from`), so they are not read again on it.
    return merge_grids(stored, grid, consume_new=True)


def score_home(
    history: HomeHistory,
    bundle: ModelBundle,
    *,
    now: float,
    horizon_days: float = 7.0,
    grid: HourlyGrid | None = None,
    battery_log: BatteryLog | None = None,
) -> list[DevicePrediction]:
    """Score every device of a home at `now` with a model bundle.

    `grid` (from home_grid, with stored aggregates) replaces the grid built
    from `history` alone; `history` still supplies the device metadata.
    `battery_log` adds the past batteries the grid no longer holds.
    """
    if grid is None:
        start = max(history.start, now - SCORING_WINDOW_DAYS * 86400.0)
        grid = build_grid(history, start=start, end=now)
    frame = build_features(history, grid, np.array([grid.n_hours], dtype=np.int64))
    frame, shared = _as_before_outages(history, grid, frame, _shared_outages_now(history, grid))
    scored = with_battery_life(score_frame(frame, bundle, horizon_days=horizon_days), grid, battery_log)
    scored = lean_on_other_signals(scored, frame, bundle, horizon_days=horizon_days)
    return [_with_shared_outage(p, shared.get(p.device_key), grid) for p in scored]


@dataclass(frozen=True, slots=True)
class _Shared:
    """A device down now in an outage shared with others: which, and its first grid hour."""

    row: int  # the device's row in the grid
    kind: SharedOutage
    since: int  # first hour of the outage's run (of `bridge_down`) that reaches the grid's end


def _shared_outages_now(history: HomeHistory, grid: HourlyGrid) -> dict[str, _Shared]:
    """The devices down in the grid's last hour because their bridge or the whole home is out.

    Down: unavailable for most of the hour, in an hour `bridge_down` flags (the grid's bridge
    outages and home-wide ones, `grid.build_grid`); home-wide where `grid.home_down` says so. A
    bridge's outage is shared only when another device of its group went down within
    HOME_START_HOURS of it: a device failing beside a member dead for weeks (most of a small group
    down) fails on its own. A device down since the grid began is left as it is (when it went
    down is unknown).
    Devices with a battery do not count towards a home-wide outage; one that went down with it is
    down in it (`grid.home_down`, as the labels read it).
    """
    if grid.n_hours == 0:
        return {}
    last = grid.n_hours - 1
    down_rows = np.flatnonzero(grid.channels["unavailable"][:, last] > 0.5)
    if down_rows.size == 0:
        return {}
    hours = np.arange(grid.n_hours)
    # Each device down now: the first hour of its run of down hours that reaches the end.
    began = np.where(grid.channels["unavailable"][down_rows] > 0.5, -1, hours).max(axis=1) + 1
    flagged = (grid.bridge_down[down_rows, last] > 0) & (began > 0)
    if not flagged.any():
        return {}
    home_now = home_down(history, grid)[down_rows, last] > 0
    groups = bridge_groups(history, grid.device_keys)[down_rows]
    together = (groups[:, None] == groups[None, :]) & (
        np.abs(began[:, None] - began[None, :]) <= HOME_START_HOURS
    )
    bridge_now = flagged & ~home_now & (together.sum(axis=1) >= 2)
    home = flagged & home_now
    out: dict[str, _Shared] = {}
    for k in np.flatnonzero(home | bridge_now):
        row = int(down_rows[k])
        # The outage's run ends at the last hour: it began after the last hour not flagged.
        run = np.flatnonzero(grid.bridge_down[row] == 0)
        since = int(run[-1]) + 1 if run.size else 0
        out[grid.device_keys[row]] = _Shared(
            row=row, kind=SharedOutage.HOME if home[k] else SharedOutage.BRIDGE, since=since
        )
    return out


def _as_before_outages(
    history: HomeHistory, grid: HourlyGrid, frame: FeatureFrame, shared: dict[str, _Shared]
) -> tuple[FeatureFrame, dict[str, _Shared]]:
    """The frame (one row per device, at the grid's end) with each `shared` device's row as its outage began.

    An outage of its bridge or of the whole home tells nothing of the device: it is scored as it
    stood before, and the devices so scored are returned. One that was down on its own for
    FAILED_OUTAGE_HOURS already then is not: its failure was under way before the others went
    down, and its row stays the one at the end (failing now).
    """
    if not shared:
        return frame, shared
    since = np.array([max(s.since, 1) for s in shared.values()], dtype=np.int64)
    hours = np.unique(since)
    before = build_features(history, grid, hours)
    rows = np.array([s.row for s in shared.values()], dtype=np.int64)
    # build_features' rows are device-major: device d at hours[j] is row d * m + j.
    picked = rows * hours.size + np.searchsorted(hours, since)
    down_on_its_own = before.column("hours_unavailable_now")[picked] >= FAILED_OUTAGE_HOURS
    shared = {key: s for key, s, own in zip(shared, shared.values(), down_on_its_own, strict=True) if not own}
    rows, picked, since = rows[~down_on_its_own], picked[~down_on_its_own], since[~down_on_its_own]
    X = frame.X.copy()
    X[rows] = before.X[picked]
    eval_hour = frame.eval_hour.copy()
    eval_hour[rows] = since
    scored_before = replace(
        frame,
        X=X,
        eval_hour=eval_hour,
        recharging=_picked(frame.recharging, before.recharging, rows, picked),
        off_routinely=_picked(frame.off_routinely, before.off_routinely, rows, picked),
    )
    return scored_before, shared


def _picked(
    now: npt.NDArray[np.bool_] | None,
    before: npt.NDArray[np.bool_] | None,
    rows: npt.NDArray[np.int64],
    picked: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_] | None:
    """A per-row flag of the frame at the end, with `rows` taken from the rows `picked` of the one before."""
    if now is None or before is None:
        return now
    out = now.copy()
    out[rows] = before[picked]
    return out


# What an owner is told of a device down with others (English, as every reason: `explain`).
_SHARED_OUTAGE_REASONS: Final = {
    SharedOutage.BRIDGE: "offline with most devices of its bridge or integration: not a failure of its own",
    SharedOutage.HOME: "offline with devices across integrations (a power cut or network outage?): "
    "not a failure of its own",
}


def _with_shared_outage(
    prediction: DevicePrediction, shared: _Shared | None, grid: HourlyGrid
) -> DevicePrediction:
    """The prediction of a device down in a shared outage, which says so first among its reasons."""
    if shared is None:
        return prediction
    reason = Reason(
        feature=f"{shared.kind.value}_outage", text=_SHARED_OUTAGE_REASONS[shared.kind], weight=0.0
    )
    return replace(
        prediction,
        reasons=(reason, *prediction.reasons)[:MAX_REASONS],
        shared_outage=shared.kind.value,
        shared_outage_since=grid.start + shared.since * HOUR,
    )


def lean_on_other_signals(
    predictions: list[DevicePrediction], frame: FeatureFrame, bundle: ModelBundle, *, horizon_days: float
) -> list[DevicePrediction]:
    """The predictions, with the battery probability of an untrusted reading read as `ml/reading` says.

    For a device that died at a high level before, or whose level is stuck,
    the battery classifier also scores the row read that way; the higher of
    the two probabilities stands (an untrusted reading can only raise it).
    Other devices, and failures already under way, are left as they are.
    """
    battery = FailureType.BATTERY_DEPLETED.value
    classifier = bundle.classifiers.get(battery)
    if classifier is None:
        return predictions
    row_of = {frame.device_keys[int(d)]: i for i, d in enumerate(frame.device_index)}
    picked: list[tuple[int, int, Float]] = []  # (prediction, frame row, row as read)
    for k, prediction in enumerate(predictions):
        life, row = prediction.battery_life, row_of.get(prediction.device_key)
        if life is None or row is None or prediction.failing_now or battery not in prediction.probabilities:
            continue
        read = as_read(frame.X[row], life.outlook.unreliable, life.outlook.unreliable_level)
        if read is not None:
            picked.append((k, row, read))
    if not picked:
        return predictions
    model_horizon = float(bundle.metadata.get(MODEL_HORIZON_KEY, 7.0))
    margin = classifier.ensemble.sigmoid * predict_raw(
        classifier.ensemble, np.stack([r for _, _, r in picked])
    )
    leaned = rescale_horizon(
        apply_platt(margin, classifier.calibration_a, classifier.calibration_b), model_horizon, horizon_days
    )
    out = list(predictions)
    for (k, row, _), probability in zip(picked, leaned, strict=True):
        if probability > out[k].probabilities[battery]:
            out[k] = _with_battery_probability(out[k], float(probability), frame.X[row], bundle)
    return out


def _with_battery_probability(
    prediction: DevicePrediction, probability: float, row: Float, bundle: ModelBundle
) -> DevicePrediction:
    """A prediction with a higher battery probability (and battery reasons when it becomes the likeliest)."""
    battery = FailureType.BATTERY_DEPLETED.value
    probabilities = {**prediction.probabilities, battery: probability}
    failure_type = max(probabilities, key=probabilities.__getitem__)
    reasons = prediction.reasons
    if failure_type == battery and prediction.failure_type != battery:
        X = row[None, :]
        raw = {battery: predict_raw(bundle.classifiers[battery].ensemble, X)}
        [found] = _reasons(X, bundle, [battery], np.zeros(1, dtype=np.intp), raw, {})
        assert prediction.battery_life is not None
        reading = reading_reason(prediction.battery_life)
        reasons = ((reading,) if reading is not None else ()) + found
        reasons = reasons[:MAX_REASONS]
    return replace(
        prediction,
        probability=max(probabilities.values()),
        failure_type=failure_type,
        probabilities=probabilities,
        reasons=reasons,
    )


def with_battery_life(
    predictions: list[DevicePrediction], grid: HourlyGrid, battery_log: BatteryLog | None = None
) -> list[DevicePrediction]:
    """The predictions with each battery's days remaining from its own past batteries where it has them.

    Past batteries are those in the grid and, from `battery_log`, the earlier
    ones the grid no longer holds. The model's quantiles stay where the device
    has no past battery; a battery that is empty now stays at 0 days.
    """
    battery_log = battery_log or {}
    rows = {key: i for i, key in enumerate(grid.device_keys)}
    out = []
    for prediction in predictions:
        row = rows.get(prediction.device_key)
        if row is None or not grid.has_battery[row]:
            out.append(prediction)
            continue
        model = (
            None
            if prediction.battery_days is None
            else (
                float(prediction.battery_days_low if prediction.battery_days_low is not None else 0.0),
                float(prediction.battery_days),
                float(prediction.battery_days_high if prediction.battery_days_high is not None else 0.0),
            )
        )
        earlier = earlier_batteries(grid, row, battery_log.get(prediction.device_key, ()))
        view = outlook(grid, row, earlier=earlier)
        life = combine(model, view)
        if life is None:
            out.append(prediction)
            continue
        empty_now = prediction.failing_now and prediction.battery_days == 0.0
        out.append(
            replace(
                prediction,
                reasons=_with_reading_reason(prediction, life),
                battery_days=0.0 if empty_now else life.days,
                battery_days_low=0.0 if empty_now else life.days_low,
                battery_days_high=0.0 if empty_now else life.days_high,
                battery_life=life,
            )
        )
    return out
