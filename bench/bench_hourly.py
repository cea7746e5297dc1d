"""Hourly scoring from new rows only vs a full re-read of the 45-day window, same run, alternating.

For each size, a recorder database in HA's current schema (bench_recorder_read's
builder: about 3 entities per device, 10 days of states, a year of hourly
statistics for a tenth of them). A scoring at hour h is: read the window
(`read_history`, whole or new rows joined with `ml.recorder.window.advance`),
`home_grid`, `score_home` with the shipped bundle. The kept path is first
filled by a full read, then moved on by one hour (its rows copied into row
buffers, as `KeptHistory` keeps them; timed apart); then each pair scores the
same moment both ways, in alternating order, and checks both give identical
predictions.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

from _common import figure, load_average, machine, now_iso, write_result
from bench_recorder_read import DAY, END, build_database

from custom_components.homeiq_device_intel.ml.bundle import load_bundle
from custom_components.homeiq_device_intel.ml.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from custom_components.homeiq_device_intel.ml.recorder.buffers import RowBuffers
from custom_components.homeiq_device_intel.ml.recorder.planning import CatalogCache
from custom_components.homeiq_device_intel.ml.recorder.reading import read_history
from custom_components.homeiq_device_intel.ml.recorder.window import (
    advance,
    read_start,
    statistics_read_start,
)
from custom_components.homeiq_device_intel.ml.records import HomeHistory
from custom_components.homeiq_device_intel.ml.scoring import SCORING_WINDOW_DAYS, home_grid, score_home

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "custom_components" / "homeiq_device_intel" / "models"
HOUR = 3600.0


def _query(path: Path) -> Any:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    return lambda sql, params: conn.execute(sql, params)


def _incremental(
    query: Any,
    kept: HomeHistory,
    now: float,
    window: float,
    kept_with: tuple[CatalogCache, RowBuffers],
    bundle: Any,
) -> tuple[HomeHistory, list[Any], tuple[float, float, float]]:
    """Score at `now` from the kept window and new rows only; the times of read, grid and score.

    `kept_with`: what `KeptHistory` keeps beside the window, the catalog's selection and the row buffers.
    """
    catalog, buffers = kept_with
    began = time.perf_counter()
    stats_since = statistics_read_start(kept)
    new = read_history(query, start=read_start(kept), end=now, catalog=catalog, statistics_start=stats_since)
    history = advance(kept, new, start=now - window, buffers=buffers, statistics_start=stats_since)
    assert history is not None
    read = time.perf_counter()
    grid = home_grid(history, now=now)
    gridded = time.perf_counter()
    scored = score_home(history, bundle, now=now, grid=grid)
    return history, scored, (read - began, gridded - read, time.perf_counter() - gridded)


def main() -> None:
    """Time hourly scoring from new rows only against a full re-read, per size; write the result."""
    args = _parse_args()
    bundle = load_bundle(
        SHIPPED, expected_feature_names=FEATURE_NAMES, expected_schema_version=FEATURE_SCHEMA_VERSION
    )
    load_before = load_average()
    figures, details = [], []
    for n_devices in args.devices:
        n_entities = 3 * n_devices
        n_rows = args.rows_per_entity * n_entities
        path = Path(f"/tmp/homeiq_bench_hourly_{n_entities}_{n_rows}.db")
        if not path.exists():
            print(f"building {path} ...", flush=True)
            build_database(path, n_entities, n_rows, n_entities // 10, seed=0)
        runs = _alternating_pairs(_query(path), bundle, args.pairs)
        figures.append(_hourly_figure(n_devices, n_entities, n_rows, runs))
        details.append({"devices": n_devices, **runs})
    write_result(
        "hourly",
        {
            "created": now_iso(),
            "machine": machine(),
            "load_average_1min_before": load_before,
            "figures": figures,
            "runs": details,
        },
    )


def _parse_args() -> argparse.Namespace:
    """The command line, with --quick's single size and two pairs applied."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--rows-per-entity", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200 devices, 2 pairs")
    args = parser.parse_args()
    if args.quick:
        args.devices, args.pairs = [200], 2
    return args


