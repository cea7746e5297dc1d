"""Scoring and nightly training semantics of ml.learning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml import learning
from custom_components.homeiq_device_intel.ml.bundle import BinaryClassifier, ModelBundle
from custom_components.homeiq_device_intel.ml.calibration import fit_platt, rescale_horizon
from custom_components.homeiq_device_intel.ml.features import (
    FEATURE_NAMES,
    FEATURE_SCHEMA_VERSION,
    build_features,
)
from custom_components.homeiq_device_intel.ml.grid import HOUR, grid_tail
from custom_components.homeiq_device_intel.ml.learning import (
    TrainingCancelled,
    TrainStatus,
    first_trees,
    merge_ensembles,
    train_home,
)
from custom_components.homeiq_device_intel.ml.records import (
    Chemistry,
    DeviceRecord,
    EntityRecord,
    EntityRole,
    FailureType,
    HomeHistory,
    Power,
    Protocol,
    encode_states,
)
from custom_components.homeiq_device_intel.ml.scoring import score_home
from custom_components.homeiq_device_intel.ml.trees.predict import predict_raw
from homeiq_lab.synthetic import GeneratorConfig, generate_home

lgb = pytest.importorskip("lightgbm")
from custom_components.homeiq_device_intel.ml.export import ensemble_from_lightgbm  # noqa: E402

T0 = 1_700_000_000.0 - (1_700_000_000.0 % 86400)
DAYS = 40
NOW = T0 + DAYS * 86400


def _ensemble(seed: int, signal: str):
    """A small forest over the real feature vector that reacts to one feature."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3000, len(FEATURE_NAMES))) * 10
    j = FEATURE_NAMES.index(signal)
    X[:, j] = rng.uniform(0, 100, 3000)
    y = (X[:, j] > 50).astype(float) if signal != "battery_level" else (X[:, j] < 20).astype(float)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7, "seed": seed, "deterministic": True},
        lgb.Dataset(X, y),
        num_boost_round=20,
    )
    return ensemble_from_lightgbm(booster)


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    classifiers = {
        FailureType.BATTERY_DEPLETED.value: BinaryClassifier(ensemble=_ensemble(1, "battery_level")),
        FailureType.UNAVAILABLE.value: BinaryClassifier(ensemble=_ensemble(2, "unavailable_hours_7d")),
        FailureType.STALE.value: BinaryClassifier(ensemble=_ensemble(3, "hours_since_report")),
    }
    rng = np.random.default_rng(4)
    X = rng.uniform(0, 100, size=(2000, len(FEATURE_NAMES)))
    days = np.abs(X[:, 0]) / 3
    regressors = {}
    for q in ("q10", "q50", "q90"):
        b = lgb.train(
            {"objective": "quantile", "alpha": {"q10": 0.1, "q50": 0.5, "q90": 0.9}[q], "verbose": -1},
            lgb.Dataset(X, np.log1p(days)),
            num_boost_round=20,
        )
        regressors[f"battery_days_{q}"] = ensemble_from_lightgbm(b)
    return ModelBundle(
        feature_names=FEATURE_NAMES,
        schema_version=FEATURE_SCHEMA_VERSION,
        classifiers=classifiers,
        regressors=regressors,
        target_transform="log1p",
        metadata={"version": "test", "source": "shipped", "horizon_days": 7.0},
    )


def _device(device_key: str, power: Power) -> DeviceRecord:
    return DeviceRecord(
        device_key=device_key,
        name=device_key,
        integration="zha",
        protocol=Protocol.ZIGBEE,
        power=power,
        chemistry=Chemistry.ALKALINE if power is Power.BATTERY else Chemistry.NONE,
    )


