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
        """
        self.check()
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()

        def tracked() -> T:
            try:
                return job()
            finally:
                with suppress(RuntimeError):  # the loop is closed: nobody waits any more
                    loop.call_soon_threadsafe(_set_done, finished)

        self._jobs.add(finished)
        finished.add_done_callback(self._jobs.discard)
        future = submit(tracked)
        future.add_done_callback(_consume_outcome)
        return await asyncio.shield(future)

    @callback
    def stop(self) -> None:
        """Refuse new work from now on, and run the callbacks registered for the stop."""
        if self._stopped.is_set():
            return
        self._stopped.set()
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


def _set_done(future: asyncio.Future[None]) -> None:
    """Mark a job's thread as finished."""
    if not future.done():
        future.set_result(None)


def _consume_outcome(future: asyncio.Future[Any]) -> None:
    """Take a job's exception, so a job whose awaiting task was cancelled is not reported as unhandled.

    That task was stopped on purpose (stop or unload): how the job ended no longer matters.
    """
    if not future.cancelled():
        future.exception()
