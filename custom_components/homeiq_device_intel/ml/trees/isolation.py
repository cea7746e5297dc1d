"""An isolation forest exported from scikit-learn, scored with numpy only.

`IsolationForestModel` uses the node layout of `layout` and reproduces
`IsolationForest.score_samples` exactly on imputed inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .forest import FloatArray, Forest, build_forest
from .layout import check_dtypes, check_node_arrays
from .predict import check_rows, find_leaves, row_blocks


def average_path_length(n_samples: npt.ArrayLike) -> FloatArray:
    """Mean unsuccessful-search path length in a binary search tree, as scikit-learn computes it.

    Parameters
    ----------
    n_samples : array-like of any shape
        Sample counts (of a node, or the estimator's ``max_samples``).

    Returns
    -------
    length : ndarray of the same shape, dtype=float64
        0 for n <= 1, 1 for n == 2, else ``2 (ln(n - 1) + euler_gamma) - 2 (n - 1) / n``.

    """
    n = np.asarray(n_samples, dtype=np.float64)
    result = np.zeros(n.shape, dtype=np.float64)
    result[n == 2] = 1.0
    more = n > 2
    result[more] = 2.0 * (np.log(n[more] - 1.0) + np.euler_gamma) - 2.0 * (n[more] - 1.0) / n[more]
    return result


@dataclass(frozen=True, eq=False, kw_only=True)
class IsolationForestModel:
    """A scikit-learn isolation forest as flat node arrays; validated on construction.

    Node arrays have shape (n_nodes,); `split_feature` indexes the full feature
    vector (each estimator's feature subset is already applied). `n_node_samples`
    are training samples per node; `max_samples` is the estimator's
    `_max_samples`; `offset` is its `offset_`. NaN inputs are replaced by
    `impute_values` (n_features,) before scoring, so the model must have been
    fitted on data imputed with those same values.
    """

    n_features: int
    max_samples: int
    offset: float
    impute_values: FloatArray
    tree_offsets: npt.NDArray[np.int32]
    split_feature: npt.NDArray[np.int32]
    threshold: FloatArray
    left_child: npt.NDArray[np.int32]
    right_child: npt.NDArray[np.int32]
    n_node_samples: npt.NDArray[np.int64]
    _forest: Forest = field(init=False, repr=False)
    _path_length: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Validate the arrays and precompute each leaf's path length."""
        if self.max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {self.max_samples}")
        if not np.isfinite(self.offset):
            raise ValueError("offset must be finite")
        check_dtypes(
            self,
            impute_values=np.float64,
            tree_offsets=np.int32,
            split_feature=np.int32,
            threshold=np.float64,
            left_child=np.int32,
            right_child=np.int32,
            n_node_samples=np.int64,
        )
        check_node_arrays(
            self.n_features,
            self.tree_offsets,
            self.split_feature,
            self.threshold,
            self.left_child,
            self.right_child,
        )
        if self.impute_values.shape != (self.n_features,):
            raise ValueError(f"impute_values must have shape ({self.n_features},)")
        if not np.all(np.isfinite(self.impute_values)):
            raise ValueError("impute_values must be finite")
        if self.n_node_samples.shape != self.split_feature.shape or np.any(self.n_node_samples < 1):
            raise ValueError("n_node_samples must be positive, one per node")
        forest = build_forest(self.tree_offsets, self.split_feature, self.left_child, self.right_child)
        object.__setattr__(self, "_forest", forest)
        # scikit-learn: depth (root = 1) + average_path_length(n_node_samples) - 1.0.
        sklearn_depth = (forest.depth + 1).astype(np.float64)
        path_length = sklearn_depth + average_path_length(self.n_node_samples) - 1.0
        object.__setattr__(self, "_path_length", path_length)

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return int(self.tree_offsets.shape[0] - 1)


def score_samples(model: IsolationForestModel, X: npt.ArrayLike) -> FloatArray:
    """Anomaly scores, as scikit-learn's ``IsolationForest.score_samples``; lower is odder.

    Like scikit-learn, values are cast to float32 and then compared with the
    float64 thresholds.

    Parameters
    ----------
    model : IsolationForestModel
        The forest.
    X : array-like of shape (n_rows, n_features)
        The input rows, converted to float64; NaN is replaced by
        ``model.impute_values``.

    Returns
    -------
    scores : ndarray of shape (n_rows,), dtype=float64
        ``-2 ** (-mean path length / average_path_length(max_samples))``, in [-1, 0).

    Raises
    ------
    ValueError
        If X is not two-dimensional with ``model.n_features`` columns.

    """
    rows = check_rows(X, model.n_features)
    rows = np.where(np.isnan(rows), model.impute_values, rows)
    with np.errstate(over="ignore"):
        rows = rows.astype(np.float32).astype(np.float64)
    depths = np.zeros(rows.shape[0], dtype=np.float64)
    for block in row_blocks(rows.shape[0], model.n_trees):
        leaves = find_leaves(model._forest, rows[block], model.threshold, None, None)
        path_lengths = model._path_length[leaves]
        total = depths[block]
        for tree in range(model.n_trees):
            total += path_lengths[:, tree]
    denominator = model.n_trees * average_path_length(np.array([model.max_samples]))
    normalised = np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0)
    scores: FloatArray = -(2.0 ** (-normalised))
    return scores
