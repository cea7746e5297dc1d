"""One feature row per device per evaluation hour, from the hourly grid.

The single definition of every feature, shared by offline training and the
integration's inference. Missing data is NaN, never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from .grid import F32, Channel, HourlyGrid, bridge_groups
from .recharge import charged_daily, rechargeable_prior, recharges_routinely
from .records import Chemistry, HomeHistory, Power, Protocol
from .routine_outages import offline_routinely, switched_off_prior
from .windows import (
    DAY,
    Counts,
    TrailingSlopes,
    completed_joined_runs,
    completed_runs,
    latest_true,
    prefix_sums,
    run_lengths,
    unusual_limit,
    usual_longest,
    window_sums,
)

FEATURE_SCHEMA_VERSION = 4
BATTERY_FLOOR = 5.0  # % at which a battery counts as empty
LINEAR_DAYS_CAP = 365.0
# Devices per pass of build_features: it holds some 30 (devices, hours) float64
# temporaries, so 64 devices over 120 days take ~50 MB at any home size.
FEATURE_BLOCK_DEVICES = 64

FEATURE_NAMES: tuple[str, ...] = (
    "battery_level",
    "battery_delta_24h",
    "battery_slope_3d",
    "battery_slope_7d",
    "battery_slope_14d",
    "battery_slope_30d",
    "battery_curvature_7d",
    "battery_days_linear",
    "battery_low_flag",
    "days_since_swap",
    "has_battery",
    "has_telemetry",
    "chemistry",
    "power",
    "protocol",
    "reports_24h",
    "reports_baseline",
    "reports_ratio_24h",
    "hours_since_report",
    "silence_ratio",
    "silence_vs_usual",
    "changes_24h",
    "changes_ratio_24h",
    "hours_since_change",
    "stillness_vs_usual",
    "unavailable_hours_24h",
    "unavailable_hours_7d",
    "drops_24h",
    "drops_7d",
    "drops_trend",
    "longest_unavailable_7d",
    "hours_unavailable_now",
    "signal_level",
    "signal_delta_7d",
    "signal_slope_7d",
    "temperature_level",
    "voltage_level",
    "voltage_slope_7d",
    "bridge_down_24h",
    "bridge_down_7d",
    "bridge_peers",
    "age_days",
    # Per-device normalised and short-vs-long trend features (schema 2).
    "reports_z_24h",
    "reports_ratio_3d",
    "silent_hours_3d",
    "still_3d_vs_14d",
    "drops_3d",
    "drops_1d_vs_6d",
    "battery_days_linear_min",
    "battery_drop_30d",
    "battery_hours_since_change",
    # Outage trends and the last week against the device's own past (schema 3), computed
    # over the whole home at once by `own_rate_features`, not per block of devices.
    "outage_growth",
    "outage_slope",
    "drops_7d_vs_own",
    "unavailable_7d_vs_own",
    "own_drop_rate",
    # Schema 4: the last three days against the device's own past, short dropouts included
    # (a chronically flaky device blinks at its usual rate; a failing one blinks longer).
    "drops_3d_vs_own",
    "outage_length_vs_own",
)
# Features `_block_features` computes (the rest need every device of the home).
BLOCK_FEATURE_NAMES = FEATURE_NAMES[: FEATURE_NAMES.index("outage_growth")]
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
# What a device is, rather than how it behaves: known even before its first record.
STATIC_FEATURES = frozenset(
    {"has_battery", "has_telemetry", "chemistry", "power", "protocol", "bridge_peers"}
)

# Columns unknown on the rows of a device that recharges routinely (`build_features`): its battery's.
RECHARGED_UNREAD = np.array(
    [
        i
        for i, name in enumerate(FEATURE_NAMES)
        if name not in STATIC_FEATURES and name.startswith(("battery_", "days_since_swap", "voltage_"))
    ],
    dtype=np.intp,
)

CHEMISTRY_CODE = {
    Chemistry.UNKNOWN: np.nan,
    Chemistry.NONE: 0.0,
    Chemistry.COIN: 1.0,
    Chemistry.LITHIUM: 2.0,
    Chemistry.ALKALINE: 3.0,
    Chemistry.LI_ION: 4.0,
    Chemistry.NIMH: 5.0,
}
# What Home Assistant tells of a device's power: a battery, or nothing (the registry says no more;
# `discovery` reads BATTERY or UNKNOWN). Mains and rechargeable, which the generator and the
# registry-less recorder reader know, are coded as a live home shows them.
POWER_CODE = {Power.UNKNOWN: np.nan, Power.MAINS: np.nan, Power.BATTERY: 1.0, Power.RECHARGEABLE: 1.0}
PROTOCOL_CODE = {
    Protocol.UNKNOWN: np.nan,
    Protocol.ZIGBEE: 0.0,
    Protocol.ZWAVE: 1.0,
    Protocol.WIFI: 2.0,
    Protocol.BLE: 3.0,
    Protocol.THREAD: 4.0,
}


@dataclass(slots=True, kw_only=True)
class FeatureFrame:
    """Feature rows: X is float64 (n_rows, n_features), rows ordered device-major."""

    X: npt.NDArray[np.float64]
    device_index: npt.NDArray[np.int64]  # (n_rows,) row of the device in the grid
    eval_hour: npt.NDArray[np.int64]  # (n_rows,) grid hour the row describes (exclusive)
    device_keys: list[str]
    feature_names: tuple[str, ...] = FEATURE_NAMES
    # (n_rows,) the device recharged routinely before the row's hour (`recharge`): no depletion.
    recharging: npt.NDArray[np.bool_] | None = None
    # (n_rows,) the device went offline routinely before the row's hour (`routine_outages`).
    off_routinely: npt.NDArray[np.bool_] | None = None
    # (n_devices, m) each: `outage_trends` (growth, slope) behind the outage_growth and
    # outage_slope columns, before they are blanked where the device was not seen yet.
    outage_trends: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None

    def depletion_applies(self) -> npt.NDArray[np.bool_]:
        """(n_rows,) rows where a depleted battery can be predicted (labels and scoring agree).

        A battery device whose level (or battery-low flag) we read, unless it
        recharges routinely (`recharge`): a phone charged every night is never
        "depleting".
        """
        readable = np.isfinite(self.column("battery_level")) | (self.column("battery_low_flag") > 0)
        applies: npt.NDArray[np.bool_] = (self.column("has_battery") > 0) & readable
        if self.recharging is not None:
            applies &= ~self.recharging
        return applies

    def outage_applies(self) -> npt.NDArray[np.bool_]:
        """(n_rows,) rows where going offline is a failure to predict (labels and scoring agree).

        Every device, unless it goes offline routinely (`routine_outages`): a TV
        switched off at the wall every night is not failing.
        """
        if self.off_routinely is None:
            return np.ones(self.X.shape[0], dtype=bool)
        applies: npt.NDArray[np.bool_] = ~self.off_routinely
        return applies

    def column(self, name: str) -> npt.NDArray[np.float64]:
        """Return one feature column."""
        return self.X[:, FEATURE_INDEX[name]]


def normalise_signal(signal: F32) -> F32:
    """Map RSSI (dBm, negative) and LQI (0..255) onto one 0..1 link-quality scale."""
    rssi = np.clip((signal + 100.0) / 70.0, 0.0, 1.0)
    lqi = np.clip(signal / 255.0, 0.0, 1.0)
    return np.where(signal < 0, rssi, lqi).astype(np.float32)


def _static_codes(history: HomeHistory, device_keys: list[str]) -> dict[str, npt.NDArray[np.float64]]:
    """Per-device categorical codes (NaN where unknown)."""
    info = {d.device_key: d for d in history.devices}
    chem = np.full(len(device_keys), np.nan)
    power = np.full(len(device_keys), np.nan)
    proto = np.full(len(device_keys), np.nan)
    for i, device_key in enumerate(device_keys):
        d = info.get(device_key)
        if d is None:
            continue
        chem[i] = CHEMISTRY_CODE.get(d.chemistry, np.nan)
        power[i] = POWER_CODE.get(d.power, np.nan)
        proto[i] = PROTOCOL_CODE.get(d.protocol, np.nan)
    return {"chemistry": chem, "power": power, "protocol": proto}


def default_eval_hours(grid: HourlyGrid, *, every: int = DAY) -> npt.NDArray[np.int64]:
    """Evaluation points at the end of each whole day of the grid."""
    return np.arange(every, grid.n_hours + 1, every, dtype=np.int64)


def build_features(history: HomeHistory, grid: HourlyGrid, eval_hours: npt.NDArray[np.int64]) -> FeatureFrame:
    """Compute the feature matrix for every device at every evaluation hour.

    eval_hours: int64 (m,), each in [1, n_hours]; a row at hour e sees only
    grid hours < e. Returns n_devices * m rows, device-major. Every feature but
    bridge_peers reads its own device only, so devices are computed
    FEATURE_BLOCK_DEVICES at a time, which bounds the temporaries.
    """
    ends = np.asarray(eval_hours, dtype=np.int64)
    n, m = len(grid.device_keys), ends.shape[0]
    groups = bridge_groups(history, grid.device_keys)
    peers = np.bincount(groups)[groups].astype(np.float64) - 1.0
    X = np.empty((n * m, len(FEATURE_NAMES)))
    for lo in range(0, n, FEATURE_BLOCK_DEVICES):
        hi = min(lo + FEATURE_BLOCK_DEVICES, n)
        X[lo * m : hi * m, : len(BLOCK_FEATURE_NAMES)] = _block_features(
            history, _device_rows(grid, lo, hi), ends, peers[lo:hi]
        )
    trends = _fill_home_features(X, history, grid, ends)
    recharging = recharges_routinely(
        grid["battery"],
        ends,
        rechargeable_prior(history, grid.device_keys),
        charged_daily(history, grid.device_keys),
    ).reshape(-1)
    # A device that recharges routinely: its battery says nothing of it failing, so no model reads
    # it, in training as in scoring (a phone at 24 % in the evening is charged every night).
    X[np.ix_(recharging, RECHARGED_UNREAD)] = np.nan
    return FeatureFrame(
        X=X,
        device_index=np.repeat(np.arange(n, dtype=np.int64), m),
        eval_hour=np.tile(ends, n),
        device_keys=list(grid.device_keys),
        recharging=recharging,
        off_routinely=offline_routinely(
            grid["unavailable"], ends, switched_off_prior(history, grid.device_keys)
        ).reshape(-1),
        outage_trends=trends,
    )


def _device_rows(grid: HourlyGrid, lo: int, hi: int) -> HourlyGrid:
    """The grid of devices lo..hi-1 (views, no copies)."""
    return replace(
        grid,
        device_keys=grid.device_keys[lo:hi],
        channels={name: channel[lo:hi] for name, channel in grid.channels.items()},
        has_battery=grid.has_battery[lo:hi],
        first_seen=grid.first_seen[lo:hi],
        swap_hours=grid.swap_hours[lo:hi],
        bridge_down=grid.bridge_down[lo:hi],
        telemetry=None if grid.telemetry is None else grid.telemetry[lo:hi],
        numeric_primary=None if grid.numeric_primary is None else grid.numeric_primary[lo:hi],
    )


TREND_DAYS = 14  # days of a device's own history its recent days are compared with


def _daily_mean_std(
    counts: Counts, ends: npt.NDArray[np.int64], first_seen: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mean and std of the daily sums of the TREND_DAYS whole days before the last day."""
    sums, seen = [], []
    for k in range(TREND_DAYS):
        e = ends - DAY - k * DAY
        sums.append(counts.window(np.maximum(e, 0), DAY))
        seen.append((e - DAY)[None, :] >= first_seen[:, None])
    v, ok = np.stack(sums), np.stack(seen)
    count = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count >= 3, (v * ok).sum(axis=0) / count, np.nan)
        var = np.where(count >= 3, ((v - mean) ** 2 * ok).sum(axis=0) / np.maximum(count - 1, 1), np.nan)
    return mean, np.sqrt(var)


