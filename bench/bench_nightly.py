"""Nightly on-device learning: wall time, peak memory and event-loop blocking, 50 to 2,000 devices.

Each home is synthetic (one `GeneratorConfig(n_homes=1, n_devices=N)` home)
and is handed to the learning core as the integration hands it over on an
ordinary night:

- the history read from the recorder over the training window (180 days, as
  `training.TRAINING_WINDOW`; a recorder holding a year of statistics yields
  these 180 days): state rows of the last 10 days only (the recorder's purge
  window) and the hourly long-term statistics of the whole window;
- the stored aggregates: last night's merged 120-day hourly grid, held as
  `AggregatesStore.grid` holds it; as in `training.py`, the merged grid is
  saved right after `home_grid` and replaces it in memory.

Every size runs in its own subprocess, which does what `training.py` does:
`home_grid` (merge), the save of the merged grid (`save_grid`, into a temporary
folder), `train_home(mode="full")` and then `score_home`, each as
an executor job (a ThreadPoolExecutor, as Home Assistant runs them) while an
asyncio probe sleeps 5 ms at a time and records how late it wakes up. Figures:

- wall time of the three jobs, beside an hourly scoring of the same home
  (`home_grid` + `score_home` on a 45-day read) timed in the same process;
- peak extra resident memory: VmHWM (reset through /proc/self/clear_refs)
  minus VmRSS before the run, with the history, aggregates and model loaded;
- the event loop's longest lag, beside the same probe with an idle executor,
  and the part of it not spent waiting for a CPU (the thread's run-queue
  delay from /proc/thread-self/schedstat): on a shared machine other
  processes delay the loop too; what remains is the training thread holding
  the GIL.

For one size (1,000 devices) the next night is then run twice on the same
inputs, starting from the home model of the first night: `mode="full"` and
`mode="incremental"`, for the ratio of wall times and the held-out metrics.

    .venv/bin/python bench/bench_nightly.py [--quick] [--sizes 50 200 1000 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, SHIPPED_MODELS, figure, load_average, machine, now_iso, write_result

from custom_components.homeiq_device_intel.ml.aggregates import KEEP_DAYS, load_grid, save_grid
from custom_components.homeiq_device_intel.ml.bundle import ModelBundle, load_bundle
from custom_components.homeiq_device_intel.ml.grid import HourlyGrid, build_grid
from custom_components.homeiq_device_intel.ml.learning import TrainResult, train_home
from custom_components.homeiq_device_intel.ml.records import HomeHistory, StateSeries, StatSeries
from custom_components.homeiq_device_intel.ml.scoring import SCORING_WINDOW_DAYS, home_grid, score_home
from homeiq_lab.synthetic import GENERATOR_VERSION, GeneratorConfig, generate_home, load_history, save_history

DAY = 86400.0
HOUR = 3600.0
SIZES = (50, 200, 1000, 2000, 5000)
QUICK_SIZES = (50, 200, 1000)
TRAINING_WINDOW_DAYS = 180  # training.TRAINING_WINDOW
QUICK_WINDOW_DAYS = 60
STATE_DAYS = 10  # the recorder's default purge_keep_days
INCREMENTAL_SIZE = 1000
TARGET_SIZE = 1000
TARGET_SECONDS = 60.0
TARGET_EXTRA_MB = 200.0
LINEAR_SIZE = 5000  # peak memory must grow no faster than the home: per device at most
LINEAR_MAX_RATIO = 1.1  # this much above the figure at TARGET_SIZE
TARGET_BLOCK_MS = 50.0
SEED_INCREMENTAL_SPEEDUP = (10.0, 50.0)
PROBE_SLEEP_S = 0.005
IDLE_PROBE_S = 3.0
CACHE = ROOT / ".cache" / "bench_nightly"
SEED = 3


# ---------------------------------------------------------------------------
# Inputs: what the recorder and the stored aggregates hold on a given night


def recorder_view(full: HomeHistory, *, now: float, window_days: float, state_days: float) -> HomeHistory:
    """What `read_history` returns at `now`: recent states, statistics of the window, no ground truth."""
    state_from, stat_from = now - state_days * DAY, now - window_days * DAY

    def states(series: StateSeries) -> StateSeries:
        lo, hi = np.searchsorted(series.time, [state_from, now])
        reported = None if series.last_reported is None else series.last_reported[lo:hi]
        return StateSeries(
            time=series.time[lo:hi],
            value=series.value[lo:hi],
            code=series.code[lo:hi],
            labels=series.labels,
            last_reported=reported,
        )

    def statistics(stat: StatSeries) -> StatSeries:
        # An hour's statistics row exists once the hour is over.
        lo = int(np.searchsorted(stat.start, stat_from, side="left"))
        hi = int(np.searchsorted(stat.start, now - HOUR, side="right"))
        return StatSeries(
            start=stat.start[lo:hi], mean=stat.mean[lo:hi], min=stat.min[lo:hi], max=stat.max[lo:hi]
        )

    state_rows = {e: states(s) for e, s in full.states.items()}
    stat_rows = {e: statistics(s) for e, s in full.statistics.items()}
    firsts = [float(s.time[0]) for s in state_rows.values() if len(s)]
    firsts += [float(s.start[0]) for s in stat_rows.values() if len(s)]
    return HomeHistory(
        home_id=full.home_id,
        start=max(stat_from, min(firsts, default=stat_from)),
        end=now,
        devices=full.devices,
        entities=full.entities,
        states=state_rows,
        statistics=stat_rows,
        battery_swaps={d: t[(t >= stat_from) & (t < now)] for d, t in full.battery_swaps.items()},
        restarts=full.restarts[(full.restarts >= stat_from) & (full.restarts < now)],
    )


@dataclass(frozen=True, slots=True)
class Inputs:
    """Where one size's prepared inputs live, and the two nights they cover."""

    folder: Path
    first_night: float
    second_night: float
    window_days: float

    @property
    def history_stem(self) -> Path:
        """Recorder rows covering both nights (cut per night by the worker)."""
        return self.folder / "recorder"

    @property
    def aggregates(self) -> Path:
        """The stored 120-day grid as of the night before the first."""
        return self.folder / "aggregates.npz"


