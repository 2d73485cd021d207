"""The linearization study (C9): quick preset holds; a λ grid too weak to matter does not."""

from __future__ import annotations

from gaplab.store.db import Store
from gaplab.studies.base import run_study


def test_linearization_quick_holds(tmp_path):
    v = run_study("linearization", "quick", 0, tmp_path / "out", Store(tmp_path / "s.db"))
    assert v.held is True, v.summary
    n = v.numbers
    lams = ["0", "0.1", "1", "3", "10", "30"]
    for key in ("linear_regime_fraction", "distance_to_linear", "test_error", "linear_regime_fraction_by_layer"):
        assert list(n[key]) == lams
    frac = [n["linear_regime_fraction"][k] for k in lams]
    dist = [n["distance_to_linear"][k] for k in lams]
    assert all(0.0 <= f <= 1.0 for f in frac)
    assert frac[-1] > frac[0] + 0.2
    assert dist[-1] < 0.5 * dist[0]
    assert set(n["linear_regime_fraction_by_layer"]["0"]) == {"layer1", "layer2"}
    # at λ=0 the net beats the least-squares linear fit of the data clearly (the data are non-linear)
    assert n["test_error"]["0"] < 0.5 * n["linear_fit_test_error"]
    for fig in ("linearization_vs_lambda", "linearization_preactivations"):
        assert (tmp_path / "out" / "linearization" / f"{fig}.png").exists()


def test_linearization_tiny_lambdas_do_not_hold(tmp_path):
    v = run_study("linearization", "quick", 0, tmp_path / "out", None,
                  overrides={"lambdas": [0.0, 1e-4, 1e-3], "epochs": 60, "width": 32})
    assert v.held is False
    assert v.numbers["checks"]["distance_falls"] is False
