"""Nightly learning: one training run at a time, in an executor, cancellable."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dt_time
from enum import StrEnum
from functools import partial
from typing import Any, Final, Protocol

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from .aggregates_store import AggregatesStore
from .const import (
    DOMAIN,
    EVENT_TRAINING_FINISHED,
    LOGGER,
    TRAINING_FAILURES_FOR_ISSUE,
)
from .discovery import WatchedDevice
from .issues import async_clear_model_refused, async_update_training_failing
from .lifecycle import STOP_TIMEOUT, WorkGuard, WorkStopped
from .ml.learning import TrainingCancelled, TrainingStep, TrainMode, TrainResult, TrainStatus, train_home
from .ml.scoring import home_grid
from .model_store import ActiveModel, ModelStore
from .recorder_source import RecorderReadError, async_read_history, with_stored_devices
from .settings import HomeIQSettings
from .stored_state import StoredState

TRAINING_WINDOW: Final = timedelta(days=180)
# Errors are shown as a state attribute: keep them well under the recorder's limit.
MAX_ERROR_LENGTH: Final = 500


def next_nightly_run(after: datetime, at: dt_time) -> datetime:
    """Return the first nightly run (UTC) strictly after ``after``: one per local day.

    A wall time that does not exist that day (clocks going forward) runs at the
    same instant, which the clock shows shifted by the gap (02:30 becomes 03:30);
    a wall time that happens twice (clocks going back) runs at its first occurrence.
    """
    time_zone = dt_util.get_default_time_zone()
    day = dt_util.as_local(after).date()
    run = dt_util.as_utc(datetime.combine(day, at, tzinfo=time_zone))
    if run <= after:
        run = dt_util.as_utc(datetime.combine(day + timedelta(days=1), at, tzinfo=time_zone))
    return run


class TrainingStatus(StrEnum):
    """What the status sensor shows."""

    IDLE = "idle"
    RUNNING = "running"
    FAILED = "failed"
    INSUFFICIENT_DATA = "insufficient_data"


class TrainingAlreadyRunning(Exception):
    """Raised when a run is requested while another one is going."""


class RollbackInProgress(Exception):
    """Raised when a run or a rollback is requested while a rollback changes the model in use."""


# The share of a run's progress bar spent reading the recorder, before train_home reports.
READING_SHARE = 0.1


@dataclass(slots=True, kw_only=True)
class TrainingState:
    """The trainer's progress and history, as shown and stored."""

    status: TrainingStatus = TrainingStatus.IDLE
    progress: float | None = None  # 0..100 while running, never going back
    step: TrainingStep | None = None
    fitting: str | None = None  # the failure type being fitted, during TrainingStep.FITTING
    error: str | None = None
    last_trained: datetime | None = None
    consecutive_failures: int = 0
    last_run: dict[str, Any] = field(default_factory=dict)
    # The shipped release the home model in use was judged better than, or rolled back from:
    # runs of that release learn on the model in use, not on the shipped one again.
    declined_release: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return what survives a restart."""
        return {
            "status": (TrainingStatus.IDLE if self.status is TrainingStatus.RUNNING else self.status).value,
            "error": self.error,
            "last_trained": self.last_trained.isoformat() if self.last_trained else None,
            "consecutive_failures": self.consecutive_failures,
            "last_run": self.last_run,
            "declined_release": self.declined_release,
        }

    @classmethod
    def from_dict(cls, data: object) -> TrainingState:
        """Restore what ``as_dict`` saved; fields that are not well-formed get defaults, with one warning."""
        saved = data if isinstance(data, dict) else {}
        status = saved.get("status", TrainingStatus.IDLE.value)
        error = saved.get("error")
        last_trained = saved.get("last_trained")
        try:
            trained_at = dt_util.parse_datetime(last_trained) if isinstance(last_trained, str) else None
            if trained_at is not None and trained_at.tzinfo is not None:
                trained_at = dt_util.as_utc(trained_at)
        # Shaped like a time, but not a real one (month 13), or one with no UTC date (year 9999 at -05:00).
        except (ValueError, OverflowError):
            trained_at = None
        failures = saved.get("consecutive_failures", 0)
        last_run = saved.get("last_run") or {}
        declined = saved.get("declined_release")
        checks = {
            # A run never outlives a restart.
            "status": isinstance(status, str) and status in set(TrainingStatus) - {TrainingStatus.RUNNING},
            "error": error is None or isinstance(error, str),
            "last_trained": last_trained is None
            or (trained_at is not None and trained_at.tzinfo is not None),
            "consecutive_failures": isinstance(failures, int)
            and not isinstance(failures, bool)
            and failures >= 0,
            "last_run": isinstance(last_run, dict),
            "declined_release": declined is None or isinstance(declined, str),
        }
        ignored = [name for name, ok in checks.items() if not ok]
        if not isinstance(data, dict):
            LOGGER.warning(
                "Stored training state is a %s, not a mapping; starting afresh", type(data).__name__
            )
        elif ignored:
            LOGGER.warning("Stored training state: ignored %s, not understood", ", ".join(ignored))
        return cls(
            status=TrainingStatus(status) if checks["status"] else TrainingStatus.IDLE,
            error=error[:MAX_ERROR_LENGTH] if checks["error"] and error is not None else None,
            last_trained=trained_at if checks["last_trained"] else None,
            consecutive_failures=failures if checks["consecutive_failures"] else 0,
            last_run=dict(last_run) if checks["last_run"] else {},
            declined_release=declined if checks["declined_release"] else None,
        )


class HomeScoring(Protocol):
    """What the trainer needs of the side that scores the home (the coordinator).

    A narrow interface, so the trainer and the coordinator do not import each other.
    """

    config_entry: ConfigEntry[Any]
    settings: HomeIQSettings
    model: ActiveModel
    aggregates_store: AggregatesStore
    guard: WorkGuard

    def watched_devices(self) -> dict[str, WatchedDevice]:
        """Return the devices to watch."""

    def set_model(self, model: ActiveModel) -> None:
        """Score with another model from now on."""

    async def async_refresh(self) -> None:
        """Score the home now."""

    def async_update_listeners(self) -> None:
        """Let the entities show the trainer's new state."""


