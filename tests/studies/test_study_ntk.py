"""The ntk study: quick preset holds; uncentred networks keep their random initial function and do not converge."""

from __future__ import annotations

from gaplab.store.db import Store
from gaplab.studies.base import run_study


def test_ntk_quick_holds(tmp_path):
    v = run_study("ntk", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"))
    assert v.held is True, v.summary
    n = v.numbers
    rel = [n["rel_error"][k] for k in ("64", "256", "1024", "4096")]
    assert rel[-1] < rel[0]
    assert -0.8 <= n["slope"] <= -0.3
    gap = n["prediction_gap"]
    assert gap["4096"] < 0.5 * gap["64"]
    assert (tmp_path / "out" / "ntk" / "ntk.png").exists()
    assert (tmp_path / "out" / "ntk" / "ntk.svg").exists()


def test_ntk_uncentred_breaks(tmp_path):
    v = run_study("ntk", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"),
                  overrides={"center": False, "widths": [64, 1024], "kernel_inits": 1, "train_seeds": 1})
    assert v.held is False
    assert v.numbers["prediction_gap"]["1024"] > 0.5 * v.numbers["prediction_gap"]["64"]
