"""Failure scenarios: which family a device gets, its precursors, outages and the ground truth.

A failing device gets a family, an onset, a precursor strength and lead time,
and maybe a recovery; the family becomes silences, unavailable episodes, drops,
signal dips or a stuck value. Healthy devices get background dropouts and
decoys; some mains devices, failing or not, blink unavailable for minutes
several times a day or week all their life (chronically flaky); bridges take
their devices down together. `_finalize` resolves the silences into HA's view
and `_failure_events` records what happened.
"""

from __future__ import annotations

import math

import numpy as np

from custom_components.homeiq_device_intel.ml.records import (
    Chemistry,
    FailureEvent,
    FailureType,
    Power,
    Protocol,
)

from .arrays import FloatArray, _floats, _intervals, _pick, _shift_out, _spans, _times_between, _union
from .config import DAY, DECOY_OUTAGE, DECOY_STALE, DEFAULT_SCENARIO_WEIGHTS, HOUR, MINUTE, GeneratorConfig
from .plans import _REPLAY_WINDOW, _Device, _Failure, _Home

# Chronically flaky devices (healthy or not): share of the mains devices that can go
# unavailable, their dropouts per day (log-uniform) and the longest dropout.
FLAKY_SHARE = 0.2
FLAKY_PER_DAY = (0.3, 4.0)
FLAKY_LONGEST = 50 * MINUTE
# The last precursor dropout of intermittent dropouts and signal decay (log-uniform), seconds.
PRECURSOR_LAST = (10 * MINUTE, 4 * HOUR)
# Failures that may come at any time of the recorded history, its first days included: its
# start is when the recorder began keeping it, not when the device was new, and the labels know
# an outage of 6 h for a failure from a device's first hour. The other families wait for a quarter
# of the history: what shows them (an unusual silence or stillness, a battery that dies silently)
# needs the device's usual rhythm first.
ANYTIME_FAMILIES = frozenset({"sudden_death", "intermittent_dropouts", "flapping", "signal_decay"})


def _eligible_families(dev: _Device) -> list[str]:
    """Return the failure families that make sense for a device."""
    families: list[str] = []
    chem = dev.model.chemistry
    if chem in (Chemistry.COIN, Chemistry.LITHIUM):
        families.append("battery_cliff")
    if chem in (Chemistry.ALKALINE, Chemistry.LI_ION, Chemistry.NIMH):
        families.append("battery_slope")
    if dev.timeout is not None:
        families += ["sudden_death", "intermittent_dropouts", "flapping"]
        if dev.has_signal:
            families.append("signal_decay")
    else:
        families.append("stale")
    if dev.kind in ("temperature", "trv", "thermostat"):
        families.append("stuck_value")
    return families


def _assign_failure(dev: _Device, home: _Home, config: GeneratorConfig) -> None:
    """Maybe give a device a failure family, with its onset, precursor and recovery."""
    rng, var = dev.rng, home.var
    roll = rng.random()
    families = _eligible_families(dev)
    weights = DEFAULT_SCENARIO_WEIGHTS if config.scenario_weights is None else config.scenario_weights
    w = [float(weights.get(f, 0.0)) for f in families]
    if dev.bridge or roll >= config.failure_rate or sum(w) <= 0:
        return
    family = _pick(rng, families, w)
    t0, t1 = dev.t_create, home.end
    span = t1 - t0
    margin = max(0.5 * DAY, 0.03 * span)
    earliest = t0 + (margin if family in ANYTIME_FAMILIES else 0.25 * span)
    latest = t1 - margin
    if latest <= earliest:
        return  # too short a history to fail in
    onset = float(rng.uniform(earliest, latest))
    if rng.random() < var.no_precursor_fraction:
        strength = 0.0
    else:
        strength = 1.0 - (1.0 - float(rng.beta(2.0, 2.0))) ** var.precursor_strength
    lead = float(rng.lognormal(math.log(var.lead_time_days * DAY), var.lead_time_spread))
    lead = float(np.clip(lead, 2 * HOUR, max(onset - t0 - HOUR, 2 * HOUR)))
    timeout = dev.timeout or 0.0
    revive_chance = {"battery_cliff": 0.6, "battery_slope": 0.6, "stuck_value": 0.3}.get(family, 0.3)
    if family in ("intermittent_dropouts", "signal_decay"):
        revive_chance = 0.6
    if rng.random() < revive_chance:
        down = max(float(rng.lognormal(math.log(2.5 * DAY), 0.9)), timeout + 2 * HOUR)
        recovery = onset + down
    else:
        recovery = math.inf
    dev.scenario = family
    # A sudden death has no warning sign in its history whatever its strength; the
    # families whose signs are a random number of dropouts move this in _add_failure.
    sign = onset - lead if strength > 0 and family != "sudden_death" else math.nan
    dev.failure = _Failure(
        family=family, onset=onset, strength=strength, lead=lead, recovery=recovery, first_sign=sign
    )


