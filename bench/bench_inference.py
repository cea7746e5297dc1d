"""Inference speed: the numpy predictor against LightGBM and scikit-learn on the same rows."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.homeiq_device_intel.ml.export import (
    ensemble_from_lightgbm,
    isolation_forest_from_sklearn,
)
from custom_components.homeiq_device_intel.ml.trees import (
    predict_raw,
    score_samples,
)

RESULTS = Path(__file__).parent / "results" / "inference.json"


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def training_data(rng: np.random.Generator, n_rows: int, n_features: int) -> np.ndarray:
    X = rng.normal(size=(n_rows, n_features))
    X[rng.random(X.shape) < 0.1] = np.nan
    X[rng.random(X.shape) < 0.05] = 0.0
    return X


def lightgbm_case(
    X_train: np.ndarray, y: np.ndarray, X: np.ndarray, n_trees: int, repeats: int
) -> dict[str, Any]:
    import lightgbm as lgb

    booster = lgb.train(
        {"objective": "binary", "num_leaves": 31, "verbose": -1, "seed": 0},
        lgb.Dataset(X_train, y),
        num_boost_round=n_trees,
    )
    ensemble = ensemble_from_lightgbm(booster)
    assert np.abs(predict_raw(ensemble, X) - booster.predict(X, raw_score=True)).max() <= 1e-9
    return {
        "model": f"lightgbm binary, {n_trees} trees x 31 leaves",
        "numpy_s": median_seconds(lambda: predict_raw(ensemble, X), repeats),
        "reference_s": median_seconds(lambda: booster.predict(X, raw_score=True), repeats),
        "reference_1_thread_s": median_seconds(
            lambda: booster.predict(X, raw_score=True, num_threads=1), repeats
        ),
    }


def machine_info() -> dict[str, Any]:
    import lightgbm
    import sklearn

    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "lightgbm": lightgbm.__version__,
        "scikit-learn": sklearn.__version__,
    }


def main() -> None:
    from sklearn.ensemble import IsolationForest

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X_train = training_data(rng, 20_000, args.features)
    y = (np.nan_to_num(X_train[:, :5]).sum(axis=1) + rng.normal(size=len(X_train)) > 0).astype(int)
    X = training_data(rng, args.rows, args.features)

    cases = [lightgbm_case(X_train, y, X, n_trees, args.repeats) for n_trees in (50, 200, 500)]
    imputed_train = np.nan_to_num(X_train)
    forest = IsolationForest(n_estimators=100, max_features=0.5, random_state=0).fit(imputed_train)
    model = isolation_forest_from_sklearn(forest, np.zeros(args.features))
    imputed = np.nan_to_num(X)
    cases.append(
        {
            "model": "sklearn isolation forest, 100 trees x 256 samples",
            "numpy_s": median_seconds(lambda: score_samples(model, X), args.repeats),
            "reference_s": median_seconds(lambda: forest.score_samples(imputed), args.repeats),
            "reference_1_thread_s": None,
        }
    )

    print(f"{args.rows} rows x {args.features} features, median of {args.repeats} runs")
    print(f"{'model':<52} {'numpy ms':>9} {'ref ms':>9} {'ref 1t ms':>10} {'numpy/ref':>10}")
    for case in cases:
        case["ratio"] = case["numpy_s"] / case["reference_s"]
        one_thread = case["reference_1_thread_s"]
        print(
            f"{case['model']:<52} {case['numpy_s'] * 1e3:>9.2f} {case['reference_s'] * 1e3:>9.2f} "
            f"{'-' if one_thread is None else f'{one_thread * 1e3:.2f}':>10} {case['ratio']:>10.2f}"
        )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": args.rows,
        "features": args.features,
        "repeats": args.repeats,
        "machine": machine_info(),
        "cases": cases,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
