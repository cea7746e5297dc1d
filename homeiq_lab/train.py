"""Offline training and honest evaluation (training toolkit: LightGBM, scikit-learn).

Imported only by the offline scripts and, where LightGBM is importable, by the
nightly full retrain; the runtime never needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.alerts import held_alarm, release_fraction
from custom_components.homeiq_device_intel.ml.calibration import apply_platt, fit_platt
from custom_components.homeiq_device_intel.ml.features import FEATURE_INDEX, FEATURE_NAMES
from custom_components.homeiq_device_intel.ml.labels import TARGETS
from custom_components.homeiq_device_intel.ml.metrics import (
    alert_metrics,
    best_f1_threshold,
    classification_report,
    interval_coverage,
    lead_times,
    matched_alarms,
    matched_alerts,
    pr_auc,
    precision_recall_curve,
)
from custom_components.homeiq_device_intel.ml.records import FailureType, HomeHistory
from custom_components.homeiq_device_intel.ml.scoring import STALE_BASELINE_DAYS

from .ceiling import signless_positives
from .dataset import Dataset
from .gate import (
    alert_margin_interval,
    battery_sign_shown,
    dropout_trace,
    gate_intervals,
    judged_rows,
    owner_metrics,
    sign_trace,
)
from .heuristics import HEURISTICS, heuristic_scores

Float = npt.NDArray[np.float64]
QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
BATTERY_DAYS_CAP = 90.0
MIN_CALIBRATION_POSITIVES = 10  # regress days-to-empty only where the end is in sight


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Hyper-parameters and evaluation protocol of the offline training."""

    horizon_days: float = 7.0
    n_estimators: int = 300  # twice the trees: with all days of 240 homes the extra rounds still help
    learning_rate: float = 0.05
    num_leaves: int = 7
    max_depth: int = 4
    min_child_samples: int = 300  # failures are few: large leaves stop memorising devices
    seed: int = 0
    test_home_share: float = 0.25
    validation_home_share: float = 0.2
    time_cut: float = 0.5  # test rows: days after this share of the timeline
    # Train homes contribute all their days, not only those before time_cut: test homes
    # are never trained on, so their late days stay unseen; more failures to learn from.
    train_all_days: bool = True
    holdout_families: tuple[str, ...] = ("signal_decay",)
    chemistry_dropout: float = 0.4  # hide chemistry for this share of devices (real homes rarely know it)
    n_jobs: int = 2
    # Targets whose operating threshold maximises the owner-level F1 (alerts that came true,
    # failures warned of >= 1 day ahead) on validation rows; the others maximise row-level F1.
    owner_threshold_targets: tuple[str, ...] = (FailureType.UNAVAILABLE, FailureType.STALE)
    # Targets whose classifier learns only from the failing days that show a sign, by the
    # generator's truth (`ceiling.row_observable`): a day before a failure that looks exactly
    # like a healthy one teaches the trees only noise. Validation and evaluation keep every
    # row. Measured over three training seeds (models/HISTORY.md, "Nine releases before"):
    # batteries gained (alerts that came true 0.73 -> 0.79 held out), stale moved within noise,
    # outages lost.
    signs_only_targets: tuple[str, ...] = (FailureType.BATTERY_DEPLETED,)


@dataclass(slots=True, kw_only=True)
class Split:
    """Row masks of the honest split."""

    train: npt.NDArray[np.bool_]
    validation: npt.NDArray[np.bool_]
    test: npt.NDArray[np.bool_]
    test_homes: list[int]
    # target -> positive training rows whose failure shows no sign yet (left out of its training)
    signless: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)

    def train_rows(self, target: str, y: Float) -> npt.NDArray[np.bool_]:
        """The rows a target's classifier learns from: labelled training rows, signless ones out."""
        rows: npt.NDArray[np.bool_] = self.train & np.isfinite(y)
        if target in self.signless:
            rows &= ~self.signless[target]
        return rows


