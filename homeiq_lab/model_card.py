"""Model card and plots of the shipped models (written by prepare_models.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.features import FEATURE_NAMES
from custom_components.homeiq_device_intel.ml.labels import TARGETS
from custom_components.homeiq_device_intel.ml.metrics import lead_times, precision_recall_curve
from custom_components.homeiq_device_intel.ml.records import FailureType
from homeiq_lab.dataset import Dataset
from homeiq_lab.gate import BATTERY_SIGN_DAYS, BATTERY_SIGN_LEVEL, BOOTSTRAP_RESAMPLES, FLOOR
from homeiq_lab.tables import fmt, fmt_margin
from homeiq_lab.train import (
    SIGN_SPLITS,
    Float,
    Split,
    TrainConfig,
    TrainedModels,
    predict_targets,
    where_it_falls_short,
)

SECTIONS = (
    ("held_out_homes", "Held-out homes (never trained on, later half of the timeline)"),
    ("varied_generator", "Homes from a generator with different parameters"),
    ("recorder_databases", "Real recorder databases"),
)


def _metrics_table(section: dict[str, Any]) -> list[str]:
    """Markdown rows: model and rule per target."""
    lines = [
        "| target | who | accuracy | precision | recall | F1 | PR-AUC | Brier | median lead (d) | positives / rows "
        "| alerts that came true | failures warned of |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for target in TARGETS:
        entry = section.get(target)
        if not entry:
            continue
        for who in ("model", "rule"):
            m = entry.get(who)
            if not m:
                continue
            lines.append(
                f"| {target} | {who} | {fmt(m['accuracy'])} | {fmt(m['precision'])} | {fmt(m['recall'])} | "
                f"{fmt(m['f1'])} | {fmt(m['pr_auc'])} | {fmt(m['brier'])} | {fmt(m.get('lead_days_median'))} | "
                f"{int(m['positives'])} / {int(m['rows'])} | {fmt(m.get('alert_precision'))} "
                f"({int(m.get('alerts', 0))}) | {fmt(m.get('event_recall'))} |"
            )
        matched = entry.get("model_at_rule_precision")
        if matched:
            lines.append(
                f"| {target} | model at the rule's precision | – | {fmt(matched['precision'])} | {fmt(matched['recall'])} | "
                f"{fmt(matched['f1'])} | – | – | {fmt(matched['lead_days_median'])} | | | |"
            )
    return lines


HEURISTIC_NOTES = {
    "battery_below_20": "rule: battery below 20 %",
    "battery_level_low": "lower battery level",
    "days_to_empty_3d": "straight line to empty, 3-day fit",
    "days_to_empty_7d": "straight line to empty, 7-day fit",
    "days_to_empty_14d": "straight line to empty, 14-day fit",
    "unavailable_24h": "rule: unavailable in the last 24 h",
    "dropouts_7d": "dropouts in 7 days",
    "dropout_trend": "dropouts this week minus last week",
    "outage_growth": "last outage / median of earlier ones (30 d)",
    "outage_slope": "slope of log outage durations, last 5 (30 d)",
    "stale_12h": "rule: no report for 12 h",
    "silence_vs_usual": "silence / device's longest usual gap",
    "silence_vs_rate": "silence / device's expected gap (report rate)",
    "quiet_vs_usual": "silence or stillness / device's usual",
}


def _yes_no(value: Any) -> str:
    """A verdict cell."""
    if value is None:
        return "–"
    return "**yes**" if value else "**no**"


def _heuristics_table(section: dict[str, Any]) -> list[str]:
    """Markdown rows: every heuristic beside the model, per target (same rows)."""
    lines = [
        "| target | heuristic | PR-AUC (model) | failures warned of (both) | alerts that came true, heuristic "
        "| alerts that came true, model at the same failures warned of |",
        "|---|---|---|---|---|---|",
    ]
    for target in TARGETS:
        entry = section.get(target) or {}
        model_pr = entry.get("model", {}).get("pr_auc")
        if not (isinstance(model_pr, float) and np.isfinite(model_pr)):
            continue  # no failure of this type among these rows
        for name, h in entry.get("heuristics", {}).items():
            note = HEURISTIC_NOTES.get(name, name)
            lines.append(
                f"| {target} | `{name}` ({note}) | {fmt(h['pr_auc'])} ({fmt(model_pr)}) | "
                f"{fmt(h.get('failures_warned'))} | {fmt(h.get('alert_precision'))} ({int(h.get('alerts', 0))}) | "
                f"{fmt(h.get('model_alert_precision'))} ({int(h.get('model_alerts', 0))}) |"
            )
    return lines


def _versus_table(report: dict[str, Any]) -> list[str]:
    """Markdown rows: model vs the best heuristic per evaluation set and target."""
    lines = [
        "| evaluation set | target | PR-AUC model | best heuristic on PR-AUC | toughest heuristic at equal "
        "failures warned of | failures warned of | alerts that came true, model / heuristic | "
        "model − heuristic [90 % interval] | beats the best heuristic |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, section in report.items():
        if not isinstance(section, dict) or key in ("ceiling", "real_recorder_check"):
            continue
        for target in TARGETS:
            v = (section.get(target) or {}).get("vs_heuristics")
            if not v:
                continue
            verdict = _yes_no(v["beats_best_heuristic"])
            if not v["beats_best_heuristic"]:
                verdict += f" ({where_it_falls_short(v)})"
            lines.append(
                f"| {key} | {target} | {fmt(v['model_pr_auc'])} | `{v['best_pr_auc_heuristic']}` "
                f"{fmt(v['best_pr_auc'])} | `{v['toughest_at_equal_warnings']}` | {fmt(v['failures_warned'])} | "
                f"{fmt(v['model_alert_precision'])} / {fmt(v['heuristic_alert_precision'])} | "
                f"{fmt_margin(v)} | {verdict} |"
            )
    return lines


def _gate_table(report: dict[str, Any]) -> list[str]:
    """Markdown rows: the gated figures per set and failure type, beside their requirement."""
    lines = [
        "| rows | target | alerts that came true (>= 0.80) | foreseeable failures warned >= 1 day ahead "
        "(>= 0.80) | F1 (>= 0.80) | accuracy (>= 0.85) | all failures warned >= 1 day ahead "
        "| foreseeable / all failures (too early to warn) | alerts | alerts true from their first day |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in ("held_out_homes", "varied_generator"):
        for target in TARGETS:
            gate = report.get(key, {}).get(target, {}).get("gate")
            if gate is None:
                continue
            lines.append(
                f"| {key} | {target} | {fmt(gate['precision'])} | {fmt(gate['recall'])} | "
                f"{fmt(gate['f1'])} | {fmt(gate['accuracy'])} | {fmt(gate['recall_all_failures'])} | "
                f"{int(gate['foreseeable_failures'])} / {int(gate['failures'])} "
                f"({int(gate.get('failures_too_early_to_warn', 0))}) | {int(gate['alerts'])} | "
                f"{fmt(gate.get('precision_at_start'))} |"
            )
    return lines


def _interval_table(report: dict[str, Any]) -> list[str]:
    """Markdown rows: the gated figures' 90 % intervals with whole homes resampled."""
    lines = [
        "| rows | target | alerts that came true | foreseeable failures warned | F1 |",
        "|---|---|---|---|---|",
    ]
    for key in ("held_out_homes", "varied_generator"):
        for target in TARGETS:
            entry = report.get(key, {}).get(target, {})
            if "gate_intervals" not in entry:
                continue
            cells = " | ".join(
                f"{fmt(entry['gate'][name])} [{fmt(lo)}, {fmt(hi)}]"
                for name in ("precision", "recall", "f1")
                for lo, hi in (entry["gate_intervals"][name],)
            )
            lines.append(f"| {key} | {target} | {cells} |")
    return lines


