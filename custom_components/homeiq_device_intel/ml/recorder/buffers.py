"""Kept state rows in arrays with room to grow, so moving a window on copies only the new rows.

`window.advance` builds each entity's series of the new window from the kept
rows before the overlap and the rows read since. Without buffers it copies
every kept row each time (2.4 M rows at 1,000 devices, every hour). With a
`RowBuffers`, the series it returns are views of per-entity arrays with spare
room at the end: the new rows are written after the kept ones, the window's
start moves by changing the view's first row, and the whole entity is copied
only when its room runs out (then with a quarter more room than it needs).

The rows produced are exactly those of the copying path (same values, same
tokens, same labels). The price is that the kept history given to `advance`
is superseded: the rows of its last hours and its opening row are rewritten
in place. A buffer is used only when the kept series is the view it handed
out last (anything else takes the copying path), so an older history or a
second `advance` from the same kept one never writes into live rows twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..records import FloatArray, IntArray, StateSeries

# Extra rows allocated beyond what an entity needs when its buffer is (re)built.
_MIN_ROOM = 32


@dataclass(slots=True)
class _Buffer:
    """One entity's rows; the series last handed out is the view of rows [lo, hi)."""

    time: FloatArray
    value: FloatArray
    code: IntArray
    reported: FloatArray | None
    labels: list[str]
    index: dict[str, int]  # label -> token, in step with labels
    frozen: tuple[str, ...]  # labels as the series' tuple (rebuilt only when a label is added)
    lo: int
    hi: int
    series: StateSeries

    def view(self) -> StateSeries:
        """The series of rows [lo, hi) (views of the buffer's arrays)."""
        lo, hi = self.lo, self.hi
        self.series = StateSeries(
            time=self.time[lo:hi],
            value=self.value[lo:hi],
            code=self.code[lo:hi],
            labels=self.frozen if len(self.frozen) == len(self.labels) else self._freeze(),
            last_reported=None if self.reported is None else self.reported[lo:hi],
        )
        return self.series

    def _freeze(self) -> tuple[str, ...]:
        self.frozen = tuple(self.labels)
        return self.frozen


