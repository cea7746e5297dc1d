"""The model bundle on disk: every model a home uses, saved atomically and loaded with checks.

A bundle directory holds exactly two files:

- `models.npz`: every array, `np.savez_compressed`, no object arrays, named
  `classifiers/<target>/<array>`, `regressors/<name>/<array>` and
  `anomaly/<array>` (array names are the `TreeEnsemble` /
  `IsolationForestModel` array fields).
- `manifest.json`: format and schema versions, feature names, the scalar
  parameters of every model, free-form metadata, and the size and sha256 of
  every other file.

Loading never unpickles and never lets a raw exception escape for a bad
bundle: it raises `ModelLoadError` with a short machine `reason`.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from .files import parse_json
from .trees.forest import FloatArray
from .trees.isolation import IsolationForestModel, score_samples
from .trees.layout import OBJECTIVES, TreeEnsemble
from .trees.predict import predict_raw, sigmoid

FORMAT: Final = "homeiq-model-bundle"
FORMAT_VERSION: Final = 1
MANIFEST_FILE: Final = "manifest.json"
MODELS_FILE: Final = "models.npz"

type TargetTransform = Literal["identity", "log1p"]
type LoadErrorReason = Literal[
    "missing",
    "manifest_invalid",
    "checksum_mismatch",
    "format_version",
    "schema_mismatch",
    "outdated",
    "corrupt",
]

TARGET_TRANSFORMS: Final[frozenset[str]] = frozenset({"identity", "log1p"})
_NAME: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

_ENSEMBLE_ARRAYS: Final[dict[str, type[np.generic]]] = {
    "tree_offsets": np.int32,
    "split_feature": np.int32,
    "threshold": np.float64,
    "left_child": np.int32,
    "right_child": np.int32,
    "default_left": np.bool_,
    "missing_type": np.int8,
    "value": np.float64,
}
_ANOMALY_ARRAYS: Final[dict[str, type[np.generic]]] = {
    "impute_values": np.float64,
    "tree_offsets": np.int32,
    "split_feature": np.int32,
    "threshold": np.float64,
    "left_child": np.int32,
    "right_child": np.int32,
    "n_node_samples": np.int64,
}


class ModelLoadError(Exception):
    """A bundle could not be loaded; `reason` is a machine key, `detail` is for logs."""

    def __init__(self, reason: LoadErrorReason, detail: str) -> None:
        """Store the reason key and the human-readable detail."""
        super().__init__(f"{reason}: {detail}")
        self.reason: LoadErrorReason = reason
        self.detail = detail


@dataclass(frozen=True, kw_only=True)
class BinaryClassifier:
    """A binary tree ensemble with Platt calibration p = sigmoid(a * margin + b) and a threshold."""

    ensemble: TreeEnsemble
    calibration_a: float = 1.0
    calibration_b: float = 0.0
    threshold: float = 0.5

    def __post_init__(self) -> None:
        """Validate the objective and the scalar parameters."""
        if self.ensemble.objective != "binary":
            raise ValueError(f"classifier needs a binary ensemble, got {self.ensemble.objective!r}")
        if not (math.isfinite(self.calibration_a) and math.isfinite(self.calibration_b)):
            raise ValueError("calibration parameters must be finite")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")

    def predict_proba(self, X: npt.ArrayLike) -> FloatArray:
        """Calibrated positive-class probabilities (n_rows,) float64 for X (n_rows, n_features)."""
        margin = self.ensemble.sigmoid * predict_raw(self.ensemble, X)
        return sigmoid(self.calibration_a * margin + self.calibration_b)


@dataclass(frozen=True, kw_only=True)
class ModelBundle:
    """Every model one home uses, over one feature vector (n_features = len(feature_names)).

    Regressors are trained on `target_transform(y)` and predictions are mapped
    back. `metadata` is JSON-serialisable: version, source ("shipped"/"home"),
    created (ISO time), metrics, lineage, training summary.
    """

    feature_names: tuple[str, ...]
    schema_version: int
    classifiers: dict[str, BinaryClassifier] = field(default_factory=dict)
    regressors: dict[str, TreeEnsemble] = field(default_factory=dict)
    target_transform: TargetTransform = "identity"
    anomaly: IsolationForestModel | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check that every model reads the bundle's feature vector and names are safe."""
        object.__setattr__(self, "feature_names", tuple(self.feature_names))
        n_features = len(self.feature_names)
        if n_features < 1 or len(set(self.feature_names)) != n_features:
            raise ValueError("feature_names must be non-empty and unique")
        if self.target_transform not in TARGET_TRANSFORMS:
            raise ValueError(f"unknown target_transform {self.target_transform!r}")
        models: list[tuple[str, TreeEnsemble | IsolationForestModel]] = [
            *((name, model.ensemble) for name, model in self.classifiers.items()),
            *self.regressors.items(),
        ]
        if self.anomaly is not None:
            models.append(("anomaly", self.anomaly))
        for name, model in models:
            if not _NAME.fullmatch(name):
                raise ValueError(f"model name {name!r} must match {_NAME.pattern}")
            if model.n_features != n_features:
                raise ValueError(f"model {name!r} reads {model.n_features} features, bundle has {n_features}")
        for name, ensemble in self.regressors.items():
            if ensemble.objective == "binary":
                raise ValueError(f"regressor {name!r} has a binary objective")

    def predict_proba(self, X: npt.ArrayLike) -> dict[str, FloatArray]:
        """Calibrated probabilities per classifier target, each (n_rows,) float64."""
        return {target: model.predict_proba(X) for target, model in self.classifiers.items()}

    def predict_regression(self, name: str, X: npt.ArrayLike) -> FloatArray:
        """Predictions (n_rows,) float64 of regressor `name`, in the target's own units."""
        raw = predict_raw(self.regressors[name], X)
        if self.target_transform == "log1p":
            return np.expm1(raw)
        return raw

    def anomaly_score(self, X: npt.ArrayLike) -> FloatArray:
        """Anomaly scores (n_rows,) float64 in (0, 1]; higher = more anomalous."""
        if self.anomaly is None:
            raise ValueError("this bundle has no anomaly model")
        return -score_samples(self.anomaly, X)


