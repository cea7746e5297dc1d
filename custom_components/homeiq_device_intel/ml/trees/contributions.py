"""What each feature added to a forest's raw score, along the paths the rows take (Saabas).

Every node of a tree has an expected output (the leaf value at a leaf; at a
split, LightGBM's `internal_value`, stored when `TreeEnsemble.node_values` is
true). A row's walk from the root to its leaf changes that expectation at each
split, and the change is credited to the split's feature. The changes of one
tree add up to its leaf value minus its root value, so over the forest

    bias + contributions.sum(axis=1) == predict_raw(ensemble, X)

up to float rounding, with `bias` = `base_score` plus every root's value.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .forest import FloatArray
from .layout import TreeEnsemble
from .predict import check_rows, read_as_lightgbm, row_blocks, step_down


def path_contributions(ensemble: TreeEnsemble, X: npt.ArrayLike) -> tuple[FloatArray, float]:
    """Per-feature contributions to the raw score along each row's tree paths.

    Rows descend all trees at once, one level per step, with the predictor's
    rules for missing values and zeros (`predict.step_down`); each step credits
    ``value[child] - value[node]`` to the split's feature.

    Parameters
    ----------
    ensemble : TreeEnsemble
        The forest; any objective. Its `node_values` must be true (internal
        nodes hold their expected outputs).
    X : array-like of shape (n_rows, n_features)
        The input rows, read as `predict_raw` reads them.

    Returns
    -------
    contributions : ndarray of shape (n_rows, n_features), dtype=float64
        What each feature's splits added to the row's raw score; positive
        entries push the score up. Features no split reads get 0.
    bias : float
        ``base_score`` plus the root value of every tree: the raw score before
        any split. ``bias + contributions.sum(axis=1)`` equals
        ``predict_raw(ensemble, X)`` up to float rounding.

    Raises
    ------
    ValueError
        If the ensemble has no node values or X has the wrong shape.

    """
    if not ensemble.node_values:
        raise ValueError("the ensemble has no node values (exported before they were kept)")
    rows = read_as_lightgbm(check_rows(X, ensemble.n_features))
    contributions = np.zeros(rows.shape, dtype=np.float64)
    for block in row_blocks(rows.shape[0], ensemble.n_trees):
        contributions[block] = _block_contributions(ensemble, rows[block])
    bias = float(ensemble.base_score + ensemble.value[ensemble._forest.roots].sum())
    return contributions, bias


def _block_contributions(ensemble: TreeEnsemble, rows: FloatArray) -> FloatArray:
    """Return the contributions (n_rows, n_features) of a block of rows, all trees at once."""
    forest = ensemble._forest
    width, n_features = rows.shape
    n_trees = ensemble.n_trees
    flat_x = rows.reshape(-1)
    node = np.tile(forest.roots, width)
    cell_base = np.repeat(np.arange(width, dtype=np.intp) * n_features, n_trees)
    found = np.zeros(width * n_features, dtype=np.float64)
    for _ in range(forest.max_depth):
        walking = ~forest.is_leaf[node]
        node, cell_base = node[walking], cell_base[walking]
        if node.size == 0:
            break
        cell = cell_base + forest.feature[node]
        child = step_down(
            forest, node, flat_x[cell], ensemble.threshold, ensemble._nan_left, ensemble._zero_left
        )
        found += np.bincount(cell, weights=ensemble.value[child] - ensemble.value[node], minlength=found.size)
        node = child
    return found.reshape(width, n_features)
