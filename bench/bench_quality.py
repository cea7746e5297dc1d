"""Model quality against today's rules, from the shipped model's held-out evaluation.

Reads `models/evaluation.json` (written by `scripts/prepare_models.py`): held-out
homes of the training generator and homes of a varied generator that were
never trained on. Both sides of every comparison come from the same rows:

- battery: median days of warning before a battery dies, the model at the
  rule's precision against the rule "battery below 20 %";
- unavailable: PR-AUC of the model against the rule "unavailable in the last 24 h".

    .venv/bin/python bench/bench_quality.py [--evaluation models/evaluation.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _common import ROOT, figure, machine, now_iso, write_result

EVALUATION = ROOT / "models" / "evaluation.json"
LEAD_TIME_TARGET = 2.0
SPLITS = {"held_out_homes": "held-out homes", "varied_generator": "varied-generator homes"}


def comparisons(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per split: battery warning days (model at rule precision, rule) and unavailable PR-AUC."""
    out: dict[str, dict[str, float]] = {}
    for split in SPLITS:
        if split not in report:
            continue
        battery = report[split]["battery_depleted"]
        unavailable = report[split]["unavailable"]
        out[split] = {
            "battery_lead_days_model": battery["model_at_rule_precision"]["lead_days_median"],
            "battery_lead_days_rule": battery["rule"]["lead_days_median"],
            "battery_precision_model": battery["model_at_rule_precision"]["precision"],
            "battery_precision_rule": battery["rule"]["precision"],
            "unavailable_pr_auc_model": unavailable["model"]["pr_auc"],
            "unavailable_pr_auc_rule": unavailable["rule"]["pr_auc"],
        }
    return out


def figures(found: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Summary rows: warning time and PR-AUC against the rules, per split."""
    rows = []
    for split, c in found.items():
        ratio = c["battery_lead_days_model"] / c["battery_lead_days_rule"]
        rows.append(
            figure(
                f"Battery: median days of warning at equal precision, {SPLITS[split]}",
                c["battery_lead_days_model"],
                "days",
                baseline=c["battery_lead_days_rule"],
                baseline_label='rule "battery below 20 %", same rows',
                target=f">= {LEAD_TIME_TARGET:.0f}x",
                met=ratio >= LEAD_TIME_TARGET,
                note=f"precision {c['battery_precision_model']:.3f} vs {c['battery_precision_rule']:.3f}",
            )
        )
    for split, c in found.items():
        rows.append(
            figure(
                f"Unavailable: PR-AUC, {SPLITS[split]}",
                c["unavailable_pr_auc_model"],
                "",
                baseline=c["unavailable_pr_auc_rule"],
                baseline_label='rule "unavailable in the last 24 h", same rows',
                target="> rule",
                met=c["unavailable_pr_auc_model"] > c["unavailable_pr_auc_rule"],
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--evaluation", type=Path, default=EVALUATION)
    parser.add_argument("--quick", action="store_true", help="no effect: nothing is recomputed")
    args = parser.parse_args()
    evaluation = json.loads(args.evaluation.read_text(encoding="utf-8"))
    found = comparisons(evaluation["report"])
    for split, c in found.items():
        print(
            f"{SPLITS[split]}: battery warning {c['battery_lead_days_model']:.1f} d vs rule "
            f"{c['battery_lead_days_rule']:.1f} d at precision {c['battery_precision_rule']:.3f}; "
            f"unavailable PR-AUC {c['unavailable_pr_auc_model']:.4f} "
            f"vs rule {c['unavailable_pr_auc_rule']:.4f}"
        )
    report = {
        "created": now_iso(),
        "machine": machine(),
        "evaluation": str(
            args.evaluation.relative_to(ROOT) if args.evaluation.is_relative_to(ROOT) else args.evaluation
        ),
        "model_version": evaluation.get("version"),
        "comparisons": found,
        "figures": figures(found),
    }
    print(f"wrote {write_result('quality', report)}")


if __name__ == "__main__":
    main()