def _room(rows: int) -> int:
    """Capacity for `rows` live rows."""
    return rows + max(_MIN_ROOM, rows // 4)


def _allocate(series: StateSeries, capacity: int) -> _Buffer:
    """A buffer holding a copy of `series` at its start, with `capacity` rows in all."""
    n = len(series)
    time, value = np.empty(capacity), np.empty(capacity)
    code = np.empty(capacity, dtype=np.int32)
    time[:n], value[:n], code[:n] = series.time, series.value, series.code
    reported = None
    if series.last_reported is not None:
        reported = np.empty(capacity)
        reported[:n] = series.last_reported
    labels = list(series.labels)
    buffer = _Buffer(time, value, code, reported, labels, {}, tuple(labels), 0, n, series)
    for token, label in enumerate(labels):
        buffer.index.setdefault(label, token)
    buffer.view()
    return buffer


class RowBuffers:
    """The per-entity buffers behind a kept window's series (see the module's docstring)."""

    def __init__(self) -> None:
        """Start with no buffers."""
        self._by_key: dict[str, _Buffer] = {}

    def clear(self) -> None:
        """Forget every buffer (the next `advance` copies, then buffers its result)."""
        self._by_key.clear()

    def __len__(self) -> int:
        """Return the number of entities buffered."""
        return len(self._by_key)

    def retain(self, keys: Iterable[str]) -> None:
        """Forget the buffers of entities not in `keys`."""
        wanted = set(keys)
        for key in [k for k in self._by_key if k not in wanted]:
            del self._by_key[key]

    def adopt(self, key: str, series: StateSeries) -> StateSeries:
        """Buffer a series built by copying; return the view to hand out in its place."""
        buffer = _allocate(series, _room(len(series)))
        self._by_key[key] = buffer
        return buffer.series

    def advance(
        self, key: str, old: StateSeries, fresh: StateSeries, overlap: float, start: float
    ) -> StateSeries | None:
        """`window._open_at(window._join_states(old, fresh, overlap), start)` in place, or None.

        None when the common case does not hold (no buffer, `old` not its last
        view, no opening row in `fresh`, ...): the caller then takes the copying path.
        """
        buffer = self._by_key.get(key)
        if buffer is None or buffer.series is not old or not len(fresh) or fresh.time[0] != overlap:
            return None
        if (old.last_reported is None) != (fresh.last_reported is None):
            return None
        before = int(np.searchsorted(old.time, overlap, side="left"))
        if before == 0 or (before < len(old) and old.time[before] == overlap):
            return None
        first = int(np.searchsorted(old.time[:before], start, side="left"))
        if first == before:
            return None  # the window opens at or after the overlap: rare, copied
        _fold_reported(buffer, before, fresh, overlap)
        # Without rows after its opening one the new read adds no labels (as `merge_series`).
        tail = _Tail(fresh, _tokens(buffer, fresh.labels) if len(fresh) > 1 else np.zeros(1, np.int32))
        keep_from = first if first == 0 or old.time[first] == start else first - 1
        _write(buffer, keep_from, before, tail)
        if keep_from == first - 1:
            _open(buffer, start)
        return buffer.view()


@dataclass(frozen=True, slots=True)
class _Tail:
    """The new read's rows after its opening row, with its tokens mapped to the buffer's."""

    fresh: StateSeries
    remap: IntArray

    def __len__(self) -> int:
        return len(self.fresh) - 1

    def codes(self) -> IntArray:
        code = self.fresh.code[1:]
        out: IntArray = np.where(code >= 0, self.remap[np.maximum(code, 0)], code).astype(np.int32)
        return out


def _tokens(buffer: _Buffer, labels: tuple[str, ...]) -> IntArray:
    """The buffer's token of each label (new labels appended, as `merge_series` does)."""
    remap = []
    for label in labels:
        token = buffer.index.get(label)
        if token is None:
            token = buffer.index[label] = len(buffer.labels)
            buffer.labels.append(label)
        remap.append(token)
    return np.array(remap or [0], dtype=np.int32)


def _fold_reported(buffer: _Buffer, before: int, fresh: StateSeries, overlap: float) -> None:
    """The last kept row before the overlap takes the opening row's later `last_reported`."""
    if buffer.reported is None or fresh.last_reported is None:
        return
    reported = float(fresh.last_reported[0])
    if reported > overlap:
        row = buffer.lo + before - 1
        buffer.reported[row] = max(float(buffer.reported[row]), reported)


def _write(buffer: _Buffer, keep_from: int, before: int, tail: _Tail) -> None:
    """Keep rows [keep_from, before) of the view, then the tail; copy into a new buffer if full."""
    lo, hi = buffer.lo + keep_from, buffer.lo + before
    end = hi + len(tail)
    if end > buffer.time.shape[0]:
        kept = hi - lo
        grown = _allocate(_slice(buffer, lo, hi), _room(kept + len(tail)))
        buffer.time, buffer.value, buffer.code = grown.time, grown.value, grown.code
        buffer.reported = grown.reported
        lo, hi, end = 0, kept, kept + len(tail)
    buffer.time[hi:end] = tail.fresh.time[1:]
    buffer.value[hi:end] = tail.fresh.value[1:]
    buffer.code[hi:end] = tail.codes()
    if buffer.reported is not None and tail.fresh.last_reported is not None:
        buffer.reported[hi:end] = tail.fresh.last_reported[1:]
    buffer.lo, buffer.hi = lo, end


def _slice(buffer: _Buffer, lo: int, hi: int) -> StateSeries:
    """Rows [lo, hi) of the buffer's arrays (views; labels not needed)."""
    return StateSeries(
        time=buffer.time[lo:hi],
        value=buffer.value[lo:hi],
        code=buffer.code[lo:hi],
        last_reported=None if buffer.reported is None else buffer.reported[lo:hi],
    )


def _open(buffer: _Buffer, start: float) -> None:
    """The view's first row becomes the opening row at `start`, as the reader writes it."""
    row = buffer.lo
    buffer.time[row] = start
    if buffer.reported is not None:
        reported = buffer.reported[row]
        buffer.reported[row] = reported if reported > start else start
