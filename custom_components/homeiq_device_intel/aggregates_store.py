"""The home's hourly aggregates and battery log, kept on disk beyond the recorder's purge window.

The grid is merged with what the recorder still holds on every read, and
saved after each nightly read, so availability and rhythm history outlive
the recorder's state purge. The battery log beside it keeps each device's
finished batteries beyond the grid's KEEP_DAYS. File I/O: call ``load``,
``save`` and ``save_battery_log`` from an executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from homeassistant.util import dt as dt_util

from .const import BATTERY_LOG_FILE, DOMAIN, LEGACY_AGGREGATES_FILE, LOGGER
from .ml.aggregates import AggregatesError, load_grid, save_grid
from .ml.battery_log import BatteryLog, BatteryLogError, load_log, save_log, updated_log
from .ml.files import set_aside
from .ml.grid import HourlyGrid

UNREADABLE_SUFFIX: Final = ".unreadable"
# The hourly scoring keeps the history when no training has for this long (nightly training off,
# or failing): its grid, merged with the stored one, is saved with the batteries that ended in it.
KEEP_HISTORY_AFTER_HOURS: Final = 24


class AggregatesStore:
    """Load and save the stored hourly grid (the aggregates); keep the latest in memory."""

    def __init__(self, path: Path, *, home_id: str = DOMAIN) -> None:
        """Remember where the grid lives and whose home it must describe."""
        self._path = path
        self._home_id = home_id
        self._log_path = path.with_name(BATTERY_LOG_FILE)
        self.grid: HourlyGrid | None = None
        self.battery_log: BatteryLog = {}
        self._loaded_at = dt_util.utcnow().timestamp()  # no stored grid: history is kept a day after this

    def load(self) -> None:
        """Read the stored grid and battery log; one that is unreadable or not this home's is set aside.

        History then restarts from what the recorder holds. Logs one warning
        per file, also when it cannot be moved (the next save replaces it).
        """
        self._load_grid()
        self._load_battery_log()

    def _load_battery_log(self) -> None:
        """Read the battery log (none yet: an empty one); an unreadable or foreign one is set aside."""
        if not self._log_path.exists():
            return
        try:
            self.battery_log = load_log(self._log_path, home_id=self._home_id)
        except BatteryLogError as err:
            aside = self._log_path.with_suffix(UNREADABLE_SUFFIX)
            if (move_err := set_aside(self._log_path, aside)) is not None:
                LOGGER.warning(
                    "Stored battery log is unreadable (%s) and could not be set aside (%s); starting afresh",
                    err,
                    move_err,
                )
            else:
                LOGGER.warning(
                    "Stored battery log is unreadable (%s); set aside as %s, starting it again", err, aside
                )

    def _load_grid(self) -> None:
        """Read the stored grid (see ``load``)."""
        legacy = self._path.with_name(LEGACY_AGGREGATES_FILE)
        if not self._path.exists() and legacy.exists() and (err := set_aside(legacy, self._path)):
            LOGGER.warning("Stored history %s could not be renamed (%s); reading it in place", legacy, err)
            self._path = legacy
        if not self._path.exists():
            return
        try:
            self.grid = load_grid(self._path, home_id=self._home_id)
        except AggregatesError as err:
            aside = self._path.with_suffix(UNREADABLE_SUFFIX)
            if (move_err := set_aside(self._path, aside)) is not None:
                LOGGER.warning(
                    "Stored history is unreadable (%s) and could not be set aside (%s); starting it again",
                    err,
                    move_err,
                )
            else:
                LOGGER.warning(
                    "Stored history is unreadable (%s); set aside as %s, starting it again", err, aside
                )

    def save(self, grid: HourlyGrid) -> None:
        """Write the grid atomically and keep it as the latest."""
        save_grid(grid, self._path)
        self.grid = grid

    def keep(self, grid: HourlyGrid, known_swaps: Mapping[str, npt.NDArray[np.float64]]) -> None:
        """Save `grid` (merged with the stored one), log the batteries that ended in it (executor)."""
        self.save(grid)
        self.log_batteries(grid, known_swaps)

    def log_batteries(self, grid: HourlyGrid, known_swaps: Mapping[str, npt.NDArray[np.float64]]) -> None:
        """Add the batteries that ended in the grid to the battery log (other devices' entries stay)."""
        self.save_battery_log(updated_log(self.battery_log, grid, known_swaps))

    def behind(self, now: float) -> bool:
        """Whether the stored grid ends KEEP_HISTORY_AFTER_HOURS or more before `now`.

        With none stored, counted from when the store was made (HA's start, or the entry's set-up).
        """
        kept_until = self._loaded_at if self.grid is None else self.grid.start + self.grid.n_hours * 3600.0
        return now - kept_until >= KEEP_HISTORY_AFTER_HOURS * 3600.0

    def save_battery_log(self, log: BatteryLog) -> None:
        """Write the battery log atomically and keep it as the latest."""
        save_log(log, self._log_path, self._home_id)
        self.battery_log = log

    def rename_devices(self, keys: Mapping[str, str]) -> None:
        """Rename devices (old key to new) in the loaded grid and battery log, and save what changed."""
        if self.grid is not None and not keys.keys().isdisjoint(self.grid.device_keys):
            self.grid.device_keys = [keys.get(key, key) for key in self.grid.device_keys]
            self.save(self.grid)
        if not keys.keys().isdisjoint(self.battery_log):
            self.save_battery_log({keys.get(key, key): log for key, log in self.battery_log.items()})

    @property
    def days(self) -> float:
        """Return how many days the stored grid covers."""
        return 0.0 if self.grid is None else self.grid.n_hours / 24.0
