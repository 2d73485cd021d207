"""weight-decay study (C8): SGD+L2 ≡ SGD+decay with wd = λ/m; Adam+L2 ≠ AdamW; a wrong mapping breaks it."""

from __future__ import annotations

from gaplab.studies import get


def test_weight_decay_quick_holds(quick_verdict) -> None:
    v = quick_verdict("weight-decay")
    n = v.numbers
    assert v.held is True, v.summary
    assert n["sgd_max_param_diff"] < 1e-4
    assert n["adam_max_param_diff"] > 1e-3 and n["adam_max_param_diff"] > 100 * n["sgd_max_param_diff"]
    acc = n["test_accuracy"]
    assert set(acc) >= {"sgd", "sgd+l2", "sgd+wd", "adam", "adam+l2", "adamw+wd"}
    assert all(0.1 < a <= 1.0 for a in acc.values())
    assert abs(acc["sgd+l2"] - acc["sgd+wd"]) < 0.01  # same algorithm, same accuracy
    assert n["final_weight_norm"]["sgd+l2"] < n["final_weight_norm"]["sgd"]  # the decay matters
    assert v.figures == ["weight_decay.png"]


def test_weight_decay_wrong_mapping_breaks(quick_verdict) -> None:
    v = quick_verdict("weight-decay", **get("weight-decay").breaking)
    assert v.held is False
    assert v.numbers["sgd_max_param_diff"] > 1e-4
