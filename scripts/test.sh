#!/usr/bin/env bash
# The whole check from nothing: set up the venv, then lint, types and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
PY=.venv/bin
echo "== ruff"
"$PY/ruff" check .
"$PY/ruff" format --check .
echo "== mypy"
"$PY/mypy" custom_components/homeiq_device_intel
echo "== pytest"
"$PY/pytest" -q -p no:cacheprovider "$@"
echo "== compatibility: Home Assistant 2026.2.3"
./scripts/test_compat.sh
