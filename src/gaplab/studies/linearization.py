"""C9: a large L2 penalty shrinks W, keeps tanh pre-activations in the linear regime and makes the net nearly linear.

Source: seeds/001 (Ng, "why regularization reduces overfitting": large λ → small W → z = Wa + b small → tanh(z) ≈ z
→ every layer roughly linear → the whole network computes a nearly linear function). Setup: a 2-hidden-layer tanh
MLP trained with Adam on ``teacher-mlp`` regression data (a random ReLU teacher, d = 5, so the least-squares linear
fit is clearly worse than a net), with reg.l2 = λ/(2m)·Σ‖W‖²_F (weights only: biases are not penalized, as in the
course) over a grid of λ, several seeds.

Measured per λ on the test inputs, from ``run.model()`` with forward hooks on the hidden ``nn.Linear`` layers:
- ``linear_regime_fraction``: fraction of first-layer pre-activations z with |z| < 0.5 (where tanh(z) is within
  4 % of z); ``linear_regime_fraction_by_layer`` for every hidden layer;
- ``distance_to_linear``: RMS over test inputs of (net output − the least-squares affine fit *of the net's own
  outputs* on the test inputs), i.e. how far the learned function is from being affine;
  ``relative_distance_to_linear`` divides it by the output's standard deviation (√(1 − R²)), which does not shrink
  just because the output shrinks (None once the output is constant);
- ``test_error`` (test MSE) and, for reference, the test MSE of the least-squares linear fit of the training data.

Rule (declared as checks; thresholds in the presets; over the λ grid, seed-averaged): linear_regime_fraction rises
(Spearman ρ ≥ ``min_rho`` with λ) and ends clearly higher (the fraction outside the linear regime at most
``max_end_ratio`` × λ = 0's), distance_to_linear falls (ρ ≤ −``min_rho``) and ends at most ``max_end_ratio`` × λ = 0's,
and the relative distance ends at most ``max_end_ratio`` × λ = 0's too (at the largest λ where it is defined), so a
net that merely shrinks to a constant does not count.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from gaplab.engine.datacache import prepared_for
from gaplab.studies.base import Outcome, Params, StoredRun, StudyContext, study
from gaplab.studies.checks import Check, MeasuredSpread
from gaplab.studies.plotting import subplots
from gaplab.theory.ridge import affine_fit

LINEAR_BAND = 0.5


def _key(x: float) -> str:
    return f"{x:g}"


def preactivations(model: torch.nn.Module, x: torch.Tensor) -> tuple[list[np.ndarray], np.ndarray]:
    """Outputs of every hidden ``nn.Linear`` (the tanh inputs) and the net's output, via forward hooks."""
    linears = [m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and name != "head"]
    zs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: zs.append(out.detach())) for m in linears]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
    return [z.double().numpy() for z in zs], out.double().numpy().reshape(len(x), -1)


def measure(run: StoredRun) -> dict[str, Any]:
    """Linear-regime fractions per hidden layer, distance of the net to affine, test errors; for one run."""
    prep = prepared_for(run.spec)
    ds = prep.dataset
    zs, f = preactivations(run.model(), ds.x_test.float())
    x_te = ds.x_test.double().numpy().reshape(len(f), -1)
    x_tr = ds.x_train[prep.train_idx].double().numpy().reshape(len(prep.train_idx), -1)
    y_tr = ds.y_train[prep.train_idx].double().numpy().reshape(len(x_tr), -1)
    y_te = ds.y_test.double().numpy().reshape(len(f), -1)
    own = affine_fit(x_te, f, x_te)
    dist = float(np.sqrt(((f - own) ** 2).mean()))
    spread = float(np.sqrt(((f - f.mean(0)) ** 2).mean()))
    data_fit = affine_fit(x_tr, y_tr, x_te)
    return {
        "fractions": [float((np.abs(z) < LINEAR_BAND).mean()) for z in zs],
        "distance": dist,
        "relative": dist / spread if spread > 1e-6 else math.nan,
        "distance_to_data_fit": float(np.sqrt(((f - data_fit) ** 2).mean())),
        "test_error": float(run.final["test_loss"]),
        "train_error": float(run.final["train_loss"]),
        "linear_fit_test_error": float(((data_fit - y_te) ** 2).mean()),
        "z1": zs[0].ravel(),
    }

# Seed-to-seed SD of each check's value over --seed 0-4 of the quick preset (one run seed each), measured
# 2026-12-06 with `benchmarks/verdict_table.py --seeds 0-4 --threads 1`: the resolution of a check whose runs
# cannot measure their own spread (checks.MeasuredSpread; it applies to the quick preset without overrides).
SPREAD = MeasuredSpread(seeds=5, sd={
    "fraction_rises": 0.0,
    "nonlinear_fraction_shrinks": 0.0202,
    "distance_falls": 0.0256,
    "distance_shrinks": 0.0569,
    "relative_distance_shrinks": 0.0698,
})


