#!/usr/bin/env bash
# Compatibility run: the Home Assistant tests on HA 2026.2.3 (newest the test harness
# installs beside Python 3.13.0; `hass` itself needs 3.13.2, the harness does not).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-ha2026
PY="${PYTHON:-python3.13}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp="$VENV/.installed-0.13.316"
if [ ! -f "$stamp" ]; then
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q --ignore-requires-python \
    pytest-homeassistant-custom-component==0.13.316 hypothesis
  touch "$stamp"
fi
# The HA-facing tests (the pure-ML tests do not depend on the HA version).
"$VENV/bin/pytest" -q -p no:cacheprovider \
  tests/integration/test_config_flow.py tests/integration/test_init.py tests/integration/test_sensor.py tests/integration/test_binary_sensor.py \
  tests/integration/test_services.py tests/integration/test_training.py tests/integration/test_repairs.py tests/integration/test_diagnostics.py \
  tests/integration/test_faults.py tests/integration/test_risk.py tests/integration/test_lifecycle.py tests/integration/test_harness_checks.py \
  tests/integration/test_recorder_servers.py tests/integration/test_stored_files.py tests/integration/test_snooze.py \
  tests/integration/test_link_quality.py tests/integration/test_migration.py
