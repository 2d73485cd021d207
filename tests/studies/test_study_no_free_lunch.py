"""The no-free-lunch study (C4): quick preset holds; a negligible penalty neither helps nor hurts, so it does not."""

from __future__ import annotations

from gaplab.store.db import Store
from gaplab.studies.base import run_study


def test_no_free_lunch_quick_holds(tmp_path):
    v = run_study("no-free-lunch", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"))
    assert v.held is True, v.summary
    r = v.numbers["test_error_ratio_regularized_over_plain"]
    assert set(r) == {"l2", "l1"}
    assert set(r["l2"]) == {"small_weights", "large_weights"}
    assert set(r["l1"]) == {"sparse", "dense"}
    assert r["l2"]["small_weights"] < 0.95 and r["l2"]["large_weights"] > 1.05
    assert r["l1"]["sparse"] < 0.95 and r["l1"]["dense"] > 1.05
    # the closed-form ridge / lasso cross-check points the same way
    c = v.numbers["closed_form_ratio"]
    assert c["l2"]["small_weights"] < 1 < c["l2"]["large_weights"]
    assert c["l1"]["sparse"] < 1 < c["l1"]["dense"]
    assert set(v.numbers["ratio_vs_strength"]["l1"]["dense"]) == {"1", "3", "10", "30"}
    assert (tmp_path / "out" / "no-free-lunch" / "no_free_lunch.png").exists()
    assert (tmp_path / "out" / "no-free-lunch" / "no_free_lunch.svg").exists()


def test_no_free_lunch_negligible_penalty_does_not_hold(tmp_path):
    v = run_study("no-free-lunch", "quick", 0, tmp_path / "out", None,
                  overrides={"strength": 1e-3, "strengths": [1e-3], "seeds": 2, "epochs": 200})
    r = v.numbers["test_error_ratio_regularized_over_plain"]
    assert all(0.9 < x < 1.1 for d in r.values() for x in d.values())
    assert v.held is False
