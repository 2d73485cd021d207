"""The advice's numbers from rows with known learning curves (no training)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gaplab.advise import analysis, data_spec
from gaplab.advise.plan import base_plan
from gaplab.advise.sweep import Row


def _plain(n: float) -> float:
    return 0.5 * n ** -0.5 + 0.1


def test_analysis_of_known_curves() -> None:
    plan = base_plan(data_spec({"name": "blobs", "args": {"n_train": 400}}), None, None, None)
    assert len(plan.sizes) >= 5 and plan.sizes[-1] == 400
    rng = np.random.default_rng(0)
    rows = []
    for c in plan.configs:
        for n in plan.sizes:
            for s in range(3):
                e = _plain(n) + 1e-5 * rng.standard_normal()  # nearly exact: numbers checkable
                if c.name == "l2-10":
                    e -= 0.01  # better by 0.01 at every size
                elif c.name == "dropout" and n == plan.sizes[2]:
                    e += 0.2  # a bump: ill-behaved, never extrapolated
                elif c.name != "plain":
                    e += 0.01
                rows.append(Row(c.name, n, s, e, 0.5 * e, False, "done"))
    x = analysis.analyse(plan, rows, goal=0.05)
    n = plan.sizes[-1]
    assert x["best"] == "l2-10"
    p = x["paired_vs_plain"]["l2-10"]
    assert p["mean"] == pytest.approx(-0.01, abs=1e-4) and p["high"] < 0
    plain = x["curves"]["plain"]
    assert plain["shape_ok"] and plain["model"] == "ensemble"
    assert plain["weights"].get("pow3", 0) > 0.05 and sum(plain["weights"].values()) == pytest.approx(1.0)
    assert plain["floor"] == pytest.approx(0.1, abs=0.02)
    pred = {q["factor"]: q for q in plain["predictions"]}
    assert pred[2]["error"] == pytest.approx(_plain(2 * n), abs=0.001)
    assert pred[2]["low"] <= pred[2]["error"] <= pred[2]["high"]
    assert pred[8]["low"] <= _plain(8 * n) <= pred[8]["high"]
    assert not pred[4]["flagged"] and pred[8]["flagged"]  # beyond 4× the largest measured size
    assert not x["curves"]["dropout"]["shape_ok"] and "predictions" not in x["curves"]["dropout"]
    # l2-10 at n matches plain at n' with 0.5/√n' = 0.5/√n − 0.01: the extra examples it is worth
    n_eq = (0.5 / (0.5 / math.sqrt(n) - 0.01)) ** 2
    assert x["worth_in_examples"]["extra"] == pytest.approx(n_eq - n, rel=0.05)
    g = x["goal"]["by_config"]["plain"]
    assert g["reachable"] is False and g["within"] == 8 * n  # 0.05: below the whole interval at 8× n
    assert any("will not" in w for w in x["words"])
    assert x["actions"][0]["action"] in ("more data", "more regularization")
    assert x["bias_variance"]["plain"]["gap"] == pytest.approx(0.5 * x["error_at_n"]["plain"], rel=1e-6)


def _bias_variance(gaps: list[float]) -> dict[str, object]:
    return {"plain": {"train_error": 0.0, "test_error": 0.05, "gap": 0.05, "still_falling": False},
            "gap_by_size": {50 * 2**i: g for i, g in enumerate(gaps)}}


@pytest.mark.parametrize("shape", ["ok", "flat"])
def test_a_flat_curve_is_no_case_for_more_data(shape: str) -> None:
    """A train/test gap that shrinks with n says "more data" only if the test error itself falls with n."""
    cv = {"plain": {"name": "plain", "shape": shape, "shape_reason": "error does not fall measurably",
                    "predictions": []}}
    acts = analysis._actions(cv, {"plain": 0.05}, {}, "plain", _bias_variance([0.066, 0.05]), 455)
    assert [a["action"] for a in acts] == (["more data"] if shape == "ok" else ["none clearly"])
    if shape == "flat":
        assert "flat" in acts[0]["why"] and "more data is not shown to help" in acts[0]["why"]


def test_worth_with_an_open_upper_end_says_or_more() -> None:
    x = {"n": 500, "best": "augment", "worth_in_examples": {"extra": 969.0, "low": 366.0, "high": math.inf,
                                                            "flagged": False}}
    (words,) = analysis._worth_words(x)
    assert "366 or more" in words and "inf" not in words
