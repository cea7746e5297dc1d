"""No runtime code path can load a pickle: not in the source, not at run time, not from a crafted file."""

from __future__ import annotations

import ast
import hashlib
import io
import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from custom_components.homeiq_device_intel.ml.aggregates import (
    AggregatesError,
    load_grid,
    merge_grids,
    save_grid,
)
from custom_components.homeiq_device_intel.ml.bundle import (
    MANIFEST_FILE,
    MODELS_FILE,
    ModelLoadError,
    load_bundle,
    save_bundle,
)
from custom_components.homeiq_device_intel.ml.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from custom_components.homeiq_device_intel.ml.grid import build_grid
from custom_components.homeiq_device_intel.ml.records import (
    DeviceRecord,
    EntityRecord,
    EntityRole,
    HomeHistory,
    Power,
    encode_states,
)
from custom_components.homeiq_device_intel.ml.scoring import score_home
from tests.tiny_models import tiny_bundle

PACKAGE = Path(__file__).resolve().parents[2] / "custom_components" / "homeiq_device_intel"
SHIPPED = PACKAGE / "models"

# Modules whose only purpose is (un)pickling: importing one at all is an offence.
PICKLE_MODULES = frozenset({"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve"})
# Functions of other modules that unpickle (or, for marshal, load code objects).
PICKLE_CALLS = frozenset({"joblib.load", "marshal.load", "marshal.loads", "torch.load", "pandas.read_pickle"})
DYNAMIC_IMPORTS = frozenset({"__import__", "importlib.import_module"})


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The dotted name an expression like `np.lib.load` refers to, through import aliases."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _allows_no_pickle(call: ast.Call) -> bool:
    """True when a numpy.load call passes allow_pickle=False explicitly (keyword or 3rd argument)."""
    if any(k.arg is None for k in call.keywords):
        return False  # **kwargs could carry allow_pickle=True
    given = [k.value for k in call.keywords if k.arg == "allow_pickle"]
    if len(call.args) >= 3:
        given.append(call.args[2])
    return len(given) == 1 and isinstance(given[0], ast.Constant) and given[0].value is False


