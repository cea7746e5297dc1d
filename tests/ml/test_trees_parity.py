"""The numpy predictor reproduces LightGBM and scikit-learn predictions on hostile inputs."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.export import (
    ensemble_from_lightgbm,
    isolation_forest_from_sklearn,
)
from custom_components.homeiq_device_intel.ml.learning import merge_ensembles
from custom_components.homeiq_device_intel.ml.trees.contributions import path_contributions
from custom_components.homeiq_device_intel.ml.trees.isolation import IsolationForestModel, score_samples
from custom_components.homeiq_device_intel.ml.trees.layout import MissingType, TreeEnsemble
from custom_components.homeiq_device_intel.ml.trees.predict import (
    LIGHTGBM_ZERO_THRESHOLD,
    predict_binary_proba,
    predict_raw,
)

N_FEATURES = 8
ALL_NAN_FEATURE = 5  # entirely NaN in training
OBSERVED_FEATURE = 2  # never missing in training
N_STRESS_ROWS = 100_000
TOLERANCE = 1e-9


def stress_rows(rng: np.random.Generator, split_feature: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Rows mixing normal values, NaN, +-inf, zeros, tiny values and exact split thresholds."""
    X = rng.normal(scale=2.0, size=(N_STRESS_ROWS, N_FEATURES))
    u = rng.random(X.shape)
    X[u < 0.10] = np.nan
    X[(u >= 0.10) & (u < 0.14)] = np.inf
    X[(u >= 0.14) & (u < 0.18)] = -np.inf
    X[(u >= 0.18) & (u < 0.28)] = 0.0
    tiny = np.array([1e-36, -1e-36, 1e-40, -0.0, 5e-324, LIGHTGBM_ZERO_THRESHOLD, 1e-30, 1e300])
    tiny_cells = (u >= 0.28) & (u < 0.32)
    X[tiny_cells] = rng.choice(tiny, size=int(tiny_cells.sum()))
    for feature in range(N_FEATURES):
        thresholds = threshold[split_feature == feature]
        if thresholds.size == 0:
            continue
        cells = np.flatnonzero((u[:, feature] >= 0.32) & (u[:, feature] < 0.55))
        values = rng.choice(thresholds, size=cells.size)
        nudge = rng.integers(-1, 2, size=cells.size)
        with np.errstate(over="ignore"):  # thresholds may be +-inf
            values = np.where(nudge < 0, np.nextafter(values, -np.inf), values)
            values = np.where(nudge > 0, np.nextafter(values, np.inf), values)
        X[cells, feature] = values
    return X


@pytest.fixture(scope="module")
def training_set() -> tuple[np.ndarray, np.ndarray]:
    """Training rows with NaN and zeros injected, one all-NaN and one never-missing feature."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(4000, N_FEATURES))
    X[rng.random(X.shape) < 0.15] = np.nan
    X[rng.random(X.shape) < 0.10] = 0.0
    X[:, OBSERVED_FEATURE] = rng.normal(size=len(X))
    X[:, ALL_NAN_FEATURE] = np.nan
    signal = (
        np.nan_to_num(X[:, 0], nan=1.5)
        + np.where(X[:, 1] == 0.0, -2.0, np.nan_to_num(X[:, 1]))
        + X[:, OBSERVED_FEATURE] * (np.nan_to_num(X[:, 3]) > 0)
    )
    y = (signal + rng.normal(scale=0.5, size=len(X)) > 0.3).astype(np.int64)
    return X, y


def train_lightgbm(X: np.ndarray, y: np.ndarray, n_trees: int = 50, **params: Any) -> Any:
    """A small LightGBM booster trained deterministically."""
    lgb = pytest.importorskip("lightgbm")
    base = {"num_leaves": 31, "min_data_in_leaf": 10, "verbose": -1, "seed": 0, "num_threads": 1}
    return lgb.train({**base, **params}, lgb.Dataset(X, y), num_boost_round=n_trees)


def internal_missing_types(ensemble: TreeEnsemble) -> set[int]:
    """Missing types used by the ensemble's splits."""
    return set(np.unique(ensemble.missing_type[ensemble.split_feature >= 0]).tolist())


