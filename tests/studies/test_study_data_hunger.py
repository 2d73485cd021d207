"""data-hunger study (C2): learning curves with and without regularizers; curve helpers."""

from __future__ import annotations

import math

import pytest

from gaplab.studies import get
from gaplab.studies.claims.data_hunger import PENALTIES
from gaplab.studies.framework.curves import equivalent_n, fit_power_law, isotonic_decreasing


def test_power_law_and_interpolation() -> None:
    ns = [100, 200, 400, 800]
    errs = [2.0 * n ** -0.5 for n in ns]
    a, b = fit_power_law(ns, errs)
    assert a == pytest.approx(2.0, rel=1e-6) and b == pytest.approx(0.5, rel=1e-6)
    n_eq, ex = equivalent_n(ns, errs, 2.0 * 300 ** -0.5)
    assert not ex and n_eq == pytest.approx(300, rel=1e-6)  # exact in log-log for a power law
    n_eq, ex = equivalent_n(ns, errs, 2.0 * 3200 ** -0.5)
    assert ex and n_eq == pytest.approx(3200, rel=1e-6)  # beyond the curve: power-law extrapolation
    assert list(isotonic_decreasing([3, 1, 2, 0])) == [3, 1.5, 1.5, 0]


def test_data_hunger_quick(quick_verdict) -> None:
    v = quick_verdict("data-hunger")
    n = v.numbers
    sizes = ["200", "400", "1000", "2000"]
    methods = {"none", "l2", "dropout", "augment", "early_stopping", "combined", "logistic", "knn"}
    assert set(n["test_error"]) == methods
    assert all(set(n["test_error"][m]) == set(sizes) for m in methods)
    assert all(0.0 < e < 0.95 for m in methods for e in n["test_error"][m].values())
    assert set(n["power_law_exponent"]) == methods
    assert n["power_law_exponent"]["none"] > 0.05  # the plain MLP keeps learning from data
    assert set(n["regularization_gain"]) == set(sizes) and set(n["extra_samples_worth"]) == set(sizes)
    # The headline: penalties (L2, dropout, early stopping) do not substitute for data. Seed 0: gain_shrinks +0.061
    # and more_data_wins +0.059 clear their resolutions (t·SD over seeds 0-4: 0.033 and 0.054).
    assert v.numbers["regularizers"] == list(PENALTIES)
    assert v.held is True, v.summary
    checks = {c["name"]: c for c in v.checks}
    assert all(c["passed"] and c["resolved"] for c in checks.values())
    assert n["more_data_wins"] is True and n["gain_shrinks"] is True
    assert all(x is None or math.isfinite(x) for x in n["extra_samples_worth"].values())
    # The documented exception is reported beside it: at n=2000 shift augmentation keeps more of its gain than the
    # penalties (by 0.029…0.072 over seeds 0-4).
    assert n["augmentation_exception"]["acts_like_data"] is True
    assert "augmentation" in v.summary
    assert v.figures == ["data_hunger.png"]


def test_data_hunger_augmentation_as_the_regularizer_breaks(quick_verdict) -> None:
    # Rule over augmentation at n=1000 vs 1100: augmented training on 1000 examples beats plain training on 1100
    # (more_data_wins −0.061…−0.086 over seeds 0-4, beyond its resolution 0.054).
    v = quick_verdict("data-hunger", **get("data-hunger").breaking)
    assert v.held is False, v.summary
    assert {c["name"]: c["passed"] for c in v.checks}["more_data_wins"] is False