def _alternating_pairs(query: Any, bundle: Any, pairs: int) -> dict[str, list[float]]:
    """Seconds of `pairs` hourly full re-reads and new-rows-only runs, alternating which goes first.

    As KeptHistory: the full read lists the catalog and fills the kept window; the first hour
    after it copies the kept rows into row buffers (timed apart, `first_new_s`), and the hours
    measured are the ones after, which copy only their new rows.
    """
    first = END - 2 * DAY + 17 * 60.0
    window = SCORING_WINDOW_DAYS * DAY
    catalog, buffers = CatalogCache(), RowBuffers()
    kept = read_history(query, start=first - window, end=first, catalog=catalog)
    runs: dict[str, list[float]] = {
        key: []
        for key in (
            "full_s",
            "new_s",
            "read_full_s",
            "read_new_s",
            "grid_new_s",
            "score_new_s",
            "first_new_s",
        )
    }
    began = time.perf_counter()
    kept, _, _ = _incremental(query, kept, first + HOUR, window, (catalog, buffers), bundle)
    runs["first_new_s"].append(time.perf_counter() - began)
    for k in range(1, pairs + 1):
        now = first + (k + 1) * HOUR
        order = ("full", "new") if k % 2 else ("new", "full")
        for which in order:
            began = time.perf_counter()
            if which == "full":
                t0 = time.perf_counter()
                history_full = read_history(query, start=now - window, end=now)
                runs["read_full_s"].append(time.perf_counter() - t0)
                scored_full = score_home(history_full, bundle, now=now, grid=home_grid(history_full, now=now))
                runs["full_s"].append(time.perf_counter() - began)
            else:
                kept_next, scored_new, steps = _incremental(
                    query, kept, now, window, (catalog, buffers), bundle
                )
                runs["read_new_s"].append(steps[0])
                runs["grid_new_s"].append(steps[1])
                runs["score_new_s"].append(steps[2])
                runs["new_s"].append(time.perf_counter() - began)
        assert scored_new == scored_full, "new rows only must score as a full re-read"
        kept = kept_next
    assert catalog.hits == pairs + 1, "the hourly reads reuse the catalog's selection"
    return runs


def _hourly_figure(
    n_devices: int, n_entities: int, n_rows: int, runs: dict[str, list[float]]
) -> dict[str, Any]:
    """Print one size's medians and return its figure: new rows only against the full re-read."""
    full_m, new_m = statistics.median(runs["full_s"]), statistics.median(runs["new_s"])
    read_full_m, read_new_m = statistics.median(runs["read_full_s"]), statistics.median(runs["read_new_s"])
    grid_m, score_m = statistics.median(runs["grid_new_s"]), statistics.median(runs["score_new_s"])
    print(
        f"{n_devices} devices: full {full_m:.3f} s (read {read_full_m:.3f}), "
        f"new rows {new_m:.3f} s (read {read_new_m:.3f}, grid {grid_m:.3f}, score {score_m:.3f})"
    )
    return figure(
        f"Hourly scoring, {n_devices:,} devices: new rows only (read + grid + score)",
        new_m,
        "s",
        baseline=full_m,
        baseline_label="full re-read of the 45-day window, same moment, alternating",
        target="<= 0.10x",
        met=new_m <= 0.1 * full_m,
        note=f"reading alone {read_new_m:.3f} s vs {read_full_m:.3f} s "
        f"({read_new_m / read_full_m:.2f}x), then grid {grid_m:.3f} s, score {score_m:.3f} s; "
        f"first hour after a full read (kept rows copied into row buffers) {runs['first_new_s'][0]:.3f} s; "
        f"predictions identical; {n_entities:,} entities, {n_rows / 1e6:.1f} M state rows",
    )


if __name__ == "__main__":
    main()
