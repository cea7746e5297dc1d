"""Run every benchmark, print one table of figures beside their baselines, write the summary.

Each benchmark runs in its own process, one after the other (the machine may
have only two cores), and writes `bench/results/<name>.json`; this script
collects their figures into `bench/results/summary.json` and a Markdown table
in `bench/results/summary.md`.

    .venv/bin/python bench/run.py            # everything, about 4 minutes
    .venv/bin/python bench/run.py --quick    # smaller workloads, under a minute
    .venv/bin/python bench/run.py --only nightly inference
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import RESULTS, load_average, machine, now_iso, write_result

BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Bench:
    """One benchmark script and the arguments of a full and a quick run."""

    name: str  # also its results file: bench/results/<name>.json
    script: str
    full_args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ("--quick",)


BENCHES = (
    Bench("generator", "bench_generator.py", full_args=("--serial",)),
    Bench("recorder_read", "bench_recorder_read.py"),
    Bench("hourly", "bench_hourly.py"),
    Bench("startup", "bench_startup.py"),
    Bench("pipeline", "bench_pipeline.py"),
    Bench("nightly", "bench_nightly.py"),
    Bench("inference", "bench_inference.py"),
    Bench("quality", "bench_quality.py", quick_args=()),
    Bench("soak", "bench_soak.py"),
)


def run_bench(bench: Bench, quick: bool) -> dict[str, Any]:
    """Run one benchmark script; return its figures, exit code and wall time."""
    args = bench.quick_args if quick else bench.full_args
    print(f"\n=== {bench.name}: {bench.script} {' '.join(args)}", flush=True)
    began, load = time.time(), load_average()
    done = subprocess.run([sys.executable, str(BENCH / bench.script), *args], check=False)
    wall = time.time() - began
    path = RESULTS / f"{bench.name}.json"
    fresh = done.returncode == 0 and path.exists() and path.stat().st_mtime >= began
    figures: list[dict[str, Any]] = []
    if fresh:
        figures = json.loads(path.read_text(encoding="utf-8")).get("figures", [])
    return {
        "name": bench.name,
        "command": f"{bench.script} {' '.join(args)}".strip(),
        "exit_code": done.returncode,
        "wall_s": round(wall, 1),
        "load_average_1min_before": load,
        "figures": figures,
        "error": None if fresh else f"no fresh results (exit code {done.returncode})",
    }


def _number(value: float | None, unit: str = "") -> str:
    """A figure with sensible precision and its unit."""
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 0.1 or magnitude == 0:
        text = f"{value:.2f}"
    else:
        text = f"{value:.4f}"
    return f"{text} {unit}".strip()


def _met(met: bool | None) -> str:
    """yes / NO / blank."""
    return "" if met is None else ("yes" if met else "NO")


def rows(runs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Printable cells of every figure."""
    out = []
    for run in runs:
        for f in run["figures"]:
            baseline = _number(f["baseline"], f["unit"]) if f["baseline"] is not None else "-"
            out.append(
                {
                    "figure": f["figure"],
                    "value": _number(f["value"], f["unit"]),
                    "baseline": f"{baseline} ({f['baseline_label']})" if f["baseline_label"] else baseline,
                    "ratio": "-" if f["ratio"] is None else f"{f['ratio']:.2f}x",
                    "target": f["target"] or "-",
                    "met": _met(f["met"]),
                    "note": f["note"],
                }
            )
        if run["error"]:
            out.append(
                {
                    "figure": f"{run['name']}: FAILED",
                    "value": "-",
                    "baseline": "-",
                    "ratio": "-",
                    "target": "-",
                    "met": "NO",
                    "note": run["error"],
                }
            )
    return out


def print_table(cells: list[dict[str, str]]) -> None:
    """The table on the terminal; notes go on their own line under a row."""
    columns = ("figure", "value", "baseline", "ratio", "target", "met")
    widths = {c: max(len(c), *(len(r[c]) for r in cells)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for r in cells:
        print("  ".join(r[c].ljust(widths[c]) for c in columns))
        if r["note"]:
            print(f"    {r['note']}")


def markdown(cells: list[dict[str, str]], info: dict[str, Any], quick: bool, created: str) -> str:
    """The table and the machine as Markdown, for the READMEs."""
    lines = [
        "| Figure | Value | Baseline (same run) | Ratio | Target | Met? | Notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in cells:
        row = (r["figure"], r["value"], r["baseline"], r["ratio"], r["target"], r["met"], r["note"])
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    lines += ["", machine_line(info) + f"; {'--quick' if quick else 'full'} run of {created}."]
    return "\n".join(lines) + "\n"


def machine_line(info: dict[str, Any]) -> str:
    """The machine in one sentence."""
    return (
        f"Machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), "
        f"{info['ram_gb']} GB RAM, {info['platform']}; Python {info['python']}, numpy {info['numpy']}, "
        f"LightGBM {info['lightgbm']}, scikit-learn {info['scikit-learn']}, SQLite {info['sqlite']}"
    )


def main() -> int:
    """Run the benchmarks and report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller workloads (under a minute)")
    parser.add_argument("--only", nargs="+", choices=[b.name for b in BENCHES], default=None)
    args = parser.parse_args()
    info = machine()
    created = now_iso()
    began = time.time()
    runs = [run_bench(b, args.quick) for b in BENCHES if args.only is None or b.name in args.only]
    total = time.time() - began
    cells = rows(runs)
    print(f"\n{machine_line(info)}")
    print(f"{'--quick' if args.quick else 'full'} run, {total:.0f} s; load average now {load_average()}\n")
    print_table(cells)
    summary = {
        "created": created,
        "quick": args.quick,
        "machine": info,
        "wall_s": round(total, 1),
        "benchmarks": runs,
        "figures": [f for run in runs for f in run["figures"]],
    }
    path = write_result("summary", summary)
    (RESULTS / "summary.md").write_text(markdown(cells, info, args.quick, created), encoding="utf-8")
    print(f"\nwrote {path.relative_to(BENCH.parent)} and bench/results/summary.md")
    return 0 if all(run["error"] is None for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
