"""At-risk state per device: on at the alarm point, held until the release point (`ml.alerts`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from math import isfinite
from typing import Any, Final

from .const import LOGGER
from .ml.alerts import release_fraction
from .ml.bundle import ModelBundle
from .ml.scoring import DevicePrediction

# Reasons travel in attributes (recorded with every state) and events: keep them short,
# whatever a model (possibly one learned or edited outside this code) puts out.
MAX_REASONS: Final = 3
MAX_TEXT_LENGTH: Final = 120
AUTOMATIC: Final = 0.0  # the at-risk threshold option value meaning "the model's own operating point"
FULL: Final = 100.0  # a score at its point, in percent


@dataclass(frozen=True, slots=True)
class RiskScore:
    """One device's scoring, in percent of two points (the highest over its failure types).

    ``alarm``: the probability as a percent of its alarm point (100 or more turns
    the device on); ``hold``: as a percent of its release point (below 100 turns
    it off). The release point of each failure type is `ml.alerts.release_fraction`
    of its alarm point.
    """

    alarm: float
    hold: float


@dataclass(slots=True)
class RiskState:
    """One device: at risk or not, and the run of scorings pushing it to change."""

    on: bool = False
    streak: int = 0
    above_since: float | None = None  # POSIX time of the first scoring of the current run up


class AtRiskTracker:
    """Turn a device on after N scorings at its alarm point, off after M below its release point.

    With a grace period, the scorings at the alarm point must also span that
    long before the device turns on.
    """

    def __init__(self, *, on_after: int, off_after: int, grace_seconds: float = 0.0) -> None:
        """Set the number of scorings needed and the grace period."""
        self._on_after = on_after
        self._off_after = off_after
        self._grace = grace_seconds
        self._states: dict[str, RiskState] = {}

    def is_on(self, key: str) -> bool:
        """Return whether a device is at risk."""
        state = self._states.get(key)
        return state is not None and state.on

    @property
    def at_risk(self) -> frozenset[str]:
        """Return the devices at risk."""
        return frozenset(key for key, state in self._states.items() if state.on)

    def update(self, scores: Mapping[str, RiskScore], *, now: float = 0.0) -> list[str]:
        """Record one scoring made at ``now``; return the devices that turned on.

        Devices missing from ``scores`` are forgotten.
        """
        for key in set(self._states) - set(scores):
            del self._states[key]
        turned_on = []
        for key, score in scores.items():
            state = self._states.setdefault(key, RiskState())
            if state.on:
                pushing = score.hold < FULL
                needed = self._off_after
            else:
                pushing = score.alarm >= FULL
                needed = self._on_after
            state.streak = state.streak + 1 if pushing else 0
            if state.on or not pushing:
                state.above_since = None
            elif state.above_since is None:
                state.above_since = now
            if state.streak >= needed and self._waited(state, now):
                state.on = not state.on
                state.streak = 0
                state.above_since = None
                if state.on:
                    turned_on.append(key)
        return turned_on

    def _waited(self, state: RiskState, now: float) -> bool:
        """Return whether a device's run up has lasted the grace period (turning off never waits)."""
        return state.on or state.above_since is None or now - state.above_since >= self._grace

    def as_dict(self) -> dict[str, Any]:
        """Return the state for storage."""
        return {key: asdict(state) for key, state in self._states.items()}

    def restore(self, data: object) -> None:
        """Load the state saved by ``as_dict``; what is not well-formed is ignored with one warning."""
        entries = data if isinstance(data, Mapping) else {}
        self._states = {}
        for key, value in entries.items():
            state = self._restored(value)
            if isinstance(key, str) and state is not None:
                self._states[key] = state
        ignored = len(entries) - len(self._states) if isinstance(data, Mapping) else None
        if ignored is None:
            LOGGER.warning(
                "Stored at-risk state is a %s, not a mapping; starting afresh", type(data).__name__
            )
        elif ignored:
            LOGGER.warning(
                "Stored at-risk state: ignored %d of %d devices that were not understood",
                ignored,
                len(entries),
            )

    def _restored(self, value: object) -> RiskState | None:
        """One device's stored state, or None unless it is as ``as_dict`` writes it."""
        if not isinstance(value, Mapping):
            return None
        on, streak, above_since = value.get("on"), value.get("streak"), value.get("above_since")
        if not isinstance(on, bool) or not isinstance(streak, int) or isinstance(streak, bool) or streak < 0:
            return None
        if (
            not isinstance(above_since, (int, float))
            or isinstance(above_since, bool)
            or on
            or not isfinite(above_since)
        ):
            above_since = None  # none stored (an older release): the grace period starts again
        # A streak long enough to flip would have flipped; a longer one (another release) would flip at once.
        return RiskState(
            on=on,
            streak=min(streak, (self._off_after if on else self._on_after) - 1),
            above_since=None if above_since is None else float(above_since),
        )


def short_text(text: str) -> str:
    """Cut a text to at most MAX_TEXT_LENGTH characters, ending in an ellipsis when cut."""
    return text if len(text) <= MAX_TEXT_LENGTH else f"{text[: MAX_TEXT_LENGTH - 1]}…"


def reason_texts(prediction: DevicePrediction) -> list[str]:
    """The strongest reasons of a prediction, as short phrases."""
    return [short_text(reason.text) for reason in prediction.reasons[:MAX_REASONS]]


def risk_scores(
    predictions: Mapping[str, DevicePrediction], bundle: ModelBundle, threshold_percent: float
) -> dict[str, RiskScore]:
    """Each device's scores for the tracker.

    With a fixed threshold every failure type alarms at that probability.
    Automatic: each failure type alarms at the operating threshold the model was
    validated at (best F1 on held-out homes), whatever the type's base rate.
    """
    scores: dict[str, RiskScore] = {}
    for key, prediction in predictions.items():
        alarm = hold = 0.0
        for failure_type, probability in prediction.probabilities.items():
            alarm_at = _alarm_point(bundle, failure_type, threshold_percent)
            alarm = max(alarm, FULL * probability / alarm_at)
            hold = max(hold, FULL * probability / (alarm_at * release_fraction(failure_type)))
        scores[key] = RiskScore(alarm=alarm, hold=hold)
    return scores


def _alarm_point(bundle: ModelBundle, failure_type: str, threshold_percent: float) -> float:
    """The probability at which a failure type turns a device on."""
    if threshold_percent > AUTOMATIC:
        return threshold_percent / FULL
    classifier = bundle.classifiers.get(failure_type)
    return classifier.threshold if classifier is not None and classifier.threshold > 0 else 0.5