def _home() -> HomeHistory:
    hours = np.arange(DAYS * 24)
    times = T0 + hours * HOUR + 30
    states, entities = {}, []
    # low battery, draining
    entities.append(EntityRecord(entity_id="sensor.low_battery", device_key="low", role=EntityRole.BATTERY))
    states["sensor.low_battery"] = encode_states(times, [str(round(40 - h / 24)) for h in hours])
    # a plug that has been unavailable for the last 10 hours
    entities.append(EntityRecord(entity_id="switch.plug", device_key="plug", role=EntityRole.PRIMARY))
    states["switch.plug"] = encode_states(
        times, ["unavailable" if h >= DAYS * 24 - 10 else ("on" if h % 5 else "off") for h in hours]
    )
    # a healthy mains sensor
    entities.append(EntityRecord(entity_id="sensor.ok", device_key="ok", role=EntityRole.PRIMARY))
    states["sensor.ok"] = encode_states(times, [str(h % 3) for h in hours])
    return HomeHistory(
        home_id="home",
        start=T0,
        end=NOW,
        devices=[_device("low", Power.BATTERY), _device("plug", Power.MAINS), _device("ok", Power.MAINS)],
        entities=entities,
        states=states,
    )


def test_every_device_gets_one_prediction(bundle):
    predictions = {p.device_key: p for p in score_home(_home(), bundle, now=NOW)}
    assert set(predictions) == {"low", "plug", "ok"}
    for p in predictions.values():
        assert 0.0 <= p.probability <= 1.0
        assert p.probability == max(p.probabilities.values())


def test_battery_days_only_where_there_is_a_battery(bundle):
    predictions = {p.device_key: p for p in score_home(_home(), bundle, now=NOW)}
    low = predictions["low"]
    assert low.battery_days is not None
    assert low.battery_days_low <= low.battery_days <= low.battery_days_high
    assert predictions["ok"].battery_days is None
    assert FailureType.BATTERY_DEPLETED.value not in predictions["ok"].probabilities


def test_a_device_already_down_is_failing_now_with_its_reason(bundle):
    plug = {p.device_key: p for p in score_home(_home(), bundle, now=NOW)}["plug"]
    assert plug.failing_now
    assert plug.failure_type == FailureType.UNAVAILABLE.value
    assert plug.probability == 1.0
    assert plug.reasons[0].feature == "hours_unavailable_now"
    assert "10 h" in plug.reasons[0].text


def test_reasons_name_the_feature_that_drives_the_score(bundle):
    low = {p.device_key: p for p in score_home(_home(), bundle, now=NOW)}["low"]
    assert low.failure_type == FailureType.BATTERY_DEPLETED.value
    assert low.reasons and low.reasons[0].feature == "battery_level"
    assert sum(r.weight for r in low.reasons) <= 1.0 + 1e-9


def test_longer_horizon_never_lowers_a_probability(bundle):
    short = {p.device_key: p.probabilities for p in score_home(_home(), bundle, now=NOW, horizon_days=3)}
    long = {p.device_key: p.probabilities for p in score_home(_home(), bundle, now=NOW, horizon_days=14)}
    for device, probs in short.items():
        for target, p in probs.items():
            assert long[device][target] >= p - 1e-12


def test_rescale_horizon_is_constant_hazard():
    p7 = np.array([0.0, 0.5, 0.99])
    np.testing.assert_allclose(rescale_horizon(p7, 7, 14), 1 - (1 - p7) ** 2)
    np.testing.assert_allclose(rescale_horizon(rescale_horizon(p7, 7, 3), 3, 7), p7)


def test_platt_fit_recovers_known_parameters():
    rng = np.random.default_rng(0)
    margin = rng.normal(size=50_000) * 2
    y = (rng.random(50_000) < 1 / (1 + np.exp(-(0.5 * margin - 1.0)))).astype(float)
    a, b = fit_platt(margin, y, strength=1e-6)
    assert a == pytest.approx(0.5, abs=0.03) and b == pytest.approx(-1.0, abs=0.05)


def test_platt_prior_holds_when_data_is_scarce():
    a, b = fit_platt(np.array([3.0, -2.0]), np.array([0.0, 1.0]), prior=(1.0, 0.0), strength=100.0)
    assert a == pytest.approx(1.0, abs=0.05) and b == pytest.approx(0.0, abs=0.05)


def test_merged_ensemble_adds_raw_scores(bundle):
    a = bundle.classifiers["unavailable"].ensemble
    b = bundle.classifiers["stale"].ensemble
    X = np.random.default_rng(5).normal(size=(500, len(FEATURE_NAMES))) * 30
    np.testing.assert_allclose(
        predict_raw(merge_ensembles(a, b), X), predict_raw(a, X) + predict_raw(b, X), atol=1e-12
    )


