"""Penalties: values, gradients, parameter selection, and the λ mappings to sklearn / torch / Keras."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from torch import nn

from gaplab.regularize import convention_table, l1_penalty, l1_prox_, l2_penalty, penalized


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2), nn.LayerNorm(2))


def test_penalized_excludes_bias_and_norm():
    net = _net()
    assert penalized(net) == ["0.weight", "3.weight"]
    assert penalized(net, include_bias=True) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    with_norm = ["0.weight", "1.weight", "1.bias", "3.weight", "4.weight", "4.bias"]
    assert penalized(net, include_norm=True) == with_norm
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.GroupNorm(1, 2), nn.Conv2d(2, 2, 1, bias=False))
    assert penalized(conv) == ["0.weight", "2.weight"]


def test_l2_value_and_gradient():
    torch.manual_seed(0)
    w = torch.randn(2, 3, 4, requires_grad=True)
    b = torch.randn(2, 4, requires_grad=True)
    lam, m = torch.tensor([0.5, 2.0]), torch.tensor([10.0, 20.0])
    params = {"w": w, "b": b}
    pen = l2_penalty(params, ["w", "b"], lam, m)
    expect = lam / (2 * m) * ((w**2).sum((1, 2)) + (b**2).sum(1))
    torch.testing.assert_close(pen, expect)
    pen.sum().backward()
    torch.testing.assert_close(w.grad, (lam / m)[:, None, None] * w)  # grad of λ/(2m)‖W‖² is (λ/m)W
    torch.testing.assert_close(b.grad, (lam / m)[:, None] * b)


def test_l1_value_gradient_and_prox():
    w = torch.tensor([[[1.0, -2.0], [0.5, 0.0]], [[-3.0, 0.2], [0.1, 4.0]]], requires_grad=True)
    lam, m = torch.tensor([1.0, 4.0]), torch.tensor([2.0, 2.0])
    pen = l1_penalty({"w": w}, ["w"], lam, m)
    torch.testing.assert_close(pen, torch.tensor([3.5 / 4, 7.3]))
    pen.sum().backward()
    torch.testing.assert_close(w.grad, (lam / (2 * m))[:, None, None] * torch.sign(w.detach()))
    p = {"w": w.detach().clone()}
    l1_prox_(p, ["w"], torch.tensor([0.6, 0.15]))
    expect = torch.tensor([[[0.4, -1.4], [0.0, 0.0]], [[-2.85, 0.05], [0.0, 3.85]]])
    torch.testing.assert_close(p["w"], expect)


def test_sgd_weight_decay_equals_l2_penalty():
    """SGD(weight_decay=λ/m) on the mean loss == plain SGD on mean loss + λ/(2m)‖W‖², per model."""
    torch.manual_seed(1)
    k, m, d, lr, steps = 2, 16, 5, 0.1, 6
    x, y = torch.randn(k, m, d), torch.randn(k, m)
    w0 = torch.randn(k, 1, d)
    lam = torch.tensor([0.3, 4.0])
    w = w0.clone().requires_grad_(True)
    for _ in range(steps):
        pred = torch.einsum("kbd,kod->kb", x, w)
        loss = ((pred - y) ** 2).mean(1) + l2_penalty({"w": w}, ["w"], lam, torch.full((k,), float(m)))
        (g,) = torch.autograd.grad(loss.sum(), [w])
        w = (w - lr * g).detach().requires_grad_(True)
    for i in range(k):
        lin = nn.Linear(d, 1, bias=False)
        lin.weight.data.copy_(w0[i])
        opt = torch.optim.SGD(lin.parameters(), lr=lr, weight_decay=float(lam[i]) / m)  # wd = λ/m
        for _ in range(steps):
            opt.zero_grad()
            ((lin(x[i]).squeeze(-1) - y[i]) ** 2).mean().backward()
            opt.step()
        torch.testing.assert_close(lin.weight.data, w[i].detach(), rtol=1e-5, atol=1e-6)


def _lbfgs(fn, w: torch.Tensor) -> torch.Tensor:
    w = w.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = fn(w)
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    m, d = 40, 5
    x = rng.normal(size=(m, d))
    y = x @ np.array([1.5, 0.0, -2.0, 0.0, 0.3]) + 0.3 * rng.normal(size=m)
    return x, y


def test_ridge_alpha_is_lambda_over_2(regression):
    x, y = regression
    m, lam = x.shape[0], 7.0
    xt, yt = torch.tensor(x), torch.tensor(y)

    def j(w):  # J = (1/m)Σ(y−ŷ)² + λ/(2m)‖w‖²
        return ((xt @ w[0] - yt) ** 2).mean() + l2_penalty({"w": w}, ["w"], torch.tensor([lam]),
                                                             torch.tensor([float(m)]))[0]

    w = _lbfgs(j, torch.zeros(1, x.shape[1], dtype=torch.float64))
    coef = Ridge(alpha=lam / 2, fit_intercept=False).fit(x, y).coef_
    np.testing.assert_allclose(w[0].numpy(), coef, atol=1e-7)
    assert "α = λ/2" in convention_table()


def test_lasso_alpha_is_lambda_over_4m_via_ista(regression):
    x, y = regression
    m, lam = x.shape[0], 40.0
    xt, yt = torch.tensor(x), torch.tensor(y)
    lip = 2 * np.linalg.eigvalsh(x.T @ x / m).max()
    eta = 1.0 / lip
    w = torch.zeros(1, x.shape[1], dtype=torch.float64)
    for _ in range(4000):  # ISTA: gradient step on (1/m)Σ(y−ŷ)², then prox of λ/(2m)‖w‖₁
        grad = 2 * xt.T @ (xt @ w[0] - yt) / m
        w = w - eta * grad
        l1_prox_({"w": w}, ["w"], torch.tensor([eta * lam / (2 * m)], dtype=torch.float64))
    coef = Lasso(alpha=lam / (4 * m), fit_intercept=False, tol=1e-14, max_iter=100_000).fit(x, y).coef_
    np.testing.assert_allclose(w[0].numpy(), coef, atol=1e-7)
    assert (coef == 0).any()  # the penalty is strong enough to be sparse


def test_logistic_c_is_one_over_lambda():
    rng = np.random.default_rng(3)
    m, d, lam = 60, 3, 2.5
    x = rng.normal(size=(m, d))
    y = (x @ np.array([1.0, -1.0, 0.5]) + 0.5 * rng.normal(size=m) > 0).astype(float)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def j(w):  # J = (1/m)Σ CE + λ/(2m)‖w‖²
        ce = nn.functional.binary_cross_entropy_with_logits(xt @ w[0], yt)
        return ce + l2_penalty({"w": w}, ["w"], torch.tensor([lam]), torch.tensor([float(m)]))[0]

    w = _lbfgs(j, torch.zeros(1, d, dtype=torch.float64))
    clf = LogisticRegression(C=1 / lam, fit_intercept=False, tol=1e-12, max_iter=10_000).fit(x, y)
    np.testing.assert_allclose(w[0].numpy(), clf.coef_[0], atol=1e-6)


def test_keras_l2_factor_is_lambda_over_2m():
    """Keras l2(l) adds l·Σw² to the mean loss: with l = λ/(2m) it is our penalty (checked in torch)."""
    w = torch.randn(1, 4, 3, requires_grad=True)
    lam, m = 3.0, 50.0
    keras_term = (lam / (2 * m)) * (w**2).sum()
    ours = l2_penalty({"w": w}, ["w"], torch.tensor([lam]), torch.tensor([m]))[0]
    torch.testing.assert_close(keras_term, ours)
    g1, = torch.autograd.grad(keras_term, [w])
    g2, = torch.autograd.grad(ours, [w])
    torch.testing.assert_close(g1, g2)
