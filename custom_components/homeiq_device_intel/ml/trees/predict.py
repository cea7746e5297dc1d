"""Prediction with numpy only: LightGBM's raw scores and probabilities, bit for bit.

`predict_raw` reproduces LightGBM's `Booster.predict(raw_score=True)` for a
`layout.TreeEnsemble`: the same missing-value rules and the same float64
summation order, with no LightGBM or scikit-learn at runtime.

Two backends. Forests of small trees (at most 32 leaves each, as LightGBM's
defaults and ours) are evaluated without walking the trees: every split is
compared for every row at once and each comparison rules leaves out with a
bit mask (the QuickScorer idea); the tables for this are built once, when the
ensemble is constructed (`leaf_masks`). Larger trees are walked level by level
(`find_leaves`, which the isolation forest uses too).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from .forest import FloatArray, Forest, IndexArray
from .layout import TreeEnsemble
from .masks import LeafMasks, count_ones

# LightGBM's kZeroThreshold is the float literal 1e-35f widened to double.
LIGHTGBM_ZERO_THRESHOLD: Final = float(np.float32(1e-35))

# Rows x trees evaluated at once; bounds the temporaries to a few MB.
_BLOCK_PAIRS: Final = 1 << 16
_CHUNK_ROWS: Final = 8192  # rows ranked at a time (each numpy call then takes about a millisecond)


def _rank_inputs(masks: LeafMasks, rows: FloatArray) -> npt.NDArray[np.unsignedinteger]:
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
    masks: LeafMasks, ranks: npt.NDArray[np.unsignedinteger], scratch: _Scratch
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
    exit_bit = count_ones(ruled_out & ~(ruled_out + kind(1)))
    exit_bit += (np.arange(n_trees, dtype=np.intp) * masks.width)[:, None]
    np.take(masks.leaf_value, exit_bit, out=values, mode="wrap")
    return values


def check_rows(X: npt.ArrayLike, n_features: int) -> FloatArray:
    """Return X as a C-contiguous (n_rows, n_features) float64 array, or raise ValueError."""
    rows = np.ascontiguousarray(X, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != n_features:
        raise ValueError(f"X must have shape (n_rows, {n_features}), got {rows.shape}")
    return rows


def find_leaves(
    forest: Forest,
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
        node = step_down(
            forest, node, flat_x[row_base + forest.feature[node]], threshold, nan_left, zero_left
        )
    leaves[pair] = node
    return leaves.reshape(n_rows, n_trees)


def step_down(
    forest: Forest,
    node: IndexArray,
    x: FloatArray,
    threshold: FloatArray,
    nan_left: npt.NDArray[np.bool_] | None,
    zero_left: npt.NDArray[np.bool_] | None,
) -> IndexArray:
    """The child each split in `node` sends its value in `x` to (a leaf stays put).

    `node` and `x` are (n_pairs,): a node and the value of its split feature.
    The rules are `find_leaves`'s.
    """
    go_left = x <= threshold[node]
    if nan_left is not None and zero_left is not None:
        is_nan = np.isnan(x)
        if is_nan.any():
            go_left[is_nan] = nan_left[node[is_nan]]
        is_zero = x == 0.0
        if is_zero.any():
            go_left[is_zero] = zero_left[node[is_zero]]
    child: IndexArray = forest.children[2 * node + go_left]
    return child


def read_as_lightgbm(rows: FloatArray) -> FloatArray:
    """Rows as LightGBM's dense-row reader sees them: |x| <= kZeroThreshold becomes 0.0."""
    read: FloatArray = np.where(np.abs(rows) <= LIGHTGBM_ZERO_THRESHOLD, 0.0, rows)
    return read