def test_a_forest_without_node_values_merges_with_one_that_has_them(bundle):
    """An old bundle (leaf values only) plus tonight's residual trees (with node values)."""
    a = bundle.classifiers["unavailable"].ensemble
    b = bundle.classifiers["stale"].ensemble
    assert a.node_values and b.node_values
    old = dataclasses.replace(a, value=np.where(a.split_feature == -1, a.value, 0.0), node_values=False)
    X = np.random.default_rng(6).normal(size=(200, len(FEATURE_NAMES))) * 30

    merged = merge_ensembles(old, b)

    assert not merged.node_values
    assert not merged.value[merged.split_feature != -1].any()
    np.testing.assert_allclose(predict_raw(merged, X), predict_raw(a, X) + predict_raw(b, X), atol=1e-12)


def test_too_little_history_is_a_status_not_an_error(bundle):
    home = _home()
    result = train_home(home, bundle, mode="full", now=T0 + 10 * 86400)
    assert result.status is TrainStatus.INSUFFICIENT_DATA
    assert result.bundle is None
    assert "days of history" in result.message


def test_training_can_be_cancelled(bundle):
    with pytest.raises(TrainingCancelled):
        train_home(_home(), bundle, mode="full", now=NOW, should_stop=lambda: True)


def test_nightly_training_never_deploys_a_worse_model(bundle):
    result = train_home(_home(), bundle, mode="full", now=NOW)
    assert result.status in (TrainStatus.DEPLOYED, TrainStatus.KEPT_CURRENT)
    if result.status is TrainStatus.DEPLOYED:
        total_new = sum(v for k, v in result.metrics.items() if k.endswith("_log_loss"))
        total_old = sum(v for k, v in result.current_metrics.items() if k.endswith("_log_loss"))
        assert total_new <= total_old + 1e-9
        assert result.bundle.metadata["source"] == "home"
        assert result.bundle.metadata["base_version"] == "test"


def _home_model_of_yesterday(bundle: ModelBundle) -> ModelBundle:
    """The bundle as a home model trained up to a day before NOW."""
    return ModelBundle(
        feature_names=bundle.feature_names,
        schema_version=bundle.schema_version,
        classifiers=bundle.classifiers,
        regressors=bundle.regressors,
        target_transform=bundle.target_transform,
        metadata={**bundle.metadata, "source": "home", "trained_until": NOW - 86400},
    )


def test_incremental_learns_only_from_the_days_since_the_last_run(bundle):
    home_model = _home_model_of_yesterday(bundle)
    full = train_home(_home(), home_model, mode="full", now=NOW)
    incremental = train_home(_home(), home_model, mode="incremental", now=NOW)
    assert incremental.status is not TrainStatus.INSUFFICIENT_DATA
    assert 0 < incremental.n_rows < full.n_rows / 3


def test_incremental_reads_only_the_grid_hours_its_rows_look_back_on(bundle, monkeypatch):
    home_model = _home_model_of_yesterday(bundle)
    # Shorter look-backs than the defaults, so that the 40-day test home has a tail to cut.
    monkeypatch.setattr(learning, "INCREMENTAL_LOOKBACK_DAYS", 10)
    monkeypatch.setattr(learning, "EVENT_LOOKBACK_DAYS", 5)
    read: list[int] = []
    find_events = learning.find_events
    monkeypatch.setattr(learning, "find_events", lambda grid: read.append(grid.n_hours) or find_events(grid))
    grid = learning.build_grid(_home(), end=NOW)
    train_home(_home(), home_model, mode="incremental", now=NOW, grid=grid)
    train_home(_home(), home_model, mode="full", now=NOW, grid=grid)
    # Events: from the look-back before the first row (the new day, ending where the held-out
    # days begin) to the end: held-out days, horizon and look-back. Full reads every hour.
    assert read == [(learning.HOLDOUT_DAYS + 7 + 5) * 24, grid.n_hours]


