"""C16: as an MLP's width grows it behaves like kernel regression with the neural tangent kernel (Jacot et al. 2018).

Two measurements on ReLU MLPs in NTK parameterization (``gaplab.theory.ntk``):

1. Kernel convergence: the empirical NTK ``J(x) J(x')^T`` of finite networks at init (``make_ntk_mlp`` +
   ``empirical``) against the analytic infinite-width NTK (``analytic``) on inputs on the sphere of radius
   sqrt(d): relative Frobenius error ``||K_w - K_inf||_F / ||K_inf||_F``, mean over initializations, and its
   log-log slope vs width (fluctuations of a sum over ``width`` units: expected ≈ -0.5).
2. Training: networks of each width trained by full-batch gradient descent on squared loss (learning rate
   1/λ_max of the analytic kernel, until the linearized residual has shrunk by 1e4) vs kernel regression with
   the analytic NTK (``kernel_regression``; Jacot et al. 2018, Lee et al. 2019 "Wide Neural Networks of Any
   Depth Evolve as Linear Models"). The trained networks are *centred*, g(x) = f(x; θ) - f(x; θ0) with θ0 the
   frozen initial weights, so the output at init is 0 as the kernel-regression formula assumes (otherwise the
   random initial function, O(1) at every width, stays in the prediction; ``center=False`` shows that).
   Prediction gap: RMS(g(x*) - kernel prediction) / RMS(kernel prediction) on test points, mean over seeds.

The networks are trained with a short plain torch loop here, not through the pack engine: the engine's models
are not in NTK parameterization, and this is a closed-form-style analysis of a few small networks, not a sweep.

Rule (declared as checks; thresholds in the presets): the kernel error at the widest net is below the
narrowest's, its log-log slope vs width lies in [``slope_min``, ``slope_max``] (around the expected -0.5), and the
prediction gap shrinks with width (negative log-log slope, and the widest net's gap below ``gap_shrink`` × the
narrowest's). Initializations and data are drawn from the study's seed.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from gaplab.studies.framework import (
    Check,
    Measured,
    MeasuredSpread,
    Preset,
    Study,
    StudyContext,
    aside,
    no_runs,
    subplots,
)
from gaplab.theory import ntk

# Seed-to-seed SD of each check's value over --seed 0-4 of the quick preset (one run seed each), measured
# 2026-12-06 with `benchmarks/verdict_table.py --seeds 0-4 --threads 1`: the resolution of a check whose runs
# cannot measure their own spread (MeasuredSpread; it applies to the quick preset without overrides).
SPREAD = MeasuredSpread(seeds=5, sd={
    "kernel_converges": 0.0279,
    "slope_not_too_steep": 0.0494,
    "slope_not_too_flat": 0.0494,
    "gap_slope_negative": 0.0351,
    "gap_shrinks": 0.0221,
})


@dataclass(frozen=True)
class P(Preset):
    widths: list[int]
    depth: int
    d: int
    n_kernel: int
    kernel_inits: int
    n_train: int
    n_test: int
    train_seeds: int
    center: bool
    uncentered_contrast: bool
    slope_min: float
    slope_max: float
    gap_shrink: float


QUICK = P(widths=[64, 256, 1024, 4096], depth=1, d=5, n_kernel=20, kernel_inits=3, n_train=20, n_test=100,
          train_seeds=2, center=True, uncentered_contrast=False, slope_min=-0.8, slope_max=-0.3, gap_shrink=0.5)
FULL = replace(QUICK, widths=[64, 128, 256, 512, 1024, 2048, 4096], n_kernel=30, kernel_inits=10, n_train=30,
               n_test=300, train_seeds=5, uncentered_contrast=True)


def _widths(p: P) -> list[int]:
    return sorted(int(w) for w in p.widths)


@dataclass(frozen=True)
class M(Measured):
    rel_error: dict[str, float]
    slope: float
    rel_error_monotone: bool
    prediction_gap: dict[str, float]
    prediction_gap_slope: float
    kernel_test_mse: float
    net_test_mse: dict[str, float]
    gd_steps: int
    gd_lr: float
    centered: bool
    prediction_gap_other_centering: dict[str, float] | None  # only with uncentered_contrast
    examples: dict[int, np.ndarray] = aside()  # one seed's test predictions at each width
    kernel_pred: np.ndarray = aside()

    def numbers(self) -> dict[str, Any]:
        out = super().numbers()
        if out["prediction_gap_other_centering"] is None:
            del out["prediction_gap_other_centering"]
        return out


def _kernel_errors(p: P, xk: torch.Tensor, seed: int) -> dict[int, float]:
    """Relative Frobenius error of the empirical NTK at init against the analytic one, mean over inits."""
    k_inf = ntk.analytic(xk, xk, p.depth)
    rel = {}
    for w in _widths(p):
        errs = []
        for s in range(p.kernel_inits):
            net = ntk.make_ntk_mlp(p.d, w, p.depth, seed=10_000 * seed + s)
            k_emp = ntk.empirical(net, xk.float(), xk.float()).double()
            errs.append(float(torch.linalg.norm(k_emp - k_inf) / torch.linalg.norm(k_inf)))
        rel[w] = float(np.mean(errs))
    return rel


def _gaps(p: P, seed: int, data: tuple[torch.Tensor, ...], pred_k: torch.Tensor, lr: float, steps: int,
          centred: bool) -> tuple[dict[int, float], dict[int, float], dict[int, np.ndarray]]:
    """Per width: the GD-trained nets' relative RMS gap to kernel regression, their test MSE, one prediction."""
    x, y, xt, yt = data
    gap, mse, examples = {}, {}, {}
    for w in _widths(p):
        gaps, mses = [], []
        for s in range(p.train_seeds):
            pred = _train_gd(p.d, w, p.depth, 20_000 * seed + s, x, y, xt, lr, steps, centred)
            gaps.append(float(((pred - pred_k) ** 2).mean().sqrt() / (pred_k**2).mean().sqrt()))
            mses.append(float(((pred - yt) ** 2).mean()))
            if s == 0:
                examples[w] = pred.numpy()
        gap[w], mse[w] = float(np.mean(gaps)), float(np.mean(mses))
    return gap, mse, examples


