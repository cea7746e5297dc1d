"""The models on disk: the shipped model and the home's own versions.

Home models live under ``.storage/homeiq_device_intel/models``: one directory
per version (written by ``save_bundle``) and ``index.json`` listing them, oldest
first; the newest listed version is the one in use. The shipped model is read
only. Every method does file I/O: call them from an executor.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .const import LOGGER
from .ml.bundle import ModelBundle, ModelLoadError, load_bundle, save_bundle
from .ml.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from .ml.files import parse_json, replace_atomically, set_aside

INDEX_FILE: Final = "index.json"
VERSIONS_DIR: Final = "versions"
REFUSED_DIR: Final = "refused"
REFUSED_KEPT: Final = 3
_VERSION: Final = re.compile(r"v[0-9]{4,9}")  # version folder names, as deploy writes them


class NothingToRollBack(Exception):
    """Raised when the shipped model is in use and there is no older home model."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusedModel:
    """A home model version that failed to load and was set aside."""

    version_id: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveModel:
    """The model predictions are made with."""

    bundle: ModelBundle
    version_id: str | None  # the home version directory, None for the shipped model
    refused: tuple[RefusedModel, ...] = field(default=())
    outdated: tuple[str, ...] = field(default=())  # versions built by an earlier release, set aside

    @property
    def source(self) -> str:
        """Return "home" or "shipped"."""
        return "shipped" if self.version_id is None else "home"

    @property
    def metadata(self) -> dict[str, Any]:
        """Return the bundle's metadata."""
        return dict(self.bundle.metadata)

    @property
    def version(self) -> str:
        """Return the version shown to users: the base version, plus the home version."""
        base = str(self.bundle.metadata.get("version", "unknown"))
        return base if self.version_id is None else f"{base}+home.{self.version_id}"

    @property
    def metrics(self) -> dict[str, float]:
        """Return the evaluation metrics of this model (held-out home days for a home model)."""
        key = "metrics" if self.version_id is None else "home_metrics"
        return _numbers(self.bundle.metadata.get(key))

    def metric(self, name: str) -> float | None:
        """Return one metric, or its mean over the failure types (``<type>_<name>``).

        A home model measured on recent days without failures has no PR-AUC of
        its own; the held-out figure of the model it was learned from stands in.
        """
        for metrics in (self.metrics, _numbers(self.bundle.metadata.get("metrics"))):
            if name in metrics:
                return metrics[name]
            per_type = [value for key, value in metrics.items() if key.endswith(f"_{name}")]
            if per_type:
                return sum(per_type) / len(per_type)
        return None


