"""Nightly learning on the home's own history: recalibration, and residual trees where LightGBM exists."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt

from .alerts import held_alarm, release_fraction
from .bundle import BinaryClassifier, ModelBundle
from .calibration import fit_platt, rescale_horizon
from .features import build_features, default_eval_hours
from .grid import HourlyGrid, build_grid, grid_tail
from .labels import FailureEvents, build_labels, find_events
from .metrics import alert_metrics, brier, lead_times, log_loss, pr_auc
from .records import HomeHistory
from .scoring import MODEL_HORIZON_KEY, TRAINED_UNTIL_KEY, Float
from .trees.forest import LEAF
from .trees.layout import TreeEnsemble
from .trees.predict import predict_raw, sigmoid

TrainMode = Literal["full", "incremental"]


class TrainStatus(StrEnum):
    """How a training run ended."""

    DEPLOYED = "deployed"  # a new home model was built and is not worse: use it
    KEPT_CURRENT = "kept_current"  # the candidate was worse on recent days
    INSUFFICIENT_DATA = "insufficient_data"  # too little history: a status, not an error


class KeptReason(StrEnum):
    """Why a failure type keeps its current classifier in a run that got as far as fitting."""

    WORSE = "worse_on_held_out_days"  # its refit was worse on the most recent held-out days
    NOT_JUDGED = "no_labelled_held_out_days"  # no labelled held-out row to measure a refit on


class TrainingCancelled(Exception):
    """Raised by train_home when should_stop() turns true between steps."""


@dataclass(slots=True, kw_only=True)
class TrainResult:
    """The outcome of one training run."""

    status: TrainStatus
    bundle: ModelBundle | None  # the new bundle when status is DEPLOYED
    metrics: dict[str, float] = field(default_factory=dict)  # candidate, recent days
    current_metrics: dict[str, float] = field(default_factory=dict)  # current model
    message: str = ""
    n_devices: int = 0
    n_rows: int = 0
    n_positive: dict[str, int] = field(default_factory=dict)
    kept: dict[str, KeptReason] = field(default_factory=dict)  # failure types left as they were, and why


class TrainingStep(StrEnum):
    """What a training run is doing: the one list the nightly run and the status sensor share."""

    READING_HISTORY = "reading_history"  # the integration reads the recorder (before train_home)
    BUILDING_FEATURES = "building_features"
    FITTING = "fitting"  # with the failure type being fitted
    EVALUATING = "evaluating"
    DONE = "done"


# (fraction of train_home done 0..1, step, the failure type being fitted or None)
ProgressFn = Callable[[float, TrainingStep, str | None], None]
StopFn = Callable[[], bool]


MIN_HISTORY_DAYS = 14.0
# Manifest key: per failure type, [trees, base score] of the forest home trees were boosted on.
BASE_TREES_KEY = "base_trees"
MIN_LABELLED_ROWS = 100
HOLDOUT_DAYS = 7
# History an incremental run's labels look back on: the longest feature window (30 days) and a
# day. Its features read the whole grid before their row, as the full run's and scoring's (the
# stored 120-day grid) do: unbounded ones (hours since a report, a change) reach past any cut.
INCREMENTAL_LOOKBACK_DAYS = 31
EVENT_LOOKBACK_DAYS = 15  # the usual-rhythm window (14 days) and a day
MARGIN_CHUNK_ROWS = 16_384  # rows of the feature matrix copied at a time to score a subset
MIN_POSITIVES_TO_FIT = 3
RESIDUAL_TREES = 30
RESIDUAL_MIN_POSITIVES = 20


def _margin(ensemble: TreeEnsemble, X: Float) -> Float:
    """Raw margin of a forest, shape (n_rows,)."""
    return ensemble.sigmoid * predict_raw(ensemble, X)


def _margin_of_rows(ensemble: TreeEnsemble, X: Float, rows: npt.NDArray[np.bool_]) -> Float:
    """`_margin(ensemble, X[rows])`, without copying the selected rows all at once."""
    index = np.flatnonzero(rows)
    raw = np.empty(index.shape[0])
    for lo in range(0, index.shape[0], MARGIN_CHUNK_ROWS):
        part = index[lo : lo + MARGIN_CHUNK_ROWS]
        raw[lo : lo + part.shape[0]] = predict_raw(ensemble, X[part])
    return ensemble.sigmoid * raw


def _check(should_stop: StopFn | None) -> None:
    """Raise TrainingCancelled when asked to stop."""
    if should_stop is not None and should_stop():
        raise TrainingCancelled


def _residual_ensemble(base: TreeEnsemble, X: Float, y: Float, base_margin: Float) -> TreeEnsemble | None:
    """Boost trees on the home's rows from the current margin, where LightGBM exists."""
    try:
        import lightgbm as lgb

        from .export import ensemble_from_lightgbm
    except ImportError:
        return None
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 7,
        "min_child_samples": 20,
        "lambda_l2": 5.0,
        "verbose": -1,
        "num_threads": 1,
        "deterministic": True,
        "force_row_wise": True,
        "seed": 0,
    }
    train_set = lgb.Dataset(X, y, init_score=base_margin)
    booster = lgb.train(params, train_set, num_boost_round=RESIDUAL_TREES)
    return merge_ensembles(base, ensemble_from_lightgbm(booster))


