"""random-labels study (C13): an MLP fits random labels, shuffled and Gaussian inputs; typical L2 does not stop it."""

from __future__ import annotations

from gaplab.store.db import Store
from gaplab.studies.base import run_study


def test_random_labels_quick_holds(tmp_path) -> None:
    v = run_study("random-labels", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"))
    n = v.numbers
    assert v.held is True, v.summary
    for c in ("true", "random", "shuffled_pixels", "gaussian_inputs", "random+l2"):
        assert n["train_accuracy"][c] >= 0.99 and n["epochs_to_fit"][c] is not None
    assert abs(n["test_accuracy"]["random"] - 0.1) <= 0.05
    assert n["test_accuracy"]["true"] > 0.25  # real labels generalize, random ones cannot
    assert n["fit_time_ratio_random_over_true"] > 1
    assert n["typical_l2_prevents_fitting_random"] is False
    assert set(n["corruption_sweep"]) == {"0", "0.5", "1"}
    assert n["corruption_sweep"]["1"]["test_accuracy"] < n["corruption_sweep"]["0"]["test_accuracy"]
    assert (tmp_path / "out" / "random-labels" / "random_labels.png").exists()


def test_random_labels_too_short_breaks(tmp_path) -> None:
    # Five epochs are not enough to interpolate anything.
    v = run_study("random-labels", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"), overrides={"epochs": 5})
    assert v.held is False
    assert v.numbers["fit_time_ratio_random_over_true"] is None
    assert {c["name"]: c["passed"] for c in v.checks}["all_fit"] is False