@dataclass(kw_only=True)
class TrainedModels:
    """What the offline training produced (library models + numpy layers)."""

    classifiers: dict[str, Any]  # target -> lightgbm.Booster
    platt: dict[str, tuple[float, float]]
    thresholds: dict[str, float]
    regressors: dict[str, Any]  # "battery_days_q50" -> lightgbm.Booster (log1p days)
    anomaly: Any  # sklearn IsolationForest
    reference: Float  # per-feature healthy median: baseline of explanations, anomaly imputation
    interval_shift: float = 0.0  # log1p-days widening of q10/q90 (conformal, on validation homes)


def make_split(ds: Dataset, config: TrainConfig, homes: Sequence[HomeHistory]) -> Split:
    """Split by home (test and validation homes) and by time, rows never shuffled.

    homes: the synthetic homes behind ds, whose truth marks the signless failing days of
    `config.signs_only_targets`; pass none (`()`) only for rows without a truth, which then
    train on every failing day whatever the config says.
    """
    rng = np.random.default_rng(config.seed)
    home_rows = np.unique(ds.home)
    shuffled = rng.permutation(home_rows)
    n_test = max(1, round(len(home_rows) * config.test_home_share))
    n_val = max(1, round(len(home_rows) * config.validation_home_share))
    test_homes = shuffled[:n_test]
    val_homes = shuffled[n_test : n_test + n_val]
    cut = np.quantile(ds.hour, config.time_cut) if len(ds) else 0
    early, late = ds.hour < cut, ds.hour >= cut
    in_test = np.isin(ds.home, test_homes)
    in_val = np.isin(ds.home, val_homes)
    held_family = np.isin(ds.family, list(config.holdout_families))
    train_time = np.ones_like(early) if config.train_all_days else early
    train = ~in_test & ~in_val & train_time & ~held_family
    return Split(
        train=train,
        validation=in_val & ~held_family,
        test=in_test & late,
        test_homes=[int(h) for h in test_homes],
        signless={t: signless_positives(homes, ds, train, t) for t in config.signs_only_targets if homes},
    )


# In synthetic homes these are near-constant per device, so trees use them as
# device identifiers; they are hidden from training (the trees never split on them).
ID_LIKE_FEATURES: tuple[str, ...] = ("age_days", "bridge_peers")


def _training_features(ds: Dataset, config: TrainConfig) -> Float:
    """Features with chemistry hidden for a share of devices, as in real homes."""
    X = ds.X.copy()
    for name in ID_LIKE_FEATURES:
        X[:, FEATURE_INDEX[name]] = np.nan
    rng = np.random.default_rng(config.seed + 1)
    hide = rng.random(int(ds.device.max()) + 1 if len(ds) else 0) < config.chemistry_dropout
    X[hide[ds.device], FEATURE_INDEX["chemistry"]] = np.nan
    return X


# Features only one target's classifier may split on (hidden from the others, as the ID-like ones
# are from all): the outage trends and own-rate ratios of schema 3 moved the unavailable model, and
# only added noise to the battery and stale models (issue 12, measured).
TARGET_ONLY_FEATURES: dict[str, str] = {
    "outage_growth": FailureType.UNAVAILABLE,
    "outage_slope": FailureType.UNAVAILABLE,
    "drops_7d_vs_own": FailureType.UNAVAILABLE,
    "unavailable_7d_vs_own": FailureType.UNAVAILABLE,
    "own_drop_rate": FailureType.UNAVAILABLE,
    "drops_3d_vs_own": FailureType.UNAVAILABLE,
    "outage_length_vs_own": FailureType.UNAVAILABLE,
}


def target_features(X: Float, target: str, rows: npt.NDArray[np.bool_] | None = None) -> Float:
    """X with the features reserved for other targets hidden (NaN): what `target`'s trees may split on.

    rows: only those rows (`X[rows]`, hidden in that copy: one copy of the rows, not two).
    """
    hidden = [FEATURE_INDEX[name] for name, owner in TARGET_ONLY_FEATURES.items() if owner != target]
    if rows is not None:
        out = X[rows]
    elif not hidden:
        return X
    else:
        out = X.copy()
    out[:, hidden] = np.nan
    return out


def _lgbm_params(config: TrainConfig, objective: str, **extra: Any) -> dict[str, Any]:
    """LightGBM parameters shared by every model."""
    params: dict[str, Any] = {
        "objective": objective,
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_child_samples": config.min_child_samples,
        "max_depth": config.max_depth,
        "feature_fraction": 0.7,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 10.0,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": config.n_jobs,
        "verbose": -1,
    }
    params.update(extra)
    return params


