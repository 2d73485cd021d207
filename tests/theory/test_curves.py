"""Learning-curve models recover known parameters, are chosen by extrapolation, and refuse ill-behaved curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gaplab.theory import curves

NS = [100, 200, 400, 800, 1600, 3200]
OLD = ("pow3", "pow2", "exp3", "vap3")  # the three-parameter families (and pow2): their choice is exact


def test_pow3_recovers_known_parameters() -> None:
    errs = [2.0 * n ** -0.5 + 0.08 for n in NS]
    f = curves.fit("pow3", NS, errs)
    p = f.named_params()
    assert p["a"] == pytest.approx(2.0, rel=1e-5)
    assert p["b"] == pytest.approx(0.5, rel=1e-5)
    assert p["c"] == pytest.approx(0.08, abs=1e-7)
    assert f.floor == pytest.approx(0.08, abs=1e-7)
    assert float(f.predict(32000)) == pytest.approx(2.0 * 32000 ** -0.5 + 0.08, rel=1e-6)


@pytest.mark.parametrize(("model", "truth"), [
    ("pow2", lambda n: 3.0 * n ** -0.4),
    ("exp3", lambda n: 0.5 * math.exp(-n / 800) + 0.1),
    ("vap3", lambda n: math.exp(0.5 + 30.0 / n - 0.3 * math.log(n))),
])
def test_other_models_fit_their_own_curves(model, truth) -> None:
    errs = [truth(n) for n in NS]
    f = curves.fit(model, NS, errs)
    assert f.rmse < 1e-7
    assert float(f.predict(10000)) == pytest.approx(truth(10000), rel=1e-4)


def test_choice_is_by_extrapolation_and_prefers_fewer_parameters_on_ties() -> None:
    exp_curve = [0.5 * math.exp(-n / 800) + 0.1 for n in NS]
    c = curves.choose(NS, exp_curve, models=OLD)
    assert c.model == "exp3" and c.holdout == 2
    assert c.scores["exp3"] < 1e-6 < c.scores["pow2"]
    pure = [3.0 * n ** -0.4 for n in NS]
    # pow3 fits a pure power law exactly too (c = 0): the tie goes to the two-parameter model
    assert curves.choose(NS, pure, models=OLD).model == "pow2"
    offset = [2.0 * n ** -0.5 + 0.08 for n in NS]
    assert curves.choose(NS, offset, models=OLD).model == "pow3"


def test_bootstrap_interval_is_exact_without_noise_and_covers_truth_with_it() -> None:
    truth = lambda n: 2.0 * n ** -0.5 + 0.08  # noqa: E731
    exact = [[truth(n)] * 3 for n in NS]
    point, lo, hi = curves.bootstrap(NS, exact, "pow3", [6400, 32000], n_boot=20)
    assert np.allclose(point, lo, atol=1e-8) and np.allclose(point, hi, atol=1e-8)
    rng = np.random.default_rng(0)
    covered, widths = 0, []
    for _ in range(12):  # 3 seeds per size, noise sd 0.004: a 90 % interval should cover most of 12 draws
        noisy = [[truth(n) + 0.004 * rng.standard_normal() for _ in range(3)] for n in NS]
        point, lo, hi = curves.bootstrap(NS, noisy, "pow3", [6400], n_boot=60)
        assert lo[0] <= point[0] <= hi[0]
        covered += bool(lo[0] < truth(6400) < hi[0])
        widths.append(hi[0] - lo[0])
    assert covered >= 8  # measured 10 of 12 here; nominal 90 %, the bootstrap of 3 seeds runs a little short
    assert 0.002 < float(np.median(widths)) < 0.05


def test_size_for_inverts_the_curve_and_knows_the_floor() -> None:
    f = curves.fit("pow3", NS, [2.0 * n ** -0.5 + 0.08 for n in NS])
    assert curves.size_for(f, 2.0 * 5000 ** -0.5 + 0.08) == pytest.approx(5000, rel=1e-5)
    assert curves.size_for(f, 0.079) == math.inf  # below the floor c = 0.08: no amount of data


def test_shape_check() -> None:
    good = [[2.0 * n ** -0.5 + 0.08 + d for d in (-0.002, 0.0, 0.002)] for n in NS]
    assert curves.check_shape(NS, good).ok
    bump = [list(e) for e in good]
    bump[3] = [v + 0.1 for v in bump[3]]  # double-descent-like peak at n = 800
    s = curves.check_shape(NS, bump)
    assert not s.ok and s.kind == "rises" and "n=800" in s.reason
    flat = [[0.3 + d for d in (-0.01, 0.0, 0.01)] for _ in NS]
    assert curves.check_shape(NS, flat).kind == "flat"
    faster = [[0.5 - 0.0001 * n * (n / 3200) + d for d in (-0.001, 0.0, 0.001)] for n in NS]
    s = curves.check_shape(NS, faster)
    assert s.ok and s.kind == "slow start"  # extrapolated (M4 / the broken power law model it), but named


@pytest.mark.parametrize(("model", "truth", "e0"), [
    ("mmf4", lambda n: (0.8 * 300 + 0.05 * n ** 1.2) / (300 + n ** 1.2), None),
    ("wbl4", lambda n: 0.1 + 0.6 * math.exp(-0.02 * n ** 0.6), None),
    ("pow4", lambda n: 0.05 + 4.0 * (n + 150) ** -0.6, None),
    ("bnsl", lambda n: 0.02 + 2.0 * n ** -0.1 * (1 + n / 800) ** -0.9, None),  # slope 0.1, then 1.0
])
def test_four_and_five_parameter_families_fit_their_own_curves(model, truth, e0) -> None:
    ns = [50, 100, 200, 400, 800, 1600, 3200]
    f = curves.fit(model, ns, [truth(n) for n in ns], start_error=e0)
    assert f is not None and f.rmse < 2e-4
    assert float(f.predict(12800)) == pytest.approx(truth(12800), abs=0.01)  # 4× beyond the last size


def test_m4_solves_its_implicit_equation_and_recovers_a_slow_start() -> None:
    x = np.array([0.01, 0.1, 1.0, 10.0])
    e = curves.MODELS["m4"].f(x, 0.1, 0.5, 0.8, 2.0, 0.9)
    assert np.allclose((e - 0.1) / (0.9 - e) ** 2.0, 0.5 * x ** -0.8, rtol=1e-8)
    assert np.all(np.diff(e) < 0) and 0.1 < e.min() and e.max() < 0.9
    ns = [62, 99, 157, 250, 397, 630, 1000]
    truth = lambda n: float(curves.MODELS["m4"].f(np.array([n / 1000]), 0.05, 0.3, 1.0, 2.0, 0.9)[0])  # noqa: E731
    errs = [truth(n) for n in ns]
    assert curves.fit("m4", ns, errs) is None  # no start error: not fitted
    f = curves.fit("m4", ns, errs, start_error=0.9)
    assert f is not None and f.rmse < 1e-4
    assert float(f.predict(8000)) == pytest.approx(truth(8000), abs=0.01)


def test_last1_and_ensemble_weights() -> None:
    f = curves.fit("last1", NS, [0.5, 0.4, 0.3, 0.25, 0.22, 0.2])
    assert float(f.predict(10 ** 6)) == 0.2 and f.floor == 0.2
    scores = {"pow3": 0.01, "mmf4": 0.02, "exp3": 0.05}
    assert curves.weights(scores, "winner") == {"pow3": 1.0}
    w = curves.weights(scores, "inverse-square", keep=3.0)
    assert set(w) == {"pow3", "mmf4"}  # exp3 scores beyond 3× the best: left out
    assert w["pow3"] == pytest.approx(0.8) and w["mmf4"] == pytest.approx(0.2)
    assert curves.weights(scores, "uniform", keep=10.0) == pytest.approx({m: 1 / 3 for m in scores})
    fits = {m: curves.fit(m, NS, [2.0 * n ** -0.5 + 0.08 for n in NS]) for m in ("pow3", "last1")}
    ens = curves.Ensemble(fits, {"pow3": 0.75, "last1": 0.25})
    target = 0.75 * (2.0 * 6400 ** -0.5 + 0.08) + 0.25 * (2.0 * 3200 ** -0.5 + 0.08)
    assert float(ens.predict(6400)) == pytest.approx(target, rel=1e-5)
    assert curves.size_for(ens, target) == pytest.approx(6400, rel=1e-4)
