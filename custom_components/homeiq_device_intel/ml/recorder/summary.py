"""What a read found, skipped and repaired: the counts every reading step adds to."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class ReadSummary:
    """What a read found, skipped and repaired (rows are never a reason to raise)."""

    entities: int = 0  # entities in the history
    skipped_entities: int = 0  # entities of non-device domains (inference only)
    state_rows: int = 0  # state rows kept
    start_states: int = 0  # entities given their state at the window start
    statistics_rows: int = 0  # hourly statistics rows kept
    null_time_rows: int = 0  # rows without a usable time (states: whole table): skipped
    unmigrated_rows: int = 0  # states rows without metadata_id (whole table): skipped
    duplicate_rows: int = 0  # same entity and time: only the last written is kept
    unordered_rows: int = 0  # rows of entities that needed sorting by time
    null_states: int = 0  # NULL state (HA wrote none): read as UNKNOWN
    bad_attributes: int = 0  # entities whose attributes JSON was unreadable
    attribute_rows: int = 0  # rows a battery level was read from a state attribute
    bad_attribute_rows: int = 0  # such rows whose attributes JSON was unreadable: no level
    bad_events: int = 0  # restart/battery events without a usable time or data
    restarts: int = 0
    battery_swaps: int = 0

    def add(self, other: ReadSummary) -> None:
        """Add another summary's counts to this one."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
