"""Real recorder databases (schemas 29 to 47) read, featurised and scored without errors.

The databases live beside the project in ../shared; these tests skip where it is absent.
Availability is checked against the database itself: every 'unavailable' spell
the SQL shows is read, and the grid's drops and unavailable hours agree with it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.features import (
    FEATURE_NAMES,
    FeatureFrame,
    build_features,
    default_eval_hours,
)
from custom_components.homeiq_device_intel.ml.grid import HOUR, HourlyGrid, build_grid
from custom_components.homeiq_device_intel.ml.labels import TARGETS, Labels, build_labels, find_events
from custom_components.homeiq_device_intel.ml.recorder.reading import read_history
from custom_components.homeiq_device_intel.ml.recorder.summary import ReadSummary
from custom_components.homeiq_device_intel.ml.records import UNAVAILABLE, EntityRole, HomeHistory
from custom_components.homeiq_device_intel.ml.scoring import score_home
from tests.tiny_models import tiny_bundle

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "real-recorder"
DATABASES = sorted(DATA.glob("*.db")) if DATA.is_dir() else []

if not DATABASES:
    pytest.skip(f"no real recorder databases at {DATA}", allow_module_level=True)


@dataclass(slots=True, kw_only=True)
class Home:
    """One database read and run through the pipeline, with its raw rows for reference."""

    rows: dict[str, list[tuple[float, str | None]]]  # entity_id -> (time, state), time-ordered
    history: HomeHistory
    summary: ReadSummary
    grid: HourlyGrid
    frame: FeatureFrame
    labels: Labels


def _raw_rows(conn: sqlite3.Connection) -> dict[str, list[tuple[float, str | None]]]:
    """Every state row per entity, straight from SQL; of rows with equal times the last written."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    columns = {row[1] for row in conn.execute("PRAGMA table_info(states)")}
    time = "s.last_updated_ts" if "last_updated_ts" in columns else "s.last_updated"
    entity = "m.entity_id" if "states_meta" in tables else "s.entity_id"
    join = " JOIN states_meta m ON m.metadata_id = s.metadata_id" if "states_meta" in tables else ""
    sql = f"SELECT {entity}, {time}, s.state FROM states s{join} ORDER BY {entity}, {time}, s.state_id"
    rows: dict[str, list[tuple[float, str | None]]] = {}
    for entity_id, when, state in conn.execute(sql):
        if when is None:
            continue
        t = when if isinstance(when, float) else datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp()
        series = rows.setdefault(entity_id, [])
        if series and series[-1][0] == t:
            series.pop()
        series.append((t, state))
    return rows


def _spells(rows: list[tuple[float, str | None]]) -> int:
    """Available -> unavailable transitions (a first row that is unavailable counts)."""
    states = [state for _, state in rows]
    return sum(
        s == "unavailable" and (i == 0 or states[i - 1] != "unavailable") for i, s in enumerate(states)
    )


def _unavailable_hours(rows: list[tuple[float, str | None]], end: float) -> float:
    """Hours spent unavailable; the last row's state holds until `end`."""
    times = [t for t, _ in rows] + [end]
    return sum(times[i + 1] - t for i, (t, s) in enumerate(rows) if s == "unavailable") / HOUR


@pytest.fixture(scope="module", params=DATABASES, ids=lambda p: p.stem)
def home(request: pytest.FixtureRequest) -> Iterator[Home]:
    """Read one database (read-only) and build its grid, features and labels."""
    conn = sqlite3.connect(f"file:{request.param}?mode=ro", uri=True)
    try:
        rows = _raw_rows(conn)
        first = min(t for series in rows.values() for t, _ in series)
        last = max(t for series in rows.values() for t, _ in series)
        summary = ReadSummary()
        history = read_history(
            lambda sql, params: conn.execute(sql, params), start=first, end=last + 1.0, summary=summary
        )
    finally:
        conn.close()
    grid = build_grid(history)
    eval_hours = np.union1d(default_eval_hours(grid), [grid.n_hours]).astype(np.int64)
    frame = build_features(history, grid, eval_hours)
    labels = build_labels(grid, frame, find_events(grid))
    return Home(rows=rows, history=history, summary=summary, grid=grid, frame=frame, labels=labels)


def test_devices_entities_and_rows_are_read(home: Home):
    assert home.history.devices
    assert home.history.entities
    assert home.summary.state_rows > 0
    owned = {e.device_key for e in home.history.entities}
    assert owned == {d.device_key for d in home.history.devices}


def test_features_are_one_row_per_device_and_hour_and_finite_or_nan(home: Home):
    n_devices = len(home.history.devices)
    assert home.grid.device_keys == [d.device_key for d in home.history.devices]
    assert home.frame.X.shape[0] == n_devices * np.unique(home.frame.eval_hour).size
    assert home.frame.X.shape[1] == len(FEATURE_NAMES)
    assert not np.any(np.isinf(home.frame.X))
    for channel in home.grid.channels.values():
        assert not np.any(np.isinf(channel))


def test_labels_are_binary_or_missing(home: Home):
    for target in TARGETS:
        y = home.labels.y[target]
        assert np.all(np.isnan(y) | (y == 0.0) | (y == 1.0))


def test_scoring_gives_one_prediction_per_device(home: Home):
    predictions = score_home(home.history, tiny_bundle(), now=home.history.end)
    assert [p.device_key for p in predictions] == [d.device_key for d in home.history.devices]
    assert all(0.0 <= p.probability <= 1.0 for p in predictions)


def test_every_unavailable_spell_in_the_database_is_read(home: Home):
    read = {
        e.entity_id: int(
            np.count_nonzero(
                np.diff(np.r_[0, home.history.states[e.entity_id].code == UNAVAILABLE].astype(int)) == 1
            )
        )
        for e in home.history.entities
        if e.attribute is None
    }
    in_database = {entity_id: _spells(home.rows[entity_id]) for entity_id in read}
    assert read == in_database
    assert sum(read.values()) > 0


def test_grid_availability_agrees_with_the_database(home: Home):
    grid = home.grid
    end = grid.start + grid.n_hours * HOUR
    primary = {e.device_key: e.entity_id for e in home.history.entities if e.role is EntityRole.PRIMARY}
    sql_spells = sql_hours = grid_drops = grid_hours = 0.0
    for row, device_key in enumerate(grid.device_keys):
        entity_id = primary.get(device_key)
        if entity_id is None or entity_id not in home.rows:
            continue
        spells = _spells(home.rows[entity_id])
        hours = _unavailable_hours(home.rows[entity_id], end)
        drops = float(grid["drops"][row].sum())
        unavailable = float(grid["unavailable"][row].sum())
        # Short reconnects right after an HA restart are left out, never added.
        assert drops <= spells, entity_id
        assert unavailable <= hours + 1e-3, entity_id
        sql_spells += spells
        sql_hours += hours
        grid_drops += drops
        grid_hours += unavailable
    assert sql_spells > 0
    assert sql_spells / 10 <= grid_drops <= sql_spells
    assert grid_hours == pytest.approx(sql_hours, rel=0.05)
