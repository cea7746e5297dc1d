"""What every benchmark shares: paths, the machine description, timing and result files.

The benchmarks import the runtime core (`custom_components.homeiq_device_intel.ml`)
and the lab (`homeiq_lab`) as installed by `pip install -e .`.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ML_PATH = ROOT / "custom_components" / "homeiq_device_intel"
SHIPPED_MODELS = ML_PATH / "models"


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """One row of the summary table: a measured value beside its baseline and target.

    `ratio` is value / baseline (None when there is no baseline); `met` is None
    when the figure has no target.
    """

    figure: str
    value: float
    unit: str
    baseline: float | None
    baseline_label: str
    target: str
    met: bool | None
    ratio: float | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON fields."""
        return asdict(self)


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    baseline_label: str = "",
    target: str = "",
    met: bool | None = None,
    note: str = "",
) -> dict[str, Any]:
    """A summary-table row as a dict, with the ratio to the baseline filled in."""
    ratio = value / baseline if baseline not in (None, 0) else None
    return Figure(
        figure=name,
        value=float(value),
        unit=unit,
        baseline=None if baseline is None else float(baseline),
        baseline_label=baseline_label,
        target=target,
        met=met,
        ratio=None if ratio is None else float(ratio),
        note=note,
    ).as_dict()


def _cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (platform.processor() is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float | None:
    """Total RAM in GB from /proc/meminfo."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """Describe the machine and the libraries the benchmarks ran on."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gb": _ram_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sqlite": sqlite3.sqlite_version,
    }
    try:
        import lightgbm

        info["lightgbm"] = lightgbm.__version__
    except ImportError:
        info["lightgbm"] = None
    try:
        import sklearn

        info["scikit-learn"] = sklearn.__version__
    except ImportError:
        info["scikit-learn"] = None
    return info


def load_average() -> float | None:
    """1-minute load average: how busy the shared machine was."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call (CPU time is steadier on shared cores)."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of `repeats` calls after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def now_iso() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write `bench/results/<name>.json` and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    text = json.dumps(jsonable(result), indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, tuples as lists, NaN and infinity as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