def measure(ctx: StudyContext, p: P) -> M:
    widths = _widths(p)
    g = torch.Generator().manual_seed(1000 + ctx.seed)

    def sphere(k: int) -> torch.Tensor:
        x = torch.randn(k, p.d, generator=g, dtype=torch.float64)
        return x / x.norm(dim=1, keepdim=True) * math.sqrt(p.d)

    # 1. kernel convergence at init
    rel = _kernel_errors(p, sphere(p.n_kernel), ctx.seed)
    # 2. trained networks vs kernel regression on a small regression problem
    x, xt = sphere(p.n_train), sphere(p.n_test)
    u = torch.randn(p.d, generator=g, dtype=torch.float64)
    u = u / u.norm()

    def target(z: torch.Tensor) -> torch.Tensor:
        return torch.sin(2 * z @ u) + 0.5 * torch.cos(z[:, 0] * z[:, 1])

    y, yt = target(x), target(xt)
    K, Kt = ntk.analytic(x, x, p.depth), ntk.analytic(xt, x, p.depth)
    pred_k = ntk.kernel_regression(K, y, Kt)
    ev = torch.linalg.eigvalsh(K)
    lr = 1.0 / float(ev[-1])
    steps = int(math.ceil(math.log(1e4) * float(ev[-1]) / float(ev[0])))
    gap, net_mse, examples = _gaps(p, ctx.seed, (x, y, xt, yt), pred_k, lr, steps, bool(p.center))
    other = _gaps(p, ctx.seed, (x, y, xt, yt), pred_k, lr, steps, not p.center)[0] if p.uncentered_contrast else None
    return M(
        rel_error={str(w): rel[w] for w in widths}, slope=_loglog_slope(widths, [rel[w] for w in widths]),
        rel_error_monotone=all(rel[a] > rel[b] for a, b in zip(widths, widths[1:], strict=False)),
        prediction_gap={str(w): gap[w] for w in widths},
        prediction_gap_slope=_loglog_slope(widths, [gap[w] for w in widths]),
        kernel_test_mse=float(((pred_k - yt) ** 2).mean()), net_test_mse={str(w): net_mse[w] for w in widths},
        gd_steps=steps, gd_lr=lr, centered=bool(p.center),
        prediction_gap_other_centering=None if other is None else {str(w): other[w] for w in widths},
        examples=examples, kernel_pred=pred_k.numpy())


def checks(m: M, p: P) -> list[Check]:
    lo, hi = str(_widths(p)[0]), str(_widths(p)[-1])
    return [
        Check("kernel_converges", f"kernel error at width {hi} / at width {lo}", m.rel_error[hi] / m.rel_error[lo],
              "<", 1.0),
        Check("slope_not_too_steep", "log-log slope of kernel error vs width", m.slope, ">=", p.slope_min),
        Check("slope_not_too_flat", "log-log slope of kernel error vs width", m.slope, "<=", p.slope_max),
        Check("gap_slope_negative", "log-log slope of the net-vs-kernel prediction gap vs width",
              m.prediction_gap_slope, "<", 0.0),
        Check("gap_shrinks", f"prediction gap at width {hi} / at width {lo}",
              m.prediction_gap[hi] / m.prediction_gap[lo], "<", p.gap_shrink),
    ]


