"""Offline pipeline: `scripts/prepare_models.py` end to end, against the seed's 60 s target.

Runs the script as a subprocess with its default configuration (or `--quick`)
into a temporary bundle and report directory, with an empty synthetic cache so
that generation is timed too (`--allow-low-quality --no-plots`), and reads
the stage timings from the report it writes. Beside it, in the same run, the
recipe before the default grew to 400 homes (`--homes 200 --eval-homes 12`),
so the cost of the bigger recipe is measured on the same machine at the same time.

    .venv/bin/python bench/bench_pipeline.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, figure, load_average, machine, now_iso, write_result

SEED_TARGET_SECONDS = 60.0
SCRIPT = ROOT / "scripts" / "prepare_models.py"
# The recipe before this release's 400 homes (and 36 with other parameters).
SMALLER_RECIPE = ("--homes", "200", "--eval-homes", "12")


def run_pipeline(quick: bool, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run prepare_models.py once into a temporary folder; return wall time, timings and headline."""
    with tempfile.TemporaryDirectory(prefix="homeiq-bench-pipeline-") as scratch:
        folder = Path(scratch)
        command = [
            sys.executable,
            str(SCRIPT),
            "--out",
            str(folder / "models"),
            "--report",
            str(folder / "report"),
            "--cache-dir",
            str(folder / "cache"),
            "--allow-low-quality",
            "--no-plots",
        ]
        if quick:
            command.append("--quick")
        command.extend(extra)
        began = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - began
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
            raise RuntimeError(f"prepare_models.py exited with {done.returncode}")
        report = json.loads((folder / "report" / "evaluation.json").read_text(encoding="utf-8"))
    return {
        "command": "prepare_models.py " + " ".join(c for c in command[2:] if not c.startswith(scratch)),
        "wall_s": wall,
        "timings": report.get("timings", {}),
        "gate": report.get("gate", {}),
        "parity_max_abs_diff": report.get("parity_max_abs_diff"),
        "dataset_rows": report.get("lineage", {}).get("dataset_rows"),
        "dataset_homes": report.get("lineage", {}).get("dataset_homes"),
        "generator_config": report.get("lineage", {}).get("generator_config"),
    }


def _stages(run: dict[str, Any]) -> str:
    timings = run["timings"]
    stages = ", ".join(
        f"{name.removesuffix('_s')} {timings[name]:.0f} s"
        for name in ("synthetic_s", "recorder_s", "train_s")
        if name in timings
    )
    return f"{stages}; {run['dataset_homes']} homes, {run['dataset_rows']:,} rows"


def figures(run: dict[str, Any], quick: bool, smaller: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Summary rows: total wall time against the seed's 60 s; the 200-home recipe beside it."""
    config = "--quick config" if quick else "default config"
    rows = [
        figure(
            f"Offline pipeline (prepare_models.py, {config}, cold cache): wall time",
            run["wall_s"],
            "s",
            baseline=SEED_TARGET_SECONDS,
            baseline_label="seed target",
            target=f"< {SEED_TARGET_SECONDS:.0f} s",
            met=run["wall_s"] < SEED_TARGET_SECONDS,
            note=_stages(run),
        )
    ]
    if smaller is not None:
        rows.append(
            figure(
                "Offline pipeline, default config against the 200-home recipe (same run): wall time",
                run["wall_s"],
                "s",
                baseline=smaller["wall_s"],
                baseline_label="200 homes, 12 with other parameters",
                target="none (the cost of the bigger recipe)",
                met=None,
                note=f"200-home recipe: {_stages(smaller)}",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="prepare_models.py --quick")
    args = parser.parse_args()
    load_before = load_average()
    run = run_pipeline(args.quick)
    timings = ", ".join(f"{k} {v:.1f}" for k, v in run["timings"].items())
    print(f"prepare_models.py{' --quick' if args.quick else ''}: {run['wall_s']:.1f} s wall ({timings})")
    smaller = None if args.quick else run_pipeline(False, SMALLER_RECIPE)
    if smaller is not None:
        timings = ", ".join(f"{k} {v:.1f}" for k, v in smaller["timings"].items())
        print(f"prepare_models.py {' '.join(SMALLER_RECIPE)}: {smaller['wall_s']:.1f} s wall ({timings})")
    report = {
        "created": now_iso(),
        "machine": machine(),
        "load_average_1min": {"before": load_before, "after": load_average()},
        "quick": args.quick,
        "run": run,
        "smaller_recipe_run": smaller,
        "figures": figures(run, args.quick, smaller),
    }
    print(f"wrote {write_result('pipeline', report)}")


if __name__ == "__main__":
    main()