def write_report(
    out: Path,
    summary: dict[str, Any],
    models: TrainedModels,
    ds: Dataset,
    split: Split,
    config: TrainConfig,
    *,
    eval_plots: bool = True,
    test_probs: dict[str, Float] | None = None,
) -> None:
    """Write MODEL_CARD.md (and the PNG plots unless disabled) into `out`.

    test_probs: `predict_targets(models, ds.X[split.test])` when the caller has it already.
    """
    report = summary["report"]
    lines = [
        *_introduction(summary, config),
        *_gate_section(summary),
        *_ceiling_section(report.get("ceiling", {})),
        *_dropout_trace_section(report),
        *_open_definitions_section(report),
        *_versus_section(report),
        *_set_sections(report),
        *_real_recorder_section(report),
        *_family_sections(report),
        *_protocol_section(config),
        *_lineage_section(summary),
    ]
    if eval_plots:
        _plots(out, models, ds, split, config, test_probs)
        lines += PLOTS_SECTION
    (out / "MODEL_CARD.md").write_text("\n".join(lines) + "\n")


PLOTS_SECTION: Final = (
    "",
    "## Plots",
    "",
    "![PR curves](pr_curves.png) ![Reliability](reliability.png)",
    "![Lead time](lead_time.png) ![Feature importance](feature_importance.png)",
)


