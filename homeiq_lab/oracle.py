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
the data, so part of what the truth-given model sees no feature could. For outages a fourth
training measures how much of it is dropouts: the truth columns only from a row where the device
has dropped out or been unavailable lately, as HA records it (`recorded_warning_hours`). A
precursor dropout shorter than the device's timeout leaves no unavailable state, so a failure
whose warnings were all such dropouts is, for this model, one without warning, even where other
signs (a falling link, missing reports) were in HA's data.

Offline evaluation only: the truth columns never reach a shipped model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.alerts import held_alarm, release_fraction
from custom_components.homeiq_device_intel.ml.features import FEATURE_INDEX, FEATURE_NAMES
from custom_components.homeiq_device_intel.ml.grid import HOUR, hour_start
from custom_components.homeiq_device_intel.ml.labels import TARGETS
from custom_components.homeiq_device_intel.ml.records import FailureType, HomeHistory

from .ceiling import truth_index
from .dataset import Dataset
from .gate import FLOOR, judged_rows, owner_metrics
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
    """As `warning_hours`, only where HA has recorded a dropout lately (else NaN).

    Read from the row's own window features, an approximation of "since the warning began": a
    dropout or unavailable hour in the last day while the warning is under a day old, a dropout
    in the last three days while it is under three days old, a dropout or unavailable hour in
    the last week after that. Each window may also count a dropout from before the warning (up
    to a day, three days or a week before the row), and a warning older than a week counts only
    while a dropout stays in the week's window.
    """
    hours = warning_hours(homes, ds, target)

    def col(name: str) -> Float:
        return ds.X[:, FEATURE_INDEX[name]]

    day = (col("drops_24h") > 0) | (col("unavailable_hours_24h") > 0)
    three_days = col("drops_3d") > 0
    week = (col("drops_7d") > 0) | (col("unavailable_hours_7d") > 0)
    with np.errstate(invalid="ignore"):
        recorded = np.where(hours < 24, day, np.where(hours < 72, three_days, week))
    return np.where(recorded, hours, np.nan)


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
    the warnings HA recorded only for outages.

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
        if target == FailureType.UNAVAILABLE:
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
                p = np.asarray(booster.predict(Xs), dtype=np.float64)
                device, hour = d.device[rows][ok], d.hour[rows][ok]
                alarm = held_alarm(p, device, hour, threshold, release_fraction(target) * threshold)
                report.setdefault(set_name, {}).setdefault(target, {})[variant] = owner_metrics(
                    alarm,
                    device,
                    hour,
                    yy[ok],
                    d.next_event_hour[target][rows][ok],
                    seen[target][rows][ok],
                    horizon_hours,
                    judged=judged_rows(d, horizon_hours)[rows][ok],
                )
    return report


def markdown(report: dict[str, Any], lines_before: Sequence[str] = ()) -> list[str]:
    """The report as the model card's table."""
    lines = [
        *lines_before,
        "| evaluation set | failure type | model: alerts true / failures warned / F1 "
        "| model given the truth of when warnings began "
        "| model given when any warning-like episode began, look-alikes included "
        "| model given when warnings began, once HA recorded a dropout | what stops the gate |",
        "|---|---|---|---|---|---|---|",
    ]
    for set_name, by_target in report.items():
        for target, variants in by_target.items():
            plain, truth = variants["model"], variants["model_with_truth"]
            episodes = variants.get("model_with_episodes")
            recorded = variants.get("model_with_recorded_warnings")
            shown = "– (no look-alikes)" if episodes is None else _figures(episodes)
            seen = "–" if recorded is None else _figures(recorded)
            lines.append(
                f"| {set_name} | {target} | {_figures(plain)} | {_figures(truth)} | {shown} | {seen} "
                f"| {_verdict(plain, truth, episodes, recorded)} |"
            )
    return lines


def _verdict(
    plain: dict[str, float],
    truth: dict[str, float],
    episodes: dict[str, float] | None,
    recorded: dict[str, float] | None,
) -> str:
    """What stops the gate, from which of the four models pass."""
    if _passes(plain):
        return "nothing: the model passes"
    if not _passes(truth):
        return "the warnings themselves (none, or begun outside the horizon), with the features"
    reasons = []
    if recorded is not None and not _passes(recorded):
        reasons.append(
            "warnings that never showed as a dropout in HA's data: given when warnings began only "
            "where HA had recorded a dropout lately, the model does not pass"
        )
    if episodes is not None and not _passes(episodes):
        reasons.append(
            "the look-alikes, with the features: knowing when every warning-like episode began "
            "is not enough to tell a failure's from a healthy device's with these features"
        )
    if not reasons:
        return "the features: the warnings are there, the model does not see them well enough"
    return "; and ".join(reasons)


def _passes(m: dict[str, float]) -> bool:
    """The gate's floor on alerts that came true, failures warned of and F1 (NaN never passes)."""
    return all(m[name] >= FLOOR for name in ("precision", "recall", "f1"))


def _figures(m: dict[str, float]) -> str:
    return f"{m['precision']:.2f} / {m['recall']:.2f} / {m['f1']:.2f}"