def prepare(size: int, window_days: float) -> Inputs:
    """Generate a home of `size` devices and store its recorder rows and aggregates (cached)."""
    days = window_days + 2.0
    config = GeneratorConfig(n_homes=1, n_devices=size, days=days, seed=SEED)
    folder = CACHE / f"v{GENERATOR_VERSION}-n{size}-d{days:g}-s{SEED}"
    full_start = config.start
    inputs = Inputs(
        folder=folder,
        first_night=full_start + (days - 1.0) * DAY,
        second_night=full_start + days * DAY,
        window_days=window_days,
    )
    if inputs.aggregates.exists() and inputs.history_stem.with_suffix(".json").exists():
        return inputs
    began = time.perf_counter()
    full = generate_home(config, 0)
    previous_night = inputs.first_night - DAY
    stored = build_grid(full, start=max(full.start, previous_night - KEEP_DAYS * DAY), end=previous_night)
    # One file for both nights: states from the first night's purge window, statistics of its window.
    both = recorder_view(
        full,
        now=inputs.second_night,
        window_days=window_days + 1.0,
        state_days=STATE_DAYS + 1.0,
    )
    folder.mkdir(parents=True, exist_ok=True)
    save_history(both, inputs.history_stem)
    save_grid(stored, inputs.aggregates)
    print(f"  prepared {size} devices x {days:g} days in {time.perf_counter() - began:.1f} s", flush=True)
    return inputs


# ---------------------------------------------------------------------------
# Measuring: memory high-water mark and event-loop lag