def _introduction(summary: dict[str, Any], config: TrainConfig) -> list[str]:
    """Return the card's title, version and what the models do."""
    return [
        "# HomeIQ Device Intelligence — model card",
        "",
        f"Version `{summary['version']}`. Generated by `scripts/prepare_models.py` (`homeiq_lab/prepare.py`); numbers below are",
        "re-created by running it (same seed, same numbers).",
        "",
        "## What the models do",
        "",
        f"For every monitored device and day, the probability that each failure starts within {config.horizon_days:.0f} days:",
        "`battery_depleted` (the battery needs replacing: it reaches 5 %, the device dies on it — dark for",
        "a day from 25 % or less, or back on a fresh battery within a day of a day dark, whatever it read —",
        "or the owner swaps it at 15 % or less; a swap above that, or a device dark from a higher level",
        "until the data ends, censors the old battery), `unavailable`",
        "(an outage of 6 h or more that is not a bridge-wide outage nor the battery running out) and",
        "`stale` (the device stops",
        "reporting, or a normally lively value stops changing). Plus days until the battery is empty",
        "(10th/50th/90th percentiles) and an isolation-forest anomaly score. LightGBM trained on synthetic",
        "homes, exported to a portable format evaluated by numpy (no pickle, no scikit-learn at runtime).",
        "",
    ]


def _gate_section(summary: dict[str, Any]) -> list[str]:
    """Return the quality gate: its rule, the verdict, the gated figures and what failed."""
    return [
        "## Quality gate (DESIGN decision 6: where an owner feels it)",
        "",
        "Per failure type, on held-out homes and on the generator with other parameters: alerts (as the",
        "at-risk sensor raises them, `ml/alerts.py`) that came true >= 0.80; foreseeable failures (warning signs began at",
        "least a day before, by the generator's truth) warned of at least a day ahead >= 0.80; F1 of the",
        "two >= 0.80; accuracy over device-days >= 0.85. Failures without any warning sign are shown",
        "(all failures warned of), not gated. An alert came true when the failure started within the horizon",
        "of any of its days; the last column is stricter, within the horizon of its first day (not gated).",
        "A failure starting less than a day after its device's first evaluated row (the first day of the",
        "held-out half, or of a home) could not be warned of in these rows: it is counted apart (too early",
        "to warn), in neither recall.",
        "",
        f"Passed: **{summary['gate']['passed']}**.",
        "",
        *_gate_table(summary["report"]),
        "",
        *(f"- {f}" for f in summary["gate"]["failures"]),
        "",
        *_unresolved_section(summary["report"]),
        "### How much these figures depend on the homes drawn",
        "",
        "Each figure with its 90 % interval when the evaluated homes are drawn again with replacement",
        f"({BOOTSTRAP_RESAMPLES} resamples; a home's alerts and failures stay together). Where an interval",
        "spans the 0.80 floor, a pass or a miss on this sample says little.",
        "",
        *_interval_table(summary["report"]),
    ]


