"""Compare the integration's predictions in the running demo with the demo home's ground truth."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

from . import owner_devices
from .home import DAY, DemoHome, Truth

INTEGRATION: Final = "homeiq_device_intel"
DEMO_INTEGRATION: Final = "homeiq_demo"
# Of the devices built to fail, at least this share must rank in the top K
# (K = their number + TOP_K_SLACK) by failure probability.
MIN_BUILT_TO_FAIL_IN_TOP_K: Final = 0.5
TOP_K_SLACK: Final = 3
# Of the devices flagged at risk, at least this share must really fail soon...
MIN_AT_RISK_PRECISION: Final = 0.5
# ...once enough are flagged for a share to mean something (the false-alarm bound always applies).
MIN_FLAGGED_FOR_PRECISION: Final = 3
# ...and at most this share of the healthy ones (or one device) may be flagged.
MAX_HEALTHY_AT_RISK: Final = 0.1
# The keys ending the unique ids of the integration's per-device entities.
ENTITY_KEYS: Final = ("failure_probability", "battery_days_remaining", "at_risk", "link_quality")


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """What the integration shows for one device."""

    device_id: str  # device registry id
    source_id: str | None  # the demo home's device id, from the device's identifiers
    name: str
    probability: float | None
    failure_type: str | None
    reasons: tuple[str, ...]
    at_risk: bool
    battery_days: float | None
    # The Battery days remaining sensor's attributes (replace_by, source, past_batteries...).
    battery: dict[str, Any] = field(default_factory=dict)
    link_trend: str | None = None  # the Link quality sensor's trend, if the device has one


@dataclass(slots=True)
class Verdict:
    """The outcome of the comparison: passed checks, failed checks and the table."""

    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    table: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether every check passed."""
        return not self.failed

    def expect(self, condition: bool, message: str) -> None:
        """Record one check."""
        (self.passed if condition else self.failed).append(message)


def as_number(value: Any) -> float | None:
    """Return a state as a number, or None."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _source_device(entry: dict[str, Any]) -> str | None:
    """Return the device registry id an entity of ours is about.

    The entity registry links it to the device; where HA did not record the
    link (HA before 2025.8 ignores `device_entry` at registration), the unique
    id, "<device id>_<key>", still names the device.
    """
    if entry.get("device_id"):
        return str(entry["device_id"])
    unique_id = str(entry.get("unique_id") or "")
    for key in ENTITY_KEYS:
        if unique_id.endswith(f"_{key}"):
            return unique_id.removesuffix(f"_{key}")
    return None


def predictions_from(
    states: dict[str, dict[str, Any]], entities: list[dict[str, Any]], devices: list[dict[str, Any]]
) -> list[Prediction]:
    """Gather, per device, the integration's probability, at-risk flag and battery days."""
    device_by_id = {d["id"]: d for d in devices}
    ours: dict[str, dict[str, str]] = {}
    for entry in entities:
        if entry.get("platform") != INTEGRATION or (device_id := _source_device(entry)) is None:
            continue
        state = states.get(entry["entity_id"])
        if state is None:
            continue
        attributes = state["attributes"]
        slot = ours.setdefault(device_id, {})
        if entry["entity_id"].startswith("binary_sensor."):
            slot["at_risk"] = entry["entity_id"]
        elif "reasons" in attributes:
            slot["probability"] = entry["entity_id"]
        elif "interval_low" in attributes or entry["entity_id"].endswith("_battery_days_remaining"):
            slot["battery"] = entry["entity_id"]
        elif "trend" in attributes:
            slot["link"] = entry["entity_id"]
    out: list[Prediction] = []
    for device_id, slot in ours.items():
        device = device_by_id.get(device_id, {})
        if not device or device.get("entry_type") == "service":
            continue
        source = next(
            (value for domain, value in device.get("identifiers", []) if domain == DEMO_INTEGRATION), None
        )
        probability_state = states.get(slot.get("probability", ""), {})
        attributes = probability_state.get("attributes", {})
        out.append(
            Prediction(
                device_id=device_id,
                source_id=source,
                name=device.get("name_by_user") or device.get("name") or device_id,
                probability=as_number(probability_state.get("state")),
                failure_type=attributes.get("failure_type"),
                reasons=tuple(attributes.get("reasons") or ()),
                at_risk=states.get(slot.get("at_risk", ""), {}).get("state") == "on",
                battery_days=as_number(states.get(slot.get("battery", ""), {}).get("state")),
                battery=dict(states.get(slot.get("battery", ""), {}).get("attributes", {})),
                link_trend=states.get(slot.get("link", ""), {}).get("attributes", {}).get("trend"),
            )
        )
    out.sort(key=lambda p: -(p.probability if p.probability is not None else -1.0))
    return out


