"""The records every data source produces: the contract between sources and features.

Both the recorder source (a real home) and the synthetic generator produce a
`HomeHistory`. Everything downstream (hourly grid, features, labels, models)
reads only these types, so training and inference share one code path.

Times are POSIX seconds (float64, UTC). Arrays are numpy, one row per record,
sorted by time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]

# State codes: >= 0 is a token for the state string, unique within one entity.
UNAVAILABLE: Final = -1
UNKNOWN: Final = -2
# State strings that carry no value, and their codes (None: a NULL state column).
SPECIAL_STATES: Final[dict[object, int]] = {
    None: UNKNOWN,
    "unavailable": UNAVAILABLE,
    "unknown": UNKNOWN,
    "": UNKNOWN,
    "None": UNKNOWN,
}
# Every ASCII character float() accepts ("1_000.5e-3", " inf ", "NaN", "Infinity").
_NUMBER_CHARS: Final = "0123456789+-._eE \t\n\r\x0b\x0cinfatyINFATY"


class Protocol(StrEnum):
    """Radio or transport a device talks over."""

    ZIGBEE = "zigbee"
    ZWAVE = "zwave"
    WIFI = "wifi"
    BLE = "ble"
    THREAD = "thread"
    UNKNOWN = "unknown"


class Power(StrEnum):
    """How a device is powered."""

    BATTERY = "battery"
    RECHARGEABLE = "rechargeable"
    MAINS = "mains"
    UNKNOWN = "unknown"


class Chemistry(StrEnum):
    """Battery chemistry, which shapes the discharge curve."""

    COIN = "coin"  # CR2032/CR2450 lithium coin: flat, then a cliff
    LITHIUM = "lithium"  # AA/AAA lithium primary: flat, then a cliff
    ALKALINE = "alkaline"  # AA/AAA alkaline: a steady slope
    LI_ION = "li_ion"  # rechargeable, coarse steps, recharges
    NIMH = "nimh"  # rechargeable, coarse steps, recharges
    NONE = "none"  # mains powered
    UNKNOWN = "unknown"


class EntityRole(StrEnum):
    """What an entity tells us about its device."""

    PRIMARY = "primary"  # the device's main entity: rhythm, stuck values
    BATTERY = "battery"  # battery level in %
    BATTERY_LOW = "battery_low"  # binary battery-low flag
    SIGNAL = "signal"  # RSSI (dBm) or LQI
    VOLTAGE = "voltage"  # battery or supply voltage
    TEMPERATURE = "temperature"  # device (not room) temperature
    OTHER = "other"  # any other entity of the device


class FailureType(StrEnum):
    """The failures the product predicts (the classifier targets)."""

    BATTERY_DEPLETED = "battery_depleted"
    UNAVAILABLE = "unavailable"
    STALE = "stale"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRecord:
    """A device as the device registry (or the generator) describes it."""

    device_key: str
    name: str
    integration: str  # e.g. "zha", "zwave_js", "shelly", "mqtt"
    protocol: Protocol = Protocol.UNKNOWN
    kind: str = "other"  # door_window, motion, temperature, leak, lock, ...
    power: Power = Power.UNKNOWN
    chemistry: Chemistry = Chemistry.UNKNOWN
    via_device_key: str | None = None  # the bridge/coordinator it hangs off
    manufacturer: str | None = None
    model: str | None = None
    area_id: str | None = None
    created: float | None = None  # when the device was first seen


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityRecord:
    """An entity of a device, with the role it plays for the features."""

    entity_id: str
    device_key: str
    role: EntityRole
    device_class: str | None = None
    unit: str | None = None
    # The state attribute that holds the value (a lock's `battery_level`); None: the state itself.
    attribute: str | None = None

    @property
    def series_key(self) -> str:
        """The key of this record's rows in `HomeHistory.states` / `statistics`."""
        return (
            self.entity_id if self.attribute is None else attribute_series_key(self.entity_id, self.attribute)
        )


def attribute_series_key(entity_id: str, attribute: str) -> str:
    """The `HomeHistory.states` key of one attribute's values (`lock.door@battery_level`)."""
    return f"{entity_id}@{attribute}"


@dataclass(slots=True)
class StateSeries:
    """The recorded state rows of one entity.

    time:  float64 (n,) POSIX seconds, ascending.
    value: float64 (n,) numeric value of the state, NaN when not numeric.
    code:  int32 (n,) token of the state string (>= 0, equal strings share a
           token within one entity), or UNAVAILABLE / UNKNOWN.
    labels: the state string of each token (labels[code]), when known.
    last_reported: float64 (n,) or None: until when the source saw the row's
           state re-reported unchanged (>= time). HA >= 2024.3 updates this
           on the last row instead of writing a new row, so a steady sensor
           has few rows; None when the source does not record it.
    """

    time: FloatArray
    value: FloatArray
    code: IntArray
    labels: tuple[str, ...] = ()
    last_reported: FloatArray | None = None

    def token(self, state: str) -> int | None:
        """Return the token of a state string, or None if unknown or absent."""
        try:
            return self.labels.index(state)
        except ValueError:
            return None

    def __len__(self) -> int:
        """Return the number of rows."""
        return int(self.time.shape[0])