def _status_mb(key: str) -> float:
    """A Vm* field of /proc/self/status in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    raise KeyError(key)


def release_free_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS, so RSS counts live memory only."""
    gc.collect()
    # Not glibc: RSS may then include freed pages, overstating the base.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RunQueueClock:
    """Nanoseconds this thread has waited for a CPU (schedstat run_delay), or None if unknown."""

    def __init__(self) -> None:
        """Open /proc/thread-self/schedstat of the calling thread."""
        try:
            self._file: Any = open("/proc/thread-self/schedstat", "rb", buffering=0)  # noqa: SIM115
        except OSError:
            self._file = None

    def seconds(self) -> float | None:
        """Run-queue wait so far, in seconds."""
        if self._file is None:
            return None
        self._file.seek(0)
        return int(self._file.read().split()[1]) / 1e9


@dataclass(slots=True)
class LoopProbe:
    """An asyncio task that sleeps 5 ms at a time and records how late it wakes.

    Samples overlapping `paused()` (the benchmark's own bookkeeping) are dropped.
    """

    worker: dict[str, int] = field(default_factory=dict)  # thread id of the executor's job
    lags: list[float] = field(default_factory=list)
    blocks: list[float] = field(default_factory=list)  # lag minus run-queue wait
    where: list[tuple[float, str]] = field(default_factory=list)  # longest blocks and the job's frame
    pauses: int = 0  # odd while paused

    async def run(self, stop: asyncio.Event) -> None:
        """Probe until `stop` is set."""
        clock = RunQueueClock()
        while not stop.is_set():
            began, waited, pauses = time.perf_counter(), clock.seconds(), self.pauses
            await asyncio.sleep(PROBE_SLEEP_S)
            lag = time.perf_counter() - began - PROBE_SLEEP_S
            after = clock.seconds()
            if pauses % 2 or self.pauses != pauses:
                continue
            block = lag if waited is None or after is None else max(lag - (after - waited), 0.0)
            self.lags.append(lag)
            self.blocks.append(block)
            if block > 0.02:
                self.where.append((block, self._worker_frame()))

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Drop the samples taken while the benchmark itself works."""
        self.pauses += 1
        try:
            yield
        finally:
            self.pauses += 1

    def _worker_frame(self) -> str:
        """Where the executor's job is now: just past what blocked the loop."""
        frame = sys._current_frames().get(self.worker.get("id", -1))
        if frame is None:
            return ""
        stack = traceback.extract_stack(frame)[-3:]
        return " <- ".join(f"{Path(f.filename).name}:{f.name}:{f.lineno}" for f in reversed(stack))

    def summary(self) -> dict[str, Any]:
        """Max, 99th percentile and count over 50 ms, in milliseconds."""
        lags, blocks = np.array(self.lags) * 1e3, np.array(self.blocks) * 1e3
        if lags.size == 0:
            return {"samples": 0}
        return {
            "samples": int(lags.size),
            "max_lag_ms": float(lags.max()),
            "p99_lag_ms": float(np.percentile(lags, 99)),
            "lags_over_50ms": int((lags > TARGET_BLOCK_MS).sum()),
            "max_block_ms": float(blocks.max()),
            "p99_block_ms": float(np.percentile(blocks, 99)),
            "blocks_over_50ms": int((blocks > TARGET_BLOCK_MS).sum()),
            "longest_blocks": [
                {"ms": round(ms * 1e3, 1), "job_was_at": where}
                for ms, where in sorted(self.where, reverse=True)[:5]
            ],
        }


@dataclass(slots=True)
class Step:
    """Wall time and memory of one executor job."""

    wall_s: float
    rss_before_mb: float
    peak_mb: float