def _numbers(found: object) -> dict[str, float]:
    """The numeric entries of a metrics mapping from a manifest."""
    if not isinstance(found, dict):
        return {}
    return {
        str(name): float(value)
        for name, value in found.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def _parse_index(index: object) -> dict[str, Any]:
    """The versions and next number of a parsed index; ValueError unless it is as written."""
    if not isinstance(index, dict):
        raise ValueError(f"a {type(index).__name__}, not a mapping")
    versions, next_number = index.get("versions"), index.get("next")
    if not isinstance(versions, list) or not all(
        isinstance(v, str) and _VERSION.fullmatch(v) for v in versions
    ):
        raise ValueError(f"versions {versions!r} are not version names")
    if len(set(versions)) != len(versions):
        raise ValueError("versions repeat")
    if not isinstance(next_number, int) or isinstance(next_number, bool):
        raise ValueError(f"next {next_number!r} is not a number")
    # Never hand out a number already used by a listed version.
    return {
        "versions": versions,
        "next": max(next_number, 1 + max((int(v[1:]) for v in versions), default=0)),
    }


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` as JSON, atomically."""
    replace_atomically(path, lambda handle: json.dump(data, handle, indent=1), text=True)


def _load(directory: Path) -> ModelBundle:
    """Load a bundle, refusing one built for other features than this code computes."""
    return load_bundle(
        directory,
        expected_feature_names=FEATURE_NAMES,
        expected_schema_version=FEATURE_SCHEMA_VERSION,
    )


class ModelStore:
    """Load, deploy, roll back and prune model versions."""

    def __init__(self, shipped_dir: Path, home_dir: Path, *, keep: int) -> None:
        """Remember where the models live."""
        self._shipped_dir = shipped_dir
        self._home_dir = home_dir
        self._keep = keep
        self._shipped: ModelBundle | None = None

    @property
    def _versions_dir(self) -> Path:
        return self._home_dir / VERSIONS_DIR

    def _read_index(self) -> dict[str, Any]:
        """Read the index; rebuild it from the version folders if it is missing or not understood.

        A damaged index is set aside (``index.json.unreadable``) with one warning
        and the rebuilt one written in its place.
        """
        path = self._home_dir / INDEX_FILE
        if not path.exists():
            return self._rebuilt_index()
        try:
            return _parse_index(parse_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as err:
            index = self._rebuilt_index()
            aside = path.with_name(f"{INDEX_FILE}.unreadable")
            failed = set_aside(path, aside)
            if failed is None:
                try:
                    self._write_index(index)
                except OSError as write_err:
                    failed = write_err
            outcome = f"set aside as {aside.name}" if failed is None else f"could not be set aside ({failed})"
            LOGGER.warning(
                "Model index is unreadable (%s); %s, rebuilt from the version folders", err, outcome
            )
            return index

    def _rebuilt_index(self) -> dict[str, Any]:
        """The index the version folders on disk describe, oldest first."""
        found = sorted(
            (p.name for p in self._versions_dir.glob("v*") if p.is_dir() and _VERSION.fullmatch(p.name)),
            key=lambda name: int(name[1:]),
        )
        return {"versions": found, "next": 1 + max((int(name[1:]) for name in found), default=0)}

    def _write_index(self, index: dict[str, Any]) -> None:
        _write_json_atomic(self._home_dir / INDEX_FILE, index)

    def load_shipped(self) -> ModelBundle:
        """Load (once) and return the shipped model; raises ModelLoadError."""
        if self._shipped is None:
            self._shipped = _load(self._shipped_dir)
        return self._shipped

    def newer_release(self, model: ActiveModel) -> str | None:
        """The shipped model's version, if ``model`` is a home model learned on another one.

        A release of the integration ships a new model; a home model learned on the one before
        keeps serving until a training run has learned on the new one and found it as good.
        """
        if model.version_id is None:
            return None
        shipped = str(self.load_shipped().metadata.get("version", "unknown"))
        return shipped if str(model.bundle.metadata.get("version", "unknown")) != shipped else None

    def versions(self) -> list[str]:
        """Return the home model versions on disk, oldest first."""
        return list(self._read_index()["versions"])

    def load_active(self) -> ActiveModel:
        """Load the newest home model that loads, else the shipped one.

        Home versions that fail to load are moved aside and reported in
        ``refused``; the shipped model failing raises ModelLoadError.
        """
        shipped = self.load_shipped()
        index = self._read_index()
        refused: list[RefusedModel] = []
        outdated: list[str] = []
        while index["versions"]:
            version_id = index["versions"][-1]
            try:
                bundle = _load(self._versions_dir / version_id)
            except ModelLoadError as err:
                if err.reason == "outdated":
                    LOGGER.info(
                        "Home model %s was learned by an earlier release (%s); set aside, "
                        "the next training learns a new one",
                        version_id,
                        err.detail,
                    )
                    outdated.append(version_id)
                else:
                    LOGGER.error("Home model %s refused (%s): %s", version_id, err.reason, err.detail)
                    refused.append(RefusedModel(version_id=version_id, reason=err.reason, detail=err.detail))
                index["versions"].pop()
                self._set_aside(version_id)
                continue
            if refused or outdated:
                self._write_index(index)
            return ActiveModel(
                bundle=bundle, version_id=version_id, refused=tuple(refused), outdated=tuple(outdated)
            )
        if refused or outdated:
            self._write_index(index)
        return ActiveModel(bundle=shipped, version_id=None, refused=tuple(refused), outdated=tuple(outdated))

    def deploy(self, bundle: ModelBundle) -> ActiveModel:
        """Save a new home model version, make it current and prune old ones."""
        index = self._read_index()
        version_id = f"v{index['next']:04d}"
        save_bundle(bundle, self._versions_dir / version_id)
        index["versions"].append(version_id)
        index["next"] += 1
        stale = index["versions"][: -self._keep]
        index["versions"] = index["versions"][-self._keep :]
        try:
            self._write_index(index)
        except BaseException:
            # Not listed, the version would linger (and win if the index is rebuilt).
            shutil.rmtree(self._versions_dir / version_id, ignore_errors=True)
            raise
        for old in stale:
            shutil.rmtree(self._versions_dir / old, ignore_errors=True)
        return ActiveModel(bundle=bundle, version_id=version_id)

    def rollback(self) -> ActiveModel:
        """Drop the current home model and return to the one before it."""
        index = self._read_index()
        if not index["versions"]:
            raise NothingToRollBack
        dropped = index["versions"].pop()
        self._write_index(index)
        shutil.rmtree(self._versions_dir / dropped, ignore_errors=True)
        return self.load_active()

    def _set_aside(self, version_id: str) -> None:
        """Move a refused version out of the way, keeping the last few for support."""
        refused_dir = self._home_dir / REFUSED_DIR
        refused_dir.mkdir(parents=True, exist_ok=True)
        target = refused_dir / version_id
        shutil.rmtree(target, ignore_errors=True)
        source = self._versions_dir / version_id
        if source.exists():
            source.rename(target)
        kept = sorted(p for p in refused_dir.iterdir() if p.is_dir())
        for old in kept[:-REFUSED_KEPT]:
            shutil.rmtree(old, ignore_errors=True)
