"""The training seed's spread (homeiq_lab/seeds.py), trained for real on a few small homes."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("lightgbm")

from homeiq_lab import oracle
from homeiq_lab.dataset import build_dataset
from homeiq_lab.gate import foreseeable_rows
from homeiq_lab.seeds import (
    FIGURES,
    differences,
    gated_sets,
    heuristics_markdown,
    markdown,
    same_figure,
    seed_spread,
)
from homeiq_lab.synthetic import GeneratorConfig, generate_homes
from homeiq_lab.train import Split, TrainConfig, evaluate, make_split, train_models, where_it_falls_short

SHIPPED, OTHER = 3, 4
CONFIG = TrainConfig(seed=SHIPPED, n_estimators=20, min_child_samples=20, n_jobs=1, holdout_families=())


@pytest.fixture(scope="module")
def rows():
    homes = generate_homes(
        GeneratorConfig(n_homes=5, days=45, devices_per_home=(8, 14), failure_rate=0.4, seed=21)
    )
    return homes, build_dataset(homes)


@pytest.fixture(scope="module")
def study(rows):
    homes, ds = rows
    split = make_split(ds, CONFIG, homes)
    # The same homes stand in for the varied generator's: every row, a second set.
    sets = gated_sets(ds, homes, split, ds, homes)
    return ds, split, sets, seed_spread(ds, split, sets, CONFIG, [SHIPPED, OTHER])


def test_figures_agree_but_for_rounding_and_undefined_agrees_only_with_undefined():
    nan = float("nan")
    assert same_figure(0.1 + 0.2, 0.3) and same_figure(0.0, 1e-17) and same_figure(nan, nan)
    assert not same_figure(0.5, 0.5001) and not same_figure(nan, 0.5) and not same_figure(0.0, nan)


def test_every_set_and_target_has_each_seeds_figures_and_the_seed_changes_them(study):
    _, _, sets, report = study
    assert set(report) == set(sets) == {"held_out_homes", "varied_generator"}
    for by_target in report.values():
        assert by_target
        for entry in by_target.values():
            assert list(entry["seeds"]) == [SHIPPED, OTHER]
            assert all(set(figures) == set(FIGURES) for figures in entry["seeds"].values())
    # Another seed trains other trees: some figure moves.
    moved = [
        (name, target, figure)
        for name, by_target in report.items()
        for target, entry in by_target.items()
        for figure in FIGURES
        if not same_figure(entry["seeds"][SHIPPED][figure], entry["seeds"][OTHER][figure])
    ]
    assert moved


def test_mean_and_spread_are_those_of_the_seeds_figures(study):
    _, _, _, report = study
    for by_target in report.values():
        for entry in by_target.values():
            for figure in FIGURES:
                values = [entry["seeds"][s][figure] for s in (SHIPPED, OTHER)]
                assert same_figure(entry["mean"][figure], float(np.mean(values)))
                # np.max/np.min: NaN when a seed's figure is undefined (Python's max/min skip it or not
                # by the order of the values)
                assert same_figure(entry["spread"][figure], float(np.max(values) - np.min(values)))


def test_a_seeds_figures_are_the_shipped_recipes_trained_with_that_seed(study):
    ds, split, sets, report = study
    seeded = replace(CONFIG, seed=OTHER)
    models = train_models(ds, split, seeded)  # the whole recipe, as prepare_models trains it
    card = {
        name: evaluate(models, d, rows, seeded, foreseeable=seen) for name, (d, rows, seen) in sets.items()
    }
    assert differences(report, OTHER, card) == []
    # The other seed's figures are not these: the comparison can tell.
    assert differences(report, SHIPPED, card)
    assert differences(report, 99, card)  # a seed never trained is no match either
    name, target = "held_out_homes", next(iter(report["held_out_homes"]))
    card[name][target]["gate"] = card[name][target]["gate"] | {"f1": 0.123}
    assert differences(report, OTHER, card) == [
        f"{name} {target} f1: {report[name][target]['seeds'][OTHER]['f1']!r} here, 0.123 in the model card"
    ]


def test_table_has_a_row_per_set_and_target_and_marks_the_shipped_seed(study):
    _, _, _, report = study
    lines = markdown(report, SHIPPED, ["# title", ""])
    assert lines[:2] == ["# title", ""]
    header, rule, *rows = lines[2:]
    assert f"| seed {SHIPPED} (shipped) | seed {OTHER} | mean | spread (max − min) |" in header
    assert rule.count("---") == header.count("|") - 1
    expected = [(name, target) for name, by_target in report.items() for target in by_target]
    assert [tuple(row.split(" | ")[:2]) for row in rows] == [(f"| {n}", t) for n, t in expected]
    name, target = expected[0]
    f1 = report[name][target]["seeds"][OTHER]["f1"]
    assert rows[0].split(" | ")[3].startswith(f"{f1:.3f} (" if math.isfinite(f1) else "– (")


def test_each_seed_is_set_against_the_heuristics_as_the_model_card_sets_the_shipped_seed(study):
    ds, split, sets, report = study
    seeded = replace(CONFIG, seed=OTHER)
    models = train_models(ds, split, seeded, classifiers_only=True)
    for name, (d, rows, seen) in sets.items():
        card = evaluate(models, d, rows, seeded, foreseeable=seen)
        for target, entry in report[name].items():
            assert set(entry["heuristics"]) == {SHIPPED, OTHER}
            ours, theirs = entry["heuristics"][OTHER], card[target]["vs_heuristics"]
            assert ours.keys() == theirs.keys()
            for key, value in ours.items():
                same = same_figure(value, theirs[key]) if isinstance(value, float) else value == theirs[key]
                assert same, (name, target, key)
    lines = heuristics_markdown(report, SHIPPED)
    header, rule, *rows = lines
    assert f"| seed {SHIPPED} (shipped) | seed {OTHER} |" in header and rule.count("---") == 4
    expected = [(name, target) for name, by_target in report.items() for target in by_target]
    assert [tuple(row.split(" | ")[:2]) for row in rows] == [(f"| {n}", t) for n, t in expected]
    for row, (name, target) in zip(rows, expected, strict=True):
        for seed, cell in zip((SHIPPED, OTHER), row.strip("| ").split(" | ")[2:], strict=True):
            summary = report[name][target]["heuristics"][seed]
            short = where_it_falls_short(summary)
            assert cell == "beats all" if not short else cell.startswith(short + ": `")


def test_only_a_signs_only_target_is_trained_without_its_signless_failing_days(rows):
    homes, ds = rows
    battery, outage = "battery_depleted", "unavailable"
    split = make_split(ds, CONFIG, homes)  # the shipped recipe: batteries learn from signs only
    assert set(split.signless) == {battery} and split.signless[battery].any()
    every_day = replace(split, signless={})
    with_signs = train_models(ds, split, CONFIG, classifiers_only=True).classifiers
    every = train_models(ds, every_day, CONFIG, classifiers_only=True).classifiers
    assert with_signs[battery].model_to_string() != every[battery].model_to_string()
    # Nothing left out for the others: the same trees.
    assert with_signs["stale"].model_to_string() == every["stale"].model_to_string()
    assert with_signs[outage].model_to_string() == every[outage].model_to_string()


def test_the_oracle_trains_the_recipes_rows_and_scores_each_variant_with_its_own_columns(rows, monkeypatch):
    homes, ds = rows
    split = make_split(ds, CONFIG, homes)
    other = build_dataset(homes[:2])
    sets = {
        "held": (ds, homes, split.test, {t: foreseeable_rows(homes, ds, t) for t in ds.y}),
        "other": (
            other,
            homes[:2],
            np.ones(len(other), dtype=bool),
            {t: foreseeable_rows(homes[:2], other, t) for t in ds.y},
        ),
    }
    calls: list[tuple[str, int, str]] = []

    def spy(name, fn):
        def wrapped(h, d, target):
            calls.append((name, id(d), target))
            return fn(h, d, target)

        return wrapped

    trained: list[str] = []
    train_rows = Split.train_rows
    monkeypatch.setattr(Split, "train_rows", lambda self, t, y: trained.append(t) or train_rows(self, t, y))
    monkeypatch.setattr(oracle, "episode_hours", spy("episodes", oracle.episode_hours))
    monkeypatch.setattr(oracle, "recorded_warning_hours", spy("recorded", oracle.recorded_warning_hours))
    report = oracle.oracle_report(ds, homes, split, sets, CONFIG)
    assert sorted(trained) == sorted(ds.y)  # every classifier on the recipe's rows (signless left out)
    for name in sets:
        assert set(report[name]["battery_depleted"]) == {
            "model",
            "model_sweep",
            "model_with_truth",
            "model_with_recorded_warnings",
        }
        assert set(report[name]["stale"]) == {
            "model",
            "model_sweep",
            "model_with_truth",
            "model_with_episodes",
        }
        assert set(report[name]["unavailable"]) == {
            "model",
            "model_sweep",
            "model_with_truth",
            "model_with_episodes",
            "model_with_recorded_warnings",
        }
        # The sweep scores the plain model at every threshold; at the one it picked, the same figures.
        for entry in report[name].values():
            assert [m["threshold"] for m in entry["model_sweep"]] == list(oracle.SWEEP)
            assert 0.0 < entry["model"]["threshold"] < 1.0
    # The episode-given model is trained on, and scores every set with, the episode columns;
    # the one given the recorded warnings (outages and batteries) with its own.
    for d in (ds, other):
        for target in ("unavailable", "stale"):
            assert ("episodes", id(d), target) in calls
        assert ("recorded", id(d), "unavailable") in calls
        assert ("recorded", id(d), "battery_depleted") in calls
    assert not [c for c in calls if c[0] == "episodes" and c[2] == "battery_depleted"]
    assert not [c for c in calls if c[0] == "recorded" and c[2] == "stale"]
