"""The double-descent study: quick preset holds (random-features part decides it); no ridge keeps the peak."""

from __future__ import annotations

from gaplab.store.db import Store
from gaplab.studies.base import run_study


def test_double_descent_quick_holds(tmp_path):
    v = run_study("double-descent", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"))
    assert v.held is True, v.summary
    n = v.numbers
    for k in ("interpolation_width", "peak_width", "peak_test_error", "min_test_error_before_peak",
              "final_test_error"):
        assert set(n[k]) == {"0.0", "0.15"}
    assert 0.5 <= n["peak_features_over_n"] <= 2.0
    assert n["peak_mse"] > 2 * max(n["mse_at_half_n"], n["mse_at_2n"])
    assert n["ridge_max_over_median"] < 2.0 < n["minnorm_max_over_median"]
    # the quick sweep is too short to reach the interpolation threshold: its model-wise part is shown, not ruled on
    assert {c["name"] for c in v.checks} == {"rf_peak_not_below_half_n", "rf_peak_not_above_2n", "rf_peak_high",
                                             "rf_ridge_removes_peak"}
    assert 0.0 < n["final_test_error"]["0.15"] < 0.9
    assert set(n["epochwise_test_error"]["0.15"]) <= {"8", "16", "32", "64", "128"}
    for f in ("model_and_epoch_wise.png", "random_features.png", "random_features.svg"):
        assert (tmp_path / "out" / "double-descent" / f).exists()


def test_double_descent_without_ridge_breaks(tmp_path):
    # "ridge" 0 is min-norm again: the peak at N = n stays, so the ridge part (and the study) fails
    v = run_study("double-descent", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"),
                  overrides={"rf_ridge": 0.0, "widths": [8, 16], "epochs": 2, "train_size": 500})
    assert v.held is False
    assert v.numbers["ridge_max_over_median"] > 2.0