@study(
    "linearization",
    claim_id="C9",
    claim="Large λ shrinks W, keeps tanh pre-activations in the linear regime, and makes the whole network "
          "nearly linear.",
    quick={"d": 5, "teacher_hidden": 32, "pool": 300, "train_size": 300, "noise": 0.05, "width": 64, "depth": 2,
           "epochs": 150, "lr": 0.01, "batch_size": 100, "lambdas": [0.0, 0.1, 1.0, 3.0, 10.0, 30.0], "seeds": 1,
           "min_rho": 0.8, "max_end_ratio": 0.5},
    full={"d": 5, "teacher_hidden": 32, "pool": 1500, "train_size": 500, "noise": 0.05, "width": 128, "depth": 2,
          "epochs": 300, "lr": 0.01, "batch_size": 100,
          "lambdas": [0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0], "seeds": 3, "min_rho": 0.8,
          "max_end_ratio": 0.5},
    # penalties too weak to shrink anything: the net stays as non-linear as without one
    breaking={"lambdas": [0.0, 1e-4, 1e-3], "epochs": 60, "width": 32},
)
def linearization(ctx: StudyContext, p: Params) -> Outcome:
    base = ctx.spec({
        "data": {"name": "teacher-mlp",
                 "args": {"d": p.d, "hidden": p.teacher_hidden, "activation": "relu", "n_train": p.pool,
                          "noise": p.noise, "seed": ctx.seed},
                 "train_size": p.train_size if p.train_size < p.pool else None},
        "model": {"name": "mlp", "args": {"width": p.width, "depth": p.depth, "activation": "tanh"}},
        "optim": {"name": "adam", "lr": p.lr, "epochs": p.epochs, "batch_size": p.batch_size},
        "eval_every": p.epochs,
    })
    lams = [float(x) for x in p.lambdas]
    cells = [(lam, s) for lam in lams for s in ctx.seeds(p.seeds)]
    specs = [base.replace(seed=s, **({"reg.l2": lam} if lam > 0 else {})) for lam, s in cells]
    runs = ctx.train(specs, keep_state=True)
    per: dict[float, list[dict[str, Any]]] = {}
    for (lam, _), r in zip(cells, runs, strict=True):
        per.setdefault(lam, []).append(measure(r))

    def avg(lam: float, k: str) -> float:
        vals = [m[k] for m in per[lam] if not (isinstance(m[k], float) and math.isnan(m[k]))]
        return float(np.mean(vals)) if vals else math.nan

    frac_layers = {lam: np.mean([m["fractions"] for m in per[lam]], axis=0) for lam in lams}
    frac = {lam: float(frac_layers[lam][0]) for lam in lams}
    dist = {lam: avg(lam, "distance") for lam in lams}
    rel = {lam: avg(lam, "relative") for lam in lams}
    test = {lam: avg(lam, "test_error") for lam in lams}
    lin_err = avg(lams[0], "linear_fit_test_error")

    rho_frac = float(spearmanr(lams, [frac[x] for x in lams]).statistic)
    rho_dist = float(spearmanr(lams, [dist[x] for x in lams]).statistic)
    lo, hi = lams[0], lams[-1]
    rel_defined = [x for x in lams if not math.isnan(rel[x])]
    rel_last = rel_defined[-1] if rel_defined else None
    rel_end = rel[rel_last] / rel[lo] if rel_last is not None and rel_last != lo else math.nan
    checks = [
        Check("fraction_rises", "Spearman ρ(λ, linear-regime fraction)", rho_frac, ">=", p.min_rho),
        Check("nonlinear_fraction_shrinks", f"fraction outside the linear regime at λ={_key(hi)} / at λ={_key(lo)}",
              (1 - frac[hi]) / (1 - frac[lo]) if frac[lo] < 1 else math.nan, "<=", p.max_end_ratio),
        Check("distance_falls", "Spearman ρ(λ, distance to affine)", rho_dist, "<=", -p.min_rho),
        Check("distance_shrinks", f"distance to affine at λ={_key(hi)} / at λ={_key(lo)}", dist[hi] / dist[lo], "<=",
              p.max_end_ratio),
        Check("relative_distance_shrinks", "relative distance to affine at the largest λ where defined / at λ=0",
              rel_end, "<=", p.max_end_ratio),
    ]

    _figures(ctx, p, lams, frac_layers, dist, rel, test, lin_err, per)

    rel_txt = (f"relative distance {rel[lo]:.2f} → {rel[rel_last]:.2f} (λ={_key(rel_last)})"
               if rel_last is not None else "relative distance undefined")
    summary = (f"As λ grows from {_key(lo)} to {_key(hi)}, the fraction of first-layer tanh "
               f"pre-activations with |z| < {LINEAR_BAND} goes {frac[lo]:.2f} → {frac[hi]:.2f} (Spearman ρ "
               f"{rho_frac:.2f}) and the RMS distance of the net to its own best affine fit {dist[lo]:.3f} → "
               f"{dist[hi]:.3f} (ρ {rho_dist:.2f}; {rel_txt}), while test MSE goes {test[lo]:.4f} → {test[hi]:.4f} "
               f"(linear fit of the data: {lin_err:.4f}).")
    numbers = {
        "linear_regime_fraction": {_key(x): frac[x] for x in lams},
        "linear_regime_fraction_by_layer": {_key(x): {f"layer{i + 1}": float(v) for i, v in enumerate(frac_layers[x])}
                                            for x in lams},
        "distance_to_linear": {_key(x): dist[x] for x in lams},
        "relative_distance_to_linear": {_key(x): (None if math.isnan(rel[x]) else rel[x]) for x in lams},
        "distance_to_data_linear_fit": {_key(x): avg(x, "distance_to_data_fit") for x in lams},
        "test_error": {_key(x): test[x] for x in lams},
        "train_error": {_key(x): avg(x, "train_error") for x in lams},
        "linear_fit_test_error": lin_err,
        "spearman_fraction": rho_frac,
        "spearman_distance": rho_dist,
        "seeds": p.seeds,
    }
    return Outcome(summary=summary, numbers=numbers, checks=SPREAD.apply(checks, ctx))


