"""How the reader talks to the database: the query callable, rows, IN lists and time parameters.

Every statement is plain SQL with named `:params` that SQLite, MariaDB/MySQL
and PostgreSQL all accept; nothing here knows the recorder's tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Final

# Runs SQL with named `:params` and returns its rows.
QueryFn = Callable[[str, dict[str, object]], Iterable[Sequence[object]]]
# Bound parameters per IN list: far below every backend's limit.
MAX_KEYS_PER_QUERY: Final = 500


def fetch(query: QueryFn, sql: str, params: dict[str, object]) -> list[Sequence[object]]:
    """Run a query and return all its rows as a list."""
    result = query(sql, params)
    fetchall = getattr(result, "fetchall", None)
    rows = fetchall() if callable(fetchall) else result
    return rows if isinstance(rows, list) else list(rows)


def in_list(prefix: str, values: Sequence[object], params: dict[str, object]) -> str:
    """Bind values as :prefix0, :prefix1, ... and return the placeholder list for an IN (...).

    The list is padded to a power of two (up to MAX_KEYS_PER_QUERY) by repeating
    the last value, which an IN list ignores: the database driver and SQLAlchemy
    cache one compiled statement per distinct text, and a home whose entity count
    changes would otherwise add a new one at every change.
    """
    if not values:
        return ""
    size = max(len(values), min(1 << (len(values) - 1).bit_length(), MAX_KEYS_PER_QUERY))
    padded = [*values, *([values[-1]] * (size - len(values)))]
    names = []
    for i, value in enumerate(padded):
        params[f"{prefix}{i}"] = value
        names.append(f":{prefix}{i}")
    return ", ".join(names)


def batches[T](values: Sequence[T], size: int = MAX_KEYS_PER_QUERY) -> Iterable[Sequence[T]]:
    """Consecutive slices of at most `size` values."""
    for i in range(0, len(values), size):
        yield values[i : i + size]


def filtered(query: QueryFn, sql: str, column: str, values: Sequence[str] | None) -> list[Sequence[object]]:
    """Run `sql` (which ends in a WHERE clause) for all rows, or per batch of `column` values."""
    if values is None:
        return fetch(query, sql + " 1 = 1", {})
    rows: list[Sequence[object]] = []
    for batch in batches(values):
        params: dict[str, object] = {}
        rows += fetch(query, f"{sql} {column} IN ({in_list('e', batch, params)})", params)
    return rows


def db_time(numeric: bool, t: float) -> object:
    """A POSIX time as the column stores it: a float, or a naive-UTC datetime string."""
    if numeric:
        return float(t)
    clamped = min(max(t, 0.0), 253402300799.0)
    return datetime.fromtimestamp(clamped, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
