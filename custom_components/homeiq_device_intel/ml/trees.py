"""Portable tree models as flat numpy arrays, and their vectorised predictors.

Two model kinds, both evaluated with numpy only (no scikit-learn/LightGBM at runtime):

- `TreeEnsemble`: a gradient-boosted forest exported from LightGBM (binary,
  quantile or L2 regression objective), reproducing `Booster.predict` exactly:
  same missing-value rules, same float64 summation order.
- `IsolationForestModel`: an isolation forest exported from scikit-learn,
  reproducing `IsolationForest.score_samples` exactly on imputed inputs.

Layout shared by both: all trees' nodes are concatenated into one set of 1-D
arrays of length `n_nodes`; tree `t` owns nodes `tree_offsets[t]` to
`tree_offsets[t + 1] - 1` and its root is `tree_offsets[t]`. Children are global
node indices and always greater than their parent's index. A leaf has
`split_feature == -1` and `left_child == right_child == -1`.

Forests of small trees (at most 32 leaves each, as LightGBM's defaults and
ours) are evaluated without walking the trees: every split is compared for
every row at once and each comparison rules leaves out with a bit mask (the
QuickScorer idea); larger trees are walked level by level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]

type Objective = Literal["binary", "quantile", "regression"]

OBJECTIVES: Final[frozenset[str]] = frozenset({"binary", "quantile", "regression"})
LEAF: Final = -1

# LightGBM's kZeroThreshold is the float literal 1e-35f widened to double.
LIGHTGBM_ZERO_THRESHOLD: Final = float(np.float32(1e-35))

# Rows x trees evaluated at once; bounds the temporaries to a few MB.
_BLOCK_PAIRS: Final = 1 << 16
_CHUNK_ROWS: Final = 8192  # rows ranked at a time (each numpy call then takes about a millisecond)
# Trees with at most this many leaves are scored with leaf masks (one bit per leaf).
_MASK_MAX_LEAVES: Final = 32
_MASK_DTYPES: Final = ((8, np.uint8), (16, np.uint16), (32, np.uint32))


class MissingType(IntEnum):
    """How a LightGBM split treats missing values (LightGBM's own encoding)."""

    NONE = 0
    ZERO = 1
    NAN = 2


@dataclass(frozen=True, slots=True)
class _Forest:
    """Traversal arrays derived from a validated node layout (leaves loop to themselves)."""

    roots: IndexArray  # (n_trees,)
    feature: IndexArray  # (n_nodes,) split feature, 0 at leaves
    children: IndexArray  # (2 * n_nodes,) [2 * node] right child, [2 * node + 1] left child
    is_leaf: npt.NDArray[np.bool_]  # (n_nodes,)
    depth: IndexArray  # (n_nodes,) root has depth 0
    max_depth: int


def _check_node_arrays(
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


def _build_forest(
    tree_offsets: npt.NDArray[np.int32],
    split_feature: npt.NDArray[np.int32],
    left_child: npt.NDArray[np.int32],
    right_child: npt.NDArray[np.int32],
) -> _Forest:
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
    return _Forest(
        roots=tree_offsets[:-1].astype(np.intp),
        feature=np.where(is_leaf, 0, split_feature).astype(np.intp),
        children=np.stack((right, left), axis=1).reshape(-1),
        is_leaf=is_leaf,
        depth=depth,
        max_depth=int(depth.max()),
    )


@dataclass(frozen=True, slots=True)
class _LeafMasks:
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


def _leaf_masks(ensemble: TreeEnsemble) -> _LeafMasks | None:
    """Leaf-mask tables of an ensemble, or None when a tree has more than 32 leaves."""
    forest = ensemble._forest
    left = forest.children[1::2]
    right = forest.children[0::2]
    internal = ~forest.is_leaf
    # Leaves under each node (bottom-up), then each node's first leaf in in-order (top-down).
    n_leaves = forest.is_leaf.astype(np.int64)
    for level in range(forest.max_depth - 1, -1, -1):
        nodes = np.flatnonzero(internal & (forest.depth == level))
        n_leaves[nodes] = n_leaves[left[nodes]] + n_leaves[right[nodes]]
    tree_leaves = n_leaves[forest.roots]
    if int(tree_leaves.max()) > _MASK_MAX_LEAVES:
        return None
    first_leaf = np.zeros_like(n_leaves)
    for level in range(forest.max_depth):
        nodes = np.flatnonzero(internal & (forest.depth == level))
        first_leaf[left[nodes]] = first_leaf[nodes]
        first_leaf[right[nodes]] = first_leaf[nodes] + n_leaves[left[nodes]]
    n_trees = forest.roots.shape[0]
    tree = np.repeat(np.arange(n_trees), np.diff(ensemble.tree_offsets))
    # Bit of a leaf: its in-order position counted from the right.
    bit = tree_leaves[tree] - 1 - first_leaf
    width, dtype = next((w, d) for w, d in _MASK_DTYPES if w >= int(tree_leaves.max()))

    splits = np.flatnonzero(internal)
    per_tree = np.bincount(tree[splits], minlength=n_trees)
    slot = np.arange(splits.shape[0]) - (np.cumsum(per_tree) - per_tree)[tree[splits]]
    n_slots = max(int(per_tree.max()), 1)
    # The right subtree's leaves hold the lowest bits of the node's range.
    lowest = tree_leaves[tree[splits]] - first_leaf[splits] - n_leaves[splits]
    right_count = n_leaves[right[splits]]
    bits = ((np.uint64(1) << right_count.astype(np.uint64)) - np.uint64(1)) << lowest.astype(np.uint64)

    feature = forest.feature[splits]
    features = tuple(int(f) for f in np.unique(feature))
    cuts = tuple(np.unique(ensemble.threshold[splits][feature == f]) for f in features)
    rank = np.zeros(splits.shape[0], dtype=np.int64)
    for f, values in zip(features, cuts, strict=True):
        on_f = feature == f
        rank[on_f] = np.searchsorted(values, ensemble.threshold[splits][on_f])
    # One more rank than thresholds (NaN's) and a larger one (missing that goes right).
    most = max((c.shape[0] for c in cuts), default=0)
    rank_dtype = next(d for d in (np.uint8, np.uint16, np.uint32) if most < np.iinfo(d).max)
    # Inputs: 0 = ranks (NaN goes right), 1 = NaN goes left, 2 and 3 the same with zero
    # missing too; LightGBM's rules per split pick one (see TreeEnsemble.__post_init__).
    zero_missing = ensemble.missing_type[splits] == MissingType.ZERO
    variant = 2 * zero_missing + ensemble._nan_left[splits]
    column = np.zeros((n_slots, n_trees), dtype=np.intp)
    rank_limit = np.zeros((n_slots, n_trees), dtype=rank_dtype)
    right_leaves = np.zeros((n_slots, n_trees), dtype=dtype)
    column[slot, tree[splits]] = variant * ensemble.n_features + feature
    rank_limit[slot, tree[splits]] = rank
    right_leaves[slot, tree[splits]] = bits.astype(dtype)
    leaf_value = np.zeros(n_trees * width, dtype=np.float64)
    leaves = np.flatnonzero(forest.is_leaf)
    leaf_value[tree[leaves] * width + bit[leaves]] = ensemble.value[leaves]
    exit_value = None
    if width == 8:
        patterns = np.arange(256, dtype=np.uint8)
        exit_bit = _count_ones(patterns & ~(patterns + np.uint8(1)))  # lowest bit standing
        exit_value = leaf_value.reshape(n_trees, width)[:, np.minimum(exit_bit, width - 1)].reshape(-1)
    return _LeafMasks(
        features=features,
        cuts=cuts,
        column=column,
        rank_limit=rank_limit,
        right_leaves=right_leaves,
        leaf_value=leaf_value,
        width=width,
        zero_missing=bool(zero_missing.any()),
        exit_value=exit_value,
    )


def _rank_inputs(masks: _LeafMasks, rows: FloatArray) -> npt.NDArray[np.unsignedinteger]:
    """Ranks of X (n_rows, n_features), as (n_variants * n_features, n_rows), one block per missing rule.

    Variant 0 ranks NaN above every threshold (it goes right), variant 1 below
    (left); variants 2 and 3 do the same for NaN and zero.
    """
    columns = np.ascontiguousarray(rows.T)
    dtype = masks.rank_limit.dtype
    ranks = np.zeros(columns.shape, dtype=dtype)
    for feature, cuts in zip(masks.features, masks.cuts, strict=True):
        ranks[feature] = np.searchsorted(cuts, columns[feature])  # NaN: len(cuts)
    missing = np.isnan(columns)
    variants = [ranks, np.where(missing, dtype.type(0), ranks)]
    if masks.zero_missing:
        missing |= columns == 0.0
        top = dtype.type(np.iinfo(dtype).max)
        variants += [np.where(missing, top, ranks), np.where(missing, dtype.type(0), ranks)]
    return np.concatenate(variants)


def _count_ones(x: npt.NDArray[np.unsignedinteger]) -> IndexArray:
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


class _Scratch:
    """Arrays one prediction reuses block after block: no allocations in the loop.

    Allocating in a large, fragmented heap (Home Assistant's) costs more than
    the arithmetic on these small blocks.
    """

    def __init__(self, max_columns: int) -> None:
        """Arrays of up to `max_columns` columns (rows of a block), created on first use."""
        self._max_columns = max_columns
        self._arrays: dict[str, npt.NDArray[Any]] = {}

    def view(self, name: str, dtype: type[np.generic], shape: tuple[int, int]) -> npt.NDArray[Any]:
        """The named array as a C-contiguous (shape) array; shape[1] <= max_columns."""
        array = self._arrays.get(name)
        if array is None:
            array = self._arrays[name] = np.empty(shape[0] * self._max_columns, dtype=dtype)
        return array[: shape[0] * shape[1]].reshape(shape)


def _mask_leaf_values(
    masks: _LeafMasks, ranks: npt.NDArray[np.unsignedinteger], scratch: _Scratch
) -> FloatArray:
    """Leaf value reached by every (tree, row) pair: (n_trees, n_rows) float64, in `scratch`.

    `ranks` is a column block of `_rank_inputs`, C-contiguous (np.take copies others).
    """
    n_slots, n_trees = masks.column.shape
    shape = (n_trees, ranks.shape[1])
    kind = masks.right_leaves.dtype.type
    rank = scratch.view("rank", masks.rank_limit.dtype.type, shape)
    goes_left = scratch.view("goes_left", np.bool_, shape)
    kill = scratch.view("kill", kind, shape)
    ruled_out = scratch.view("ruled_out", kind, shape)
    ruled_out.fill(0)
    for slot in range(n_slots):
        np.take(ranks, masks.column[slot], axis=0, out=rank, mode="wrap")  # wrap: no bounds copy
        np.less_equal(rank, masks.rank_limit[slot][:, None], out=goes_left)
        np.multiply(goes_left.view(np.uint8), masks.right_leaves[slot][:, None], out=kill)
        np.bitwise_or(ruled_out, kill, out=ruled_out)
    values: FloatArray = scratch.view("values", np.float64, shape)
    if masks.exit_value is not None:
        pattern = scratch.view("pattern", np.intp, shape)
        np.add(ruled_out, (np.arange(n_trees, dtype=np.intp) * 256)[:, None], out=pattern)
        np.take(masks.exit_value, pattern, out=values, mode="wrap")
        return values
    # The lowest standing bit is the number of trailing ones of ruled_out.
    exit_bit = _count_ones(ruled_out & ~(ruled_out + kind(1)))
    exit_bit += (np.arange(n_trees, dtype=np.intp) * masks.width)[:, None]
    np.take(masks.leaf_value, exit_bit, out=values, mode="wrap")
    return values


def _check_rows(X: npt.ArrayLike, n_features: int) -> FloatArray:
    """Return X as a C-contiguous (n_rows, n_features) float64 array, or raise ValueError."""
    rows = np.ascontiguousarray(X, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != n_features:
        raise ValueError(f"X must have shape (n_rows, {n_features}), got {rows.shape}")
    return rows


def _find_leaves(
    forest: _Forest,
    X: FloatArray,
    threshold: FloatArray,
    nan_left: npt.NDArray[np.bool_] | None,
    zero_left: npt.NDArray[np.bool_] | None,
) -> IndexArray:
    """Leaf reached by every (row, tree) pair: (n_rows, n_trees) intp.

    X is (n_rows, n_features) float64, C-contiguous. All pairs descend one level
    per step; once half of them sit at a leaf they are dropped, so deep,
    unbalanced trees stay cheap. Without `nan_left`/`zero_left` a split is plain
    `x <= threshold`; with them, NaN goes to `nan_left[node]` and exact zero to
    `zero_left[node]`.
    """
    n_rows, n_features = X.shape
    n_trees = forest.roots.shape[0]
    flat_x = X.reshape(-1)
    node = np.tile(forest.roots, n_rows)
    pair: IndexArray = np.arange(n_rows * n_trees, dtype=np.intp)
    row_base = np.repeat(np.arange(n_rows, dtype=np.intp) * n_features, n_trees)
    leaves = np.empty(n_rows * n_trees, dtype=np.intp)
    for _ in range(forest.max_depth):
        done = forest.is_leaf[node]
        n_done = np.count_nonzero(done)
        if n_done == node.size:
            break
        if 2 * n_done > node.size:
            leaves[pair[done]] = node[done]
            keep = ~done
            node, pair, row_base = node[keep], pair[keep], row_base[keep]
        x = flat_x[row_base + forest.feature[node]]
        go_left = x <= threshold[node]
        if nan_left is not None and zero_left is not None:
            is_nan = np.isnan(x)
            if is_nan.any():
                go_left[is_nan] = nan_left[node[is_nan]]
            is_zero = x == 0.0
            if is_zero.any():
                go_left[is_zero] = zero_left[node[is_zero]]
        node = forest.children[2 * node + go_left]
    leaves[pair] = node
    return leaves.reshape(n_rows, n_trees)


def _row_blocks(n_rows: int, n_trees: int) -> list[slice]:
    """Row slices holding about `_BLOCK_PAIRS` (row, tree) pairs each."""
    step = max(1, _BLOCK_PAIRS // max(1, n_trees))
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


@dataclass(frozen=True, eq=False, kw_only=True)
class TreeEnsemble:
    """A LightGBM forest as flat node arrays; validated on construction.

    Arrays have shape (n_nodes,) except `tree_offsets` (n_trees + 1,).
    `value` holds leaf outputs (0 at internal nodes); `missing_type` uses
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
    _forest: _Forest = field(init=False, repr=False)
    _nan_left: npt.NDArray[np.bool_] = field(init=False, repr=False)
    _zero_left: npt.NDArray[np.bool_] = field(init=False, repr=False)
    _masks: _LeafMasks | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Validate the arrays and precompute traversal tables."""
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}")
        if not (np.isfinite(self.base_score) and np.isfinite(self.sigmoid) and self.sigmoid > 0):
            raise ValueError("base_score must be finite and sigmoid finite and positive")
        _check_dtypes(
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
        _check_node_arrays(
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
            raise ValueError("leaf values must be finite")
        object.__setattr__(
            self,
            "_forest",
            _build_forest(self.tree_offsets, self.split_feature, self.left_child, self.right_child),
        )
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
        object.__setattr__(self, "_masks", _leaf_masks(self))

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return int(self.tree_offsets.shape[0] - 1)


def _check_dtypes(model: object, **expected: type[np.generic]) -> None:
    """Raise ValueError unless each named attribute is an ndarray of the expected dtype."""
    for name, dtype in expected.items():
        array = getattr(model, name)
        if not isinstance(array, np.ndarray) or array.dtype != np.dtype(dtype):
            raise ValueError(f"{name} must be a numpy array of dtype {np.dtype(dtype).name}")


def predict_raw(ensemble: TreeEnsemble, X: npt.ArrayLike) -> FloatArray:
    """Raw scores (n_rows,) float64 for X (n_rows, n_features), as LightGBM's raw_score=True.

    Rows are read in chunks of `_CHUNK_ROWS`: temporaries stay small and no single
    numpy call runs long (the Python thread lets the event loop in between).
    """
    rows = _check_rows(X, ensemble.n_features)
    raw = np.full(rows.shape[0], ensemble.base_score, dtype=np.float64)
    masks = ensemble._masks
    blocks = _row_blocks(min(rows.shape[0], _CHUNK_ROWS), ensemble.n_trees)
    scratch = _Scratch(max((b.stop - b.start for b in blocks), default=0))
    for lo in range(0, rows.shape[0], _CHUNK_ROWS):
        chunk = rows[lo : lo + _CHUNK_ROWS]
        # LightGBM's dense-row reader drops |x| <= kZeroThreshold, i.e. reads them as 0.0.
        chunk = np.where(np.abs(chunk) <= LIGHTGBM_ZERO_THRESHOLD, 0.0, chunk)
        out = raw[lo : lo + chunk.shape[0]]
        if masks is not None:
            ranks = _rank_inputs(masks, chunk)
            for block in _row_blocks(chunk.shape[0], ensemble.n_trees):
                width = block.stop - block.start
                block_ranks = scratch.view("ranks", ranks.dtype.type, (ranks.shape[0], width))
                np.copyto(block_ranks, ranks[:, block])
                _add_in_tree_order(out[block], _mask_leaf_values(masks, block_ranks, scratch))
            continue
        for block in _row_blocks(chunk.shape[0], ensemble.n_trees):
            leaves = _find_leaves(
                ensemble._forest,
                chunk[block],
                ensemble.threshold,
                ensemble._nan_left,
                ensemble._zero_left,
            )
            _add_in_tree_order(out[block], np.ascontiguousarray(ensemble.value[leaves].T))
    return raw


def _add_in_tree_order(total: FloatArray, leaf_values: FloatArray) -> None:
    """Add leaf values (n_trees, n_rows), C-contiguous, to total (n_rows,) tree by tree.

    This is LightGBM's float64 summation order. numpy sums pairwise only along
    the contiguous axis, so along axis 0 of two or more rows it adds in order;
    `total` joins the first tree's values (float addition is commutative).
    """
    if leaf_values.shape[1] < 2:
        for tree_values in leaf_values:
            total += tree_values
        return
    leaf_values[0] += total
    np.add.reduce(leaf_values, axis=0, out=total)


def sigmoid(z: FloatArray) -> FloatArray:
    """Logistic function 1 / (1 + exp(-z)), elementwise, float64."""
    result: FloatArray = np.empty_like(z, dtype=np.float64)
    with np.errstate(over="ignore"):
        np.divide(1.0, 1.0 + np.exp(-z), out=result)
    return result


def predict_binary_proba(ensemble: TreeEnsemble, X: npt.ArrayLike) -> FloatArray:
    """Positive-class probabilities (n_rows,) float64, as LightGBM's `predict` for "binary"."""
    if ensemble.objective != "binary":
        raise ValueError(f"expected a binary ensemble, got objective {ensemble.objective!r}")
    return sigmoid(ensemble.sigmoid * predict_raw(ensemble, X))


def average_path_length(n_samples: npt.ArrayLike) -> FloatArray:
    """Mean unsuccessful-search path length in a BST of n samples, as scikit-learn computes it."""
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
    _forest: _Forest = field(init=False, repr=False)
    _path_length: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Validate the arrays and precompute each leaf's path length."""
        if self.max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {self.max_samples}")
        if not np.isfinite(self.offset):
            raise ValueError("offset must be finite")
        _check_dtypes(
            self,
            impute_values=np.float64,
            tree_offsets=np.int32,
            split_feature=np.int32,
            threshold=np.float64,
            left_child=np.int32,
            right_child=np.int32,
            n_node_samples=np.int64,
        )
        _check_node_arrays(
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
        forest = _build_forest(self.tree_offsets, self.split_feature, self.left_child, self.right_child)
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
    """Scores (n_rows,) float64 in [-1, 0) as `IsolationForest.score_samples`; lower = odder.

    X is (n_rows, n_features); NaN is imputed with `model.impute_values`, then,
    like scikit-learn, values are cast to float32 and compared with float64
    thresholds.
    """
    rows = _check_rows(X, model.n_features)
    rows = np.where(np.isnan(rows), model.impute_values, rows)
    with np.errstate(over="ignore"):
        rows = rows.astype(np.float32).astype(np.float64)
    depths = np.zeros(rows.shape[0], dtype=np.float64)
    for block in _row_blocks(rows.shape[0], model.n_trees):
        leaves = _find_leaves(model._forest, rows[block], model.threshold, None, None)
        path_lengths = model._path_length[leaves]
        total = depths[block]
        for tree in range(model.n_trees):
            total += path_lengths[:, tree]
    denominator = model.n_trees * average_path_length(np.array([model.max_samples]))
    normalised = np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0)
    scores: FloatArray = -(2.0 ** (-normalised))
    return scores
