"""C7: regularization is a prior; more of it means more bias and less variance.

Seed 000 (answer 5) and 001: an L2 penalty is a zero-mean Gaussian prior on the weights, and a larger λ is a
more certain prior, so the fit is pulled harder toward the prior (bias up) and depends less on the particular
training set (variance down). Measured with the Monte-Carlo bias-variance decomposition over many training
sets drawn from y = sin(x) + ε, x ~ U(-3, 3) (the setup of Bishop 2006, PRML §3.2 / Fig. 3.5-3.6, on the
sin data of seed 000), at every penalty λ:

    bias²    = mean_x (E_D[f̂_D(x)] - sin x)²   (unbiased estimate: plug-in minus variance / #draws)
    variance = mean_x Var_D[f̂_D(x)]            test MSE = mean_x E_D[(f̂_D(x) - sin x)²] = bias² + variance

on a dense grid of (-3, 3) against the noiseless sin.
(a) ridge: closed form (``gaplab.theory.ridge``) on degree-9 polynomial features of x / 3, every weight
    (constant included) penalized, i.e. the posterior mean under the prior w ~ N(0, σ²/λ I);
(b) MLP (tanh) trained through the pack engine with the L2 penalty ``reg.l2`` (λ/2m Σ‖W‖², biases free); every
    (λ, draw) is one run and all of them go to ONE ``ctx.train`` call. Draws are different run seeds on one
    large shared pool with ``data.train_size`` (seed picks the subset and the init), so they pack together;
    the variance therefore includes the initialization. Predictions come from ``run.model()``.

Rule (declared as checks, ridge only; thresholds in the presets): bias² rises with λ (Spearman ρ(λ, bias²) ≥
``min_rho``, and larger at the largest λ than at the smallest), variance falls (ρ(λ, variance) ≤ −``min_rho``, and
smaller at the largest λ), and the test-MSE-minimizing λ is interior to the grid. The MLP trend is measured and
reported the same way (``numbers['trend']['mlp']``) but does not decide the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from gaplab.spec import RunSpec
from gaplab.studies.framework import (
    Check,
    Measured,
    MeasuredSpread,
    Preset,
    Study,
    StudyContext,
    aside,
    run_seeds,
    run_spec,
    subplots,
)
from gaplab.theory import poly, ridge

# Seed-to-seed SD of each check's value over --seed 0-4 of the quick preset (one run seed each), measured
# 2026-12-06 with `benchmarks/verdict_table.py --seeds 0-4 --threads 1`: the resolution of a check whose runs
# cannot measure their own spread (MeasuredSpread; it applies to the quick preset without overrides).
SPREAD = MeasuredSpread(seeds=5, sd={
    "bias_rises": 0.031,
    "bias_ends_higher": 0.00131,
    "variance_falls": 0.0,
    "variance_ends_lower": 7.3e-06,
    "best_lambda_interior": 0.0,
})


@dataclass(frozen=True)
class P(Preset):
    n_train: int
    noise: float
    degree: int
    grid_points: int
    ridge_lambdas: list[float]
    ridge_draws: int
    mlp_lambdas: list[float]
    mlp_draws: int
    mlp_pool: int
    mlp_width: int
    mlp_depth: int
    mlp_lr: float
    mlp_epochs: int
    min_rho: float


QUICK = P(n_train=30, noise=0.5, degree=9, grid_points=201, ridge_lambdas=[float(x) for x in np.logspace(-4, 3, 8)],
          ridge_draws=400, mlp_lambdas=[0.0, 0.01, 0.1, 1.0, 10.0, 100.0], mlp_draws=10, mlp_pool=2000, mlp_width=32,
          mlp_depth=2, mlp_lr=0.01, mlp_epochs=400, min_rho=0.8)
FULL = replace(QUICK, grid_points=401, ridge_lambdas=[float(x) for x in np.logspace(-4, 3, 15)], ridge_draws=4000,
               mlp_lambdas=[0.0, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0], mlp_draws=40,
               mlp_pool=4000, mlp_width=64, mlp_epochs=2000)


def specs(p: P, seed: int) -> dict[tuple[float, int], RunSpec]:
    """(λ, draw): the MLP part, one run per penalty and training-set draw (none below two draws: ridge only).
    Draws are different run seeds on one data pool, so each draws its own training subset."""
    if p.mlp_draws < 2:
        return {}
    base = run_spec({
        "data": {"name": "sine", "standardize": False, "train_size": p.n_train,
                 "args": {"n_train": p.mlp_pool, "n_test": 200, "noise": p.noise, "seed": seed}},
        "model": {"name": "mlp", "args": {"width": p.mlp_width, "depth": p.mlp_depth, "activation": "tanh"}},
        "optim": {"name": "adam", "lr": p.mlp_lr, "epochs": p.mlp_epochs, "batch_size": p.n_train},
        "eval_every": p.mlp_epochs,
    }, seed)
    return {(float(lam), s): base.replace(**{"reg.l2": float(lam), "seed": s})
            for lam in p.mlp_lambdas for s in run_seeds(seed, p.mlp_draws)}


@dataclass(frozen=True)
class M(Measured):
    bias2: dict[str, dict[str, float]]
    variance: dict[str, dict[str, float]]
    test_mse: dict[str, dict[str, float]]
    best_lambda: dict[str, float]
    mlp_train_mse: dict[str, float] | None
    trend: dict[str, dict[str, Any]]
    draws: dict[str, int]
    parts: dict[str, tuple[dict[str, Any], list[float]]] = aside()  # part → unrounded results and its λ grid

    def numbers(self) -> dict[str, Any]:
        out = super().numbers()
        if out["mlp_train_mse"] is None:
            del out["mlp_train_mse"]
        return out


def _decompose(preds: np.ndarray, f: np.ndarray) -> tuple[float, float, float]:
    """(bias², variance, test MSE) from predictions ``(draws, grid)``; bias² corrected for the finite draws."""
    d = preds.shape[0]
    var = preds.var(axis=0, ddof=1).mean()
    plug = ((preds.mean(axis=0) - f) ** 2).mean()
    mse = ((preds - f) ** 2).mean()
    return float(plug - var / d), float(var), float(mse)


def _spearman(a: list[float], b: list[float]) -> float:
    """Spearman rank correlation (scipy); nan if either side is constant."""
    if len(set(a)) < 2 or len(set(b)) < 2:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def _trend(lams: list[float], bias2: list[float], var: list[float], mse: list[float], min_rho: float) -> dict:
    """Spearman trends of bias² and variance with λ, and where the test MSE is smallest."""
    rb, rv = _spearman(lams, bias2), _spearman(lams, var)
    j = int(np.argmin(mse))
    return {"rho_bias2": round(rb, 4), "rho_variance": round(rv, 4), "best_index": j,
            "bias_up": bool(rb >= min_rho and bias2[-1] > bias2[0]),
            "variance_down": bool(rv <= -min_rho and var[-1] < var[0]),
            "interior_best": bool(0 < j < len(lams) - 1)}


def _ridge_part(seed: int, p: P, grid: np.ndarray, f: np.ndarray) -> dict[str, Any]:
    rng = np.random.default_rng(2_000 + seed)
    lams = [float(v) for v in p.ridge_lambdas]
    G = poly.features(grid, p.degree, 3.0)
    preds = np.zeros((len(lams), p.ridge_draws, len(grid)))
    for d in range(p.ridge_draws):
        x = rng.uniform(-3, 3, p.n_train)
        y = np.sin(x) + p.noise * rng.standard_normal(p.n_train)
        X = poly.features(x, p.degree, 3.0)
        for j, lam in enumerate(lams):
            preds[j, d] = G @ ridge.fit(X, y, lam)
    out: dict[str, Any] = {"bias2": [], "variance": [], "test_mse": []}
    for j in range(len(lams)):
        b, v, m = _decompose(preds[j], f)
        out["bias2"].append(b)
        out["variance"].append(v)
        out["test_mse"].append(m)
    out["example"] = preds[:, :5]  # a few fits per λ for the figure
    return out


def _mlp_part(ctx: StudyContext, p: P, grid: np.ndarray, f: np.ndarray) -> dict[str, Any]:
    lams, seeds = [float(v) for v in p.mlp_lambdas], ctx.seeds(p.mlp_draws)
    xg = torch.as_tensor(grid, dtype=torch.float32)[:, None]
    preds = np.zeros((len(lams), len(seeds), len(grid)))
    train_mse = np.zeros((len(lams), len(seeds)))
    for i, r in enumerate(ctx.runs.values()):
        with torch.no_grad():
            preds[i // len(seeds), i % len(seeds)] = r.model()(xg)[:, 0].double().numpy()
        train_mse[i // len(seeds), i % len(seeds)] = r.final.get("train_loss", np.nan)
    out: dict[str, Any] = {"bias2": [], "variance": [], "test_mse": [], "train_mse": []}
    for j in range(len(lams)):
        b, v, m = _decompose(preds[j], f)
        out["bias2"].append(b)
        out["variance"].append(v)
        out["test_mse"].append(m)
        out["train_mse"].append(float(np.nanmean(train_mse[j])))
    out["example"] = preds[:, :5]
    return out


def _rnd(v: float) -> float:
    return float(f"{v:.6g}")


def measure(ctx: StudyContext, p: P) -> M:
    grid = np.linspace(-3, 3, p.grid_points)
    f = np.sin(grid)
    parts = {"ridge": (_ridge_part(ctx.seed, p, grid, f), [float(v) for v in p.ridge_lambdas])}
    if p.mlp_draws >= 2:
        parts["mlp"] = (_mlp_part(ctx, p, grid, f), [float(v) for v in p.mlp_lambdas])
    trends = {m: _trend(lams, r["bias2"], r["variance"], r["test_mse"], p.min_rho) for m, (r, lams) in parts.items()}

    def table(key: str) -> dict[str, dict[str, float]]:
        return {m: {f"{lam:g}": _rnd(v) for lam, v in zip(lams, r[key], strict=True)} for m, (r, lams) in parts.items()}

    mlp = parts.get("mlp")
    return M(bias2=table("bias2"), variance=table("variance"), test_mse=table("test_mse"),
             best_lambda={m: lams[trends[m]["best_index"]] for m, (_, lams) in parts.items()},
             mlp_train_mse=None if mlp is None else {f"{lam:g}": _rnd(v)
                                                     for lam, v in zip(mlp[1], mlp[0]["train_mse"], strict=True)},
             trend=trends, draws={"ridge": p.ridge_draws, "mlp": p.mlp_draws if mlp else 0}, parts=parts)


def checks(m: M, p: P) -> list[Check]:
    tr, (rr, rl) = m.trend["ridge"], m.parts["ridge"]
    return [
        Check("bias_rises", "ridge: Spearman ρ(λ, bias²)", tr["rho_bias2"], ">=", p.min_rho),
        Check("bias_ends_higher", "ridge: bias² at the largest λ − at the smallest", rr["bias2"][-1] - rr["bias2"][0],
              ">", 0.0),
        Check("variance_falls", "ridge: Spearman ρ(λ, variance)", tr["rho_variance"], "<=", -p.min_rho),
        Check("variance_ends_lower", "ridge: variance at the largest λ / at the smallest",
              rr["variance"][-1] / rr["variance"][0] if rr["variance"][0] > 0 else float("nan"), "<", 1.0),
        Check("best_lambda_interior", "ridge: grid steps from the test-MSE-best λ to the grid's end",
              min(tr["best_index"], len(rl) - 1 - tr["best_index"]), ">=", 1),
    ]


def summary(m: M, p: P) -> str:
    tr, (rr, rl) = m.trend["ridge"], m.parts["ridge"]
    j = tr["best_index"]
    text = (f"Ridge (degree {p.degree}, n={p.n_train}, σ={p.noise}, {p.ridge_draws} training sets): as λ goes "
            f"{rl[0]:g}→{rl[-1]:g}, bias² {rr['bias2'][0]:.3g}→{rr['bias2'][-1]:.3g} (ρ={tr['rho_bias2']:+.2f}), "
            f"variance {rr['variance'][0]:.3g}→{rr['variance'][-1]:.3g} (ρ={tr['rho_variance']:+.2f}); test MSE is "
            f"lowest at λ={rl[j]:g} ({rr['test_mse'][j]:.3g}). ")
    if "mlp" not in m.parts:
        return text
    (mr, ml), tm = m.parts["mlp"], m.trend["mlp"]
    return text + (f"MLP ({p.mlp_draws} draws): bias² {mr['bias2'][0]:.3g}→{mr['bias2'][-1]:.3g} "
                   f"(ρ={tm['rho_bias2']:+.2f}), variance {mr['variance'][0]:.3g}→{mr['variance'][-1]:.3g} "
                   f"(ρ={tm['rho_variance']:+.2f}), best λ={ml[tm['best_index']]:g}; "
                   + ("the same trend. " if tm["bias_up"] and tm["variance_down"] else
                      f"a weaker trend than ridge's rule asks (|ρ| < {p.min_rho:g}: bias² "
                      f"{'' if tm['bias_up'] else 'flat within Monte-Carlo noise at small λ, '}"
                      f"{'variance falls' if tm['variance_down'] else 'variance not monotone'}); the MLP does not "
                      "decide the verdict."))


def _decomposition_figure(m: M, p: P) -> Any:
    fig, ax = subplots(len(m.parts))
    for a, (name, (r, lams)) in zip(np.atleast_1d(ax), m.parts.items(), strict=True):
        # λ = 0 (MLP) is drawn at a tenth of the smallest positive λ on the log axis
        pos = [v for v in lams if v > 0]
        xs = [v if v > 0 else min(pos) / 10 for v in lams]
        for key, style, label in (("bias2", "o-", "bias² (estimates ≤ 0 not drawn)"), ("variance", "s-", "variance"),
                                  ("test_mse", "k^--", "test MSE")):
            ys = np.asarray(r[key], dtype=float)
            keep = ys > 0  # the unbiased bias² estimate can dip below 0 where the true bias² ≈ 0
            a.plot(np.asarray(xs)[keep], ys[keep], style, ms=4, label=label)
        a.axvline(xs[m.trend[name]["best_index"]], color="gray", alpha=0.4)
        a.set_xscale("log")
        a.set_yscale("log")
        a.set(xlabel="penalty λ" + (" (leftmost point: λ = 0)" if 0.0 in lams else ""),
              ylabel="error on the noiseless sin (squared units)")
        title = (f"ridge, degree-{p.degree} polynomial" if name == "ridge"
                 else f"MLP {p.mlp_depth}×{p.mlp_width} tanh, reg.l2")
        a.set_title(f"{title} (n={p.n_train}, σ={p.noise})", fontsize=10)
        a.legend(fontsize=8)
    return fig


def _fits_figure(m: M, p: P) -> Any:
    grid = np.linspace(-3, 3, p.grid_points)
    fig, ax = subplots(len(m.parts))
    for a, (name, (r, lams)) in zip(np.atleast_1d(ax), m.parts.items(), strict=True):
        ex = r["example"]
        picks = [0, m.trend[name]["best_index"], len(lams) - 1]
        for j, c in zip(picks, ("tab:red", "tab:green", "tab:blue"), strict=True):
            for k in range(ex.shape[1]):
                a.plot(grid, ex[j, k], color=c, lw=0.8, alpha=0.6, label=f"λ = {lams[j]:g}" if k == 0 else None)
        a.plot(grid, np.sin(grid), "k", lw=2.5, label="sin(x)")
        a.set(ylim=(-2.5, 2.5), xlabel="x", ylabel="prediction")
        a.set_title(f"{name}: fits on {ex.shape[1]} training sets per λ", fontsize=10)
        a.legend(fontsize=8)
    return fig


def figures(m: M, p: P) -> dict[str, Any]:
    return {"bias_variance": _decomposition_figure(m, p), "fits": _fits_figure(m, p)}


STUDY = Study(
    "bias-variance", "C7",
    "Regularization is a prior (L2 = Gaussian prior); more of it means a more certain prior: more bias, "
    "less variance.",
    quick=QUICK, full=FULL, specs=specs, measure=measure, checks=checks, figures=figures, summary=summary,
    spread=SPREAD, keep_state=True, threads=1,  # tiny models: intra-op threads only spin (10x the CPU time)
    # noiseless targets: the smallest penalty is best, so there is no interior optimum (ridge only, no training)
    breaking={"noise": 0.0, "ridge_draws": 100, "mlp_draws": 0},
)