def _truth_text(truth: Truth | None, home: DemoHome) -> str:
    """Describe what really happens to a device."""
    if truth is None:
        return "?"
    if truth.failure is not None:
        return f"{truth.failure.kind} in {(truth.failure.start - home.end) / DAY:.1f} d"
    if truth.failing_now:
        return "failing now"
    if truth.swap_soon is not None:
        return f"low battery, swapped in {(truth.swap_soon - home.end) / DAY:.1f} d"
    return "healthy" if truth.family in ("healthy", "bridge_outage") else f"{truth.family} (later)"


def comparison_table(predictions: list[Prediction], home: DemoHome | None) -> list[str]:
    """Return the prediction table, with the ground truth beside it when there is one."""
    header = f"{'device':32} {'prob':>6} {'risk':>4} {'predicted':17} {'batt d':>6}"
    if home is not None:
        header += f"  {'built to fail':34} truth"
    lines = [header, "-" * len(header)]
    for p in predictions:
        probability = "-" if p.probability is None else f"{p.probability:5.1f}%"
        battery = "-" if p.battery_days is None else f"{p.battery_days:.0f}"
        line = (
            f"{p.name[:32]:32} {probability:>6} {'YES' if p.at_risk else '':>4} "
            f"{(p.failure_type or '-')[:17]:17} {battery:>6}"
        )
        if home is not None:
            truth = home.truth.get(p.source_id or "")
            way = truth.way.title if truth is not None and truth.way is not None else ""
            line += f"  {way[:34]:34} {_truth_text(truth, home)}"
        lines.append(line)
    return lines


def evaluate(predictions: list[Prediction], home: DemoHome) -> Verdict:
    """Check the predictions against the ground truth of the demo home.

    Devices whose battery runs low and is swapped within the horizon count
    neither way: warning about them is fair, not warning too.
    """
    verdict = Verdict(table=comparison_table(predictions, home))
    truth = {p.source_id: home.truth[p.source_id] for p in predictions if p.source_id in home.truth}
    scored = [p for p in predictions if p.probability is not None]
    verdict.expect(
        len(scored) >= 0.8 * len(home.truth),
        f"{len(scored)} of {len(home.truth)} demo devices have a failure probability",
    )
    _check_built_to_fail_ranked(verdict, home, [p for p in scored if not _neutral(truth, p)])
    _check_at_risk(verdict, predictions, truth)
    check_owner_devices(predictions, verdict)
    return verdict


def _neutral(truth: dict[str | None, Truth], p: Prediction) -> bool:
    """Whether the device's battery is swapped within the horizon without failing: it counts neither way."""
    t = truth.get(p.source_id)
    return t is not None and t.swap_soon is not None and not t.fails_within_horizon


def _positive(truth: dict[str | None, Truth], p: Prediction) -> bool:
    """Whether the device is built to fail or fails within the horizon."""
    t = truth.get(p.source_id)
    return t is not None and (t.built_to_fail or t.fails_within_horizon)


def _check_built_to_fail_ranked(verdict: Verdict, home: DemoHome, ranked: list[Prediction]) -> None:
    """Enough devices built to fail rank among the top of the scored, non-neutral predictions."""
    built = {device_id for device_id, t in home.truth.items() if t.built_to_fail}
    top_k = len(built) + TOP_K_SLACK
    top = {p.source_id for p in ranked[:top_k]}
    found = built & top
    needed = math.ceil(MIN_BUILT_TO_FAIL_IN_TOP_K * len(built))
    missed = ", ".join(sorted(home.truth[d].name for d in built - found)) or "none"
    verdict.expect(
        len(found) >= needed,
        f"{len(found)} of {len(built)} devices built to fail rank in the top {top_k} "
        f"(need {needed}); missed: {missed}",
    )


