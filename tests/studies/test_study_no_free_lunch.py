"""The no-free-lunch study (C4): quick preset holds; a negligible penalty neither helps nor hurts, so it does not."""

from __future__ import annotations

from gaplab.studies import get


def test_no_free_lunch_quick_holds(quick_verdict):
    v = quick_verdict("no-free-lunch")
    # Seeds 0-4, threads 1 and 2: every check clears its threshold by ≥ 1.6 resolutions (2 SE of its ratio).
    assert v.held is True, v.summary
    r = v.numbers["test_error_ratio_regularized_over_plain"]
    assert set(r) == {"l2", "l1"}
    assert set(r["l2"]) == {"small_weights", "large_weights"}
    assert set(r["l1"]) == {"sparse", "dense"}
    assert r["l2"]["small_weights"] < 0.95 and r["l2"]["large_weights"] > 1.05
    assert r["l1"]["sparse"] < 0.95 and r["l1"]["dense"] > 1.05
    assert all(c["resolved"] and c["resolution"] > 0 for c in v.checks)
    # the closed-form ridge / lasso cross-check points the same way
    c = v.numbers["closed_form_ratio"]
    assert c["l2"]["small_weights"] < 1 < c["l2"]["large_weights"]
    assert c["l1"]["sparse"] < 1 < c["l1"]["dense"]
    assert set(v.numbers["ratio_vs_strength"]["l1"]["dense"]) == {"4", "40", "80", "240"}
    assert v.figures == ["no_free_lunch.png"]


def test_no_free_lunch_negligible_penalty_does_not_hold(quick_verdict):
    v = quick_verdict("no-free-lunch", **get("no-free-lunch").breaking)
    r = v.numbers["test_error_ratio_regularized_over_plain"]
    assert all(0.9 < x < 1.1 for d in r.values() for x in d.values())
    assert v.held is False