async def in_executor[T](
    executor: ThreadPoolExecutor, probe: LoopProbe, job: Callable[[], T], steps: dict[str, Step], name: str
) -> T:
    """Run `job` in the executor as HA does, recording its time and memory high-water mark."""

    def tracked() -> T:
        probe.worker["id"] = threading.get_ident()
        with probe.paused():
            release_free_memory()
            reset_peak()
            rss = _status_mb("VmRSS")
        began = time.perf_counter()
        result = job()
        wall = time.perf_counter() - began
        steps[name] = Step(wall_s=wall, rss_before_mb=rss, peak_mb=_status_mb("VmHWM"))
        return result

    return await asyncio.get_running_loop().run_in_executor(executor, tracked)


async def probed[T](work: Callable[[LoopProbe], Awaitable[T]]) -> tuple[T, dict[str, Any]]:
    """Await `work` while a loop probe runs; return its result and the probe's summary."""
    probe, stop = LoopProbe(), asyncio.Event()
    task = asyncio.create_task(probe.run(stop))
    try:
        result = await work(probe)
    finally:
        stop.set()
        await task
    return result, probe.summary()


# ---------------------------------------------------------------------------
# The worker: one size, in its own process


def _metrics(result: TrainResult) -> dict[str, Any]:
    """The parts of a TrainResult worth keeping."""
    return {
        "status": result.status.value,
        "message": result.message,
        "n_devices": result.n_devices,
        "n_rows": result.n_rows,
        "n_positive": dict(result.n_positive),
        "metrics": dict(result.metrics),
        "current_metrics": dict(result.current_metrics),
    }


def _warm_up() -> None:
    """Imports and first-call costs (OpenMP start-up of LightGBM) out of the timings."""
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1}, lgb.Dataset(X, X[:, 0] > 0), 2)


@dataclass(slots=True)
class _Home:
    """What one size's measurements read: the recorder's views, the stored grid, the shipped bundle."""

    recorder: HomeHistory  # both nights' rows, which the views below slice
    night1: HomeHistory  # the read of the first night's training window
    night2: HomeHistory  # the same a night later
    scoring_read: HomeHistory  # an hourly scoring's read at the first night
    now1: float
    now2: float
    # What AggregatesStore.grid holds between nights; training.py saves the merged grid right
    # after home_grid (AggregatesStore.save), which also replaces the one in memory.
    aggregates: HourlyGrid
    shipped: ModelBundle


def _load_home(inputs: Inputs) -> _Home:
    """Read one size's prepared inputs and cut the recorder's views of each night."""
    both = load_history(inputs.history_stem)
    night1 = recorder_view(
        both, now=inputs.first_night, window_days=inputs.window_days, state_days=STATE_DAYS
    )
    night2 = recorder_view(
        both, now=inputs.second_night, window_days=inputs.window_days, state_days=STATE_DAYS
    )
    scoring_read = recorder_view(
        both, now=inputs.first_night, window_days=SCORING_WINDOW_DAYS, state_days=STATE_DAYS
    )
    return _Home(
        recorder=both,
        night1=night1,
        night2=night2,
        scoring_read=scoring_read,
        now1=inputs.first_night,
        now2=inputs.second_night,
        aggregates=load_grid(inputs.aggregates),
        shipped=load_bundle(SHIPPED_MODELS),
    )


def worker(inputs: Inputs, size: int, incremental: bool) -> dict[str, Any]:
    """Measure one size; see the module docstring."""
    home = _load_home(inputs)
    stored_hours = home.aggregates.n_hours
    scratch = tempfile.TemporaryDirectory(prefix="bench_nightly_")
    _warm_up()
    release_free_memory()
    inputs_rss = _status_mb("VmRSS")
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench")
    report: dict[str, Any] = {
        "size": size,
        "devices": len(home.night1.devices),
        "entities": len(home.night1.entities),
        "state_rows": sum(len(s) for s in home.night1.states.values()),
        "statistics_rows": sum(len(s) for s in home.night1.statistics.values()),
        "window_days": inputs.window_days,
        "state_days": STATE_DAYS,
        "stored_grid_hours": stored_hours,
        "inputs_rss_mb": inputs_rss,
        "peak_method": "VmHWM after /proc/self/clear_refs, minus VmRSS before",
    }
    night = _Night(home, executor, Path(scratch.name))
    asyncio.run(night.measure(report, inputs_rss, incremental))
    executor.shutdown()
    scratch.cleanup()
    return report