def train_models(
    ds: Dataset, split: Split, config: TrainConfig, *, classifiers_only: bool = False
) -> TrainedModels:
    """Fit classifiers, quantile regressors and the anomaly model on the train split.

    classifiers_only: the failure classifiers alone (no regressors, no anomaly
    model), for studies that score nothing else.

    With `config.n_jobs` > 1 the models are fitted side by side, that many at a
    time in threads, each LightGBM model on one thread. The trees are those of
    one model at a time on `n_jobs` threads (LightGBM's deterministic mode, row-wise
    histograms: the shipped bundle came out byte-identical), in less time: trees of
    7 leaves keep OpenMP threads waiting on each other, the worse the busier the machine.
    """
    X = _training_features(ds, config)
    workers = config.n_jobs if config.n_jobs > 0 else (os.cpu_count() or 1)
    # LightGBM's thread count is process-wide: fits side by side are safe because every call
    # passes num_threads=1 (peak memory: two fits' binned datasets at once).
    threads = 1 if workers > 1 else config.n_jobs
    fits: dict[str, Callable[[], Any]] = {
        target: partial(_fit_classifier, ds, split, config, X, target, threads=threads) for target in TARGETS
    }
    if not classifiers_only:
        fits["regressors"] = partial(_fit_battery_regressors, ds, split, config, X, threads=threads)
        fits["anomaly"] = partial(_fit_anomaly, ds, split, config, X)
    done = _run_fits(fits, workers)
    classifiers: dict[str, Any] = {}
    platt: dict[str, tuple[float, float]] = {}
    thresholds: dict[str, float] = {}
    for target in TARGETS:
        classifiers[target], platt[target], thresholds[target] = done[target]
    if classifiers_only:
        return TrainedModels(
            classifiers=classifiers,
            platt=platt,
            thresholds=thresholds,
            regressors={},
            anomaly=None,
            reference=np.zeros(len(FEATURE_NAMES)),
        )
    regressors = done["regressors"]
    interval_shift = _conformal_shift(regressors, X, ds.battery_days, split.validation)
    anomaly, reference = done["anomaly"]
    return TrainedModels(
        classifiers=classifiers,
        platt=platt,
        thresholds=thresholds,
        regressors=regressors,
        anomaly=anomaly,
        reference=reference,
        interval_shift=interval_shift,
    )


def _run_fits(fits: dict[str, Callable[[], Any]], workers: int) -> dict[str, Any]:
    """Each fit's result: in turn, or `workers` at a time in threads (started in the order given)."""
    if workers <= 1 or len(fits) <= 1:
        return {name: fit() for name, fit in fits.items()}
    with ThreadPoolExecutor(max_workers=min(workers, len(fits))) as pool:
        futures = {name: pool.submit(fit) for name, fit in fits.items()}
        return {name: future.result() for name, future in futures.items()}


def _fit_classifier(
    ds: Dataset, split: Split, config: TrainConfig, X: Float, target: str, *, threads: int | None = None
) -> tuple[Any, tuple[float, float], float]:
    """One target's booster, its Platt coefficients and its alert threshold.

    threads: LightGBM's threads (`config.n_jobs` when None); the trees do not depend on them.
    """
    import lightgbm as lgb

    n_threads = config.n_jobs if threads is None else threads
    y = ds.y[target]
    rows = split.train_rows(target, y)
    val = split.validation & np.isfinite(y)
    train_set = lgb.Dataset(
        target_features(X, target, rows), y[rows], feature_name=list(FEATURE_NAMES), free_raw_data=True
    )
    params = _lgbm_params(config, "binary", num_threads=n_threads)
    booster = lgb.train(params, train_set, num_boost_round=config.n_estimators)
    margin = np.asarray(booster.predict(X[val], raw_score=True, num_threads=n_threads), dtype=np.float64)
    if int(np.sum(y[val] > 0.5)) >= MIN_CALIBRATION_POSITIVES:
        a, b = fit_platt(margin, y[val], strength=1.0)
    else:
        # Too few failures among validation homes to calibrate: keep LightGBM's own scale.
        a, b = 1.0, 0.0
        margin = np.asarray(booster.predict(X[rows], raw_score=True, num_threads=n_threads), dtype=np.float64)
        val = rows
    calibrated = apply_platt(margin, a, b)
    return booster, (a, b), _classifier_threshold(ds, config, target, calibrated, val)


