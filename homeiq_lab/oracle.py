"""What stops the gate, measured: the same model given the generator's truth of when warnings began.

Issue 12 asks, where a failure type cannot pass the gate, for the best any model could reach on
the generator beside the model. The recall ceiling (`ceiling.py`) bounds recall only. Here the
classifier of each failure type is trained twice on the same rows, with the same parameters and
operating-point rule: once on the features (the shipped recipe), once with two more columns that
no real home has, taken from the generator's truth: whether the warning signs of a coming failure
of that type have begun on the device, and for how many hours. Both are scored by the gate.

- Where the model with the truth passes and the plain model does not, the warning signs are
  there to be seen but the features do not see them well enough: the gap is the features'.
- Where even the model with the truth falls short, the horizon and the generator's warnings
  (none for a share of failures, or begun long before the horizon) stop any model.

A third training asks what a model could reach that saw every warning-like episode but not which
ones end in a failure: the same two columns, begun also where a healthy device has a look-alike
episode (the generator's decoys: dropouts, a signal dip, flapping or thinning reports that resolve
on their own; listed in the truth as `decoy_unavailable` and `decoy_stale`). Where the model with
the truth passes and this one does not, knowing when episodes begin is not enough with these
features: telling a failure's episode from a look-alike by its shape is the rest of the gap.

An upper bound: the truth marks a warning from its first hour, before its first sign may show in
the data, so part of what the truth-given model sees no feature could. A fourth training measures
how much (`recorded_warning_hours`): the truth columns only from a row where HA's data shows a
sign. For outages, a dropout or an unavailable hour lately, as HA records it; a precursor dropout
shorter than the device's timeout leaves no unavailable state, so a failure whose warnings were all
such dropouts is, for this model, one without warning, even where other signs (a falling link,
missing reports) were in HA's data. For a battery, a level read low or a recent slope that reaches
empty soon; a battery dying at 45 % on its usual slope shows neither.

Last, whether the ranking or the operating point is the limit: the plain model is scored at every
threshold of a sweep on each evaluation set itself (`model_sweep`). Where one of them passes and
the threshold picked on validation homes does not, the ranking could pass that set; whether one
threshold passes every set is `shared_thresholds`.

Offline evaluation only: the truth columns never reach a shipped model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.alerts import held_alarm, release_fraction
from custom_components.homeiq_device_intel.ml.features import FEATURE_INDEX, FEATURE_NAMES
from custom_components.homeiq_device_intel.ml.grid import HOUR, hour_start
from custom_components.homeiq_device_intel.ml.labels import TARGETS
from custom_components.homeiq_device_intel.ml.records import FailureType, HomeHistory

from .ceiling import truth_index
from .dataset import Dataset
from .gate import BATTERY_SIGN_DAYS, BATTERY_SIGN_LEVEL, FLOOR, battery_sign_shown, judged_rows, owner_metrics
from .synthetic.config import DECOY_OUTAGE, DECOY_STALE
from .train import (
    Split,
    TrainConfig,
    _classifier_threshold,
    _lgbm_params,
    _training_features,
    scored_labels,
    target_features,
)

Float = npt.NDArray[np.float64]
TRUTH_COLUMNS = ("truth_warning_begun", "truth_warning_hours")
# Per target, the truth's healthy look-alikes of its warnings.
LOOK_ALIKES: dict[str, str] = {
    FailureType.UNAVAILABLE.value: DECOY_OUTAGE,
    FailureType.STALE.value: DECOY_STALE,
}
# The failure types whose warnings HA's data may or may not show (`recorded_warning_hours`), and
# the sign each counts.
RECORDED_SIGNS: dict[str, str] = {
    FailureType.UNAVAILABLE.value: "a dropout recorded lately",
    FailureType.BATTERY_DEPLETED.value: (
        f"a level read at {BATTERY_SIGN_LEVEL:.0f} % or less, or a recent slope reaching empty "
        f"within {BATTERY_SIGN_DAYS:.0f} days"
    ),
}
# The plain model's operating points tried on each set itself (`model_sweep`): what the ranking
# could reach at a threshold chosen with hindsight, against the one picked on validation homes.
SWEEP: tuple[float, ...] = tuple(round(0.02 * k, 2) for k in range(1, 46))
SWEPT_FIGURES = (
    "threshold",
    "precision",
    "recall",
    "f1",
    "alerts",
    "alerts_unresolved",
    "precision_resolved",
)


def _hours_under_way(
    homes: Sequence[HomeHistory], ds: Dataset, spans: Iterable[tuple[str, str, float, float]]
) -> Float:
    """Per row of `ds`: hours since the begin of a (home id, device key, begin, end) span under way.

    An hour is under way in [begin, end); NaN where no span is.
    """
    out = np.full(len(ds), np.nan)
    origin = {h.home_id: hour_start(h.start) for h in homes}
    device_index = {key: i for i, key in enumerate(ds.device_keys)}
    rows_of = np.split(np.argsort(ds.device, kind="stable"), np.cumsum(np.bincount(ds.device))[:-1])
    for home_id, device_key, begin, end in spans:
        i = device_index.get(device_key)
        if home_id not in origin or i is None or i >= len(rows_of):
            continue
        rows = rows_of[i]
        times = origin[home_id] + ds.hour[rows] * HOUR
        under_way = (times >= begin) & (times < end)
        out[rows[under_way]] = (times[under_way] - begin) / HOUR
    return out


def warning_hours(homes: Sequence[HomeHistory], ds: Dataset, target: str) -> Float:
    """Per row of `ds`: hours since the warning signs of a coming true failure of `target` began.

    NaN where no such failure is under way at the row's hour (none coming, none with a
    warning, or its warning not begun yet).
    """
    spans = (
        (home_id, device_key, event.warning, event.start)
        for (home_id, device_key, kind), events in truth_index(homes).items()
        if kind == target
        for event in events
        if event.warning is not None
    )
    return _hours_under_way(homes, ds, spans)


def episode_hours(homes: Sequence[HomeHistory], ds: Dataset, target: str) -> Float:
    """As `warning_hours`, and also during a healthy device's look-alike episode (from its first sign).

    Where both are under way the one begun earlier counts (the generator lays look-alikes out on
    healthy devices only, so they never overlap a failure's warning there).
    """
    look_alike = LOOK_ALIKES.get(target)
    spans = (
        (home.home_id, event.device_key, event.start, event.end)
        for home in homes
        for event in home.ground_truth
        if event.kind == look_alike
    )
    return np.fmax(warning_hours(homes, ds, target), _hours_under_way(homes, ds, spans))


def recorded_warning_hours(homes: Sequence[HomeHistory], ds: Dataset, target: str) -> Float:
    """As `warning_hours`, only where HA's data shows a sign of the coming failure (else NaN).

    For outages, a dropout recorded lately (`_dropout_recorded`); for a battery, a level that reads
    low or falls fast enough to run out soon (`gate.battery_sign_shown`). Other types: NaN.
    """
    hours = warning_hours(homes, ds, target)
    if target == FailureType.UNAVAILABLE:
        recorded = _dropout_recorded(ds, hours)
    elif target == FailureType.BATTERY_DEPLETED:
        recorded = battery_sign_shown(ds.X)
    else:
        recorded = np.zeros(len(ds), dtype=bool)
    return np.where(recorded, hours, np.nan)


def _dropout_recorded(ds: Dataset, hours: Float) -> npt.NDArray[np.bool_]:
    """Per row: whether HA has recorded a dropout since an outage's warning began (`hours` ago).

    Read from the row's own window features, an approximation of "since the warning began": a
    dropout or unavailable hour in the last day while the warning is under a day old, a dropout
    in the last three days while it is under three days old, a dropout or unavailable hour in
    the last week after that. Each window may also count a dropout from before the warning (up
    to a day, three days or a week before the row), and a warning older than a week counts only
    while a dropout stays in the week's window.
    """

    def col(name: str) -> Float:
        return ds.X[:, FEATURE_INDEX[name]]

    day = (col("drops_24h") > 0) | (col("unavailable_hours_24h") > 0)
    three_days = col("drops_3d") > 0
    week = (col("drops_7d") > 0) | (col("unavailable_hours_7d") > 0)
    with np.errstate(invalid="ignore"):
        recorded: npt.NDArray[np.bool_] = np.where(hours < 24, day, np.where(hours < 72, three_days, week))
    return recorded


def _with_truth(X: Float, hours: Float, target: str) -> Float:
    """The target's features and the two truth columns."""
    return np.column_stack([target_features(X, target), np.isfinite(hours).astype(np.float64), hours])


def oracle_report(
    ds: Dataset,
    homes: Sequence[HomeHistory],
    split: Split,
    sets: Mapping[str, tuple[Dataset, Sequence[HomeHistory], npt.NDArray[np.bool_], dict[str, Float]]],
    config: TrainConfig,
) -> dict[str, Any]:
    """Gate figures of the plain, the truth-given and the episode-given classifier of each target.

    On each evaluation set; the episode-given one only for targets with look-alikes, the one given
    the warnings HA's data showed for outages and batteries (`RECORDED_SIGNS`). Each entry holds its
    threshold; the plain model's also its figures at every threshold of `SWEEP` (`model_sweep`).

    `sets`: name -> (rows' dataset, its homes, which rows, per-target foreseeable verdicts).
    """
    import lightgbm as lgb

    X = _training_features(ds, config)
    names = [*FEATURE_NAMES, *TRUTH_COLUMNS]
    horizon_hours = int(config.horizon_days * 24)
    report: dict[str, Any] = {}
    for target in TARGETS:
        y = ds.y[target]
        train = split.train_rows(target, y)
        val = split.validation & np.isfinite(y)
        columns = {"model": None, "model_with_truth": warning_hours}
        if target in LOOK_ALIKES:
            columns["model_with_episodes"] = episode_hours
        if target in RECORDED_SIGNS:
            columns["model_with_recorded_warnings"] = recorded_warning_hours
        for variant, hours_of in columns.items():
            if hours_of is None:
                features = target_features(X, target)
            else:
                features = _with_truth(X, hours_of(homes, ds, target), target)
            booster = lgb.train(
                _lgbm_params(config, "binary"),
                lgb.Dataset(features[train], y[train], feature_name=names[: features.shape[1]]),
                num_boost_round=config.n_estimators,
            )
            p_val = np.asarray(booster.predict(features[val]), dtype=np.float64)
            threshold = _classifier_threshold(ds, config, target, p_val, val)
            for set_name, (d, set_homes, rows, seen) in sets.items():
                yy = scored_labels(d.y[target][rows], d.X[rows], target)
                ok = np.isfinite(yy)
                Xs = d.X[rows][ok]
                if hours_of is None:
                    Xs = target_features(Xs, target)
                else:
                    Xs = _with_truth(Xs, hours_of(set_homes, d, target)[rows][ok], target)
                scored = _Scored(
                    p=np.asarray(booster.predict(Xs), dtype=np.float64),
                    device=d.device[rows][ok],
                    hour=d.hour[rows][ok],
                    y=yy[ok],
                    event_hour=d.next_event_hour[target][rows][ok],
                    foreseeable=seen[target][rows][ok],
                    judged=judged_rows(d, horizon_hours)[rows][ok],
                )
                entry = report.setdefault(set_name, {}).setdefault(target, {})
                entry[variant] = _figures_at(scored, threshold, target, horizon_hours)
                if hours_of is None:
                    sweep = (_figures_at(scored, t, target, horizon_hours) for t in SWEEP)
                    entry["model_sweep"] = [{k: m[k] for k in SWEPT_FIGURES} for m in sweep]
    return report


class _Scored(NamedTuple):
    """One evaluation set's scored rows of a target, as `owner_metrics` takes them."""

    p: Float
    device: npt.NDArray[np.int64]
    hour: npt.NDArray[np.int64]
    y: Float
    event_hour: Float
    foreseeable: Float
    judged: npt.NDArray[np.bool_]


def _figures_at(scored: _Scored, alarm_point: float, target: str, horizon_hours: int) -> dict[str, float]:
    """The gate's figures with alerts raised at `alarm_point` (held to the target's release point)."""
    release = release_fraction(target) * alarm_point
    alarm = held_alarm(scored.p, scored.device, scored.hour, alarm_point, release)
    figures = owner_metrics(
        alarm,
        scored.device,
        scored.hour,
        scored.y,
        scored.event_hour,
        scored.foreseeable,
        horizon_hours,
        judged=scored.judged,
    )
    return figures | {"threshold": float(alarm_point)}


def best_of_sweep(sweep: Sequence[dict[str, float]]) -> dict[str, float]:
    """The swept operating point with the highest of min(alerts true, failures warned); ties: higher F1.

    The gate passes at some threshold exactly when this one passes.
    """
    best: dict[str, float] = max(sweep, key=_sweep_rank)
    return dict(best)


def _sweep_rank(m: Mapping[str, float]) -> tuple[float, float]:
    return _floor_figure(m), float(np.nan_to_num(m["f1"], nan=-1.0))


def _floor_figure(m: Mapping[str, float]) -> float:
    """min(alerts that came true, failures warned): the figure the floor binds (-1 if either is NaN)."""
    return float(np.nan_to_num(np.minimum(m["precision"], m["recall"]), nan=-1.0))


def shared_thresholds(
    report: Mapping[str, Mapping[str, Any]], target: str, *, unresolved_unjudged: bool = False
) -> list[float]:
    """The swept thresholds at which the plain model passes the gate on every set that has `target`.

    unresolved_unjudged: judge alerts that came true among those whose outcome the rows tell
    (`precision_resolved`: an alert still on where its device's rows end, no failure come yet, is
    left out), as the gate does not (it counts them false); reported beside it, not gated.
    """
    sweeps = [by_target[target]["model_sweep"] for by_target in report.values() if target in by_target]
    if not sweeps:
        return []
    passes = _passes_resolved if unresolved_unjudged else _passes
    passing = [{m["threshold"] for m in sweep if passes(m)} for sweep in sweeps]
    return sorted(set.intersection(*passing))


def markdown(report: dict[str, Any], lines_before: Sequence[str] = ()) -> list[str]:
    """The report as the model card's table, and per target the thresholds that pass on every set."""
    lines = [
        *lines_before,
        "| evaluation set | failure type | model: alerts true / failures warned / F1 "
        "| the model at the best threshold for this set, chosen on the set itself "
        "| model given the truth of when warnings began "
        "| model given when any warning-like episode began, look-alikes included "
        "| model given when warnings began, once HA's data showed a sign | what stops the gate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for set_name, by_target in report.items():
        for target, variants in by_target.items():
            plain, truth = variants["model"], variants["model_with_truth"]
            best = best_of_sweep(variants["model_sweep"])
            episodes = variants.get("model_with_episodes")
            recorded = variants.get("model_with_recorded_warnings")
            shown = "– (no look-alikes)" if episodes is None else _figures(episodes)
            seen = "–" if recorded is None else _figures(recorded)
            lines.append(
                f"| {set_name} | {target} | {_figures(plain)} "
                f"| {_figures(best)} at {best['threshold']:.2f} (picked: {plain['threshold']:.2f}) "
                f"| {_figures(truth)} | {shown} | {seen} "
                f"| {_verdict(target, plain, best, truth, episodes, recorded)} |"
            )
    lines += [
        "",
        "Thresholds at which the model passes on every evaluation set (swept 0.02 to 0.90); beside, not",
        "gated, the same if an alert still on where its device's rows end, with no failure come yet, were",
        "left unjudged (the gate counts it false; whether it should is a decision open on issue 12):",
    ]
    for target in dict.fromkeys(t for by_target in report.values() for t in by_target):
        shared = _listed(shared_thresholds(report, target))
        unjudged = _listed(shared_thresholds(report, target, unresolved_unjudged=True))
        lines.append(f"- {target}: {shared}; with those alerts left unjudged: {unjudged}")
    return lines


def _listed(thresholds: Sequence[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in thresholds) if thresholds else "none"


def _verdict(
    target: str,
    plain: dict[str, float],
    best: dict[str, float],
    truth: dict[str, float],
    episodes: dict[str, float] | None,
    recorded: dict[str, float] | None,
) -> str:
    """What stops the gate, from which of the models pass."""
    if _passes(plain):
        return "nothing: the model passes"
    if _passes(best):
        return (
            "the operating point: the model's ranking passes at a threshold chosen on this set itself, "
            "not at the one picked on validation homes"
        )
    if not _passes(truth):
        return "the warnings themselves (none, or begun outside the horizon), with the features"
    reasons = []
    if recorded is not None and not _passes(recorded):
        reasons.append(
            f"warnings that never showed in HA's data ({RECORDED_SIGNS[target]}): given when warnings "
            "began only where the data showed one, the model does not pass"
        )
    if episodes is not None and not _passes(episodes):
        reasons.append(
            "the look-alikes, with the features: knowing when every warning-like episode began "
            "is not enough to tell a failure's from a healthy device's with these features"
        )
    if not reasons:
        return "the features: the warnings are there, the model does not see them well enough"
    return "; and ".join(reasons)


def _passes(m: Mapping[str, float]) -> bool:
    """The gate's floor on alerts that came true, failures warned of and F1 (NaN never passes)."""
    return all(m[name] >= FLOOR for name in ("precision", "recall", "f1"))


def _passes_resolved(m: Mapping[str, float]) -> bool:
    """`_passes` with alerts that came true among the resolved ones (`shared_thresholds`)."""
    precision, recall = m["precision_resolved"], m["recall"]
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else float("nan")
    return _passes({"precision": precision, "recall": recall, "f1": f1})


def _figures(m: dict[str, float]) -> str:
    return f"{m['precision']:.2f} / {m['recall']:.2f} / {m['f1']:.2f}"
