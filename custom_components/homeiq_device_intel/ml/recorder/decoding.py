"""Rows as the database returns them, decoded: numbers, times, attribute JSON and state series.

`encode_rows` turns one entity's state rows into a `StateSeries`: it repairs
the rows (drops rows without a time, sorts, keeps the last of equal times,
counting each in a `ReadSummary`) and leaves the state strings to
`records.tokenize_states`, the one encoder of state codes. `merge_series`
joins the pieces of one entity read in several chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import compress, pairwise
from operator import itemgetter
from typing import NamedTuple, cast

import numpy as np
import numpy.typing as npt

from ..classify import attribute_level
from ..files import parse_json
from ..records import FloatArray, IntArray, StateSeries, tokenize_states
from .summary import ReadSummary

_FIRST = itemgetter(0)


class _Rows(NamedTuple):
    """One entity's state rows, column by column."""

    time: FloatArray
    states: list[object]
    reported: FloatArray | None  # last_reported, when the schema has it


def parse_floats(values: list[object]) -> FloatArray:
    """float64 (n,) of a column; NULL and anything unreadable become NaN."""
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            if v is None or isinstance(v, bool):
                continue
            try:
                out[i] = float(v)  # type: ignore[arg-type]
            except (TypeError, ValueError, OverflowError):
                continue
        return out


