"""Neural tangent kernels of fully connected ReLU networks: analytic (infinite width) and empirical.

NTK parameterization (Jacot, Gabriel, Hongler 2018, "Neural Tangent Kernel"): every parameter is
drawn N(0, 1) and each layer computes ``h = w_std / sqrt(fan_in) * W x + b_std * b``. Under this
parameterization the empirical NTK of :func:`make_ntk_mlp` converges to :func:`analytic` as the width
grows, and gradient flow on squared loss from that init converges to kernel regression with it
(:func:`kernel_regression`). The ReLU expectations are the arc-cosine kernels of Cho & Saul (2009),
as used by Arora et al. 2019 ("On Exact Computation with an Infinitely Wide Neural Net") and by the
``neural-tangents`` library (``stax.Dense(W_std, b_std, parameterization="ntk")``, ``stax.Relu``).
"""

from __future__ import annotations

import functools
import math
import operator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, jacrev, vmap

DEFAULT_W_STD = math.sqrt(2.0)
DEFAULT_B_STD = 0.0


def _as_2d64(x) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    t = t.detach().to(torch.float64)
    return t.reshape(t.shape[0], -1)


def _relu_expectations(k12: torch.Tensor, k11: torch.Tensor, k22: torch.Tensor):
    """E[relu(u) relu(v)] and E[relu'(u) relu'(v)] for (u, v) ~ N(0, [[k11, k12], [k12, k22]])."""
    norm = torch.sqrt(k11[:, None] * k22[None, :])
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    cos = torch.clamp(k12 / safe, -1.0, 1.0)
    theta = torch.arccos(cos)
    e_relu = norm * (torch.sin(theta) + (math.pi - theta) * cos) / (2 * math.pi)
    e_step = (math.pi - theta) / (2 * math.pi)
    return e_relu, e_step


def analytic(
    x1,
    x2,
    depth: int,
    w_std: float = DEFAULT_W_STD,
    b_std: float = DEFAULT_B_STD,
) -> torch.Tensor:
    """Infinite-width NTK ``Theta(x1, x2)``, float64 ``(n1, n2)``, of a ReLU MLP with ``depth`` hidden layers.

    Recursion (inputs flattened to dimension d; Jacot et al. 2018; Arora et al. 2019,
    here with general ``w_std``, ``b_std``)::

        Sigma^(0)(x, x') = w_std^2 <x, x'> / d + b_std^2,          Theta^(0) = Sigma^(0)
        for h = 1..depth, with (u, v) ~ N(0, Lambda^(h)),
            Lambda^(h) = [[Sigma^(h-1)(x, x), Sigma^(h-1)(x, x')], [Sigma^(h-1)(x', x), Sigma^(h-1)(x', x')]]
            Sigma^(h)     = w_std^2 E[relu(u) relu(v)] + b_std^2
                          = w_std^2 sqrt(s s') (sin t + (pi - t) cos t) / (2 pi) + b_std^2
            Sigmadot^(h)  = w_std^2 E[relu'(u) relu'(v)] = w_std^2 (pi - t) / (2 pi)
            Theta^(h)     = Theta^(h-1) * Sigmadot^(h) + Sigma^(h)
        return Theta^(depth)

    where ``s = Sigma^(h-1)(x, x)``, ``s' = Sigma^(h-1)(x', x')``,
    ``cos t = Sigma^(h-1)(x, x') / sqrt(s s')``.
    ``Sigma^(0)`` is the first pre-activation covariance; ``Sigma^(depth)`` (the output layer's)
    includes its bias. Defaults ``w_std = sqrt(2)``, ``b_std = 0`` (He scaling): the diagonal
    ``Sigma^(h)(x, x) = 2 ||x||^2 / d`` is then the same at every layer, so the kernel neither
    explodes nor vanishes with depth. ``depth = 0`` is the linear model's kernel ``Sigma^(0)``.
    """
    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    a, b = _as_2d64(x1), _as_2d64(x2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"input dims differ: {a.shape[1]} vs {b.shape[1]}")
    d = a.shape[1]
    w2, b2 = w_std**2, b_std**2
    k12 = w2 * (a @ b.T) / d + b2
    k11 = w2 * (a * a).sum(1) / d + b2
    k22 = w2 * (b * b).sum(1) / d + b2
    theta = k12.clone()
    for _ in range(depth):
        e_relu, e_step = _relu_expectations(k12, k11, k22)
        k12 = w2 * e_relu + b2
        k11 = w2 * k11 / 2 + b2  # E[relu(u)^2] = s / 2
        k22 = w2 * k22 / 2 + b2
        theta = theta * (w2 * e_step) + k12
    return theta


