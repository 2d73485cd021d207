"""random-labels study (C13): an MLP fits random labels, shuffled and Gaussian inputs; typical L2 does not stop it."""

from __future__ import annotations

from gaplab.studies import get


def test_random_labels_quick_holds(quick_verdict) -> None:
    v = quick_verdict("random-labels")
    n = v.numbers
    assert v.held is True, v.summary
    for c in ("true", "random", "shuffled_pixels", "gaussian_inputs", "random+l2"):
        assert n["train_accuracy"][c] >= 0.99 and n["epochs_to_fit"][c] is not None
    assert abs(n["test_accuracy"]["random"] - 0.1) <= 0.08  # 450 test examples: SD 0.014 at chance
    assert n["test_accuracy"]["true"] > 0.25  # real labels generalize, random ones cannot
    assert n["fit_time_ratio_random_over_true"] > 1
    assert n["typical_l2_prevents_fitting_random"] is False
    assert set(n["corruption_sweep"]) == {"0", "0.5", "1"}
    assert n["corruption_sweep"]["1"]["test_accuracy"] < n["corruption_sweep"]["0"]["test_accuracy"]
    assert v.figures == ["random_labels.png"]


def test_random_labels_too_short_breaks(quick_verdict) -> None:
    # Five epochs (the declared breaking case) are not enough to interpolate anything.
    v = quick_verdict("random-labels", **get("random-labels").breaking)
    assert v.held is False
    assert v.numbers["fit_time_ratio_random_over_true"] is None
    assert {c["name"]: c["passed"] for c in v.checks}["all_fit"] is False
