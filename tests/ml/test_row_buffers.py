"""Row buffers: a kept window moved on in place gives exactly the rows of the copying path."""

from __future__ import annotations

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.recorder.buffers import RowBuffers
from custom_components.homeiq_device_intel.ml.recorder.decoding import encode_rows
from custom_components.homeiq_device_intel.ml.recorder.summary import ReadSummary
from custom_components.homeiq_device_intel.ml.recorder.window import _join_states, _open_at
from custom_components.homeiq_device_intel.ml.records import StateSeries

HOUR = 3600.0
OVERLAP = 2 * HOUR
WINDOW = 48 * HOUR


class _Recorder:
    """One entity's rows as a recorder keeps them; the last row's last_reported moves on in place."""

    def __init__(self, seed: int, states: list[str]) -> None:
        self.rng = np.random.default_rng(seed)
        self.states = states
        self.rows: list[list[object]] = [[0.0, states[0], 0.0]]
        self.now = 0.0

    def write_until(self, end: float, per_hour: float) -> None:
        t = self.now
        while True:
            t += float(self.rng.exponential(HOUR / per_hour))
            if t >= end:
                self.now = end  # nothing written since: the next row comes after `end`
                break
            state = self.states[int(self.rng.integers(len(self.states)))]
            if state == self.rows[-1][1] and self.rng.random() < 0.7:
                self.rows[-1][2] = t  # re-reported unchanged: last_reported moves on
            else:
                self.rows.append([t, state, t])

    def read(self, start: float, end: float) -> StateSeries:
        """What the reader returns for [start, end): opened by the last state before `start`."""
        times = [float(r[0]) for r in self.rows]
        first = int(np.searchsorted(times, start, side="left"))
        picked = [list(r) for r in self.rows[max(first - 1, 0) :] if float(r[0]) < end]
        if first > 0 and float(picked[0][0]) < start:
            picked[0][0] = start
            picked[0][2] = max(float(picked[0][2]), start)
        return encode_rows(
            np.array([float(r[0]) for r in picked]),
            [r[1] for r in picked],
            np.array([float(r[2]) for r in picked]),
            ReadSummary(),
        )


def _copied(old: StateSeries, fresh: StateSeries, overlap: float, start: float) -> StateSeries:
    joined = _join_states(old, fresh, overlap)
    assert joined is not None
    return _open_at(joined, start)


def _buffered(
    buffers: RowBuffers, old: StateSeries, fresh: StateSeries, overlap: float, start: float
) -> StateSeries:
    done = buffers.advance("e", old, fresh, overlap, start)
    return done if done is not None else buffers.adopt("e", _copied(old, fresh, overlap, start))


def _labelled(series: StateSeries) -> list[object]:
    return [series.labels[c] if c >= 0 else int(c) for c in series.code.tolist()]


def _assert_same(got: StateSeries, want: StateSeries) -> None:
    np.testing.assert_array_equal(got.time, want.time)
    np.testing.assert_array_equal(got.value, want.value)
    np.testing.assert_array_equal(got.code, want.code)
    assert got.code.dtype == want.code.dtype
    assert got.labels == want.labels
    assert got.last_reported is not None and want.last_reported is not None
    np.testing.assert_array_equal(got.last_reported, want.last_reported)


