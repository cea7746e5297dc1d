"""Restructuring changes no behaviour: the shipped bundle's predictions on the demo home, bit for bit.

`data/demo_predictions.json` holds every number the shipped bundle gives each
demo-home device (as `float.hex`, so bit-exact), with the bundle's checksum and
the generator version it was recorded with. A change to the generator, the
grid, the features, the predictor or the calibration that moves any of them
fails here. When a change is *meant* to move them (a new bundle, a generator
change), re-record with `HOMEIQ_RECORD_PREDICTIONS=1` and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from custom_components.homeiq_device_intel.ml.bundle import load_bundle
from custom_components.homeiq_device_intel.ml.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from custom_components.homeiq_device_intel.ml.scoring import DevicePrediction, score_home
from homeiq_lab.demo.home import build_demo_home
from homeiq_lab.synthetic import GENERATOR_VERSION

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "custom_components" / "homeiq_device_intel" / "models"
RECORDED = Path(__file__).parent / "data" / "demo_predictions.json"
NOW = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def _bits(value: float | None) -> str | None:
    return None if value is None else float(value).hex()


def _as_record(prediction: DevicePrediction) -> dict[str, Any]:
    return {
        "probability": _bits(prediction.probability),
        "failure_type": prediction.failure_type,
        "probabilities": {k: _bits(v) for k, v in sorted(prediction.probabilities.items())},
        "reasons": [[r.feature, r.text, _bits(r.weight)] for r in prediction.reasons],
        "battery_days": [
            _bits(prediction.battery_days),
            _bits(prediction.battery_days_low),
            _bits(prediction.battery_days_high),
        ],
        "anomaly": _bits(prediction.anomaly),
        "failing_now": prediction.failing_now,
    }


def _bundle_digest() -> str:
    return hashlib.sha256((SHIPPED / "manifest.json").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def predictions() -> dict[str, Any]:
    bundle = load_bundle(
        SHIPPED, expected_feature_names=FEATURE_NAMES, expected_schema_version=FEATURE_SCHEMA_VERSION
    )
    demo = build_demo_home(NOW)
    scored = score_home(demo.history, bundle, now=demo.end)
    return {
        "bundle_manifest_sha256": _bundle_digest(),
        "generator_version": GENERATOR_VERSION,
        "devices": {p.device_key: _as_record(p) for p in sorted(scored, key=lambda p: p.device_key)},
    }


def test_the_demo_home_is_scored_as_recorded(predictions: dict[str, Any]) -> None:
    if os.environ.get("HOMEIQ_RECORD_PREDICTIONS"):
        RECORDED.parent.mkdir(exist_ok=True)
        RECORDED.write_text(json.dumps(predictions, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    assert predictions["bundle_manifest_sha256"] == recorded["bundle_manifest_sha256"], (
        "a new bundle: re-record"
    )
    assert len(recorded["devices"]) >= 20
    assert predictions["devices"] == recorded["devices"]
