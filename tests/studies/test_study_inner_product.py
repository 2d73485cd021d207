"""inner-product study (C22) and its data set: bilinear fits <x,z> exactly and extrapolates; the MLP does not."""

from __future__ import annotations

import torch

from gaplab.data import load_dataset
from gaplab.studies import get


def test_inner_product_dataset() -> None:
    a = load_dataset("inner-product", {"d": 3, "n_train": 50, "n_test": 40, "noise": 0.0})
    b = load_dataset("inner-product", {"d": 3, "n_train": 50, "n_test": 40, "noise": 0.0, "ood_scale": 2.0})
    assert a.x_train.shape == (50, 6) and a.y_train.shape == (50, 1) and a.task == "regression"
    assert torch.allclose(a.y_train[:, 0], (a.x_train[:, :3] * a.x_train[:, 3:]).sum(1))
    assert torch.equal(a.x_train, b.x_train)  # pools differ only in the test set
    assert a.x_test.abs().max() <= 1 and b.x_test.abs().max() > 1 and b.x_test.abs().max() <= 2


def test_inner_product_quick_holds(quick_verdict) -> None:
    v = quick_verdict("inner-product")
    n = v.numbers
    assert v.held is True, v.summary
    assert set(n["mlp_test_mse"]) == {"8", "32", "128"}
    assert n["bilinear_test_mse"] < 0.1 * min(n["mlp_test_mse"].values())
    assert set(n["ood_ratio"]) >= {"mlp", "bilinear"}
    assert n["ood_ratio"]["mlp"] > n["ood_ratio"]["bilinear"]
    assert set(n["mse_vs_n"]["bilinear"]) == {"100", "300", "1000"}
    assert v.figures == ["inner_product.png"]


def test_inner_product_in_range_test_breaks(quick_verdict) -> None:
    # With ood_scale 1 (the declared breaking case) the "out-of-range" inputs are in range: no blow-up.
    v = quick_verdict("inner-product", **get("inner-product").breaking)
    assert v.held is False
    assert v.numbers["relative_ood_ratio"]["mlp"] < 5
