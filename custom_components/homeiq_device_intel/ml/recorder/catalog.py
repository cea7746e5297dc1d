"""The entities a recorder database knows: `list_entities` and its `EntityRow`s.

Each entity comes with the attributes of its last state that has any (device
class, unit, state class, friendly name) and whether it has long-term
statistics with a mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ..classify import battery_attribute
from .decoding import parse_attributes, text_value
from .schema import SchemaInfo, states_source
from .sql import QueryFn, batches, fetch, filtered, in_list


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityRow:
    """An entity the recorder knows, with its last recorded attributes."""

    entity_id: str
    metadata_id: int | None = None  # states_meta id (schema >= 38)
    statistic_id: int | None = None  # statistics_meta id of its long-term statistics
    device_class: str | None = None
    unit: str | None = None
    state_class: str | None = None
    friendly_name: str | None = None
    has_mean_statistics: bool = False  # hourly mean/min/max (measurements)
    has_sum_statistics: bool = False  # hourly sum/state (meters); not read
    attributes_valid: bool = True  # False when its attributes JSON was unreadable
    battery_attribute: str | None = None  # the attribute holding a battery level (`battery_level`)


def list_entities(
    query: QueryFn, schema: SchemaInfo, entity_ids: Iterable[str] | None = None
) -> list[EntityRow]:
    """List the recorder's entities (or just `entity_ids`) with last attributes and statistics."""
    wanted = None if entity_ids is None else sorted(set(entity_ids))
    rows = _state_entities(query, schema, wanted)
    if schema.statistics:
        _add_statistics(query, schema, wanted, rows)
    return sorted(rows.values(), key=lambda r: r.entity_id)


def _entities_sql(schema: SchemaInfo) -> tuple[str, str]:
    """SQL of (entity key, entity_id, attribute columns...) as (head, tail) around its WHERE."""
    src = states_source(schema)
    has_attrs = ["s2.attributes_id IS NOT NULL"] if schema.state_attributes else []
    if schema.legacy_attributes:
        has_attrs.append("s2.attributes IS NOT NULL")
    attr_cols = [
        *(["a.shared_attrs"] if schema.state_attributes else []),
        *(["s.attributes"] if schema.legacy_attributes else []),
    ]
    latest = (
        f"SELECT s2.state_id FROM states s2 WHERE s2.{src.key} = e.entity_key"
        f"{' AND (' + ' OR '.join(has_attrs) + ')' if has_attrs else ''}"
        f" ORDER BY s2.{src.time} DESC LIMIT 1"
    )
    if schema.states_meta:
        keys = "SELECT metadata_id AS entity_key, entity_id FROM states_meta WHERE"
    else:
        keys = (
            "SELECT DISTINCT entity_id AS entity_key, entity_id FROM states WHERE entity_id IS NOT NULL AND"
        )
    attrs_join = (
        " LEFT JOIN state_attributes a ON a.attributes_id = s.attributes_id"
        if schema.state_attributes
        else ""
    )
    head = f"SELECT e.entity_key, e.entity_id{''.join(', ' + c for c in attr_cols)} FROM ({keys} "
    tail = f") e LEFT JOIN states s ON s.state_id = ({latest}){attrs_join}"
    return head, tail


def _state_entities(query: QueryFn, schema: SchemaInfo, wanted: list[str] | None) -> dict[str, EntityRow]:
    """The entities with states (or just `wanted`), with their last attributes."""
    head, tail = _entities_sql(schema)
    rows: dict[str, EntityRow] = {}
    for batch in [None] if wanted is None else batches(wanted):
        params: dict[str, object] = {}
        where = "1 = 1" if batch is None else f"entity_id IN ({in_list('e', batch, params)})"
        for row in fetch(query, head + where + tail, params):
            entity = _entity_row(row, schema)
            if entity is not None:
                rows[entity.entity_id] = entity
    return rows


def _entity_row(row: Sequence[object], schema: SchemaInfo) -> EntityRow | None:
    """An entity from a row of (key, entity_id, attribute JSON...); None if not an entity id."""
    entity_id = row[1]
    if not isinstance(entity_id, str) or "." not in entity_id:
        return None
    attrs, valid = parse_attributes(next((r for r in row[2:] if r is not None and r != ""), None))
    return EntityRow(
        entity_id=entity_id,
        metadata_id=row[0] if schema.states_meta and isinstance(row[0], int) else None,
        device_class=text_value(attrs.get("device_class")),
        unit=text_value(attrs.get("unit_of_measurement")),
        state_class=text_value(attrs.get("state_class")),
        friendly_name=text_value(attrs.get("friendly_name")),
        attributes_valid=valid,
        battery_attribute=battery_attribute(entity_id, attrs),
    )


def _add_statistics(
    query: QueryFn, schema: SchemaInfo, wanted: list[str] | None, rows: dict[str, EntityRow]
) -> None:
    """Add each entity's long-term statistics (id, mean, sum, unit) to `rows`."""
    # Columns a newer layout may lack read as "no" (`unread_parts` says so).
    mean = "mean_type" if schema.mean_type else "has_mean" if schema.statistics_mean else "0"
    unit_col = "unit_of_measurement" if schema.statistics_unit else "NULL"
    sum_col = "has_sum" if schema.statistics_sum else "0"
    meta_sql = f"SELECT id, statistic_id, {unit_col}, {mean}, {sum_col} FROM statistics_meta WHERE"
    for stat_id, statistic_id, unit, has_mean, has_sum in filtered(query, meta_sql, "statistic_id", wanted):
        # External statistics ("domain:name") belong to no entity.
        if not isinstance(statistic_id, str) or ":" in statistic_id or "." not in statistic_id:
            continue
        if not isinstance(stat_id, int):
            continue
        base = rows.get(statistic_id, EntityRow(entity_id=statistic_id))
        rows[statistic_id] = replace(
            base,
            statistic_id=stat_id,
            unit=base.unit or text_value(unit),
            has_mean_statistics=bool(has_mean),
            has_sum_statistics=bool(has_sum),
        )