def test_a_grid_tail_keeps_ages_and_swaps_as_hours_before_it():
    grid = learning.build_grid(_home(), end=NOW)
    tail = grid_tail(grid, 48)
    assert tail.n_hours == grid.n_hours - 48 and tail.start == grid.start + 48 * HOUR
    np.testing.assert_array_equal(tail.first_seen, grid.first_seen - 48)
    for name in grid.channels:
        np.testing.assert_array_equal(tail[name], grid[name][:, 48:])
    ends = np.array([grid.n_hours - 24, grid.n_hours])
    full = build_features(_home(), grid, ends)
    part = build_features(_home(), tail, ends - 48)
    for name in ("age_days", "days_since_swap", "reports_24h", "unavailable_hours_7d"):
        np.testing.assert_array_equal(part.column(name), full.column(name), err_msg=name)


def test_incremental_from_the_shipped_model_uses_all_history(bundle):
    full = train_home(_home(), bundle, mode="full", now=NOW)
    incremental = train_home(_home(), bundle, mode="incremental", now=NOW)
    assert incremental.n_rows == full.n_rows


def _trees(model: ModelBundle) -> dict[str, int]:
    return {target: c.ensemble.tree_offsets.shape[0] - 1 for target, c in model.classifiers.items()}


def test_full_training_night_after_night_replaces_the_home_trees_instead_of_piling_them_up(
    bundle, monkeypatch
):
    """Regression: each full run boosted 30 more trees on the last home model (found by the soak)."""
    pytest.importorskip("lightgbm")
    monkeypatch.setattr(learning, "RESIDUAL_MIN_POSITIVES", 1)
    # A home whose first full run beats the toy bundle and deploys (seed 3 stopped doing so when
    # the generator gained chronically flaky devices); what is tested is the nights after it.
    home = generate_home(
        GeneratorConfig(n_homes=1, days=60, devices_per_home=(40, 40), failure_rate=0.8, seed=4), 0
    )
    now = home.end
    first = train_home(home, bundle, mode="full", now=now)
    assert first.bundle is not None, first.message
    grown = {t for t, n in _trees(first.bundle).items() if n > _trees(bundle)[t]}
    assert grown, f"no residual trees were boosted: {first.n_positive}"

    boosted_on: list[int] = []
    residual = learning._residual_ensemble

    def spy(base, *args):
        boosted_on.append(base.tree_offsets.shape[0] - 1)
        return residual(base, *args)

    monkeypatch.setattr(learning, "_residual_ensemble", spy)
    train_home(home, first.bundle, mode="full", now=now)
    incremental = train_home(home, first.bundle, mode="incremental", now=now)

    # The second night boosts on the shipped forest again, not on the first night's trees.
    assert boosted_on == [_trees(bundle)[t] for t in sorted(grown, key=list(bundle.classifiers).index)]
    if incremental.bundle is not None:  # keeps the first night's trees and what they grew from
        assert _trees(incremental.bundle) == _trees(first.bundle)
        assert (
            incremental.bundle.metadata[learning.BASE_TREES_KEY]
            == first.bundle.metadata[learning.BASE_TREES_KEY]
        )


def test_first_trees_undo_a_merge(bundle):
    a = bundle.classifiers["battery_depleted"].ensemble
    b = bundle.classifiers["stale"].ensemble
    merged = merge_ensembles(a, b)
    X = np.random.default_rng(6).normal(size=(300, len(FEATURE_NAMES))) * 30
    n_a = a.tree_offsets.shape[0] - 1
    np.testing.assert_array_equal(predict_raw(first_trees(merged, n_a, a.base_score), X), predict_raw(a, X))


def test_training_records_what_an_owner_would_have_seen_on_the_held_out_days(bundle):
    result = train_home(_home(), bundle, mode="full", now=NOW)
    owner = {
        k: v for k, v in result.metrics.items() if k.rsplit("_", 1)[-1] in ("precision", "recall", "median")
    }
    owner |= {k: v for k, v in result.metrics.items() if k.endswith(("_alerts", "_events"))}
    # Every figure is a number (none made up where the days held no case), shares between 0 and 1.
    assert all(np.isfinite(v) for v in owner.values())
    assert all(0.0 <= v <= 1.0 for k, v in owner.items() if k.endswith(("_alert_precision", "_event_recall")))
    # A failure type with an alert on the held-out days has its share of alerts that came true.
    for target in ("battery_depleted", "unavailable", "stale"):
        if result.metrics.get(f"{target}_alerts", 0.0) > 0:
            assert f"{target}_alert_precision" in result.metrics
        if result.metrics.get(f"{target}_events", 0.0) > 0:
            assert f"{target}_event_recall" in result.metrics
    assert any(k.endswith("_events") for k in result.metrics)
    if result.status is TrainStatus.DEPLOYED:
        assert result.bundle.metadata["home_metrics"] == result.metrics


