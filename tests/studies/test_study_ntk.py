"""The ntk study: quick preset holds; uncentred networks keep their random initial function and do not converge."""

from __future__ import annotations

from gaplab.studies import get


def test_ntk_quick(quick_verdict):
    # Every check passes at seed 0; the slope (−0.42, at most −0.3) is within t·SD of its spread over seeds 0-4
    # (0.137), so the one-seed quick verdict is undecided rather than held.
    v = quick_verdict("ntk")
    assert v.held is not False, v.summary
    assert all(c["passed"] for c in v.checks)
    assert v.held is True or v.undecided_reason.startswith("slope_not_too_flat")
    n = v.numbers
    rel = [n["rel_error"][k] for k in ("64", "256", "1024", "4096")]
    assert rel[-1] < rel[0]
    assert -0.8 <= n["slope"] <= -0.3
    gap = n["prediction_gap"]
    assert gap["4096"] < 0.5 * gap["64"]
    assert v.figures == ["ntk.png"]


def test_ntk_uncentred_breaks(quick_verdict):
    v = quick_verdict("ntk", **get("ntk").breaking)  # uncentred networks
    assert v.held is False
    assert v.numbers["prediction_gap"]["1024"] > 0.5 * v.numbers["prediction_gap"]["64"]