def _classifier_threshold(
    ds: Dataset, config: TrainConfig, target: str, calibrated: Float, val: npt.NDArray[np.bool_]
) -> float:
    """The operating point: owner-level best F1 where configured, else row-level best F1."""
    y = ds.y[target]
    if target not in config.owner_threshold_targets:
        return best_f1_threshold(y[val], calibrated)
    return owner_f1_threshold(
        calibrated,
        ds.device[val],
        ds.hour[val],
        y[val],
        ds.next_event_hour[target][val],
        int(config.horizon_days * 24),
        release=release_fraction(target),
    )


def _fit_battery_regressors(
    ds: Dataset, split: Split, config: TrainConfig, X: Float, *, threads: int | None = None
) -> dict[str, Any]:
    """Quantile regressors of log1p(battery days remaining) on train rows within the cap.

    threads: LightGBM's threads (`config.n_jobs` when None); the trees do not depend on them.
    """
    import lightgbm as lgb

    regressors: dict[str, Any] = {}
    days = ds.battery_days
    rows = split.train & np.isfinite(days) & (days <= BATTERY_DAYS_CAP)
    target = np.log1p(days[rows])
    X_days = target_features(X, FailureType.BATTERY_DEPLETED, rows)
    # One binned dataset for the three quantiles (the binning does not depend on alpha).
    reg_set = lgb.Dataset(X_days, target, feature_name=list(FEATURE_NAMES))
    for q in QUANTILES:
        params = _lgbm_params(
            config, "quantile", alpha=q, num_threads=config.n_jobs if threads is None else threads
        )
        regressors[f"battery_days_q{round(q * 100):02d}"] = lgb.train(
            params, reg_set, num_boost_round=config.n_estimators // 2
        )
    return regressors


def _fit_anomaly(ds: Dataset, split: Split, config: TrainConfig, X: Float) -> tuple[Any, Float]:
    """An isolation forest on a sample of healthy train rows, and its (n_features,) imputation reference."""
    from sklearn.ensemble import IsolationForest

    healthy = split.train & np.all(np.stack([np.nan_to_num(ds.y[t], nan=0.0) == 0 for t in TARGETS]), axis=0)
    rng = np.random.default_rng(config.seed + 2)
    sample = rng.choice(np.flatnonzero(healthy), size=min(20_000, int(healthy.sum())), replace=False)
    reference = np.nanmedian(X[sample], axis=0)
    impute = np.where(np.isfinite(reference), reference, 0.0)
    iso_X = np.where(np.isnan(X[sample]), impute, X[sample])
    anomaly = IsolationForest(n_estimators=100, max_samples=256, random_state=config.seed)
    anomaly.fit(iso_X)
    return anomaly, impute


OWNER_THRESHOLD_CANDIDATES = 80


def owner_f1_threshold(
    p: Float,
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    y: Float,
    event_hour: Float,
    horizon_hours: int,
    *,
    release: float = 1.0,
) -> float:
    """The threshold of best owner-level F1: alerts that came true, failures warned >= 1 day ahead.

    Arrays (n,) ordered by device, then hour (labelled rows only). Every failure
    counts (no generator truth here). Candidates: quantiles of the scores of the
    rows within the horizon before a failure; ties go to the higher threshold.
    Alerts follow the alert rule with its release point at `release` times the
    threshold. Falls back to the row-level best F1 without failures.
    """
    positives = p[y == 1.0]
    if positives.size == 0:
        return best_f1_threshold(y, p)
    candidates = np.unique(np.quantile(positives, np.linspace(0.0, 1.0, OWNER_THRESHOLD_CANDIDATES)))
    seen = np.ones(p.shape[0])
    best, best_f1 = float(candidates[-1]), -1.0
    for thr in candidates[::-1]:
        alarm = held_alarm(p, device, hour, thr, release * thr)
        f1 = owner_metrics(alarm, device, hour, y, event_hour, seen, horizon_hours)["f1"]
        if np.isfinite(f1) and f1 > best_f1 + 1e-12:
            best, best_f1 = float(thr), float(f1)
    return best