def row_blocks(n_rows: int, n_trees: int) -> list[slice]:
    """Row slices holding about `_BLOCK_PAIRS` (row, tree) pairs each."""
    step = max(1, _BLOCK_PAIRS // max(1, n_trees))
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def predict_raw(ensemble: TreeEnsemble, X: npt.ArrayLike) -> FloatArray:
    """Raw scores of a tree ensemble, as LightGBM's ``predict(raw_score=True)``.

    Rows are read in chunks of `_CHUNK_ROWS`: temporaries stay small and no single
    numpy call runs long (the Python thread lets the event loop in between).

    Parameters
    ----------
    ensemble : TreeEnsemble
        The forest; any objective.
    X : array-like of shape (n_rows, n_features)
        The input rows, converted to float64. NaN is missing; values with
        ``|x| <= LIGHTGBM_ZERO_THRESHOLD`` are read as 0.0, as LightGBM does.

    Returns
    -------
    raw : ndarray of shape (n_rows,), dtype=float64
        ``base_score`` plus every tree's leaf value, summed in tree order.

    Raises
    ------
    ValueError
        If X is not two-dimensional with ``ensemble.n_features`` columns.

    """
    rows = check_rows(X, ensemble.n_features)
    raw = np.full(rows.shape[0], ensemble.base_score, dtype=np.float64)
    blocks = row_blocks(min(rows.shape[0], _CHUNK_ROWS), ensemble.n_trees)
    scratch = _Scratch(max((b.stop - b.start for b in blocks), default=0))
    for lo in range(0, rows.shape[0], _CHUNK_ROWS):
        chunk = read_as_lightgbm(rows[lo : lo + _CHUNK_ROWS])
        out = raw[lo : lo + chunk.shape[0]]
        if ensemble._masks is not None:
            _add_by_masks(out, ensemble._masks, chunk, ensemble.n_trees, scratch)
        else:
            _add_by_walking(out, ensemble, chunk)
    return raw


def _add_by_masks(
    out: FloatArray, masks: LeafMasks, chunk: FloatArray, n_trees: int, scratch: _Scratch
) -> None:
    """Add the leaf values of chunk (n_rows, n_features) to out (n_rows,), with leaf masks."""
    ranks = _rank_inputs(masks, chunk)
    for block in row_blocks(chunk.shape[0], n_trees):
        width = block.stop - block.start
        block_ranks = scratch.view("ranks", ranks.dtype.type, (ranks.shape[0], width))
        np.copyto(block_ranks, ranks[:, block])
        _add_in_tree_order(out[block], _mask_leaf_values(masks, block_ranks, scratch))


def _add_by_walking(out: FloatArray, ensemble: TreeEnsemble, chunk: FloatArray) -> None:
    """Add the leaf values of chunk (n_rows, n_features) to out (n_rows,), walking the trees."""
    for block in row_blocks(chunk.shape[0], ensemble.n_trees):
        leaves = find_leaves(
            ensemble._forest,
            chunk[block],
            ensemble.threshold,
            ensemble._nan_left,
            ensemble._zero_left,
        )
        _add_in_tree_order(out[block], np.ascontiguousarray(ensemble.value[leaves].T))


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
    """Logistic function, elementwise.

    Parameters
    ----------
    z : ndarray of any shape, dtype=float64
        The margins.

    Returns
    -------
    p : ndarray of the same shape as z, dtype=float64
        ``1 / (1 + exp(-z))``; overflow of ``exp`` gives 0.0 without a warning.

    """
    result: FloatArray = np.empty_like(z, dtype=np.float64)
    with np.errstate(over="ignore"):
        np.divide(1.0, 1.0 + np.exp(-z), out=result)
    return result


def predict_binary_proba(ensemble: TreeEnsemble, X: npt.ArrayLike) -> FloatArray:
    """Positive-class probabilities, as LightGBM's ``predict`` for a "binary" objective.

    Parameters
    ----------
    ensemble : TreeEnsemble
        The forest; its objective must be "binary".
    X : array-like of shape (n_rows, n_features)
        The input rows, as for `predict_raw`.

    Returns
    -------
    proba : ndarray of shape (n_rows,), dtype=float64
        ``sigmoid(ensemble.sigmoid * predict_raw(ensemble, X))``, in [0, 1].

    Raises
    ------
    ValueError
        If the objective is not "binary" or X has the wrong shape.

    """
    if ensemble.objective != "binary":
        raise ValueError(f"expected a binary ensemble, got objective {ensemble.objective!r}")
    return sigmoid(ensemble.sigmoid * predict_raw(ensemble, X))
