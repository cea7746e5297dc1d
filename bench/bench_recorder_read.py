"""Recorder read speed: `read_history` against a raw sqlite3 fetch of the same rows.

Builds (once, cached under /tmp) a SQLite recorder database in Home Assistant's
current schema, created from HA's own `db_schema` models: thousands of
zigbee2mqtt/ESPHome-style entities, a few million state rows over the 10-day
purge window, a year of hourly statistics for some numeric sensors, restarts
and Battery Notes events. Then times (a) a raw `sqlite3` fetch of the same
state and statistics rows, (b) `read_history` (plan, chunks, assembly) and
(c) the feature extraction that follows it in the nightly run: the hourly
grid and one feature row per device per day (`build_grid`, `build_features`).

    .venv/bin/python bench/bench_recorder_read.py [--quick] [--repeats N] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _common import figure, load_average, machine, now_iso, timed, write_result

from custom_components.homeiq_device_intel.ml.features import FeatureFrame, build_features, default_eval_hours
from custom_components.homeiq_device_intel.ml.grid import build_grid
from custom_components.homeiq_device_intel.ml.recorder.reading import read_history
from custom_components.homeiq_device_intel.ml.recorder.summary import ReadSummary
from custom_components.homeiq_device_intel.ml.records import HomeHistory

TARGET_RATIO = 1.5
# --quick: a smaller database (built once, like the full one) and one timed pair.
QUICK = {"entities": 1000, "rows": 400_000, "stat_entities": 100, "repeats": 1}
END = datetime(2025, 6, 1, tzinfo=UTC).timestamp()
DAY = 86400.0
STATE_DAYS = 10
STAT_DAYS = 365
# Tables filled in bulk: their indexes are built after the rows, not row by row.
BULK_TABLES = ("states", "statistics", "events")
BUILD_CACHE_KIB = 512 * 1024
INSERT_BATCH_ROWS = 1_000_000

# (suffix, domain, device_class, unit, relative report rate, value kind)
TEMPLATES: dict[str, list[tuple[str, str, str | None, str | None, float, str]]] = {
    "motion": [
        ("occupancy", "binary_sensor", "occupancy", None, 3.0, "onoff"),
        ("illuminance_lux", "sensor", "illuminance", "lx", 4.0, "int1000"),
        ("battery", "sensor", "battery", "%", 0.3, "battery"),
        ("linkquality", "sensor", None, "lqi", 2.0, "int255"),
        ("voltage", "sensor", "voltage", "mV", 0.5, "millivolt"),
    ],
    "climate": [
        ("temperature", "sensor", "temperature", "°C", 3.0, "temperature"),
        ("humidity", "sensor", "humidity", "%", 3.0, "humidity"),
        ("pressure", "sensor", "pressure", "hPa", 2.0, "pressure"),
        ("battery", "sensor", "battery", "%", 0.3, "battery"),
        ("linkquality", "sensor", None, "lqi", 2.0, "int255"),
        ("voltage", "sensor", "voltage", "mV", 0.5, "millivolt"),
    ],
    "plug": [
        ("", "switch", "outlet", None, 0.5, "onoff"),
        ("power", "sensor", "power", "W", 40.0, "power"),
        ("energy", "sensor", "energy", "kWh", 5.0, "energy"),
        ("linkquality", "sensor", None, "lqi", 2.0, "int255"),
        ("last_seen", "sensor", "timestamp", None, 2.0, "timestamp"),
    ],
    "esphome": [
        ("temperature", "sensor", "temperature", "°C", 3.0, "temperature"),
        ("wifi_signal", "sensor", "signal_strength", "dBm", 1.0, "rssi"),
        ("status", "binary_sensor", "connectivity", None, 0.05, "onoff"),
        ("uptime", "sensor", "duration", "s", 1.0, "int1000000"),
    ],
}
MEASUREMENTS = {"temperature", "humidity", "pressure", "battery", "int255", "power", "rssi", "millivolt"}


def _values(kind: str, n: int, rng: np.random.Generator) -> list[str]:
    """State strings of one entity, as HA would record them."""
    walk = np.cumsum(rng.normal(0, 1, n))
    if kind == "onoff":
        return ["on" if v else "off" for v in (np.arange(n) % 2).astype(bool)]
    if kind == "battery":
        return [str(int(v)) for v in np.clip(100 - np.arange(n) * 30 / max(n, 1), 0, 100)]
    if kind == "temperature":
        return [f"{v:.1f}" for v in 21 + walk * 0.1]
    if kind == "humidity":
        return [f"{v:.1f}" for v in np.clip(50 + walk * 0.3, 0, 100)]
    if kind == "pressure":
        return [f"{v:.1f}" for v in 1013 + walk * 0.2]
    if kind == "power":
        return [f"{v:.1f}" for v in np.abs(100 + walk * 5)]
    if kind == "energy":
        return [f"{v:.3f}" for v in np.arange(n) * 0.01 + 100]
    if kind == "rssi":
        return [str(int(v)) for v in np.clip(-60 + walk, -95, -30)]
    if kind == "millivolt":
        return [str(int(v)) for v in 3000 + walk]
    if kind == "timestamp":
        return [f"2025-05-{22 + i * 9 // max(n, 1):02d}T{i % 24:02d}:{i % 60:02d}:00+00:00" for i in range(n)]
    top = int(kind.removeprefix("int"))
    return [str(int(v)) for v in rng.integers(0, top, n)]


def _entities(n_entities: int) -> list[tuple[str, str, str | None, str | None, float, str]]:
    """(entity_id, device, device_class, unit, rate, kind) for about n_entities entities."""
    out = []
    kinds = list(TEMPLATES)
    i = 0
    while len(out) < n_entities:
        kind = kinds[i % len(kinds)]
        device = f"{kind}_{i:04d}"
        for suffix, domain, device_class, unit, rate, value_kind in TEMPLATES[kind]:
            object_id = f"{device}_{suffix}" if suffix else device
            out.append((f"{domain}.{object_id}", device, device_class, unit, rate, value_kind))
        i += 1
    # A few whole-home meters report every couple of seconds: more rows than one chunk.
    for j in range(4):
        out.append((f"sensor.home_meter_{j}_power", f"home_meter_{j}", "power", "W", 0.0, "power"))
    return out


def build_database(path: Path, n_entities: int, n_rows: int, n_stat_entities: int, seed: int) -> None:
    """Create a recorder database in HA's current schema and fill it.

    The bulk tables' indexes are dropped for the inserts and created again, from
    the schema's own SQL, once the rows are in: the same rows and indexes, but
    15 M state rows take minutes, where updating the indexes row by row had
    written a fifth of them after 24 minutes.
    """
    schema_version = _create_schema(path)
    rng = np.random.default_rng(seed)
    entities = _entities(n_entities)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute(f"PRAGMA cache_size=-{BUILD_CACHE_KIB}")
    conn.execute(
        "INSERT INTO schema_changes (schema_version, changed) VALUES (?, ?)",
        (schema_version, "2025-01-01 00:00:00.000000"),
    )
    indexes = _drop_indexes(conn, BULK_TABLES)
    _insert_entity_metadata(conn, entities)
    metadata_ids, stamps, states = _state_history(entities, _row_counts(entities, n_rows), rng)
    _insert_states(conn, metadata_ids, stamps, states, rng)
    _insert_statistics(conn, entities, n_stat_entities, rng)
    _insert_events(conn, rng)
    for sql in indexes:
        conn.execute(sql)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def _drop_indexes(conn: sqlite3.Connection, tables: Sequence[str]) -> list[str]:
    """Drop the schema's explicit indexes on `tables`; return their CREATE statements."""
    marks = ", ".join("?" * len(tables))
    indexes = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks}) ORDER BY name",
        tuple(tables),
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in indexes]


