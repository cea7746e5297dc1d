"""Scoring from new rows only: a kept recorder window advanced hour by hour equals a full read.

The demo home's recorder database (real HA schema, restarts, rows re-reported
in place) is read for a simulated week of hourly scorings, with devices
coming and going; at every hour the kept window, advanced by a read of the
new rows only, must equal a full read of the 45-day window, and the
predictions made from them must be identical.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.bundle import load_bundle
from custom_components.homeiq_device_intel.ml.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from custom_components.homeiq_device_intel.ml.recorder.buffers import RowBuffers
from custom_components.homeiq_device_intel.ml.recorder.planning import CatalogCache
from custom_components.homeiq_device_intel.ml.recorder.reading import read_history
from custom_components.homeiq_device_intel.ml.recorder.window import (
    advance,
    needs_full_read,
    oldest_real_row,
    read_start,
    statistics_read_start,
)
from custom_components.homeiq_device_intel.ml.records import HomeHistory, StateSeries
from custom_components.homeiq_device_intel.ml.scoring import SCORING_WINDOW_DAYS, home_grid, score_home
from homeiq_lab.demo.home import build_demo_home
from homeiq_lab.demo.recorder_db import write_recorder_db

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "custom_components" / "homeiq_device_intel" / "models"
NOW = 1_767_225_600.0
HOUR = 3600.0
DAY = 86400.0
WINDOW = SCORING_WINDOW_DAYS * DAY


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], float]:
    demo = build_demo_home(NOW)
    path = tmp_path_factory.mktemp("window") / "home-assistant_v2.db"
    write_recorder_db(
        path, demo.recorded, restarts=demo.history.restarts.tolist(), start=demo.history.start, end=demo.end
    )
    # A third of the home keeps the week's 2 x 168 reads short; every kind of entity is among them.
    return path, sorted(demo.recorded)[::3], demo.end


def _query_of(connection: sqlite3.Connection) -> Callable[[str, dict[str, object]], list[tuple[object, ...]]]:
    """The recorder-style query function over one connection."""

    def query(sql: str, params: dict[str, object]) -> list[tuple[object, ...]]:
        return connection.execute(sql, params).fetchall()

    return query


def _writable_copy(path: Path, tmp_path: Path) -> Path:
    """A copy of the module's demo database a test may write to."""
    copy = tmp_path / "home-assistant_v2.db"
    copy.write_bytes(path.read_bytes())
    return copy


def _labelled(series: StateSeries) -> list[object]:
    return [series.labels[c] if c >= 0 else int(c) for c in series.code.tolist()]


def assert_same_history(got: HomeHistory, want: HomeHistory) -> None:
    """Equal rows, statistics, restarts and swaps (state tokens compared by their strings)."""
    assert (got.start, got.end, got.devices, got.entities) == (
        want.start,
        want.end,
        want.devices,
        want.entities,
    )
    assert set(got.states) == set(want.states)
    for key, series in want.states.items():
        mine = got.states[key]
        np.testing.assert_array_equal(mine.time, series.time, err_msg=key)
        np.testing.assert_array_equal(mine.value, series.value, err_msg=key)
        assert _labelled(mine) == _labelled(series), key
        if series.last_reported is None:
            assert mine.last_reported is None
        else:
            assert mine.last_reported is not None
            np.testing.assert_array_equal(mine.last_reported, series.last_reported, err_msg=key)
    assert set(got.statistics) == set(want.statistics)
    for key, stat in want.statistics.items():
        for name in ("start", "mean", "min", "max"):
            np.testing.assert_array_equal(
                getattr(got.statistics[key], name), getattr(stat, name), err_msg=key
            )
    np.testing.assert_array_equal(got.restarts, want.restarts)
    assert set(got.battery_swaps) == set(want.battery_swaps)
    for key, times in want.battery_swaps.items():
        np.testing.assert_array_equal(got.battery_swaps[key], times)


def _watched(entities: Sequence[str], hour: int) -> list[str]:
    """Devices coming and going: some leave on day 2 and come back on day 4, one joins on day 5."""
    devices = sorted({e.split(".", 1)[1].rsplit("_", 1)[0] for e in entities})
    leaving = set(devices[3:6])
    joining = devices[-1]
    watched = []
    for entity in entities:
        device = entity.split(".", 1)[1].rsplit("_", 1)[0]
        if device in leaving and 2 * 24 <= hour < 4 * 24:
            continue
        if device == joining and hour < 5 * 24:
            continue
        watched.append(entity)
    return watched


def _scorings(end: float) -> Iterable[tuple[int, float]]:
    first = end - 7 * DAY + 17 * 60.0  # off the hour, as a real scoring is
    for hour in range(7 * 24):
        yield hour, first + hour * HOUR