class _Night:
    """The measurements of one size, on one executor as the integration's."""

    def __init__(self, home: _Home, executor: ThreadPoolExecutor, scratch: Path) -> None:
        """Keep the home, the executor and a folder to save the aggregates into."""
        self.home = home
        self.executor = executor
        self.scratch = scratch

    async def measure(self, report: dict[str, Any], inputs_rss: float, incremental: bool) -> None:
        """Probe an idle loop, then hourly scoring, the night, and the next night if asked."""
        _, report["loop_idle"] = await probed(self.idle)
        scoring_steps, _ = await probed(self.scoring)
        report["scoring"] = _steps(scoring_steps, inputs_rss)
        release_free_memory()
        base = _status_mb("VmRSS")
        # The night's grid stays referenced through the next night.
        (steps, result, _grid), report["loop_nightly"] = await probed(self.nightly)
        report["nightly"] = {**_steps(steps, base), **_metrics(result)}
        if incremental:
            report["next_night"] = await self.next_night(result.bundle)

    async def idle(self, probe: LoopProbe) -> None:
        """Keep the executor asleep: the loop's lag with nothing to compete with."""
        await asyncio.get_running_loop().run_in_executor(self.executor, time.sleep, IDLE_PROBE_S)

    async def scoring(self, probe: LoopProbe) -> dict[str, Step]:
        """Score the home hourly: grid of the scoring window merged with the stored one, then score."""
        home = self.home
        steps: dict[str, Step] = {}
        grid = await in_executor(
            self.executor,
            probe,
            lambda: home_grid(home.scoring_read, now=home.now1, stored=home.aggregates),
            steps,
            "home_grid",
        )
        await in_executor(
            self.executor,
            probe,
            lambda: score_home(home.scoring_read, home.shipped, now=home.now1, grid=grid),
            steps,
            "score_home",
        )
        return steps

    async def merged_and_saved(
        self, probe: LoopProbe, history: HomeHistory, now: float, steps: dict[str, Step]
    ) -> HourlyGrid:
        """As training.py: merge the recorder's grid into the stored one, save it, keep it."""
        grid = await in_executor(
            self.executor,
            probe,
            lambda: home_grid(history, now=now, stored=self.home.aggregates),
            steps,
            "home_grid",
        )
        await in_executor(self.executor, probe, lambda: self._save_aggregates(grid), steps, "save_aggregates")
        return grid

    def _save_aggregates(self, grid: HourlyGrid) -> None:
        """Save the merged grid and keep it as the stored one."""
        save_grid(grid, self.scratch / "aggregates.npz")
        self.home.aggregates = grid

    async def nightly(self, probe: LoopProbe) -> tuple[dict[str, Step], TrainResult, HourlyGrid]:
        """The first night: merge and save the grid, train fully, score with the result."""
        home = self.home
        steps: dict[str, Step] = {}
        grid = await self.merged_and_saved(probe, home.night1, home.now1, steps)
        result = await in_executor(
            self.executor,
            probe,
            lambda: train_home(home.night1, home.shipped, mode="full", now=home.now1, grid=grid),
            steps,
            "train_home",
        )
        bundle = result.bundle or home.shipped
        await in_executor(
            self.executor,
            probe,
            lambda: score_home(home.night1, bundle, now=home.now1, grid=grid),
            steps,
            "score_home",
        )
        return steps, result, grid

    async def next_night(self, home_bundle: ModelBundle | None) -> dict[str, Any]:
        """The next night from the first night's model: incremental and full updates, alternating."""
        probe = LoopProbe()
        steps: dict[str, Step] = {}
        grid2 = await self.merged_and_saved(probe, self.home.night2, self.home.now2, steps)
        current = home_bundle or self.home.shipped
        out: dict[str, Any] = {
            "home_grid_s": steps["home_grid"].wall_s,
            "from_home_model": home_bundle is not None,
        }
        # Alternate the modes so that machine load hits both alike; keep the median.
        runs: dict[str, list[tuple[float, float, TrainResult]]] = {"incremental": [], "full": []}
        for _ in range(2):
            for mode in ("incremental", "full"):
                result = await in_executor(
                    self.executor,
                    probe,
                    lambda mode=mode: train_home(
                        self.home.night2, current, mode=mode, now=self.home.now2, grid=grid2
                    ),
                    steps,
                    mode,
                )
                step = steps[mode]
                runs[mode].append((step.wall_s, step.peak_mb - step.rss_before_mb, result))
        out.update({mode: _mode_figures(done) for mode, done in runs.items()})
        return out


