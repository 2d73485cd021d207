"""inductive-bias study (C5): MLP vs CNN-1D on MNIST-1D, ordered vs fixed-shuffled inputs."""

from __future__ import annotations

from gaplab.studies import get


def test_inductive_bias_quick_holds(quick_verdict) -> None:
    v = quick_verdict("inductive-bias")
    n = v.numbers
    # Seeds 0-4, threads 1 and 2: held; the tightest check (MLP invariance, |drop| < 0.03) keeps ≥ 53 % of its margin.
    assert v.held is True, v.summary
    acc = n["test_accuracy"]
    assert set(acc) == {"mlp", "cnn1d"} and all(set(acc[m]) == {"false", "true"} for m in acc)
    assert acc["cnn1d"]["false"] > acc["mlp"]["false"] + 0.05
    assert acc["cnn1d"]["false"] - acc["cnn1d"]["true"] > 0.1
    assert abs(acc["mlp"]["false"] - acc["mlp"]["true"]) < 0.03
    assert n["param_count"]["cnn1d"] < n["param_count"]["mlp"]
    assert v.figures == ["inductive_bias.png"]


def test_inductive_bias_one_channel_breaks(quick_verdict) -> None:
    # A CNN with a single channel has the right bias but no capacity: it does not beat the MLP (MLP runs reused).
    v = quick_verdict("inductive-bias", **get("inductive-bias").breaking)
    assert v.held is False, v.summary
    assert {c["name"]: c["passed"] for c in v.checks}["cnn_ahead"] is False
