"""The ratt study: quick preset holds; a tiny random set makes the bound vacuous and the estimate noise."""

from __future__ import annotations

from gaplab.studies import get


def test_ratt_quick_holds(quick_verdict):
    v = quick_verdict("ratt")
    assert v.held is True, v.summary
    n = v.numbers
    for task in ("binary", "multiclass"):
        assert set(n["estimate"][task]) == set(n["test_error"][task])
        assert n["bound_holds_every_epoch"][task] is True
        assert n["test_error_at_min_estimate"][task] <= n["bound_at_min_estimate"][task]
    # the binary estimate tracks the test error; the multiclass one is reported with its standard error (≈ 0.05)
    assert abs(n["min_estimate"]["binary"] - n["test_error_at_min_estimate"]["binary"]) <= 0.05
    assert 0.02 < n["estimate_standard_error"]["multiclass"] < 0.1
    assert n["test_error_at_min_estimate"]["binary"] < 0.1
    assert n["m_random"]["multiclass"] > 1000
    assert v.figures == ["ratt.png"]


def test_ratt_tiny_random_set_breaks(quick_verdict):
    # m of a few examples (the declared breaking case): the finite-sample term makes the bound vacuous.
    v = quick_verdict("ratt", **get("ratt").breaking)
    assert v.held is False
    assert {c["name"]: c["passed"] for c in v.checks}["non_vacuous_binary"] is False
