"""At-risk state per device, with hysteresis so alerts do not flap."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(slots=True)
class RiskState:
    """One device: at risk or not, and the run of scorings pushing it to change."""

    on: bool = False
    streak: int = 0


class AtRiskTracker:
    """Turn a device on after N scorings at/above the threshold, off after M well below it."""

    def __init__(self, *, on_after: int, off_after: int, hysteresis: float) -> None:
        """Set the number of scorings needed and the margin below the threshold."""
        self._on_after = on_after
        self._off_after = off_after
        self._hysteresis = hysteresis
        self._states: dict[str, RiskState] = {}

    def is_on(self, key: str) -> bool:
        """Return whether a device is at risk."""
        state = self._states.get(key)
        return state is not None and state.on

    @property
    def at_risk(self) -> frozenset[str]:
        """Return the devices at risk."""
        return frozenset(key for key, state in self._states.items() if state.on)

    def update(self, probabilities: Mapping[str, float], threshold: float) -> list[str]:
        """Record one scoring (percent probabilities); return the devices that turned on.

        Devices missing from ``probabilities`` are forgotten.
        """
        for key in set(self._states) - set(probabilities):
            del self._states[key]
        turned_on = []
        for key, percent in probabilities.items():
            state = self._states.setdefault(key, RiskState())
            if state.on:
                pushing = percent < threshold - self._hysteresis
                needed = self._off_after
            else:
                pushing = percent >= threshold
                needed = self._on_after
            state.streak = state.streak + 1 if pushing else 0
            if state.streak >= needed:
                state.on = not state.on
                state.streak = 0
                if state.on:
                    turned_on.append(key)
        return turned_on

    def as_dict(self) -> dict[str, Any]:
        """Return the state for storage."""
        return {key: asdict(state) for key, state in self._states.items()}

    def restore(self, data: Mapping[str, Any]) -> None:
        """Load the state saved by ``as_dict``."""
        self._states = {
            str(key): RiskState(on=bool(value.get("on")), streak=int(value.get("streak", 0)))
            for key, value in data.items()
            if isinstance(value, Mapping)
        }