def summary(m: M, p: P) -> str:
    lo, hi = str(_widths(p)[0]), str(_widths(p)[-1])
    return (f"Empirical vs analytic NTK: relative error {m.rel_error[lo]:.3f} at width {lo} → "
            f"{m.rel_error[hi]:.3f} at {hi} (log-log slope {m.slope:.2f}; expected ≈ -0.5). "
            f"{'Centred' if p.center else 'Uncentred'} networks trained by gradient descent differ from NTK "
            f"kernel regression by {m.prediction_gap[lo]:.3f} → {m.prediction_gap[hi]:.3f} (relative RMS, slope "
            f"{m.prediction_gap_slope:.2f})")


def _loglog_slope(xs: list[int], ys: list[float]) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def _train_gd(d: int, width: int, depth: int, seed: int, x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor,
              lr: float, steps: int, center: bool) -> torch.Tensor:
    """Full-batch GD on 0.5 * sum of squared errors; returns float64 test predictions (centred if asked)."""
    net = ntk.make_ntk_mlp(d, width, depth, seed=seed)
    xf, xtf, yf = x.float(), xt.float(), y.float()
    with torch.no_grad():
        init = copy.deepcopy(net)
        b, bt = (init(xf)[:, 0], init(xtf)[:, 0]) if center else (torch.zeros(()), torch.zeros(()))
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * ((net(xf)[:, 0] - b - yf) ** 2).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (net(xtf)[:, 0] - bt).double()


def figures(m: M, p: P) -> dict[str, Any]:
    widths, slope, gap_slope, examples, pred_k = _widths(p), m.slope, m.prediction_gap_slope, m.examples, m.kernel_pred
    rel = {w: m.rel_error[str(w)] for w in widths}
    gap = {bool(p.center): {w: m.prediction_gap[str(w)] for w in widths}}
    if m.prediction_gap_other_centering is not None:
        gap[not p.center] = {w: m.prediction_gap_other_centering[str(w)] for w in widths}
    fig, ax = subplots(3)
    ws = np.array(widths, dtype=float)
    r = np.array([rel[w] for w in widths])
    ax[0].loglog(ws, r, "o-", label=f"mean over {p.kernel_inits} inits (slope {slope:.2f})")
    ax[0].loglog(ws, r[0] * (ws / ws[0]) ** -0.5, "--", color="gray", label="∝ width^-0.5")
    ax[0].set_xlabel("hidden width")
    ax[0].set_ylabel("‖K_emp − K_∞‖_F / ‖K_∞‖_F")
    ax[0].set_title(f"empirical vs analytic NTK (depth {p.depth})", fontsize=9)
    ax[0].legend(fontsize=7)
    for centred, curve in gap.items():
        gs = np.array([curve[w] for w in widths])
        lab = "centred net" if centred else "uncentred net"
        if centred == bool(p.center):
            lab += f" (slope {gap_slope:.2f})"
        ax[1].loglog(ws, gs, "o-" if centred == bool(p.center) else "s--", label=lab)
    g0 = gap[bool(p.center)][widths[0]]
    ax[1].loglog(ws, g0 * (ws / ws[0]) ** -0.5, "--", color="gray", label="∝ width^-0.5")
    ax[1].set_xlabel("hidden width")
    ax[1].set_ylabel("RMS(net − kernel) / RMS(kernel)")
    ax[1].set_title(f"GD-trained net vs NTK regression (mean of {p.train_seeds})", fontsize=9)
    ax[1].legend(fontsize=7)
    lo, hi = float(pred_k.min()), float(pred_k.max())
    for w in (widths[0], widths[-1]):
        ax[2].plot(pred_k, examples[w], ".", ms=4, label=f"width {w}")
    ax[2].plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    ax[2].set_xlabel("NTK kernel-regression prediction")
    ax[2].set_ylabel("trained network prediction")
    ax[2].set_title("test-point predictions (one seed)", fontsize=9)
    ax[2].legend(fontsize=7)
    return {"ntk": fig}


STUDY = Study(
    "ntk", "C16", "As an MLP's width grows, it behaves like a kernel method with the neural tangent kernel.",
    quick=QUICK, full=FULL, specs=no_runs, measure=measure, checks=checks, figures=figures, summary=summary,
    spread=SPREAD,
    # uncentred nets keep their random initial function (O(1) at every width): the gap does not shrink
    breaking={"center": False, "widths": [64, 1024], "kernel_inits": 1, "train_seeds": 1},
)
