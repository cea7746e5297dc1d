"""Leaf-mask tables of a forest of small trees (the QuickScorer idea), built once per forest.

Every split of every tree is compared for every row at once; each comparison
rules leaves out with a bit mask. `predict` scores rows with these tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from .forest import FloatArray, Forest, IndexArray

# Trees with at most this many leaves are scored with leaf masks (one bit per leaf).
_MASK_MAX_LEAVES: Final = 32
_MASK_DTYPES: Final = ((8, np.uint8), (16, np.uint16), (32, np.uint32))


@dataclass(frozen=True, slots=True)
class LeafMasks:
    """Split tables of a forest of small trees, scored without traversal.

    Each tree's leaves get one bit, numbered right to left in the tree's
    in-order, and each tree has `n_slots` split slots (unused ones rule out
    nothing). A split whose row goes left rules out every leaf of its right
    subtree; the leaf a row reaches is then the lowest bit still standing.

    Splits compare ranks, not values: a value's rank on a feature is the number
    of that feature's split thresholds below it, so `x <= threshold` exactly
    when `rank(x) <= rank(threshold)`, and ranks fit in one or two bytes.
    Arrays are (n_slots, n_trees) unless stated.
    """

    features: tuple[int, ...]  # features some split reads
    cuts: tuple[FloatArray, ...]  # per used feature, its sorted distinct thresholds
    column: IndexArray  # row of the rank inputs (see _rank_inputs) the split reads
    rank_limit: npt.NDArray[np.unsignedinteger]  # the split goes left when rank <= rank_limit
    right_leaves: npt.NDArray[np.unsignedinteger]  # bits of the right subtree's leaves
    leaf_value: FloatArray  # (n_trees * width,) value of leaf bit b of tree t at t * width + b
    width: int  # bits per tree
    zero_missing: bool  # some split treats zero as missing (needs inputs 2 and 3)
    # Width 8 only: (n_trees * 256,) the leaf value each ruled-out pattern p of tree t leads to,
    # at t * 256 + p (one lookup instead of counting bits).
    exit_value: FloatArray | None


def leaf_masks(
    forest: Forest,
    *,
    tree_offsets: npt.NDArray[np.int32],
    threshold: FloatArray,
    value: FloatArray,
    n_features: int,
    nan_left: npt.NDArray[np.bool_],
    zero_missing: npt.NDArray[np.bool_],
) -> LeafMasks | None:
    """Leaf-mask tables of a validated forest, or None when a tree has more than 32 leaves.

    The arrays are the ensemble's, (n_nodes,) except `tree_offsets`;
    `nan_left` is where each split sends NaN and `zero_missing` marks the
    splits that treat zero as missing.
    """
    n_leaves = _leaves_below(forest)
    tree_leaves = n_leaves[forest.roots]
    if int(tree_leaves.max()) > _MASK_MAX_LEAVES:
        return None
    first_leaf = _first_leaf(forest, n_leaves)
    n_trees = forest.roots.shape[0]
    tree = np.repeat(np.arange(n_trees), np.diff(tree_offsets))
    width, dtype = next((w, d) for w, d in _MASK_DTYPES if w >= int(tree_leaves.max()))
    splits = np.flatnonzero(~forest.is_leaf)
    split_tree = tree[splits]
    bits = _right_subtree_bits(forest, splits, n_leaves, first_leaf, tree_leaves[split_tree])
    feature = forest.feature[splits]
    features, cuts, rank = _split_ranks(feature, threshold[splits])
    # Inputs: 0 = ranks (NaN goes right), 1 = NaN goes left, 2 and 3 the same with zero
    # missing too; LightGBM's rules per split pick one (see TreeEnsemble.__post_init__).
    variant = 2 * zero_missing[splits] + nan_left[splits]
    column, rank_limit, right_leaves = _slot_tables(
        split_tree,
        n_trees,
        ((variant * n_features + feature, np.intp), (rank, _rank_dtype(cuts)), (bits.astype(dtype), dtype)),
    )
    leaf_value = _leaf_values(forest, tree, tree_leaves[tree] - 1 - first_leaf, value, n_trees, width)
    return LeafMasks(
        features=features,
        cuts=cuts,
        column=column,
        rank_limit=rank_limit,
        right_leaves=right_leaves,
        leaf_value=leaf_value,
        width=width,
        zero_missing=bool(zero_missing[splits].any()),
        exit_value=_exit_values(leaf_value, n_trees) if width == 8 else None,
    )


def _leaves_below(forest: Forest) -> npt.NDArray[np.int64]:
    """Number of leaves under each node (1 at a leaf), (n_nodes,), counted bottom-up."""
    left = forest.children[1::2]
    right = forest.children[0::2]
    internal = ~forest.is_leaf
    n_leaves = forest.is_leaf.astype(np.int64)
    for level in range(forest.max_depth - 1, -1, -1):
        nodes = np.flatnonzero(internal & (forest.depth == level))
        n_leaves[nodes] = n_leaves[left[nodes]] + n_leaves[right[nodes]]
    return n_leaves


def _first_leaf(forest: Forest, n_leaves: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """In-order position within its tree of each node's first leaf, (n_nodes,), top-down."""
    left = forest.children[1::2]
    right = forest.children[0::2]
    internal = ~forest.is_leaf
    first_leaf = np.zeros_like(n_leaves)
    for level in range(forest.max_depth):
        nodes = np.flatnonzero(internal & (forest.depth == level))
        first_leaf[left[nodes]] = first_leaf[nodes]
        first_leaf[right[nodes]] = first_leaf[nodes] + n_leaves[left[nodes]]
    return first_leaf


