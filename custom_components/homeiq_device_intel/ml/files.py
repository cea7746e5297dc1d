"""Durable file replacement, JSON parsing and setting aside an unusable file, for every file we keep."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def replace_atomically(path: Path, write: Callable[[IO[Any]], object], *, text: bool = False) -> None:
    """Write a new version of `path` through `write` into a temporary file beside it, fsync, rename.

    `write` gets a binary handle, or a UTF-8 text one with `text`.
    A crash leaves either the old file or the new one, never a torn one; the
    temporary file (`.<name>.<random>.tmp`) is removed when writing fails.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w" if text else "wb", encoding="utf-8" if text else None) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parse_json(text: str | bytes, **options: Any) -> Any:
    """Parse JSON we did not necessarily write (`options` as for `json.loads`); ValueError unless it parses.

    Python's json raises RecursionError on arrays or objects nested too deeply
    (``"[" * 100000``): to every reader that is damaged JSON like any other.
    """
    try:
        return json.loads(text, **options)
    except RecursionError as err:
        raise ValueError(f"JSON nested too deeply: {err}") from err


def set_aside(path: Path, aside: Path) -> OSError | None:
    """Move a stored file that cannot be used to `aside`, keeping it for support.

    Returns the error when it cannot be moved (a read-only folder, say): the
    caller logs one line either way, and the next save replaces the file.
    """
    try:
        path.replace(aside)
    except OSError as err:
        return err
    return None
