"""C20 learning-rate study: quick preset holds; without a large learning rate nothing diverges and it cannot."""

from __future__ import annotations

from gaplab.store.db import Store
from gaplab.studies.base import run_study


def test_quick_holds(tmp_path) -> None:
    v = run_study("learning-rate", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"))
    assert v.held is True, v.summary
    n = v.numbers
    assert n["diverged"][100.0] is True and n["diverged"][1e-4] is False
    assert 0.1 <= n["largest_stable_lr"] < 100
    assert n["final_loss"][1e-4] > n["final_loss"][n["best_lr"]]
    assert (tmp_path / "out" / "learning-rate" / "learning_rate.png").exists()


def test_breaks_without_large_rates(tmp_path) -> None:
    v = run_study("learning-rate", "quick", 0, tmp_path / "out", None, overrides={"lrs": [1e-4, 1e-3, 1e-2]})
    assert v.held is False
    assert not any(v.numbers["diverged"].values())
