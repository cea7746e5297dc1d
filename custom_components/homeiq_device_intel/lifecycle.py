"""The entry's work guard: no new work once Home Assistant stops or the entry unloads.

Every recorder read, scoring and training step goes through one ``WorkGuard``.
Once it is stopped (``EVENT_HOMEASSISTANT_STOP`` or unload) nothing new starts,
work in flight ends at its next chunk, and ``async_wait`` waits for the executor
jobs still running. Home Assistant neither waits for jobs on the recorder's
executor nor for tasks started before it began stopping; the recorder closes its
connection at the final write, and a read still executing then crashes the
process (a segmentation fault in sqlite). So the guard tracks the executor jobs
themselves, not only the tasks awaiting them: a cancelled task stops waiting,
the thread does not.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from .const import LOGGER

# How long stop and unload wait for the work in flight: one chunk of reading,
# one scoring step or one training step each take well under a second or two.
STOP_TIMEOUT: Final = 30.0


class WorkStopped(Exception):
    """Raised instead of starting work once Home Assistant stops or the entry unloads."""


class WorkGuard:
    """Admit work while the entry runs; on stop, refuse new work and wait for what runs."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Start admitting work."""
        self._hass = hass
        self._stopped = threading.Event()
        self._jobs: set[asyncio.Future[Any]] = set()
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # `_stopped` is read from worker threads; this is its twin that a coroutine can await.
        self._stopped_awaitable = asyncio.Event()
        self._on_stop: list[CALLBACK_TYPE] = []

    @property
    def stopping(self) -> bool:
        """Return whether work may no longer start (thread-safe)."""
        return self._stopped.is_set() or self._hass.is_stopping

    def check(self) -> None:
        """Raise WorkStopped if work may no longer start."""
        if self.stopping:
            raise WorkStopped

    @asynccontextmanager
    async def work(self) -> AsyncIterator[None]:
        """Run a unit of work (a refresh, a training run) that stop and unload wait for."""
        self.check()
        self._active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            if not self._active:
                self._idle.set()

    async def async_run[T](
        self, submit: Callable[[Callable[[], T]], asyncio.Future[T]], job: Callable[[], T]
    ) -> T:
        """Run ``job`` on the executor ``submit`` hands it to, and return its result.

        The job is tracked until its thread has finished it, not until its future
        is done: Home Assistant cancels the futures of background tasks when it
        stops, and a cancelled future says nothing of the thread still running.
        Raises WorkStopped once work stops, also for a job submitted before the
        stop that no thread had taken yet (it never runs).
        """
        self.check()
        tracked = _TrackedJob(asyncio.get_running_loop(), job, refuse=lambda: self.stopping)
        future = submit(tracked)
        self._jobs.add(tracked.finished)
        tracked.finished.add_done_callback(self._jobs.discard)
        future.add_done_callback(tracked.future_done)
        return await asyncio.shield(future)

    async def async_sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds between steps of work; raise WorkStopped at once when work stops."""
        self.check()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stopped_awaitable.wait(), delay)
        self.check()

    @callback
    def stop(self) -> None:
        """Refuse new work from now on, and run the callbacks registered for the stop."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._stopped_awaitable.set()
        while self._on_stop:
            self._on_stop.pop()()

    @callback
    def async_on_stop(self, func: CALLBACK_TYPE) -> None:
        """Call ``func`` when the guard stops (cancel timers that would re-arm themselves)."""
        self._on_stop.append(func)

    async def async_wait(self) -> None:
        """Wait (at most STOP_TIMEOUT) for the units of work and executor jobs in flight to end."""
        idle = asyncio.ensure_future(self._idle.wait())
        _, pending = await asyncio.wait([idle, *self._jobs], timeout=STOP_TIMEOUT)
        if pending:
            idle.cancel()
            LOGGER.warning("Stopping: work still running after %.0f s", STOP_TIMEOUT)
        # A job's done-callbacks run soon after it completes; let them drop it.
        await asyncio.sleep(0)


class _TrackedJob[T]:
    """One executor job, ``finished`` once its thread is done with it or it was cancelled unstarted."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, job: Callable[[], T], *, refuse: Callable[[], bool]
    ) -> None:
        """Wrap ``job``; ``finished`` is a future of ``loop``; no thread starts it once ``refuse()``."""
        self._loop = loop
        self._job = job
        self._refuse = refuse
        self._lock = threading.Lock()
        self._started = False
        self._abandoned = False
        self.finished: asyncio.Future[None] = loop.create_future()

    def __call__(self) -> T:
        """Run the job (executor thread), unless it was given up or work stopped before it started.

        A job can wait for a thread (the recorder's executor has two) past the stop: it
        then raises WorkStopped instead of running.
        """
        with self._lock:
            if self._abandoned:
                raise concurrent.futures.CancelledError
            self._started = True
        try:
            if self._refuse():
                raise WorkStopped
            return self._job()
        finally:
            with suppress(RuntimeError):  # the loop is closed: nobody waits any more
                self._loop.call_soon_threadsafe(_set_done, self.finished)

    def future_done(self, future: asyncio.Future[Any]) -> None:
        """See how the job's future ended (event loop).

        Cancelled before its thread took it: it never runs, nothing to wait for.
        Otherwise its exception is taken, so a job whose awaiting task was stopped on
        purpose (stop or unload) is not reported as an unhandled error.
        """
        if not future.cancelled():
            future.exception()
            return
        with self._lock:
            if not self._started:
                self._abandoned = True
                _set_done(self.finished)


def _set_done(future: asyncio.Future[None]) -> None:
    """Mark a job's thread as finished."""
    if not future.done():
        future.set_result(None)