def _right_subtree_bits(
    forest: Forest,
    splits: IndexArray,
    n_leaves: npt.NDArray[np.int64],
    first_leaf: npt.NDArray[np.int64],
    split_tree_leaves: npt.NDArray[np.int64],
) -> npt.NDArray[np.uint64]:
    """Per split, the leaf bits of its right subtree: the lowest bits of the node's range."""
    lowest = split_tree_leaves - first_leaf[splits] - n_leaves[splits]
    right_count = n_leaves[forest.children[0::2][splits]]
    bits: npt.NDArray[np.uint64] = (
        (np.uint64(1) << right_count.astype(np.uint64)) - np.uint64(1)
    ) << lowest.astype(np.uint64)
    return bits


def _slot_tables(
    split_tree: npt.NDArray[np.int64],
    n_trees: int,
    columns: tuple[tuple[npt.NDArray[Any], type[np.generic]], ...],
) -> list[npt.NDArray[Any]]:
    """Per-split values as (n_slots, n_trees) tables, one per (values, dtype) column.

    Slot s of tree t holds the tree's s-th split in node order; slots beyond a
    tree's splits hold 0.
    """
    per_tree = np.bincount(split_tree, minlength=n_trees)
    slot = np.arange(split_tree.shape[0]) - (np.cumsum(per_tree) - per_tree)[split_tree]
    n_slots = max(int(per_tree.max()), 1)
    tables = []
    for values, kind in columns:
        table = np.zeros((n_slots, n_trees), dtype=kind)
        table[slot, split_tree] = values
        tables.append(table)
    return tables


def _split_ranks(
    feature: IndexArray, threshold: FloatArray
) -> tuple[tuple[int, ...], tuple[FloatArray, ...], npt.NDArray[np.int64]]:
    """Features the splits read, each one's sorted distinct thresholds, and each split's rank."""
    features = tuple(int(f) for f in np.unique(feature))
    cuts = tuple(np.unique(threshold[feature == f]) for f in features)
    rank = np.zeros(feature.shape[0], dtype=np.int64)
    for f, values in zip(features, cuts, strict=True):
        on_f = feature == f
        rank[on_f] = np.searchsorted(values, threshold[on_f])
    return features, cuts, rank


def _rank_dtype(cuts: tuple[FloatArray, ...]) -> type[np.unsignedinteger]:
    """The smallest unsigned type for the ranks of these thresholds."""
    # One more rank than thresholds (NaN's) and a larger one (missing that goes right).
    most = max((c.shape[0] for c in cuts), default=0)
    return next(d for d in (np.uint8, np.uint16, np.uint32) if most < np.iinfo(d).max)


def _leaf_values(
    forest: Forest,
    tree: npt.NDArray[np.int64],
    bit: npt.NDArray[np.int64],
    value: FloatArray,
    n_trees: int,
    width: int,
) -> FloatArray:
    """(n_trees * width,) the value of leaf bit b of tree t at t * width + b (0 for unused bits)."""
    leaf_value = np.zeros(n_trees * width, dtype=np.float64)
    leaves = np.flatnonzero(forest.is_leaf)
    leaf_value[tree[leaves] * width + bit[leaves]] = value[leaves]
    return leaf_value


def _exit_values(leaf_value: FloatArray, n_trees: int) -> FloatArray:
    """(n_trees * 256,) for 8-bit masks, the leaf value each ruled-out pattern leads to."""
    width = 8
    patterns = np.arange(256, dtype=np.uint8)
    exit_bit = count_ones(patterns & ~(patterns + np.uint8(1)))  # lowest bit standing
    exit_value: FloatArray = leaf_value.reshape(n_trees, width)[:, np.minimum(exit_bit, width - 1)].reshape(
        -1
    )
    return exit_value


def count_ones(x: npt.NDArray[np.unsignedinteger]) -> IndexArray:
    """Set bits per element of an unsigned array of at most 32 bits."""
    kind = x.dtype.type
    full = int(np.iinfo(x.dtype).max)

    def const(value: int) -> np.unsignedinteger:
        return kind(value & full)

    x = x - ((x >> const(1)) & const(0x55555555))
    x = (x & const(0x33333333)) + ((x >> const(2)) & const(0x33333333))
    x = (x + (x >> const(4))) & const(0x0F0F0F0F)
    for shift in (8, 16):
        if shift < x.dtype.itemsize * 8:
            x = x + (x >> const(shift))
    return (x & const(0x3F)).astype(np.intp)
