"""Home Assistant start-up time added by the integration: a real HA core, with vs without our entry.

Each run is its own process starting Home Assistant's core in-process the way
`hass` does (`bootstrap.async_from_config_dict`: registries, config entries,
the real recorder on SQLite, then `async_start`), on a copy of bench_hourly's
recorder database (3,000 entities of 1,000 devices, 3.0 M state rows over 10
days, a year of hourly statistics for a tenth of them), its times moved so
its last hour is the current one. The device and entity registries hold those
devices, owned by a do-nothing integration (`startup_components/bench_devices`).
The run "with" adds our config entry (default options), whose set-up reads
the 45-day window of every device, scores it and adds its entities; the run
"without" has no such entry. Runs alternate.

Measured from the creation of `HomeAssistant` until it has started and is
idle (`async_block_till_done`): the event loop thread's CPU time
(`time.thread_time` on the loop), the wall time, and a loop probe (a task
sleeping 5 ms at a time; a late wake-up minus the loop thread's run-queue wait
is time the loop was blocked); in the run with our entry also the wall time
and loop CPU time of `async_setup_entry` alone. The figure is the loop CPU
time "with" minus "without" (target < 1 s).

Statistics: a recorder that finds no finished statistics run compiles every
missed 5-minute period of the last `keep_days` (10 days: 2,880 periods over
3,000 entities) before anything else, which is what kept an earlier harness
attempt from finishing; each copy records a statistics run at the current
period (and the data migrations as done), as a recorder that was running
until now would have.

    .venv/bin/python bench/bench_startup.py [--runs 2] [--devices 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from _common import ROOT, figure, load_average, machine, now_iso, write_result
from bench_recorder_read import END, build_database

BENCH = Path(__file__).resolve().parent
COMPONENTS = BENCH / "startup_components"
HOUR = 3600.0
# A moved copy older than this is moved again (the integration reads the last 45 days).
TEMPLATE_MAX_AGE_S = 2 * 86400.0


def _template(n_devices: int) -> Path:
    """bench_hourly's database with its times moved so its end is the current hour (cached in /tmp)."""
    n_entities = 3 * n_devices
    source = Path(f"/tmp/homeiq_bench_hourly_{n_entities}_{1000 * n_entities}.db")
    if not source.exists():
        print(f"building {source} ...", flush=True)
        build_database(source, n_entities, 1000 * n_entities, n_entities // 10, seed=0)
    moved = Path(f"/tmp/homeiq_bench_startup_{n_entities}.db")
    if moved.exists() and time.time() - moved.stat().st_mtime < TEMPLATE_MAX_AGE_S:
        return moved
    print(f"moving {source} to the current hour -> {moved} ...", flush=True)
    began = time.perf_counter()
    part = moved.with_suffix(".part")
    shutil.copyfile(source, part)
    shift = float(int(time.time() // HOUR) * HOUR - END)
    with sqlite3.connect(part) as conn:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute(
            "UPDATE states SET last_updated_ts = last_updated_ts + :s, "
            "last_changed_ts = last_changed_ts + :s, last_reported_ts = last_reported_ts + :s",
            {"s": shift},
        )
        for table in ("statistics", "statistics_short_term"):
            conn.execute(
                f"UPDATE {table} SET start_ts = start_ts + :s, created_ts = created_ts + :s", {"s": shift}
            )
        conn.execute("UPDATE events SET time_fired_ts = time_fired_ts + :s", {"s": shift})
    part.rename(moved)
    print(f"  moved in {time.perf_counter() - began:.0f} s", flush=True)
    return moved


def _entities(n_devices: int) -> list[tuple[str, str, str | None, str | None]]:
    """(entity_id, device, device_class, unit) of the database's entities."""
    from bench_recorder_read import _entities as entities

    return [(e[0], e[1], e[2], e[3]) for e in entities(3 * n_devices)]


def _mark_recorder_current(db: Path) -> None:
    """A statistics run at the current 5-minute period and every data migration done."""
    from homeassistant.components.recorder.migration import LIVE_DATA_MIGRATORS, NON_LIVE_DATA_MIGRATORS

    now = datetime.now(UTC)
    period = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0) - timedelta(minutes=5)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO statistics_runs (start) VALUES (?)", (period.strftime("%Y-%m-%d %H:%M:%S.%f"),)
        )
        for migrator in (*NON_LIVE_DATA_MIGRATORS, *LIVE_DATA_MIGRATORS):
            conn.execute(
                "INSERT OR REPLACE INTO migration_changes (migration_id, version) VALUES (?, ?)",
                (migrator.migration_id, migrator.migration_version),
            )


def _config_entry(domain: str, title: str, options: dict[str, Any], **extra: Any) -> Any:
    """A config entry as the config flow would create it."""
    from homeassistant import config_entries

    return config_entries.ConfigEntry(
        domain=domain,
        title=title,
        data={},
        options=options,
        source="user",
        version=1,
        minor_version=1,
        unique_id=None,
        discovery_keys=MappingProxyType({}),
        subentries_data=None,
        **extra,
    )


def _register_devices(hass: Any, owner: Any, n_devices: int) -> None:
    """Register the bench devices and their entities under the `owner` entry."""
    from homeassistant.helpers import device_registry as dr
    from homeassistant.helpers import entity_registry as er

    devices, entities = dr.async_get(hass), er.async_get(hass)
    made: dict[str, str] = {}
    for entity_id, device, device_class, unit in _entities(n_devices):
        if device not in made:
            made[device] = devices.async_get_or_create(
                config_entry_id=owner.entry_id,
                identifiers={("bench_devices", device)},
                name=device.replace("_", " "),
                manufacturer="Bench",
                model=device.rsplit("_", 1)[0],
            ).id
        domain, object_id = entity_id.split(".", 1)
        entities.async_get_or_create(
            domain,
            "bench_devices",
            entity_id,
            device_id=made[device],
            original_device_class=device_class,
            unit_of_measurement=unit,
            suggested_object_id=object_id,
            config_entry=owner,
        )


async def _prepare(config_dir: Path, n_devices: int) -> None:
    """Write the registries (devices of bench_devices) and both config entries into config_dir/.storage."""
    from homeassistant import bootstrap, config_entries, core, loader

    import custom_components

    custom_components.__path__.append(str(COMPONENTS))
    hass = core.HomeAssistant(str(config_dir))
    await hass.config.async_set_time_zone("UTC")
    loader.async_setup(hass)
    hass.config_entries = config_entries.ConfigEntries(hass, {})
    await loader.async_get_custom_components(hass)
    await bootstrap.async_load_base_functionality(hass)
    owner = _config_entry("bench_devices", "Benchmark devices", {})
    await hass.config_entries.async_add(owner)
    from custom_components.homeiq_device_intel.const import DEFAULT_OPTIONS, DOMAIN

    ours = _config_entry(
        DOMAIN,
        "HomeIQ Device Intelligence",
        dict(DEFAULT_OPTIONS),
        disabled_by=config_entries.ConfigEntryDisabler.USER,  # enabled in the copy "with" only
    )
    await hass.config_entries.async_add(ours)
    _register_devices(hass, owner, n_devices)
    await hass.async_start()  # stopping a started core writes the registries and entries
    await hass.async_stop()


def _enable_ours(config_dir: Path, enabled: bool) -> None:
    """Keep our config entry (enabled) in the run "with", remove it in the run "without"."""
    path = config_dir / ".storage" / "core.config_entries"
    stored = json.loads(path.read_text())
    entries = stored["data"]["entries"]
    if enabled:
        for entry in entries:
            if entry["domain"] == "homeiq_device_intel":
                entry["disabled_by"] = None
    else:
        stored["data"]["entries"] = [e for e in entries if e["domain"] != "homeiq_device_intel"]
    path.write_text(json.dumps(stored))


async def _start(config_dir: Path, db: Path) -> dict[str, Any]:
    """Start Home Assistant until it is idle; the loop's CPU time, wall time and blocks, and our set-up."""
    from bench_nightly import LoopProbe
    from homeassistant import bootstrap, core, loader

    import custom_components

    custom_components.__path__.append(str(COMPONENTS))
    import custom_components.homeiq_device_intel as ours

    setup, setup_errors = _time_setup_entry(ours)
    probe, stop = LoopProbe(), asyncio.Event()
    sampler = LoopSampler(threading.get_ident())
    sampler.start()
    probing = asyncio.create_task(probe.run(stop))
    watching = asyncio.create_task(sampler.watch(stop))
    began, cpu = time.perf_counter(), time.thread_time()
    hass = core.HomeAssistant(str(config_dir))
    loader.async_setup(hass)
    config = {
        "homeassistant": {"time_zone": "UTC", "name": "bench"},
        "recorder": {"db_url": f"sqlite:///{db}", "auto_purge": False},
    }
    assert await bootstrap.async_from_config_dict(config, hass) is not None
    await hass.async_start()
    await hass.async_block_till_done()
    loop_cpu, wall = time.thread_time() - cpu, time.perf_counter() - began
    stop.set()
    await probing
    await watching
    sampler.stop()
    started = _started_core(hass)
    await hass.async_stop()
    return {
        "loop_cpu_s": loop_cpu,
        "wall_s": wall,
        "probe": probe.summary(),
        "longest_blocks": sampler.longest(),
        "setup_entry": setup,
        "setup_errors": setup_errors,
        **started,
    }


def _time_setup_entry(ours: Any) -> tuple[dict[str, float], list[str]]:
    """Wrap our async_setup_entry to time it; the figures and errors fill in when it runs."""
    setup: dict[str, float] = {}
    setup_errors: list[str] = []
    original = ours.async_setup_entry

    async def timed_setup_entry(hass: Any, entry: Any) -> bool:
        began, cpu = time.perf_counter(), time.thread_time()
        try:
            return bool(await original(hass, entry))
        except BaseException as err:
            setup_errors.append(f"{type(err).__name__}: {err}")
            raise
        finally:
            setup["wall_s"] = time.perf_counter() - began
            setup["loop_cpu_s"] = time.thread_time() - cpu  # every loop task meanwhile, ours included

    ours.async_setup_entry = timed_setup_entry
    return setup, setup_errors


def _started_core(hass: Any) -> dict[str, Any]:
    """The config entries' states, the number of states and the devices we watch, once started."""
    watched = 0
    if (entry := next(iter(hass.config_entries.async_entries("homeiq_device_intel")), None)) is not None:
        runtime = getattr(entry, "runtime_data", None)
        if runtime is not None and runtime.coordinator.data is not None:
            watched = len(runtime.coordinator.data.devices)
    return {
        "entries": {e.domain: e.state.value for e in hass.config_entries.async_entries()},
        "states": len(hass.states.async_all()),
        "watched_devices": watched,
    }


class LoopSampler(threading.Thread):
    """Samples the event loop thread's stack every millisecond; names what ran in its longest blocks."""

    def __init__(self, loop_thread: int) -> None:
        """Sample the thread `loop_thread`."""
        super().__init__(daemon=True)
        self._loop_thread = loop_thread
        self._samples: list[tuple[float, str]] = []
        self._blocks: list[tuple[float, float]] = []  # (began, ended) of wake-ups later than 50 ms
        self._done = threading.Event()

    def run(self) -> None:
        """Record (time, stack) until stopped."""
        while not self._done.wait(0.001):
            frame = sys._current_frames().get(self._loop_thread)
            if frame is not None:
                stack = traceback.extract_stack(frame)
                ours = [f for f in stack if "asyncio" not in f.filename and "threading" not in f.filename][
                    -4:
                ]
                where = " <- ".join(
                    f"{'/'.join(Path(f.filename).parts[-2:])}:{f.name}:{f.lineno}" for f in reversed(ours)
                )
                self._samples.append((time.perf_counter(), where))

    async def watch(self, stop: asyncio.Event) -> None:
        """Note the loop's late wake-ups (a 5 ms sleep that took over 55 ms)."""
        while not stop.is_set():
            began = time.perf_counter()
            await asyncio.sleep(0.005)
            if (ended := time.perf_counter()) - began > 0.055:
                self._blocks.append((began, ended))

    def stop(self) -> None:
        """Stop sampling."""
        self._done.set()
        self.join()

    def longest(self, n: int = 5) -> list[dict[str, Any]]:
        """The n longest late wake-ups, with the stack seen most often in each."""
        out = []
        for began, ended in sorted(self._blocks, key=lambda b: b[0] - b[1])[:n]:
            seen = Counter(where for t, where in self._samples if began <= t <= ended)
            out.append({"ms": round((ended - began) * 1e3, 1), "most_seen": seen.most_common(3)})
        return out


def _child(args: argparse.Namespace) -> None:
    """One start in this process: --child prepare|with|without."""
    config_dir = Path(args.config_dir)
    if args.child == "prepare":
        asyncio.run(_prepare(config_dir, args.devices))
        return
    result = asyncio.run(_start(config_dir, Path(args.db)))
    print("RESULT " + json.dumps(result), flush=True)


def _run(
    kind: str, template: Path, storage: Path, work: Path, n_devices: int, *, keep: Path | None = None
) -> dict[str, Any]:
    """Copy the database and the stored files into a fresh config folder and start HA in a new process.

    `keep`: where to keep the config folder's stored files afterwards (without the database).
    """
    config_dir = work / kind
    shutil.rmtree(config_dir, ignore_errors=True)
    shutil.copytree(storage, config_dir)
    _enable_ours(config_dir, kind == "with")
    db = config_dir / "home-assistant_v2.db"
    shutil.copyfile(template, db)
    _mark_recorder_current(db)
    command = [
        sys.executable,
        str(Path(__file__)),
        "--child",
        kind,
        "--config-dir",
        str(config_dir),
        "--db",
        str(db),
        "--devices",
        str(n_devices),
    ]
    done = subprocess.run(command, cwd=ROOT, check=False, capture_output=True, text=True, timeout=240)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        print(done.stdout[-3000:], done.stderr[-5000:], sep="\n")
        raise SystemExit(f"the start {kind} failed (exit code {done.returncode})")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    result["log_tail"] = [line for line in done.stderr.splitlines() if "homeiq" in line][-20:]
    for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        leftover.unlink(missing_ok=True)  # a stale write-ahead log would corrupt the next copy
    if keep is not None:
        shutil.copytree(config_dir, keep)
    shutil.rmtree(config_dir, ignore_errors=True)
    return result


def _parse_args() -> argparse.Namespace:
    """Command line (the child modes are internal)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2, help="starts of each kind, alternating")
    parser.add_argument("--quick", action="store_true", help="200 devices, one start of each kind")
    parser.add_argument("--child", choices=("prepare", "with", "without"), help=argparse.SUPPRESS)
    parser.add_argument("--config-dir", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    return parser.parse_args()


def _prepare_storage(storage: Path, devices: int) -> None:
    """Write the registries of a home of `devices` devices into `storage` (in a child process)."""
    storage.mkdir()
    command = [sys.executable, str(Path(__file__)), "--child", "prepare"]
    command += ["--config-dir", str(storage), "--devices", str(devices)]
    subprocess.run(command, cwd=ROOT, check=True, timeout=240)
    (storage / "home-assistant_v2.db").unlink(missing_ok=True)


def _starts(
    args: argparse.Namespace, template: Path
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The first start with our entry (an installation), then restarts with and without it, alternating."""
    with tempfile.TemporaryDirectory(prefix="homeiq_bench_startup_") as tmp:
        work = Path(tmp)
        storage = work / "storage"
        _prepare_storage(storage, args.devices)
        # The first start with our entry creates its entities in the registry (an installation);
        # the measured starts are restarts: "with" from the files that start left behind.
        installed = work / "installed"
        first = _run("with", template, storage, work, args.devices, keep=installed)
        print(f"first start with our entry (installation): loop CPU {first['loop_cpu_s']:.2f} s", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {"with": [], "without": []}
        for k in range(args.runs):
            for kind in ("without", "with") if k % 2 == 0 else ("with", "without"):
                result = _run(kind, template, installed if kind == "with" else storage, work, args.devices)
                print(
                    f"{kind}: loop CPU {result['loop_cpu_s']:.2f} s, wall {result['wall_s']:.1f} s, "
                    f"longest block {result['probe'].get('max_block_ms', 0):.0f} ms, "
                    f"setup_entry {result['setup_entry']}, watched {result['watched_devices']}",
                    flush=True,
                )
                runs[kind].append(result)
    return first, runs


def _median(runs: list[dict[str, Any]], *path: str) -> float:
    """The median over starts of one figure (a key path into each start's result)."""
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value[key]
        values.append(float(value))
    return float(statistics.median(values))


def _figures(
    args: argparse.Namespace, first: dict[str, Any], runs: dict[str, list[dict[str, Any]]]
) -> list[Any]:
    """The start-up figures, each beside the same run's start without our entry."""
    with_cpu, without_cpu = _median(runs["with"], "loop_cpu_s"), _median(runs["without"], "loop_cpu_s")
    setup_wall = _median(runs["with"], "setup_entry", "wall_s")
    setup_cpu = _median(runs["with"], "setup_entry", "loop_cpu_s")
    block = max(r["probe"].get("max_block_ms", 0.0) for r in runs["with"])
    block_without = max(r["probe"].get("max_block_ms", 0.0) for r in runs["without"])
    watched = runs["with"][-1]["watched_devices"]
    added = with_cpu - without_cpu
    n = f"{args.devices:,} devices"
    return [
        figure(
            f"HA start-up, {n}: event-loop CPU time added by the integration",
            added,
            "s",
            baseline=without_cpu,
            baseline_label="loop CPU time of the same start without our entry, same run, alternating",
            target="< 1 s",
            met=added < 1.0,
            note=f"with {with_cpu:.2f} s vs without {without_cpu:.2f} s; async_setup_entry "
            f"{setup_wall:.1f} s wall, loop CPU meanwhile {setup_cpu:.2f} s (all loop tasks); "
            f"{watched:,} devices watched; medians of {args.runs} starts each",
        ),
        figure(
            f"HA start-up, {n}: wall time until started and idle",
            _median(runs["with"], "wall_s"),
            "s",
            baseline=_median(runs["without"], "wall_s"),
            baseline_label="without our entry, same run",
            note=f"our first scoring reads the 45-day window in the recorder's executor: "
            f"async_setup_entry {setup_wall:.1f} s",
        ),
        figure(
            f"HA start-up, {n}: longest event-loop block",
            block,
            "ms",
            baseline=block_without,
            baseline_label="without our entry, same run",
            note="probe lag minus the loop thread's run-queue wait, the longest of the starts; includes HA's "
            "own start-up work and waits for the GIL held by executor threads (no target: issue 14's 50 ms "
            "is for nightly learning)",
        ),
        _installation_figure(n, first, runs["without"], without_cpu),
    ]


def _installation_figure(
    n: str, first: dict[str, Any], without: list[dict[str, Any]], without_cpu: float
) -> dict[str, Any]:
    """The first start with our entry, which creates its entities, beside a start without it."""
    return figure(
        f"HA first start with the integration (installation), {n}: event-loop CPU time",
        first["loop_cpu_s"],
        "s",
        baseline=without_cpu,
        baseline_label="loop CPU time of a start without our entry, same run",
        note=f"creates its {first['states'] - without[0]['states']:,} entities in the registry; "
        f"longest block {first['probe'].get('max_block_ms', 0):.0f} ms",
    )


def main() -> None:
    """Measure start-ups with and without our entry; write bench/results/startup.json."""
    args = _parse_args()
    if args.child:
        _child(args)
        return
    if args.quick:
        args.devices, args.runs = 200, 1
    load_before = load_average()
    began = time.perf_counter()
    first, runs = _starts(args, _template(args.devices))
    figures = _figures(args, first, runs)
    print(f"added loop CPU {figures[0]['value']:.2f} s; total bench {time.perf_counter() - began:.0f} s")
    write_result(
        "startup",
        {
            "created": now_iso(),
            "machine": machine(),
            "load_average_1min_before": load_before,
            "devices": args.devices,
            "figures": figures,
            "runs": runs,
            "first_start": first,
        },
    )


if __name__ == "__main__":
    main()
