"""The model bundle round-trips exactly, is written atomically and refuses bad files."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_components.homeiq_device_intel.ml import bundle as bundle_module
from custom_components.homeiq_device_intel.ml.bundle import (
    MANIFEST_FILE,
    MODELS_FILE,
    BinaryClassifier,
    ModelBundle,
    ModelLoadError,
    load_bundle,
    save_bundle,
)
from custom_components.homeiq_device_intel.ml.trees.isolation import IsolationForestModel, score_samples
from custom_components.homeiq_device_intel.ml.trees.layout import TreeEnsemble
from custom_components.homeiq_device_intel.ml.trees.predict import predict_binary_proba, predict_raw

FEATURES = ("battery_pct", "battery_slope_7d", "rssi_mean", "unavailable_hours_7d", "report_gap_h")
SCHEMA_VERSION = 3


def complete_trees(
    rng: np.random.Generator, n_trees: int, depth: int, n_features: int
) -> dict[str, np.ndarray]:
    """Node arrays of complete binary trees in breadth-first order (children 2i+1, 2i+2)."""
    per_tree = 2 ** (depth + 1) - 1
    local = np.arange(per_tree)
    internal = local < 2**depth - 1
    base = np.repeat(np.arange(n_trees) * per_tree, per_tree)
    is_internal = np.tile(internal, n_trees)
    return {
        "tree_offsets": (np.arange(n_trees + 1) * per_tree).astype(np.int32),
        "split_feature": np.where(is_internal, rng.integers(0, n_features, size=is_internal.size), -1).astype(
            np.int32
        ),
        "threshold": np.where(is_internal, rng.normal(size=is_internal.size), 0.0),
        "left_child": np.where(is_internal, base + np.tile(2 * local + 1, n_trees), -1).astype(np.int32),
        "right_child": np.where(is_internal, base + np.tile(2 * local + 2, n_trees), -1).astype(np.int32),
        "is_internal": is_internal,
    }


def random_ensemble(rng: np.random.Generator, objective: Any, n_trees: int = 6) -> TreeEnsemble:
    """A valid random ensemble over FEATURES."""
    nodes = complete_trees(rng, n_trees, depth=3, n_features=len(FEATURES))
    is_internal = nodes.pop("is_internal")
    return TreeEnsemble(
        n_features=len(FEATURES),
        objective=objective,
        default_left=rng.random(is_internal.size) < 0.5,
        missing_type=np.where(is_internal, rng.integers(0, 3, size=is_internal.size), 0).astype(np.int8),
        value=np.where(is_internal, 0.0, rng.normal(size=is_internal.size)),
        base_score=0.25,
        **nodes,
    )


def random_isolation_forest(rng: np.random.Generator) -> IsolationForestModel:
    """A valid random isolation forest over FEATURES."""
    nodes = complete_trees(rng, 5, depth=3, n_features=len(FEATURES))
    is_internal = nodes.pop("is_internal")
    return IsolationForestModel(
        n_features=len(FEATURES),
        max_samples=64,
        offset=-0.5,
        impute_values=rng.normal(size=len(FEATURES)),
        n_node_samples=np.where(is_internal, 64, rng.integers(1, 9, size=is_internal.size)),
        **nodes,
    )


def make_bundle(seed: int = 0, **overrides: Any) -> ModelBundle:
    """A bundle with two classifiers, three quantile regressors and an anomaly model."""
    rng = np.random.default_rng(seed)
    fields: dict[str, Any] = {
        "feature_names": FEATURES,
        "schema_version": SCHEMA_VERSION,
        "classifiers": {
            "battery_depleted": BinaryClassifier(
                ensemble=random_ensemble(rng, "binary"),
                calibration_a=0.8,
                calibration_b=-0.3,
                threshold=0.42,
            ),
            "unavailable": BinaryClassifier(ensemble=random_ensemble(rng, "binary")),
        },
        "regressors": {f"battery_days_q{q}": random_ensemble(rng, "quantile") for q in (10, 50, 90)},
        "target_transform": "log1p",
        "anomaly": random_isolation_forest(rng),
        "metadata": {
            "version": "2025.1.0",
            "source": "shipped",
            "created": "2025-01-01T00:00:00+00:00",
            "metrics": {"battery_depleted": {"pr_auc": 0.91}},
        },
    }
    return ModelBundle(**{**fields, **overrides})


def test_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    original = make_bundle()
    rows = np.random.default_rng(1).normal(size=(500, len(FEATURES)))
    rows[::7, 2] = np.nan
    save_bundle(original, tmp_path / "bundle")

    loaded = load_bundle(tmp_path / "bundle")

    assert loaded.feature_names == original.feature_names
    assert loaded.schema_version == original.schema_version
    assert loaded.metadata == original.metadata
    assert loaded.target_transform == "log1p"
    for target, proba in original.predict_proba(rows).items():
        assert np.array_equal(loaded.predict_proba(rows)[target], proba)
        assert loaded.classifiers[target].threshold == original.classifiers[target].threshold
    for name in original.regressors:
        assert np.array_equal(loaded.predict_regression(name, rows), original.predict_regression(name, rows))
    assert np.array_equal(loaded.anomaly_score(rows), original.anomaly_score(rows))


def test_bundle_directory_holds_npz_and_manifest_with_checksums(tmp_path: Path) -> None:
    save_bundle(make_bundle(), tmp_path / "bundle")

    manifest = json.loads((tmp_path / "bundle" / MANIFEST_FILE).read_text())
    content = (tmp_path / "bundle" / MODELS_FILE).read_bytes()
    with np.load(io.BytesIO(content), allow_pickle=False) as archive:
        names = set(archive.files)

    assert sorted(p.name for p in (tmp_path / "bundle").iterdir()) == [MANIFEST_FILE, MODELS_FILE]
    assert manifest["files"][MODELS_FILE] == {
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    assert manifest["classifiers"]["battery_depleted"]["threshold"] == 0.42
    assert "classifiers/unavailable/threshold" in names
    assert "regressors/battery_days_q50/value" in names
    assert "anomaly/impute_values" in names


def test_uncalibrated_classifier_equals_the_ensemble_probability() -> None:
    model = make_bundle().classifiers["unavailable"]
    rows = np.random.default_rng(2).normal(size=(100, len(FEATURES)))

    assert np.array_equal(model.predict_proba(rows), predict_binary_proba(model.ensemble, rows))


def test_platt_calibration_applies_to_the_raw_margin() -> None:
    model = make_bundle().classifiers["battery_depleted"]
    rows = np.random.default_rng(3).normal(size=(100, len(FEATURES)))
    margin = predict_raw(model.ensemble, rows)

    expected = 1.0 / (1.0 + np.exp(-(0.8 * margin - 0.3)))

    assert np.allclose(model.predict_proba(rows), expected, rtol=0, atol=1e-15)


def test_log1p_regressors_are_inverted_on_predict() -> None:
    bundle = make_bundle()
    rows = np.random.default_rng(4).normal(size=(50, len(FEATURES)))
    raw = predict_raw(bundle.regressors["battery_days_q50"], rows)

    assert np.array_equal(bundle.predict_regression("battery_days_q50", rows), np.expm1(raw))


def test_anomaly_score_is_the_negated_isolation_forest_score() -> None:
    bundle = make_bundle()
    assert bundle.anomaly is not None
    rows = np.random.default_rng(5).normal(size=(50, len(FEATURES)))

    scores = bundle.anomaly_score(rows)

    assert np.array_equal(scores, -score_samples(bundle.anomaly, rows))
    assert np.all((scores > 0.0) & (scores <= 1.0))


def test_models_must_read_the_bundle_feature_vector() -> None:
    with pytest.raises(ValueError, match="features"):
        make_bundle(feature_names=(*FEATURES, "extra"))


def test_non_json_metadata_is_refused_before_writing(models_dir: Path) -> None:
    with pytest.raises(ValueError, match="JSON"):
        save_bundle(make_bundle(metadata={"created": object()}), models_dir / "bundle")

    assert list(models_dir.iterdir()) == []


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """An empty folder of our own to save bundles in."""
    directory = tmp_path / "models"
    directory.mkdir()
    return directory


@pytest.fixture
def saved(models_dir: Path) -> Path:
    """A saved bundle directory."""
    directory = models_dir / "bundle"
    save_bundle(make_bundle(), directory)
    return directory


def load_error(directory: Path, **expected: Any) -> ModelLoadError:
    """The ModelLoadError raised when loading `directory`."""
    with pytest.raises(ModelLoadError) as caught:
        load_bundle(directory, **expected)
    return caught.value


def edit_manifest(directory: Path, **changes: Any) -> None:
    """Rewrite manifest.json with top-level keys changed."""
    path = directory / MANIFEST_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def replace_models(directory: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a new models.npz and update the manifest checksums to match it."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    content = buffer.getvalue()
    (directory / MODELS_FILE).write_bytes(content)
    entry = {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    edit_manifest(directory, files={MODELS_FILE: entry})


def saved_arrays(directory: Path) -> dict[str, np.ndarray]:
    """The arrays of a saved bundle."""
    with np.load(directory / MODELS_FILE, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def test_missing_directory_is_reported_missing(tmp_path: Path) -> None:
    assert load_error(tmp_path / "nowhere").reason == "missing"


@pytest.mark.parametrize("name", [MANIFEST_FILE, MODELS_FILE])
def test_missing_file_is_reported_missing(saved: Path, name: str) -> None:
    (saved / name).unlink()

    assert load_error(saved).reason == "missing"


def test_truncated_npz_is_a_checksum_mismatch(saved: Path) -> None:
    content = (saved / MODELS_FILE).read_bytes()
    (saved / MODELS_FILE).write_bytes(content[: len(content) // 2])

    assert load_error(saved).reason == "checksum_mismatch"


def test_flipped_byte_is_a_checksum_mismatch(saved: Path) -> None:
    content = bytearray((saved / MODELS_FILE).read_bytes())
    content[len(content) // 3] ^= 0x01
    (saved / MODELS_FILE).write_bytes(bytes(content))

    assert load_error(saved).reason == "checksum_mismatch"


def test_manifest_that_is_not_json_is_invalid(saved: Path) -> None:
    path = saved / MANIFEST_FILE
    path.write_text(path.read_text()[:-20])

    assert load_error(saved).reason == "manifest_invalid"


@pytest.mark.parametrize(
    "changes",
    [
        {"format": "something-else"},
        {"feature_names": "battery_pct"},
        {"schema_version": "3"},
        {"files": {}},
        {"classifiers": {"unavailable": {"objective": "binary"}}},
    ],
)
def test_manifest_with_wrong_fields_is_invalid(saved: Path, changes: dict[str, Any]) -> None:
    edit_manifest(saved, **changes)

    assert load_error(saved).reason == "manifest_invalid"


def test_manifest_with_nan_constant_is_invalid(saved: Path) -> None:
    path = saved / MANIFEST_FILE
    path.write_text(path.read_text().replace('"threshold": 0.42', '"threshold": NaN'))

    assert load_error(saved).reason == "manifest_invalid"


def test_edited_scalar_that_breaks_a_model_is_corrupt(saved: Path) -> None:
    manifest = json.loads((saved / MANIFEST_FILE).read_text())
    manifest["regressors"]["battery_days_q10"]["n_trees"] = 99
    (saved / MANIFEST_FILE).write_text(json.dumps(manifest))

    assert load_error(saved).reason == "corrupt"


def test_other_format_version_is_refused(saved: Path) -> None:
    edit_manifest(saved, format_version=2)

    assert load_error(saved).reason == "format_version"


def test_other_schema_version_is_a_schema_mismatch(saved: Path) -> None:
    error = load_error(saved, expected_schema_version=SCHEMA_VERSION - 1)

    assert error.reason == "schema_mismatch"


def test_older_schema_version_is_outdated_not_damaged(saved: Path) -> None:
    error = load_error(saved, expected_schema_version=SCHEMA_VERSION + 1)
    assert error.reason == "outdated"
    edit_manifest(saved, schema_version=SCHEMA_VERSION + 2)
    # A newer schema than this code computes is a mismatch (a downgrade), not "outdated".
    assert load_error(saved, expected_schema_version=SCHEMA_VERSION + 1).reason == "schema_mismatch"


def test_other_feature_names_are_a_schema_mismatch(saved: Path) -> None:
    error = load_error(saved, expected_feature_names=tuple(reversed(FEATURES)))

    assert error.reason == "schema_mismatch"


def test_matching_expectations_load(saved: Path) -> None:
    loaded = load_bundle(saved, expected_feature_names=FEATURES, expected_schema_version=SCHEMA_VERSION)

    assert loaded.feature_names == FEATURES


def test_npz_with_an_object_array_is_refused_without_unpickling(saved: Path) -> None:
    arrays = saved_arrays(saved)
    arrays["classifiers/unavailable/value"] = np.array([{"payload": 1}, None], dtype=object)
    replace_models(saved, arrays)

    assert load_error(saved).reason == "corrupt"


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("classifiers/unavailable/left_child", lambda a: np.where(a >= 0, a + 10_000, a)),
        ("classifiers/unavailable/right_child", lambda a: np.where(a >= 0, 0, a)),
        ("classifiers/unavailable/split_feature", lambda a: np.where(a >= 0, len(FEATURES), a)),
        ("regressors/battery_days_q90/threshold", lambda a: np.full_like(a, np.nan)),
        ("regressors/battery_days_q90/tree_offsets", lambda a: a[:-1]),
        ("regressors/battery_days_q50/value", lambda a: a.astype(np.float32)),
        ("anomaly/impute_values", lambda a: a[:-1]),
        ("anomaly/n_node_samples", lambda a: a * 0),
    ],
    ids=[
        "child-out-of-range",
        "child-cycle",
        "feature-out-of-range",
        "nan-threshold",
        "offsets-short",
        "wrong-dtype",
        "impute-shape",
        "zero-samples",
    ],
)
def test_inconsistent_arrays_are_corrupt(saved: Path, name: str, edit: Any) -> None:
    arrays = saved_arrays(saved)
    arrays[name] = edit(arrays[name])
    replace_models(saved, arrays)

    assert load_error(saved).reason == "corrupt"


@pytest.mark.parametrize("change", ["drop", "extra"])
def test_missing_or_unexpected_arrays_are_corrupt(saved: Path, change: str) -> None:
    arrays = saved_arrays(saved)
    if change == "drop":
        del arrays["anomaly/threshold"]
    else:
        arrays["classifiers/stale/value"] = np.zeros(3)
    replace_models(saved, arrays)

    assert load_error(saved).reason == "corrupt"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.floats(0.0, 1.0, exclude_max=True), bit=st.integers(0, 7))
def test_any_damaged_npz_raises_only_model_load_error(
    tmp_path_factory: pytest.TempPathFactory, position: float, bit: int
) -> None:
    directory = tmp_path_factory.mktemp("fuzz") / "bundle"
    save_bundle(make_bundle(), directory)
    content = bytearray((directory / MODELS_FILE).read_bytes())
    content[int(position * len(content))] ^= 1 << bit
    (directory / MODELS_FILE).write_bytes(bytes(content))
    entry = {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    edit_manifest(directory, files={MODELS_FILE: entry})

    reasons = []
    try:
        load_bundle(directory)
    except ModelLoadError as err:
        reasons.append(err.reason)

    assert reasons in ([], ["corrupt"])


def test_failed_save_leaves_the_existing_bundle_intact(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    real_write = bundle_module._write_file

    def write_then_fail(path: Path, content: bytes) -> None:
        if path.name == MANIFEST_FILE:
            path.write_bytes(content[:10])
            raise OSError("disk full")
        real_write(path, content)

    monkeypatch.setattr(bundle_module, "_write_file", write_then_fail)

    with pytest.raises(OSError, match="disk full"):
        save_bundle(make_bundle(seed=1), saved)

    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]
    load_bundle(saved)


def test_failed_first_save_leaves_nothing(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(path: Path, content: bytes) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(bundle_module, "_write_file", fail)

    with pytest.raises(OSError, match="disk full"):
        save_bundle(make_bundle(), models_dir / "bundle")

    assert list(models_dir.iterdir()) == []


def test_failed_swap_restores_the_existing_bundle(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    real_replace = bundle_module.os.replace
    calls: list[str] = []

    def replace(source: Any, target: Any) -> None:
        calls.append(Path(source).name)
        if Path(source).name.startswith(f".{saved.name}.tmp-"):
            raise OSError("rename failed")
        real_replace(source, target)

    monkeypatch.setattr(bundle_module.os, "replace", replace)

    with pytest.raises(OSError, match="rename failed"):
        save_bundle(make_bundle(seed=1), saved)

    assert len(calls) == 3  # retire old, swap in new (fails), restore old
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_save_replaces_an_existing_bundle(saved: Path) -> None:
    replacement = make_bundle(seed=2, metadata={"version": "home-2"})

    save_bundle(replacement, saved)

    assert load_bundle(saved).metadata == {"version": "home-2"}
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def with_node_values(ensemble: TreeEnsemble) -> TreeEnsemble:
    """The ensemble with an expected value at every internal node, as export writes them."""
    internal = ensemble.split_feature != -1
    values = np.where(internal, np.linspace(-1.0, 1.0, internal.size), ensemble.value)
    return dataclasses.replace(ensemble, value=values, node_values=True)


def edit_classifier_entries(directory: Path, edit: Any) -> None:
    """Apply `edit` to every classifier entry of manifest.json."""
    path = directory / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    for entry in manifest["classifiers"].values():
        edit(entry)
    path.write_text(json.dumps(manifest))


def test_node_values_survive_a_round_trip(models_dir: Path) -> None:
    original = make_bundle()
    unavailable = BinaryClassifier(ensemble=with_node_values(original.classifiers["unavailable"].ensemble))
    bundle = dataclasses.replace(original, classifiers={**original.classifiers, "unavailable": unavailable})
    save_bundle(bundle, models_dir / "bundle")

    loaded = load_bundle(models_dir / "bundle")

    assert loaded.classifiers["unavailable"].ensemble.node_values
    assert np.array_equal(loaded.classifiers["unavailable"].ensemble.value, unavailable.ensemble.value)
    assert not loaded.classifiers["battery_depleted"].ensemble.node_values


def test_a_bundle_written_before_node_values_loads_without_them(saved: Path) -> None:
    edit_classifier_entries(saved, lambda entry: entry.pop("node_values"))

    loaded = load_bundle(saved)

    assert not any(model.ensemble.node_values for model in loaded.classifiers.values())


def test_node_values_flag_must_be_a_bool(saved: Path) -> None:
    edit_classifier_entries(saved, lambda entry: entry.update(node_values=1))

    assert load_error(saved).reason == "manifest_invalid"


def test_internal_values_without_the_flag_are_corrupt(saved: Path) -> None:
    arrays = saved_arrays(saved)
    values = arrays["classifiers/unavailable/value"].copy()
    values[arrays["classifiers/unavailable/split_feature"] != -1] = 0.5
    replace_models(saved, {**arrays, "classifiers/unavailable/value": values})

    error = load_error(saved)

    assert error.reason == "corrupt"
    assert "node_values" in error.detail
