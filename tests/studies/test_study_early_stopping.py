"""early-stopping study (C12/C18): gain from stopping vs label noise, weight norm growth, L2 sweep cost."""

from __future__ import annotations

from gaplab.studies import get


def test_early_stopping_quick_holds(quick_verdict) -> None:
    v = quick_verdict("early-stopping")
    n = v.numbers
    assert v.held is True, v.summary
    assert set(n["gain_from_early_stopping"]) == {"0", "0.2", "0.4"} == set(n["epochs_saved"])
    assert n["gain_from_early_stopping"]["0.4"] > n["gain_from_early_stopping"]["0"] + 0.02
    assert n["l2_sweep_cost_ratio"] > 1
    assert all(0 <= e < 50 for e in n["epochs_saved"].values())
    assert all(rho >= 0.9 for rho in n["weight_norm_spearman"].values())
    # the engine restores the weights of the best epoch: the long run's test accuracy at that epoch (same seed,
    # same random draws; packs of different sizes may round differently, hence the tolerance)
    assert all(d <= 0.02 for d in n["es_restore_vs_history_max_abs_diff"].values())
    assert n["es_best_epoch"]["0.4"] < n["es_stopped_epoch"]["0.4"]
    crit = n["criteria"]["0.4"]
    assert {"GL5", "PQ0.5", "UP3", "patience8"} <= set(crit)
    assert all(1 <= c["epoch"] <= 50 and 0 <= c["test_acc"] <= 1 for c in crit.values())
    # the patience criterion on the recorded curve stops where the engine stopped
    assert abs(crit["patience8"]["epoch"] - n["es_stopped_epoch"]["0.4"]) <= 3
    assert v.figures == ["early_stopping_curves.png", "early_stopping_norm_l2.png"]


def test_early_stopping_too_short_breaks(quick_verdict) -> None:
    # Six epochs (the declared breaking case): nothing is memorized yet, so stopping early gains nothing.
    v = quick_verdict("early-stopping", **get("early-stopping").breaking)
    assert v.held is False
    checks = {c["name"]: c for c in v.checks}
    assert checks["noise_raises_gain"]["passed"] is False