def _ensemble_arrays(ensemble: TreeEnsemble) -> dict[str, npt.NDArray[Any]]:
    """The arrays of one ensemble, by field name."""
    return {name: getattr(ensemble, name) for name in _ENSEMBLE_ARRAYS}


def _ensemble_scalars(ensemble: TreeEnsemble) -> dict[str, Any]:
    """The manifest entry of one ensemble."""
    return {
        "objective": ensemble.objective,
        "n_features": ensemble.n_features,
        "n_trees": ensemble.n_trees,
        "base_score": ensemble.base_score,
        "sigmoid": ensemble.sigmoid,
        "node_values": ensemble.node_values,
    }


def _bundle_content(bundle: ModelBundle) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    """Arrays for `models.npz` and the manifest (without file checksums)."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    classifiers: dict[str, Any] = {}
    for target, classifier in bundle.classifiers.items():
        for name, array in _ensemble_arrays(classifier.ensemble).items():
            arrays[f"classifiers/{target}/{name}"] = array
        classifiers[target] = {
            **_ensemble_scalars(classifier.ensemble),
            "calibration_a": classifier.calibration_a,
            "calibration_b": classifier.calibration_b,
            "threshold": classifier.threshold,
        }
    regressors: dict[str, Any] = {}
    for regressor, ensemble in bundle.regressors.items():
        for name, array in _ensemble_arrays(ensemble).items():
            arrays[f"regressors/{regressor}/{name}"] = array
        regressors[regressor] = _ensemble_scalars(ensemble)
    anomaly: dict[str, Any] | None = None
    if bundle.anomaly is not None:
        for name in _ANOMALY_ARRAYS:
            arrays[f"anomaly/{name}"] = getattr(bundle.anomaly, name)
        anomaly = {
            "n_features": bundle.anomaly.n_features,
            "n_trees": bundle.anomaly.n_trees,
            "max_samples": bundle.anomaly.max_samples,
            "offset": bundle.anomaly.offset,
        }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_version": bundle.schema_version,
        "feature_names": list(bundle.feature_names),
        "target_transform": bundle.target_transform,
        "classifiers": classifiers,
        "regressors": regressors,
        "anomaly": anomaly,
        "metadata": bundle.metadata,
    }
    return arrays, manifest


def _write_file(path: Path, content: bytes) -> None:
    """Write bytes to a new file and fsync it."""
    with path.open("xb") as stream:
        stream.write(content)
        stream.flush()
        os.fsync(stream.fileno())


def _fsync_dir(path: Path) -> None:
    """Fsync a directory so renames inside it are durable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _file_entry(content: bytes) -> dict[str, Any]:
    """Manifest entry (size and sha256) of one file's bytes."""
    return {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def save_bundle(bundle: ModelBundle, directory: str | os.PathLike[str]) -> None:
    """Write `bundle` to `directory` atomically: it appears complete or not at all.

    Files are written and fsynced in a temporary sibling directory which is then
    renamed into place; an existing bundle at `directory` is replaced only once
    the new one is complete. Raises ValueError if the bundle is not serialisable.
    """
    target = Path(directory)
    arrays, manifest = _bundle_content(bundle)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    models = buffer.getvalue()
    manifest["files"] = {MODELS_FILE: _file_entry(models)}
    try:
        manifest_text = json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"bundle manifest is not JSON-serialisable: {err}") from err

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    retired: Path | None = None
    try:
        _write_file(staging / MODELS_FILE, models)
        _write_file(staging / MANIFEST_FILE, (manifest_text + "\n").encode())
        _fsync_dir(staging)
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, retired)
        try:
            os.replace(staging, target)
        except OSError:
            if retired is not None:
                os.replace(retired, target)
                retired = None
            raise
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)


