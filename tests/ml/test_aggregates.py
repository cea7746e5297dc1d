"""The stored hourly aggregates: round trip, merge beyond the purge window, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.aggregates import (
    AggregatesError,
    load_grid,
    merge_grids,
    save_grid,
)
from custom_components.homeiq_device_intel.ml.grid import HOUR, build_grid
from custom_components.homeiq_device_intel.ml.records import (
    DeviceRecord,
    EntityRecord,
    EntityRole,
    HomeHistory,
    Power,
    StateSeries,
    StatSeries,
    encode_states,
)

T0 = 1_700_000_000.0 - (1_700_000_000.0 % 86400)


def _history(first_day: int, last_day: int, *, devices=("a", "b"), outage_day: int | None = None):
    entities, states, stats = [], {}, {}
    for d in devices:
        hours = np.arange(first_day * 24, last_day * 24)
        times = T0 + hours * HOUR + 30
        values = [
            "unavailable" if outage_day is not None and h // 24 == outage_day else str(h % 2) for h in hours
        ]
        entities.append(EntityRecord(entity_id=f"sensor.{d}", device_key=d, role=EntityRole.PRIMARY))
        entities.append(EntityRecord(entity_id=f"sensor.{d}_battery", device_key=d, role=EntityRole.BATTERY))
        states[f"sensor.{d}"] = encode_states(times, values)
        all_hours = np.arange(0, last_day * 24)
        level = 100 - all_hours / 24
        stats[f"sensor.{d}_battery"] = StatSeries(
            start=T0 + all_hours * HOUR, mean=level, min=level, max=level
        )
    return HomeHistory(
        home_id="h",
        start=T0 + first_day * 86400 if first_day else T0,
        end=T0 + last_day * 86400,
        devices=[DeviceRecord(device_key=d, name=d, integration="zha", power=Power.BATTERY) for d in devices],
        entities=entities,
        states=states,
        statistics=stats,
    )


def test_round_trip_is_exact(tmp_path):
    grid = build_grid(_history(0, 20, outage_day=5))
    save_grid(grid, tmp_path / "agg.npz")
    loaded = load_grid(tmp_path / "agg.npz")
    assert loaded.device_keys == grid.device_keys
    assert loaded.n_hours == grid.n_hours and loaded.start == grid.start
    for name, channel in grid.channels.items():
        np.testing.assert_array_equal(loaded.channels[name], channel)
    assert [s.tolist() for s in loaded.swap_hours] == [s.tolist() for s in grid.swap_hours]


def test_merge_keeps_outages_older_than_the_purge_window():
    # Night 1 saw days 0-20 (outage on day 5); night 2 the recorder only has days 15-30.
    old = build_grid(_history(0, 20, outage_day=5))
    new = build_grid(_history(15, 30), start=T0, end=T0 + 30 * 86400)
    assert new.channels["unavailable"][:, 5 * 24 : 6 * 24].sum() == 0
    merged = merge_grids(old, new)
    assert merged.n_hours == 30 * 24
    assert merged.channels["unavailable"][0, 5 * 24 : 6 * 24].sum() == pytest.approx(24.0, abs=0.1)
    # hours the fresh grid covers come from the fresh grid
    np.testing.assert_array_equal(
        merged.channels["reports"][:, 16 * 24 :], new.channels["reports"][:, 16 * 24 :]
    )


def test_merge_drops_removed_devices_and_adds_new_ones():
    old = build_grid(_history(0, 10, devices=("a", "gone")))
    new = build_grid(_history(5, 12, devices=("a", "fresh")), start=T0, end=T0 + 12 * 86400)
    merged = merge_grids(old, new)
    assert merged.device_keys == ["a", "fresh"]
    assert merged.channels["reports"][1, : 5 * 24].sum() == 0


def test_merge_trims_to_the_kept_days():
    old = build_grid(_history(0, 20))
    new = build_grid(_history(15, 30), start=T0, end=T0 + 30 * 86400)
    merged = merge_grids(old, new, keep_days=10)
    assert merged.n_hours == 10 * 24
    assert merged.start == T0 + 20 * 86400


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_unreadable_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "agg.npz"
    path.write_bytes(content)
    with pytest.raises(AggregatesError):
        load_grid(path)


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "agg.npz"
    np.savez(path, version=np.array([1]), device_keys=np.array([{"x": 1}], dtype=object))
    with pytest.raises(AggregatesError):
        load_grid(path)


def test_consuming_merge_gives_the_same_grid_and_empties_the_new_one():
    old, new = build_grid(_history(0, 20, outage_day=5)), build_grid(_history(10, 30))
    expected = merge_grids(old, new)
    merged = merge_grids(old, new, consume_new=True)
    assert new.channels == {}
    for name, channel in expected.channels.items():
        np.testing.assert_array_equal(merged.channels[name], channel)
    assert merged.n_hours == expected.n_hours and merged.start == expected.start


def test_a_failed_save_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "agg.npz"
    grid = build_grid(_history(0, 20))
    save_grid(grid, path)
    before = path.read_bytes()

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        save_grid(build_grid(_history(0, 25)), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _outage_history(
    first_day: int,
    last_day: int,
    *,
    down: int = 12,
    back: int | None = 18,
    again: tuple[int, ...] = (),
    start_state: bool = False,
) -> HomeHistory:
    """Device a reports hourly; b goes unavailable on day `down` and is back on day `back` (None: never).

    The recorder keeps rows from `first_day` on (older ones purged): b's row saying it went
    unavailable is gone once first_day passes `down`, and its next row is on day `back`, or on
    a day of `again` (06:00), where HA wrote b's `unavailable` once more (as at a restart).
    With `start_state`, the reading opens each entity with its state at `first_day` (as it does
    when the recorder still holds the row before the window: it keeps more days than are read).
    """
    hours = np.arange(0, last_day * 24)
    times = T0 + hours * HOUR + 30
    keep = times >= T0 + first_day * 86400
    end = last_day * 24 if back is None else back * 24
    a = [str(h % 2) for h in hours]
    b = ["unavailable" if down * 24 <= h < end else str(h % 2) for h in hours]
    # b writes a row only when its state changes while it is down (or HA writes it again).
    b_rows = np.array([not (down * 24 < h < end) for h in hours]) | np.isin(
        hours, [d * 24 + 6 for d in again]
    )

    def series(rows: np.ndarray, values: list[str]) -> StateSeries:
        kept = np.flatnonzero(rows & keep)
        opened, before = [], np.flatnonzero(rows & ~keep)
        if start_state and before.size:
            opened = [(T0 + first_day * 86400, values[before[-1]])]
        return encode_states(
            [t for t, _ in opened] + list(times[kept]), [v for _, v in opened] + [values[h] for h in kept]
        )

    entities = [
        EntityRecord(entity_id="sensor.a", device_key="a", role=EntityRole.PRIMARY),
        EntityRecord(entity_id="sensor.b", device_key="b", role=EntityRole.PRIMARY),
    ]
    states = {"sensor.a": series(np.ones(hours.size, dtype=bool), a), "sensor.b": series(b_rows, b)}
    return HomeHistory(
        home_id="h",
        start=T0,
        end=T0 + last_day * 86400,
        devices=[DeviceRecord(device_key=d, name=d, integration="zha", power=Power.MAINS) for d in "ab"],
        entities=entities,
        states=states,
    )


def _night(stored, first_day: int, last_day: int, **outage):
    """The grid a night on `last_day` keeps: the recorder's rows since `first_day` merged into `stored`."""
    fresh = build_grid(_outage_history(first_day, last_day, **outage), start=T0, end=T0 + last_day * 86400)
    return fresh if stored is None else merge_grids(stored, fresh)