class NTKLinear(nn.Module):
    """Dense layer in NTK parameterization: ``w_std / sqrt(fan_in) * x @ W^T + b_std * b``, W, b ~ N(0, 1)."""

    def __init__(self, fan_in: int, fan_out: int, w_std: float, b_std: float, generator: torch.Generator):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in, generator=generator))
        self.bias = nn.Parameter(torch.randn(fan_out, generator=generator))
        self.w_scale = w_std / math.sqrt(fan_in)
        self.b_scale = b_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.w_scale, self.bias * self.b_scale)


def make_ntk_mlp(
    in_dim: int,
    width: int,
    depth: int,
    w_std: float = DEFAULT_W_STD,
    b_std: float = DEFAULT_B_STD,
    out_dim: int = 1,
    seed: int = 0,
) -> nn.Module:
    """ReLU MLP with ``depth`` hidden layers of ``width`` units in NTK parameterization (float32).

    Its empirical NTK (:func:`empirical`) tends to ``analytic(x1, x2, depth, w_std, b_std)`` as
    ``width -> inf``. Initialization is deterministic given ``seed`` (private generator).
    """
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    fan_in = in_dim
    for _ in range(depth):
        layers += [NTKLinear(fan_in, width, w_std, b_std, gen), nn.ReLU()]
        fan_in = width
    layers.append(NTKLinear(fan_in, out_dim, w_std, b_std, gen))
    return nn.Sequential(*layers)


def _jacobians(model: nn.Module, params: dict, x: torch.Tensor) -> list[torch.Tensor]:
    def f(p, xi):
        return functional_call(model, p, (xi.unsqueeze(0),)).reshape(-1)  # (out_dim,)

    jac = vmap(jacrev(f), (None, 0))(params, x)  # name -> (n, out_dim, *param_shape)
    return [j.reshape(j.shape[0], j.shape[1], -1) for j in jac.values()]


def empirical(model: nn.Module, x1, x2) -> torch.Tensor:
    """Empirical NTK ``Theta(x1, x2) = sum_params J(x1) J(x2)^T``, shape ``(n1, n2)``.

    Per-example Jacobians via ``torch.func.vmap(jacrev(...))`` + ``functional_call`` (the torch.func
    "Neural Tangent Kernels" tutorial pattern). For ``out_dim > 1`` the result is the trace over
    outputs divided by ``out_dim``, i.e. the average per-output NTK (the infinite-width NTK is that
    scalar kernel times the identity on outputs). Inputs are cast to the model's dtype.
    Memory: ``(n1 + n2) * out_dim * n_params`` floats (halved when ``x2 is x1``).
    """
    params = {k: v.detach() for k, v in model.named_parameters()}
    dtype = next(iter(params.values())).dtype
    a = torch.as_tensor(x1).to(dtype)
    j1 = _jacobians(model, params, a)
    j2 = j1 if x2 is x1 else _jacobians(model, params, torch.as_tensor(x2).to(dtype))
    out_dim = j1[0].shape[1]
    theta = functools.reduce(operator.add, (torch.einsum("aop,bop->ab", u, v) for u, v in zip(j1, j2, strict=True)))
    return theta / out_dim


def kernel_regression(K_train, y_train, K_test_train, ridge: float = 0.0) -> torch.Tensor:
    """Mean prediction ``K_test_train @ (K_train + ridge I)^{-1} y_train`` (float64 torch tensor).

    With ``ridge = 0`` this is the infinitely wide network trained to convergence by gradient flow
    on squared loss, averaged over initializations (Jacot et al. 2018; Lee et al. 2019 "Wide Neural
    Networks of Any Depth Evolve as Linear Models"), when the network output at init is zero-mean.
    A singular ``K_train`` with ``ridge = 0`` falls back to the least-squares (pseudo-inverse) solve.
    """
    K = torch.as_tensor(K_train).to(torch.float64)
    Kt = torch.as_tensor(K_test_train).to(torch.float64)
    y = torch.as_tensor(np.asarray(y_train) if not isinstance(y_train, torch.Tensor) else y_train)
    y = y.to(torch.float64)
    vec = y.ndim == 1
    Y = y[:, None] if vec else y
    A = K + ridge * torch.eye(K.shape[0], dtype=K.dtype)
    try:
        alpha = torch.linalg.solve(A, Y)
    except RuntimeError:  # torch.linalg.LinAlgError subclasses RuntimeError
        alpha = torch.linalg.lstsq(A, Y, driver="gelsd").solution
    out = Kt @ alpha
    return out[:, 0] if vec else out