def _one_datetime(value: object) -> np.datetime64:
    """One legacy datetime (naive UTC string or datetime) as datetime64[us], NaT if bad."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return np.datetime64("NaT", "us")
    if not isinstance(value, datetime):
        return np.datetime64("NaT", "us")
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(value, "us")


def parse_times(values: list[object], numeric: bool) -> FloatArray:
    """float64 (n,) POSIX seconds of a time column; unreadable times become NaN."""
    if numeric:
        return parse_floats(values)
    stamps: npt.NDArray[np.datetime64] | None = None
    if values and all(type(v) is str for v in values):
        try:
            stamps = np.array(values, dtype="datetime64[us]")
        except (TypeError, ValueError, OverflowError):
            stamps = None
    if stamps is None:
        stamps = np.array([_one_datetime(v) for v in values], dtype="datetime64[us]")
    out: FloatArray = stamps.astype(np.int64).astype(np.float64)
    out /= 1e6
    out[np.isnat(stamps)] = np.nan
    return out


def column_floats(rows: list[Sequence[object]], get: itemgetter[int], numeric: bool) -> FloatArray:
    """float64 (n,) of one column of rows: a number, or a time if not `numeric`."""
    if numeric:
        try:
            return np.fromiter(map(get, rows), dtype=np.float64, count=len(rows))
        except (TypeError, ValueError, OverflowError):
            pass  # NULLs or text: the careful path below
    return parse_times(list(map(get, rows)), numeric)


def key_runs(rows: list[Sequence[object]]) -> list[tuple[object, int, int]]:
    """(key, first, end) of each run of equal keys in the first column of key-ordered rows."""
    n = len(rows)
    if n == 0:
        return []
    if type(rows[0][0]) is int:
        try:
            arr = np.fromiter(map(_FIRST, rows), dtype=np.int64, count=n)
        except (TypeError, ValueError, OverflowError):
            arr = None
        if arr is not None:
            cuts = [int(c) for c in np.flatnonzero(arr[1:] != arr[:-1]) + 1]
            return [(rows[a][0], a, b) for a, b in pairwise([0, *cuts, n])]
    keys = list(map(_FIRST, rows))
    out: list[tuple[object, int, int]] = []
    first = 0
    for i in range(1, n + 1):
        if i == n or keys[i] != keys[first]:
            out.append((keys[first], first, i))
            first = i
    return out


def encode_rows(
    time: FloatArray,
    states: list[object],
    reported: FloatArray | None,
    summary: ReadSummary,
) -> StateSeries:
    """Encode one entity's rows (time-ordered by SQL) with `records.tokenize_states`.

    Rows without a time are dropped, rows out of order sorted, and of rows with
    the same time only the last written is kept; each is counted in `summary`,
    as are NULL states. `last_reported` is never before the row's time.
    """
    rows = _Rows(time, states, reported)
    rows = _drop_timeless(rows, summary)
    rows = _sort_by_time(rows, summary)
    rows = _keep_last_of_equal_times(rows, summary)
    summary.null_states += rows.states.count(None)
    tokens = tokenize_states(rows.states)
    return StateSeries(
        time=rows.time,
        value=tokens.value,
        code=tokens.code,
        labels=tokens.labels,
        last_reported=None if rows.reported is None else np.fmax(rows.reported, rows.time),
    )


def _masked(rows: _Rows, keep: npt.NDArray[np.bool_]) -> _Rows:
    """The rows where `keep` is True."""
    return _Rows(
        rows.time[keep],
        list(compress(rows.states, cast("list[bool]", keep.tolist()))),
        None if rows.reported is None else rows.reported[keep],
    )


def _drop_timeless(rows: _Rows, summary: ReadSummary) -> _Rows:
    """Drop rows without a time."""
    bad = np.isnan(rows.time)
    if not bad.any():
        return rows
    summary.null_time_rows += int(bad.sum())
    return _masked(rows, ~bad)


def _sort_by_time(rows: _Rows, summary: ReadSummary) -> _Rows:
    """Sort rows by time (stable) when SQL returned them out of order."""
    time = rows.time
    n = time.shape[0]
    if n <= 1 or not bool((time[1:] < time[:-1]).any()):
        return rows
    summary.unordered_rows += n
    order = np.argsort(time, kind="stable")
    return _Rows(
        time[order],
        [rows.states[i] for i in order],
        None if rows.reported is None else rows.reported[order],
    )


def _keep_last_of_equal_times(rows: _Rows, summary: ReadSummary) -> _Rows:
    """Of rows with the same time, keep only the last written."""
    time = rows.time
    if time.shape[0] <= 1:
        return rows
    dup = time[1:] == time[:-1]
    if not dup.any():
        return rows
    summary.duplicate_rows += int(dup.sum())
    return _masked(rows, np.append(~dup, True))


def merge_series(pieces: list[StateSeries]) -> StateSeries:
    """Join time-ordered pieces of one entity, re-tokenising by first appearance.

    The first piece keeps its tokens (a series' labels are distinct, see `StateSeries`), so
    joining a few new rows to a long series costs little more than the copy of its arrays.
    """
    if len(pieces) == 1:
        return pieces[0]
    labels = list(pieces[0].labels)
    codes: list[IntArray] = [pieces[0].code.astype(np.int32, copy=False)]
    index: dict[str, int] | None = None
    for piece in pieces[1:]:
        if index is None and len(piece.labels) > _LINEAR_LOOKUPS:
            index = dict(zip(labels, range(len(labels)), strict=True))
        remap = np.array([_token(label, labels, index) for label in piece.labels] or [0], dtype=np.int32)
        codes.append(np.where(piece.code >= 0, remap[np.maximum(piece.code, 0)], piece.code).astype(np.int32))
    reported = [p.last_reported for p in pieces]
    return StateSeries(
        time=np.concatenate([p.time for p in pieces]),
        value=np.concatenate([p.value for p in pieces]),
        code=np.concatenate(codes),
        labels=tuple(labels),
        last_reported=None
        if any(r is None for r in reported)
        else np.concatenate([r for r in reported if r is not None]),
    )


# A piece with at most this many labels finds them by a linear search of the labels so far
# (a hourly read's few new states in a long numeric series: no dict of its thousand labels).
_LINEAR_LOOKUPS = 16


def _token(label: str, labels: list[str], index: dict[str, int] | None) -> int:
    """The token of `label` among `labels` (appended if new; `index`, if given, kept in step)."""
    if index is not None:
        token = index.get(label)
        if token is None:
            token = index[label] = len(labels)
            labels.append(label)
        return token
    try:
        return labels.index(label)
    except ValueError:
        labels.append(label)
        return len(labels) - 1


def empty_series(last_reported: bool) -> StateSeries:
    """A series with no rows."""
    return StateSeries(
        time=np.empty(0),
        value=np.empty(0),
        code=np.empty(0, dtype=np.int32),
        last_reported=np.empty(0) if last_reported else None,
    )


def parse_attributes(raw: object) -> tuple[dict[str, object], bool]:
    """Parse an attributes JSON object; ({}, False) when it is not one."""
    if raw is None or raw == "":
        return {}, True
    try:
        parsed = parse_json(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return {}, False
    if not isinstance(parsed, dict):
        return {}, False
    return parsed, True


def attribute_levels(raws: Sequence[object], name: str, summary: ReadSummary) -> list[str]:
    """Per row, the battery level in attribute `name` of its attributes JSON, as a state string.

    Rows without the attribute, or with one that is not a level in %, read
    "unknown"; unreadable JSON reads "unknown" too and is counted in `summary`.
    Equal JSON texts (HA shares them between rows) are parsed once.
    """
    parsed: dict[str | bytes | None, tuple[str, bool]] = {}
    out: list[str] = []
    for raw in raws:
        key = raw if isinstance(raw, str | bytes) else None
        if key not in parsed:
            attrs, valid = parse_attributes(key)
            level = attribute_level(attrs.get(name))
            parsed[key] = ("unknown" if level is None else repr(level), valid)
        text, valid = parsed[key]
        summary.bad_attribute_rows += not valid
        out.append(text)
    return out


def text_value(value: object) -> str | None:
    """A string attribute, or None when absent or not a string."""
    return value if isinstance(value, str) and value else None