def test_incremental_after_a_run_a_little_past_the_hour_learns_each_day_once(bundle):
    """Review rev18nt: a run starts seconds past the hour, and its grid's last hour is partial.

    The grid ends at now rounded up (build_grid), so the last run's held-out days began one
    hour later than `int((trained_until - start) / 3600)` puts them: an incremental run then
    learns again from the day the last run learned from last.
    """
    # 23:00:30 (the grid, from midnight, ends on a whole day); the last run a day before.
    now = NOW - HOUR + 30
    home_model = dataclasses.replace(
        _home_model_of_yesterday(bundle),
        metadata={**bundle.metadata, "source": "home", "trained_until": now - 86400},
    )
    incremental = train_home(_home(), home_model, mode="incremental", now=now)
    # One new day and the held-out days, as for a run on the hour.
    on_the_hour = train_home(_home(), _home_model_of_yesterday(bundle), mode="incremental", now=NOW)
    assert incremental.n_rows == on_the_hour.n_rows == (1 + learning.HOLDOUT_DAYS) * 3


def _failing_home():
    return generate_home(
        GeneratorConfig(n_homes=1, days=60, devices_per_home=(40, 40), failure_rate=0.8, seed=4), 0
    )


def test_a_home_model_at_the_owners_horizon_is_judged_against_the_current_one_at_one_horizon(bundle):
    """Review rev18nt: the owner's horizon (1-30 days) differs from the bundle's (7 days).

    train_home labels at the owner's horizon and fits the calibration to it, but judges the
    current model by its 7-day probabilities (scoring would stretch them to 14 days), and the
    home bundle keeps horizon_days = 7, so scoring stretches its already 14-day probabilities
    from 7 to 14 days again. Whatever horizon the verdict is taken at, both models must be
    judged at it, as scoring would show them at it.
    """
    from custom_components.homeiq_device_intel.ml import scoring
    from custom_components.homeiq_device_intel.ml.metrics import log_loss

    home, owners = _failing_home(), 14.0
    grid = learning.build_grid(home, end=home.end)
    result = train_home(home, bundle, mode="full", now=home.end, horizon_days=owners, grid=grid)
    assert result.bundle is not None, result.message

    def as_judged(horizon: float) -> bool:
        data = learning._training_data(home, grid, bundle, mode="full", horizon_days=horizon)
        for target in ("battery_depleted", "unavailable"):
            y = data.y[target]
            rows = data.is_holdout & np.isfinite(y)
            for figures, model in ((result.current_metrics, bundle), (result.metrics, result.bundle)):
                shown = scoring._probabilities(data.X[rows], model, horizon, {}, {})[0][target]
                if figures[f"{target}_log_loss"] != pytest.approx(log_loss(y[rows], shown), rel=1e-9):
                    return False
        return True

    assert as_judged(owners) or as_judged(7.0)


@pytest.mark.xfail(
    strict=True,
    reason="known, not fixed (issue 12 note): the nightly run's training rows reach the held-out days, "
    "so a failure in the held-out week is learned on training rows too; a horizon-long gap shrinks the "
    "candidate's measured gain (it still deployed on 6 of 6 homes) and costs a week of rows: a design choice",
)
def test_no_failure_is_learned_from_on_training_rows_and_judged_on_held_out_rows(bundle):
    """Review rev18nt: training rows end where the held-out rows begin, with no gap of a horizon.

    A training row at hour e is labelled by the failures in [e, e + horizon): those of the
    first held-out week too. The candidate (its residual trees above all) learns the very
    failures of the held-out days on the same devices a day before, so the verdict "not
    worse on the most recent held-out days" is biased towards deploying it.
    """
    home = _failing_home()
    grid = learning.build_grid(home, end=home.end)
    data = learning._training_data(home, grid, bundle, mode="full", horizon_days=7.0)
    shared = 0
    for target, nxt in data.next_event_hour.items():
        y = data.y[target]
        learned = {
            (int(d), float(h))
            for d, h, ok in zip(data.device, nxt, data.is_train & (y > 0.5), strict=True)
            if ok
        }
        judged = {
            (int(d), float(h))
            for d, h, ok in zip(data.device, nxt, data.is_holdout & (y > 0.5), strict=True)
            if ok
        }
        shared += len(learned & judged)
    assert shared == 0


