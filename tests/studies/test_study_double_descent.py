"""The double-descent study: quick preset holds (random-features part decides it); no ridge keeps the peak."""

from __future__ import annotations

from gaplab.studies import get


def test_double_descent_quick_holds(quick_verdict):
    v = quick_verdict("double-descent")
    assert v.held is True, v.summary
    n = v.numbers
    for k in ("interpolation_width", "peak_width", "peak_test_error", "min_test_error_before_peak",
              "final_test_error"):
        assert set(n[k]) == {"0.0", "0.15"}
    assert 0.5 <= n["peak_features_over_n"] <= 2.0
    assert n["peak_mse"] > 2 * max(n["mse_at_half_n"], n["mse_at_2n"])
    assert n["ridge_peak_factor"] < 1.5  # seeds 0-9: 1.00-1.09; min-norm's peak factor 12-2500
    # the quick sweep is too short to reach the interpolation threshold: its model-wise part is shown, not ruled on
    assert {c["name"] for c in v.checks} == {"rf_peak_not_below_half_n", "rf_peak_not_above_2n", "rf_peak_high",
                                             "rf_ridge_removes_peak"}
    assert 0.0 < n["final_test_error"]["0.15"] < 0.9
    assert set(n["epochwise_test_error"]["0.15"]) <= {"8", "16", "32", "64", "128"}
    assert v.figures == ["model_and_epoch_wise.png", "random_features.png"]


def test_double_descent_without_ridge_breaks(quick_verdict):
    # "ridge" 0 (the declared breaking case) is min-norm again: the peak at N = n stays, so the ridge check fails
    v = quick_verdict("double-descent", **get("double-descent").breaking)
    assert v.held is False
    assert v.numbers["ridge_peak_factor"] > 1.5
