"""memorization study (C17): clean examples are fitted long before the corrupted ones; test accuracy peaks early."""

from __future__ import annotations

from gaplab.store.db import Store
from gaplab.studies.base import run_study


def test_memorization_quick_holds(tmp_path) -> None:
    # digits, seeds 0-4 × 1-2 threads: clean ≥ 0.95 at epochs 3-4, noisy at ≈30 (ratio ≈ 8 vs the rule's 3) and
    # best − final test accuracy ≥ 0.08 (rule 0.03): margins far above the seed-to-seed spread
    v = run_study("memorization", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"))
    n = v.numbers
    assert v.held is True, v.summary
    assert {c["name"] for c in v.checks} >= {"clean_first_0.2", "clean_first_0.4", "test_peaks_early_0.4"}
    for k in ("0.2", "0.4"):
        assert 3 * n["epoch_clean_fit_95"][k] <= n["epoch_noisy_fit_95"][k]
        assert n["best_test_accuracy"][k] > n["final_test_accuracy"][k] + 0.03
        assert n["final_train_accuracy"][k] > 0.95
        assert n["clean_acc_at_best_test"][k] > 0.9 > n["noisy_acc_at_best_test"][k]
    assert n["best_test_accuracy"]["0.2"] > 0.9  # clean examples are learnable: the net generalizes
    assert (tmp_path / "out" / "memorization" / "memorization.png").exists()


def test_memorization_too_short_breaks(tmp_path) -> None:
    # Four epochs: the clean examples are fitted, the noisy ones not at all, and test accuracy has not fallen.
    v = run_study("memorization", "quick", 0, tmp_path / "out", None,
                  overrides={"datasets": {"digits": {"epochs": 4, "lr": 0.05}}})
    assert v.held is False
    assert v.numbers["epoch_noisy_fit_95"]["0.4"] is None
    checks = {c["name"]: c for c in v.checks}
    assert checks["noisy_memorized_0.4"]["passed"] is False