def _conformal_shift(
    regressors: dict[str, Any], X: Float, days: Float, validation: npt.NDArray[np.bool_]
) -> float:
    """Widen the q10-q90 interval so it covers 80 % of validation homes (conformalised quantiles)."""
    rows = validation & np.isfinite(days) & (days <= BATTERY_DAYS_CAP)
    if rows.sum() < 20:
        return 0.0
    y = np.log1p(days[rows])
    low = regressors["battery_days_q10"].predict(X[rows])
    high = regressors["battery_days_q90"].predict(X[rows])
    outside = np.maximum(low - y, y - high)
    level = min(1.0, 0.8 * (1 + 1 / rows.sum()))
    return float(max(np.quantile(outside, level), 0.0))


def battery_days_quantiles(models: TrainedModels, X: Float) -> dict[str, Float]:
    """Days-remaining quantiles from the library models, with the conformal widening."""
    shift = {"battery_days_q10": -models.interval_shift, "battery_days_q90": models.interval_shift}
    return {
        name: np.expm1(np.asarray(booster.predict(X), dtype=np.float64) + shift.get(name, 0.0))
        for name, booster in models.regressors.items()
    }


def predict_targets(models: TrainedModels, X: Float) -> dict[str, Float]:
    """Calibrated probabilities from the library models (evaluation only)."""
    out: dict[str, Float] = {}
    for target, booster in models.classifiers.items():
        a, b = models.platt[target]
        out[target] = apply_platt(booster.predict(X, raw_score=True), a, b)
    return out


def baseline_scores(X: Float) -> dict[str, Float]:
    """Today's rules as scores: battery < 20 %, unavailable in the last 24 h, ..."""
    col = {name: X[:, i] for i, name in enumerate(FEATURE_NAMES)}
    return {
        FailureType.BATTERY_DEPLETED: (np.nan_to_num(col["battery_level"], nan=100.0) < 20).astype(float),
        FailureType.UNAVAILABLE: (np.nan_to_num(col["unavailable_hours_24h"]) > 0).astype(float),
        FailureType.STALE: (np.nan_to_num(col["hours_since_report"]) >= 12).astype(float),
    }


def where_it_falls_short(summary: dict[str, Any]) -> str:
    """Why a `vs_heuristics` summary (or a row holding its keys) does not beat the best heuristic.

    "" when it does. Alerts are a tie, not a loss, when no heuristic's alerts came true more
    often than the model's at equal failures warned of (both at 1.000 on a small family). A loss
    on alerts is "within noise" when the 90 % interval of the margin (`alert_margin`, homes
    resampled) reaches above zero: other homes could as well have shown the model ahead.
    """
    if summary["beats_best_heuristic"]:
        return ""
    parts = [] if summary["beats_pr_auc"] else ["loses on PR-AUC"]
    if not summary["beats_alerts"]:
        tie = summary["heuristic_alert_precision"] == summary["model_alert_precision"]
        high = summary.get("alert_margin", (np.nan, np.nan))[1]
        noise = ", within noise" if np.isfinite(high) and high > 0 else ""
        parts.append("ties on alerts" if tie else f"loses on alerts{noise}")
    return ", ".join(parts)


def _precision_matched_threshold(y: Float, p: Float, precision: float) -> float:
    """Lowest threshold whose precision is at least `precision` (or the best F1 one)."""
    prec, _, thr = precision_recall_curve(y, p)
    ok = np.flatnonzero(prec >= precision)
    return float(thr[ok[-1]]) if ok.size else best_f1_threshold(y, p)


