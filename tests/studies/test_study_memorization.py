"""memorization study (C17): clean examples are fitted long before the corrupted ones; test accuracy peaks early."""

from __future__ import annotations

from gaplab.studies import get


def test_memorization_quick_holds(quick_verdict) -> None:
    # digits, seeds 0-4 × 1-2 threads: see the margins in the study's preset comment (clean ≥ 0.95 at epochs 3-4,
    # noisy at ≈30: ratio ≈ 8 vs the rule's 3; best − final test accuracy ≥ 0.08 vs 0.03)
    v = quick_verdict("memorization")
    n = v.numbers
    assert v.held is True, v.summary
    assert {c["name"] for c in v.checks} >= {"clean_first_0.2", "clean_first_0.4", "test_peaks_early_0.4"}
    for k in ("0.2", "0.4"):
        assert 3 * n["epoch_clean_fit_95"][k] <= n["epoch_noisy_fit_95"][k]
        assert n["best_test_accuracy"][k] > n["final_test_accuracy"][k] + 0.03
        assert n["final_train_accuracy"][k] > 0.95
        assert n["clean_acc_at_best_test"][k] > 0.9 > n["noisy_acc_at_best_test"][k]
    assert n["best_test_accuracy"]["0.2"] > 0.9  # clean examples are learnable: the net generalizes
    assert v.figures == ["memorization.png"]


def test_memorization_too_short_breaks(quick_verdict) -> None:
    # Four epochs (the declared breaking case): the clean examples are fitted, the noisy ones not at all.
    v = quick_verdict("memorization", **get("memorization").breaking)
    assert v.held is False
    assert v.numbers["epoch_noisy_fit_95"]["0.4"] is None
    assert {c["name"]: c["passed"] for c in v.checks}["noisy_memorized_0.4"] is False