@pytest.mark.parametrize(
    ("seed", "states", "per_hour"),
    [
        (0, ["on", "off", "unavailable"], 3.0),
        (1, [f"{20 + i / 10:.1f}" for i in range(60)], 12.0),  # a numeric sensor: many labels
        (2, ["on", "off"], 0.2),  # mostly silent: hours without a new row
    ],
)
def test_two_weeks_of_hours_in_buffers_equal_the_copying_path_and_a_full_read(
    seed: int, states: list[str], per_hour: float
) -> None:
    recorder = _Recorder(seed, states)
    end = WINDOW + 0.3 * HOUR
    recorder.write_until(end, per_hour)
    copied = buffered = recorder.read(end - WINDOW, end)
    buffers = RowBuffers()
    in_place = 0
    for _ in range(14 * 24):
        overlap, end = end - OVERLAP, end + HOUR
        recorder.write_until(end, per_hour)
        fresh, start = recorder.read(overlap, end), end - WINDOW
        copied = _copied(copied, fresh, overlap, start)
        before = buffered.time.base
        buffered = _buffered(buffers, buffered, fresh, overlap, start)
        in_place += buffered.time.base is before
        _assert_same(buffered, copied)
        full = recorder.read(start, end)
        np.testing.assert_array_equal(buffered.time, full.time)
        assert _labelled(buffered) == _labelled(full)
    assert in_place > 0.8 * 14 * 24  # most hours wrote only their new rows


def test_an_older_view_or_a_second_advance_from_the_same_kept_series_copies() -> None:
    recorder = _Recorder(3, ["on", "off"])
    end = WINDOW + 0.5 * HOUR
    recorder.write_until(end + 2 * HOUR, 4.0)
    kept = recorder.read(end - WINDOW, end)
    buffers = RowBuffers()
    first = _buffered(
        buffers, kept, recorder.read(end - OVERLAP, end + HOUR), end - OVERLAP, end + HOUR - WINDOW
    )
    second = _buffered(
        buffers,
        first,
        recorder.read(end + HOUR - OVERLAP, end + 2 * HOUR),
        end + HOUR - OVERLAP,
        end + 2 * HOUR - WINDOW,
    )
    assert second.time.base is first.time.base  # moved on in place
    # `first` is superseded; a second advance from it is not done in place (it is not the last view).
    assert (
        buffers.advance(
            "e",
            first,
            recorder.read(end + HOUR - OVERLAP, end + 2 * HOUR),
            end + HOUR - OVERLAP,
            end + 2 * HOUR - WINDOW,
        )
        is None
    )
    buffers.clear()
    assert len(buffers) == 0
    assert (
        buffers.advance(
            "e",
            second,
            recorder.read(end + HOUR - OVERLAP, end + 2 * HOUR),
            end + HOUR - OVERLAP,
            end + 2 * HOUR - WINDOW,
        )
        is None
    )


@pytest.mark.parametrize("last_reported", [True, False])
def test_the_opening_row_is_encoded_as_encode_rows_does(last_reported: bool) -> None:
    """Each reading opens every entity with one row; its tokens are remembered per state."""
    from types import SimpleNamespace

    from custom_components.homeiq_device_intel.ml.recorder.reading import _start_state

    states: list[object] = [
        "on",
        "21.5",
        "unavailable",
        "unknown",
        "",
        None,
        5,
        5.0,
        True,
        "1_000",
        "nan",
        "1e400",
    ]
    start = 1_700_000_000.5
    for state in states * 2:  # the second time from the cache
        for reported in (start - 10.0, start + 30.0):
            plan = SimpleNamespace(
                start=start,
                start_states={"sensor.x": (state, reported)},
                schema=SimpleNamespace(last_reported=last_reported),
            )
            got = _start_state(plan, SimpleNamespace(attribute=None, entity_id="sensor.x"))  # type: ignore[arg-type]
            want = encode_rows(
                np.array([start]),
                [state],
                np.array([max(reported, start)]) if last_reported else None,
                ReadSummary(),
            )
            assert got is not None
            np.testing.assert_array_equal(got.time, want.time)
            np.testing.assert_array_equal(got.value, want.value)
            np.testing.assert_array_equal(got.code, want.code)
            assert got.code.dtype == want.code.dtype and got.value.dtype == want.value.dtype
            assert got.labels == want.labels, state
            if last_reported:
                assert got.last_reported is not None and want.last_reported is not None
                np.testing.assert_array_equal(got.last_reported, want.last_reported)
            else:
                assert got.last_reported is None
