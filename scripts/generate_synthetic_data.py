"""Generate synthetic smart-home histories and write them to a folder (JSONL or CSV).

Writes devices, entities (registry metadata with each device's scenario),
state rows, hourly statistics, ground truth and restarts, one file each, plus
`summary.json` (counts, row counts, timings), which it also prints.

    python scripts/generate_synthetic_data.py --homes 20 --days 90 --out build/synthetic
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, cast

from custom_components.homeiq_device_intel.ml.records import HomeHistory
from homeiq_lab.synthetic import (
    GENERATOR_VERSION,
    HOME_TYPES,
    SHIFTED_VARIATION,
    GeneratorConfig,
    Variation,
    generate_homes,
    state_strings,
)

TABLES: dict[str, tuple[str, ...]] = {
    "devices": (
        "home_id", "device_key", "name", "kind", "integration", "protocol", "power",
        "chemistry", "via_device_key", "manufacturer", "model", "area_id", "created", "scenario",
    ),
    "entities": ("home_id", "entity_id", "device_key", "role", "device_class", "unit"),
    "states": ("home_id", "entity_id", "time", "state", "value", "code"),
    "statistics": ("home_id", "entity_id", "start", "mean", "min", "max"),
    "ground_truth": ("home_id", "device_key", "kind", "start", "end", "warning"),
    "restarts": ("home_id", "time"),
}  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--homes", type=int, default=10, help="number of homes")
    parser.add_argument("--days", type=float, default=90.0, help="days of history per home")
    parser.add_argument(
        "--devices", type=int, default=None, help="total devices over all homes (default: by home type)"
    )
    parser.add_argument("--devices-per-home", type=int, nargs=2, metavar=("MIN", "MAX"), default=None)
    parser.add_argument("--failure-rate", type=float, default=0.15)
    parser.add_argument("--home-types", default=",".join(HOME_TYPES), help="comma-separated home types")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--variation", choices=("default", "shifted"), default="default",
        help="'shifted' builds homes unlike the default ones (for evaluation)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    parser.add_argument("--jobs", type=int, default=-1, help="parallel workers (-1: all cores)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    return parser.parse_args(argv)


class TableWriter:
    """Write rows of one table as JSON lines or CSV."""

    def __init__(self, folder: Path, name: str, fmt: str) -> None:
        """Open `<folder>/<name>.<fmt>` and write the CSV header."""
        self.columns = TABLES[name]
        self.fmt = fmt
        self.rows = 0
        self.handle: IO[str] = (folder / f"{name}.{fmt}").open("w", encoding="utf-8", newline="")
        self.csv = csv.writer(self.handle) if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writerow(self.columns)

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        """Write rows (tuples in column order; None and NaN become null/empty)."""
        clean = ([None if _missing(v) else v for v in row] for row in rows)
        if self.csv is not None:
            for row in clean:
                self.csv.writerow(["" if v is None else v for v in row])
                self.rows += 1
            return
        for row in clean:
            self.handle.write(json.dumps(dict(zip(self.columns, row, strict=True))) + "\n")
            self.rows += 1

    def close(self) -> None:
        """Close the file."""
        self.handle.close()


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _enum(value: object) -> object:
    return getattr(value, "value", value)


def home_rows(home: HomeHistory) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """Yield (table, rows) for everything one home holds."""
    hid = home.home_id
    yield "devices", [
        (
            hid, d.device_key, d.name, d.kind, d.integration, _enum(d.protocol), _enum(d.power),
            _enum(d.chemistry), d.via_device_key, d.manufacturer, d.model, d.area_id, d.created,
            home.scenario.get(d.device_key, "healthy"),
        )
        for d in home.devices
    ]  # fmt: skip
    yield (
        "entities",
        [(hid, e.entity_id, e.device_key, _enum(e.role), e.device_class, e.unit) for e in home.entities],
    )
    for info in home.entities:
        series = home.states[info.entity_id]
        strings = state_strings(info, series)
        # tolist gives Python numbers; the casts say the arrays are 1-D, which numpy's stubs cannot know.
        times = cast("list[float]", series.time.tolist())
        values = cast("list[float]", series.value.tolist())
        codes = cast("list[int]", series.code.tolist())
        rows = zip(times, strings, values, codes, strict=True)
        yield "states", [(hid, info.entity_id, t, s, v, c) for t, s, v, c in rows]
    for entity_id, stats in home.statistics.items():
        columns = [cast("list[float]", a.tolist()) for a in (stats.start, stats.mean, stats.min, stats.max)]
        yield "statistics", [(hid, entity_id, *hour) for hour in zip(*columns, strict=True)]
    yield "ground_truth", [(hid, e.device_key, e.kind, e.start, e.end, e.warning) for e in home.ground_truth]
    yield "restarts", [(hid, t) for t in cast("list[float]", home.restarts.tolist())]


def summarize(homes: list[HomeHistory], rows: dict[str, int]) -> dict[str, Any]:
    """Count homes, devices and events by their kinds."""
    devices = [d for h in homes for d in h.devices]
    return {
        "generator_version": GENERATOR_VERSION,
        "homes": len(homes),
        "home_types": dict(Counter(h.home_id.split("-", 1)[0] for h in homes)),
        "devices": len(devices),
        "entities": sum(len(h.entities) for h in homes),
        "device_days": round(sum(len(h.devices) * (h.end - h.start) / 86400.0 for h in homes), 1),
        "devices_by_kind": dict(Counter(d.kind for d in devices).most_common()),
        "devices_by_protocol": dict(Counter(str(_enum(d.protocol)) for d in devices).most_common()),
        "devices_by_chemistry": dict(Counter(str(_enum(d.chemistry)) for d in devices).most_common()),
        "devices_by_integration": dict(Counter(d.integration for d in devices).most_common()),
        "devices_by_scenario": dict(Counter(s for h in homes for s in h.scenario.values()).most_common()),
        "events_by_kind": dict(Counter(e.kind for h in homes for e in h.ground_truth).most_common()),
        "restarts": sum(int(h.restarts.size) for h in homes),
        "rows": rows,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the homes, write the files and print the summary."""
    args = parse_args(argv)
    config = GeneratorConfig(
        n_homes=args.homes,
        days=args.days,
        devices_per_home=tuple(args.devices_per_home) if args.devices_per_home else None,
        n_devices=args.devices,
        home_types=tuple(t.strip() for t in args.home_types.split(",") if t.strip()),
        failure_rate=args.failure_rate,
        seed=args.seed,
        variation=SHIFTED_VARIATION if args.variation == "shifted" else Variation(),
    )
    began = time.perf_counter()
    try:
        homes = generate_homes(
            config, n_jobs=args.jobs, cache_dir=args.cache_dir, progress=sys.stderr.isatty()
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    generated = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    writers = {name: TableWriter(args.out, name, args.format) for name in TABLES}
    try:
        for home in homes:
            for table, rows in home_rows(home):
                writers[table].write(rows)
    finally:
        for writer in writers.values():
            writer.close()
    written = time.perf_counter()
    summary = summarize(homes, {name: w.rows for name, w in writers.items()})
    summary["seconds"] = {
        "generate": round(generated - began, 3),
        "write": round(written - generated, 3),
    }
    summary["config"] = {
        "homes": args.homes,
        "days": args.days,
        "devices": args.devices,
        "failure_rate": args.failure_rate,
        "seed": args.seed,
        "variation": args.variation,
        "format": args.format,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