def _plan_timeline(dev: _Device, home: _Home) -> None:
    """Lay out when a device is silent, unavailable, drops reports or drifts."""
    rng, var = dev.rng, home.var
    t0, t1 = dev.t_create, home.end
    days = (t1 - t0) / DAY
    # Background dropouts: mostly minutes; weak links drop more often.
    weak = 1.0
    if dev.has_signal:
        base = dev.params["signal_base"]
        weak += 3.0 / (1.0 + math.exp(((base - 60.0) / 15.0) if base > 0 else (base + 80.0) / 3.0))
    proto = {Protocol.WIFI: 1.5, Protocol.BLE: 2.0, Protocol.ZWAVE: 0.8}.get(dev.info.protocol, 1.0)
    n = int(rng.poisson(0.02 * var.dropout_rate * proto * weak * days))
    starts = rng.uniform(t0, t1, n)
    lengths = np.clip(rng.lognormal(math.log(240.0), 1.0, n), 20.0, HOUR)
    dev.silences.extend(_spans(starts, starts + lengths))
    if not dev.bridge and dev.failure is None and rng.random() < 0.08 * var.decoy_rate:
        _add_decoy(dev, home)
    if _can_blink(dev) and rng.random() < FLAKY_SHARE * var.flaky_rate:
        _add_chronic_dropouts(dev, home)
    failure = dev.failure
    if failure is not None:
        _add_failure(dev, home, failure)


def _add_decoy(dev: _Device, home: _Home) -> None:
    """Give a healthy device a precursor-like episode that resolves on its own.

    The truth lists it from its first sign to its last, as the look-alike of the failure
    type the same warnings end in on this device: `decoy_unavailable` for dropouts, a
    signal dip or flapping on a device HA marks unavailable, `decoy_stale` for reports
    thinning out, or for dropouts and a dip on a device it never marks unavailable (its
    failures are stale, `_failure_events`). Never a failure: only what the oracle study
    asks of a model that saw every warning-like episode but not which ones end in one.
    """
    rng = dev.rng
    t0, t1 = dev.t_create, home.end
    center = float(rng.uniform(t0 + 0.1 * (t1 - t0), t1))
    span = float(rng.uniform(1.0, 5.0)) * DAY
    choice = int(rng.integers(4))
    kind = DECOY_OUTAGE if dev.timeout is not None else DECOY_STALE
    if choice == 0 or (choice == 3 and dev.timeout is None):
        n = int(rng.integers(3, 12))
        starts = center + rng.uniform(0.0, span, n)
        lengths = rng.lognormal(math.log(300.0), 0.8, n)
        first, last = float(starts.min()), float((starts + lengths).max())
        dev.silences.extend(_spans(starts, starts + lengths))
    elif choice == 1 and dev.has_signal:
        depth = float(rng.uniform(0.3, 0.8)) * _signal_depth(dev)
        recovered = center + span + rng.uniform(1.0, 5.0) * DAY
        first, last = center, float(recovered)
        dev.dips.append((center, center + span, depth, recovered))
    elif choice == 3:
        episodes = _flap_episodes(rng, center, center + float(rng.uniform(10.0, 120.0)) * MINUTE)
        first, last = episodes[0][0], max(b for _, b in episodes)
        dev.direct_unavailable.extend(episodes)
        dev.silences.extend(episodes)
    else:
        knots_t = np.array([center, center + span / 2, center + span])
        dev.drops.append((knots_t, np.array([0.0, float(rng.uniform(0.2, 0.6)), 0.0])))
        kind, first, last = DECOY_STALE, center, center + span
    if first < t1:
        did = dev.info.device_key
        dev.events.append(
            FailureEvent(device_key=did, kind=kind, start=first, end=min(last, t1), warning=first)
        )