def _create_schema(path: Path) -> int:
    """Create an empty database at `path` in HA's current schema; return its version."""
    from homeassistant.components.recorder.db_schema import SCHEMA_VERSION, Base
    from sqlalchemy import create_engine

    path.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    return SCHEMA_VERSION


def _insert_entity_metadata(conn: sqlite3.Connection, entities: Sequence[tuple[Any, ...]]) -> None:
    """One states_meta row and one state_attributes row per entity (ids 1..n)."""
    conn.executemany(
        "INSERT INTO states_meta (metadata_id, entity_id) VALUES (?, ?)",
        [(i + 1, e[0]) for i, e in enumerate(entities)],
    )
    conn.executemany(
        "INSERT INTO state_attributes (attributes_id, hash, shared_attrs) VALUES (?, ?, ?)",
        [
            (
                i + 1,
                i,
                json.dumps(
                    {
                        "device_class": e[2],
                        "unit_of_measurement": e[3],
                        "state_class": "measurement" if e[5] in MEASUREMENTS else None,
                        "friendly_name": e[0].split(".")[1].replace("_", " "),
                    }
                ),
            )
            for i, e in enumerate(entities)
        ],
    )


def _row_counts(entities: Sequence[tuple[Any, ...]], n_rows: int) -> npt.NDArray[np.int64]:
    """(n_entities,) state rows per entity: by rate, the four whole-home meters last with many each."""
    busy = 4
    meter_rows = min(n_rows // 20, 150_000)
    rates = np.array([e[4] for e in entities[:-busy]])
    counts = np.maximum(1, (rates / rates.sum() * (n_rows - busy * meter_rows)).astype(np.int64))
    return np.concatenate([counts, np.full(busy, meter_rows)])


def _state_history(
    entities: Sequence[tuple[Any, ...]], counts: npt.NDArray[np.int64], rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.object_]]:
    """(n,) metadata ids, timestamps and states (str objects) of every entity's rows, ~1 % unavailable."""
    t0 = END - STATE_DAYS * DAY
    meta, times, states = [], [], []
    for i, (entity, count) in enumerate(zip(entities, counts.tolist(), strict=True)):
        values = np.array(_values(entity[5], count, rng), dtype=object)
        down = rng.random(count)
        values[down < 0.012] = "unknown"
        values[down < 0.01] = "unavailable"
        meta.append(np.full(count, i + 1))
        times.append(np.sort(rng.uniform(t0, END, count)))
        states.append(values)
    return np.concatenate(meta), np.concatenate(times), np.concatenate(states)