def compare_heuristics(
    p: Float,
    threshold: float,
    scores: dict[str, Float],
    y: Float,
    device: npt.NDArray[np.int64],
    hour: npt.NDArray[np.int64],
    event_hour: Float,
    horizon_hours: int,
    *,
    release: float = 1.0,
    home: npt.NDArray[np.int64] | None = None,
) -> dict[str, Any]:
    """The model against every heuristic of one failure type on the same labelled rows.

    p: (n,) model probabilities, `threshold` its operating point; scores: name ->
    (n,) heuristic scores (ml/heuristics.py); rows ordered by device, then hour.
    Per heuristic: PR-AUC and, at equal failures warned of, alerts that came
    true of the heuristic and of the model; with each row's `home`, also the 90 %
    interval of the model's share minus the heuristic's, homes resampled
    (`alert_margin`). Summary: the best heuristic on PR-AUC, the toughest at equal
    failures warned of (largest margin over the model), and whether the model
    beats every heuristic on both.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, score in scores.items():
        matched = matched_alerts(
            p, threshold, score, device, hour, y, event_hour, horizon_hours, release_fraction=release
        )
        out[name] = {"pr_auc": pr_auc(y, score), **matched}
        if home is not None and np.isfinite(matched["alert_precision"]):
            thresholds = (matched["model_threshold"], matched["threshold"])
            alarms = matched_alarms(p, score, device, hour, thresholds, release_fraction=release)
            out[name]["alert_margin"] = alert_margin_interval(alarms, home, device, hour, y)
    if not out:
        return {"heuristics": out}
    return {"heuristics": out, "vs_heuristics": _vs_heuristics_summary(pr_auc(y, p), out)}


def _vs_heuristics_summary(model_pr_auc: float, out: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The best heuristic on PR-AUC, the toughest at equal warnings, and whether the model beats all."""

    def pr_key(name: str) -> float:
        value = out[name]["pr_auc"]
        return float(value) if np.isfinite(value) else -np.inf

    def margin(name: str) -> float:
        diff = out[name]["alert_precision"] - out[name]["model_alert_precision"]
        return float(diff) if np.isfinite(diff) else -np.inf

    best_pr = max(out, key=pr_key)
    toughest = max(out, key=margin)
    beats_pr = bool(np.isfinite(model_pr_auc)) and all(
        not np.isfinite(v["pr_auc"]) or model_pr_auc > v["pr_auc"] for v in out.values()
    )
    beats_alerts = all(
        not np.isfinite(v["alert_precision"]) or v["model_alert_precision"] > v["alert_precision"]
        for v in out.values()
    )
    return {
        "model_pr_auc": model_pr_auc,
        "best_pr_auc_heuristic": best_pr,
        "best_pr_auc": out[best_pr]["pr_auc"],
        "toughest_at_equal_warnings": toughest,
        "failures_warned": out[toughest]["failures_warned"],
        "heuristic_alert_precision": out[toughest]["alert_precision"],
        "model_alert_precision": out[toughest]["model_alert_precision"],
        "alert_margin": out[toughest].get("alert_margin", [np.nan, np.nan]),
        "beats_pr_auc": beats_pr,
        "beats_alerts": beats_alerts,
        "beats_best_heuristic": beats_pr and beats_alerts,
    }


def scored_labels(y: Float, X: Float, target: str) -> Float:
    """The labels of the rows `X` the integration scores for `target` (NaN elsewhere), as evaluated.

    Staleness gets a probability from two weeks of age (`scoring._applicable`); before that no
    alert is raised, nor a failure warned of, whatever the model would say (it still learns there).
    """
    if target != FailureType.STALE:
        return y
    scored: Float = np.where(X[:, FEATURE_INDEX["age_days"]] >= STALE_BASELINE_DAYS, y, np.nan)
    return scored


class _Labelled(NamedTuple):
    """One target's labelled rows of an evaluation set: who, when, the label, the next failure."""

    device: npt.NDArray[np.int64]
    hour: npt.NDArray[np.int64]
    y: Float
    event_hour: Float


