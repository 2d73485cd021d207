"""advise's ensemble extrapolation: the point on a known curve, intervals that scale with κ, members that
predict a rising error left out, and the ensemble rules."""

from __future__ import annotations

import numpy as np
import pytest

from gaplab.advise import predict as P
from gaplab.theory import curves

NS = [50, 80, 125, 200, 320, 500, 800]


def _truth(n: float) -> float:
    return 2.0 * n ** -0.5 + 0.08


def test_point_and_interval_on_a_known_curve() -> None:
    rng = np.random.default_rng(0)
    per = [[_truth(n) + 0.002 * rng.standard_normal() for _ in range(3)] for n in NS]
    t = [1600, 3200, 6400]
    choice = curves.choose(NS, np.mean(per, 1))  # fitted once, shared by the three predictions below
    one = P.predict(NS, per, t, kappas={2.0: 1.0, 4.0: 1.0, 8.0: 1.0}, choice=choice)
    assert abs(sum(one.weights.values()) - 1) < 1e-9 and "last1" not in one.weights
    for i, n in enumerate(t):  # 3 seeds of noise sd 0.002 up to n = 800: errors grow with the horizon
        assert one.point[i] == pytest.approx(_truth(n), abs=(0.01, 0.02, 0.03)[i])
        assert one.low[i] <= one.point[i] <= one.high[i]
        assert one.scale[i] > 0
    assert one.scale[0] <= one.scale[2]  # farther out, less certain
    calibrated = P.predict(NS, per, t, choice=choice)  # the benchmark's κ: the truth lies inside at every horizon
    assert all(lo <= _truth(n) <= hi for n, lo, hi in zip(t, calibrated.low, calibrated.high, strict=True))
    two = P.predict(NS, per, t, kappas={2.0: 2.0, 4.0: 2.0, 8.0: 2.0}, choice=choice)
    assert np.allclose(np.subtract(two.high, two.point), 2 * np.subtract(one.high, one.point), rtol=1e-6)
    wide = P.predict(NS, per, t, kappas={2.0: 1e3, 4.0: 1e3, 8.0: 1e3}, choice=choice, ceiling=1.0)
    assert max(wide.high) == 1.0 and min(wide.low) == 0.0  # an error rate's interval stays within [0, 1]


def _choice(scores: dict[str, float]) -> curves.Choice:
    fits = {m: curves.Fit("last1", (0.0,), 1.0, 0.0) for m in scores}
    return curves.Choice(min(scores, key=lambda m: scores[m]), scores, 2, fits["pow3"], {}, fits)


def test_members_predicting_a_rise_are_left_out_and_rules_differ() -> None:
    c = _choice({"pow3": 0.01, "exp3": 0.012, "vap3": 0.005, "mmf4": 0.02})
    members = {"pow3": np.array([0.18, 0.16]), "exp3": np.array([0.19, 0.19]),
               "vap3": np.array([0.21, 0.25]),  # rises above the last measured 0.2: not plausible
               "mmf4": np.array([0.15, 0.12])}
    kept = P.plausible(c, members, last=0.2, sem=0.001)
    assert set(kept) == {"pow3", "exp3", "mmf4"}
    point, w = P.ensemble(c, members, 0.2, 0.001, "inverse-square")
    assert set(w) == {"pow3", "exp3", "mmf4"} and w["pow3"] > w["exp3"] > w["mmf4"]
    assert point[0] == pytest.approx(sum(w[m] * members[m][0] for m in w))
    med, _ = P.ensemble(c, members, 0.2, 0.001, "median")
    assert med.tolist() == pytest.approx([0.18, 0.16])
    win, w1 = P.ensemble(c, members, 0.2, 0.001, "winner")
    assert w1 == {"pow3": 1.0} and win.tolist() == pytest.approx([0.18, 0.16])


def test_softmax_and_trimmed_rules() -> None:
    c = _choice({"pow3": 0.01, "exp3": 0.02, "vap3": 0.025, "mmf4": 0.01, "pow2": 0.05})  # pow2: beyond 3× best
    members = {"pow3": np.array([0.18, 0.10]), "exp3": np.array([0.19, 0.17]), "vap3": np.array([0.17, 0.14]),
               "mmf4": np.array([0.16, 0.12]), "pow2": np.array([0.15, 0.05])}
    _, w = P.ensemble(c, members, 0.2, 0.001, "softmax")  # ∝ exp(−(s − best)/best) over the kept families
    assert set(w) == {"pow3", "exp3", "vap3", "mmf4"}
    assert w["exp3"] / w["pow3"] == pytest.approx(np.exp(-1.0)) and w["pow3"] == pytest.approx(w["mmf4"])
    point, wt = P.ensemble(c, members, 0.2, 0.001, "trimmed")  # drops the highest (exp3) and lowest (pow3) at 2nd
    assert wt == {"vap3": 0.5, "mmf4": 0.5}
    assert point.tolist() == pytest.approx([0.165, 0.13])
    three = {m: members[m] for m in ("pow3", "exp3", "mmf4")}
    _, w3 = P.ensemble(_choice({"pow3": 0.01, "exp3": 0.02, "mmf4": 0.01}), three, 0.2, 0.001, "trimmed")
    assert set(w3) == {"pow3", "exp3", "mmf4"}  # fewer than 4 members: nothing trimmed