def _read_manifest(directory: Path) -> dict[str, Any]:
    """Parse and structurally check `manifest.json`."""
    if not directory.is_dir():
        raise ModelLoadError("missing", f"no bundle directory at {directory}")
    try:
        text = (directory / MANIFEST_FILE).read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ModelLoadError("missing", f"{MANIFEST_FILE} not found in {directory}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ModelLoadError("manifest_invalid", f"cannot read {MANIFEST_FILE}: {err}") from err

    def reject_constant(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    try:
        manifest = parse_json(text, parse_constant=reject_constant)
    except ValueError as err:
        raise ModelLoadError("manifest_invalid", f"{MANIFEST_FILE} is not valid JSON: {err}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelLoadError("manifest_invalid", f"{MANIFEST_FILE} is not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(
            "format_version",
            f"format version {manifest.get('format_version')!r}, expected {FORMAT_VERSION}",
        )
    _require(manifest, "schema_version", int)
    _require(manifest, "feature_names", list)
    if _require(manifest, "target_transform", str) not in TARGET_TRANSFORMS:
        raise ModelLoadError("manifest_invalid", "unknown target_transform")
    _require(manifest, "classifiers", dict)
    _require(manifest, "regressors", dict)
    _require(manifest, "metadata", dict)
    _require(manifest, "files", dict)
    if not all(isinstance(name, str) for name in manifest["feature_names"]):
        raise ModelLoadError("manifest_invalid", "feature_names must be strings")
    if "anomaly" not in manifest:
        raise ModelLoadError("manifest_invalid", "'anomaly' is missing")
    if manifest["anomaly"] is not None:
        _require(manifest, "anomaly", dict)
    if MODELS_FILE not in manifest["files"]:
        raise ModelLoadError("manifest_invalid", f"{MODELS_FILE} is not listed in files")
    return manifest


def _require(mapping: Any, key: str, kind: type) -> Any:
    """Return `mapping[key]` if it has type `kind` (bool is not an int), else raise."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
        raise ModelLoadError("manifest_invalid", f"{key!r} must be a {kind.__name__}")
    return value


def _number(mapping: Any, key: str) -> float:
    """Return `mapping[key]` as a finite float, else raise."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelLoadError("manifest_invalid", f"{key!r} must be a finite number")
    return float(value)


def _read_checked_files(directory: Path, files: dict[str, Any]) -> dict[str, bytes]:
    """Read every listed file and verify its size and sha256."""
    contents: dict[str, bytes] = {}
    for name, entry in files.items():
        if not _NAME.fullmatch(name):
            raise ModelLoadError("manifest_invalid", f"file name {name!r} is not a plain name")
        size = _require(entry, "size", int)
        digest = _require(entry, "sha256", str)
        try:
            content = (directory / name).read_bytes()
        except FileNotFoundError as err:
            raise ModelLoadError("missing", f"{name} not found in {directory}") from err
        except OSError as err:
            raise ModelLoadError("corrupt", f"cannot read {name}: {err}") from err
        if len(content) != size or hashlib.sha256(content).hexdigest() != digest:
            raise ModelLoadError("checksum_mismatch", f"{name} does not match its manifest entry")
        contents[name] = content
    return contents


def _load_arrays(content: bytes) -> dict[str, npt.NDArray[Any]]:
    """Load every array of an npz archive without pickle."""
    try:
        with np.load(io.BytesIO(content), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    # Bytes from disk can fail in zipfile, zlib or numpy in many ways; all mean "corrupt".
    except Exception as err:
        raise ModelLoadError("corrupt", f"{MODELS_FILE} cannot be read: {err}") from err


def _take_arrays(
    arrays: dict[str, npt.NDArray[Any]], prefix: str, expected: dict[str, type[np.generic]]
) -> dict[str, npt.NDArray[Any]]:
    """Remove and return the arrays under `prefix`, checking names and dtypes."""
    taken: dict[str, npt.NDArray[Any]] = {}
    for name, dtype in expected.items():
        array = arrays.pop(f"{prefix}/{name}", None)
        if array is None:
            raise ModelLoadError("corrupt", f"{MODELS_FILE} lacks {prefix}/{name}")
        if array.dtype != np.dtype(dtype) or array.ndim != 1:
            raise ModelLoadError("corrupt", f"{prefix}/{name} is not a 1-D {np.dtype(dtype)} array")
        taken[name] = array
    return taken


def _load_ensemble(arrays: dict[str, npt.NDArray[Any]], prefix: str, scalars: Any) -> TreeEnsemble:
    """Rebuild one ensemble from its arrays and manifest entry."""
    objective = _require(scalars, "objective", str)
    if objective not in OBJECTIVES:
        raise ModelLoadError("manifest_invalid", f"{prefix}: unknown objective {objective!r}")
    n_features = _require(scalars, "n_features", int)
    base_score = _number(scalars, "base_score")
    scale = _number(scalars, "sigmoid")
    # Absent in bundles written before internal nodes kept their values: they hold 0.0.
    node_values = _require(scalars, "node_values", bool) if "node_values" in scalars else False
    parts = _take_arrays(arrays, prefix, _ENSEMBLE_ARRAYS)
    try:
        ensemble = TreeEnsemble(
            n_features=n_features,
            objective=objective,
            base_score=base_score,
            sigmoid=scale,
            node_values=node_values,
            **parts,
        )
    except ValueError as err:
        raise ModelLoadError("corrupt", f"{prefix}: {err}") from err
    if ensemble.n_trees != _require(scalars, "n_trees", int):
        raise ModelLoadError("corrupt", f"{prefix}: tree count differs from the manifest")
    return ensemble


def _load_anomaly(arrays: dict[str, npt.NDArray[Any]], scalars: Any) -> IsolationForestModel:
    """Rebuild the isolation forest from its arrays and manifest entry."""
    n_features = _require(scalars, "n_features", int)
    max_samples = _require(scalars, "max_samples", int)
    offset = _number(scalars, "offset")
    parts = _take_arrays(arrays, "anomaly", _ANOMALY_ARRAYS)
    try:
        model = IsolationForestModel(n_features=n_features, max_samples=max_samples, offset=offset, **parts)
    except ValueError as err:
        raise ModelLoadError("corrupt", f"anomaly: {err}") from err
    if model.n_trees != _require(scalars, "n_trees", int):
        raise ModelLoadError("corrupt", "anomaly: tree count differs from the manifest")
    return model


def _check_schema(
    schema_version: int,
    feature_names: tuple[str, ...],
    expected_schema_version: int | None,
    expected_feature_names: tuple[str, ...] | None,
) -> None:
    """Raise ModelLoadError unless the bundle reads the features this release computes."""
    if expected_schema_version is not None and schema_version < expected_schema_version:
        # Built by an earlier release for fewer or other features: expected after an update.
        raise ModelLoadError(
            "outdated",
            f"built for feature schema {schema_version}, "
            f"this release computes schema {expected_schema_version}",
        )
    if expected_schema_version is not None and schema_version != expected_schema_version:
        raise ModelLoadError(
            "schema_mismatch",
            f"schema version {schema_version}, expected {expected_schema_version}",
        )
    if expected_feature_names is not None and feature_names != tuple(expected_feature_names):
        raise ModelLoadError("schema_mismatch", "feature names differ from the expected ones")


def _load_classifier(arrays: dict[str, npt.NDArray[Any]], target: str, scalars: Any) -> BinaryClassifier:
    """Rebuild one classifier from its arrays and manifest entry."""
    ensemble = _load_ensemble(arrays, f"classifiers/{target}", scalars)
    try:
        return BinaryClassifier(
            ensemble=ensemble,
            calibration_a=_number(scalars, "calibration_a"),
            calibration_b=_number(scalars, "calibration_b"),
            threshold=_number(scalars, "threshold"),
        )
    except ValueError as err:
        raise ModelLoadError("corrupt", f"classifiers/{target}: {err}") from err


def load_bundle(
    directory: str | os.PathLike[str],
    *,
    expected_feature_names: tuple[str, ...] | None = None,
    expected_schema_version: int | None = None,
) -> ModelBundle:
    """Load and verify the bundle in `directory`; raise ModelLoadError on any problem."""
    path = Path(directory)
    manifest = _read_manifest(path)
    feature_names = tuple(manifest["feature_names"])
    schema_version: int = manifest["schema_version"]
    _check_schema(schema_version, feature_names, expected_schema_version, expected_feature_names)
    contents = _read_checked_files(path, manifest["files"])
    arrays = _load_arrays(contents[MODELS_FILE])
    classifiers = {
        target: _load_classifier(arrays, target, scalars)
        for target, scalars in manifest["classifiers"].items()
    }
    regressors = {
        name: _load_ensemble(arrays, f"regressors/{name}", scalars)
        for name, scalars in manifest["regressors"].items()
    }
    anomaly = None if manifest["anomaly"] is None else _load_anomaly(arrays, manifest["anomaly"])
    if arrays:
        raise ModelLoadError("corrupt", f"{MODELS_FILE} has unexpected arrays: {sorted(arrays)}")
    try:
        return ModelBundle(
            feature_names=feature_names,
            schema_version=schema_version,
            classifiers=classifiers,
            regressors=regressors,
            target_transform=manifest["target_transform"],
            anomaly=anomaly,
            metadata=manifest["metadata"],
        )
    except ValueError as err:
        raise ModelLoadError("corrupt", str(err)) from err