def pickle_offences(source: str, filename: str = "<source>") -> list[str]:
    """Every place in a module's source that could load a pickle, as 'file:line: what'."""
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                aliases[local] = alias.name if alias.asname else local
                if alias.name.split(".")[0] in PICKLE_MODULES:
                    found.append(f"{filename}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.split(".")[0] in PICKLE_MODULES:
                found.append(f"{filename}:{node.lineno}: from {node.module} import ...")
            for alias in node.names:
                origin = f"{node.module}.{alias.name}"
                aliases[alias.asname or alias.name] = origin
                if origin in PICKLE_CALLS:
                    found.append(f"{filename}:{node.lineno}: from {node.module} import {alias.name}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func, aliases)
        if name is None:
            continue
        if name in PICKLE_CALLS or name.split(".")[0] in PICKLE_MODULES:
            found.append(f"{filename}:{node.lineno}: {name}()")
        elif name == "numpy.load" and not _allows_no_pickle(node):
            found.append(f"{filename}:{node.lineno}: numpy.load() without allow_pickle=False")
        elif name in DYNAMIC_IMPORTS and node.args:
            target = node.args[0]
            if isinstance(target, ast.Constant) and isinstance(target.value, str):
                module = target.value
                if module.split(".")[0] in PICKLE_MODULES | {c.split(".")[0] for c in PICKLE_CALLS}:
                    found.append(f"{filename}:{node.lineno}: {name}({module!r})")
    return found


# ---------------------------------------------------------------- (a) static


@pytest.mark.parametrize(
    "source",
    [
        "import pickle",
        "import cPickle as p",
        "from pickle import loads",
        "import dill\ndill.loads(b'')",
        "from cloudpickle import load",
        "import shelve",
        "import joblib\njoblib.load('m.joblib')",
        "from joblib import load as restore",
        "import marshal\nmarshal.loads(b'')",
        "import torch\ntorch.load('m.pt')",
        "import numpy as np\nnp.load('a.npy')",
        "import numpy as np\nnp.load('a.npz', allow_pickle=True)",
        "import numpy\nnumpy.load('a.npz', allow_pickle=flag)",
        "from numpy import load\nload('a.npy')",
        "import numpy as np\nnp.load('a.npz', **options)",
        "import importlib\nimportlib.import_module('pickle')",
        "__import__('dill')",
    ],
)
def test_the_scan_catches_every_way_to_unpickle(source):
    assert pickle_offences(source)


@pytest.mark.parametrize(
    "source",
    [
        '"""Loading never unpickles."""',
        "import numpy as np\nnp.load('a.npz', allow_pickle=False)",
        "import numpy as np\nnp.load('a.npy', None, False)",
        "from .bundle import load_bundle\nload_bundle('x')",
        "import json\njson.loads('{}')",
        "import numpy as np\nnp.savez('a.npz', allow_pickle=False, x=np.zeros(1))",
    ],
)
def test_the_scan_accepts_code_that_cannot_unpickle(source):
    assert pickle_offences(source) == []


def test_no_module_of_the_integration_can_load_a_pickle():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20  # the whole integration, HA layer and ml core
    offences = [o for f in files for o in pickle_offences(f.read_text(encoding="utf-8"), str(f))]
    assert offences == [], "\n".join(offences)


# ---------------------------------------------------------------- (b) dynamic


@pytest.fixture
def pickle_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every pickle entry point record the call and raise."""
    calls: list[str] = []

    def refuse(name: str):
        def refused(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise AssertionError(f"pickle.{name} was called")

        return refused

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse(name))
    return calls


T0 = 1_700_000_000.0 - (1_700_000_000.0 % 86400)


def _history(days: int) -> HomeHistory:
    hours = np.arange(days * 24)
    times = T0 + hours * 3600.0 + 30
    return HomeHistory(
        home_id="home",
        start=T0,
        end=T0 + days * 86400.0,
        devices=[DeviceRecord(device_key="d", name="d", integration="zha", power=Power.BATTERY)],
        entities=[EntityRecord(entity_id="sensor.d_battery", device_key="d", role=EntityRole.BATTERY)],
        states={"sensor.d_battery": encode_states(times, [f"{90 - h / 24:.1f}" for h in hours])},
    )


def test_shipped_bundle_loads_and_predicts_without_pickle(pickle_calls):
    if not (SHIPPED / MANIFEST_FILE).exists():
        pytest.skip("no shipped model bundle in this checkout")
    bundle = load_bundle(
        SHIPPED, expected_feature_names=FEATURE_NAMES, expected_schema_version=FEATURE_SCHEMA_VERSION
    )
    history = _history(10)
    assert len(score_home(history, bundle, now=history.end)) == 1
    assert pickle_calls == []


def test_written_bundle_and_aggregates_load_and_predict_without_pickle(pickle_calls, tmp_path):
    save_bundle(tiny_bundle(), tmp_path / "bundle")
    old = _history(10)
    save_grid(build_grid(old), tmp_path / "aggregates.npz")

    bundle = load_bundle(tmp_path / "bundle", expected_feature_names=FEATURE_NAMES)
    stored = load_grid(tmp_path / "aggregates.npz")
    now = old.end + 86400.0
    grid = merge_grids(stored, build_grid(old, end=now))
    predictions = score_home(old, bundle, now=now, grid=grid)
    assert [p.device_key for p in predictions] == ["d"]
    assert pickle_calls == []


# ---------------------------------------------------------------- (c) crafted files

DETONATIONS: list[str] = []


def _detonate() -> None:
    DETONATIONS.append("unpickled")


@pytest.fixture
def detonations() -> Iterator[list[str]]:
    """What unpickled payloads did during the test."""
    DETONATIONS.clear()
    yield DETONATIONS
    DETONATIONS.clear()


class _Payload:
    """An object whose unpickling runs code: what a malicious .npz would carry."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return _detonate, ()


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=True, **arrays)
    return buffer.getvalue()


def _object_array() -> np.ndarray:
    array = np.empty(1, dtype=object)
    array[0] = _Payload()
    return array


@pytest.mark.parametrize("member", ["classifiers/unavailable/threshold", "extra"])
def test_load_bundle_refuses_an_npz_with_an_object_array(tmp_path, member, detonations):
    directory = tmp_path / "bundle"
    save_bundle(tiny_bundle(), directory)
    with np.load(directory / MODELS_FILE, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays[member] = _object_array()
    content = _npz(arrays)
    (directory / MODELS_FILE).write_bytes(content)
    # Re-sign the manifest so the checksum check cannot be what refuses the file.
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    manifest["files"][MODELS_FILE] = {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))

    with pytest.raises(ModelLoadError) as refused:
        load_bundle(directory)
    assert refused.value.reason == "corrupt"
    assert detonations == []


def test_load_grid_refuses_an_npz_with_an_object_array(tmp_path, detonations):
    path = tmp_path / "aggregates.npz"
    save_grid(build_grid(_history(2)), path)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["device_ids"] = _object_array()
    path.write_bytes(_npz(arrays))

    with pytest.raises(AggregatesError):
        load_grid(path)
    assert detonations == []


def test_the_payload_would_detonate_if_unpickled(detonations):
    pickle.loads(pickle.dumps(_Payload()))
    assert detonations == ["unpickled"]