def first_trees(ensemble: TreeEnsemble, n_trees: int, base_score: float) -> TreeEnsemble:
    """The forest of the first `n_trees` trees of `ensemble`, with its own `base_score`.

    Undoes `merge_ensembles`: the trees a home model boosted on top of the
    model it was learned from are dropped.
    """
    end = int(ensemble.tree_offsets[n_trees])
    return TreeEnsemble(
        n_features=ensemble.n_features,
        objective=ensemble.objective,
        tree_offsets=ensemble.tree_offsets[: n_trees + 1].copy(),
        split_feature=ensemble.split_feature[:end].copy(),
        threshold=ensemble.threshold[:end].copy(),
        left_child=ensemble.left_child[:end].copy(),
        right_child=ensemble.right_child[:end].copy(),
        default_left=ensemble.default_left[:end].copy(),
        missing_type=ensemble.missing_type[:end].copy(),
        value=ensemble.value[:end].copy(),
        base_score=base_score,
        sigmoid=ensemble.sigmoid,
        node_values=ensemble.node_values,
    )


def _learned_from(ensemble: TreeEnsemble, kept: object) -> TreeEnsemble:
    """The trees a home model started from (its `BASE_TREES_KEY` entry), or all of them.

    The entry comes from a stored manifest: anything but [n_trees, base_score]
    within the forest leaves the forest whole.
    """
    n_total = ensemble.tree_offsets.shape[0] - 1
    if not (isinstance(kept, list) and len(kept) == 2):
        return ensemble
    n_trees, base_score = kept
    if not (isinstance(n_trees, int) and 0 < n_trees < n_total and isinstance(base_score, int | float)):
        return ensemble
    if not np.isfinite(base_score):
        return ensemble
    return first_trees(ensemble, n_trees, float(base_score))


