"""The knn study (C15): quick preset holds; with random training labels 1-NN still memorizes but is not consistent."""

from __future__ import annotations

from gaplab.studies import get


def test_knn_quick_holds(quick_verdict):
    v = quick_verdict("knn")
    assert v.held is True, v.summary
    n = v.numbers
    for ds in ("mnist1d", "digits"):
        assert n["train_error_1nn"][ds] == {"euclidean": 0.0, "cosine": 0.0, "whitened": 0.0}
        for metric in ("euclidean", "cosine", "whitened"):
            curve = n["test_error"][ds][metric]["1"]
            sizes = list(curve)
            assert curve[sizes[-1]] < curve[sizes[0]]
            assert set(n["test_error"][ds][metric]) == {"1", "3", "5", "9", "15"}
    assert n["test_error"]["digits"]["euclidean"]["1"]["1347"] < 0.05
    assert max(n["metric_spread_1nn"].values()) >= 0.02
    assert v.figures == ["knn_vs_n.png", "knn_vs_k.png"]


def test_knn_random_labels_does_not_hold(quick_verdict):
    v = quick_verdict("knn", **get("knn").breaking)  # random training labels
    assert v.numbers["train_error_1nn"]["digits"]["euclidean"] == 0.0  # still memorizes
    assert {c["name"]: c["passed"] for c in v.checks}["consistent"] is False
    assert v.held is False