def _can_blink(dev: _Device) -> bool:
    """Whether a device can blink unavailable for minutes: mains devices HA watches, not bridges.

    A battery end device is marked unavailable only after its long timeout, never for a minute.
    """
    return not dev.bridge and dev.timeout is not None and dev.info.power is Power.MAINS


def _add_chronic_dropouts(dev: _Device, home: _Home) -> None:
    """Give a device frequent short dropouts from first to last day, whether or not it fails.

    Real homes have Wi-Fi plugs and routers that blink `unavailable` for a minute
    or two several times a week for years and never fail. Without them, "many
    dropouts" alone would look like a failure coming; with them, only dropouts
    that grow against the device's own rate do (issue 12).
    """
    rng = dev.rng
    t0, t1 = dev.t_create, home.end
    per_day = float(np.exp(rng.uniform(math.log(FLAKY_PER_DAY[0]), math.log(FLAKY_PER_DAY[1]))))
    n = int(rng.poisson(per_day * (t1 - t0) / DAY))
    starts = rng.uniform(t0, t1, n)
    median = float(rng.uniform(1.0, 10.0)) * MINUTE
    lengths = np.clip(rng.lognormal(math.log(median), 0.7, n), 20.0, FLAKY_LONGEST)
    episodes = _spans(starts, starts + lengths)
    dev.direct_unavailable.extend(episodes)
    dev.silences.extend(episodes)


def _signal_depth(dev: _Device) -> float:
    """Return how far a failing link's signal falls (dB for RSSI, units for LQI)."""
    if dev.info.protocol is Protocol.ZIGBEE:
        return float(dev.rng.uniform(40.0, 120.0))
    return float(dev.rng.uniform(8.0, 25.0))


def _flap_episodes(rng: np.random.Generator, lo: float, hi: float) -> list[tuple[float, float]]:
    """Return short unavailable episodes alternating with short available spells."""
    off_median = float(rng.uniform(30.0, 180.0))
    on_median = float(rng.uniform(60.0, 900.0))
    n = int((hi - lo) / (off_median + on_median) * 2.0) + 4
    off = rng.lognormal(math.log(off_median), 0.6, n)
    on = rng.lognormal(math.log(on_median), 0.8, n)
    starts = lo + np.concatenate([[0.0], np.cumsum(off + on)[:-1]])
    keep = starts < hi
    return _spans(starts[keep], (starts + off)[keep])


def _skewed_times(rng: np.random.Generator, n: int, lo: float, hi: float) -> FloatArray:
    """Return n sorted times in [lo, hi], denser towards hi."""
    result: FloatArray = np.sort(lo + (hi - lo) * np.sqrt(rng.random(n)))
    return result


