"""The restart replay mask, computed on the rows near restarts only, equals the all-rows formula."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from custom_components.homeiq_device_intel.ml.grid import RESTART_REPLAY_SECONDS, _replay_mask
from custom_components.homeiq_device_intel.ml.records import UNAVAILABLE, StateSeries


def _every_row(series: StateSeries, restarts: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """The formula on every row (as before the restriction)."""
    if restarts.size == 0 or len(series) == 0:
        return np.zeros(len(series), dtype=bool)
    idx = np.searchsorted(restarts, series.time, side="right") - 1
    since = np.where(idx >= 0, series.time - restarts[np.maximum(idx, 0)], np.inf)
    same = np.zeros(len(series), dtype=bool)
    for i in range(1, len(series)):
        # compared with the state before the `unavailable` rows just before it (if any)
        j = i - 1
        while j > 0 and series.code[j] == UNAVAILABLE:
            j -= 1
        same[i] = series.code[i] == series.code[j]
    out: npt.NDArray[np.bool_] = (since <= RESTART_REPLAY_SECONDS) & same
    return out


@pytest.mark.parametrize("seed", range(20))
def test_replay_mask_equals_the_formula_on_every_row(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t0 = 1_700_000_000.0
    n = int(rng.integers(0, 400))
    time = np.sort(t0 + rng.uniform(0, 5 * 86400.0, n))
    restarts = np.unique(t0 + rng.uniform(-3600.0, 5 * 86400.0, int(rng.integers(0, 12))))
    if n and restarts.size:
        # Rows exactly at, and at the edge of, a restart's replay window.
        k = min(n, restarts.size)
        time[:k] = restarts[:k]
        time[-k:] = restarts[:k] + RESTART_REPLAY_SECONDS * rng.choice([1.0, 1.0 + 1e-12, 0.5], k)
        time = np.sort(time)
    code = rng.integers(-2, 3, n).astype(np.int32)
    series = StateSeries(time=time, value=np.full(n, np.nan), code=code)
    np.testing.assert_array_equal(_replay_mask(series, restarts), _every_row(series, restarts))
