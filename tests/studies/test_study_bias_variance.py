"""The bias-variance study (C7): quick preset holds; without noise there is no variance to trade and it fails."""

from __future__ import annotations

from gaplab.studies import get


def test_bias_variance_quick_holds(quick_verdict):
    v = quick_verdict("bias-variance")
    assert v.held is True, v.summary
    n = v.numbers
    for key in ("bias2", "variance", "test_mse"):
        assert set(n[key]) == {"ridge", "mlp"}
        assert len(n[key]["ridge"]) == 8 and len(n[key]["mlp"]) == 6
    r = n["bias2"]["ridge"]
    assert r["1000"] > 0.3 > abs(r["0.0001"])  # large λ: predictions near 0, bias² ≈ E[sin²] ≈ 0.52
    assert n["variance"]["ridge"]["0.0001"] > 10 * n["variance"]["ridge"]["1000"]
    for key in ("ridge", "mlp"):  # test MSE = bias² + variance
        for lam, mse in n["test_mse"][key].items():
            assert abs(mse - n["bias2"][key][lam] - n["variance"][key][lam]) < 1e-6 + 0.02 * mse
    assert 1e-4 < n["best_lambda"]["ridge"] < 1e3
    assert n["trend"]["ridge"]["rho_bias2"] >= 0.8 and n["trend"]["ridge"]["rho_variance"] <= -0.8
    assert len(v.runs) == 60
    assert v.figures == ["bias_variance.png", "fits.png"]


def test_bias_variance_noiseless_does_not_hold(quick_verdict):
    # Noiseless targets: the smallest penalty is best, so no interior optimum (ridge only, no training).
    v = quick_verdict("bias-variance", **get("bias-variance").breaking)
    assert v.held is False
    assert v.numbers["trend"]["ridge"]["interior_best"] is False
    assert {c["name"]: c["passed"] for c in v.checks}["best_lambda_interior"] is False
    assert "mlp" not in v.numbers["bias2"]