def _add_failure(dev: _Device, home: _Home, failure: _Failure) -> None:
    """Turn a failure family into silences, unavailability, drifts and drops."""
    rng = dev.rng
    onset, strength, lead, recovery = failure.onset, failure.strength, failure.lead, failure.recovery
    end = min(recovery, home.end)
    family = failure.family
    if family in ("battery_cliff", "battery_slope", "sudden_death"):
        dev.silences.append((onset, end))
    elif family == "stale":
        dev.silences.append((onset, end))
        knots_t = np.array([onset - lead, onset, onset + 1.0])
        dev.drops.append((knots_t, np.array([0.0, 0.85 * strength, 0.0])))
    elif family in ("intermittent_dropouts", "signal_decay"):
        scale = 30.0 if family == "intermittent_dropouts" else 10.0
        n = int(rng.poisson(strength * rng.uniform(3.0, scale)))
        starts = _skewed_times(rng, n, onset - lead, onset)
        growth = (starts - (onset - lead)) / lead
        # Dropouts grow from a few minutes to a last length anywhere from 10 min to 4 h.
        first = float(rng.uniform(1.0, 5.0)) * MINUTE
        last = float(np.exp(rng.uniform(math.log(PRECURSOR_LAST[0]), math.log(PRECURSOR_LAST[1]))))
        lengths = rng.lognormal(np.log(first * (last / first) ** growth), 0.6)
        dev.silences.extend(_spans(starts, starts + lengths))
        dev.silences.append((onset, end))
        if family == "signal_decay":
            dev.dips.append((onset - lead, onset, _signal_depth(dev) * max(strength, 0.05), end))
        elif strength > 0:
            # Dropouts are these failures' only sign: none drawn, none to see.
            failure.first_sign = float(starts[0]) if n else math.nan
    elif family == "flapping":
        stop = onset + float(np.clip(rng.lognormal(math.log(8 * HOUR), 1.0), HOUR, 4 * DAY))
        stop = min(stop, home.end)
        episodes = _flap_episodes(rng, onset, stop)
        n = int(rng.poisson(strength * rng.uniform(2.0, 12.0)))
        starts = _skewed_times(rng, n, onset - lead, onset)
        lengths = rng.uniform(30.0, 240.0, n)
        episodes += _spans(starts, starts + lengths)
        if strength > 0:
            # The flapping itself warns of the long outage after it (_failure_events).
            failure.first_sign = float(starts[0]) if n else math.nan
        dev.direct_unavailable.extend(episodes)
        dev.silences.extend(episodes)
        failure.extra = stop
        if math.isfinite(recovery):
            failure.recovery = math.inf  # flapping settles down without a long outage
        elif stop < home.end:
            long_end = stop + max(float(rng.lognormal(math.log(2 * DAY), 0.8)), 3 * HOUR)
            dev.silences.append((stop, min(long_end, home.end)))
            dev.direct_unavailable.append((stop, min(long_end, home.end)))
            failure.recovery = long_end
    elif family == "stuck_value":
        hold = float(rng.uniform(2.0, 8.0)) * HOUR
        dev.stuck = (onset - lead, onset, strength, recovery, hold)


def _plan_bridge_outages(devices: list[_Device], home: _Home) -> None:
    """Take bridges down for a while: all their devices go unavailable together."""
    windows_lo, windows_hi = home.restarts - home.downtime, home.restarts + _REPLAY_WINDOW
    for bridge in (d for d in devices if d.bridge):
        rng = bridge.rng
        per_day = {"router": 1 / 90, "border_router": 1 / 75}.get(bridge.kind, 1 / 60)
        days = (home.end - home.start) / DAY
        n = int(rng.poisson(per_day * days * home.var.bridge_outage_rate))
        if bridge.kind == "router":
            lengths = np.clip(rng.lognormal(math.log(40 * MINUTE), 1.0, n), 5 * MINUTE, DAY)
        else:
            lengths = np.clip(rng.lognormal(math.log(2.5 * HOUR), 0.9, n), 15 * MINUTE, 2 * DAY)
        starts = _shift_out(_times_between(rng, home.start + DAY, home.end - HOUR, n), windows_lo, windows_hi)
        ends = _shift_out(np.minimum(starts + lengths[: starts.size], home.end), windows_lo, windows_hi)
        lo, hi = _union(starts, np.minimum(ends, home.end))
        if lo.size == 0:
            continue
        bridge.scenario = "bridge_outage"
        if bridge.kind == "router":
            members = [d for d in devices if d.info.protocol is Protocol.WIFI and not d.bridge]
        elif bridge.kind == "border_router":
            members = [d for d in devices if d.info.protocol is Protocol.THREAD and not d.bridge]
        else:
            members = [d for d in devices if d.info.via_device_key == bridge.info.device_key]
        for a, b in _spans(lo, hi):
            bridge.own_outages.append((a, b))
            bridge.events.append(
                FailureEvent(device_key=bridge.info.device_key, kind="bridge_outage", start=a, end=b)
            )
            for member in members:
                if member.t_create >= a:
                    continue
                if bridge.kind == "router":
                    delay = float(rng.uniform(0.0, min(member.timeout or 120.0, 120.0)))
                else:
                    delay = float(rng.uniform(0.0, 3.0))
                back = b + float(rng.uniform(5.0, 90.0))
                member.silences.append((a + delay, back))
                member.direct_unavailable.append((a + delay, back))
                member.bridge_backs.append(back)