def test_merge_keeps_an_outage_that_began_before_the_purge_cutoff():
    """HA's purge deletes a device's last row once it is older than the cutoff (rev18nt).

    b went down on day 12 and wrote no row until day 18: the fresh grid of day 20 (rows
    from day 15) does not know b's state before day 18, so the stored grid's outage stands.
    """
    old = _night(None, 0, 17)
    assert old.channels["unavailable"][1, 12 * 24 : 17 * 24].sum() == pytest.approx(5 * 24, abs=0.1)
    merged = _night(old, 15, 20)
    assert merged.channels["unavailable"][1, 12 * 24 : 18 * 24].sum() == pytest.approx(6 * 24, abs=0.1)
    assert merged.channels["unavailable"][1, 18 * 24 :].sum() == 0
    np.testing.assert_array_equal(merged.channels["unavailable"][0], 0)


def test_an_outage_with_no_row_since_the_purge_cutoff_lasts_night_after_night():
    # b went down on day 12 and never wrote a row again; the recorder keeps 10 days.
    stored = None
    for night in range(13, 30):
        stored = _night(stored, max(night - 10, 0), night, back=None)
        assert stored.channels["unavailable"][1, 12 * 24 + 1 :].min() == pytest.approx(1.0), night
    assert stored.channels["drops"][1].sum() == 1


