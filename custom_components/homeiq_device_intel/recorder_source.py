"""Read the watched devices' history from the recorder, in bounded executor jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Final, cast

from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance, session_scope
from homeassistant.util import dt as dt_util
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from .const import DOMAIN, LOGGER
from .discovery import WatchedDevice
from .lifecycle import WorkGuard
from .ml.grid import HourlyGrid
from .ml.recorder.buffers import RowBuffers
from .ml.recorder.devices import RegisteredEntity
from .ml.recorder.planning import CatalogCache, ReadChunk, ReadPlan, plan_read
from .ml.recorder.reading import ChunkResult, assemble_history, read_chunk
from .ml.recorder.schema import NEWEST_KNOWN_SCHEMA, Dialect, SchemaInfo
from .ml.recorder.sql import QueryFn
from .ml.recorder.window import (
    advance,
    needs_full_read,
    oldest_state_time,
    read_start,
    statistics_read_start,
)
from .ml.records import HomeHistory

CHUNK_ROWS: Final = 20_000
# hass.data key: the recorder layout last read (see `recorder_layout`).
DATA_RECORDER_LAYOUT: Final = f"{DOMAIN}_recorder_layout"
RETRY_DELAYS: Final[tuple[float, ...]] = (2.0, 10.0, 30.0)
# Events waiting in the recorder's queue when a reading begins, beyond which the recorder is
# behind (its database locked for a backup, or a slow disk): the rows it writes later keep their
# own times, which may be older than the next reading's overlap, so the next reading is whole.
# The queue drains within milliseconds when the recorder keeps up.
RECORDER_BEHIND_BACKLOG: Final = 100


class RecorderReadError(Exception):
    """The recorder could not be read, even after retrying."""


def _in_session[T](hass: HomeAssistant, read: Callable[[QueryFn], T]) -> T:
    """Run one read in its own read-only recorder session (recorder executor)."""
    with session_scope(hass=hass, read_only=True) as session:

        def query(sql: str, params: dict[str, object]) -> Iterable[Sequence[object]]:
            return cast(Iterable[Sequence[object]], session.execute(text(sql), params).all())

        return read(query)


async def _async_read[T](hass: HomeAssistant, guard: WorkGuard, read: Callable[[QueryFn], T]) -> T:
    """Run one bounded read on the recorder's executor, retrying transient errors.

    Raises WorkStopped instead of starting a read once Home Assistant stops.
    """
    instance = get_instance(hass)
    delays = iter(RETRY_DELAYS)
    while True:
        try:
            return await guard.async_run(instance.async_add_executor_job, partial(_in_session, hass, read))
        except OperationalError as err:
            if (delay := next(delays, None)) is None:
                raise RecorderReadError(str(err)) from err
            LOGGER.debug("Recorder busy, retrying in %ss: %s", delay, err)
            # Not asyncio.sleep: a stop or unload must not wait out the delay.
            await guard.async_sleep(delay)
        except SQLAlchemyError as err:
            raise RecorderReadError(str(err)) from err


def _read_one(query: QueryFn, *, plan: ReadPlan, chunk: ReadChunk) -> ChunkResult:
    """Read one planned chunk."""
    return read_chunk(query, plan, chunk)


async def async_read_history(
    hass: HomeAssistant,
    devices: Mapping[str, WatchedDevice],
    *,
    start: datetime,
    end: datetime,
    guard: WorkGuard,
) -> HomeHistory:
    """Return the states, statistics and events of the watched devices in [start, end).

    One short read per chunk; none starts once ``guard`` is stopped (WorkStopped).
    """
    history, _ = await _async_read_window(hass, devices, start=start, end=end, guard=guard)
    return replace(history, start=_observed_start(history))


def with_stored_devices(
    history: HomeHistory, devices: Mapping[str, WatchedDevice], stored: HourlyGrid | None
) -> HomeHistory:
    """`history` with the watched devices it left out that the stored grid knows, without series.

    The reader keeps only entities with data in its window: a device dark since before the
    recorder's purge cutoff has none (HA purged its last row). Known to the stored grid, it
    joins with its registry records, so the merge keeps its stored history and carries its
    last state on to now (`merge_grids`) and it is scored; one never seen stays out.
    """
    if stored is None:
        return history
    read = {device.device_key for device in history.devices}
    known = set(stored.device_keys)
    missing = [device for key, device in devices.items() if key not in read and key in known]
    if not missing:
        return history
    return replace(
        history,
        devices=[*history.devices, *(device.info for device in missing)],
        entities=[*history.entities, *(entity for device in missing for entity in device.entities)],
    )


def _registry_of(
    devices: Mapping[str, WatchedDevice],
) -> tuple[dict[str, RegisteredEntity], dict[str, str]]:
    """The watched entities as the reader's registry, and the batteries known only as a state attribute."""
    registry = {
        entity.entity_id: RegisteredEntity(device.info, entity.role, entity.device_class, entity.unit)
        for device in devices.values()
        for entity in device.entities
        if entity.attribute is None
    }
    level_attributes = {
        entity.entity_id: entity.attribute
        for device in devices.values()
        for entity in device.entities
        if entity.attribute is not None
    }
    return registry, level_attributes


