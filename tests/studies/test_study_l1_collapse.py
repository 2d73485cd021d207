"""The l1-collapse study (C3): quick preset holds; an L1 penalty too weak to switch units off breaks the claim."""

from __future__ import annotations

from gaplab.studies import get


def test_l1_collapse_quick(quick_verdict):
    # 4 seeds at seed 0: every check passes; l2_keeps_units (≈ 2.4× L1*'s active units, at least 2) may sit within
    # its t-interval over the seeds, so the verdict is held or undecided, never "did not hold".
    v = quick_verdict("l1-collapse")
    assert v.held is not False, v.summary
    assert all(c["passed"] for c in v.checks)
    n = v.numbers
    for key in ("active_units", "fraction_zero_weights", "distance_to_best_linear_fit", "test_error"):
        assert set(n[key]) == {"none", "l1", "l2"}
        assert set(n[key]["l1"]) == {"0.1", "0.3", "1", "3"}
        assert set(n[key]["l2"]) == {"0.3", "1", "3", "10"}
    units = n["hidden_units"]
    assert units == 128
    best = f"{n['l1_best']:g}"
    cmp_ = f"{n['l2_comparable']:g}"
    assert n["active_units"]["l1"][best] < units / 2 < n["active_units"]["l2"][cmp_]
    assert n["fraction_zero_weights"]["l1"][best] > 0.5 > n["fraction_zero_weights"]["l2"][cmp_]
    # L1 brings the net much closer to the least-squares linear fit than no penalty
    assert n["distance_to_best_linear_fit"]["l1"][best] < 0.5 * n["distance_to_best_linear_fit"]["none"]["0"]
    # stronger L1 switches off more units
    act = [n["active_units"]["l1"][k] for k in ("0.1", "0.3", "1", "3")]
    assert act == sorted(act, reverse=True)
    assert v.figures == ["l1_collapse_vs_strength.png", "l1_collapse_units.png"]


def test_l1_collapse_weak_l1_does_not_hold(quick_verdict):
    v = quick_verdict("l1-collapse", **get("l1-collapse").breaking)
    assert v.numbers["l1_collapsed"] == {"0.0001": False}
    assert v.numbers["active_units"]["l1"]["0.0001"] > 16
    assert v.held is False
    failed = {c["name"] for c in v.checks if not c["passed"]}
    assert {"l1_units_off", "l1_weights_zero"} <= failed
