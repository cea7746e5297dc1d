"""Synthetic homes: seeded, template-based device histories with failure scenarios.

`generate_home(config, i)` builds the `HomeHistory` of home `i` exactly as the
recorder source would: state rows only where the state string or attributes
change, `unavailable` episodes, restart replays and hourly long-term statistics.
Every device gets a scenario family ("healthy" for most); its failures, swaps,
bridge outages and a healthy device's look-alike of a failure's warnings
(`decoy_unavailable`, `decoy_stale`: never a failure) are listed in `ground_truth`.

Scenario families: battery_cliff (coin/lithium), battery_slope (alkaline and
uncharged rechargeables), sudden_death, intermittent_dropouts, flapping,
stuck_value, stale, signal_decay, and bridge_outage for coordinators/routers
(every device behind them goes unavailable together; not a device failure).
Whether a dead device shows as `unavailable` or goes stale depends on its
integration, as in HA (ZHA marks battery devices after 6 h, Zigbee2MQTT only
with availability on, Z-Wave battery devices never).

Entities are named as HA names them: `<domain>.<device slug>[_<suffix>]`, e.g.
binary_sensor.kitchen_door_contact, sensor.kitchen_door_battery,
sensor.kitchen_door_linkquality, lock.hallway_door_lock.

Everything is vectorised per entity (the whole series at once); Python loops
run over devices, entities and battery cycles, never over rows. Each home and
each device draws from its own seeded stream, so a home is bit-identical for a
config and seed whatever the number of workers, and a home's devices stay the
same when only its failure settings change.

The package, module by module (each imports only the ones above it):

- `config`: the constants, `Variation`, `GeneratorConfig` and its cache key;
- `arrays`: array helpers (intervals, report times, noise, rounding);
- `catalog`: device kinds, models, chemistries, names, home types;
- `plans`: the plan types (a home and its rhythms, devices, batteries, failures);
- `batteries`: discharge curves, swaps and recharges, battery readings;
- `household`: drawing a home; `devices`: drawing its devices;
- `entities`: a device's entities, named as HA names them;
- `failures`: failure scenarios, outages and the ground truth;
- `streams`: what each kind of entity reports; `rows`: what the recorder writes;
- `storage`: a history on disk and the cache; `homes`: `generate_home(s)`.

Names with a leading underscore are private to the package.
"""

from .arrays import BoolArray, FloatArray, Int64Array, IntArray
from .batteries import discharge_curve
from .catalog import STATE_SYMBOLS
from .config import (
    DAY,
    DEFAULT_SCENARIO_WEIGHTS,
    DEFAULT_START,
    EVENT_KINDS,
    FAILURE_FAMILIES,
    GENERATOR_VERSION,
    HISTORY_FILE_FORMAT,
    HOME_TYPES,
    HOUR,
    MINUTE,
    SCENARIO_FAMILIES,
    SHIFTED_VARIATION,
    YEAR,
    GeneratorConfig,
    Variation,
    config_fingerprint,
)
from .entities import is_valid_entity_id
from .homes import cached_home, generate_home, generate_homes, home_sizes
from .rows import hourly_statistics, state_strings
from .storage import load_history, save_history

__all__ = [
    "DAY",
    "DEFAULT_SCENARIO_WEIGHTS",
    "DEFAULT_START",
    "EVENT_KINDS",
    "FAILURE_FAMILIES",
    "GENERATOR_VERSION",
    "HISTORY_FILE_FORMAT",
    "HOME_TYPES",
    "HOUR",
    "MINUTE",
    "SCENARIO_FAMILIES",
    "SHIFTED_VARIATION",
    "STATE_SYMBOLS",
    "YEAR",
    "BoolArray",
    "FloatArray",
    "GeneratorConfig",
    "Int64Array",
    "IntArray",
    "Variation",
    "cached_home",
    "config_fingerprint",
    "discharge_curve",
    "generate_home",
    "generate_homes",
    "home_sizes",
    "hourly_statistics",
    "is_valid_entity_id",
    "load_history",
    "save_history",
    "state_strings",
]