@pytest.mark.parametrize(
    ("params", "missing_types"),
    [
        pytest.param({}, {MissingType.NONE, MissingType.NAN}, id="nan-as-missing"),
        pytest.param({"zero_as_missing": True}, {MissingType.ZERO}, id="zero-as-missing"),
        pytest.param({"use_missing": False}, {MissingType.NONE}, id="missing-ignored"),
    ],
)
def test_binary_raw_score_and_probability_match_lightgbm(
    training_set: tuple[np.ndarray, np.ndarray], params: dict[str, Any], missing_types: set[int]
) -> None:
    X, y = training_set
    booster = train_lightgbm(X, y, objective="binary", **params)
    ensemble = ensemble_from_lightgbm(booster)
    assert internal_missing_types(ensemble) == missing_types
    assert not np.any(ensemble.split_feature == ALL_NAN_FEATURE)

    rows = stress_rows(np.random.default_rng(1), ensemble.split_feature, ensemble.threshold)
    raw = predict_raw(ensemble, rows)
    proba = predict_binary_proba(ensemble, rows)

    assert np.max(np.abs(raw - booster.predict(rows, raw_score=True))) <= TOLERANCE
    assert np.max(np.abs(proba - booster.predict(rows))) <= TOLERANCE


@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9])
def test_quantile_regressor_matches_lightgbm(
    training_set: tuple[np.ndarray, np.ndarray], alpha: float
) -> None:
    X, _ = training_set
    target = 30.0 + 10.0 * np.nan_to_num(X[:, 0]) + 5.0 * (X[:, 1] == 0.0) + X[:, OBSERVED_FEATURE]
    booster = train_lightgbm(X, target, objective="quantile", alpha=alpha)
    ensemble = ensemble_from_lightgbm(booster)
    assert ensemble.objective == "quantile"

    rows = stress_rows(np.random.default_rng(2), ensemble.split_feature, ensemble.threshold)

    assert np.max(np.abs(predict_raw(ensemble, rows) - booster.predict(rows))) <= TOLERANCE


@pytest.mark.filterwarnings("ignore:The argument 'eval_set' is deprecated")
def test_scikit_learn_api_model_with_early_stopping_matches_its_booster(
    training_set: tuple[np.ndarray, np.ndarray],
) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = training_set
    model = lgb.LGBMClassifier(n_estimators=200, num_leaves=15, verbose=-1, n_jobs=1)
    model.fit(
        X[:3000],
        y[:3000],
        eval_set=[(X[3000:], y[3000:])],
        callbacks=[lgb.early_stopping(5, verbose=False)],
    )
    ensemble = ensemble_from_lightgbm(model)
    assert ensemble.n_trees == model.booster_.best_iteration < 200

    rows = stress_rows(np.random.default_rng(3), ensemble.split_feature, ensemble.threshold)

    assert np.max(np.abs(predict_binary_proba(ensemble, rows) - model.predict_proba(rows)[:, 1])) <= (
        TOLERANCE
    )


def test_single_leaf_trees_predict_their_leaf_value() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, N_FEATURES))
    booster = train_lightgbm(X, rng.random(200), n_trees=3, objective="regression", min_data_in_leaf=500)
    ensemble = ensemble_from_lightgbm(booster)
    assert np.all(ensemble.split_feature == -1)

    assert np.max(np.abs(predict_raw(ensemble, X) - booster.predict(X))) <= TOLERANCE


def test_categorical_splits_are_rejected() -> None:
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(500, 3))
    X[:, 0] = rng.integers(0, 6, size=500)
    y = (X[:, 0] % 2 == 0).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_per_group": 5, "cat_smooth": 1},
        lgb.Dataset(X, y, categorical_feature=[0]),
        num_boost_round=3,
    )

    with pytest.raises(ValueError, match="categorical"):
        ensemble_from_lightgbm(booster)


def test_multiclass_models_are_rejected() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(300, 3))
    booster = train_lightgbm(X, rng.integers(0, 3, size=300), n_trees=2, objective="multiclass", num_class=3)

    with pytest.raises(ValueError, match="multiclass"):
        ensemble_from_lightgbm(booster)