def _insert_states(
    conn: sqlite3.Connection,
    metadata_ids: npt.NDArray[np.int64],
    stamps: npt.NDArray[np.float64],
    states: npt.NDArray[np.object_],
    rng: np.random.Generator,
) -> None:
    """Insert the state rows in time order, 30 % with a later last_reported, each with a context id."""
    order = np.argsort(stamps, kind="stable")
    reported = np.where(
        rng.random(stamps.shape[0]) < 0.3, stamps + rng.uniform(1, 600, stamps.shape[0]), np.nan
    )
    context = rng.bytes(16 * stamps.shape[0])
    for first in range(0, order.shape[0], INSERT_BATCH_ROWS):
        rows = order[first : first + INSERT_BATCH_ROWS]
        last_reported = reported[rows].astype(object)
        last_reported[np.isnan(reported[rows])] = None
        ids = metadata_ids[rows].tolist()
        contexts = [context[16 * k : 16 * k + 16] for k in range(first, first + rows.shape[0])]
        conn.executemany(
            "INSERT INTO states (state, last_updated_ts, last_reported_ts, metadata_id, attributes_id, "
            "context_id_bin, origin_idx) VALUES (?, ?, ?, ?, ?, ?, 0)",
            zip(
                states[rows].tolist(),
                stamps[rows].tolist(),
                last_reported.tolist(),
                ids,
                ids,
                contexts,
                strict=True,
            ),
        )