def evaluate(
    models: TrainedModels,
    ds: Dataset,
    rows: npt.NDArray[np.bool_],
    config: TrainConfig,
    *,
    with_baselines: bool = True,
    foreseeable: dict[str, Float] | None = None,
    probs: dict[str, Float] | None = None,
) -> dict[str, Any]:
    """Every figure of the model card on a set of held-out rows.

    `foreseeable` (per target, over all of ds's rows; `gate.foreseeable_rows`)
    says which failures the gate's recall counts; without it, all of them.
    `probs`: `predict_targets(models, ds.X[rows])` when the caller has it already.
    """
    X = ds.X[rows]
    if probs is None:
        probs = predict_targets(models, X)
    rules = baseline_scores(X)
    extra = None if ds.heuristic_columns is None else ds.heuristic_columns[rows]
    heuristics = heuristic_scores(X, extra, horizon_days=config.horizon_days)
    horizon_hours = int(config.horizon_days * 24)
    judged = judged_rows(ds, horizon_hours)[rows]
    report: dict[str, Any] = {}
    for target in TARGETS:
        y = scored_labels(ds.y[target][rows], X, target)
        ok = np.isfinite(y)
        if not ok.any():
            continue
        keys = _Labelled(ds.device[rows][ok], ds.hour[rows][ok], y[ok], ds.next_event_hour[target][rows][ok])
        p, threshold = probs[target][ok], models.thresholds[target]
        seen = np.ones(len(ds)) if foreseeable is None else foreseeable[target]
        entry = _model_entry(
            p,
            threshold,
            keys,
            (seen[rows][ok], ds.home[rows][ok], judged[ok]),
            horizon_hours,
            release_fraction(target),
            target=target,
            traced=_sign_traced(target, keys, X[ok]),
        )
        if with_baselines:
            entry |= _rule_entries(p, rules[target][ok], keys, horizon_hours)
            scores = {name: heuristics[name][ok] for name in HEURISTICS[target]}
            entry |= compare_heuristics(
                p,
                threshold,
                scores,
                keys.y,
                keys.device,
                keys.hour,
                keys.event_hour,
                horizon_hours,
                release=release_fraction(target),
                home=ds.home[rows][ok],
            )
        report[target] = entry
    battery_days = _battery_days_report(models, ds.battery_days[rows], X)
    if battery_days is not None:
        report["battery_days"] = battery_days
    return report


def _model_entry(
    p: Float,
    threshold: float,
    keys: _Labelled,
    gated: tuple[Float, npt.NDArray[np.int64], npt.NDArray[np.bool_]],
    horizon_hours: int,
    release: float,
    *,
    target: str,
    traced: Float | None = None,
) -> dict[str, Any]:
    """Return the model's figures at its threshold, and the gate's figures of its alarms with their intervals.

    The alarms are the alerts an owner gets: held until `release` times the threshold (ml/alerts.py).
    `gated`: each row's foreseeable verdict (`gate.foreseeable_rows`), home (homes are resampled)
    and whether the data holds its horizon (`gate.owner_metrics`' `judged`).
    `traced`: each row's `gate.sign_trace` verdict for `target`'s sign (`SIGN_SPLITS`); with it,
    recall also apart for each side. `gate_open_definitions`: the gate's figures under the two
    definitions issue 12 leaves open.
    """
    seen, home, judged = gated
    alarm = held_alarm(p, keys.device, keys.hour, threshold, release * threshold)
    model = classification_report(keys.y, p, threshold)
    lead = lead_times(alarm, keys.device, keys.hour, keys.event_hour, horizon_hours)
    model["lead_days_median"] = _median_lead(lead)
    model["events"] = float(lead.size)
    model.update(alert_metrics(alarm, *keys, horizon_hours))
    entry: dict[str, Any] = {
        "model": model,
        "gate": owner_metrics(alarm, *keys, seen, horizon_hours, judged=judged),
        "gate_intervals": gate_intervals(alarm, home, *keys, seen, horizon_hours, judged=judged),
    }
    gate = entry["gate"]
    open_recall, open_foreseeable = gate["recall"], gate["foreseeable_failures"]
    if traced is not None:
        # A foreseeable failure whose warning HA's data never showed (an outage's precursor
        # dropouts shorter than the device's timeout, a battery dying high on its usual slope)
        # can be warned of only by what else it shows.
        report_key, sides = SIGN_SPLITS[target]
        split: dict[str, dict[str, float]] = {}
        for name, mask in zip(sides, (traced == 1.0, traced == 0.0), strict=True):
            figures = owner_metrics(alarm, *keys, np.where(mask, seen, 0.0), horizon_hours, judged=judged)
            split[name] = {k: figures[k] for k in ("foreseeable_failures", "recall")}
        entry[report_key] = split
        open_recall, open_foreseeable = split[sides[0]]["recall"], split[sides[0]]["foreseeable_failures"]
    # The two definitions issue 12 leaves open, applied together (not gated): an alert the rows
    # cannot judge yet is left out of precision, and a failure is foreseeable only once HA's data
    # showed its sign (where the failure type has one; stale has none: every foreseeable failure).
    precision = gate["precision_resolved"]
    both = precision + open_recall
    entry["gate_open_definitions"] = {
        "precision": precision,
        "recall": open_recall,
        "f1": 2 * precision * open_recall / both if both > 0 else float("nan"),
        "foreseeable_failures": open_foreseeable,
        "sign": traced is not None,
    }
    return entry


