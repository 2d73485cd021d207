"""C20 learning-rate study: quick preset holds; without a large learning rate nothing diverges and it cannot."""

from __future__ import annotations

from gaplab.spec import parse_run
from gaplab.studies import get, run_study
from gaplab.studies.claims.learning_rate import diverged
from gaplab.studies.framework import StoredRun


def test_quick_holds(quick_verdict) -> None:
    v = quick_verdict("learning-rate")
    assert v.held is True, v.summary
    n = v.numbers
    assert n["diverged"][100.0] is True and n["diverged"][1e-4] is False
    assert 0.1 <= n["largest_stable_lr"] < 100
    assert n["final_loss"][1e-4] > n["final_loss"][n["best_lr"]]
    assert n["crawl_fraction"] < 0.1
    assert v.figures == ["learning_rate.png"]


def test_breaks_without_large_rates(quick_verdict) -> None:
    v = quick_verdict("learning-rate", **get("learning-rate").breaking)  # no large learning rate
    assert v.held is False
    assert not any(v.numbers["diverged"].values())


def test_zero_loss_is_a_fit_not_divergence() -> None:
    spec = parse_run({"data": {"name": "mnist1d"}})
    assert diverged(StoredRun(spec, "done", {"train_loss": 0.0}, [])) is False
    assert diverged(StoredRun(spec, "done", {"train_loss": float("nan")}, [])) is True
    assert diverged(StoredRun(spec, "diverged", {"train_loss": 1.0}, [])) is True


def test_every_rate_diverging_is_reported_not_a_crash(tmp_path) -> None:
    v = run_study("learning-rate", "quick", 0, tmp_path / "out", None, overrides={"lrs": [1e3, 1e4], "epochs": 1})
    assert v.numbers["best_lr"] is None and "Every learning rate diverged" in v.summary
    assert v.held is None  # the crawl cannot be measured when nothing trained