def test_an_incremental_run_learns_from_the_rows_a_full_run_and_scoring_read(bundle):
    """Review rev18nt: incremental rows read the grid from 31 days before their first row only.

    Unbounded features (hours since a change, since the battery level moved, since a report,
    down for how long) then fall back to the device's age, or stop at the cut, where the full
    run and hourly scoring (the stored 120-day grid) read the real figure: the incremental run,
    the default nightly mode, calibrates and judges on rows the home is never scored on.
    """
    home = generate_home(
        GeneratorConfig(n_homes=1, days=90, devices_per_home=(40, 40), failure_rate=0.8, seed=4), 0
    )
    grid = learning.build_grid(home, end=home.end)
    home_model = dataclasses.replace(
        bundle, metadata={**bundle.metadata, "source": "home", "trained_until": home.end - 86400}
    )
    full = learning._training_data(home, grid, bundle, mode="full", horizon_days=7.0)
    inc = learning._training_data(home, grid, home_model, mode="incremental", horizon_days=7.0)
    # The incremental rows' hours are counted from the start of the grid part it read.
    shift = int(full.hour[full.is_holdout].max() - inc.hour[inc.is_holdout].max())
    row_of = {(int(d), int(h)): i for i, (d, h) in enumerate(zip(full.device, full.hour, strict=True))}
    used = np.flatnonzero(inc.is_train | inc.is_holdout)
    same = np.array([row_of[(int(inc.device[i]), int(inc.hour[i]) + shift)] for i in used])
    for k, name in enumerate(FEATURE_NAMES):
        np.testing.assert_allclose(inc.X[used, k], full.X[same, k], rtol=1e-6, atol=1e-6, err_msg=name)


def test_no_failure_type_gets_a_classifier_worse_on_the_held_out_days_than_the_current_one():
    """Review rev18nt: the verdict sums the held-out log loss of every failure type.

    A candidate much better at outages and worse at batteries or staleness is deployed whole:
    the owner's battery (or stale) predictions get worse than the model they had. Seen on the
    shipped bundle in 6 of 8 generated homes; here the stale classifier.
    """
    from pathlib import Path

    from custom_components.homeiq_device_intel.ml.bundle import load_bundle
    from custom_components.homeiq_device_intel.ml.features import FEATURE_SCHEMA_VERSION

    shipped = load_bundle(
        Path(learning.__file__).parents[1] / "models",
        expected_feature_names=FEATURE_NAMES,
        expected_schema_version=FEATURE_SCHEMA_VERSION,
    )
    home = generate_home(
        GeneratorConfig(n_homes=1, days=100, devices_per_home=(80, 80), failure_rate=0.8, seed=2), 0
    )
    result = train_home(home, shipped, mode="full", now=home.end)
    assert result.status is TrainStatus.DEPLOYED, result.message
    worse = {
        key: (result.metrics[key], result.current_metrics[key])
        for key in result.metrics
        if key.endswith("_log_loss") and result.metrics[key] > result.current_metrics[key] + 1e-9
    }
    assert not worse