# Failure types whose foreseeable failures are split by a sign in HA's data: the report's key and
# its two sides (with the sign first).
SIGN_SPLITS: dict[str, tuple[str, tuple[str, str]]] = {
    FailureType.UNAVAILABLE: ("gate_by_dropout_trace", ("with_dropout", "without_dropout")),
    FailureType.BATTERY_DEPLETED: ("gate_by_battery_sign", ("with_sign", "without_sign")),
}


def _sign_traced(target: str, keys: _Labelled, X: Float) -> Float | None:
    """Per labelled row: did its next failure show its type's sign in HA's data in time (None: no sign)."""
    if target == FailureType.UNAVAILABLE:
        return dropout_trace(
            keys.device,
            keys.hour,
            keys.event_hour,
            X[:, FEATURE_INDEX["drops_7d"]],
            X[:, FEATURE_INDEX["unavailable_hours_7d"]],
        )
    if target == FailureType.BATTERY_DEPLETED:
        return sign_trace(keys.device, keys.hour, keys.event_hour, battery_sign_shown(X))
    return None


def _rule_entries(p: Float, rule: Float, keys: _Labelled, horizon_hours: int) -> dict[str, Any]:
    """Return the owner's rule's figures, and the model's at the rule's precision (like for like)."""
    entry = classification_report(keys.y, rule, 0.5)
    entry["lead_days_median"] = _median_lead(
        lead_times(rule >= 0.5, keys.device, keys.hour, keys.event_hour, horizon_hours)
    )
    entry.update(alert_metrics(rule >= 0.5, *keys, horizon_hours))
    # Warning time of the model at the rule's precision: a like-for-like comparison.
    thr = _precision_matched_threshold(keys.y, p, entry["precision"])
    matched = lead_times(p >= thr, keys.device, keys.hour, keys.event_hour, horizon_hours)
    at_rule_precision = {
        "threshold": thr,
        "lead_days_median": _median_lead(matched),
        **{
            k: v
            for k, v in classification_report(keys.y, p, thr).items()
            if k in ("precision", "recall", "f1")
        },
    }
    return {"rule": entry, "model_at_rule_precision": at_rule_precision}


def _median_lead(lead: Float) -> float:
    """Return the median warning time of the failures warned of (0 when none was)."""
    return float(np.median(lead[lead > 0])) if (lead > 0).any() else 0.0


def _battery_days_report(models: TrainedModels, days: Float, X: Float) -> dict[str, Any] | None:
    """Return the error of the battery-days quantiles where the end is near, or None without such rows."""
    ok = np.isfinite(days) & (days <= BATTERY_DAYS_CAP)
    if not (ok.any() and models.regressors):
        return None
    q = battery_days_quantiles(models, X[ok])
    linear = np.nan_to_num(X[ok][:, FEATURE_INDEX["battery_days_linear"]], nan=365.0)
    return {
        "rows": int(ok.sum()),
        "mae": float(np.mean(np.abs(q["battery_days_q50"] - days[ok]))),
        "coverage_80": interval_coverage(days[ok], q["battery_days_q10"], q["battery_days_q90"]),
        "linear_mae": float(np.mean(np.abs(np.minimum(linear, BATTERY_DAYS_CAP) - days[ok]))),
    }
