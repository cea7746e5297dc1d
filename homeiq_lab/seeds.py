"""How much the training seed moves the gate's figures: same rows, same split, other seeds.

The shipped models are trained with one seed (`TrainConfig.seed`). The seed decides which rows
and features each LightGBM tree samples and which devices' chemistry is hidden in training; it
does not decide the rows or the split by home, which stay those of the shipped run. Here the
failure classifiers are trained again on the same rows and split with other seeds, and each is
scored by the shipped evaluation (`train.evaluate`: the threshold and alert rule of the shipped
recipe, the gate's figures; the regressors and the anomaly model take no part in them and are not
trained). A difference between two trainings, or between a figure and the gate's floor, no larger
than the figures move between seeds says little on its own. Each seed is also set against the
heuristics (`train.compare_heuristics`), as the model card sets the shipped seed: whether it beats
every one does not always hold from seed to seed either.

Written as a table into models/SEED_SPREAD.md by `scripts/seed_spread.py`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from custom_components.homeiq_device_intel.ml.labels import TARGETS
from custom_components.homeiq_device_intel.ml.records import HomeHistory

from .dataset import Dataset
from .gate import foreseeable_rows
from .tables import fmt
from .train import Split, TrainConfig, TrainedModels, evaluate, train_models, where_it_falls_short

Float = npt.NDArray[np.float64]
# An evaluation set: its rows' dataset, which of those rows, per target each row's foreseeable verdict.
EvalSet = tuple[Dataset, npt.NDArray[np.bool_], dict[str, Float]]
# The model's PR-AUC, then the gate's alerts that came true, foreseeable failures warned, F1.
FIGURES = ("pr_auc", "precision", "recall", "f1")


class TargetSpread(TypedDict):
    """One evaluation set and failure type: each seed's figures, their mean and spread (max - min).

    `heuristics`: per seed, the model against the best heuristics (`train.compare_heuristics`'
    `vs_heuristics` summary), where the set has any.
    """

    seeds: dict[int, dict[str, float]]
    mean: dict[str, float]
    spread: dict[str, float]
    heuristics: dict[int, dict[str, Any]]


SeedReport = dict[str, dict[str, TargetSpread]]  # evaluation set -> failure type -> figures


def gated_sets(
    ds: Dataset,
    homes: Sequence[HomeHistory],
    split: Split,
    eval_ds: Dataset | None,
    eval_homes: Sequence[HomeHistory],
) -> dict[str, EvalSet]:
    """The sets the shipping gate is measured on: held-out homes, and every row of the varied generator."""
    sets: dict[str, EvalSet] = {
        "held_out_homes": (ds, split.test, {t: foreseeable_rows(homes, ds, t) for t in TARGETS})
    }
    if eval_ds is not None and len(eval_ds):
        sets["varied_generator"] = (
            eval_ds,
            np.ones(len(eval_ds), dtype=bool),
            {t: foreseeable_rows(eval_homes, eval_ds, t) for t in TARGETS},
        )
    return sets


def seed_spread(
    ds: Dataset, split: Split, sets: Mapping[str, EvalSet], config: TrainConfig, seeds: Sequence[int]
) -> SeedReport:
    """Train the classifiers once per seed on `ds`'s `split`, score each on every set.

    Only the seed differs from `config`; `split` is kept as given. Returns, per set and failure
    type with labelled rows, each seed's figures (`FIGURES`), their mean and max - min.
    """
    by_seed: dict[str, dict[str, dict[int, dict[str, float]]]] = {}
    versus: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    for seed in seeds:
        seeded = replace(config, seed=seed)
        models = train_models(ds, split, seeded, classifiers_only=True)
        for name, target, entry in scored_sets(models, sets, seeded, with_baselines=True):
            by_seed.setdefault(name, {}).setdefault(target, {})[seed] = figures_of(entry)
            if "vs_heuristics" in entry:
                versus.setdefault(name, {}).setdefault(target, {})[seed] = entry["vs_heuristics"]
    return {
        name: {
            target: _summarised(per_seed, versus.get(name, {}).get(target, {}))
            for target, per_seed in by_target.items()
        }
        for name, by_target in by_seed.items()
    }


def scored_sets(
    models: TrainedModels, sets: Mapping[str, EvalSet], config: TrainConfig, *, with_baselines: bool
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Each set's `train.evaluate` entry per failure type with labelled rows: (set, type, entry)."""
    for name, (d, rows, seen) in sets.items():
        report = evaluate(models, d, rows, config, with_baselines=with_baselines, foreseeable=seen)
        for target in TARGETS:
            if target in report:
                yield name, target, report[target]


