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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from gaplab.engine import prepared_for
from gaplab.spec import RunSpec
from gaplab.studies.framework import (
    Check,
    Measured,
    MeasuredSpread,
    Preset,
    StoredRun,
    Study,
    StudyContext,
    aside,
    run_seeds,
    run_spec,
    subplots,
)
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


def measure_run(run: StoredRun) -> dict[str, Any]:
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
# cannot measure their own spread (MeasuredSpread; it applies to the quick preset without overrides).
SPREAD = MeasuredSpread(seeds=5, sd={
    "fraction_rises": 0.0,
    "nonlinear_fraction_shrinks": 0.0202,
    "distance_falls": 0.0256,
    "distance_shrinks": 0.0569,
    "relative_distance_shrinks": 0.0698,
})


@dataclass(frozen=True)
class P(Preset):
    d: int
    teacher_hidden: int
    pool: int
    train_size: int
    noise: float
    width: int
    depth: int
    epochs: int
    lr: float
    batch_size: int
    lambdas: list[float]
    seeds: int
    min_rho: float
    max_end_ratio: float


QUICK = P(d=5, teacher_hidden=32, pool=300, train_size=300, noise=0.05, width=64, depth=2, epochs=150, lr=0.01,
          batch_size=100, lambdas=[0.0, 0.1, 1.0, 3.0, 10.0, 30.0], seeds=1, min_rho=0.8, max_end_ratio=0.5)
FULL = replace(QUICK, pool=1500, train_size=500, width=128, epochs=300,
               lambdas=[0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0], seeds=3)


def _lams(p: P) -> list[float]:
    return [float(x) for x in p.lambdas]


def specs(p: P, seed: int) -> dict[tuple[float, int], RunSpec]:
    """(λ, seed): a tanh MLP on a ReLU-teacher regression under L2 of every strength."""
    base = run_spec({
        "data": {"name": "teacher-mlp",
                 "args": {"d": p.d, "hidden": p.teacher_hidden, "activation": "relu", "n_train": p.pool,
                          "noise": p.noise, "seed": seed},
                 "train_size": p.train_size if p.train_size < p.pool else None},
        "model": {"name": "mlp", "args": {"width": p.width, "depth": p.depth, "activation": "tanh"}},
        "optim": {"name": "adam", "lr": p.lr, "epochs": p.epochs, "batch_size": p.batch_size},
        "eval_every": p.epochs,
    }, seed)
    return {(lam, s): base.replace(seed=s, **({"reg.l2": lam} if lam > 0 else {}))
            for lam in _lams(p) for s in run_seeds(seed, p.seeds)}


@dataclass(frozen=True)
class M(Measured):
    linear_regime_fraction: dict[str, float]
    linear_regime_fraction_by_layer: dict[str, dict[str, float]]
    distance_to_linear: dict[str, float]
    relative_distance_to_linear: dict[str, float | None]
    distance_to_data_linear_fit: dict[str, float]
    test_error: dict[str, float]
    train_error: dict[str, float]
    linear_fit_test_error: float
    spearman_fraction: float
    spearman_distance: float
    seeds: int
    first_layer_z: dict[float, np.ndarray] = aside()  # the first seed's first-layer pre-activations


def measure(ctx: StudyContext, p: P) -> M:
    lams = _lams(p)
    per: dict[float, list[dict[str, Any]]] = {}
    for (lam, _), r in ctx.runs.items():
        per.setdefault(lam, []).append(measure_run(r))

    def avg(lam: float, k: str) -> float:
        vals = [m[k] for m in per[lam] if not (isinstance(m[k], float) and math.isnan(m[k]))]
        return float(np.mean(vals)) if vals else math.nan

    frac_layers = {lam: np.mean([m["fractions"] for m in per[lam]], axis=0) for lam in lams}
    frac = {lam: float(frac_layers[lam][0]) for lam in lams}
    dist = {lam: avg(lam, "distance") for lam in lams}
    rel = {lam: avg(lam, "relative") for lam in lams}
    return M(
        linear_regime_fraction={_key(x): frac[x] for x in lams},
        linear_regime_fraction_by_layer={_key(x): {f"layer{i + 1}": float(v) for i, v in enumerate(frac_layers[x])}
                                         for x in lams},
        distance_to_linear={_key(x): dist[x] for x in lams},
        relative_distance_to_linear={_key(x): (None if math.isnan(rel[x]) else rel[x]) for x in lams},
        distance_to_data_linear_fit={_key(x): avg(x, "distance_to_data_fit") for x in lams},
        test_error={_key(x): avg(x, "test_error") for x in lams},
        train_error={_key(x): avg(x, "train_error") for x in lams},
        linear_fit_test_error=avg(lams[0], "linear_fit_test_error"),
        spearman_fraction=float(spearmanr(lams, [frac[x] for x in lams]).statistic),
        spearman_distance=float(spearmanr(lams, [dist[x] for x in lams]).statistic),
        seeds=p.seeds, first_layer_z={lam: per[lam][0]["z1"] for lam in lams})