def _insert_statistics(
    conn: sqlite3.Connection,
    entities: Sequence[tuple[Any, ...]],
    n_stat_entities: int,
    rng: np.random.Generator,
) -> None:
    """Hourly statistics (a random walk) for the first `n_stat_entities` measurement entities."""
    numeric = [i for i, e in enumerate(entities) if e[5] in MEASUREMENTS][:n_stat_entities]
    conn.executemany(
        "INSERT INTO statistics_meta (id, statistic_id, source, unit_of_measurement, has_mean, "
        "has_sum, name, mean_type) VALUES (?, ?, 'recorder', ?, NULL, 0, NULL, 1)",
        [(k + 1, entities[i][0], entities[i][3]) for k, i in enumerate(numeric)],
    )
    hours = (END // 3600) * 3600 - 3600 * np.arange(STAT_DAYS * 24)[::-1]

    created, starts = (hours + 3600 + 10).tolist(), hours.tolist()
    for k in range(len(numeric)):
        mean = 50 + np.cumsum(rng.normal(0, 0.5, hours.shape[0]))
        conn.executemany(
            "INSERT INTO statistics (created_ts, metadata_id, start_ts, mean, min, max) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            zip(
                created,
                repeat(k + 1),
                starts,
                mean.tolist(),
                (mean - 1.0).tolist(),
                (mean + 1.0).tolist(),
            ),
        )


def _insert_events(conn: sqlite3.Connection, rng: np.random.Generator) -> None:
    """Start events, 20 battery replacements and 50,000 service calls with their types and data."""
    conn.executemany(
        "INSERT INTO event_types (event_type_id, event_type) VALUES (?, ?)",
        [(1, "homeassistant_start"), (2, "battery_notes_battery_replaced"), (3, "call_service")],
    )
    conn.executemany(
        "INSERT INTO event_data (data_id, hash, shared_data) VALUES (?, ?, ?)",
        [(1, 1, '{"domain":"light","service":"turn_on"}')]
        + [(2 + k, 2 + k, json.dumps({"device_id": f"dev{k}", "source_entity_id": None})) for k in range(20)],
    )
    events = [(1, None, float(t)) for t in np.linspace(END - STAT_DAYS * DAY, END, 12)]
    events += [(2, 2 + k, float(END - (k + 1) * 5 * DAY)) for k in range(20)]
    events += [(3, 1, float(t)) for t in rng.uniform(END - STATE_DAYS * DAY, END, 50_000)]
    conn.executemany(
        "INSERT INTO events (event_type_id, data_id, time_fired_ts, origin_idx) VALUES (?, ?, ?, 0)", events
    )


def raw_fetch(path: Path, start: float, end: float) -> int:
    """Fetch the same state and statistics rows with plain sqlite3 and no conversion."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT metadata_id, last_updated_ts, state, last_reported_ts FROM states "
        "WHERE last_updated_ts >= ? AND last_updated_ts < ? ORDER BY metadata_id, last_updated_ts",
        (start, end),
    ).fetchall()
    stats = conn.execute(
        "SELECT metadata_id, start_ts, mean, min, max FROM statistics "
        "WHERE start_ts >= ? AND start_ts < ? ORDER BY metadata_id, start_ts",
        (start, end),
    ).fetchall()
    conn.close()
    return len(rows) + len(stats)


def reader(path: Path, start: float, end: float, chunk_rows: int, summary: ReadSummary) -> HomeHistory:
    """Read the same window with read_history."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return read_history(
            lambda sql, params: conn.execute(sql, params),
            start=start,
            end=end,
            chunk_rows=chunk_rows,
            summary=summary,
        )
    finally:
        conn.close()