def _check_at_risk(verdict: Verdict, predictions: list[Prediction], truth: dict[str | None, Truth]) -> None:
    """Few healthy devices flagged at risk, and enough of those flagged really failing soon."""
    at_risk = [p for p in predictions if p.at_risk and not _neutral(truth, p)]
    real = [p for p in at_risk if _positive(truth, p)]
    healthy = [p for p in predictions if not _positive(truth, p) and not _neutral(truth, p)]
    false_alarms = [p for p in healthy if p.at_risk]
    allowed = max(1, math.floor(MAX_HEALTHY_AT_RISK * len(healthy)))
    verdict.expect(
        len(false_alarms) <= allowed,
        f"{len(false_alarms)} of {len(healthy)} healthy devices flagged at risk (at most {allowed})",
    )
    if len(at_risk) >= MIN_FLAGGED_FOR_PRECISION:
        precision = len(real) / len(at_risk)
        verdict.expect(
            precision >= MIN_AT_RISK_PRECISION,
            f"{len(real)} of {len(at_risk)} devices flagged at risk really fail soon "
            f"(precision {precision:.0%}, need {MIN_AT_RISK_PRECISION:.0%})",
        )
    else:
        names = ", ".join(p.name for p in at_risk) or "none"
        verdict.notes.append(
            f"{len(real)} of {len(at_risk)} flagged at risk fail within the window ({names}); "
            f"precision is judged from {MIN_FLAGGED_FOR_PRECISION} flags"
        )


def check_owner_devices(predictions: list[Prediction], verdict: Verdict) -> None:
    """Each owner device (owner_devices.py) shows what it was written to show."""
    by_source = {p.source_id: p for p in predictions if p.source_id is not None}

    def shown(device_key: str) -> Prediction | None:
        found = by_source.get(device_key)
        verdict.expect(found is not None, f"owner device {device_key[:8]} has prediction entities")
        return found

    if (p := shown(owner_devices.THREE_PAST_BATTERIES)) is not None:
        verdict.expect(
            p.battery.get("past_batteries") == len(owner_devices.SWAP_DAYS_AGO) - 1
            and p.battery.get("source") == "own_history"
            and bool(p.battery.get("replace_by"))
            and p.battery_days is not None,
            f"{p.name}: {p.battery_days} days left from its own past batteries "
            f"(past_batteries {p.battery.get('past_batteries')}, source {p.battery.get('source')}, "
            f"replace by {p.battery.get('replace_by')})",
        )
    if (p := shown(owner_devices.DIED_HIGH)) is not None:
        verdict.expect(
            p.battery.get("battery_reading") == "died_high"
            and as_number(p.battery.get("died_at_level")) == owner_devices.DIED_AT_LEVEL,
            f"{p.name}: battery reading {p.battery.get('battery_reading')}, "
            f"died at {p.battery.get('died_at_level')} %",
        )
    if (p := shown(owner_devices.RECHARGES_NIGHTLY)) is not None:
        verdict.expect(
            p.battery_days is None and p.failure_type != "battery_depleted" and not p.at_risk,
            f"{p.name} (charged nightly): days remaining {p.battery_days}, failure type {p.failure_type}",
        )
    if (p := shown(owner_devices.ATTRIBUTE_BATTERY)) is not None:
        verdict.expect(
            p.battery_days is not None and p.failure_type == "battery_depleted",
            f"{p.name} (battery_level attribute only): {p.failure_type}, "
            f"{p.battery_days if p.battery_days is None else round(p.battery_days, 1)} days left",
        )
    if (p := shown(owner_devices.WEAKENING_LINK)) is not None:
        verdict.expect(p.link_trend == "weakening", f"{p.name}: link quality trend {p.link_trend}")
