"""Battery days remaining on held-out batteries that ran out, with and without the device's own history.

.venv/bin/python scripts/battery_life_eval.py            # writes models/BATTERY_LIFE.md and .json
.venv/bin/python scripts/battery_life_eval.py --tuning   # the homes the spreads were tuned on
.venv/bin/python scripts/battery_life_eval.py --calibrate  # fit the own-history spread on those homes
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from custom_components.homeiq_device_intel.ml.bundle import load_bundle
from homeiq_lab.battery_life_eval import (
    EVAL_CONFIG,
    calibrate_spread,
    evaluate,
    markdown,
    tuning_config,
    write,
)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Run the evaluation and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuning", action="store_true", help="score the tuning homes, write nothing")
    parser.add_argument("--calibrate", action="store_true", help="fit the spread on the tuning homes")
    parser.add_argument("--homes", type=int, default=None)
    args = parser.parse_args()
    bundle = load_bundle(ROOT / "custom_components" / "homeiq_device_intel" / "models")
    if args.calibrate:
        print(json.dumps(calibrate_spread(bundle, tuning_config(args.homes)), indent=2))
        return
    if args.tuning:
        print("\n".join(markdown(evaluate(bundle, tuning_config(args.homes)))))
        return
    config = (
        EVAL_CONFIG
        if args.homes is None
        else EVAL_CONFIG.__class__(n_homes=args.homes, days=EVAL_CONFIG.days, seed=EVAL_CONFIG.seed)
    )
    report = evaluate(bundle, config)
    report["calibration"] = calibrate_spread(bundle, tuning_config())
    write(report, ROOT / "models")
    print("\n".join(markdown(report)))


if __name__ == "__main__":
    main()