def _relative_end(m: M, p: P) -> tuple[str | None, float]:
    """The largest λ where the relative distance is defined, and its relative distance over λ=0's."""
    rel, lo = m.relative_distance_to_linear, _key(_lams(p)[0])
    defined = [k for k, v in rel.items() if v is not None]
    last = defined[-1] if defined else None
    if last is None or last == lo or rel[lo] is None:
        return last, math.nan
    return last, rel[last] / rel[lo]  # type: ignore[operator]


def checks(m: M, p: P) -> list[Check]:
    lo, hi = _key(_lams(p)[0]), _key(_lams(p)[-1])
    frac, dist = m.linear_regime_fraction, m.distance_to_linear
    return [
        Check("fraction_rises", "Spearman ρ(λ, linear-regime fraction)", m.spearman_fraction, ">=", p.min_rho),
        Check("nonlinear_fraction_shrinks", f"fraction outside the linear regime at λ={hi} / at λ={lo}",
              (1 - frac[hi]) / (1 - frac[lo]) if frac[lo] < 1 else math.nan, "<=", p.max_end_ratio),
        Check("distance_falls", "Spearman ρ(λ, distance to affine)", m.spearman_distance, "<=", -p.min_rho),
        Check("distance_shrinks", f"distance to affine at λ={hi} / at λ={lo}", dist[hi] / dist[lo], "<=",
              p.max_end_ratio),
        Check("relative_distance_shrinks", "relative distance to affine at the largest λ where defined / at λ=0",
              _relative_end(m, p)[1], "<=", p.max_end_ratio),
    ]


def summary(m: M, p: P) -> str:
    lo, hi = _key(_lams(p)[0]), _key(_lams(p)[-1])
    frac, dist, test, rel = m.linear_regime_fraction, m.distance_to_linear, m.test_error, m.relative_distance_to_linear
    last = _relative_end(m, p)[0]
    rel_lo = math.nan if rel[lo] is None else rel[lo]
    rel_txt = (f"relative distance {rel_lo:.2f} → {rel[last]:.2f} (λ={last})"
               if last is not None else "relative distance undefined")
    return (f"As λ grows from {lo} to {hi}, the fraction of first-layer tanh "
            f"pre-activations with |z| < {LINEAR_BAND} goes {frac[lo]:.2f} → {frac[hi]:.2f} (Spearman ρ "
            f"{m.spearman_fraction:.2f}) and the RMS distance of the net to its own best affine fit {dist[lo]:.3f} → "
            f"{dist[hi]:.3f} (ρ {m.spearman_distance:.2f}; {rel_txt}), while test MSE goes {test[lo]:.4f} → "
            f"{test[hi]:.4f} (linear fit of the data: {m.linear_fit_test_error:.4f}).")


def _figure_vs_lambda(m: M, p: P) -> Any:
    lams = _lams(p)
    frac_layers = {x: list(m.linear_regime_fraction_by_layer[_key(x)].values()) for x in lams}
    dist = {x: m.distance_to_linear[_key(x)] for x in lams}
    rel = {x: math.nan if (v := m.relative_distance_to_linear[_key(x)]) is None else v for x in lams}
    test, lin_err = {x: m.test_error[_key(x)] for x in lams}, m.linear_fit_test_error
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
    return fig


def _figure_preactivations(m: M, p: P) -> Any:
    lams = _lams(p)
    fig, ax = subplots(1)
    shown = [lams[0], lams[len(lams) // 2], lams[-1]]
    edges = np.linspace(-4, 4, 81)
    for lam, color in zip(dict.fromkeys(shown), ("C3", "C1", "C2"), strict=False):
        z = np.clip(m.first_layer_z[lam], edges[0], edges[-1])
        ax.hist(z, bins=edges, density=True, histtype="step", lw=1.8, color=color, label=f"λ={_key(lam)}")
    ax.axvspan(-LINEAR_BAND, LINEAR_BAND, color="gray", alpha=0.2, label=f"|z| < {LINEAR_BAND} (tanh ≈ linear)")
    ax.set_yscale("log")
    ax.set_xlabel("first-layer pre-activation z (clipped to ±4)")
    ax.set_ylabel("density (test inputs × units)")
    ax.set_title("first-layer pre-activations (seed 0)")
    ax.legend(fontsize=8)
    return fig


def figures(m: M, p: P) -> dict[str, Any]:
    return {"linearization_vs_lambda": _figure_vs_lambda(m, p),
            "linearization_preactivations": _figure_preactivations(m, p)}


STUDY = Study(
    "linearization", "C9",
    "Large λ shrinks W, keeps tanh pre-activations in the linear regime, and makes the whole network "
    "nearly linear.",
    quick=QUICK, full=FULL, specs=specs, measure=measure, checks=checks, figures=figures, summary=summary,
    spread=SPREAD, keep_state=True,
    # penalties too weak to shrink anything: the net stays as non-linear as without one
    breaking={"lambdas": [0.0, 1e-4, 1e-3], "epochs": 60, "width": 32},
)
