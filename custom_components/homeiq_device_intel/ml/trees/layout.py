"""The portable tree format: a forest as flat node arrays, validated on construction.

`TreeEnsemble` is a gradient-boosted forest exported from LightGBM (binary,
quantile or L2 regression objective); `isolation.IsolationForestModel` reuses
this layout for scikit-learn's isolation forest.

All trees' nodes are concatenated into one set of 1-D arrays of length
`n_nodes`; tree `t` owns nodes `tree_offsets[t]` to `tree_offsets[t + 1] - 1`
and its root is `tree_offsets[t]`. Children are global node indices and always
greater than their parent's index. A leaf has `split_feature == -1` and
`left_child == right_child == -1`.

Construction also derives what prediction needs (see `predict`): traversal
arrays with node depths, each split's missing-value direction and, for
forests of small trees, the leaf-mask tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from .forest import LEAF, FloatArray, Forest, build_forest
from .masks import LeafMasks, leaf_masks

type Objective = Literal["binary", "quantile", "regression"]

OBJECTIVES: Final[frozenset[str]] = frozenset({"binary", "quantile", "regression"})


class MissingType(IntEnum):
    """How a LightGBM split treats missing values (LightGBM's own encoding)."""

    NONE = 0
    ZERO = 1
    NAN = 2


def check_node_arrays(
    n_features: int,
    tree_offsets: npt.NDArray[np.int32],
    split_feature: npt.NDArray[np.int32],
    threshold: FloatArray,
    left_child: npt.NDArray[np.int32],
    right_child: npt.NDArray[np.int32],
) -> None:
    """Raise ValueError unless the arrays describe a well-formed forest."""
    if n_features < 1:
        raise ValueError(f"n_features must be >= 1, got {n_features}")
    n_nodes = split_feature.shape[0] if split_feature.ndim == 1 else -1
    if n_nodes < 1:
        raise ValueError("split_feature must be a non-empty 1-D array")
    for name, array in (
        ("threshold", threshold),
        ("left_child", left_child),
        ("right_child", right_child),
    ):
        if array.shape != (n_nodes,):
            raise ValueError(f"{name} has shape {array.shape}, expected ({n_nodes},)")
    if tree_offsets.ndim != 1 or tree_offsets.shape[0] < 2:
        raise ValueError("tree_offsets must be 1-D with at least two entries")
    if tree_offsets[0] != 0 or tree_offsets[-1] != n_nodes:
        raise ValueError("tree_offsets must start at 0 and end at n_nodes")
    if np.any(np.diff(tree_offsets) < 1):
        raise ValueError("tree_offsets must be strictly increasing")
    if np.any(np.isnan(threshold)):
        raise ValueError("thresholds must not be NaN")
    leaf = split_feature == LEAF
    if np.any((split_feature < LEAF) | (split_feature >= n_features)):
        raise ValueError(f"split features must be -1 (leaf) or in [0, {n_features})")
    if np.any(left_child[leaf] != LEAF) or np.any(right_child[leaf] != LEAF):
        raise ValueError("leaves must have no children")
    internal = np.flatnonzero(~leaf)
    tree_of_node = np.repeat(np.arange(tree_offsets.shape[0] - 1), np.diff(tree_offsets))
    tree_end = tree_offsets[1:][tree_of_node[internal]]
    for name, children in (("left_child", left_child), ("right_child", right_child)):
        child = children[internal]
        if np.any(child <= internal) or np.any(child >= tree_end):
            raise ValueError(f"{name} must point forward to a node of the same tree")
    parents = np.bincount(np.concatenate((left_child[internal], right_child[internal])), minlength=n_nodes)
    expected = np.ones(n_nodes, dtype=np.intp)
    expected[tree_offsets[:-1]] = 0
    if not np.array_equal(parents, expected):
        raise ValueError("every node except a root must have exactly one parent")


def check_dtypes(model: object, **expected: type[np.generic]) -> None:
    """Raise ValueError unless each named attribute is an ndarray of the expected dtype."""
    for name, dtype in expected.items():
        array = getattr(model, name)
        if not isinstance(array, np.ndarray) or array.dtype != np.dtype(dtype):
            raise ValueError(f"{name} must be a numpy array of dtype {np.dtype(dtype).name}")


@dataclass(frozen=True, eq=False, kw_only=True)
class TreeEnsemble:
    """A LightGBM forest as flat node arrays; validated on construction.

    Arrays have shape (n_nodes,) except `tree_offsets` (n_trees + 1,).
    `value` holds leaf outputs and, when `node_values` is true, each internal
    node's expected output (LightGBM's `internal_value`, used only to explain
    a prediction, see `contributions`); when it is false (bundles exported
    before node values were kept) internal nodes hold 0.0. `missing_type` uses
    `MissingType`; `default_left` is where missing values go. The raw score of
    a row is `base_score` plus the leaf values of every tree, summed in tree
    order in float64. For "binary", probability = 1 / (1 + exp(-sigmoid * raw)).
    """

    n_features: int
    objective: Objective
    tree_offsets: npt.NDArray[np.int32]
    split_feature: npt.NDArray[np.int32]
    threshold: FloatArray
    left_child: npt.NDArray[np.int32]
    right_child: npt.NDArray[np.int32]
    default_left: npt.NDArray[np.bool_]
    missing_type: npt.NDArray[np.int8]
    value: FloatArray
    base_score: float = 0.0
    sigmoid: float = 1.0
    node_values: bool = False
    _forest: Forest = field(init=False, repr=False)
    _nan_left: npt.NDArray[np.bool_] = field(init=False, repr=False)
    _zero_left: npt.NDArray[np.bool_] = field(init=False, repr=False)
    _masks: LeafMasks | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Validate the arrays and precompute traversal tables."""
        self._check()
        forest = build_forest(self.tree_offsets, self.split_feature, self.left_child, self.right_child)
        object.__setattr__(self, "_forest", forest)
        # LightGBM: NaN becomes 0.0 unless the split handles NaN; Zero/NaN missing
        # values follow default_left. Inputs with |x| <= 1e-35 are already 0.0.
        zero_goes_left = self.threshold >= 0.0
        object.__setattr__(
            self,
            "_nan_left",
            np.where(self.missing_type == MissingType.NONE, zero_goes_left, self.default_left),
        )
        object.__setattr__(
            self,
            "_zero_left",
            np.where(self.missing_type == MissingType.ZERO, self.default_left, zero_goes_left),
        )
        masks = leaf_masks(
            forest,
            tree_offsets=self.tree_offsets,
            threshold=self.threshold,
            value=self.value,
            n_features=self.n_features,
            nan_left=self._nan_left,
            zero_missing=self.missing_type == MissingType.ZERO,
        )
        object.__setattr__(self, "_masks", masks)

    def _check(self) -> None:
        """Raise ValueError unless the scalars and arrays describe a valid ensemble."""
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}")
        if not (np.isfinite(self.base_score) and np.isfinite(self.sigmoid) and self.sigmoid > 0):
            raise ValueError("base_score must be finite and sigmoid finite and positive")
        check_dtypes(
            self,
            tree_offsets=np.int32,
            split_feature=np.int32,
            threshold=np.float64,
            left_child=np.int32,
            right_child=np.int32,
            default_left=np.bool_,
            missing_type=np.int8,
            value=np.float64,
        )
        check_node_arrays(
            self.n_features,
            self.tree_offsets,
            self.split_feature,
            self.threshold,
            self.left_child,
            self.right_child,
        )
        n_nodes = self.split_feature.shape[0]
        for name in ("default_left", "missing_type", "value"):
            if getattr(self, name).shape != (n_nodes,):
                raise ValueError(f"{name} must have shape ({n_nodes},)")
        if not np.all(np.isin(self.missing_type, [int(kind) for kind in MissingType])):
            raise ValueError("missing_type must be 0 (none), 1 (zero) or 2 (nan)")
        if not np.all(np.isfinite(self.value)):
            raise ValueError("node values must be finite")
        if not isinstance(self.node_values, bool):
            raise ValueError("node_values must be a bool")
        if not self.node_values and np.any(self.value[self.split_feature != LEAF] != 0.0):
            raise ValueError("internal nodes hold values but node_values is false")

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return int(self.tree_offsets.shape[0] - 1)
