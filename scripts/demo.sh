#!/usr/bin/env bash
# The demo, from nothing: ./scripts/demo.sh [--recorder-db PATH] [--check] [--port 8123]
#
# Creates the environment, writes weeks of a synthetic home's history into a
# real recorder database, and starts Home Assistant on it with HomeIQ Device
# Intelligence set up (see scripts/demo.py --help). --check runs the end-to-end
# check instead and exits 0 only if it passes.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
PY=.venv/bin/python

# The web frontend is a separate package that Home Assistant would otherwise
# download at its first start; install the version this Home Assistant pins.
frontend=$("$PY" - <<'PYEOF'
import json
from importlib import metadata
from pathlib import Path

import homeassistant.components.frontend as frontend

wanted = json.loads((Path(frontend.__file__).parent / "manifest.json").read_text())["requirements"][0]
name, _, version = wanted.partition("==")
try:
    installed = metadata.version(name)
except metadata.PackageNotFoundError:
    installed = None
print("" if installed == version else wanted)
PYEOF
)
if [ -n "$frontend" ]; then
  echo "== installing $frontend"
  "$PY" -m pip install -q "$frontend"
fi

# The check screenshots the dashboard in headless Chromium (Debian's package).
for arg in "$@"; do
  if [ "$arg" = "--check" ] && ! command -v chromium >/dev/null 2>&1; then
    echo "== installing chromium"
    if [ "$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null \
      || echo "!! could not install chromium; the check will fail at the screenshot" >&2
  fi
done

exec "$PY" scripts/demo.py "$@"
