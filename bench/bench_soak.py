"""A month in a test Home Assistant: per-night memory and wall time of the integration.

Runs the soak scenario of `tests/integration/test_soak.py` (the real recorder on SQLite,
hourly scorings, nightly training, devices added, renamed, removed, re-paired
and excluded, options changed, a reload mid-training, a recorder purge) for
31 simulated days and 20 devices (`--quick`: the test's 12 days and 5
devices), in a pytest subprocess of the project's own environment. The test
writes one row per night (traced Python memory without the harness's log
records and mocks, RSS, wall time of the hour that trained); this script
reports them beside baselines from the same run:

- traced memory of the last week's nights against the first week's (after the
  warm-up night of the first full training run);
- RSS after the last night against RSS after the first night (RSS includes the
  in-memory SQLite recorder database, which grows with every state written);
- the mean nightly wall time of the last week against the first week's.

    .venv/bin/python bench/bench_soak.py [--quick] [--days 31] [--devices 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import mean
from typing import Any

from _common import ROOT, figure, load_average, machine, now_iso, write_result

MIB = 1024 * 1024
# As tests/integration/test_soak.py: the options flow (switching to full training) is on day
# round(days * 0.08); the nights up to the one after it are the warm-up.
OPTIONS_FRACTION = 0.08


def run_soak(days: int, devices: int) -> dict[str, Any]:
    """Run the soak test with these sizes and return its per-night report."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "soak.json"
        env = {
            **os.environ,
            "HOMEIQ_SOAK_DAYS": str(days),
            "HOMEIQ_SOAK_DEVICES": str(devices),
            "HOMEIQ_SOAK_REPORT": str(report),
        }
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/integration/test_soak.py",
        ]
        done = subprocess.run(command, cwd=ROOT, env=env, check=False, capture_output=True, text=True)
        print(done.stdout[-2000:])
        if not report.exists():
            raise SystemExit(f"the soak wrote no report (exit code {done.returncode})")
        result = json.loads(report.read_text(encoding="utf-8"))
        result["passed"] = done.returncode == 0
        return result


def figures(soak: dict[str, Any]) -> list[dict[str, Any]]:
    """Summary rows: memory growth and nightly wall time, first week against last."""
    days = soak["days"]
    nights = soak["nights"]
    warm = [n for n in nights if n["day"] > max(1, round(days * OPTIONS_FRACTION)) + 1]
    week = min(7, max(1, len(warm) // 3))
    trained = [n for n in nights if n["outcome"] != "cancelled"]
    first_traced = mean(n["traced_bytes"] for n in warm[:week]) / MIB
    last_traced = mean(n["traced_bytes"] for n in warm[-week:]) / MIB
    first_rss, last_rss = nights[0]["rss_bytes"] / MIB, nights[-1]["rss_bytes"] / MIB
    first_wall = mean(n["wall_s"] for n in trained[:week])
    last_wall = mean(n["wall_s"] for n in trained[-week:])
    label = f"{days} days, {soak['devices']} devices"
    return [
        figure(
            f"Soak ({label}): traced Python memory, last {week} nights",
            last_traced,
            "MiB",
            baseline=first_traced,
            baseline_label=f"first {week} nights after the warm-up, same run",
            target="growth < 2 MiB",
            met=last_traced - first_traced < 2.0,
            note=f"growth {1024 * (last_traced - first_traced):.0f} KiB; soak test "
            f"{'passed' if soak['passed'] else 'FAILED'}",
        ),
        figure(
            f"Soak ({label}): RSS after the last night",
            last_rss,
            "MiB",
            baseline=first_rss,
            baseline_label="RSS after the first night, same run",
            note="includes the in-memory SQLite recorder database and the test harness's records",
        ),
        figure(
            f"Soak ({label}): wall time of the hour that trained, last {week} nights",
            last_wall,
            "s",
            baseline=first_wall,
            baseline_label=f"first {week} nights, same run",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="the test's 12 days and 5 devices")
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--devices", type=int, default=None)
    args = parser.parse_args()
    days = args.days or (12 if args.quick else 31)
    devices = args.devices or (5 if args.quick else 20)
    load = load_average()
    soak = run_soak(days, devices)
    for night in soak["nights"]:
        print(
            f"night {night['day']:2d}: {night['outcome']:<13} {night['wall_s']:6.2f} s  "
            f"traced {night['traced_bytes'] / MIB:7.2f} MiB  RSS {night['rss_bytes'] / MIB:7.1f} MiB"
        )
    rows = figures(soak)
    for row in rows:
        print(f"{row['figure']}: {row['value']:.2f} {row['unit']} (baseline {row['baseline']:.2f})")
    result = {
        "created": now_iso(),
        "machine": machine(),
        "load_average_1min_before": load,
        "soak": soak,
        "figures": rows,
    }
    print(f"wrote {write_result('soak', result)}")
    return 0 if soak["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
