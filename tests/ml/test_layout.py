"""The layout of docs/ARCHITECTURE.md holds: what may import what, and the shipped folder alone works.

Static checks read every module's imports (relative ones resolved); the dynamic
ones run a fresh interpreter on a copy of the folder HACS installs, with the lab
and the training libraries made unimportable.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "custom_components" / "homeiq_device_intel"
CORE = SHIPPED / "ml"
LAB = ROOT / "homeiq_lab"
INTEGRATION = "custom_components.homeiq_device_intel"
CORE_PKG = f"{INTEGRATION}.ml"
# What only the lab may use: the lab itself and the training toolkit.
LAB_ONLY = ("homeiq_lab", "sklearn", "lightgbm", "matplotlib", "joblib", "tqdm", "scripts", "tests")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[tuple[str, int, bool]]:
    """(absolute module, line, guarded by `except ImportError`) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in {"ImportError", "ModuleNotFoundError"}
            for h in node.handlers
        ):
            guarded.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in guarded
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names = [f"{module}.{a.name}" for a in node.names] if node.module is None else [module]
            for name in names:
                yield name, node.lineno, id(node) in guarded


def _top(name: str) -> str:
    return name.split(".")[0]


def _offences(folder: Path, allowed: callable) -> list[str]:  # type: ignore[valid-type]
    return [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in sorted(folder.rglob("*.py"))
        for name, line, guarded in _imports(path)
        if not allowed(name, guarded)
    ]


def test_the_import_reader_resolves_relative_and_guarded_imports(tmp_path: Path) -> None:
    sample = CORE / "learning.py"
    found = {name for name, _, _ in _imports(sample)}
    assert f"{CORE_PKG}.bundle" in found
    guarded = {name for name, _, is_guarded in _imports(sample) if is_guarded}
    assert "lightgbm" in guarded  # the optional residual boosting


def test_nothing_shipped_imports_the_lab() -> None:
    """The optional LightGBM path of nightly learning is the one exception, behind ImportError."""

    def allowed(name: str, guarded: bool) -> bool:
        return _top(name) not in LAB_ONLY or (guarded and _top(name) == "lightgbm")

    assert _offences(SHIPPED, allowed) == []


def test_the_runtime_core_imports_only_itself_numpy_and_the_standard_library() -> None:
    def allowed(name: str, guarded: bool) -> bool:
        if name.startswith(f"{CORE_PKG}.") or name == CORE_PKG:
            return True
        if name.startswith(INTEGRATION) or _top(name) in {"homeassistant", "custom_components"}:
            return False
        if guarded and _top(name) == "lightgbm":
            return True
        return _top(name) == "numpy" or _top(name) in sys.stdlib_module_names

    assert _offences(CORE, allowed) == []


def test_the_lab_uses_the_integration_only_through_its_runtime_core() -> None:
    """The lab trains and evaluates what ships; it never reaches into the HA layer."""

    def allowed(name: str, guarded: bool) -> bool:
        return not name.startswith(INTEGRATION) or name.startswith(CORE_PKG)

    assert _offences(LAB, allowed) == []


def test_the_runtime_core_has_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for path in CORE.rglob("*.py"):  # ml/recorder/ too
        graph[_module_name(path)] = {
            name for name, _, _ in _imports(path) if name.startswith(f"{CORE_PKG}.") and name != CORE_PKG
        }
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, trail: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle.extend([*trail, node, nxt])
                return True
            if nxt not in state and visit(nxt, [*trail, node]):
                return True
        state[node] = 2
        return False

    assert not any(visit(n, []) for n in sorted(graph) if n not in state), " -> ".join(cycle)


# ---------------------------------------------------------------- the folder HACS installs, alone

_BLOCKER = """
import importlib.abc, sys
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"{{name}} is absent here", name=name)
        return None
sys.meta_path.insert(0, _Absent())
"""

_SCORE = """
import numpy as np
from custom_components.homeiq_device_intel.ml.bundle import load_bundle
from custom_components.homeiq_device_intel.ml.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from custom_components.homeiq_device_intel.ml.scoring import score_home
from custom_components.homeiq_device_intel.ml.records import (
    DeviceRecord, EntityRecord, EntityRole, HomeHistory, Power, encode_states,
)
import custom_components.homeiq_device_intel.ml as core
assert core.__file__.startswith({folder!r}), core.__file__
bundle = load_bundle(
    {folder!r} + "/custom_components/homeiq_device_intel/models",
    expected_feature_names=FEATURE_NAMES, expected_schema_version=FEATURE_SCHEMA_VERSION,
)
t0, hours = 1_699_920_000.0, np.arange(20 * 24)
history = HomeHistory(
    home_id="home", start=t0, end=t0 + 20 * 86400.0,
    devices=[DeviceRecord(device_key="d", name="d", integration="zha", power=Power.BATTERY)],
    entities=[EntityRecord(entity_id="sensor.d_battery", device_key="d", role=EntityRole.BATTERY)],
    states={{
        "sensor.d_battery": encode_states(t0 + hours * 3600.0 + 30, [f"{{60 - h / 12:.1f}}" for h in hours])
    }},
)
(prediction,) = score_home(history, bundle, now=history.end)
risks = prediction.probabilities
assert set(risks) and all(0.0 <= p <= 1.0 for p in risks.values()), risks
print("scored", sorted(risks))
"""


def _run_alone(tmp_path: Path, blocked: set[str], preamble: str = "", extra: str = "") -> str:
    """Run `_SCORE` in a fresh interpreter that sees only a copy of the shipped folder."""
    target = tmp_path / "custom_components" / "homeiq_device_intel"
    shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "custom_components" / "__init__.py").write_text("")
    script = (
        _BLOCKER.format(blocked=blocked)
        + preamble.format(folder=str(tmp_path))
        + _SCORE.format(folder=str(tmp_path))
        + extra
    )
    # Not measured by coverage: the copy is not the package the floor is about.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV_CORE_")}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.skipif(not (SHIPPED / "models" / "manifest.json").exists(), reason="no shipped bundle")
def test_the_shipped_folder_alone_loads_the_shipped_bundle_and_scores_a_home(tmp_path: Path) -> None:
    """As on HA OS: the integration imports (HA is there), the lab and LightGBM are not."""
    out = _run_alone(
        tmp_path,
        {"homeiq_lab", "sklearn", "lightgbm", "matplotlib", "joblib", "tqdm", "scripts", "tests"},
        extra="import custom_components.homeiq_device_intel as integration\n"
        "assert callable(integration.async_setup_entry)\n",
    )
    assert "scored" in out


@pytest.mark.skipif(not (SHIPPED / "models" / "manifest.json").exists(), reason="no shipped bundle")
def test_the_runtime_core_works_without_home_assistant(tmp_path: Path) -> None:
    """The core needs no HA: with `homeassistant` absent, its package is entered without running the
    integration's `__init__` (the HA glue Python would otherwise run first) and a home is scored.
    """
    bare_packages = """
import sys, types
base = {folder!r} + "/custom_components"
for name, path in (
    ("custom_components", base),
    ("custom_components.homeiq_device_intel", base + "/homeiq_device_intel"),
):
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module
"""
    out = _run_alone(
        tmp_path,
        {"homeassistant", "homeiq_lab", "sklearn", "lightgbm", "matplotlib", "joblib", "tqdm"},
        preamble=bare_packages,
    )
    assert "scored" in out