def _no_stale_labels_held_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave every stale row of the held-out days unlabelled (as when every telemetry device was down)."""
    build_labels = learning.build_labels

    def no_stale_labels_held_out(part, frame, events, *, horizon_days):
        labels = build_labels(part, frame, events, horizon_days=horizon_days)
        held_out = frame.eval_hour > part.n_hours - int(horizon_days * 24) - learning.HOLDOUT_DAYS * 24
        labels.y[FailureType.STALE.value][held_out] = np.nan
        return labels

    monkeypatch.setattr(learning, "build_labels", no_stale_labels_held_out)


def test_a_failure_type_without_labelled_held_out_days_keeps_its_current_classifier(bundle, monkeypatch):
    """A refit that could not be judged on the held-out days is never deployed.

    Here no stale row of the held-out days is labelled (as when every telemetry device was down
    or too young then), while the training days hold enough stale failures to refit its
    calibration; the other failure types are judged, better, and deployed.
    """
    _no_stale_labels_held_out(monkeypatch)
    home = _failing_home()

    result = train_home(home, bundle, mode="full", now=home.end)

    assert result.status is TrainStatus.DEPLOYED, result.message
    assert result.bundle.classifiers["stale"] is bundle.classifiers["stale"]
    assert result.bundle.classifiers["battery_depleted"] is not bundle.classifiers["battery_depleted"]
    assert result.kept == {"stale": learning.KeptReason.NOT_JUDGED}
    assert not any(key.startswith("stale_") for key in result.metrics)


def _release(
    bundle: ModelBundle, version: str, *, signal: str | None = None, **metadata: object
) -> ModelBundle:
    """The bundle as another release ships it; with `signal`, forests that read only that feature."""
    classifiers = bundle.classifiers
    if signal is not None:
        classifiers = {
            target: BinaryClassifier(ensemble=_ensemble(10 + k, signal))
            for k, target in enumerate(bundle.classifiers)
        }
    return dataclasses.replace(
        bundle, classifiers=classifiers, metadata={**bundle.metadata, "version": version, **metadata}
    )


@pytest.fixture(scope="module")
def home_model_and_home(bundle):
    """A failing home, and the home model learned on it from release "test"."""
    home = _failing_home()
    result = train_home(home, bundle, mode="full", now=home.end)
    assert result.status is TrainStatus.DEPLOYED, result.message
    return result.bundle, home


def _total(metrics: dict[str, float]) -> float:
    return sum(value for key, value in metrics.items() if key.endswith("_log_loss"))


def test_a_newly_shipped_model_better_than_the_home_model_in_use_is_learned_on_and_deployed(
    bundle, home_model_and_home
):
    _, home = home_model_and_home
    # A home model of an earlier release whose forests read nothing a failure shows.
    in_use = _release(bundle, "old", signal="bridge_peers", source="home", trained_until=home.end - 86400)

    result = train_home(home, bundle, mode="incremental", now=home.end, in_use=in_use)

    assert result.status is TrainStatus.DEPLOYED, result.message
    assert result.bundle.metadata["version"] == "test"
    assert result.bundle.metadata["base_version"] == "test"
    assert result.bundle.metadata["source"] == "home"
    # Learned from all the history, as a first run would (not the days since the model in use's run).
    assert result.n_rows == train_home(home, bundle, mode="full", now=home.end).n_rows
    # The figures shown beside the new ones are the model in use's.
    assert _total(result.current_metrics) > _total(result.metrics)
    assert (
        result.bundle.classifiers["battery_depleted"].ensemble
        is not in_use.classifiers["battery_depleted"].ensemble
    )
    # Each failure type judged on its own: none worse than the model in use's (rev21).
    for target in ("battery_depleted", "unavailable", "stale"):
        key = f"{target}_log_loss"
        assert result.metrics[key] <= result.current_metrics[key] + 1e-9, target


def test_a_home_model_in_use_better_than_the_newly_shipped_one_keeps_serving(bundle, home_model_and_home):
    in_use, home = home_model_and_home
    # A new release whose forests read nothing a failure shows: a calibration refit (all a run
    # learns where LightGBM is not installed) cannot save it. On this home's held-out days such
    # a forest's near-constant score beats the home model at outages (rev21: each failure type
    # is judged on its own), so the model in use here has the best outage classifier found.
    outages = BinaryClassifier(ensemble=_ensemble(11, "bridge_peers"), calibration_b=0.2)
    in_use = dataclasses.replace(in_use, classifiers={**in_use.classifiers, "unavailable": outages})
    release = _release(bundle, "test-2", signal="bridge_peers")

    result = train_home(home, release, mode="incremental", now=home.end, in_use=in_use)

    assert result.status is TrainStatus.KEPT_CURRENT
    assert result.bundle is None
    assert "newly shipped" in result.message
    assert _total(result.current_metrics) < _total(result.metrics)
    # Without the model in use to beat, the same run deploys: the verdict is the model in use's.
    assert train_home(home, release, mode="incremental", now=home.end).status is TrainStatus.DEPLOYED


def _worse_at_outages(in_use: ModelBundle) -> ModelBundle:
    """The home model in use with an outage classifier reading nothing a failure shows, set high."""
    poor = BinaryClassifier(ensemble=_ensemble(20, "bridge_peers"), calibration_a=1.0, calibration_b=2.0)
    return dataclasses.replace(in_use, classifiers={**in_use.classifiers, "unavailable": poor})


def _blind_to_batteries(bundle: ModelBundle, version: str) -> ModelBundle:
    """A release whose battery classifier reads nothing a failure shows; the rest as `bundle`."""
    release = _release(bundle, version)
    blind = BinaryClassifier(ensemble=_ensemble(21, "bridge_peers"))
    return dataclasses.replace(release, classifiers={**release.classifiers, "battery_depleted": blind})


def test_a_newly_shipped_model_never_brings_in_a_failure_type_worse_than_the_model_in_use(
    bundle, home_model_and_home
):
    """Review rev21: the release was judged whole against the model in use (summed log loss).

    Much better at outages and worse at batteries, it was deployed whole: the owner's battery
    predictions got worse than the model they had, what each run's verdict per failure type
    (rev18nt) rules out ("a gain on outages never brings a worse battery model in").
    """
    in_use, home = home_model_and_home
    in_use = _worse_at_outages(in_use)
    release = _blind_to_batteries(bundle, "test-2")

    result = train_home(home, release, mode="incremental", now=home.end, in_use=in_use)

    assert result.status is TrainStatus.DEPLOYED, result.message
    worse = {
        key: (result.metrics[key], result.current_metrics[key])
        for key in result.current_metrics
        if key.endswith("_log_loss") and result.metrics[key] > result.current_metrics[key] + 1e-9
    }
    assert not worse
    assert result.bundle.classifiers["battery_depleted"] is in_use.classifiers["battery_depleted"]
    assert result.bundle.classifiers["unavailable"] is not in_use.classifiers["unavailable"]
    assert result.kept["battery_depleted"] is learning.KeptReason.WORSE
    assert result.bundle.metadata["version"] == "test-2"
    # The classifier kept keeps its lineage: calibration weight and the trees it was learned from.
    for key in ("calibration_weight", learning.BASE_TREES_KEY):
        kept = in_use.metadata.get(key, {}).get("battery_depleted")
        assert result.bundle.metadata[key].get("battery_depleted") == kept, key


def test_a_failure_type_the_held_out_days_cannot_judge_keeps_the_classifier_in_use_on_a_new_release(
    bundle, home_model_and_home, monkeypatch
):
    """Review rev21: nothing measured, nothing deployed, on a new release too.

    No stale row of the held-out days is labelled: the shipped stale classifier replaced the
    home's own, judged by nothing.
    """
    in_use, home = home_model_and_home
    in_use = _worse_at_outages(in_use)
    _no_stale_labels_held_out(monkeypatch)

    result = train_home(home, _release(bundle, "test-2"), mode="incremental", now=home.end, in_use=in_use)

    assert result.status is TrainStatus.DEPLOYED, result.message
    assert result.bundle.classifiers["stale"] is in_use.classifiers["stale"]
    assert result.kept["stale"] is learning.KeptReason.NOT_JUDGED


def test_a_home_model_in_use_of_another_horizon_is_judged_as_scoring_would_show_it(
    bundle, home_model_and_home
):
    """Review rev21: a release of another horizon was deployed unjudged ("cannot be judged").

    Scoring stretches every model's probabilities to the owner's horizon at a constant hazard:
    the model in use, stretched to the release's horizon, is what the owner would see at it.
    Here a model in use of 7.5 days with the best outage classifier found on this home (see the
    test above), and a release of 7 days whose forests read nothing a failure shows.
    """
    in_use, home = home_model_and_home
    outages = BinaryClassifier(ensemble=_ensemble(11, "bridge_peers"), calibration_b=0.2)
    in_use = dataclasses.replace(
        in_use,
        classifiers={**in_use.classifiers, "unavailable": outages},
        metadata={**in_use.metadata, "horizon_days": 7.5},
    )
    release = _release(bundle, "test-2", signal="bridge_peers")

    result = train_home(home, release, mode="incremental", now=home.end, in_use=in_use)

    assert result.status is TrainStatus.KEPT_CURRENT, result.message
    assert _total(result.current_metrics) < _total(result.metrics)
