"""Whether the models are short of data: the same held-out rows, classifiers trained on fewer homes.

The recipe's training homes (`Split.train`, by home) are put in one random order; for each
fraction, the classifiers are trained on the first homes of that order only (so each smaller set
is inside the larger ones), with the recipe's parameters and seed, and scored by the shipped
evaluation (`train.evaluate`: the threshold picked on the same validation homes, the alert rule,
the gate's figures) on the sets the gate is measured on. The held-out and varied rows never change,
so a figure that rises with the homes is the training data's doing, not a new draw of test homes.
The gate's figures also move with the threshold each training picks; PR-AUC does not.

The recipe's size was chosen on this curve (models/HISTORY.md): written as a table into
models/LEARNING_CURVE.md by `scripts/learning_curve.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from .dataset import Dataset
from .seeds import FIGURES, EvalSet, figures_of, scored_sets
from .tables import fmt
from .train import Split, TrainConfig, train_models

# evaluation set -> failure type -> number of training homes -> `FIGURES`
CurveReport = dict[str, dict[str, dict[int, dict[str, float]]]]


def training_subsets(
    ds: Dataset, split: Split, fractions: Sequence[float], seed: int
) -> list[tuple[int, npt.NDArray[np.bool_]]]:
    """Per fraction, the number of training homes kept and the training rows of those homes.

    The homes are shuffled once (`seed`) and each fraction keeps a prefix: nested subsets.
    """
    if not fractions or any(not 0.0 < f <= 1.0 for f in fractions):
        raise ValueError("fractions must be in (0, 1]")
    homes = np.unique(ds.home[split.train])
    order = np.random.default_rng(seed).permutation(homes)
    subsets = []
    for fraction in fractions:
        keep = order[: max(1, round(fraction * len(order)))]
        subsets.append((len(keep), split.train & np.isin(ds.home, keep)))
    return subsets


def learning_curve(
    ds: Dataset,
    split: Split,
    sets: Mapping[str, EvalSet],
    config: TrainConfig,
    fractions: Sequence[float],
) -> CurveReport:
    """Train the classifiers once per fraction of the training homes; score each on every set."""
    report: CurveReport = {}
    for n_homes, train in training_subsets(ds, split, fractions, config.seed):
        models = train_models(ds, replace(split, train=train), config, classifiers_only=True)
        for name, target, entry in scored_sets(models, sets, config, with_baselines=False):
            report.setdefault(name, {}).setdefault(target, {})[n_homes] = figures_of(entry)
    return report


def markdown(report: CurveReport) -> list[str]:
    """One row per evaluation set and failure type; per number of training homes, PR-AUC and the gate."""
    sizes = sorted({n for by_target in report.values() for per in by_target.values() for n in per})
    head = " | ".join(f"{n} homes" for n in sizes)
    lines = [
        f"| evaluation set | failure type | {head} |",
        "|---|---|" + "---|" * len(sizes),
    ]
    for name, by_target in report.items():
        for target, per in by_target.items():
            cells = " | ".join(_cell(per[n]) if n in per else "–" for n in sizes)
            lines.append(f"| {name} | {target} | {cells} |")
    return lines


def _cell(figures: Mapping[str, float]) -> str:
    """PR-AUC, then alerts that came true / foreseeable failures warned / F1."""
    gate = " / ".join(fmt(figures[name]) for name in FIGURES[1:])
    return f"{fmt(figures['pr_auc'])} ({gate})"