def merge_ensembles(base: TreeEnsemble, extra: TreeEnsemble) -> TreeEnsemble:
    """One forest whose raw score is the sum of two (extra's trees appended).

    It has node values only if both have (else its reasons come from occlusion,
    and the internal nodes hold 0.0, as in a forest exported without them).
    """
    shift = base.split_feature.shape[0]
    node_values = base.node_values and extra.node_values
    value = np.concatenate([base.value, extra.value])
    if not node_values:
        value = np.where(np.concatenate([base.split_feature, extra.split_feature]) == LEAF, value, 0.0)

    def moved(children: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        return np.where(children >= 0, children + shift, children).astype(np.int32)

    return TreeEnsemble(
        n_features=base.n_features,
        objective=base.objective,
        tree_offsets=np.concatenate([base.tree_offsets, extra.tree_offsets[1:] + shift]).astype(np.int32),
        split_feature=np.concatenate([base.split_feature, extra.split_feature]),
        threshold=np.concatenate([base.threshold, extra.threshold]),
        left_child=np.concatenate([base.left_child, moved(extra.left_child)]),
        right_child=np.concatenate([base.right_child, moved(extra.right_child)]),
        default_left=np.concatenate([base.default_left, extra.default_left]),
        missing_type=np.concatenate([base.missing_type, extra.missing_type]),
        value=value,
        base_score=base.base_score + extra.base_score,
        sigmoid=base.sigmoid,
        node_values=node_values,
    )


def train_home(
    history: HomeHistory,
    current: ModelBundle,
    *,
    mode: TrainMode,
    now: float,
    horizon_days: float = 7.0,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    grid: HourlyGrid | None = None,
    in_use: ModelBundle | None = None,
) -> TrainResult:
    """Learn from the home's own history; deploy only if not worse on recent days.

    Always refits the numpy calibration layer per failure type (a few
    parameters, pulled towards the current ones so few positives move it
    little); in full mode, where LightGBM is importable and the home has
    enough failures, also boosts residual trees on top of the current trees.

    `horizon_days` is the owner's horizon. The home model learns, and both models are judged,
    at the bundle's own horizon (`MODEL_HORIZON_KEY`), which its calibration is of and which
    scoring stretches to the owner's at a constant hazard: a calibration fitted to the owner's
    horizon would be stretched twice, and the current model judged on labels of another horizon.

    `in_use` is the home model in use when `current` is a newly shipped model it was not learned
    on (a new release): the run learns on `current` from all the history, as a first run would,
    and deploys only if the whole result is also at least as good as `in_use` on the held-out days.
    """
    horizon_days = float(current.metadata.get(MODEL_HORIZON_KEY, 7.0))
    report = progress or (lambda _f, _s, _t: None)
    report(0.0, TrainingStep.BUILDING_FEATURES, None)
    if grid is None:
        grid = build_grid(history, end=now)
    if (too_short := _too_short(grid, horizon_days)) is not None:
        return too_short
    _check(should_stop)
    report(0.2, TrainingStep.BUILDING_FEATURES, None)
    data = _training_data(history, grid, current, mode=mode, horizon_days=horizon_days)
    _check(should_stop)
    labelled = data.labelled
    # An incremental update of a home model may be small; learning from scratch may not.
    if labelled < (MIN_LABELLED_ROWS if data.since < 0 else 1):
        return TrainResult(
            status=TrainStatus.INSUFFICIENT_DATA,
            bundle=None,
            message=f"{labelled} labelled device-days; {MIN_LABELLED_ROWS} needed",
            n_devices=len(grid.device_keys),
            n_rows=labelled,
        )
    fit = _fit_classifiers(current, data, mode=mode, report=report, should_stop=should_stop)
    _check(should_stop)
    report(0.95, TrainingStep.EVALUATING, None)
    n_devices, n_rows = len(grid.device_keys), int((data.is_train | data.is_holdout).sum())
    if in_use is not None:
        return _against_the_model_in_use(
            fit, data, current, in_use, mode=mode, now=now, size=(n_devices, n_rows)
        )
    # Each failure type keeps its current classifier where the candidate's was worse: nothing
    # new at all is no new model either.
    unchanged = all(_same(fit.classifiers[t], model) for t, model in current.classifiers.items())
    if unchanged or fit.candidate_total > fit.current_total + 1e-9:
        message = "the home model was worse than the current one on the most recent days"
        if all(fit.kept.get(t) is KeptReason.NOT_JUDGED for t in current.classifiers):
            message = "the most recent days had no labelled rows to judge a new model on"
        return fit.result(TrainStatus.KEPT_CURRENT, None, message, n_devices=n_devices, n_rows=n_rows)
    new_bundle = _home_bundle(current, fit, mode=mode, now=now)
    report(1.0, TrainingStep.DONE, None)
    return fit.result(TrainStatus.DEPLOYED, new_bundle, "deployed", n_devices=n_devices, n_rows=n_rows)


def _against_the_model_in_use(
    fit: _Candidate,
    data: _TrainingData,
    current: ModelBundle,
    in_use: ModelBundle,
    *,
    mode: TrainMode,
    now: float,
    size: tuple[int, int],
) -> TrainResult:
    """The verdict of a run on a newly shipped model: deployed only if as good as the model in use.

    The home model learned on the new release (each failure type already the better of its refit
    and the shipped classifier) is judged against the home model in use on the held-out days, as
    scoring would show both: the model in use's probabilities are stretched to the release's
    horizon at a constant hazard, as scoring stretches every model's to the owner's. The figures
    shown as the current model's are the model in use's.

    Of one horizon, each failure type is judged on its own, as in every run: one the model in use
    is better at, or that the held-out days cannot judge, keeps the model in use's classifier (with
    its calibration weight and base trees); nothing better at all declines the release. Of another
    horizon the classifiers cannot be mixed in one bundle: the release is judged whole, on the
    failure types both models have. Failure types only the release has come with it.
    """
    n_devices, n_rows = size
    judged = [target for target in current.classifiers if f"{target}_log_loss" in fit.metrics]
    if not judged:
        message = "the most recent days had no labelled rows to judge the newly shipped model on"
        return fit.result(TrainStatus.KEPT_CURRENT, None, message, n_devices=n_devices, n_rows=n_rows)
    horizon = float(current.metadata.get(MODEL_HORIZON_KEY, 7.0))
    in_use_horizon = float(in_use.metadata.get(MODEL_HORIZON_KEY, 7.0))
    shared = [target for target in judged if target in in_use.classifiers]
    fit.current_metrics = {}
    for target in shared:
        rows = data.is_holdout & np.isfinite(data.y[target])
        model = in_use.classifiers[target]
        p = sigmoid(model.calibration_a * _margin_of_rows(model.ensemble, data.X, rows) + model.calibration_b)
        p = rescale_horizon(p, in_use_horizon, horizon)
        fit.current_metrics.update(_held_out_metrics(target, data.y[target][rows], p))
    worse = (
        "learned on the newly shipped model, the home model was worse on the most recent days "
        "than the one in use"
    )
    if in_use_horizon != horizon:
        total = sum(fit.metrics[f"{target}_log_loss"] for target in shared)
        if total > sum(fit.current_metrics[f"{target}_log_loss"] for target in shared) + 1e-9:
            return fit.result(TrainStatus.KEPT_CURRENT, None, worse, n_devices=n_devices, n_rows=n_rows)
    else:
        learned, fit.kept = dict(fit.metrics), {}
        for target in current.classifiers:
            if (used := in_use.classifiers.get(target)) is None:
                continue
            if target not in judged:
                _keep_current(fit, target, used, in_use.metadata, KeptReason.NOT_JUDGED)
            elif fit.metrics[f"{target}_log_loss"] > fit.current_metrics[f"{target}_log_loss"] + 1e-9:
                _keep_current(fit, target, used, in_use.metadata, KeptReason.WORSE)
                rows = data.is_holdout & np.isfinite(data.y[target])
                _score_held_out(fit, target, (used, used), data, rows)
        if all(fit.classifiers[target] is in_use.classifiers.get(target) for target in current.classifiers):
            fit.metrics = learned  # the figures of what was learned, beside the model in use's
            return fit.result(TrainStatus.KEPT_CURRENT, None, worse, n_devices=n_devices, n_rows=n_rows)
    bundle = _home_bundle(current, fit, mode=mode, now=now)
    return fit.result(TrainStatus.DEPLOYED, bundle, "deployed", n_devices=n_devices, n_rows=n_rows)


def _too_short(grid: HourlyGrid, horizon_days: float) -> TrainResult | None:
    """The result of a run on too little history, or None when there is enough."""
    span_days = grid.n_hours / 24.0
    if span_days < MIN_HISTORY_DAYS + horizon_days:
        return TrainResult(
            status=TrainStatus.INSUFFICIENT_DATA,
            bundle=None,
            message=f"{span_days:.1f} days of history; need {MIN_HISTORY_DAYS + horizon_days:.0f}",
        )
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class _TrainingData:
    """Feature rows of a training run, their labels and which rows train or test."""

    X: Float  # (n_rows, n_features)
    y: dict[str, Float]  # per failure type, (n_rows,) 0/1 or NaN where unknown
    is_train: npt.NDArray[np.bool_]  # rows learned from
    is_holdout: npt.NDArray[np.bool_]  # rows of the most recent resolved days, for the verdict
    since: int  # grid hour after which training rows are new (-1: all rows)
    # What an owner would have seen on the held-out days: rows' device and hour (device-major),
    # the hour the next failure of each type starts (NaN: none follows), the horizon in hours.
    device: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    hour: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    next_event_hour: dict[str, Float] = field(default_factory=dict)
    horizon_hours: int = 0

    @property
    def labelled(self) -> int:
        """Labelled (row, failure type) pairs among the training and held-out rows."""
        return sum(int(np.isfinite(y[self.is_train | self.is_holdout]).sum()) for y in self.y.values())


def _training_data(
    history: HomeHistory, grid: HourlyGrid, current: ModelBundle, *, mode: TrainMode, horizon_days: float
) -> _TrainingData:
    """Rows whose labels have resolved: the held-out days, and the training days before them.

    An incremental run of a home model trains only on days whose labels resolved
    since its last run.
    """
    horizon_hours = int(horizon_days * 24)
    holdout_start = grid.n_hours - horizon_hours - HOLDOUT_DAYS * 24
    since = -1
    trained_until = current.metadata.get(TRAINED_UNTIL_KEY)
    if (
        mode == "incremental"
        and current.metadata.get("source") == "home"
        and isinstance(trained_until, (int, float))
    ):
        # Only rows whose labels resolved since the last run (plus the held-out days). Its grid
        # ended at its `now` rounded up to the hour (`build_grid`), as this one does.
        last_end = int(np.ceil((float(trained_until) - grid.start) / 3600.0))
        since = last_end - horizon_hours - HOLDOUT_DAYS * 24
    hours = default_eval_hours(grid)
    holdout_hours = (hours > holdout_start) & (hours <= grid.n_hours - horizon_hours)
    hours = hours[holdout_hours | ((hours <= holdout_start) & (hours > since))]
    # An incremental run finds events only from INCREMENTAL_LOOKBACK_DAYS before its first
    # row: its work follows the new days, not the 120 stored ones. A full run reads it all.
    lo = max(int(hours.min()) - INCREMENTAL_LOOKBACK_DAYS * 24, 0) if since >= 0 and hours.size else 0
    part = grid_tail(grid, lo)
    if lo:
        # Features read every hour before their row, as the full run's and scoring's do
        # (unbounded ones, hours since a change or a report, reach back past any cut);
        # events only need the two weeks a device's usual rhythm is judged on before the first row.
        whole = build_features(history, grid_tail(grid, 0, int(hours.max())), hours)
        frame = dataclasses.replace(whole, eval_hour=whole.eval_hour - lo)
        events_lo = max(int(hours.min()) - lo - EVENT_LOOKBACK_DAYS * 24, 0)
        events = _shifted(find_events(grid_tail(part, events_lo)), events_lo)
    else:
        frame = build_features(history, part, hours)
        events = find_events(part)
    labels = build_labels(part, frame, events, horizon_days=horizon_days)
    eval_hour = frame.eval_hour + lo
    return _TrainingData(
        X=frame.X,
        y=labels.y,
        is_train=eval_hour <= holdout_start,
        is_holdout=(eval_hour > holdout_start) & (eval_hour <= grid.n_hours - horizon_hours),
        since=since,
        device=frame.device_index.astype(np.int64),
        hour=frame.eval_hour.astype(np.int64),
        next_event_hour=labels.next_event_hour,
        horizon_hours=horizon_hours,
    )


def _shifted(events: FailureEvents, hours: int) -> FailureEvents:
    """Events found on a grid's tail from `hours`, in the hours of the whole grid."""
    return FailureEvents(
        starts={target: [s + hours for s in per_device] for target, per_device in events.starts.items()},
        depletions=[d + hours for d in events.depletions],
        censors=[c + hours for c in events.censors],
        battery_dark=[d + hours for d in events.battery_dark],
        run_out=[r + hours for r in events.run_out],
        stale_spans=[s + hours for s in events.stale_spans],
        pending={target: [s + hours for s in per_device] for target, per_device in events.pending.items()},
    )


@dataclass(slots=True)
class _Candidate:
    """The classifiers of a training run and how they and the current ones did on the held-out days."""

    weights: dict[str, float]  # calibration prior weight per failure type
    classifiers: dict[str, BinaryClassifier] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    current_metrics: dict[str, float] = field(default_factory=dict)
    positives: dict[str, int] = field(default_factory=dict)
    base_trees: dict[str, list[float]] = field(default_factory=dict)
    candidate_total: float = 0.0  # summed held-out log loss
    current_total: float = 0.0
    kept: dict[str, KeptReason] = field(default_factory=dict)

    def result(
        self, status: TrainStatus, bundle: ModelBundle | None, message: str, *, n_devices: int, n_rows: int
    ) -> TrainResult:
        """The outcome of a run that got as far as fitting."""
        return TrainResult(
            status=status,
            bundle=bundle,
            metrics=self.metrics,
            current_metrics=self.current_metrics,
            message=message,
            n_devices=n_devices,
            n_rows=n_rows,
            n_positive=self.positives,
            kept=self.kept,
        )

    def score(self, target: str, y_test: Float, p_new: Float, p_old: Float) -> None:
        """Record the held-out metrics of one failure type, new model and current one."""
        # Lower is better: log loss on the most recent held-out days.
        new, old = _held_out_metrics(target, y_test, p_new), _held_out_metrics(target, y_test, p_old)
        self.candidate_total += new[f"{target}_log_loss"]
        self.current_total += old[f"{target}_log_loss"]
        self.metrics.update(new)
        self.current_metrics.update(old)

    def score_alerts(
        self, target: str, data: _TrainingData, rows: npt.NDArray[np.bool_], alarm: npt.NDArray[np.bool_]
    ) -> None:
        """Record what an owner would have seen on the held-out days: alerts, failures warned of, warning.

        `alarm` is the new model's alarm on `rows` (the alert rule, `alerts.held_alarm`).
        Figures without a case (no alert, no failure, none warned of) are left out.
        """
        y = data.y[target][rows]
        device, hour = data.device[rows], data.hour[rows]
        next_event = data.next_event_hour.get(target)
        if next_event is None:
            return
        events = next_event[rows]
        owner = alert_metrics(alarm, device, hour, y, events, data.horizon_hours)
        lead = lead_times(alarm, device, hour, events, data.horizon_hours)
        figures = {
            "alerts": owner["alerts"],
            "events": float(lead.size),
            "alert_precision": owner["alert_precision"],
            "event_recall": owner["event_recall"],
            "lead_days_median": float(np.median(lead[lead > 0])) if (lead > 0).any() else float("nan"),
        }
        for name, value in figures.items():
            if np.isfinite(value):
                self.metrics[f"{target}_{name}"] = float(value)


def _fit_classifiers(
    current: ModelBundle,
    data: _TrainingData,
    *,
    mode: TrainMode,
    report: ProgressFn,
    should_stop: StopFn | None,
) -> _Candidate:
    """Refit every classifier that has labels, in the current bundle's order, and score both."""
    fit = _Candidate(weights=dict(current.metadata.get("calibration_weight", {})))
    stored_base = current.metadata.get(BASE_TREES_KEY)
    X = data.X
    for k, (target, model) in enumerate(current.classifiers.items()):
        _check(should_stop)
        report(0.3 + 0.6 * k / max(len(current.classifiers), 1), TrainingStep.FITTING, target)
        y = data.y.get(target)
        test_rows = np.zeros_like(data.is_holdout) if y is None else data.is_holdout & np.isfinite(y)
        if y is None or not test_rows.any():
            # Nothing to measure a refit on: never deploy what was not found at least as good.
            _keep_current(fit, target, model, current.metadata, KeptReason.NOT_JUDGED)
            continue
        train_rows = data.is_train & np.isfinite(y)
        fit.positives[target] = int(np.sum(y[train_rows] > 0.5))
        ensemble = model.ensemble
        margin = _margin_of_rows(ensemble, X, train_rows)
        if mode == "full" and fit.positives[target] >= RESIDUAL_MIN_POSITIVES:
            # Residual trees replace the last home model's, never pile up night after night.
            base = _learned_from(ensemble, stored_base.get(target) if isinstance(stored_base, dict) else None)
            X_train = X[train_rows]  # LightGBM needs the rows as one matrix
            residual = _residual_ensemble(base, X_train, y[train_rows], _margin(base, X_train))
            del X_train
            if residual is not None:
                fit.base_trees[target] = [base.tree_offsets.shape[0] - 1, base.base_score]
                ensemble = residual
                margin = _margin_of_rows(ensemble, X, train_rows)
        if target not in fit.base_trees and isinstance(stored_base, dict) and target in stored_base:
            fit.base_trees[target] = stored_base[target]  # the forest keeps its earlier home trees
        a, b = _refit_calibration(fit, target, model, margin, y[train_rows], mode=mode)
        candidate = BinaryClassifier(
            ensemble=ensemble, calibration_a=a, calibration_b=b, threshold=model.threshold
        )
        fit.classifiers[target] = candidate
        totals = fit.candidate_total, fit.current_total
        _score_held_out(fit, target, (model, candidate), data, test_rows)
        if fit.metrics[f"{target}_log_loss"] > fit.current_metrics[f"{target}_log_loss"] + 1e-9:
            # Worse at this failure type on the held-out days: it keeps its current classifier.
            fit.candidate_total, fit.current_total = totals
            _keep_current(fit, target, model, current.metadata, KeptReason.WORSE)
            _score_held_out(fit, target, (model, model), data, test_rows)
    return fit


def _same(candidate: BinaryClassifier, model: BinaryClassifier) -> bool:
    """Whether a refit left a classifier as it was (same forest, same calibration)."""
    return candidate.ensemble is model.ensemble and (candidate.calibration_a, candidate.calibration_b) == (
        model.calibration_a,
        model.calibration_b,
    )


def _keep_current(
    fit: _Candidate, target: str, model: BinaryClassifier, metadata: dict[str, object], reason: KeptReason
) -> None:
    """Undo or skip a failure type's refit: its current classifier, calibration weight and base trees stay."""
    fit.classifiers[target] = model
    fit.kept[target] = reason
    for key in [key for key in fit.metrics if key.startswith(f"{target}_")]:
        del fit.metrics[key]
    weights, stored_base = metadata.get("calibration_weight"), metadata.get(BASE_TREES_KEY)
    if isinstance(weights, dict) and target in weights:
        fit.weights[target] = weights[target]
    else:
        fit.weights.pop(target, None)
    if isinstance(stored_base, dict) and target in stored_base:
        fit.base_trees[target] = stored_base[target]
    else:
        fit.base_trees.pop(target, None)


def _held_out_metrics(target: str, y: Float, p: Float) -> dict[str, float]:
    """One failure type's figures on the held-out rows: log loss, Brier, PR-AUC when one failed."""
    metrics = {f"{target}_log_loss": log_loss(y, p), f"{target}_brier": brier(y, p)}
    if np.any(y > 0.5):
        metrics[f"{target}_pr_auc"] = pr_auc(y, p)
    return metrics


def _score_held_out(
    fit: _Candidate,
    target: str,
    models: tuple[BinaryClassifier, BinaryClassifier],
    data: _TrainingData,
    test_rows: npt.NDArray[np.bool_],
) -> None:
    """Score the current and the candidate classifier of one target on the held-out rows."""
    model, candidate = models
    # As predict_proba, with the forests' margin computed once when only calibration changed.
    old_margin = _margin_of_rows(model.ensemble, data.X, test_rows)
    same_forest = candidate.ensemble is model.ensemble
    new_margin = old_margin if same_forest else _margin_of_rows(candidate.ensemble, data.X, test_rows)
    p_new = sigmoid(candidate.calibration_a * new_margin + candidate.calibration_b)
    p_old = sigmoid(model.calibration_a * old_margin + model.calibration_b)
    y = data.y[target]
    fit.score(target, y[test_rows], p_new, p_old)
    release = release_fraction(target) * candidate.threshold
    alarm = held_alarm(p_new, data.device[test_rows], data.hour[test_rows], candidate.threshold, release)
    fit.score_alerts(target, data, test_rows, alarm)


def _refit_calibration(
    fit: _Candidate, target: str, model: BinaryClassifier, margin: Float, y: Float, *, mode: TrainMode
) -> tuple[float, float]:
    """Platt parameters for a target's training rows (margin, y), pulled towards the current ones."""
    a, b = model.calibration_a, model.calibration_b
    # Without failures to learn from, a refit only learns "nothing ever fails here".
    if fit.positives[target] >= MIN_POSITIVES_TO_FIT:
        # The prior's weight grows with the rows already learned from (incremental).
        prior_weight = float(fit.weights.get(target, 0.0)) if mode == "incremental" else 0.0
        a, b = fit_platt(margin, y, prior=(a, b), strength=10.0 + prior_weight)
        fit.weights[target] = prior_weight + float(y.shape[0])
    return a, b


def _home_bundle(current: ModelBundle, fit: _Candidate, *, mode: TrainMode, now: float) -> ModelBundle:
    """The current bundle with the refitted classifiers and the home model's lineage."""
    metadata = dict(current.metadata)
    metadata.update(
        {
            "source": "home",
            "base_version": current.metadata.get("version"),
            TRAINED_UNTIL_KEY: float(now),
            "calibration_weight": fit.weights,
            "home_metrics": fit.metrics,
            "training_mode": mode,
            BASE_TREES_KEY: fit.base_trees,
        }
    )
    return ModelBundle(
        feature_names=current.feature_names,
        schema_version=current.schema_version,
        classifiers=fit.classifiers,
        regressors=current.regressors,
        target_transform=current.target_transform,
        anomaly=current.anomaly,
        metadata=metadata,
    )
