"""The recall ceiling: which positive rows show a warning, from the generator's truth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.grid import HOUR
from custom_components.homeiq_device_intel.ml.records import (
    DeviceRecord,
    EntityRecord,
    EntityRole,
    FailureEvent,
    FailureType,
    HomeHistory,
    Power,
    encode_states,
)
from homeiq_lab.ceiling import observable_share, row_observable, signless_positives
from homeiq_lab.dataset import build_dataset
from homeiq_lab.synthetic import FAILURE_FAMILIES, GeneratorConfig, Variation, generate_home

T0 = 1_700_000_000.0 - (1_700_000_000.0 % 86400)
DAY_S = 86400.0
OUTAGE_HOUR = 20 * 24 + 8  # day 20, 08:00, for 10 hours
UNAVAILABLE = FailureType.UNAVAILABLE.value


def _home(truth: list[FailureEvent], scenario: str = "sudden_death") -> HomeHistory:
    down = range(OUTAGE_HOUR, OUTAGE_HOUR + 10)
    times = [T0 + h * HOUR + 60 for h in range(30 * 24)]
    states = ["unavailable" if h in down else str(h % 2) for h in range(30 * 24)]
    return HomeHistory(
        home_id="test",
        start=T0,
        end=T0 + 30 * DAY_S,
        devices=[DeviceRecord(device_key="a", name="a", integration="shelly", power=Power.MAINS)],
        entities=[EntityRecord(entity_id="sensor.a", device_key="a", role=EntityRole.PRIMARY)],
        states={"sensor.a": encode_states(times, states)},
        statistics={},
        ground_truth=truth,
        scenario={"a": scenario},
    )


def _outage(warning_day: float | None) -> FailureEvent:
    return FailureEvent(
        device_key="a",
        kind=UNAVAILABLE,
        start=T0 + OUTAGE_HOUR * HOUR,
        end=T0 + (OUTAGE_HOUR + 10) * HOUR,
        warning=None if warning_day is None else T0 + warning_day * DAY_S,
    )


def _share(history: HomeHistory) -> tuple[float, float]:
    ds = build_dataset([history])
    rows = np.ones(len(ds), dtype=bool)
    share = observable_share([history], ds, rows)[UNAVAILABLE]
    return share["positives"], share["observable_share"]


def test_rows_before_the_warning_cannot_be_foreseen():
    # Rows of days 14..20 see the outage coming within 7 days; the warning begins on day 17.
    positives, share = _share(_home([_outage(17.0)]))
    assert positives == 7
    assert share == pytest.approx(4 / 7)


def test_a_failure_without_warning_cannot_be_foreseen_at_all():
    assert _share(_home([_outage(None)])) == (7, 0.0)


def test_a_failure_with_no_truth_behind_it_counts_as_foreseeable():
    assert _share(_home([])) == (7, 1.0)


def test_a_falling_battery_warns_from_the_start():
    assert _share(_home([_outage(19.0)], scenario="battery_slope")) == (7, 1.0)


def test_model_recall_on_foreseeable_rows():
    history = _home([_outage(17.0)])
    ds = build_dataset([history])
    rows = np.ones(len(ds), dtype=bool)
    # An alarm on the day-18 row only: one of the four foreseeable positives.
    alarm = (ds.hour == 18 * 24) & (ds.y[UNAVAILABLE] == 1)
    alarms = {t: np.zeros(len(ds), dtype=bool) for t in ds.y}
    alarms[UNAVAILABLE] = alarm
    entry = observable_share([history], ds, rows, alarms)[UNAVAILABLE]
    assert entry["recall_on_observable"] == pytest.approx(1 / 4)
    seen = row_observable([history], ds, rows, UNAVAILABLE)
    assert seen.sum() == 4


def test_signless_positives_are_the_failing_days_before_the_first_sign():
    history = _home([_outage(17.0)])
    ds = build_dataset([history])
    rows = np.ones(len(ds), dtype=bool)
    signless = signless_positives([history], ds, rows, UNAVAILABLE)
    # Days 14, 15 and 16 see the outage coming within 7 days, before its warning began on day 17.
    assert sorted(ds.hour[signless] // 24) == [14, 15, 16]
    assert np.all(ds.y[UNAVAILABLE][signless] == 1.0)
    # Only among the rows asked about, and never for a home whose truth is not given.
    assert not signless_positives([history], ds, ds.hour >= 17 * 24, UNAVAILABLE).any()
    assert not signless_positives([replace(history, home_id="other")], ds, rows, UNAVAILABLE).any()


@pytest.mark.parametrize(("fraction", "expect_none"), [(1.0, True), (0.0, False)])
def test_generator_records_when_warnings_begin(fraction: float, expect_none: bool):
    config = GeneratorConfig(
        n_homes=1,
        days=60,
        devices_per_home=(30, 30),
        failure_rate=1.0,
        seed=3,
        variation=replace(Variation(), no_precursor_fraction=fraction),
    )
    home = generate_home(config, 0)
    kinds = (*(t.value for t in FailureType), "stuck")
    failing = {d for d, family in home.scenario.items() if family in FAILURE_FAMILIES}
    failures = [e for e in home.ground_truth if e.kind in kinds and e.device_key in failing]
    assert failures
    if expect_none:
        # Flapping itself warns of the long outage after it; nothing else does.
        assert all(e.warning is None for e in failures if home.scenario[e.device_key] != "flapping")
    else:
        # A sudden death never warns; dropouts warn when any were drawn (test_synthetic).
        signed = [
            e
            for e in failures
            if home.scenario[e.device_key] not in ("sudden_death", "intermittent_dropouts")
        ]
        assert signed
        assert all(e.warning is not None and e.warning < e.start for e in signed)
        assert all(e.warning is None for e in failures if home.scenario[e.device_key] == "sudden_death")
