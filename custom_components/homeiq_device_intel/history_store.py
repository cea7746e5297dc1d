"""The home's compact hourly history, kept on disk beyond the recorder's purge window.

The grid is merged with what the recorder still holds on every read, and
saved after each nightly read, so availability and rhythm history outlive
the recorder's state purge. File I/O: call ``load`` and ``save`` from an executor.
"""

from __future__ import annotations

from pathlib import Path

from .const import LOGGER
from .ml.aggregates import AggregatesError, load_grid, save_grid
from .ml.grid import HourlyGrid


class HistoryStore:
    """Load and save the stored hourly grid; keep the latest in memory."""

    def __init__(self, path: Path) -> None:
        """Remember where the grid lives."""
        self._path = path
        self.grid: HourlyGrid | None = None

    def load(self) -> None:
        """Read the stored grid; an unreadable one is set aside and history restarts."""
        if not self._path.exists():
            return
        try:
            self.grid = load_grid(self._path)
        except AggregatesError as err:
            LOGGER.warning("Stored history is unreadable (%s); starting it again", err)
            self._path.replace(self._path.with_suffix(".unreadable"))

    def save(self, grid: HourlyGrid) -> None:
        """Write the grid atomically and keep it as the latest."""
        save_grid(grid, self._path)
        self.grid = grid

    @property
    def days(self) -> float:
        """Return how many days the stored grid covers."""
        return 0.0 if self.grid is None else self.grid.n_hours / 24.0
