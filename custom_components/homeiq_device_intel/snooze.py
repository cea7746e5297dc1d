"""Snoozed devices: no at-risk alert for them until a chosen time or until they recover, kept across restarts.

A device acknowledged "until it recovers" stays quiet until a scoring finds
it healthy again (see ``SnoozeBook.recover``); then the acknowledgement ends
by itself, and the next time it is at risk it alerts again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.util import dt as dt_util

from .const import LOGGER, SNOOZE_CUSTOM, SNOOZE_PRESETS, SNOOZE_UNTIL_RECOVERED


@dataclass(frozen=True, slots=True, kw_only=True)
class Snooze:
    """One device's snooze: until when, and the Snooze select's option it came from (or custom)."""

    until: datetime | None  # aware, UTC; None: until the device recovers
    preset: str

    def active(self, now: datetime) -> bool:
        """Return whether the snooze is still on at ``now``."""
        return self.until is None or self.until > now


class SnoozeBook:
    """The snoozes of the watched devices, by device key."""

    def __init__(self) -> None:
        """Start with no device snoozed."""
        self._snoozes: dict[str, Snooze] = {}

    def get(self, key: str, now: datetime) -> Snooze | None:
        """Return a device's snooze if it has not ended by ``now``."""
        snooze = self._snoozes.get(key)
        return snooze if snooze is not None and snooze.active(now) else None

    def snoozed(self, now: datetime) -> frozenset[str]:
        """Return the devices snoozed at ``now`` (acknowledged ones included)."""
        return frozenset(key for key, snooze in self._snoozes.items() if snooze.active(now))

    def snooze(self, keys: list[str], until: datetime, preset: str = SNOOZE_CUSTOM) -> None:
        """Snooze devices until a time (replacing any snooze they had)."""
        for key in keys:
            self._snoozes[key] = Snooze(until=dt_util.as_utc(until), preset=preset)

    def acknowledge(self, keys: list[str]) -> None:
        """Quiet devices until they recover (replacing any snooze they had)."""
        for key in keys:
            self._snoozes[key] = Snooze(until=None, preset=SNOOZE_UNTIL_RECOVERED)

    def recover(self, healthy: set[str]) -> list[str]:
        """End the acknowledgements of the devices found healthy; return them."""
        ended = [key for key, s in self._snoozes.items() if s.until is None and key in healthy]
        self.unsnooze(ended)
        return ended

    def unsnooze(self, keys: list[str]) -> None:
        """End the snooze of devices (those not snoozed are left as they are)."""
        for key in keys:
            self._snoozes.pop(key, None)

    def expire(self, now: datetime) -> list[str]:
        """Forget the snoozes that ended by ``now``; return their devices."""
        ended = [key for key, snooze in self._snoozes.items() if not snooze.active(now)]
        self.unsnooze(ended)
        return ended

    def next_end(self) -> datetime | None:
        """Return when the first timed snooze ends, if any."""
        return min((s.until for s in self._snoozes.values() if s.until is not None), default=None)

    def as_dict(self) -> dict[str, Any]:
        """Return the snoozes for storage (``until`` None: until the device recovers)."""
        return {
            key: {"until": None if s.until is None else s.until.isoformat(), "preset": s.preset}
            for key, s in self._snoozes.items()
        }

    def restore(self, data: object) -> None:
        """Load what ``as_dict`` saved; entries not understood are ignored with one warning."""
        entries = data if isinstance(data, Mapping) else {}
        self._snoozes = {}
        for key, value in entries.items():
            snooze = _restored(value)
            if isinstance(key, str) and snooze is not None:
                self._snoozes[key] = snooze
        if not isinstance(data, Mapping):
            LOGGER.warning("Stored snoozes are a %s, not a mapping; starting afresh", type(data).__name__)
        elif ignored := len(entries) - len(self._snoozes):
            LOGGER.warning("Stored snoozes: ignored %d of %d that were not understood", ignored, len(entries))


def _restored(value: object) -> Snooze | None:
    """One stored snooze, or None unless it is as ``SnoozeBook.as_dict`` writes it."""
    if not isinstance(value, Mapping):
        return None
    text, preset = value.get("until"), value.get("preset")
    if text is None and preset == SNOOZE_UNTIL_RECOVERED:
        return Snooze(until=None, preset=SNOOZE_UNTIL_RECOVERED)
    if not isinstance(text, str) or not isinstance(preset, str):
        return None
    try:
        until = datetime.fromisoformat(text)
    except ValueError:
        return None
    if until.tzinfo is None:
        return None
    try:
        until = dt_util.as_utc(until)
    except OverflowError:  # a time past the last (or before the first) date in UTC
        return None
    return Snooze(until=until, preset=preset if preset in SNOOZE_PRESETS else SNOOZE_CUSTOM)