def extract_features(history: HomeHistory, end: float) -> FeatureFrame:
    """The nightly run's next step: hourly grid, then a feature row per device per day."""
    grid = build_grid(history, end=end)
    return build_features(history, grid, default_eval_hours(grid))


def timed_read(
    path: Path, start: float, end: float, chunk_rows: int
) -> tuple[tuple[float, float], HomeHistory]:
    """(wall, cpu) seconds of one read_history call, and what it read."""
    wall, cpu = time.perf_counter(), time.process_time()
    history = reader(path, start, end, chunk_rows, ReadSummary())
    return (time.perf_counter() - wall, time.process_time() - cpu), history


def figures(
    ratio: float, features_ratio: float, raw_s: float, read_s: float, total_s: float
) -> list[dict[str, Any]]:
    """Summary rows: read and read + features, each against the raw sqlite3 fetch."""
    return [
        figure(
            "Recorder read (read_history) vs raw sqlite3 fetch of the same rows",
            read_s,
            "s",
            baseline=raw_s,
            baseline_label="raw sqlite3 fetchall, same run",
            target=f"<= {TARGET_RATIO}x",
            met=ratio <= TARGET_RATIO,
            note=f"median of per-pair ratios {ratio:.2f}x",
        ),
        figure(
            "Recorder read + hourly grid + daily features vs raw sqlite3 fetch",
            total_s,
            "s",
            baseline=raw_s,
            baseline_label="raw sqlite3 fetchall, same run",
            target=f"<= {TARGET_RATIO}x",
            met=features_ratio <= TARGET_RATIO,
            note=f"median of per-pair ratios {features_ratio:.2f}x",
        ),
    ]


def main() -> None:
    """Build (or reuse) the database, time raw fetch, read_history and features, write the result."""
    args = _parse_args()
    path = _database(args)
    start, end = END - STAT_DAYS * DAY, END
    load_before = load_average()
    n_rows = raw_fetch(path, start, end)  # also warms the page cache
    summary = ReadSummary()
    extract_features(reader(path, start, end, args.chunk_rows, summary), end)
    runs = _alternating_runs(path, start, end, args.chunk_rows, args.repeats)
    medians = _medians(runs)
    print(
        f"{summary.entities} entities, {summary.state_rows:,} state rows, "
        f"{summary.statistics_rows:,} statistics rows (raw fetch {n_rows:,} rows), "
        f"chunk_rows={args.chunk_rows:,}, median of {args.repeats} alternating runs"
    )
    _print_table(medians, runs, n_rows)
    report = {
        "created": now_iso(),
        "database": {
            "schema": "Home Assistant current (db_schema.Base.metadata.create_all)",
            "size_mb": round(path.stat().st_size / 1e6, 1),
            "entities": summary.entities,
            "state_rows": summary.state_rows,
            "statistics_rows": summary.statistics_rows,
            "restarts": summary.restarts,
            "battery_swaps": summary.battery_swaps,
        },
        "chunk_rows": args.chunk_rows,
        "repeats": args.repeats,
        **medians,
        "runs_wall_cpu_s": runs,
        "load_average_1min": {"before": load_before, "after": load_average()},
        "machine": machine(),
        "figures": figures(
            medians["ratio"],
            medians["features_ratio"],
            medians["raw_fetch_s"],
            medians["read_history_s"],
            medians["read_and_features_s"],
        ),
    }
    print(f"wrote {write_result('recorder_read', report)}")


