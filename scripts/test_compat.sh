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
  tests/test_config_flow.py tests/test_init.py tests/test_sensor.py tests/test_binary_sensor.py \
  tests/test_services.py tests/test_training.py tests/test_repairs.py tests/test_diagnostics.py \
  tests/test_faults.py tests/test_risk.py tests/test_lifecycle.py tests/test_harness_checks.py \
  tests/test_recorder_servers.py tests/test_stored_files.py