class TrainingManager:
    """Run training on schedule or on request, and deploy what it produces."""

    def __init__(self, hass: HomeAssistant, coordinator: HomeScoring, store: ModelStore) -> None:
        """Set up an idle trainer."""
        self._hass = hass
        self._coordinator = coordinator
        self._model_store = store
        self._guard = coordinator.guard
        self._stop = threading.Event()
        self._task: asyncio.Task[dict[str, Any]] | None = None
        self._rollback: asyncio.Task[None] | None = None
        self._state_store = StoredState(hass, f"{DOMAIN}.training")
        self.state = TrainingState()

    @property
    def running(self) -> bool:
        """Return whether a run is going."""
        return self._task is not None and not self._task.done()

    @property
    def rolling_back(self) -> bool:
        """Return whether a rollback is changing the model in use."""
        return self._rollback is not None and not self._rollback.done()

    def _check_idle(self) -> None:
        """Raise TrainingAlreadyRunning while a run is going, RollbackInProgress while a rollback is."""
        if self.running:
            raise TrainingAlreadyRunning
        if self.rolling_back:
            raise RollbackInProgress

    @callback
    def async_start_rollback(self, roll_back: Callable[[], Coroutine[Any, Any, None]]) -> asyncio.Task[None]:
        """Run a rollback in a task of the entry's, holding off runs until it has ended.

        A run started meanwhile (the nightly timer, the train action) would learn on the model
        being dropped and deploy on top of the rollback, with both writing the model store at once.
        The task is not the caller's: a script stopped mid-rollback cancels its call, not the
        rollback whose job is on disk, which still puts its model in use; shutdown waits for it.
        Raises TrainingAlreadyRunning if a run is going, RollbackInProgress if a rollback is.
        """
        self._check_idle()
        self._rollback = self._coordinator.config_entry.async_create_task(
            self._hass, roll_back(), f"{DOMAIN} rollback"
        )
        return self._rollback

    async def async_load(self) -> None:
        """Restore the last state saved."""
        if (saved := await self._state_store.async_load()) is not None:
            self.state = TrainingState.from_dict(saved)

    @callback
    def async_schedule(self) -> CALLBACK_TYPE | None:
        """Schedule the nightly run at the configured local time, when enabled.

        Not ``async_track_time_change``: it skips the day a time does not exist
        (spring forward) and fires twice the day it exists twice (fall back).
        """
        settings = self._coordinator.settings
        if not settings.nightly_training:
            return None
        at = settings.training_time
        cancel: CALLBACK_TYPE | None = None

        @callback
        def _schedule(after: datetime) -> None:
            nonlocal cancel
            cancel = async_track_point_in_utc_time(self._hass, _run, next_nightly_run(after, at))

        @callback
        def _run(planned: datetime) -> None:
            if self._guard.stopping:
                # Home Assistant is stopping, or the entry unloading: no run, and no next timer.
                return
            _schedule(planned)
            self._async_nightly(planned)

        @callback
        def _unschedule() -> None:
            nonlocal cancel
            if cancel is not None:
                cancel()
                cancel = None

        _schedule(dt_util.utcnow())
        # Cancelled as soon as Home Assistant begins stopping, not only at unload: a timer
        # firing during the stop would otherwise start a run the stop refuses.
        self._guard.async_on_stop(_unschedule)
        return _unschedule

    @callback
    def _async_nightly(self, now: datetime) -> None:
        """Start the nightly run unless one is going."""
        if self.running:
            LOGGER.info("Nightly training skipped: a run is already going")
            return
        if self.rolling_back:
            LOGGER.info("Nightly training skipped: the model is being rolled back")
            return
        LOGGER.info("Nightly training starting")
        self.async_start(self._coordinator.settings.training_mode)

    @callback
    def async_start(
        self, mode: TrainMode, device_keys: Iterable[str] | None = None
    ) -> asyncio.Task[dict[str, Any]]:
        """Start a run in the background.

        Raises TrainingAlreadyRunning if one is going, RollbackInProgress while a rollback
        changes the model in use, WorkStopped once Home Assistant stops.
        """
        self._guard.check()
        self._check_idle()
        self._stop.clear()
        self._task = self._coordinator.config_entry.async_create_background_task(
            self._hass,
            self._async_run(mode, None if device_keys is None else set(device_keys)),
            f"{DOMAIN} training",
        )
        return self._task

    async def async_shutdown(self) -> None:
        """Stop a run that is going, wait for it and for a rollback to end, and save the state.

        The run ends at its next step; the guard's stop waits for its thread. A rollback is not
        cancelled: its job may be on disk, and the release it declines is saved here.
        """
        self._stop.set()
        if (task := self._task) is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        if (rollback := self._rollback) is not None and not rollback.done():
            await asyncio.wait([rollback], timeout=STOP_TIMEOUT)
        await self._state_store.async_save(self.state.as_dict())

    async def async_rolled_back(self, release: str | None) -> None:
        """Remember an owner's rollback from a home model of ``release`` to one of an earlier release.

        The next runs then learn on the model they chose, not on the newly shipped one again.
        No executor job: the rollback is done, and Home Assistant may be stopping.
        """
        if release is not None and release != self.state.declined_release:
            self.state.declined_release = release
            await self._state_store.async_save(self.state.as_dict())

    def _should_stop(self) -> bool:
        """Return whether the run in its thread must end at its next step (thread-safe)."""
        return self._stop.is_set() or self._guard.stopping

    @callback
    def _progress(self, fraction: float, step: TrainingStep, fitting: str | None = None) -> None:
        """Show the progress of the run (fraction of the whole run, 0..1)."""
        percent = round(100.0 * min(max(fraction, 0.0), 1.0))
        if percent == self.state.progress and (step, fitting) == (self.state.step, self.state.fitting):
            return
        self.state.progress = max(percent, self.state.progress or 0)
        self.state.step = step
        self.state.fitting = fitting
        self._coordinator.async_update_listeners()

    def _progress_threadsafe(self, fraction: float, step: TrainingStep, fitting: str | None) -> None:
        """Hand train_home's progress to the event loop, after the share reading the history took."""
        whole = READING_SHARE + (1.0 - READING_SHARE) * fraction
        self._hass.loop.call_soon_threadsafe(self._progress, whole, step, fitting)

    async def _async_run(self, mode: TrainMode, device_keys: set[str] | None) -> dict[str, Any]:
        """Read the history, train, deploy when better, and report."""
        started = dt_util.utcnow()
        clock = time.monotonic()
        self.state.status = TrainingStatus.RUNNING
        self.state.progress = 0
        self.state.step = TrainingStep.READING_HISTORY
        self.state.fitting = None
        self.state.error = None
        self._coordinator.async_update_listeners()
        log: dict[str, Any] = {"started": started.isoformat(), "mode": mode}
        try:
            async with self._guard.work():
                # A run on some devices only learns on the model in use: it does not judge a release.
                release = await self._in_executor(
                    partial(self._model_store.newer_release, self._coordinator.model)
                )
                if device_keys is None and release is not None and release != self.state.declined_release:
                    log["new_release"] = release
                else:
                    release = None
                result = await self._async_train(mode, device_keys, started, on_release=release is not None)
                await self._async_apply(result, log)
        except asyncio.CancelledError:
            self._cancelled(log)
            self._finish(log, clock)
            raise
        except (TrainingCancelled, WorkStopped):
            self._cancelled(log)
        except RecorderReadError as err:
            self._fail(log, f"Could not read the recorder: {err}")
        except Exception as err:  # the run's boundary: any failure is shown, not raised
            LOGGER.exception("Training failed")
            self._fail(log, f"{type(err).__name__}: {err}")
        self._finish(log, clock)
        response = {
            "status": log["outcome"],
            "message": log.get("message", ""),
            "metrics": log.get("metrics", {}),
            "model_version": self._coordinator.model.version,
            "model_source": self._coordinator.model.source,
            # The newly shipped model this run learned on (After an update), and the failure types
            # that kept the classifier in use, with why.
            "new_release": log.get("new_release"),
            "kept_current": log.get("kept_current", {}),
        }
        self._hass.bus.async_fire(EVENT_TRAINING_FINISHED, response)
        if "deployed_version" in log:
            await self._coordinator.async_refresh()
        return response

    async def _async_train(
        self, mode: TrainMode, device_keys: set[str] | None, started: datetime, *, on_release: bool
    ) -> TrainResult:
        """Read the training window and run train_home in an executor.

        `on_release`: the home model in use was learned on an earlier shipped model; this run
        learns on the one shipped now, and is judged against the model in use as well.
        """
        devices = self._coordinator.watched_devices()
        if device_keys is not None:
            devices = {key: device for key, device in devices.items() if key in device_keys}
        history = await async_read_history(
            self._hass, devices, start=started - TRAINING_WINDOW, end=started, guard=self._guard
        )
        aggregates_store = self._coordinator.aggregates_store
        history = with_stored_devices(history, devices, aggregates_store.grid)
        grid = await self._in_executor(
            partial(home_grid, history, now=started.timestamp(), stored=aggregates_store.grid)
        )
        if device_keys is None:
            # A run on some devices only must not drop the others' stored history.
            await self._in_executor(partial(aggregates_store.save, grid))
        # Batteries that ended in the grid join the log (other devices' entries stay).
        await self._in_executor(partial(aggregates_store.log_batteries, grid, history.battery_swaps))
        self._progress(READING_SHARE, TrainingStep.BUILDING_FEATURES)
        in_use = self._coordinator.model.bundle
        base = await self._in_executor(self._model_store.load_shipped) if on_release else in_use
        return await self._in_executor(
            partial(
                train_home,
                history,
                base,
                mode=mode,
                now=started.timestamp(),
                horizon_days=self._coordinator.settings.horizon_days,
                progress=self._progress_threadsafe,
                should_stop=self._should_stop,
                grid=grid,
                in_use=in_use if on_release else None,
            )
        )

    async def _in_executor[T](self, job: Callable[[], T]) -> T:
        """Run one step in an executor, tracked so that stop and unload wait for its thread."""
        return await self._guard.async_run(self._hass.async_add_executor_job, job)

    async def _async_apply(self, result: TrainResult, log: dict[str, Any]) -> None:
        """Deploy a better model and record how the run went."""
        log.update(
            outcome=result.status.value,
            message=result.message,
            metrics=dict(result.metrics),
            current_metrics=dict(result.current_metrics),
            devices=result.n_devices,
            rows=result.n_rows,
            positives=dict(result.n_positive),
            kept_current={target: reason.value for target, reason in result.kept.items()},
        )
        self.state.consecutive_failures = 0
        if (release := log.get("new_release")) is not None and result.status is not TrainStatus.DEPLOYED:
            # Not better than the model in use, or no judging it: later runs of this release
            # learn on the model in use, as before the update (a new release tries again).
            LOGGER.info(
                "Kept the home model in use rather than one learned on the newly shipped model %s: %s",
                release,
                result.message,
            )
            self.state.declined_release = release
        if result.status is TrainStatus.INSUFFICIENT_DATA:
            LOGGER.info("Not enough history to train yet: %s", result.message)
            self.state.status = TrainingStatus.INSUFFICIENT_DATA
            return
        if result.status is TrainStatus.DEPLOYED and result.bundle is not None:
            active = await self._in_executor(partial(self._model_store.deploy, result.bundle))
            self._coordinator.set_model(active)
            async_clear_model_refused(self._hass)
            log["deployed_version"] = active.version_id
            LOGGER.info(
                "Deployed home model %s: %s; kept as they were: %s",
                active.version_id,
                result.metrics,
                log["kept_current"],
            )
        else:
            LOGGER.info("Kept the current model: %s (%s)", result.message, log["kept_current"])
        self.state.status = TrainingStatus.IDLE
        self.state.last_trained = dt_util.utcnow()

    def _cancelled(self, log: dict[str, Any]) -> None:
        """Record a run stopped by unload or shutdown."""
        LOGGER.info("Training cancelled")
        self.state.status = TrainingStatus.IDLE
        log["outcome"] = "cancelled"

    def _fail(self, log: dict[str, Any], error: str) -> None:
        """Record a failed run."""
        if len(error) > MAX_ERROR_LENGTH:
            error = f"{error[: MAX_ERROR_LENGTH - 1]}…"
        self.state.status = TrainingStatus.FAILED
        self.state.error = error
        self.state.consecutive_failures += 1
        log.update(outcome="failed", message=error)

    def _finish(self, log: dict[str, Any], clock: float) -> None:
        """Close the log, update issues and save the state."""
        log["duration_s"] = round(time.monotonic() - clock, 1)
        self.state.progress = None
        self.state.step = None
        self.state.fitting = None
        self.state.last_run = log
        async_update_training_failing(
            self._hass, self.state.consecutive_failures, TRAINING_FAILURES_FOR_ISSUE
        )
        self._state_store.async_delay_save(self.state.as_dict, 1)
        self._coordinator.async_update_listeners()