async def _async_read_window(
    hass: HomeAssistant,
    devices: Mapping[str, WatchedDevice],
    *,
    start: datetime,
    end: datetime,
    guard: WorkGuard,
    catalog: CatalogCache | None = None,
    statistics_start: float | None = None,
) -> tuple[HomeHistory, SchemaInfo]:
    """The history of [start, end) as the reader returns it (its start the window's), and the layout read.

    `catalog`, `statistics_start`: the entity selection kept between plans, and where the
    statistics begin if before `start` (see `plan_read`).
    """
    registry, level_attributes = _registry_of(devices)
    dialect = cast(Dialect, str(get_instance(hass).dialect_name or "sqlite"))

    def plan(query: QueryFn) -> ReadPlan:
        return plan_read(
            query,
            start=start.timestamp(),
            end=end.timestamp(),
            entity_ids=[*registry, *level_attributes],
            registry=registry,
            level_attributes=level_attributes,
            chunk_rows=CHUNK_ROWS,
            home_id=DOMAIN,
            dialect=dialect,
            catalog=catalog,
            statistics_start=statistics_start,
        )

    read_plan = await _async_read(hass, guard, plan)
    _note_layout(hass, read_plan.schema)
    results: list[ChunkResult] = [
        await _async_read(hass, guard, partial(_read_one, plan=read_plan, chunk=chunk))
        for chunk in read_plan.chunks
    ]
    history = await guard.async_run(
        hass.async_add_executor_job, partial(assemble_history, read_plan, results)
    )
    return history, read_plan.schema


class KeptHistory:
    """The scoring window of recorder history, kept between scorings and moved on with new rows only.

    Each reading reads the rows written since the last one (with an overlap,
    see `ml.recorder.window`) and joins them to the kept window, which equals a
    full read of the window; it reads the whole window on the first reading,
    when the watched devices or their entities changed, after a recorder purge,
    when the clock jumped, or after a long gap. The reads' entity selection is
    kept too (`CatalogCache`: listed again on each full read and whenever the
    recorder's catalog changes). Owned by the coordinator, so it ends with the
    entry (an options change reloads the entry: a full read).
    """

    def __init__(self) -> None:
        """Start with nothing kept."""
        self._kept: HomeHistory | None = None
        self._schema: SchemaInfo | None = None
        # The kept rows, in arrays with room for the next hours' rows (only new rows are copied).
        self._buffers = RowBuffers()
        # The entity selection of the reads' plans: listed again on every full read.
        self.catalog = CatalogCache()
        self.full_reads = 0
        self.new_row_reads = 0
        self.last_full_reason: str | None = None
        # The recorder's queue held this many events when the last reading began.
        self._backlog_at_last_read = 0

    def clear(self) -> None:
        """Forget the kept window: the next reading reads it whole."""
        self._kept = None
        self._buffers.clear()
        self.catalog.refresh()

    async def async_read(
        self,
        hass: HomeAssistant,
        devices: Mapping[str, WatchedDevice],
        *,
        start: datetime,
        end: datetime,
        guard: WorkGuard,
    ) -> HomeHistory:
        """Return the history of [start, end) as `async_read_history` does, from new rows if it can."""
        kept, schema = self._kept, self._schema
        history: HomeHistory | None = None
        reason: str | None = "nothing kept"
        backlog_before, self._backlog_at_last_read = self._backlog_at_last_read, get_instance(hass).backlog
        if kept is not None and schema is not None:
            oldest = await _async_read(hass, guard, partial(oldest_state_time, schema=schema))
            reason = needs_full_read(kept, start=start.timestamp(), end=end.timestamp(), oldest_row=oldest)
            if reason is None and backlog_before > RECORDER_BEHIND_BACKLOG:
                reason = "the recorder was behind at the last reading"
        if reason is None and kept is not None:
            since = dt_util.utc_from_timestamp(read_start(kept))
            stats_since = statistics_read_start(kept)
            new, _ = await _async_read_window(
                hass,
                devices,
                start=since,
                end=end,
                guard=guard,
                catalog=self.catalog,
                statistics_start=stats_since,
            )
            history = await guard.async_run(
                hass.async_add_executor_job,
                partial(
                    advance,
                    kept,
                    new,
                    start=start.timestamp(),
                    buffers=self._buffers,
                    statistics_start=stats_since,
                ),
            )
            reason = None if history is not None else "the devices or their entities changed"
        if history is None:
            self._kept = None  # not kept while the whole window is read
            self._buffers.clear()  # an advance that gave up may have written into them
            self.catalog.refresh()  # a full read lists the catalog again (and keeps it for the next hours)
            history, self._schema = await _async_read_window(
                hass, devices, start=start, end=end, guard=guard, catalog=self.catalog
            )
            self.full_reads += 1
            self.last_full_reason = reason
            LOGGER.debug("Read the whole scoring window: %s", reason)
        else:
            self.new_row_reads += 1
        self._kept = history
        return replace(history, start=_observed_start(history))


def _observed_start(history: HomeHistory) -> float:
    """Return when the history really begins: its first row, not the window asked for.

    The learning core measures how much history there is from ``start``; a
    home with three days of data must not look like one with half a year.
    """
    firsts = [float(s.time[0]) for s in history.states.values() if len(s)]
    firsts += [float(s.start[0]) for s in history.statistics.values() if len(s)]
    return max(history.start, min(firsts)) if firsts else history.start


def _note_layout(hass: HomeAssistant, schema: SchemaInfo) -> None:
    """Remember the recorder layout read; warn once per layout about what is not read."""
    layout = {
        "schema_version": schema.version,
        "newest_known_schema": NEWEST_KNOWN_SCHEMA,
        "not_read": list(schema.not_read),
    }
    if schema.not_read and hass.data.get(DATA_RECORDER_LAYOUT) != layout:
        LOGGER.warning(
            "Recorder database layout (schema %s) is not fully understood; %s",
            schema.version,
            "; ".join(schema.not_read),
        )
    hass.data[DATA_RECORDER_LAYOUT] = layout


def recorder_layout(hass: HomeAssistant) -> dict[str, object] | None:
    """The recorder layout last read: schema version, newest known, and what is not read.

    None before the first read. For diagnostics and repairs to show.
    """
    return cast(dict[str, object] | None, hass.data.get(DATA_RECORDER_LAYOUT))