def _figures(ctx: StudyContext, p: Params, lams: list[float], frac_layers: dict, dist: dict, rel: dict,
             test: dict, lin_err: float, per: dict) -> None:
    # λ = 0 cannot sit on a log axis: draw it at a tenth of the smallest positive λ and say so
    pos = [x for x in lams if x > 0]
    x0 = min(pos) / 10 if pos else 1.0
    xs = [x if x > 0 else x0 for x in lams]
    fig, ax = subplots(3)
    for i in range(len(frac_layers[lams[0]])):
        ax[0].plot(xs, [frac_layers[x][i] for x in lams], "o-", label=f"hidden layer {i + 1}")
    ax[0].set_ylabel(f"fraction of pre-activations with |z| < {LINEAR_BAND}")
    ax[0].set_title("tanh inputs in the linear regime")
    ax[0].set_ylim(0, 1.02)
    ax[1].plot(xs, [dist[x] for x in lams], "o-", color="C3", label="RMS(f − affine fit of f)")
    ax[1].plot(xs, [rel[x] for x in lams], "s--", color="C4", label="same / std(f)")
    ax[1].set_yscale("log")
    ax[1].set_ylabel("distance of the net to affine")
    ax[1].set_title("how far from linear")
    ax[2].plot(xs, [test[x] for x in lams], "o-", color="C0", label="net")
    ax[2].axhline(lin_err, color="k", ls="-.", label="least-squares linear fit")
    ax[2].set_yscale("log")
    ax[2].set_ylabel("test MSE")
    ax[2].set_title("test error")
    for a in ax:
        a.set_xscale("log")
        a.set_xlabel(f"L2 strength λ (seeds' λ/(2m)); λ=0 drawn at {x0:g}")
        a.legend(fontsize=8)
    fig.suptitle(f"{p.depth}×{p.width} tanh MLP on a ReLU-teacher regression (d={p.d}, m={p.train_size})")
    ctx.savefig(fig, "linearization_vs_lambda")

    fig, ax = subplots(1)
    shown = [lams[0], lams[len(lams) // 2], lams[-1]]
    edges = np.linspace(-4, 4, 81)
    for lam, color in zip(dict.fromkeys(shown), ("C3", "C1", "C2"), strict=False):
        z = np.clip(per[lam][0]["z1"], edges[0], edges[-1])
        ax.hist(z, bins=edges, density=True, histtype="step", lw=1.8, color=color, label=f"λ={_key(lam)}")
    ax.axvspan(-LINEAR_BAND, LINEAR_BAND, color="gray", alpha=0.2, label=f"|z| < {LINEAR_BAND} (tanh ≈ linear)")
    ax.set_yscale("log")
    ax.set_xlabel("first-layer pre-activation z (clipped to ±4)")
    ax.set_ylabel("density (test inputs × units)")
    ax.set_title("first-layer pre-activations (seed 0)")
    ax.legend(fontsize=8)
    ctx.savefig(fig, "linearization_preactivations")
