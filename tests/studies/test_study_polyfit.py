"""The polyfit study (C1): quick preset holds; removing the noise breaks the claim."""

from __future__ import annotations

from gaplab.studies import get


def test_polyfit_quick_holds(quick_verdict):
    v = quick_verdict("polyfit")
    assert v.held is True, v.summary
    assert v.summary.startswith("Claim held") and "Rule: held iff all of" in v.summary
    assert all(c["passed"] and c["margin"] > 0 for c in v.checks)
    n = v.numbers
    assert set(n["test_mse"]) == {"n7_noisy", "n7_clean", "n100", "n100_very_noisy"}
    assert set(n["test_mse"]["n7_noisy"]) == {str(d) for d in range(13)}
    assert n["test_mse"]["n7_noisy"]["9"] > 10 * n["test_mse"]["n7_noisy"]["3"]
    assert n["test_mse"]["n7_clean"]["6"] < 0.02
    assert len(n["ridge_test_mse"]) == 8
    assert 1e-4 < n["best_ridge_lambda"] < 1e3
    assert n["taylor_test_mse"]["7"] < n["taylor_test_mse"]["3"] < n["taylor_test_mse"]["1"]
    assert v.runs == []  # closed-form fits: nothing trained
    assert set(v.figures) == {"taylor.png", "fits.png", "test_mse.png"}


def test_polyfit_without_noise_does_not_hold(quick_verdict):
    # Noiseless data (the declared breaking case): nothing explodes at high degree and no ridge penalty helps.
    v = quick_verdict("polyfit", **get("polyfit").breaking)
    assert v.held is False
    checks = {c["name"]: c for c in v.checks}
    assert checks["noise_explodes"]["passed"] is False and checks["noise_explodes"]["margin"] < 0
    assert checks["ridge_helps"]["passed"] is False
    assert v.summary.startswith("Claim did not hold")