def _unresolved_section(report: dict[str, Any]) -> list[str]:
    """Return the alerts still on when the rows end with no failure come yet (nothing without)."""
    rows = []
    for key in ("held_out_homes", "varied_generator"):
        for target in TARGETS:
            gate = report.get(key, {}).get(target, {}).get("gate")
            if gate is None or "alerts_unresolved" not in gate:
                continue
            rows.append(
                f"| {key} | {target} | {int(gate['alerts'])} | {int(gate['alerts_unresolved'])} | "
                f"{fmt(gate['precision'])} | {fmt(gate['precision_resolved'])} |"
            )
    if not rows:
        return []
    return [
        "### Alerts the rows cannot judge yet (not gated)",
        "",
        "An alert comes true if its failure starts within the horizon of any of its days. One still on",
        "at its device's last evaluated row with no failure come yet cannot be judged: the days after",
        "are not labelled (the data ends, or the battery is already dark). The gate counts it as false;",
        "the last column leaves it out, as the labels leave out a day whose horizon the data does not hold.",
        "",
        "| rows | target | alerts | still on at the end, no failure yet | alerts that came true (gate) "
        "| alerts that came true, without them |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _ceiling_section(ceiling: dict[str, Any]) -> list[str]:
    """Return the best recall any model could reach, per set and target (nothing without a ceiling)."""
    if not ceiling:
        return []
    lines = [
        "",
        "### Best recall any model could reach",
        "",
        "A failure can only be foreseen once something in its history points at it. The generator knows",
        "when each failure's warning signs begin (20 % of failures have none; lead times are log-normal,",
        "median 5 days, so many start inside the 7-day horizon). The share of positive rows whose warning",
        "has begun is an upper bound on the recall of *any* model at useful precision; the last column is",
        "the shipped model's recall on those foreseeable rows.",
        "",
        "| rows | target | positives | foreseeable share (recall ceiling) | model recall on foreseeable rows |",
        "|---|---|---|---|---|",
    ]
    for key, entry in ceiling.items():
        for target in TARGETS:
            c = entry.get(target, {})
            if c.get("positives"):
                lines.append(
                    f"| {key} | {target} | {int(c['positives'])} | {fmt(c['observable_share'])} | "
                    f"{fmt(c.get('recall_on_observable'))} |"
                )
    lines += [
        "",
        "What stops the gate beyond recall: [ORACLE_CEILING.md](ORACLE_CEILING.md) (`scripts/oracle_ceiling.py`)",
        "trains each classifier again on the same rows with the generator's truth of when warnings began,",
        "and with every warning-like episode begun, healthy devices' look-alikes included. Where the first",
        "passes the gate and this one does not, the warnings are there and the features do not see them",
        "well enough; where the second does not pass, the look-alikes would stop even a model that saw",
        "every episode; where neither passes, the warnings themselves stop any model. For outages, a",
        "fourth model is given the truth only once HA had recorded a dropout since the warning began:",
        "where it does not pass, part of the warnings the truth counts never reached HA's data.",
    ]
    return lines


def _dropout_trace_section(report: dict[str, Any]) -> list[str]:
    """Return the foreseeable outages warned of, with and without a dropout in the recorder (nothing without)."""
    rows = []
    for key in ("held_out_homes", "varied_generator"):
        split = report.get(key, {}).get(FailureType.UNAVAILABLE, {}).get("gate_by_dropout_trace")
        if split is None:
            continue
        cells = " | ".join(
            f"{int(split[side]['foreseeable_failures'])} | {fmt(split[side]['recall'])}"
            for side in ("with_dropout", "without_dropout")
        )
        rows.append(f"| {key} | {cells} |")
    if not rows:
        return []
    return [
        "",
        "### Foreseeable outages with and without a dropout in HA's data",
        "",
        "The generator's truth counts an outage's warning signs from its first precursor, also dropouts",
        "HA never records: one shorter than the device's timeout (6 h for a battery device on Zigbee,",
        "2 h for a mains one, minutes for most others) leaves no unavailable state. Below, the foreseeable outages",
        "split by whether the device dropped out or was unavailable in the week before the last day a",
        "warning still counts (`gate.dropout_trace`), with the share of each warned of. Those without",
        "a dropout can be warned of only by what else they show (a falling link, a silence).",
        "",
        "| rows | foreseeable, with a dropout | warned of | foreseeable, without | warned of |",
        "|---|---|---|---|---|",
        *rows,
    ]


def _open_definitions_section(report: dict[str, Any]) -> list[str]:
    """Return the gate's figures under the two definitions left open on issue 12 (nothing without)."""
    rows = []
    for key in ("held_out_homes", "varied_generator"):
        for target in TARGETS:
            entry = report.get(key, {}).get(target, {})
            figures = entry.get("gate_open_definitions")
            if figures is None:
                continue
            left_out = "–"
            if figures["sign"]:
                split_key, (_, without) = SIGN_SPLITS[target]
                left_out = str(int(entry[split_key][without]["foreseeable_failures"]))
            passes = all(figures[k] >= FLOOR for k in ("precision", "recall"))
            rows.append(
                f"| {key} | {target} | {fmt(figures['precision'])} | {int(figures['foreseeable_failures'])} | "
                f"{fmt(figures['recall'])} | {fmt(figures['f1'])} | {left_out} | {'yes' if passes else 'no'} |"
            )
    if not rows:
        return []
    return [
        "",
        "### The gate under the definitions left open on issue 12 (not gated)",
        "",
        "Two of the gate's definitions are open: whether an alert still on where its device's rows end,",
        'with no failure come yet, counts as false (the gate: yes; "Alerts the rows cannot judge yet"),',
        "and whether a failure is foreseeable by the generator's truth alone (the gate) or only once HA's",
        "data showed its sign on the last day a warning still counts (`gate.sign_trace`). A battery's",
        f"sign: a level read at {BATTERY_SIGN_LEVEL:.0f} % or less, or a straight line through a recent slope",
        f"reaching empty within {BATTERY_SIGN_DAYS:.0f} days. An outage's: a dropout or an unavailable hour in",
        "the week before. Stale has no such sign here: all its foreseeable failures count. Below, both",
        'applied together; "left out" counts the foreseeable failures without the sign.',
        "",
        "| rows | failure type | alerts that came true, unjudged alerts left out | foreseeable failures with a sign "
        "| warned of ≥ 1 day ahead | F1 | left out | both ≥ 0.80 |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]


def _versus_section(report: dict[str, Any]) -> list[str]:
    """Return the model against the best heuristic (nothing when no set compares them)."""
    versus = _versus_table(report)
    if len(versus) <= 2:
        return []
    return [
        "",
        "## Model vs the best heuristic",
        "",
        "Beside the owners' rules, the heuristics a skeptical engineer would write in an afternoon",
        "(`homeiq_lab/heuristics.py`), scored on the same rows. The model beats the best heuristic of a failure",
        "type when its PR-AUC is higher than every heuristic's AND, at equal failures warned of, more of",
        "its alerts come true than each heuristic's (each heuristic and the model take the highest",
        "threshold that warns of as many failures as the model does at its operating point). The",
        "toughest heuristic is the one with the largest margin over the model at equal failures warned of.",
        "Its margin is shown with a 90 % interval, the evaluated homes drawn again with replacement",
        f"({BOOTSTRAP_RESAMPLES} resamples, the same homes for both): a loss whose interval reaches above",
        "zero is marked within noise. The verdict does not use the interval.",
        "",
        *versus,
    ]


def _set_sections(report: dict[str, Any]) -> list[str]:
    """Return one section per evaluation set: metrics, heuristics and battery days remaining."""
    lines: list[str] = []
    for key, title in SECTIONS:
        if key in report:
            lines += ["", f"## {title}", "", *_metrics_table(report[key])]
            if any((report[key].get(t) or {}).get("heuristics") for t in TARGETS):
                lines += ["", "Heuristics on the same rows:", "", *_heuristics_table(report[key])]
            if "battery_days" in report[key]:
                b = report[key]["battery_days"]
                lines += [
                    "",
                    f"Battery days remaining (rows with the end within 90 days: {b['rows']}): MAE {b['mae']:.2f} d "
                    f"(straight-line extrapolation: {b['linear_mae']:.2f} d), 80 % interval coverage {b['coverage_80']:.2f}.",
                ]
    return lines


def _real_recorder_section(report: dict[str, Any]) -> list[str]:
    """Return the real recorder databases scored as the integration scores them (nothing when none was)."""
    if "real_recorder_check" not in report:
        return []
    lines = [
        "",
        "## Real recorder databases (scored as the integration scores them, never trained on)",
        "",
        "Too short to measure accuracy (0.8 to 11 days). Each is scored once a day with the shipped",
        "bundle through the integration's own scoring (a failure type only where it applies), alerts",
        "follow the at-risk rule; every alert and every failure the history shows is listed below.",
        "",
        "| database | devices | days | per failure type: device-days scored, alerts (already failing), failures seen |",
        "|---|---|---|---|",
    ]
    details: list[str] = []
    for name, e in report["real_recorder_check"].items():
        cells = []
        for t in TARGETS:
            if t not in e:
                continue
            alerts = e[t]["alerts"]
            failing = sum(1 for a in alerts if a.get("failing_now"))
            cells.append(f"{t} {e[t]['device_days']}, {len(alerts)} ({failing}), {len(e[t]['failures'])}")
            details += [
                f"- {name}, {t}: alert on {a['device']} on day {a['day']:.0f} at {a['probability']:.0%}"
                + (" (already failing)" if a.get("failing_now") else "")
                + (f": {'; '.join(a['reasons'])}" if a.get("reasons") else "")
                for a in alerts
            ]
            details += [
                f"- {name}, {t}: failure of {f['device']} on day {f['day']:.1f}; the day before: "
                + (
                    "not scored (the type does not apply, or no scoring a day before)"
                    if f["probability_day_before"] is None
                    else f"{f['probability_day_before']:.0%}"
                )
                for f in e[t]["failures"]
            ]
        lines.append(f"| {name} | {e['devices']} | {e['days']} | {'; '.join(cells)} |")
    return [*lines, "", *details] if details else lines


def _family_sections(report: dict[str, Any]) -> list[str]:
    """Return the metrics of each scenario family kept out of training (nothing when none was)."""
    families = [k for k in report if k.startswith("held_out_family:")]
    if not families:
        return []
    lines = ["", "## Scenario families kept out of training", ""]
    for key in families:
        lines += [f"### {key.split(':', 1)[1]}", "", *_metrics_table(report[key]), ""]
        if any((report[key].get(t) or {}).get("heuristics") for t in TARGETS):
            lines += ["Heuristics on the same rows:", "", *_heuristics_table(report[key]), ""]
    return lines


def _protocol_section(config: TrainConfig) -> list[str]:
    """Return how the models were trained and measured."""
    return [
        "",
        "## Protocol",
        "",
        "- Split by home (25 % test homes, 20 % validation homes for calibration and thresholds) and by time",
        "  (test rows: the second half of the test homes' timeline; training homes, never tested on,",
        "  contribute all their days); rows are never shuffled.",
        f"- Scenario families never seen in training: {', '.join(config.holdout_families)}.",
        "- Evaluation homes from a generator with other parameters (rates, noise, precursor strength, lead times).",
        "- No resampling for class imbalance; Platt calibration on validation homes; operating threshold = best F1 on validation:",
        f"  as the gate judges it (alerts that came true, failures warned a day ahead) for {', '.join(config.owner_threshold_targets)},",
        "  over the rows for the others.",
        "- Devices as a live home shows them to the integration (`live_view`), in training and evaluation: the",
        "  protocol its integration implies (a Reolink camera's or a WiZ bulb's is unknown), no chemistry for a",
        "  device without a battery; power as battery or unknown (`features.POWER_CODE`).",
        "- Chemistry hidden for 40 % of training devices (most real homes do not know it).",
        "- Learn only from failing days that show a sign, by the generator's truth (a day before a failure that",
        "  looks exactly like a healthy one is left out of training; validation and evaluation keep every row): "
        f"{', '.join(config.signs_only_targets) or 'none'}.",
        "- Row-level figures count device-days. *Alerts that came true*: runs of alarmed days of a device under",
        "  the alert rule (on at the threshold, held until the failure type's release point, `ml/alerts.py`;",
        "  the heuristics at equal failures warned of are held the same way), how many in brackets, during or",
        "  after which the failure started within the horizon;",
        "  *failures warned of*: failures with at least one alarmed day in the horizon before them.",
        "- Baselines measured on the same rows: battery below 20 %, unavailable in the last 24 h, no report for 12 h;",
        "  and the heuristics of `ml/heuristics.py`: straight-line days to empty (3, 7, 14-day fits), battery level,",
        "  dropouts in 7 days and their week-on-week trend, outage durations getting longer (last vs median of",
        "  earlier, slope), silence against the device's own rhythm (longest usual gap, report rate, stillness).",
        "- Scenario families: only the ones listed above are held out of this bundle (one model); every family",
        "  held out in turn (one smaller model per family) is in `LEAVE_ONE_FAMILY_OUT.md`",
        "  (`scripts/leave_one_family_out.py`), not regenerated by `prepare_models.py`.",
    ]


def _lineage_section(summary: dict[str, Any]) -> list[str]:
    """Return the lineage, the predictor's parity with LightGBM and the timings."""
    return [
        "",
        "## Lineage",
        "",
        "```json",
        json.dumps(summary["lineage"], indent=2, sort_keys=True),
        "```",
        "",
        f"Numpy predictor vs LightGBM on held-out rows: max abs difference {summary['parity_max_abs_diff']:.2e}.",
        f"Timings (s): {', '.join(f'{k} {v:.1f}' for k, v in summary['timings'].items())}.",
    ]


def _plots(
    out: Path,
    models: TrainedModels,
    ds: Dataset,
    split: Split,
    config: TrainConfig,
    probs: dict[str, Float] | None = None,
) -> None:
    """PR curves, reliability diagram, lead-time histogram, feature importance (of the held-out homes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = split.test
    if probs is None:
        probs = predict_targets(models, ds.X[rows])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    _draw_pr_curves(ax, ds, rows, probs)
    _save_figure(fig, out / "pr_curves.png")
    fig, ax = plt.subplots(figsize=(5, 5))
    _draw_reliability(ax, ds, rows, probs)
    _save_figure(fig, out / "reliability.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    _draw_lead_times(ax, models, ds, rows, probs, config)
    _save_figure(fig, out / "lead_time.png")
    fig, ax = plt.subplots(figsize=(7, 7))
    _draw_feature_importance(ax, models)
    _save_figure(fig, out / "feature_importance.png")


def _save_figure(fig: Any, path: Path) -> None:
    """Lay out, write at 90 dpi and close one figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _draw_pr_curves(ax: Any, ds: Dataset, rows: npt.NDArray[np.bool_], probs: dict[str, Float]) -> None:
    """One precision-recall curve per target with failures among `rows`."""
    for target in TARGETS:
        y = ds.y[target][rows]
        ok = np.isfinite(y)
        if (y[ok] > 0.5).any():
            precision, recall, _ = precision_recall_curve(y[ok], probs[target][ok])
            ax.plot(recall, precision, label=target)
    ax.set(
        xlabel="recall",
        ylabel="precision",
        title="Precision-recall, held-out homes",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    ax.legend()


def _draw_reliability(ax: Any, ds: Dataset, rows: npt.NDArray[np.bool_], probs: dict[str, Float]) -> None:
    """Observed frequency against predicted probability in ten bins of >= 20 rows, per target."""
    bins = np.linspace(0, 1, 11)
    for target in TARGETS:
        y = ds.y[target][rows]
        ok = np.isfinite(y)
        p = probs[target][ok]
        which = np.clip(np.digitize(p, bins) - 1, 0, 9)
        centers, observed = [], []
        for b in range(10):
            sel = which == b
            if sel.sum() >= 20:
                centers.append(p[sel].mean())
                observed.append(y[ok][sel].mean())
        ax.plot(centers, observed, marker="o", label=target)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title="Reliability, held-out homes")
    ax.legend()


def _draw_lead_times(
    ax: Any,
    models: TrainedModels,
    ds: Dataset,
    rows: npt.NDArray[np.bool_],
    probs: dict[str, Float],
    config: TrainConfig,
) -> None:
    """Histogram of days of warning before each failure, per target, at its threshold."""
    horizon = int(config.horizon_days * 24)
    for target in TARGETS:
        y = ds.y[target][rows]
        ok = np.isfinite(y)
        alarm = probs[target][ok] >= models.thresholds[target]
        lead = lead_times(
            alarm, ds.device[rows][ok], ds.hour[rows][ok], ds.next_event_hour[target][rows][ok], horizon
        )
        if lead.size:
            ax.hist(lead, bins=np.arange(0, config.horizon_days + 1.01, 0.5), alpha=0.5, label=target)
    ax.set(
        xlabel="days of warning before the failure (0 = missed)",
        ylabel="failures",
        title="Lead time, held-out homes",
    )
    ax.legend()


def _draw_feature_importance(ax: Any, models: TrainedModels) -> None:
    """The 20 features of largest mean share of split gain over the classifiers."""
    gains = np.zeros(len(FEATURE_NAMES))
    for booster in models.classifiers.values():
        g = booster.feature_importance(importance_type="gain")
        gains += g / max(g.sum(), 1e-12)
    order = np.argsort(gains)[-20:]
    ax.barh([FEATURE_NAMES[i] for i in order], gains[order] / len(models.classifiers))
    ax.set(xlabel="share of split gain (mean over classifiers)", title="Top features")