def stump(missing_type: MissingType, default_left: bool, threshold: float) -> TreeEnsemble:
    """One split on feature 0: left leaf -1.0, right leaf +1.0."""
    return TreeEnsemble(
        n_features=1,
        objective="regression",
        tree_offsets=np.array([0, 3], dtype=np.int32),
        split_feature=np.array([0, -1, -1], dtype=np.int32),
        threshold=np.array([threshold, 0.0, 0.0]),
        left_child=np.array([1, -1, -1], dtype=np.int32),
        right_child=np.array([2, -1, -1], dtype=np.int32),
        default_left=np.array([default_left, False, False]),
        missing_type=np.array([missing_type, 0, 0], dtype=np.int8),
        value=np.array([0.0, -1.0, 1.0]),
    )


MISSING_RULES = pytest.mark.parametrize(
    ("missing_type", "default_left", "threshold", "x", "goes_left"),
    [
        (MissingType.NONE, False, 0.5, np.nan, True),  # NaN read as 0.0 <= 0.5
        (MissingType.NONE, True, -0.5, np.nan, False),  # NaN read as 0.0 > -0.5
        (MissingType.NAN, False, 0.5, np.nan, False),  # NaN follows default_left
        (MissingType.NAN, True, -0.5, np.nan, True),
        (MissingType.NAN, False, 0.5, 0.0, True),  # zero is an ordinary value
        (MissingType.ZERO, False, 0.5, 0.0, False),  # zero follows default_left
        (MissingType.ZERO, True, -0.5, 1e-36, True),  # |x| <= 1e-35 counts as zero
        (MissingType.ZERO, False, 0.5, np.nan, False),  # NaN read as 0.0, then missing
        (MissingType.ZERO, False, 0.5, 0.5, True),  # x == threshold goes left
        (MissingType.NONE, False, 0.5, np.nextafter(0.5, 1.0), False),
        (MissingType.NONE, False, 0.5, np.inf, False),
        (MissingType.NAN, False, 0.5, -np.inf, True),
    ],
)


@MISSING_RULES
def test_split_follows_lightgbm_missing_value_rules(
    missing_type: MissingType, default_left: bool, threshold: float, x: float, goes_left: bool
) -> None:
    raw = predict_raw(stump(missing_type, default_left, threshold), np.array([[x]]))

    assert raw.tolist() == [-1.0 if goes_left else 1.0]


@MISSING_RULES
def test_contributions_follow_the_missing_value_rules_of_the_predictor(
    missing_type: MissingType, default_left: bool, threshold: float, x: float, goes_left: bool
) -> None:
    with_root = dataclasses.replace(
        stump(missing_type, default_left, threshold), value=np.array([0.25, -1.0, 1.0]), node_values=True
    )

    contributions, bias = path_contributions(with_root, np.array([[x]]))

    assert bias == 0.25
    assert contributions.tolist() == [[(-1.0 if goes_left else 1.0) - 0.25]]


def contributions_add_up(ensemble: TreeEnsemble, rows: np.ndarray) -> float:
    """Largest |bias + sum of contributions - raw score| over the rows."""
    contributions, bias = path_contributions(ensemble, rows)
    assert contributions.shape == rows.shape
    return float(np.max(np.abs(bias + contributions.sum(axis=1) - predict_raw(ensemble, rows))))


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="nan-as-missing"),
        pytest.param({"zero_as_missing": True}, id="zero-as-missing"),
        pytest.param({"use_missing": False}, id="missing-ignored"),
    ],
)
def test_path_contributions_add_up_to_the_raw_score(
    training_set: tuple[np.ndarray, np.ndarray], params: dict[str, Any]
) -> None:
    X, y = training_set
    booster = train_lightgbm(X, y, objective="binary", **params)
    ensemble = ensemble_from_lightgbm(booster)
    rows = stress_rows(np.random.default_rng(10), ensemble.split_feature, ensemble.threshold)[:20_000]

    assert contributions_add_up(ensemble, rows) <= TOLERANCE
    contributions, _ = path_contributions(ensemble, rows)
    # Only features some split reads contribute.
    unread = np.setdiff1d(np.arange(N_FEATURES), ensemble.split_feature)
    assert ALL_NAN_FEATURE in unread
    assert not contributions[:, unread].any()


