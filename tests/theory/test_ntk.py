import numpy as np
import pytest
import torch

from gaplab.theory import ntk


def _unit_inputs(n=8, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def _mean_empirical(x, width, depth, b_std, seeds=4):
    thetas = [
        ntk.empirical(ntk.make_ntk_mlp(x.shape[1], width, depth, b_std=b_std, seed=s), x, x).double()
        for s in range(seeds)
    ]
    return sum(thetas) / seeds


@pytest.mark.parametrize("depth,b_std", [(2, 0.0), (2, 0.3)])
def test_empirical_converges_to_analytic(depth, b_std):
    x = _unit_inputs()
    A = ntk.analytic(x, x, depth, b_std=b_std)
    rel = {w: float((_mean_empirical(x, w, depth, b_std) - A).norm() / A.norm()) for w in (64, 4096)}
    assert rel[4096] < 0.05
    assert rel[64] > rel[4096]


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_analytic_symmetric_psd(depth):
    x = _unit_inputs(20, 5, seed=1) * torch.linspace(0.5, 2.0, 20, dtype=torch.float64)[:, None]
    K = ntk.analytic(x, x, depth, w_std=1.3, b_std=0.2)
    assert K.shape == (20, 20) and K.dtype == torch.float64
    torch.testing.assert_close(K, K.T)
    assert torch.linalg.eigvalsh(K).min() > -1e-10 * K.diagonal().max()


def test_analytic_cross_and_closed_form():
    x1, x2 = _unit_inputs(6, 4, seed=2), _unit_inputs(3, 4, seed=3)
    K = ntk.analytic(x1, x2, 2)
    assert K.shape == (6, 3)
    full = ntk.analytic(torch.cat([x1, x2]), torch.cat([x1, x2]), 2)
    torch.testing.assert_close(K, full[:6, 6:])
    # depth 0 is the linear kernel; numpy input accepted
    np.testing.assert_allclose(ntk.analytic(x1.numpy(), x2.numpy(), 0).numpy(), 2 * (x1 @ x2.T).numpy() / 4)
    # He scaling, b=0, equal-norm inputs: diagonal of Theta^(L) is (L + 1) * 2 ||x||^2 / d
    diag = ntk.analytic(x1, x1, 3).diagonal()
    torch.testing.assert_close(diag, torch.full_like(diag, 4 * 2 / 4))


def test_depth1_one_hidden_layer_formula():
    # w_std^2 = 2, b = 0: Theta = Sigma0 (pi - t) / pi + (2 / d)(sin t + (pi - t) cos t) / pi
    x = _unit_inputs(5, 3, seed=4)
    G = x @ x.T
    t = torch.arccos(torch.clamp(G, -1, 1))
    sigma0 = 2 * G / 3  # w_std^2 <x, x'> / d with unit-norm x in 3-D
    expected = sigma0 * (torch.pi - t) / torch.pi + (2 / 3) * (torch.sin(t) + (torch.pi - t) * G) / torch.pi
    torch.testing.assert_close(ntk.analytic(x, x, 1), expected)


def test_empirical_multi_output_and_cross():
    x1, x2 = _unit_inputs(4, 3, seed=5).float(), _unit_inputs(2, 3, seed=6).float()
    model = ntk.make_ntk_mlp(3, 32, 1, out_dim=3, seed=0)
    K12 = ntk.empirical(model, x1, x2)
    K = ntk.empirical(model, torch.cat([x1, x2]), torch.cat([x1, x2]))
    assert K12.shape == (4, 2)
    torch.testing.assert_close(K12, K[:4, 4:], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(K, K.T, rtol=1e-4, atol=1e-5)


def test_make_ntk_mlp_deterministic():
    x = _unit_inputs(3, 4).float()
    a = ntk.make_ntk_mlp(4, 16, 2, seed=7)(x)
    b = ntk.make_ntk_mlp(4, 16, 2, seed=7)(x)
    c = ntk.make_ntk_mlp(4, 16, 2, seed=8)(x)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    assert a.shape == (3, 1)


def test_kernel_regression():
    x = _unit_inputs(10, 5, seed=7)
    xt = _unit_inputs(4, 5, seed=8)
    y = torch.sin(3 * x[:, 0])
    K = ntk.analytic(x, x, 2)
    # interpolates the training data with ridge = 0
    torch.testing.assert_close(ntk.kernel_regression(K, y, K), y)
    pred = ntk.kernel_regression(K, y.numpy(), ntk.analytic(xt, x, 2), ridge=1e-3)
    ref = ntk.analytic(xt, x, 2) @ torch.linalg.solve(K + 1e-3 * torch.eye(10, dtype=K.dtype), y)
    torch.testing.assert_close(pred, ref)
    # singular kernel (duplicate point, consistent labels) does not raise
    xd = torch.cat([x, x[:1]])
    Kd = ntk.analytic(xd, xd, 1)
    yd = torch.cat([y, y[:1]])
    out = ntk.kernel_regression(Kd, yd, Kd)
    assert torch.isfinite(out).all()