def _finalize(dev: _Device, home: _Home) -> None:
    """Resolve silences into HA's view: unavailable after the timeout, or stale."""
    t0, t1 = dev.t_create, home.end
    lo, hi = _intervals(dev.silences)
    lo, hi = _union(np.maximum(lo, t0), np.minimum(hi, t1))
    derived_lo: FloatArray = np.empty(0)
    derived_hi: FloatArray = np.empty(0)
    if dev.timeout is not None:
        long = hi - lo > dev.timeout
        derived_lo, derived_hi = lo[long] + dev.timeout, hi[long]
    d_lo, d_hi = _intervals(dev.direct_unavailable)
    u_lo = np.concatenate([derived_lo, np.maximum(d_lo, t0)])
    u_hi = np.concatenate([derived_hi, np.minimum(d_hi, t1)])
    windows_lo, windows_hi = home.restarts - home.downtime, home.restarts + _REPLAY_WINDOW
    u_lo, u_hi = _union(u_lo, u_hi)
    u_lo, u_hi = _union(_shift_out(u_lo, windows_lo, windows_hi), _shift_out(u_hi, windows_lo, windows_hi))
    dev.unavailable = (u_lo, u_hi)
    dev.silent = _union(np.concatenate([lo, u_lo]), np.concatenate([hi, u_hi]))


def _failure_events(dev: _Device, home: _Home) -> None:
    """Record the ground truth of a device's failure, consistent with its rows."""
    failure = dev.failure
    events = dev.events
    did = dev.info.device_key
    end = home.end
    for t in _floats(dev.swaps):
        events.append(FailureEvent(device_key=did, kind="swap", start=t, end=t))
    if failure is None:
        return
    onset, family = failure.onset, failure.family
    recovery = min(failure.recovery, end)
    warning = None if math.isnan(failure.first_sign) else failure.first_sign

    def failed(kind: str, start: float, stop: float, warn: float | None = warning) -> None:
        events.append(FailureEvent(device_key=did, kind=kind, start=start, end=stop, warning=warn))

    def availability(at: float, timeout: float | None, warn: float | None = warning) -> None:
        if timeout is None:
            failed(FailureType.STALE.value, at, recovery, warn)
            return
        lo, hi = dev.unavailable
        probe = at + timeout + 20 * MINUTE
        idx = int(np.searchsorted(lo, probe, side="right")) - 1
        if idx >= 0 and probe < hi[idx]:
            start, stop = float(lo[idx]), float(hi[idx])
        else:
            start, stop = at + timeout, recovery
        failed(FailureType.UNAVAILABLE.value, start, stop, warn)

    if family in ("battery_cliff", "battery_slope"):
        failed(FailureType.BATTERY_DEPLETED.value, onset, recovery)
        availability(onset, dev.timeout)
    elif family in ("sudden_death", "intermittent_dropouts", "signal_decay"):
        availability(onset, dev.timeout)
    elif family == "stale":
        failed(FailureType.STALE.value, onset, recovery)
    elif family == "stuck_value":
        failed("stuck", onset, recovery)
    elif family == "flapping":
        failed("flapping", onset, failure.extra)
        if math.isfinite(failure.recovery) and failure.extra < end:
            # The long outage is marked at once; the flapping before it is its warning.
            availability(failure.extra, 0.0, onset if warning is None else warning)