class _BufferedWindow:
    """Hourly readings as `KeptHistory` makes them: new rows joined into `RowBuffers`."""

    def __init__(self, query: Callable[[str, dict[str, object]], list[tuple[object, ...]]]) -> None:
        self.query = query
        self.buffers = RowBuffers()
        self.kept: HomeHistory | None = None
        self.ids: list[str] = []
        self.advanced = 0
        self.in_place = 0

    def read(self, ids: list[str], start: float, now: float, oldest: float) -> HomeHistory:
        kept, history = self.kept, None
        if ids == self.ids and needs_full_read(kept, start=start, end=now, oldest_row=oldest) is None:
            assert kept is not None
            since = statistics_read_start(kept)
            new = read_history(
                self.query, start=read_start(kept), end=now, entity_ids=ids, statistics_start=since
            )
            before = {key: id(series.time.base) for key, series in kept.states.items()}
            history = advance(kept, new, start=start, buffers=self.buffers, statistics_start=since)
            assert history is not None
            self.advanced += 1
            # A series joined in place is a view of the same buffer as the kept one.
            self.in_place += sum(
                id(series.time.base) == before.get(key) for key, series in history.states.items()
            )
        if history is None:
            self.buffers.clear()
            history = read_history(self.query, start=start, end=now, entity_ids=ids)
        self.kept, self.ids = history, ids
        return history


def _same_tokens(got: HomeHistory, want: HomeHistory) -> bool:
    """The same codes and labels (not only the same strings) in every series."""
    return all(
        np.array_equal(got.states[key].code, series.code) and got.states[key].labels == series.labels
        for key, series in want.states.items()
    )


def test_a_week_of_hourly_scorings_from_new_rows_equals_full_reads(
    demo_db: tuple[Path, list[str], float],
) -> None:
    path, entities, end = demo_db
    bundle = load_bundle(
        SHIPPED, expected_feature_names=FEATURE_NAMES, expected_schema_version=FEATURE_SCHEMA_VERSION
    )
    with sqlite3.connect(path) as connection:
        query = _query_of(connection)

        oldest = connection.execute("SELECT MIN(last_updated_ts) FROM states").fetchone()[0]
        kept: HomeHistory | None = None
        kept_ids: list[str] = []
        advanced = full_reads = 0
        # As KeptHistory: a full read lists the catalog, the reads of new rows reuse its selection;
        # the same hours once more with the kept rows in buffers (only new rows copied).
        catalog, buffered = CatalogCache(), _BufferedWindow(query)
        for hour, now in _scorings(end):
            ids = _watched(entities, hour)
            start = now - WINDOW
            full = read_history(query, start=start, end=now, entity_ids=ids)
            history = None
            if ids == kept_ids and needs_full_read(kept, start=start, end=now, oldest_row=oldest) is None:
                assert kept is not None
                since = statistics_read_start(kept)
                new = read_history(
                    query,
                    start=read_start(kept),
                    end=now,
                    entity_ids=ids,
                    catalog=catalog,
                    statistics_start=since,
                )
                history = advance(kept, new, start=start, statistics_start=since)
            if history is None:
                catalog.refresh()
                history = read_history(query, start=start, end=now, entity_ids=ids, catalog=catalog)
                full_reads += 1
            else:
                advanced += 1
            assert_same_history(history, full)
            in_buffers = buffered.read(ids, start, now, oldest)
            assert_same_history(in_buffers, full)
            assert _same_tokens(in_buffers, history)
            if hour % 23 == 0 or hour == 7 * 24 - 1:
                want = score_home(full, bundle, now=now, grid=home_grid(full, now=now))
                for mine in (history, in_buffers):
                    assert score_home(mine, bundle, now=now, grid=home_grid(mine, now=now)) == want
            kept, kept_ids = history, ids
    assert buffered.advanced == advanced
    assert buffered.in_place > 0.9 * advanced * len(buffered.buffers)
    # The first reading and each change of devices read everything; the other hours only new rows.
    assert full_reads == 4
    assert advanced == 7 * 24 - 4
    # Every read of new rows planned with the full read's selection, without listing the catalog.
    assert (catalog.hits, catalog.misses) == (advanced, full_reads)


