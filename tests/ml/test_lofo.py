"""The leave-one-family-out table (homeiq_lab/lofo.py), without training anything."""

from __future__ import annotations

from homeiq_lab.lofo import LofoConfig, markdown
from homeiq_lab.prepare import parse_args
from homeiq_lab.train import TrainConfig


def _row(family: str, *, pr: bool, alerts: bool) -> dict[str, object]:
    return {
        "family": family,
        "target": "unavailable",
        "positives": 12,
        "model_pr_auc": 0.3,
        "best_pr_auc_heuristic": "dropout_trend",
        "best_pr_auc": 0.1,
        "toughest_at_equal_warnings": "dropouts_7d",
        "failures_warned": 0.5,
        "model_alert_precision": 0.6,
        "heuristic_alert_precision": float("nan"),
        "beats_pr_auc": pr,
        "beats_alerts": alerts,
        "beats_best_heuristic": pr and alerts,
        "gate_precision": 0.5,
        "gate_recall": 0.25,
    }


def test_table_says_where_the_model_loses():
    rows = [_row("flapping", pr=True, alerts=True), _row("stale", pr=False, alerts=True)]
    rows.append(_row("signal_decay", pr=False, alerts=False) | {"heuristic_alert_precision": 0.7})
    rows.append(_row("stuck_value", pr=True, alerts=False) | {"heuristic_alert_precision": 0.6})
    text = markdown(rows, LofoConfig(), 12.0)
    lines = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert lines["| flapping"].endswith("| **yes** |")
    assert lines["| stale"].endswith("| no (loses on PR-AUC) |")
    assert lines["| signal_decay"].endswith("| no (loses on PR-AUC, loses on alerts) |")
    # As many of its alerts came true as the toughest heuristic's: a tie, said so.
    assert lines["| stuck_value"].endswith("| no (ties on alerts) |")
    assert "0.600 / – | – |" in lines["| flapping"]  # NaN shows as a dash, and so does its margin
    assert "Beats the best heuristic in 1 of 4 family x target cells." in text


def test_a_loss_on_alerts_within_the_homes_noise_is_marked_so_with_its_interval():
    lost = _row("stale", pr=True, alerts=False) | {"heuristic_alert_precision": 0.7}
    rows = [
        lost | {"alert_margin": [-0.3, 0.05]},
        lost | {"family": "flapping", "alert_margin": [-0.2, -0.02]},
    ]
    text = markdown(rows, LofoConfig(), 12.0)
    lines = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert "| 0.600 / 0.700 | -0.100 [-0.300, +0.050] |" in lines["| stale"]
    assert lines["| stale"].endswith("| no (loses on alerts, within noise) |")
    assert lines["| flapping"].endswith("| no (loses on alerts) |")  # the interval stays below zero


def test_the_default_is_the_shipped_recipe():
    shipped = parse_args([])
    default = LofoConfig()
    assert (default.n_homes, default.days, default.seed) == (shipped.homes, shipped.days, shipped.seed)
    assert default.n_estimators == TrainConfig().n_estimators