def _mode_figures(done: list[tuple[float, float, TrainResult]]) -> dict[str, Any]:
    """Return the median wall time, the runs, the largest peak and the last result of one mode."""
    walls = sorted(r[0] for r in done)
    return {
        "train_home_s": float(np.median(walls)),
        "runs_s": walls,
        "peak_extra_mb": max(r[1] for r in done),
        **_metrics(done[-1][2]),
    }


def _steps(steps: dict[str, Step], base_rss: float) -> dict[str, Any]:
    """Per-step times and peaks, and totals against the RSS before the first step."""
    return {
        "steps": {
            name: {
                "wall_s": s.wall_s,
                "peak_extra_mb": s.peak_mb - s.rss_before_mb,
            }
            for name, s in steps.items()
        },
        "total_s": sum(s.wall_s for s in steps.values()),
        "peak_extra_mb": max(s.peak_mb for s in steps.values()) - base_rss,
    }


# ---------------------------------------------------------------------------
# The driver


def figures(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Summary rows: time and memory per size, loop blocking, incremental vs full."""
    return [
        *_time_figures(sizes),
        *_memory_figures(sizes),
        *_linearity_figures(sizes),
        *_loop_figures(sizes),
        *incremental_figures(sizes),
    ]


def _time_figures(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size: the nightly learning's wall time against hourly scoring of the same home."""
    rows = []
    for report in sizes:
        size, nightly, scoring = report["size"], report["nightly"], report["scoring"]
        target = report["size"] == TARGET_SIZE
        rows.append(
            figure(
                f"Nightly learning, {size:,} devices: home_grid + save + train_home(full) + score_home",
                nightly["total_s"],
                "s",
                baseline=scoring["total_s"],
                baseline_label="hourly scoring of the same home (45-day read), same run",
                target=f"< {TARGET_SECONDS:.0f} s" if target else "",
                met=nightly["total_s"] < TARGET_SECONDS if target else None,
                note=f"train_home {nightly['steps']['train_home']['wall_s']:.1f} s ({nightly['status']})",
            )
        )
    return rows


def _memory_figures(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size: the nightly learning's peak extra RSS and its largest step."""
    rows = []
    for report in sizes:
        size, nightly = report["size"], report["nightly"]
        target = report["size"] == TARGET_SIZE
        worst = max(nightly["steps"].items(), key=lambda kv: kv[1]["peak_extra_mb"])
        rows.append(
            figure(
                f"Nightly learning, {size:,} devices: peak extra RSS",
                nightly["peak_extra_mb"],
                "MB",
                baseline=report["inputs_rss_mb"],
                baseline_label="RSS with history, aggregates and model loaded",
                target=f"< {TARGET_EXTRA_MB:.0f} MB" if target else "",
                met=nightly["peak_extra_mb"] < TARGET_EXTRA_MB if target else None,
                note=f"largest step: {worst[0]} (+{worst[1]['peak_extra_mb']:.0f} MB over its start)",
            )
        )
    return rows


def _linearity_figures(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Peak extra RSS per device at the large size against the target size (none without both)."""
    by_size = {r["size"]: r for r in sizes}
    if TARGET_SIZE not in by_size or LINEAR_SIZE not in by_size:
        return []
    per_device = {n: by_size[n]["nightly"]["peak_extra_mb"] * 1000.0 / n for n in (TARGET_SIZE, LINEAR_SIZE)}
    ratio = per_device[LINEAR_SIZE] / per_device[TARGET_SIZE]
    return [
        figure(
            f"Nightly learning: peak extra RSS per device, {LINEAR_SIZE:,} devices",
            per_device[LINEAR_SIZE],
            "kB/device",
            baseline=per_device[TARGET_SIZE],
            baseline_label=f"the same at {TARGET_SIZE:,} devices, same run",
            target=f"<= {LINEAR_MAX_RATIO:.1f}x (linear)",
            met=ratio <= LINEAR_MAX_RATIO,
            note=f"{by_size[LINEAR_SIZE]['nightly']['peak_extra_mb']:.0f} MB in all",
        )
    ]


def _loop_figures(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The event loop's longest lag and longest block during nightly learning, over all sizes."""
    worst_lag = max(sizes, key=lambda r: r["loop_nightly"]["max_lag_ms"])
    worst_block = max(sizes, key=lambda r: r["loop_nightly"]["max_block_ms"])
    idle_lag = max(r["loop_idle"]["max_lag_ms"] for r in sizes)
    idle_block = max(r["loop_idle"]["max_block_ms"] for r in sizes)
    where = worst_block["loop_nightly"]["longest_blocks"]
    return [
        figure(
            "Event loop during nightly learning: longest lag (all sizes)",
            worst_lag["loop_nightly"]["max_lag_ms"],
            "ms",
            baseline=idle_lag,
            baseline_label="same probe, idle executor",
            target="",
            met=None,
            note=f"at {worst_lag['size']:,} devices; includes waiting for a CPU on this shared machine",
        ),
        figure(
            "Event loop during nightly learning: longest block by the training thread (all sizes)",
            worst_block["loop_nightly"]["max_block_ms"],
            "ms",
            baseline=idle_block,
            baseline_label="same probe, idle executor",
            target=f"<= {TARGET_BLOCK_MS:.0f} ms",
            met=worst_block["loop_nightly"]["max_block_ms"] <= TARGET_BLOCK_MS,
            note=(
                f"lag minus run-queue wait, at {worst_block['size']:,} devices"
                + (f"; job was at {where[0]['job_was_at']}" if where else "")
            ),
        ),
    ]


def _log_loss_total(metrics: dict[str, float]) -> float:
    """Sum of the held-out log losses over the failure types."""
    return sum(v for k, v in metrics.items() if k.endswith("_log_loss"))


def incremental_figures(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Incremental against full on the same home and night."""
    report = next((r for r in sizes if "next_night" in r), None)
    if report is None:
        return []
    night = report["next_night"]
    inc, full = night["incremental"], night["full"]
    speedup = full["train_home_s"] / inc["train_home_s"]
    low, high = SEED_INCREMENTAL_SPEEDUP
    pr = {
        key.removesuffix("_pr_auc"): (full["metrics"].get(key), inc["metrics"].get(key))
        for key in full["metrics"]
        if key.endswith("_pr_auc")
    }
    pr_text = ", ".join(
        f"{target} {a:.3f} -> {b:.3f}" for target, (a, b) in pr.items() if a is not None and b is not None
    )
    return [
        figure(
            f"Incremental vs full nightly update, {report['size']:,} devices: train_home wall time",
            inc["train_home_s"],
            "s",
            baseline=full["train_home_s"],
            baseline_label="full update, same home and night",
            target=f"<= {1 / low:.2f}x (seed: {low:.0f}-{high:.0f}x faster)",
            met=speedup >= low,
            note=f"{speedup:.1f}x faster; home_grid (shared, {night['home_grid_s']:.1f} s) not included",
        ),
        figure(
            "Incremental vs full: held-out log loss, sum over failure types",
            _log_loss_total(inc["metrics"]),
            "",
            baseline=_log_loss_total(full["metrics"]),
            baseline_label="full update, same held-out days",
            target="",
            met=None,
            note=f"PR-AUC full -> incremental: {pr_text}" if pr_text else "",
        ),
    ]


def run_size(inputs: Inputs, size: int, incremental: bool) -> dict[str, Any]:
    """Measure one size in a fresh process."""
    out = CACHE / f"result-{size}.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        str(size),
        "--folder",
        str(inputs.folder),
        "--nights",
        repr(inputs.first_night),
        repr(inputs.second_night),
        "--window-days",
        repr(inputs.window_days),
        "--out",
        str(out),
    ]
    if incremental:
        command.append("--incremental")
    subprocess.run(command, check=True)
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def print_table(sizes: list[dict[str, Any]]) -> None:
    """One line per size."""
    print(
        f"{'devices':>8} {'scoring s':>10} {'grid s':>7} {'train s':>8} {'score s':>8} {'total s':>8} "
        f"{'peak+ MB':>9} {'inputs MB':>10} {'max lag ms':>11} {'idle lag':>9} {'max block':>10}"
    )
    for r in sizes:
        n, steps, loop = r["nightly"], r["nightly"]["steps"], r["loop_nightly"]
        print(
            f"{r['size']:>8,} {r['scoring']['total_s']:>10.2f} {steps['home_grid']['wall_s']:>7.2f} "
            f"{steps['train_home']['wall_s']:>8.2f} {steps['score_home']['wall_s']:>8.2f} "
            f"{n['total_s']:>8.2f} "
            f"{n['peak_extra_mb']:>9.0f} {r['inputs_rss_mb']:>10.0f} {loop['max_lag_ms']:>11.1f} "
            f"{r['loop_idle']['max_lag_ms']:>9.1f} {loop['max_block_ms']:>10.1f}"
        )
    for r in sizes:
        if "next_night" in r:
            night = r["next_night"]
            inc, full = night["incremental"], night["full"]
            print(
                f"next night, {r['size']:,} devices: incremental {inc['train_home_s']:.2f} s "
                f"({inc['status']}), full {full['train_home_s']:.2f} s ({full['status']}); "
                f"home_grid {night['home_grid_s']:.2f} s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"sizes {QUICK_SIZES}, {QUICK_WINDOW_DAYS}-day window"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--nights", type=float, nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--window-days", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--incremental", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        inputs = Inputs(
            folder=args.folder,
            first_night=args.nights[0],
            second_night=args.nights[1],
            window_days=args.window_days,
        )
        report = worker(inputs, args.worker, args.incremental)
        args.out.write_text(json.dumps(report, default=float), encoding="utf-8")
        return

    window = QUICK_WINDOW_DAYS if args.quick else TRAINING_WINDOW_DAYS
    sizes = args.sizes or list(QUICK_SIZES if args.quick else SIZES)
    load_before = load_average()
    results = []
    for size in sizes:
        print(f"{size} devices, {window}-day window ...", flush=True)
        inputs = prepare(size, window)
        results.append(run_size(inputs, size, incremental=size == INCREMENTAL_SIZE))
    print_table(results)
    report = {
        "created": now_iso(),
        "machine": machine(),
        "load_average_1min": {"before": load_before, "after": load_average()},
        "window_days": window,
        "state_days": STATE_DAYS,
        "stored_grid_days": KEEP_DAYS,
        "generator": {"version": GENERATOR_VERSION, "seed": SEED},
        "sizes": results,
        "figures": figures(results),
    }
    print(f"wrote {write_result('nightly', report)}")


if __name__ == "__main__":
    main()