def _parse_args() -> argparse.Namespace:
    """The command line, with --quick's smaller sizes applied."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--entities", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--stat-entities", type=int, default=300)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--quick", action="store_true", help=f"smaller database and one pair: {QUICK}")
    args = parser.parse_args()
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    return args


def _database(args: argparse.Namespace) -> Path:
    """The benchmark database for these sizes, built unless it exists (or --rebuild)."""
    path: Path = args.db or Path(
        f"/tmp/homeiq_bench_recorder_{args.entities}_{args.rows}_{args.stat_entities}.db"
    )
    if args.rebuild or not path.exists():
        print(f"building {path} ...", flush=True)
        begin = time.perf_counter()
        build_database(path, args.entities, args.rows, args.stat_entities, seed=0)
        print(f"built in {time.perf_counter() - begin:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")
    return path


def _alternating_runs(
    path: Path, start: float, end: float, chunk_rows: int, repeats: int
) -> dict[str, list[tuple[float, float]]]:
    """(wall, cpu) seconds of raw fetch, read_history and features, alternated `repeats` times."""
    # Alternate the two so that load from other processes hits both alike.
    raw_runs, read_runs, feature_runs = [], [], []
    for _ in range(repeats):
        raw_runs.append(timed(lambda: raw_fetch(path, start, end)))
        read, history = timed_read(path, start, end, chunk_rows)
        read_runs.append(read)
        feature_runs.append(timed(lambda h=history: extract_features(h, end)))
        del history
    return {"raw_fetch": raw_runs, "read_history": read_runs, "features": feature_runs}


def _medians(runs: dict[str, list[tuple[float, float]]]) -> dict[str, float]:
    """Median wall and CPU seconds of each case and median per-pair ratios to the raw fetch."""
    raw_runs, read_runs, feature_runs = runs["raw_fetch"], runs["read_history"], runs["features"]
    raw_s, read_s, features_s = (
        statistics.median(r[0] for r in case) for case in (raw_runs, read_runs, feature_runs)
    )
    raw_cpu, read_cpu, features_cpu = (
        statistics.median(r[1] for r in case) for case in (raw_runs, read_runs, feature_runs)
    )
    pairs = list(zip(raw_runs, read_runs, feature_runs, strict=True))
    return {
        "raw_fetch_s": raw_s,
        "read_history_s": read_s,
        "features_s": features_s,
        "read_and_features_s": statistics.median(b[0] + c[0] for _, b, c in pairs),
        "raw_fetch_cpu_s": raw_cpu,
        "read_history_cpu_s": read_cpu,
        "features_cpu_s": features_cpu,
        # Medians of per-pair ratios: wall time, CPU time, (read + features) / raw.
        "ratio": statistics.median(b[0] / a[0] for a, b, _ in pairs),
        "cpu_ratio": statistics.median(b[1] / a[1] for a, b, _ in pairs),
        "features_ratio": statistics.median((b[0] + c[0]) / a[0] for a, b, c in pairs),
        "features_cpu_ratio": statistics.median((b[1] + c[1]) / a[1] for a, b, c in pairs),
    }


def _print_table(m: dict[str, float], runs: dict[str, list[tuple[float, float]]], n_rows: int) -> None:
    """Print wall and CPU seconds, CPU ns per row and ratios of the three cases."""
    total_cpu = statistics.median(
        b[1] + c[1] for b, c in zip(runs["read_history"], runs["features"], strict=True)
    )
    print(f"{'case':<30} {'wall s':>8} {'cpu s':>8} {'cpu ns/row':>11} {'wall ratio':>11} {'cpu ratio':>10}")
    for label, wall, cpu, wall_ratio, ratio_cpu in (
        ("raw sqlite3 fetchall", m["raw_fetch_s"], m["raw_fetch_cpu_s"], 1.0, 1.0),
        ("read_history", m["read_history_s"], m["read_history_cpu_s"], m["ratio"], m["cpu_ratio"]),
        (
            "  + grid + daily features",
            m["read_and_features_s"],
            total_cpu,
            m["features_ratio"],
            m["features_cpu_ratio"],
        ),
    ):
        print(
            f"{label:<30} {wall:>8.3f} {cpu:>8.3f} {cpu / n_rows * 1e9:>11.0f} "
            f"{wall_ratio:>11.2f} {ratio_cpu:>10.2f}"
        )


if __name__ == "__main__":
    main()
