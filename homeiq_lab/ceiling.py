"""The best recall any model could reach on synthetic homes: how many positives show a warning.

A positive row (a failure starts within the horizon) can only be told apart from
a healthy row if something in the history up to that hour points at the failure.
The generator knows when each failure's precursor begins (`FailureEvent.warning`,
None when the failure comes without warning); a row is *observable* when its
failure's precursor has begun by the row's hour. The share of observable
positives bounds the recall of any model at useful precision: the other positives
look exactly like healthy rows, so flagging them costs as many false alarms as
the base rate implies. Offline evaluation only; never a feature or a label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.grid import HOUR, hour_start
from custom_components.homeiq_device_intel.ml.labels import TARGETS
from custom_components.homeiq_device_intel.ml.records import FailureEvent, FailureType, HomeHistory

from .dataset import Dataset

DAY_SECONDS = 24 * HOUR
MATCH_SECONDS = 7 * DAY_SECONDS  # a detected start this close to a true failure is that failure
# Ground-truth kinds whose start a label of each target marks ("stuck" is a stale label).
TRUE_KINDS: dict[str, tuple[str, ...]] = {
    FailureType.BATTERY_DEPLETED.value: (FailureType.BATTERY_DEPLETED.value,),
    FailureType.UNAVAILABLE.value: (FailureType.UNAVAILABLE.value,),
    FailureType.STALE.value: (FailureType.STALE.value, "stuck"),
}


def truth_index(
    homes: Sequence[HomeHistory],
) -> dict[tuple[str, str, str], list[FailureEvent]]:
    """(home id, device id, target) -> its true failures."""
    index: dict[tuple[str, str, str], list[FailureEvent]] = {}
    for home in homes:
        for event in home.ground_truth:
            for target, kinds in TRUE_KINDS.items():
                if event.kind in kinds:
                    index.setdefault((home.home_id, event.device_key, target), []).append(event)
    return index


def row_observable(
    homes: Sequence[HomeHistory],
    ds: Dataset,
    rows: npt.NDArray[np.bool_],
    target: str,
) -> npt.NDArray[np.bool_]:
    """Say, for each positive row of `target` among `rows`, whether its failure shows a warning yet.

    A detected failure is matched to the device's nearest true failure of that
    target within a week. It is observable when the true failure's precursor has
    begun by the row's hour; a `battery_slope` precursor is the falling level
    itself, seen from the start (for the depletion and the outage it causes).
    A detected failure with no true failure behind it (a healthy battery the
    owner swaps late, an outage of no failure family) counts as observable:
    this is an upper bound.
    """
    starts = {h.home_id: hour_start(h.start) for h in homes}
    scenario = {h.home_id: h.scenario for h in homes}
    truth = truth_index(homes)
    picked = np.flatnonzero(rows & (ds.y[target] == 1.0))
    out = np.ones(picked.size, dtype=bool)
    for k, r in enumerate(picked):
        home_id = ds.home_ids[int(ds.home[r])]
        device_key = ds.device_keys[int(ds.device[r])]
        origin = starts[home_id]
        row_time = origin + float(ds.hour[r]) * HOUR
        event_time = origin + float(ds.next_event_hour[target][r]) * HOUR
        events = truth.get((home_id, device_key, target), [])
        if not events:
            continue
        nearest = min(events, key=lambda e: abs(e.start - event_time))
        if abs(nearest.start - event_time) > MATCH_SECONDS:
            continue
        if nearest.warning is None:
            out[k] = False
        elif scenario[home_id].get(device_key) == "battery_slope":
            out[k] = True  # the level falls towards the death (and the outage it causes)
        else:
            out[k] = row_time >= nearest.warning
    return out


def signless_positives(
    homes: Sequence[HomeHistory],
    ds: Dataset,
    rows: npt.NDArray[np.bool_],
    target: str,
) -> npt.NDArray[np.bool_]:
    """Over ds: the positive rows of `target` among `rows` whose failure shows no sign yet.

    The complement of `row_observable` on the rows of `homes` (rows of other homes, such as
    real recorder databases without a truth, are never marked).
    """
    ids = {h.home_id for h in homes}
    rows = rows & np.isin(ds.home, [i for i, home_id in enumerate(ds.home_ids) if home_id in ids])
    out = np.zeros(len(ds), dtype=bool)
    out[np.flatnonzero(rows & (ds.y[target] == 1.0))] = ~row_observable(homes, ds, rows, target)
    return out


def observable_share(
    homes: Sequence[HomeHistory],
    ds: Dataset,
    rows: npt.NDArray[np.bool_],
    alarms: dict[str, npt.NDArray[np.bool_]] | None = None,
) -> dict[str, dict[str, float]]:
    """Per target: positives among `rows` and the share a perfect model could see coming.

    Given the model's alarms (over all of ds's rows), also its recall on that share.
    """
    report: dict[str, dict[str, float]] = {}
    for target in TARGETS:
        seen = row_observable(homes, ds, rows, target)
        entry = {
            "positives": float(seen.size),
            "observable_share": float(seen.mean()) if seen.size else float("nan"),
        }
        if alarms is not None and seen.any():
            positive = np.flatnonzero(rows & (ds.y[target] == 1.0))
            entry["recall_on_observable"] = float(alarms[target][positive][seen].mean())
        report[target] = entry
    return report