def test_a_device_available_when_its_last_row_was_purged_stays_available():
    # b's last row (day 11, available) is purged by day 25: it reads available, as the stored grid does.
    stored = None
    for night in range(12, 26):
        stored = _night(stored, max(night - 10, 0), night, down=30)
    b = stored.channels["unavailable"][1]
    assert np.isfinite(b).all() and b.sum() == 0


def test_no_state_is_carried_over_hours_nobody_saw():
    # The stored grid ends on day 13; the recorder now keeps rows from day 15 only: b's state in
    # between is unknown (its row may have been purged), so its outage is not carried into day 15.
    stored = _night(_night(None, 0, 13, back=None), 15, 20, back=None)
    assert stored.channels["unavailable"][1, 12 * 24 + 1 : 13 * 24].min() == pytest.approx(1.0)
    assert stored.channels["unavailable"][1, 15 * 24 :].sum() == 0


def test_an_outage_under_way_when_each_window_opens_is_one_drop():
    # b is down from day 12 to day 32; every night's 10-day window opens with b `unavailable`.
    stored = None
    for night in range(13, 40):
        stored = _night(stored, max(night - 10, 0), night, back=32, start_state=True)
    drops = stored.channels["drops"][1]
    assert drops.sum() == 1 and drops[12 * 24] == 1
    assert stored.channels["unavailable"][1, 12 * 24 + 1 : 32 * 24].min() == pytest.approx(1.0)


def test_an_outage_whose_first_row_was_purged_is_one_drop():
    # b went down on day 12; HA wrote its `unavailable` again on day 16 (a restart), read alone
    # once the day-12 row is purged; b is back on day 24.
    stored = None
    for night in range(13, 30):
        stored = _night(stored, max(night - 10, 0), night, back=24, again=(16,))
    drops = stored.channels["drops"][1]
    assert drops.sum() == 1 and drops[12 * 24] == 1


def test_a_device_unavailable_when_the_first_window_opens_has_a_drop_there():
    # First install: nothing earlier is known, so b's outage begins for the grid (and for the
    # labels' and features' runs) where the window opens: one outage, one drop.
    grid = _night(None, 14, 20, back=None, start_state=True)
    drops = grid.channels["drops"][1]
    assert drops.sum() == 1 and drops[14 * 24] == 1


def test_an_outage_begun_in_hours_nobody_saw_has_a_drop_where_it_is_first_seen():
    # The stored grid ends on day 10, before b went down (day 12); the recorder now keeps rows
    # from day 15, b's first on day 16: when it went down is not known, but it did.
    stored = _night(_night(None, 0, 10, back=None), 15, 20, back=None, again=(16,))
    drops = stored.channels["drops"][1]
    assert drops.sum() == 1 and drops[16 * 24 + 6] == 1


def test_a_quiet_device_going_down_after_its_last_row_was_purged_has_its_drop():
    # b wrote "on" on day 0 and nothing until it went down on day 22: that row is purged by
    # then, and the stored grid (to day 14) had it available.
    def history(first_day: int, last_day: int) -> HomeHistory:
        times = np.array([T0 + 30, T0 + 22 * 86400 + 30])
        kept = times >= T0 + first_day * 86400
        rows = [state for state, k in zip(("on", "unavailable"), kept, strict=True) if k]
        return HomeHistory(
            home_id="h",
            start=T0,
            end=T0 + last_day * 86400,
            devices=[DeviceRecord(device_key="b", name="b", integration="zha", power=Power.MAINS)],
            entities=[EntityRecord(entity_id="sensor.b", device_key="b", role=EntityRole.PRIMARY)],
            states={"sensor.b": encode_states(times[kept], rows)},
        )

    stored = build_grid(history(0, 14), start=T0, end=T0 + 14 * 86400)
    merged = merge_grids(stored, build_grid(history(13, 25), start=T0, end=T0 + 25 * 86400))
    drops = merged.channels["drops"][0]
    assert drops.sum() == 1 and drops[22 * 24] == 1
