"""dropout study (C10): inverted-dropout expectation, dropout vs L2 accuracy, weight norm vs rate."""

from __future__ import annotations

from gaplab.studies import get
from gaplab.studies.claims.dropout import mc_expectation


def test_mc_expectation_inverted_vs_plain() -> None:
    inv, plain, _ = mc_expectation(0.2, 256, 400, key=3)
    assert abs(inv - 1) < 0.02
    assert abs(plain - 0.8) < 0.02


def test_dropout_quick_holds(quick_verdict) -> None:
    v = quick_verdict("dropout")
    n = v.numbers
    assert v.held is True, v.summary
    assert all(abs(r - 1) <= 0.02 for r in n["expectation_ratio"].values())
    for rate, r in n["noninverted_ratio"].items():
        assert abs(r - (1 - float(rate))) <= 0.02
    acc = n["test_accuracy"]
    assert set(acc["dropout"]) == {"0.0", "0.1", "0.3", "0.5"} and len(acc["l2"]) == 3
    assert max(acc["dropout"][k] for k in ("0.1", "0.3", "0.5")) >= acc["dropout"]["0.0"] + 0.01
    wn = n["weight_norm"]
    assert wn["0.5"]["total"] < wn["0.0"]["total"]
    assert {"first_layer", "first_layer_cv", "head_cv"} <= set(wn["0.0"])
    assert v.figures == ["dropout.png"]


def test_dropout_underfit_breaks(quick_verdict) -> None:
    # Five epochs: nothing overfits yet, so dropout cannot improve test accuracy.
    v = quick_verdict("dropout", **get("dropout").breaking)
    assert v.held is False
    assert {c["name"]: c["passed"] for c in v.checks}["dropout_helps"] is False
