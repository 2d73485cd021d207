"""The knn study (C15): quick preset holds; with random training labels 1-NN still memorizes but is not consistent."""

from __future__ import annotations

from gaplab.store.db import Store
from gaplab.studies.base import run_study


def test_knn_quick_holds(tmp_path):
    v = run_study("knn", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"))
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
    for fig in ("knn_vs_n", "knn_vs_k"):
        assert (tmp_path / "out" / "knn" / f"{fig}.png").exists()


def test_knn_random_labels_does_not_hold(tmp_path):
    v = run_study("knn", "quick", 0, tmp_path / "out", None,
                  overrides={"datasets": ["digits"], "random_labels": 1.0, "ks": [1, 3],
                             "sizes": {"digits": [50, 200, 600, 1347]}})
    assert v.numbers["train_error_1nn"]["digits"]["euclidean"] == 0.0  # still memorizes
    assert {c["name"]: c["passed"] for c in v.checks}["consistent"] is False
    assert v.held is False
