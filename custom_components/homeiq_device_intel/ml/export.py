"""Export trained LightGBM and scikit-learn models to the portable tree format (training side).

Works on fitted model objects by duck typing, so this module imports neither
LightGBM nor scikit-learn and stays importable where they are absent.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from .trees.forest import LEAF
from .trees.isolation import IsolationForestModel
from .trees.layout import MissingType, Objective, TreeEnsemble

_MISSING_TYPES: Final[dict[str, MissingType]] = {
    "None": MissingType.NONE,
    "Zero": MissingType.ZERO,
    "NaN": MissingType.NAN,
}
# dump_model() writes thresholds of magnitude >= 1e300 as +-1e300.
_DUMP_INF: Final = 1e300


def _objective(description: str) -> tuple[Objective, float]:
    """Objective kind and sigmoid scale of a LightGBM objective string ("binary sigmoid:1")."""
    name, *options = description.split()
    if name == "binary":
        scales = [float(option.split(":", 1)[1]) for option in options if option.startswith("sigmoid:")]
        return "binary", scales[0] if scales else 1.0
    if name == "quantile":
        return "quantile", 1.0
    if name == "regression" and "sqrt" not in options:
        return "regression", 1.0
    raise ValueError(
        f"unsupported LightGBM objective {description!r}: expected binary, quantile or regression"
    )


def _split_thresholds(model_text: str) -> dict[int, list[float]]:
    """Exact split thresholds per tree, by split index, from LightGBM's model text.

    `dump_model()` clamps infinite thresholds to +-1e300 (LightGBM's AvoidInf),
    and a split with threshold +inf sends x = +inf left, so read them here.
    """
    thresholds: dict[int, list[float]] = {}
    tree = -1
    for line in model_text.splitlines():
        if line == "end of trees":
            break
        if line.startswith("Tree="):
            tree = int(line.removeprefix("Tree="))
        elif line.startswith("threshold=") and tree >= 0:
            thresholds[tree] = [float(value) for value in line.removeprefix("threshold=").split()]
    return thresholds


def _flatten_tree(
    structure: dict[str, Any],
    thresholds: list[float],
    nodes: dict[str, list[Any]],
    tree_index: int,
) -> None:
    """Append one dumped tree to the global node lists in preorder (children after parents)."""
    stack: list[tuple[dict[str, Any], int, str]] = [(structure, -1, "")]
    while stack:
        node, parent, side = stack.pop()
        index = len(nodes["value"])
        if parent >= 0:
            nodes[side][parent] = index
        if "leaf_value" in node:
            if "leaf_coeff" in node:
                raise ValueError(f"tree {tree_index}: linear trees are not supported")
            nodes["split_feature"].append(LEAF)
            nodes["threshold"].append(0.0)
            nodes["default_left"].append(False)
            nodes["missing_type"].append(MissingType.NONE)
            nodes["value"].append(float(node["leaf_value"]))
            nodes["left_child"].append(LEAF)
            nodes["right_child"].append(LEAF)
            continue
        if node.get("decision_type") != "<=":
            raise ValueError(
                f"tree {tree_index}: categorical split ({node.get('decision_type')!r}) "
                "is not supported; train with numerical features only"
            )
        nodes["split_feature"].append(int(node["split_feature"]))
        threshold = thresholds[int(node["split_index"])]
        if abs(threshold) < _DUMP_INF and threshold != float(node["threshold"]):
            raise ValueError(f"tree {tree_index}: model text and dump disagree on a threshold")
        nodes["threshold"].append(threshold)
        nodes["default_left"].append(bool(node["default_left"]))
        nodes["missing_type"].append(_MISSING_TYPES[node["missing_type"]])
        # The node's expected output: explains predictions (trees.contributions), never scores.
        nodes["value"].append(float(node["internal_value"]))
        nodes["left_child"].append(LEAF)
        nodes["right_child"].append(LEAF)
        stack.append((node["right_child"], index, "right_child"))
        stack.append((node["left_child"], index, "left_child"))


def ensemble_from_lightgbm(booster_or_model: Any) -> TreeEnsemble:
    """Export a fitted LightGBM `Booster` or scikit-learn-API model to a `TreeEnsemble`.

    Uses `dump_model()` and `model_to_string()` (for exact thresholds), which
    honour `best_iteration` like `Booster.predict`. Internal nodes keep their
    `internal_value` (`node_values=True`), for `trees.contributions`.
    Rejects multiclass, random-forest mode, linear trees and categorical splits.
    """
    booster = getattr(booster_or_model, "booster_", booster_or_model)
    dump: dict[str, Any] = booster.dump_model()
    _check_supported(dump)
    objective, sigmoid = _objective(str(dump["objective"]))
    nodes, offsets = _flat_nodes(dump, _split_thresholds(booster.model_to_string()))
    return TreeEnsemble(
        n_features=int(dump["max_feature_idx"]) + 1,
        objective=objective,
        tree_offsets=np.array(offsets, dtype=np.int32),
        split_feature=np.array(nodes["split_feature"], dtype=np.int32),
        threshold=np.array(nodes["threshold"], dtype=np.float64),
        left_child=np.array(nodes["left_child"], dtype=np.int32),
        right_child=np.array(nodes["right_child"], dtype=np.int32),
        default_left=np.array(nodes["default_left"], dtype=np.bool_),
        missing_type=np.array(nodes["missing_type"], dtype=np.int8),
        value=np.array(nodes["value"], dtype=np.float64),
        sigmoid=sigmoid,
        node_values=True,
    )


def _check_supported(dump: dict[str, Any]) -> None:
    """Raise ValueError for a multiclass or random-forest model dump."""
    if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("num_class", 1) != 1:
        raise ValueError("multiclass LightGBM models are not supported")
    if dump.get("average_output", False):
        raise ValueError("LightGBM random-forest mode (average_output) is not supported")


def _flat_nodes(
    dump: dict[str, Any], thresholds: dict[int, list[float]]
) -> tuple[dict[str, list[Any]], list[int]]:
    """Return every tree's nodes in one flat list per field, and where each tree starts."""
    nodes: dict[str, list[Any]] = {
        name: []
        for name in (
            "split_feature",
            "threshold",
            "left_child",
            "right_child",
            "default_left",
            "missing_type",
            "value",
        )
    }
    offsets = [0]
    for tree in dump["tree_info"]:
        index = int(tree["tree_index"])
        if tree.get("num_cat", 0) > 0:
            raise ValueError(f"tree {index}: categorical splits are not supported")
        _flatten_tree(tree["tree_structure"], thresholds.get(index, []), nodes, index)
        offsets.append(len(nodes["value"]))
    if len(offsets) < 2:
        raise ValueError("the LightGBM model has no trees")
    return nodes, offsets


def isolation_forest_from_sklearn(model: Any, impute_values: npt.ArrayLike) -> IsolationForestModel:
    """Export a fitted scikit-learn `IsolationForest` to an `IsolationForestModel`.

    `impute_values` (n_features,) replace NaN before scoring; the forest must
    have been fitted on data imputed with exactly these values.
    """
    n_features = int(model.n_features_in_)
    # scikit-learn indexes features at scoring only when an estimator saw a subset.
    uses_subsets = int(model._max_features) != n_features
    arrays: dict[str, list[npt.NDArray[Any]]] = {
        "split_feature": [],
        "threshold": [],
        "left_child": [],
        "right_child": [],
        "n_node_samples": [],
    }
    offsets = [0]
    for estimator, features in zip(model.estimators_, model.estimators_features_, strict=True):
        tree = estimator.tree_
        leaf = np.asarray(tree.children_left) == -1
        local_feature = np.where(leaf, 0, np.asarray(tree.feature))
        feature = np.asarray(features)[local_feature] if uses_subsets else local_feature
        base = offsets[-1]
        arrays["split_feature"].append(np.where(leaf, LEAF, feature))
        arrays["threshold"].append(np.where(leaf, 0.0, np.asarray(tree.threshold)))
        arrays["left_child"].append(np.where(leaf, LEAF, np.asarray(tree.children_left) + base))
        arrays["right_child"].append(np.where(leaf, LEAF, np.asarray(tree.children_right) + base))
        arrays["n_node_samples"].append(np.asarray(tree.n_node_samples))
        offsets.append(base + int(tree.node_count))
    return IsolationForestModel(
        n_features=n_features,
        max_samples=int(model._max_samples),
        offset=float(model.offset_),
        impute_values=np.asarray(impute_values, dtype=np.float64).copy(),
        tree_offsets=np.array(offsets, dtype=np.int32),
        split_feature=np.concatenate(arrays["split_feature"]).astype(np.int32),
        threshold=np.concatenate(arrays["threshold"]).astype(np.float64),
        left_child=np.concatenate(arrays["left_child"]).astype(np.int32),
        right_child=np.concatenate(arrays["right_child"]).astype(np.int32),
        n_node_samples=np.concatenate(arrays["n_node_samples"]).astype(np.int64),
    )
