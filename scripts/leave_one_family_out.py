"""Leave each failure family out of training in turn; write models/LEAVE_ONE_FAMILY_OUT.md.

.venv/bin/python scripts/leave_one_family_out.py     # the shipped recipe: 400 homes x 75 days, 300 trees
.venv/bin/python scripts/leave_one_family_out.py --homes 80 --days 60 --trees 150   # a quick look
"""

import argparse
import sys
import time
from pathlib import Path

from homeiq_lab.lofo import LofoConfig, leave_one_family_out, markdown

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    """Run every family and write the table."""
    default = LofoConfig()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--homes", type=int, default=default.n_homes)
    parser.add_argument("--days", type=int, default=default.days)
    parser.add_argument("--seed", type=int, default=default.seed)
    parser.add_argument("--trees", type=int, default=default.n_estimators)
    parser.add_argument("--jobs", type=int, default=default.n_jobs)
    parser.add_argument("--family", action="append", default=None, help="only this family (repeatable)")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "LEAVE_ONE_FAMILY_OUT.md")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "synthetic")
    args = parser.parse_args(argv)
    config = LofoConfig(
        n_homes=args.homes,
        days=args.days,
        seed=args.seed,
        n_estimators=args.trees,
        n_jobs=args.jobs,
        families=tuple(args.family) if args.family else default.families,
    )
    t0 = time.perf_counter()
    rows = leave_one_family_out(config, cache_dir=args.cache_dir)
    text = markdown(rows, config, time.perf_counter() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
