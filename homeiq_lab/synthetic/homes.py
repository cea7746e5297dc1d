"""Composing homes: `generate_home` runs the plans in order, `generate_homes` runs many.

`generate_homes` reads and fills a cache keyed by the config's fingerprint and
runs homes in joblib workers when asked; `cached_home` does the same for one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from custom_components.homeiq_device_intel.ml.records import HomeHistory, Power, StateSeries, StatSeries

from .batteries import _plan_battery, _plan_cycles
from .config import GeneratorConfig, _validate, config_fingerprint
from .devices import _plan_devices
from .failures import _assign_failure, _failure_events, _finalize, _plan_bridge_outages, _plan_timeline
from .household import _plan_home
from .rows import _entity_series, hourly_statistics
from .storage import _cache_stem, _is_cached, load_history, save_history


def generate_home(config: GeneratorConfig, home_index: int) -> HomeHistory:
    """Generate the full history of one synthetic home (deterministic for config + index)."""
    _validate(config)
    if not 0 <= home_index < config.n_homes:
        raise ValueError(f"home_index must be within [0, {config.n_homes})")
    home = _plan_home(config, home_index)
    devices = _plan_devices(config, home)
    for dev in devices:
        _assign_failure(dev, home, config)
        if dev.model.power is not Power.MAINS:
            dev.battery = _plan_battery(dev, home)
            _plan_cycles(dev, home, dev.battery)
    _plan_bridge_outages(devices, home)
    for dev in devices:
        _plan_timeline(dev, home)
        _finalize(dev, home)
        _failure_events(dev, home)
    states: dict[str, StateSeries] = {}
    statistics: dict[str, StatSeries] = {}
    for dev in devices:
        # The primary first: plugs' power and temperature follow its sessions.
        for spec in dev.entities:
            series = _entity_series(spec, dev, home)
            states[spec.info.entity_id] = series
            if spec.statistics:
                statistics[spec.info.entity_id] = hourly_statistics(series, home.start, home.end)
        dev.battery_rows = None
    events = sorted((e for d in devices for e in d.events), key=lambda e: (e.start, e.device_key, e.kind))
    return HomeHistory(
        home_id=home.home_id,
        start=home.start,
        end=home.end,
        devices=[d.info for d in devices],
        entities=[s.info for d in devices for s in d.entities],
        states=states,
        statistics=statistics,
        battery_swaps={d.info.device_key: d.swaps for d in devices if d.battery is not None},
        restarts=home.restarts.copy(),
        ground_truth=events,
        scenario={d.info.device_key: d.scenario for d in devices},
    )


def home_sizes(config: GeneratorConfig) -> list[int]:
    """Return the number of devices of each home of a config (drawing only the homes' plans).

    Cheap (about a millisecond a home): lets a scheduler start the biggest homes first.
    """
    _validate(config)
    return [_plan_home(config, i).n_devices for i in range(config.n_homes)]


def generate_homes(
    config: GeneratorConfig,
    n_jobs: int = 1,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> list[HomeHistory]:
    """Generate all homes of a config, in parallel with joblib when it is importable.

    With `cache_dir`, homes are stored under a hash of the config and the
    generator version (.npz without pickle + JSON) and read back next time.
    """
    _validate(config)
    folder = Path(cache_dir) / config_fingerprint(config) if cache_dir is not None else None
    homes: dict[int, HomeHistory] = {}
    if folder is not None:
        for i in range(config.n_homes):
            if _is_cached(stem := _cache_stem(folder, i)):
                homes[i] = load_history(stem)
    todo = [i for i in range(config.n_homes) if i not in homes]
    with tempfile.TemporaryDirectory(prefix="homeiq-synthetic-") as scratch:
        results = _run(config, todo, n_jobs, folder or Path(scratch))
        if progress:
            results = _with_progress(results, len(todo))
        for i, history in zip(todo, results, strict=True):
            homes[i] = history
            if folder is not None and not _cache_stem(folder, i).with_suffix(".json").exists():
                save_history(history, _cache_stem(folder, i))
    return [homes[i] for i in range(config.n_homes)]


def cached_home(config: GeneratorConfig, home_index: int, folder: Path | None) -> HomeHistory:
    """One home, read from `folder` (a config's cache folder) or generated and stored there."""
    if folder is None:
        return generate_home(config, home_index)
    stem = _cache_stem(folder, home_index)
    if _is_cached(stem):
        return load_history(stem)
    history = generate_home(config, home_index)
    save_history(history, stem)
    return history


def _run(config: GeneratorConfig, todo: list[int], n_jobs: int, folder: Path) -> Iterator[HomeHistory]:
    """Yield the homes in order: serially, or from joblib workers through files.

    Workers hand homes over as .npz files rather than through the pipe: a
    home is tens of MB, and reading a file back is far cheaper than unpickling.
    """
    if n_jobs != 1 and len(todo) > 1:
        try:
            from joblib import Parallel, delayed
        except ImportError:
            pass
        else:
            parallel = Parallel(n_jobs=n_jobs, return_as="generator")
            stems = parallel(delayed(_generate_into)(config, i, folder) for i in todo)
            return (load_history(stem) for stem in stems)
    return (generate_home(config, i) for i in todo)


def _generate_into(config: GeneratorConfig, home_index: int, folder: Path) -> Path:
    """Generate one home into `<folder>/home_<index>.npz/.json` (a worker's task)."""
    stem = _cache_stem(folder, home_index)
    save_history(generate_home(config, home_index), stem)
    return stem


def _with_progress(results: Iterator[HomeHistory], total: int) -> Iterator[HomeHistory]:
    try:
        from tqdm import tqdm
    except ImportError:
        return results
    return iter(tqdm(results, total=total, desc="homes", unit="home"))
