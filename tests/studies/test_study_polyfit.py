"""The polyfit study (C1): quick preset holds; removing the noise breaks the claim."""

from __future__ import annotations

from gaplab.store.db import Store
from gaplab.studies.base import run_study


def test_polyfit_quick_holds(tmp_path):
    v = run_study("polyfit", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"))
    assert v.held is True, v.summary
    assert v.summary.startswith("Claim held") and "Rule: held iff all of" in v.summary
    assert all(c["passed"] and c["margin"] > 0 for c in v.checks)
    n = v.numbers
    assert set(n["test_mse"]) == {"n7_noisy", "n7_clean", "n100", "n100_very_noisy"}
    assert set(n["test_mse"]["n7_noisy"]) == {str(d) for d in range(13)}
    assert n["test_mse"]["n7_noisy"]["9"] > 10 * n["test_mse"]["n7_noisy"]["3"]
    assert n["test_mse"]["n7_clean"]["6"] < 0.01
    assert len(n["ridge_test_mse"]) == 8
    assert 1e-4 < n["best_ridge_lambda"] < 1e3
    assert n["taylor_test_mse"]["7"] < n["taylor_test_mse"]["3"] < n["taylor_test_mse"]["1"]
    for fig in ("taylor", "fits", "test_mse"):
        assert (tmp_path / "out" / "polyfit" / f"{fig}.png").exists()
        assert (tmp_path / "out" / "polyfit" / f"{fig}.svg").exists()


def test_polyfit_without_noise_does_not_hold(tmp_path):
    # Noiseless data: nothing explodes at high degree and the smallest ridge penalty is best.
    v = run_study("polyfit", "quick", 0, tmp_path / "out", None,
                  overrides={"draws": 10, "noise": 0.0, "very_noisy": 0.0})
    assert v.held is False
    checks = {c["name"]: c for c in v.checks}
    assert checks["noise_explodes"]["passed"] is False and checks["noise_explodes"]["margin"] < 0
    assert checks["ridge_helps"]["passed"] is False
    assert v.summary.startswith("Claim did not hold")