@dataclass(slots=True)
class StatSeries:
    """Hourly long-term statistics of one numeric entity.

    start: float64 (n,) start of each hour, ascending.
    mean, min, max: float64 (n,), NaN where the recorder stored none.
    """

    start: FloatArray
    mean: FloatArray
    min: FloatArray
    max: FloatArray

    def __len__(self) -> int:
        """Return the number of hours."""
        return int(self.start.shape[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureEvent:
    """A ground-truth event of the synthetic generator (not used as features)."""

    device_key: str
    kind: str  # a FailureType value, or "bridge_outage", "swap", ...
    start: float
    end: float
    # When the failure's precursor begins (None: it comes without warning). The
    # generator's truth of what a perfect model could see; used only to measure
    # the best recall any model can reach, never as a feature or label.
    warning: float | None = None


@dataclass(slots=True, kw_only=True)
class HomeHistory:
    """Everything one home's history holds, from one source."""

    home_id: str
    start: float
    end: float
    devices: list[DeviceRecord]
    entities: list[EntityRecord]
    states: dict[str, StateSeries] = field(default_factory=dict)  # by EntityRecord.series_key
    statistics: dict[str, StatSeries] = field(default_factory=dict)
    battery_swaps: dict[str, FloatArray] = field(default_factory=dict)
    restarts: FloatArray = field(default_factory=lambda: np.empty(0, dtype=np.float64))
    ground_truth: list[FailureEvent] = field(default_factory=list)
    scenario: dict[str, str] = field(default_factory=dict)  # device_key -> family

    def entities_of(self, device_key: str) -> list[EntityRecord]:
        """Return the entities of one device."""
        return [e for e in self.entities if e.device_key == device_key]


class StateTokens(NamedTuple):
    """State strings encoded row by row: what `StateSeries` holds besides times."""

    code: IntArray  # int32 (n,): token (>= 0, by first appearance) or UNAVAILABLE / UNKNOWN
    value: FloatArray  # float64 (n,): numeric value, NaN when not a finite number
    labels: tuple[str, ...]  # the state string of each token


def tokenize_states(states: Sequence[object]) -> StateTokens:
    """Encode state strings, in the order given: the one encoder of `StateSeries` codes.

    Equal states share a token, numbered by first appearance; 'unavailable'
    gets UNAVAILABLE and 'unknown', '', 'None' and None (a NULL state column)
    get UNKNOWN. A value is the state as `float()` reads it, NaN unless finite.
    Non-string states (a database may return numbers) are labelled by `str()`.
    """
    first = list(dict.fromkeys(states))
    token_of = dict(zip(first, range(len(first)), strict=True))
    position = np.fromiter(map(token_of.__getitem__, states), dtype=np.intp, count=len(states))
    return _tokens(position, first, token_of)


def tokenize_positions(position: npt.NDArray[np.integer[Any]], vocabulary: Sequence[object]) -> StateTokens:
    """Encode rows given as positions in a vocabulary of distinct states.

    Parameters
    ----------
    position : int array (n,)
        Each row's index into `vocabulary`.
    vocabulary : sequence of distinct states
        The states in token order; special states ('unavailable', 'unknown',
        '', None, see `SPECIAL_STATES`) get their special code and no token.

    Returns
    -------
    StateTokens
        Codes int32 (n,), values float64 (n,) and the labels: the vocabulary
        without its special states, so `labels[code]` is each row's state.
        `tokenize_states` is this with the vocabulary in order of first appearance.

    """
    first = list(vocabulary)
    return _tokens(position, first, dict(zip(first, range(len(first)), strict=True)))


def _tokens(
    position: npt.NDArray[np.integer[Any]], first: list[object], token_of: dict[object, int]
) -> StateTokens:
    """Encode rows by vocabulary position; `token_of` maps each state to its position."""
    special = [(token_of[s], c) for s, c in SPECIAL_STATES.items() if s in token_of]
    if not special:
        code_of = np.arange(len(first), dtype=np.int32)
        value_of = _numbers(first)
    else:
        is_special = np.zeros(len(first), dtype=bool)
        for at, _ in special:
            is_special[at] = True
        code_of = (np.cumsum(~is_special) - 1).astype(np.int32)
        for at, c in special:
            code_of[at] = c
        for at, _ in sorted(special, reverse=True):
            del first[at]
        value_of = np.full(code_of.shape[0], np.nan)
        value_of[~is_special] = _numbers(first)
    return StateTokens(code=code_of[position], value=value_of[position], labels=tuple(map(str, first)))


def _could_be_number(raw: object) -> bool:
    """False for strings `float()` surely rejects (cheaper than the exception)."""
    if not isinstance(raw, str):
        return True
    rest = raw.strip(_NUMBER_CHARS)
    return not rest or not rest.isascii()


def _numbers(labels: list[object]) -> FloatArray:
    """Numeric value of each state string as `float()` reads it; NaN if not finite."""
    try:
        out = np.array(labels, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        out = np.full(len(labels), np.nan)
        for i, raw in enumerate(labels):
            if not _could_be_number(raw):
                continue
            try:
                out[i] = float(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError, OverflowError):
                continue
    out[~np.isfinite(out)] = np.nan
    return out


def encode_states(times: FloatArray | list[float], states: list[str]) -> StateSeries:
    """Build a StateSeries from raw state strings, as the recorder stores them.

    Rows are sorted by time (stable) and rows without a finite time dropped.
    States are encoded by `tokenize_states` in the order given (so a dropped
    row's state still has its token). Raises ValueError when `times` and
    `states` differ in length.
    """
    time = np.asarray(times, dtype=np.float64)
    n = time.shape[0]
    if len(states) != n:
        raise ValueError(f"{n} times but {len(states)} states")
    tokens = tokenize_states(states)
    keep = np.isfinite(time)
    order = np.argsort(time[keep], kind="stable")
    return StateSeries(
        time=time[keep][order],
        value=tokens.value[keep][order],
        code=tokens.code[keep][order],
        labels=tokens.labels,
    )