def test_path_contributions_add_up_on_quantile_and_merged_forests(
    training_set: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = training_set
    target = 30.0 + 10.0 * np.nan_to_num(X[:, 0]) + X[:, OBSERVED_FEATURE]
    quantile = ensemble_from_lightgbm(train_lightgbm(X, target, objective="quantile", alpha=0.9))
    base = ensemble_from_lightgbm(train_lightgbm(X, y, n_trees=20, objective="binary"))
    residual = ensemble_from_lightgbm(train_lightgbm(X, y, n_trees=10, objective="binary", num_leaves=7))
    merged = merge_ensembles(base, residual)
    rows = stress_rows(np.random.default_rng(11), merged.split_feature, merged.threshold)[:20_000]

    assert merged.node_values
    assert contributions_add_up(quantile, rows) <= TOLERANCE
    assert contributions_add_up(merged, rows) <= TOLERANCE


def test_export_keeps_each_split_s_expected_value_and_predictions_unchanged(
    training_set: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = training_set
    booster = train_lightgbm(X, y, n_trees=5, objective="binary")
    ensemble = ensemble_from_lightgbm(booster)
    roots = [tree["tree_structure"]["internal_value"] for tree in booster.dump_model()["tree_info"]]

    assert ensemble.node_values
    assert ensemble.value[ensemble.tree_offsets[:-1]].tolist() == roots
    leaves_only = dataclasses.replace(
        ensemble, value=np.where(ensemble.split_feature == -1, ensemble.value, 0.0), node_values=False
    )
    assert np.array_equal(predict_raw(ensemble, X), predict_raw(leaves_only, X))


def test_old_forests_have_no_node_values_and_must_hold_zero_at_splits() -> None:
    old = stump(MissingType.NONE, False, 0.5)
    assert not old.node_values
    with pytest.raises(ValueError, match="node values"):
        path_contributions(old, np.zeros((1, 1)))
    with pytest.raises(ValueError, match="node_values is false"):
        dataclasses.replace(old, value=np.array([0.25, -1.0, 1.0]))


@pytest.fixture(scope="module")
def anomaly_training() -> tuple[np.ndarray, np.ndarray]:
    """Raw training rows with NaN, and their per-feature imputation values."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(3000, N_FEATURES)) * np.arange(1, N_FEATURES + 1)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, ALL_NAN_FEATURE] = np.nan
    observed = ~np.all(np.isnan(X), axis=0)
    impute = np.zeros(N_FEATURES)
    impute[observed] = np.nanmedian(X[:, observed], axis=0)
    return X, impute


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"max_features": 0.5}, id="feature-subsets"),
        pytest.param({"max_features": 1.0, "bootstrap": True}, id="bootstrap"),
        pytest.param(
            {"max_samples": 100, "max_features": 3, "bootstrap": True, "contamination": 0.05},
            id="small-subsamples-bootstrap-contamination",
        ),
        pytest.param({"max_samples": 0.5}, id="fractional-max-samples"),
        pytest.param({"max_samples": 1}, id="one-sample"),
    ],
)
def test_isolation_forest_scores_match_scikit_learn(
    anomaly_training: tuple[np.ndarray, np.ndarray], params: dict[str, Any]
) -> None:
    ensemble = pytest.importorskip("sklearn.ensemble")
    X, impute = anomaly_training
    imputed_training = np.where(np.isnan(X), impute, X)
    forest = ensemble.IsolationForest(n_estimators=50, random_state=0, **params)
    forest.fit(imputed_training)
    model = isolation_forest_from_sklearn(forest, impute)
    assert model.offset == forest.offset_

    rows = stress_rows(np.random.default_rng(9), model.split_feature, model.threshold)
    with np.errstate(over="ignore"):
        rows = np.vstack((rows, rows[:1000].astype(np.float32).astype(np.float64)))
    expected = forest.score_samples(np.where(np.isnan(rows), impute, rows))

    assert np.max(np.abs(score_samples(model, rows) - expected)) <= TOLERANCE


def test_isolation_forest_imputes_nan_with_stored_values() -> None:
    model = IsolationForestModel(
        n_features=1,
        max_samples=4,
        offset=-0.5,
        impute_values=np.array([2.0]),
        tree_offsets=np.array([0, 3], dtype=np.int32),
        split_feature=np.array([0, -1, -1], dtype=np.int32),
        threshold=np.array([1.0, 0.0, 0.0]),
        left_child=np.array([1, -1, -1], dtype=np.int32),
        right_child=np.array([2, -1, -1], dtype=np.int32),
        n_node_samples=np.array([4, 1, 3], dtype=np.int64),
    )

    scores = score_samples(model, np.array([[np.nan], [5.0], [0.0]]))

    assert scores[0] == scores[1] != scores[2]
