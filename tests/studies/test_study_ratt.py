"""The ratt study: quick preset holds; a tiny random set makes the bound vacuous and the estimate noise."""

from __future__ import annotations

from gaplab.store.db import Store
from gaplab.studies.base import run_study


def test_ratt_quick_holds(tmp_path):
    v = run_study("ratt", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"))
    assert v.held is True, v.summary
    n = v.numbers
    for task in ("binary", "multiclass"):
        assert set(n["estimate"][task]) == set(n["test_error"][task])
        assert n["bound_holds_every_epoch"][task] is True
        assert n["test_error_at_min_estimate"][task] <= n["bound_at_min_estimate"][task]
        assert abs(n["min_estimate"][task] - n["test_error_at_min_estimate"][task]) <= 0.05
    assert n["test_error_at_min_estimate"]["binary"] < 0.1
    assert n["m_random"]["multiclass"] > 1000
    assert (tmp_path / "out" / "ratt" / "ratt.png").exists()
    assert (tmp_path / "out" / "ratt" / "ratt.svg").exists()


def test_ratt_tiny_random_set_breaks(tmp_path):
    # m of a few examples: the finite-sample term makes the bound vacuous (nothing is certified).
    v = run_study("ratt", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"),
                  overrides={"random_fraction": 0.002, "epochs": 1, "multiclass_train_size": 2000,
                             "binary_train_size": 1000})
    assert v.held is False
    assert {c["name"]: c["passed"] for c in v.checks}["non_vacuous_binary"] is False
