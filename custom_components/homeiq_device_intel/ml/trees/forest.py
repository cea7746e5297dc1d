"""The traversal arrays of a forest, derived from its node layout; the array types all tree modules share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
LEAF: Final = -1


@dataclass(frozen=True, slots=True)
class Forest:
    """Traversal arrays derived from a validated node layout (leaves loop to themselves)."""

    roots: IndexArray  # (n_trees,)
    feature: IndexArray  # (n_nodes,) split feature, 0 at leaves
    children: IndexArray  # (2 * n_nodes,) [2 * node] right child, [2 * node + 1] left child
    is_leaf: npt.NDArray[np.bool_]  # (n_nodes,)
    depth: IndexArray  # (n_nodes,) root has depth 0
    max_depth: int


def build_forest(
    tree_offsets: npt.NDArray[np.int32],
    split_feature: npt.NDArray[np.int32],
    left_child: npt.NDArray[np.int32],
    right_child: npt.NDArray[np.int32],
) -> Forest:
    """Derive traversal arrays and node depths from a validated layout."""
    n_nodes = split_feature.shape[0]
    nodes = np.arange(n_nodes, dtype=np.intp)
    is_leaf = split_feature == LEAF
    left = np.where(is_leaf, nodes, left_child).astype(np.intp)
    right = np.where(is_leaf, nodes, right_child).astype(np.intp)
    depth = np.zeros(n_nodes, dtype=np.intp)
    frontier = tree_offsets[:-1].astype(np.intp)
    level = 0
    while frontier.size:
        depth[frontier] = level
        frontier = frontier[~is_leaf[frontier]]
        frontier = np.concatenate((left[frontier], right[frontier]))
        level += 1
    return Forest(
        roots=tree_offsets[:-1].astype(np.intp),
        feature=np.where(is_leaf, 0, split_feature).astype(np.intp),
        children=np.stack((right, left), axis=1).reshape(-1),
        is_leaf=is_leaf,
        depth=depth,
        max_depth=int(depth.max()),
    )