def test_the_kept_selection_is_listed_again_when_the_catalog_changes(
    demo_db: tuple[Path, list[str], float], tmp_path: Path
) -> None:
    path, entities, end = demo_db
    copy = _writable_copy(path, tmp_path)
    catalog = CatalogCache()
    with sqlite3.connect(copy) as connection:
        query = _query_of(connection)

        def read(ids: list[str]) -> HomeHistory:
            got = read_history(query, start=end - DAY, end=end, entity_ids=ids, catalog=catalog)
            assert_same_history(got, read_history(query, start=end - DAY, end=end, entity_ids=ids))
            return got

        ids = entities[:10]
        read(ids)
        read(ids)
        assert (catalog.hits, catalog.misses) == (1, 1)
        read(entities[:9])  # another request
        assert (catalog.hits, catalog.misses) == (1, 2)
        read(entities[:9])
        assert (catalog.hits, catalog.misses) == (2, 2)
        # A new entity, a new attribute set and a changed statistic each change the catalog.
        connection.execute("INSERT INTO states_meta (entity_id) VALUES ('sensor.new_thing')")
        read(entities[:9])
        connection.execute(
            'INSERT INTO state_attributes (hash, shared_attrs) VALUES (1, \'{"device_class": "battery"}\')'
        )
        read(entities[:9])
        assert (catalog.hits, catalog.misses) == (2, 4)
        read(entities[:9])
        (stat_id,) = connection.execute("SELECT id FROM statistics_meta LIMIT 1").fetchone()
        connection.execute("UPDATE statistics_meta SET unit_of_measurement = 'mV' WHERE id = ?", (stat_id,))
        read(entities[:9])
        assert (catalog.hits, catalog.misses) == (3, 5)
        catalog.refresh()
        read(entities[:9])
        assert (catalog.hits, catalog.misses) == (3, 6)


def test_a_purge_or_a_clock_jump_asks_for_a_full_read(demo_db: tuple[Path, list[str], float]) -> None:
    path, entities, end = demo_db
    with sqlite3.connect(path) as connection:
        query = _query_of(connection)

        kept = read_history(query, start=end - DAY - WINDOW, end=end - DAY, entity_ids=entities[:10])
    oldest = oldest_real_row(kept)
    assert oldest is not None
    assert needs_full_read(None, start=end - WINDOW, end=end, oldest_row=None) == "nothing kept"
    assert (
        needs_full_read(kept, start=end - DAY - WINDOW + HOUR, end=end - DAY + HOUR, oldest_row=oldest)
        is None
    )
    assert needs_full_read(kept, start=end - DAY - WINDOW + HOUR, end=end - DAY + HOUR, oldest_row=oldest + 1)
    assert needs_full_read(kept, start=end - 2 * DAY - WINDOW, end=end - 2 * DAY, oldest_row=oldest)
    assert needs_full_read(kept, start=end - WINDOW, end=end, oldest_row=oldest)  # a day without a reading
    # A read that does not overlap the kept window, or of other entities, is not joined.
    with sqlite3.connect(path) as connection:
        query2 = _query_of(connection)

        other = read_history(query2, start=read_start(kept), end=end - DAY + HOUR, entity_ids=entities[:9])
        late = read_history(query2, start=end - DAY + 60.0, end=end - DAY + HOUR, entity_ids=entities[:10])
    assert advance(kept, other, start=end - DAY - WINDOW + HOUR) is None
    assert advance(kept, late, start=end - DAY - WINDOW + HOUR) is None


def test_rows_the_recorder_wrote_late_are_joined_as_a_full_read_sees_them(
    demo_db: tuple[Path, list[str], float], tmp_path: Path
) -> None:
    """State rows committed minutes late, and the last hour's statistics compiled after the reading."""
    path, entities, end = demo_db
    copy = _writable_copy(path, tmp_path)
    kept_end = end - DAY + 17 * 60.0
    now = kept_end + HOUR
    last_hour = np.floor(kept_end / HOUR) * HOUR - HOUR
    with sqlite3.connect(copy) as connection:
        query = _query_of(connection)

        late_states = connection.execute(
            "SELECT * FROM states WHERE last_updated_ts >= ? AND last_updated_ts < ?",
            (kept_end - 10 * 60.0, kept_end),
        ).fetchall()
        late_stats = connection.execute(
            "SELECT * FROM statistics WHERE start_ts = ?", (last_hour,)
        ).fetchall()
        assert late_states and late_stats
        connection.execute(
            "DELETE FROM states WHERE last_updated_ts >= ? AND last_updated_ts < ?",
            (kept_end - 10 * 60.0, kept_end),
        )
        connection.execute("DELETE FROM statistics WHERE start_ts = ?", (last_hour,))
        kept = read_history(query, start=kept_end - WINDOW, end=kept_end, entity_ids=entities)
        for table, rows in (("states", late_states), ("statistics", late_stats)):
            marks = ", ".join("?" * len(rows[0]))
            connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        full = read_history(query, start=now - WINDOW, end=now, entity_ids=entities)
        since = statistics_read_start(kept)
        new = read_history(
            query, start=read_start(kept), end=now, entity_ids=entities, statistics_start=since
        )
        history = advance(kept, new, start=now - WINDOW, statistics_start=since)
        from_overlap = read_history(query, start=read_start(kept), end=now, entity_ids=entities)
        without_late_hour = advance(kept, from_overlap, start=now - WINDOW)
    assert history is not None and without_late_hour is not None
    assert_same_history(history, full)
    # Statistics read from the states' overlap only: the late statistics hour would be lost.
    assert any(
        last_hour in full.statistics[key].start and last_hour not in stat.start
        for key, stat in without_late_hour.statistics.items()
    )
