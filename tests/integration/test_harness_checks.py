"""Home Assistant's own test-harness checks stay on: lingering tasks and timers, loop exceptions.

The integration runs inside someone's Home Assistant; the harness's checks are
how the tests see a task, timer or thread that would outlive the entry there.
A test that switches one off must not slip in unnoticed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from tests.integration.conftest import FROZEN_CLOCK_START

TESTS = Path(__file__).resolve().parents[1]
# Ways a test module could switch a check off: override or parametrize the fixtures
# the harness reads, replace its cleanup check, or swallow the loop's exception handler.
SILENCERS = re.compile(
    r"expected_lingering_(tasks|timers)"
    r"|verify_cleanup"
    r"|set_exception_handler"
    r"|get_scheduled_timer_handles"
)


def test_the_lingering_checks_are_on_in_this_test(
    request: pytest.FixtureRequest, expected_lingering_tasks: bool, expected_lingering_timers: bool
) -> None:
    assert "verify_cleanup" in request.fixturenames
    assert expected_lingering_tasks is False
    assert expected_lingering_timers is False


def test_no_test_module_silences_the_harness_checks() -> None:
    this = Path(__file__).resolve()
    offenders = [
        f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path.resolve() != this
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if SILENCERS.search(line)
    ]
    assert offenders == []


def test_the_silencer_pattern_catches_the_usual_ways() -> None:
    """The scan above is only as good as its pattern: it must see each way of switching a check off."""
    # The samples are assembled, so a plain scan of this repository does not take them for the real thing.
    lingering = "expected_lingering_"
    for line in (
        f'@pytest.mark.parametrize("{lingering}timers", [True])',
        f"def {lingering}tasks() -> bool:",
        "hass.loop.set_exception_handler(None)",
        'with patch("pytest_homeassistant_custom_component.plugins.verify_cleanup"):',
    ):
        assert SILENCERS.search(line), line


async def test_a_test_on_the_frozen_clock_starts_at_a_fixed_noon(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Not at the real time: a test moving the clock some hours on would cross the nightly run or
    midnight only when run at certain hours of the day (`conftest.FROZEN_CLOCK_START`)."""
    now = dt_util.now()
    assert (now.year, now.month, now.day, now.hour, now.minute) == FROZEN_CLOCK_START
    assert now.tzinfo == dt_util.get_default_time_zone()
