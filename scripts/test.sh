#!/usr/bin/env bash
# The whole check from nothing: set up the venv, then lint, types and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# Recorder tests on real servers too (SKIP_DB_TESTS=1 skips them). The servers
# come first: the MariaDB driver builds against the client library they bring.
DB_TESTS=$([ "${SKIP_DB_TESTS:-0}" = 1 ] && echo 0 || echo 1)
if [ "$DB_TESTS" = 1 ]; then
  echo "== database servers"
  ./scripts/db_servers.sh
fi
./scripts/bootstrap.sh
PY=.venv/bin
echo "== ruff"
"$PY/ruff" check .
"$PY/ruff" format --check .
echo "== mypy"
"$PY/mypy" custom_components/homeiq_device_intel homeiq_lab scripts
echo "== pytest"
# Coverage of the shipped package, with the floor in pyproject.toml ([tool.coverage.report]).
"$PY/pytest" -q -p no:cacheprovider --cov --cov-report=term "$@"
if [ "$DB_TESTS" = 1 ]; then
  # HA's recorder creates and migrates its schema on each server; the harness
  # creates and drops the test database (a leftover of an interrupted run goes first).
  mariadb --protocol=tcp -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS homeiq_test"
  psql -q -h 127.0.0.1 -U postgres -w -c "DROP DATABASE IF EXISTS homeiq_test" 2>/dev/null
  for url in "mysql://root@127.0.0.1/homeiq_test?charset=utf8mb4" "postgresql://postgres@127.0.0.1/homeiq_test"; do
    echo "== pytest on ${url%%:*}"
    "$PY/pytest" -q -p no:cacheprovider -m database --dburl "$url" \
      tests/integration/test_recorder_servers.py tests/integration/test_attribute_batteries.py \
      tests/integration/test_training.py tests/integration/test_lifecycle.py
  done
fi
echo "== compatibility: Home Assistant 2026.2.3"
./scripts/test_compat.sh