def figures_of(entry: Mapping[str, Any]) -> dict[str, float]:
    """A target's `FIGURES` from its `train.evaluate` entry (a JSON report's None read as NaN)."""
    return {
        name: _number((entry["model"] if name == "pr_auc" else entry["gate"]).get(name)) for name in FIGURES
    }


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _summarised(per_seed: dict[int, dict[str, float]], heuristics: dict[int, dict[str, Any]]) -> TargetSpread:
    """Each seed's figures with their mean and spread (NaN when undefined), and its heuristics summary."""
    values = {name: np.array([figures[name] for figures in per_seed.values()]) for name in FIGURES}
    return {
        "seeds": per_seed,
        "mean": {name: float(np.mean(v)) for name, v in values.items()},
        "spread": {name: float(np.max(v) - np.min(v)) for name, v in values.items()},
        "heuristics": heuristics,
    }


def differences(report: SeedReport, seed: int, evaluation: Mapping[str, Any]) -> list[str]:
    """Where `seed`'s figures differ from a model card's (evaluation.json's "report"); empty if none."""
    out = []
    for name, by_target in report.items():
        for target, spread in by_target.items():
            if seed not in spread["seeds"]:
                out.append(f"{name} {target}: not trained with seed {seed}")
                continue
            if target not in evaluation.get(name, {}):
                out.append(f"{name} {target}: not in the model card")
                continue
            card = figures_of(evaluation[name][target])
            for figure, value in spread["seeds"][seed].items():
                if not same_figure(value, card[figure]):
                    out.append(
                        f"{name} {target} {figure}: {value!r} here, {card[figure]!r} in the model card"
                    )
    return out


def same_figure(a: float, b: float) -> bool:
    """Whether two figures agree but for rounding; two NaNs (undefined figures) agree."""
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


def markdown(report: SeedReport, shipped_seed: int, lines_before: Sequence[str] = ()) -> list[str]:
    """The report as a table: a row per set and failure type, a column per seed, the mean and spread.

    Each cell: F1 (alerts that came true / foreseeable failures warned); the shipped seed's column
    is marked.
    """
    seeds = list(
        dict.fromkeys(s for by_target in report.values() for e in by_target.values() for s in e["seeds"])
    )
    columns = [f"seed {s} (shipped)" if s == shipped_seed else f"seed {s}" for s in seeds]
    lines = [
        *lines_before,
        f"| evaluation set | failure type | {' | '.join(columns)} | mean | spread (max − min) "
        "| PR-AUC: mean (spread) |",
        "|---|---|" + "---|" * (len(seeds) + 3),
    ]
    for name, by_target in report.items():
        for target, e in by_target.items():
            cells = [_cell(e["seeds"][s]) if s in e["seeds"] else "" for s in seeds]
            pr_auc = f"{fmt(e['mean']['pr_auc'])} ({fmt(e['spread']['pr_auc'])})"
            lines.append(
                f"| {name} | {target} | {' | '.join(cells)} | {_cell(e['mean'])} | {_cell(e['spread'])} "
                f"| {pr_auc} |"
            )
    return lines


def _cell(figures: Mapping[str, float]) -> str:
    """F1 (alerts that came true / foreseeable failures warned)."""
    return f"{fmt(figures['f1'])} ({fmt(figures['precision'])} / {fmt(figures['recall'])})"


def heuristics_markdown(report: SeedReport, shipped_seed: int) -> list[str]:
    """Per set, failure type and seed: whether the model beats every heuristic (`compare_heuristics`).

    Each cell: "beats all", or where it falls short (`train.where_it_falls_short`) with the toughest
    heuristic at equal failures warned of: its alerts that came true against the model's.
    """
    seeds = list(
        dict.fromkeys(s for by_target in report.values() for e in by_target.values() for s in e["seeds"])
    )
    columns = [f"seed {s} (shipped)" if s == shipped_seed else f"seed {s}" for s in seeds]
    lines = [
        f"| evaluation set | failure type | {' | '.join(columns)} |",
        "|---|---|" + "---|" * len(seeds),
    ]
    for name, by_target in report.items():
        for target, e in by_target.items():
            if not e["heuristics"]:
                continue
            cells = [_versus_cell(e["heuristics"][s]) if s in e["heuristics"] else "" for s in seeds]
            lines.append(f"| {name} | {target} | {' | '.join(cells)} |")
    return lines


def _versus_cell(summary: Mapping[str, Any]) -> str:
    """The cell: beats all, or how the model falls short and against which heuristic."""
    short = where_it_falls_short(dict(summary))
    if not short:
        return "beats all"
    return (
        f"{short}: `{summary['toughest_at_equal_warnings']}` {fmt(summary['heuristic_alert_precision'])} "
        f"against {fmt(summary['model_alert_precision'])} at {fmt(summary['failures_warned'])} warned; "
        f"PR-AUC {fmt(summary['model_pr_auc'])} against `{summary['best_pr_auc_heuristic']}` "
        f"{fmt(summary['best_pr_auc'])}"
    )
