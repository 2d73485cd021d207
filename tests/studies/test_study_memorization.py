"""memorization study (C17): clean examples are fitted before the corrupted ones; test accuracy peaks early."""

from __future__ import annotations

from gaplab.store.db import Store
from gaplab.studies.base import run_study


def test_memorization_quick_holds(tmp_path) -> None:
    v = run_study("memorization", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"))
    n = v.numbers
    assert v.held is True, v.summary
    for k in ("0.2", "0.4"):
        assert n["epoch_clean_fit_95"][k] < n["epoch_noisy_fit_95"][k]
        assert n["best_test_accuracy"][k] > n["final_test_accuracy"][k]
        assert n["final_train_accuracy"][k] > 0.95
        assert n["clean_acc_at_best_test"][k] > n["noisy_acc_at_best_test"][k]
        assert 0 < n["noisy_true_acc_max"][k] <= 1
    assert n["best_test_accuracy"]["0.2"] > n["best_test_accuracy"]["0.4"]
    assert (tmp_path / "out" / "memorization" / "memorization.png").exists()


def test_memorization_too_short_breaks(tmp_path) -> None:
    # Four epochs: the net has memorized nothing, so the noisy examples are never fitted.
    v = run_study("memorization", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"), overrides={"epochs": 4})
    assert v.held is False
    assert v.numbers["epoch_noisy_fit_95"]["0.4"] is None
