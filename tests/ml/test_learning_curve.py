"""The learning curve (homeiq_lab/learning_curve.py), trained for real on a few small homes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lightgbm")

from homeiq_lab.dataset import build_dataset
from homeiq_lab.learning_curve import learning_curve, markdown, training_subsets
from homeiq_lab.seeds import FIGURES, gated_sets, same_figure
from homeiq_lab.synthetic import GeneratorConfig, generate_homes
from homeiq_lab.train import TrainConfig, make_split

CONFIG = TrainConfig(
    seed=3,
    n_estimators=20,
    min_child_samples=20,
    n_jobs=1,
    holdout_families=(),
    test_home_share=0.2,
    validation_home_share=0.2,
)


@pytest.fixture(scope="module")
def rows():
    homes = generate_homes(
        GeneratorConfig(n_homes=8, days=45, devices_per_home=(8, 14), failure_rate=0.4, seed=21)
    )
    ds = build_dataset(homes)
    return homes, ds, make_split(ds, CONFIG, homes)


def test_each_share_keeps_whole_homes_nested_inside_the_bigger_shares(rows):
    _, ds, split = rows
    train_homes = np.unique(ds.home[split.train])
    subsets = training_subsets(ds, split, [0.25, 0.5, 1.0], seed=CONFIG.seed)
    counts = [n for n, _ in subsets]
    assert counts == [round(0.25 * len(train_homes)), round(0.5 * len(train_homes)), len(train_homes)]
    previous = np.zeros(len(ds), dtype=bool)
    for n, train in subsets:
        kept = np.unique(ds.home[train])
        assert len(kept) == n
        # Whole homes: every training row of a kept home, nothing outside the recipe's training rows.
        assert np.array_equal(train, split.train & np.isin(ds.home, kept))
        assert not (previous & ~train).any()
        previous = train
    assert np.array_equal(subsets[-1][1], split.train)


def test_a_share_outside_zero_to_one_is_refused(rows):
    _, ds, split = rows
    for bad in ([0.0], [1.5], [-0.2], []):
        with pytest.raises(ValueError):
            training_subsets(ds, split, bad, seed=1)


def test_every_set_and_target_has_figures_per_size_and_the_data_moves_them(rows):
    homes, ds, split = rows
    sets = gated_sets(ds, homes, split, ds, homes)
    report = learning_curve(ds, split, sets, CONFIG, [0.5, 1.0])
    sizes = [n for n, _ in training_subsets(ds, split, [0.5, 1.0], seed=CONFIG.seed)]
    assert set(report) == {"held_out_homes", "varied_generator"}
    for by_target in report.values():
        assert by_target
        for per in by_target.values():
            assert sorted(per) == sorted(sizes)
            assert all(set(figures) == set(FIGURES) for figures in per.values())
    # Other training rows make other trees: some figure moves between the two sizes.
    moved = [
        figure
        for by_target in report.values()
        for per in by_target.values()
        for figure in FIGURES
        if not same_figure(per[sizes[0]][figure], per[sizes[1]][figure])
    ]
    assert moved
    table = markdown(report)
    assert table[0] == f"| evaluation set | failure type | {sizes[0]} homes | {sizes[1]} homes |"
    assert len(table) == 2 + sum(len(by_target) for by_target in report.values())
