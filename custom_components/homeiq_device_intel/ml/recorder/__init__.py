"""Read a Home Assistant recorder database (schema 29 to current) into a HomeHistory.

No Home Assistant or SQLAlchemy here: the caller passes a `sql.QueryFn` that
runs SQL with named `:params` and returns rows, e.g. `lambda sql, p:
conn.execute(sql, p)` for `sqlite3` or `session.execute(text(sql), p)` in HA.

The reader keys on the tables and columns the database has, not on the
version number, so every layout HA has written since schema 25 reads:

- entities: `states_meta` + `states.metadata_id` (>= 38) or `states.entity_id`;
- times: `last_updated_ts` floats (>= 31) or naive-UTC `last_updated` datetimes;
- `last_reported_ts` (>= 43): HA then updates the last row in place instead of
  writing a row when an entity re-reports an unchanged state;
- statistics: `start_ts` (>= 34) or `start`; "has a mean" is `mean_type > 0`
  (>= 49; schema 50 nulls `has_mean`) or `has_mean`;
- events: `event_types` (>= 37) or `events.event_type`; data in `event_data`
  (>= 28) or `events.event_data`; `time_fired_ts` (>= 31) or `time_fired`.

States are read in bounded chunks: `planning.plan_read` counts rows per entity
and packs entities (or time slices of one busy entity) into chunks of about
`chunk_rows` rows; `reading.read_chunk` reads one chunk (one recorder executor
job each); `reading.assemble_history` joins the pieces. `reading.read_history`
does all three.

Import each name from its module (nothing is re-exported here), lowest first:

- `sql`: the query callable, fetching rows, bound IN lists in batches;
- `schema`: which recorder tables and columns exist (`detect_schema`);
- `summary`: `ReadSummary`, what a read found, skipped and repaired;
- `decoding`: rows to `StateSeries` / times / attribute JSON;
- `catalog`: the entities the recorder knows (`list_entities`, `EntityRow`);
- `devices`: devices from the registry, or inferred from entity ids;
- `planning`: `plan_read` and the chunks;
- `reading`: `read_chunk`, `assemble_history`, `read_history`.
"""
