#!/usr/bin/env bash
# Create (or update) the project's virtual environment from nothing.
# Python 3.13 (pyenv, via .python-version), Home Assistant's test harness
# (which pins HA 2025.4.4), the training toolkit and the dev tools.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3.13}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if [ ! -f "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[train,test]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
