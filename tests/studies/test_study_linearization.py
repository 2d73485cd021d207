"""The linearization study (C9): quick preset holds; a λ grid too weak to matter does not."""

from __future__ import annotations

from gaplab.studies import get


def test_linearization_quick_holds(quick_verdict):
    v = quick_verdict("linearization")
    assert v.held is True, v.summary
    n = v.numbers
    lams = ["0", "0.1", "1", "3", "10", "30"]
    for key in ("linear_regime_fraction", "distance_to_linear", "test_error", "linear_regime_fraction_by_layer"):
        assert list(n[key]) == lams
    frac = [n["linear_regime_fraction"][k] for k in lams]
    dist = [n["distance_to_linear"][k] for k in lams]
    assert all(0.0 <= f <= 1.0 for f in frac)
    assert frac[-1] > frac[0] + 0.2
    assert dist[-1] < 0.5 * dist[0]
    assert set(n["linear_regime_fraction_by_layer"]["0"]) == {"layer1", "layer2"}
    # at λ=0 the net beats the least-squares linear fit of the data clearly (the data are non-linear)
    assert n["test_error"]["0"] < 0.5 * n["linear_fit_test_error"]
    assert v.figures == ["linearization_vs_lambda.png", "linearization_preactivations.png"]


def test_linearization_tiny_lambdas_do_not_hold(quick_verdict):
    v = quick_verdict("linearization", **get("linearization").breaking)
    assert v.held is False
    assert {c["name"]: c["passed"] for c in v.checks}["distance_shrinks"] is False