def _trailing_max(
    values: npt.NDArray[np.float64], ends: npt.NDArray[np.int64], hours: int
) -> npt.NDArray[np.float64]:
    """NaN-ignoring maximum over [end - hours, end) per row: (n, m), NaN where all are NaN.

    Blocks of a day hold their maxima, so each window reads at most two partial
    days hour by hour and the whole days between from the block maxima.
    """
    n, width = values.shape
    n_blocks = -(-width // DAY)
    padded = np.full((n, n_blocks * DAY), -np.inf)
    padded[:, :width] = np.where(np.isfinite(values), values, -np.inf)
    block_max = padded.reshape(n, n_blocks, DAY).max(axis=2)
    out = np.full((n, ends.shape[0]), -np.inf)
    for j, end in enumerate(int(e) for e in ends):
        lo, hi = max(end - hours, 0), min(end, width)
        if hi <= lo:
            continue
        first_whole, last_whole = -(-lo // DAY), hi // DAY
        if first_whole < last_whole:
            out[:, j] = np.maximum(
                block_max[:, first_whole:last_whole].max(axis=1),
                np.maximum(
                    padded[:, lo : first_whole * DAY].max(axis=1, initial=-np.inf),
                    padded[:, last_whole * DAY : hi].max(axis=1, initial=-np.inf),
                ),
            )
        else:
            out[:, j] = padded[:, lo:hi].max(axis=1)
    out[~np.isfinite(out)] = np.nan
    return out


def _behaviour_trends(
    grid: HourlyGrid, ends: npt.NDArray[np.int64], counts: dict[str, Counts]
) -> dict[str, npt.NDArray[np.float64]]:
    """Reports, silence, stillness and drops of the last days against the device's own two weeks.

    `counts`: the block's hourly reports, drops, silent and still hours.
    """
    cols: dict[str, npt.NDArray[np.float64]] = {}
    reports = counts["reports"]
    mean, std = _daily_mean_std(reports, ends, grid.first_seen)
    day = reports.window(ends, DAY)
    cols["reports_z_24h"] = (day - mean) / (std + 0.5 + 0.1 * np.fmax(mean, 0.0) ** 0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["reports_ratio_3d"] = reports.window(ends, 3 * DAY) / 3.0 / np.maximum(mean, 0.1)
    cols["silent_hours_3d"] = counts["silent"].window(ends, 3 * DAY)
    still = counts["still"]
    before = still.window(np.maximum(ends - 3 * DAY, 0), TREND_DAYS * DAY)
    cols["still_3d_vs_14d"] = (still.window(ends, 3 * DAY) + 0.5) / (before * 3.0 / TREND_DAYS + 0.5)
    drops = counts["drops"]
    cols["drops_3d"] = drops.window(ends, 3 * DAY)
    previous = drops.window(np.maximum(ends - DAY, 0), 6 * DAY)
    cols["drops_1d_vs_6d"] = (drops.window(ends, DAY) + 0.5) / (previous / 6.0 + 0.5)
    return cols


def _battery_outlooks(
    grid: HourlyGrid,
    ends: npt.NDArray[np.int64],
    battery: npt.NDArray[np.float64],
    known: dict[str, npt.NDArray[np.float64]],
) -> dict[str, npt.NDArray[np.float64]]:
    """The most pessimistic days to empty, the 30-day drop and the hours since the level moved.

    `known`: the block's features so far (battery level and slopes are reused).
    """
    last = ends - 1
    level = known["battery_level"]
    first = grid.first_seen
    cols: dict[str, npt.NDArray[np.float64]] = {}
    # Days to empty by every slope at hand (least squares over 3..30 days, mean daily
    # step over 7 and 14 days ignoring swaps): the most pessimistic one.
    slopes = [known[f"battery_slope_{days}d"] for days in (3, 7, 14, 30)]
    slopes += _mean_daily_steps(battery, last, first)
    outlooks = []
    for slope in slopes:
        with np.errstate(invalid="ignore", divide="ignore"):
            days_left = np.where(slope < -1e-3, (level - BATTERY_FLOOR) / -slope, LINEAR_DAYS_CAP)
        outlooks.append(np.clip(days_left, 0.0, LINEAR_DAYS_CAP))
    cols["battery_days_linear_min"] = np.min(np.stack(outlooks), axis=0)
    cols["battery_drop_30d"] = _trailing_max(battery, ends, 30 * DAY) - level
    moved = np.zeros(battery.shape, dtype=bool)
    moved[:, 1:] = np.abs(np.diff(np.nan_to_num(battery, nan=-1.0), axis=1)) > 0
    last_move = latest_true(moved, last)
    age_hours = np.maximum(ends[None, :] - first[:, None], 0).astype(np.float64)
    cols["battery_hours_since_change"] = np.where(last_move >= 0, last - last_move, age_hours).astype(
        np.float64
    )
    return cols


def _mean_daily_steps(
    battery: npt.NDArray[np.float64], last: npt.NDArray[np.int64], first: npt.NDArray[np.int64]
) -> list[npt.NDArray[np.float64]]:
    """Mean day-to-day level change over the last 7 and 14 days, rises (swaps) left out: (n, m) each."""
    steps = []
    for k in range(14):
        a = battery[:, np.maximum(last - k * DAY, 0)]
        b = battery[:, np.maximum(last - (k + 1) * DAY, 0)]
        seen = (last - (k + 1) * DAY)[None, :] >= first[:, None]
        step = np.where(seen, a - b, np.nan)
        step[step > 5.0] = np.nan  # a swap or a recharge, not a drain
        steps.append(step)
    stacked = np.stack(steps)
    means = []
    for days in (7, 14):
        part = stacked[:days]
        count = np.isfinite(part).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append(np.where(count > 0, np.nansum(part, axis=0) / count, np.nan))
    return means


def _block_features(
    history: HomeHistory, grid: HourlyGrid, ends: npt.NDArray[np.int64], peers: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Feature rows (n_devices * m, n_features) of the grid's devices; peers: bridge peers per device."""
    m = ends.shape[0]
    age_hours = np.maximum(ends[None, :] - grid.first_seen[:, None], 0).astype(np.float64)
    base_hours = np.clip(age_hours - DAY, 0, 14 * DAY)
    battery = grid["battery"].astype(np.float64)
    cols = _battery_features(grid, ends, battery)
    cols |= _device_features(history, grid, m, peers)
    report_cols, reports, silent = _report_features(grid, ends, age_hours, base_hours)
    change_cols, still = _change_features(grid, ends, age_hours, base_hours)
    availability_cols, drops = _availability_features(grid, ends)
    cols |= report_cols | change_cols | availability_cols | _link_features(grid, ends)
    cols |= _bridge_features(grid, ends)
    cols["age_days"] = age_hours / DAY
    counts = {"reports": reports, "drops": drops, "silent": Counts(silent), "still": Counts(still)}
    # Recent behaviour against the device's own last two weeks, and robust battery outlooks
    # (reusing the battery level and slopes above).
    cols |= _behaviour_trends(grid, ends, counts) | _battery_outlooks(grid, ends, battery, cols)
    # Before a device's first record nothing is known about it.
    return _feature_rows(cols, unseen=age_hours <= 0)


def _battery_features(
    grid: HourlyGrid, ends: npt.NDArray[np.int64], battery: npt.NDArray[np.float64]
) -> dict[str, npt.NDArray[np.float64]]:
    """Battery level, its slopes and linear outlook, the low flag and the days since a swap."""
    last = ends - 1
    cols: dict[str, npt.NDArray[np.float64]] = {}
    slopes = TrailingSlopes(grid["battery"])
    cols["battery_level"] = battery[:, last]
    cols["battery_delta_24h"] = battery[:, last] - battery[:, np.maximum(last - DAY, 0)]
    for days in (3, 7, 14, 30):
        cols[f"battery_slope_{days}d"] = slopes.slope(ends, days * DAY)
    previous_week = slopes.slope(np.maximum(ends - 7 * DAY, 1), 7 * DAY)
    cols["battery_curvature_7d"] = cols["battery_slope_7d"] - previous_week
    falling = np.fmin(cols["battery_slope_7d"], cols["battery_slope_14d"])
    with np.errstate(invalid="ignore", divide="ignore"):
        linear = (cols["battery_level"] - BATTERY_FLOOR) / -falling
    linear = np.where(falling < -1e-3, linear, LINEAR_DAYS_CAP)
    cols["battery_days_linear"] = np.where(
        np.isfinite(cols["battery_level"]), np.clip(linear, 0.0, LINEAR_DAYS_CAP), np.nan
    )
    cols["battery_low_flag"] = grid["battery_low"].astype(np.float64)[:, last]
    cols["days_since_swap"] = _days_since_swap(grid, last)
    return cols


def _days_since_swap(grid: HourlyGrid, last: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Days from each device's latest known swap to each evaluation hour: (n, m), NaN before any."""
    since_swap = np.full((len(grid.device_keys), last.shape[0]), np.nan)
    for i, swaps in enumerate(grid.swap_hours):
        if swaps.size:
            k = np.searchsorted(swaps, last, side="right") - 1
            since_swap[i] = np.where(k >= 0, (last - swaps[np.maximum(k, 0)]) / DAY, np.nan)
    return since_swap


def _device_features(
    history: HomeHistory, grid: HourlyGrid, m: int, peers: npt.NDArray[np.float64]
) -> dict[str, npt.NDArray[np.float64]]:
    """What each device is (the same at every evaluation hour): (n, m) each."""
    cols: dict[str, npt.NDArray[np.float64]] = {}
    cols["has_battery"] = np.repeat(grid.has_battery.astype(np.float64)[:, None], m, axis=1)
    telemetry = np.asarray(grid.telemetry, dtype=np.float64)
    cols["has_telemetry"] = np.repeat(telemetry[:, None], m, axis=1)
    for name, codes in _static_codes(history, grid.device_keys).items():
        cols[name] = np.repeat(codes[:, None], m, axis=1)
    cols["bridge_peers"] = np.repeat(peers[:, None], m, axis=1)
    return cols


def _report_features(
    grid: HourlyGrid,
    ends: npt.NDArray[np.int64],
    age_hours: npt.NDArray[np.float64],
    base_hours: npt.NDArray[np.float64],
) -> tuple[dict[str, npt.NDArray[np.float64]], Counts, npt.NDArray[np.bool_]]:
    """Report counts against the device's baseline, and silence.

    Also returns, for the trend features, the reports' counts and the
    silent hours (no reports while available), (n, H).
    """
    last = ends - 1
    cols: dict[str, npt.NDArray[np.float64]] = {}
    reports = grid["reports"].astype(np.float64)
    counted = Counts(reports)
    cols["reports_24h"] = counted.window(ends, DAY)
    base_sum = counted.window(np.maximum(ends - DAY, 0), 14 * DAY)
    with np.errstate(invalid="ignore", divide="ignore"):
        baseline = np.where(base_hours >= DAY, base_sum / base_hours * DAY, np.nan)
    cols["reports_baseline"] = baseline
    # No baseline yet (under two days of history): no ratio, not a ratio against 0.1.
    cols["reports_ratio_24h"] = cols["reports_24h"] / np.maximum(baseline, 0.1)
    last_report = latest_true(reports > 0, last)
    since_report = np.where(last_report >= 0, last - last_report, age_hours).astype(np.float64)
    cols["hours_since_report"] = since_report
    expected_gap = DAY / np.fmax(baseline, 1.0 / 7.0)
    cols["silence_ratio"] = since_report / expected_gap
    silent, bridged, done = silence_runs(reports, grid["unavailable"], grid.bridge_down)
    usual_silence = usual_longest(done, ends)
    # The silence under way as the labels count it: its bridge's outage hours are not in it.
    since_report_counted = since_report - _bridged_since(bridged, last_report, ends)
    cols["silence_vs_usual"] = since_report_counted / unusual_limit(usual_silence)
    return cols, counted, silent


def _bridged_since(
    bridged: npt.NDArray[np.bool_], last: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Bridge-outage hours (`silent_hours`' second mask) after each `last` hour (n, m), before its end.

    The silence or stillness under way does not count them, as the labels do not.
    """
    return Counts(bridged).between(np.maximum(last + 1, 0), ends)


def silent_hours(
    reports: Channel, unavailable: Channel, bridge_down: Channel
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Hours without a report while available, and those without one while out with its bridge (any shape).

    A device unavailable for most of an hour is down: its own outage ends a silence, as its
    own failure. A bridge outage (`bridge_down`: most of the device's bridge group down that
    hour) marks every device behind it unavailable, and tells nothing of the device: when the
    bridge is back a live device reports again, a dead one does not. Such an hour without a
    report (the second mask) neither ends nor breaks a silence, nor counts in its length
    (`windows.joined_runs`); the features and the labels read silences alike. Stillnesses are
    read by the same rule, of the value's changes (`stillness_runs`).
    """
    no_report = reports == 0
    down = unavailable > 0.5
    silent: npt.NDArray[np.bool_] = no_report & ~down
    bridged: npt.NDArray[np.bool_] = no_report & down & (bridge_down > 0.5)
    return silent, bridged


def silence_runs(
    reports: Channel, unavailable: Channel, bridge_down: Channel
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """`silent_hours` of (n, H) channels, and the silences' lengths where each ends (`completed_joined_runs`).

    The features and the labels read silences with it alike.
    """
    silent, bridged = silent_hours(reports, unavailable, bridge_down)
    return silent, bridged, completed_joined_runs(silent, bridged)


def stillness_runs(
    changes: Channel, unavailable: Channel, bridge_down: Channel
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Still hours, those out with its bridge without a change, and the stillnesses' lengths where each ends.

    A stillness (no change of the main entity's value while available) is read as a silence is
    (`silence_runs` of the changes): a stuck sensor behind a bridge that was out stays stuck
    through the outage (a bridge back restores the value it held, no change), so the outage
    neither ends its stillness nor counts in its length; a device's own outage ends it. The
    features and the labels read stillnesses with it alike.
    """
    return silence_runs(changes, unavailable, bridge_down)


def _change_features(
    grid: HourlyGrid,
    ends: npt.NDArray[np.int64],
    age_hours: npt.NDArray[np.float64],
    base_hours: npt.NDArray[np.float64],
) -> tuple[dict[str, npt.NDArray[np.float64]], npt.NDArray[np.bool_]]:
    """Changes of the main entity against its baseline, and stillness.

    Also returns, for the trend features, the still hours (no changes while
    available), (n, H).
    """
    last = ends - 1
    cols: dict[str, npt.NDArray[np.float64]] = {}
    changes = grid["changes"].astype(np.float64)
    counted = Counts(changes)
    cols["changes_24h"] = counted.window(ends, DAY)
    change_base = counted.window(np.maximum(ends - DAY, 0), 14 * DAY)
    with np.errstate(invalid="ignore", divide="ignore"):
        change_baseline = np.where(base_hours >= DAY, change_base / base_hours * DAY, np.nan)
    cols["changes_ratio_24h"] = cols["changes_24h"] / np.maximum(change_baseline, 0.1)
    last_change = latest_true(changes > 0, last)
    cols["hours_since_change"] = np.where(last_change >= 0, last - last_change, age_hours).astype(np.float64)
    still, bridged, done = stillness_runs(changes, grid["unavailable"], grid.bridge_down)
    usual_still = usual_longest(done, ends)
    # The stillness under way as the labels count it: its bridge's outage hours are not in it
    # (hours_since_change itself keeps them: the hours the value was last seen change).
    since_change_counted = cols["hours_since_change"] - _bridged_since(bridged, last_change, ends)
    cols["stillness_vs_usual"] = since_change_counted / unusual_limit(usual_still)
    return cols, still


def _availability_features(
    grid: HourlyGrid, ends: npt.NDArray[np.int64]
) -> tuple[dict[str, npt.NDArray[np.float64]], Counts]:
    """Unavailable hours, drops and outages; also the drops' counts for the trend features."""
    last = ends - 1
    cols: dict[str, npt.NDArray[np.float64]] = {}
    unav = grid["unavailable"].astype(np.float64)
    p_unav = prefix_sums(unav)
    cols["unavailable_hours_24h"] = window_sums(p_unav, ends, DAY)
    cols["unavailable_hours_7d"] = window_sums(p_unav, ends, 7 * DAY)
    drops = Counts(grid["drops"].astype(np.float64))
    cols["drops_24h"] = drops.window(ends, DAY)
    cols["drops_7d"] = drops.window(ends, 7 * DAY)
    cols["drops_trend"] = cols["drops_7d"] - drops.window(np.maximum(ends - 7 * DAY, 0), 7 * DAY)
    down = unav > 0.5
    run = run_lengths(down)
    cols["hours_unavailable_now"] = run[:, last]
    longest = np.empty((len(grid.device_keys), ends.shape[0]))
    for j, end in enumerate(ends):
        longest[:, j] = run[:, max(end - 7 * DAY, 0) : end].max(axis=1)
    cols["longest_unavailable_7d"] = longest
    return cols, drops


def signal_features(grid: HourlyGrid, ends: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[np.float64]]:
    """Link quality (0..1) at each end, its last day versus the week before, and its 7-day slope per day.

    Each column is (n_devices, m), NaN where the device has no signal reading.
    """
    signal = TrailingSlopes(normalise_signal(grid["signal"]))
    level = normalise_signal(grid["signal"]).astype(np.float64)
    return {
        "signal_level": level[:, ends - 1],
        "signal_delta_7d": signal.mean(ends, DAY) - signal.mean(np.maximum(ends - DAY, 0), 7 * DAY),
        "signal_slope_7d": signal.slope(ends, 7 * DAY),
    }


def _link_features(grid: HourlyGrid, ends: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[np.float64]]:
    """Signal level and trend, temperature, voltage level and slope."""
    last = ends - 1
    cols = signal_features(grid, ends)
    cols["temperature_level"] = grid["temperature"].astype(np.float64)[:, last]
    cols["voltage_level"] = grid["voltage"].astype(np.float64)[:, last]
    cols["voltage_slope_7d"] = TrailingSlopes(grid["voltage"]).slope(ends, 7 * DAY)
    return cols


def _bridge_features(grid: HourlyGrid, ends: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[np.float64]]:
    """Share of the last day and week the device's bridge was down."""
    down = Counts(grid.bridge_down)
    return {
        "bridge_down_24h": down.window(ends, DAY) / DAY,
        "bridge_down_7d": down.window(ends, 7 * DAY) / (7 * DAY),
    }


def _feature_rows(
    cols: dict[str, npt.NDArray[np.float64]], *, unseen: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """The columns (n, m) as rows (n * m, n_block_features), device-major, in BLOCK_FEATURE_NAMES order.

    Behaviour features are NaN where `unseen` (n, m) holds, and so is every non-finite value.
    """
    n, m = unseen.shape
    X = np.empty((n * m, len(BLOCK_FEATURE_NAMES)))
    for j, name in enumerate(BLOCK_FEATURE_NAMES):
        col: npt.NDArray[np.float64] = np.asarray(cols[name], dtype=np.float64)
        if name not in STATIC_FEATURES:
            col = np.where(unseen, np.nan, col)
        X[:, j] = col.reshape(n * m)
    X[~np.isfinite(X)] = np.nan
    return X


# --- Schema 3: outage trends and per-device rates against the device's own past ------------------

OUTAGE_WINDOW_HOURS = 30 * DAY  # outages considered by the duration trend
OUTAGE_SLOPE_LAST = 5  # the duration slope is fitted over the last this many outages
OWN_WINDOW_HOURS = 30 * DAY  # a device's own rate is judged on the month before the last week
RECENT_HOURS = 7 * DAY  # ... against this last week
LATEST_HOURS = 3 * DAY  # ... and against these last three days
LENGTH_FLOOR_HOURS = 0.02  # ~1 minute: keeps the length ratio finite for blinks
PRIOR_HOURS = 7.0 * DAY  # weight of the home's pooled prior, in hours of the device's own history


def outage_trends(
    down: npt.NDArray[np.bool_], ends: npt.NDArray[np.int64], *, window_hours: int = OUTAGE_WINDOW_HOURS
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Are outages getting longer? Two trends of finished outage durations: (n, m) each.

    down: (n_devices, n_hours) True where the device was unavailable; ends: (m,)
    evaluation hours (a row at e sees hours < e). Over the outages that ended in
    the `window_hours` before e:

    - growth: the last outage's duration / the median of the earlier ones;
    - slope: least-squares slope of log(1 + hours) against outage number over
      the last OUTAGE_SLOPE_LAST of them.

    NaN where fewer than two outages ended in the window.
    """
    n, m = down.shape[0], ends.shape[0]
    growth = np.full((n, m), np.nan)
    slope = np.full((n, m), np.nan)
    if down.shape[1] == 0:
        return growth, slope
    done = completed_runs(down)  # duration placed at the first hour back up
    for i in np.flatnonzero((done > 0).sum(axis=1) >= 2):
        at = np.flatnonzero(done[i] > 0)
        hours = done[i, at]
        # Outage k is visible at e once its first hour back up is < e.
        hi = np.searchsorted(at, ends, side="left")
        lo = np.searchsorted(at, ends - window_hours, side="left")
        seen: dict[tuple[int, int], tuple[float, float]] = {}
        for j in np.flatnonzero(hi - lo >= 2):
            key = (int(lo[j]), int(hi[j]))
            if key not in seen:
                d = hours[key[0] : key[1]]
                g = float(d[-1] / np.median(d[:-1]))
                y = np.log1p(d[-OUTAGE_SLOPE_LAST:])
                x = np.arange(y.size, dtype=np.float64)
                x -= x.mean()
                seen[key] = (g, float(np.sum(x * (y - y.mean())) / np.sum(x * x)))
            growth[i, j], slope[i, j] = seen[key]
    return growth, slope


def _pooled(values: npt.NDArray[np.float64], groups: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Per device, the sum of `values` (n, m) over the devices of its group: (n, m)."""
    out = np.zeros((int(groups.max()) + 1 if groups.size else 0, values.shape[1]))
    np.add.at(out, groups, values)
    pooled: npt.NDArray[np.float64] = out[groups]
    return pooled


# A channel's sums over [end - hours, end): (ends, hours) -> (n, m).
_Window = Callable[[npt.NDArray[np.int64], int], npt.NDArray[np.float64]]


def own_rate_features(
    history: HomeHistory, grid: HourlyGrid, ends: npt.NDArray[np.int64]
) -> dict[str, npt.NDArray[np.float64]]:
    """The last week against the device's own past, shrunk toward its home's devices alike: (n, m) each.

    A device's dropout (and unavailable-hour) rate over the month before the last
    week is shrunk toward the pooled rate of the home's devices of its protocol
    (empirical Bayes, the prior weighing PRIOR_HOURS of history), so a device
    that was always flaky is judged against itself and a new one against its
    peers. The ratios compare the last week with that rate (+0.5 on both sides:
    a quiet device with one dropout is not a thousandfold rise).
    """
    codes = _static_codes(history, grid.device_keys)["protocol"]
    _, groups = np.unique(np.nan_to_num(codes, nan=-1.0), return_inverse=True)
    groups = groups.reshape(-1).astype(np.int64)
    unav = grid["unavailable"].astype(np.float64)
    p_unav = prefix_sums(unav)
    sums: dict[str, _Window] = {
        "drops": Counts(grid["drops"].astype(np.float64)).window,
        "unavailable": lambda e, hours: window_sums(p_unav, e, hours),
    }
    past_ends = np.maximum(ends - RECENT_HOURS, 0)
    span = OWN_WINDOW_HOURS - RECENT_HOURS
    hours = _hours_seen(grid.first_seen, past_ends, span)
    out: dict[str, npt.NDArray[np.float64]] = {}
    rates: dict[str, npt.NDArray[np.float64]] = {}
    for name, window in sums.items():
        count = window(past_ends, span)
        with np.errstate(invalid="ignore", divide="ignore"):
            prior = _pooled(count, groups) / np.maximum(_pooled(hours, groups), 1.0)
        rate = (count + PRIOR_HOURS * prior) / (hours + PRIOR_HOURS)
        rates[name] = rate
        recent = window(ends, RECENT_HOURS)
        out[f"{name}_7d_vs_own"] = (recent + 0.5) / (rate * RECENT_HOURS + 0.5)
    out["own_drop_rate"] = rates["drops"] * DAY
    out |= _latest_vs_own(sums, rates, ends)
    growth, slope = outage_trends(unav > 0.5, ends)
    out["outage_growth"] = growth
    out["outage_slope"] = slope
    return out


def _hours_seen(
    first_seen: npt.NDArray[np.int64], ends: npt.NDArray[np.int64], hours: int
) -> npt.NDArray[np.float64]:
    """Hours of [end - hours, end) at or after each device's first record: (n, m)."""
    lo = np.maximum(np.maximum(ends - hours, 0)[None, :], np.maximum(first_seen, 0)[:, None])
    seen: npt.NDArray[np.float64] = np.maximum(ends[None, :] - lo, 0).astype(np.float64)
    return seen


def _latest_vs_own(
    sums: dict[str, _Window],
    rates: dict[str, npt.NDArray[np.float64]],
    ends: npt.NDArray[np.int64],
) -> dict[str, npt.NDArray[np.float64]]:
    """The last LATEST_HOURS against the device's own (shrunk) past rates: (n, m) each.

    - drops_3d_vs_own: dropouts in the last three days over the count its own rate expects
      (+0.5 on both sides, as the weekly ratio);
    - outage_length_vs_own: log of the mean length of those dropouts over the mean length
      of its past ones (own unavailable hours per dropout); NaN without a dropout lately.
    """
    drops = sums["drops"](ends, LATEST_HOURS)
    unavailable = sums["unavailable"](ends, LATEST_HOURS)
    with np.errstate(invalid="ignore", divide="ignore"):
        past_length = rates["unavailable"] / rates["drops"]
        length = unavailable / drops
        ratio = np.log((length + LENGTH_FLOOR_HOURS) / (past_length + LENGTH_FLOOR_HOURS))
    return {
        "drops_3d_vs_own": (drops + 0.5) / (rates["drops"] * LATEST_HOURS + 0.5),
        "outage_length_vs_own": np.where((drops > 0) & np.isfinite(ratio), ratio, np.nan),
    }


def _fill_home_features(
    X: npt.NDArray[np.float64], history: HomeHistory, grid: HourlyGrid, ends: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """Write the columns after BLOCK_FEATURE_NAMES into X (device-major rows).

    NaN before a device's first record, as in `_block_features`. Returns the
    outage trends (growth, slope) as `outage_trends` gave them (None without rows).
    """
    n, m = len(grid.device_keys), ends.shape[0]
    if n == 0 or m == 0:
        return None
    unseen = (ends[None, :] - grid.first_seen[:, None]) <= 0
    columns = own_rate_features(history, grid, ends)
    for name, values in columns.items():
        col = np.where(unseen, np.nan, values).reshape(n * m)
        X[:, FEATURE_INDEX[name]] = np.where(np.isfinite(col), col, np.nan)
    return columns["outage_growth"], columns["outage_slope"]
