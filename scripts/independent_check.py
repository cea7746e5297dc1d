"""Issue 12's table re-measured on clean-room simulated homes scored through the integration's own path.

.venv/bin/python scripts/independent_check.py                  # writes models/INDEPENDENT_CHECK.md and .json
.venv/bin/python scripts/independent_check.py --homes 2 --no-write   # a quick look, nothing written
.venv/bin/python scripts/independent_check.py --keep DIR       # keep databases, registries, truth in DIR
.venv/bin/python scripts/independent_check.py --bundle DIR     # another bundle (prepare_models.py --out DIR):
    # its report is printed, nothing written (models/INDEPENDENT_CHECK.md is the shipped bundle's)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from custom_components.homeiq_device_intel.ml.bundle import load_bundle
from homeiq_lab.independent.evaluate import evaluate_rows, score_homes
from homeiq_lab.independent.report import counts, device_notes, markdown, where_ranked
from homeiq_lab.independent.write import DEFAULT_DAYS, DEFAULT_HOMES, DEFAULT_SEED, write_homes

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Simulate, write, read back, score and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--homes", type=int, default=DEFAULT_HOMES)
    parser.add_argument("--days", type=float, default=DEFAULT_DAYS)
    parser.add_argument("--keep", type=Path, default=None, help="write the homes here and keep them")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    parser.add_argument("--bundle", type=Path, default=None, help="score with this bundle; write nothing")
    args = parser.parse_args()
    bundle = load_bundle(args.bundle or ROOT / "custom_components" / "homeiq_device_intel" / "models")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        paths = write_homes(folder, seed=args.seed, homes=args.homes, days=args.days)
        written = time.perf_counter()
        rows, truths = score_homes(paths, bundle)
    done = time.perf_counter()
    result = evaluate_rows(rows)
    result["counts"] = counts(truths)
    result["devices"] = device_notes(rows, truths)
    result["where_ranked"] = where_ranked(rows, truths)
    result["seconds"] = {
        "simulate_and_write": written - started,
        "read_and_score": done - written,
        "total": done - started,
    }
    text = markdown(result)
    print(text)
    if not args.no_write and args.bundle is None:
        (ROOT / "models" / "INDEPENDENT_CHECK.md").write_text(text)
        (ROOT / "models" / "independent_check.json").write_text(
            json.dumps(result, indent=1, default=str) + "\n"
        )


if __name__ == "__main__":
    main()
