"""C10: inverted dropout keeps expected activations; dropout regularizes and shrinks/spreads weights like L2.

Seed 001 (Ng's course, "Inverted Dropout"): d = rand < keep_prob; a *= d; a /= keep_prob keeps E[a]
unchanged; "why does dropout work": a unit cannot rely on any one input, so it spreads its weights, which
shrinks the squared norm like an L2 penalty, but adaptively (scaled by the size of the activations; Wager,
Wang & Liang 2013, "Dropout training as adaptive regularization"). Three parts:

(a) Monte Carlo: the mean of ``gaplab.models.layers.Dropout`` over many step counters divided by its input
    (``expectation_ratio``, ≈ 1) vs the same masks without the 1/keep_prob (ratio = keep_prob).
(b) An MLP (2 hidden layers, dropout after each) that overfits a small MNIST-1D training set: test accuracy
    per dropout rate and per L2 λ.
(c) The trained weights per rate: total Frobenius norm, first-layer norm and the spread of per-input
    (column) norms — coefficient of variation (CV) and max/mean — of the first layer (raw inputs, not
    dropped in gaplab's MLP) and of the head (its inputs are the dropped hidden units).

Rule (declared as checks; thresholds in the presets; means over seeds): |expectation_ratio − 1| ≤ ``ratio_tol`` for
every rate; the best dropout rate > 0 beats rate 0 by ≥ ``min_gain`` test accuracy; the total weight norm decreases
with the rate: Spearman ρ(rate, norm) ≤ ``max_rho`` (with 4 rates, −0.8 allows one adjacent pair out of order) and
the norm at the largest rate is below the norm at rate 0. The spread (head CV) is reported, not part of the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from gaplab.models.layers import Dropout
from gaplab.spec import RunSpec
from gaplab.studies.framework import (
    Check,
    Measured,
    MeasuredSpread,
    Preset,
    StoredRun,
    Study,
    StudyContext,
    run_seeds,
    run_spec,
    subplots,
)


@dataclass(frozen=True)
class P(Preset):
    rates: list[float]
    lams: list[float]
    train_size: int
    width: int
    epochs: int
    lr: float
    seeds: int
    mc_units: int
    mc_counters: int
    ratio_tol: float
    min_gain: float
    max_rho: float


QUICK = P(rates=[0.0, 0.1, 0.3, 0.5], lams=[0.3, 3.0, 9.0], train_size=300, width=128, epochs=100, lr=0.002, seeds=1,
          mc_units=512, mc_counters=1000, ratio_tol=0.02, min_gain=0.01, max_rho=-0.8)
FULL = replace(QUICK, lams=[0.5, 5.0, 15.0], train_size=500, epochs=150, lr=0.001, seeds=3, mc_units=1024,
               mc_counters=4000)

# Seed-to-seed SD of each check's value over --seed 0-4 of the quick preset (one run seed each), measured
# 2026-12-06 with `benchmarks/verdict_table.py --seeds 0-4 --threads 1`: the resolution of a check whose runs
# cannot measure their own spread (MeasuredSpread; it applies to the quick preset without overrides).
SPREAD = MeasuredSpread(seeds=5, sd={
    "expectation_kept": 0.00107,
    "dropout_helps": 0.00654,
    "norm_falls": 0.0,
    "norm_ends_lower": 0.00944,
})


def mc_expectation(rate: float, n_units: int, counters: int, key: int) -> tuple[float, float, float]:
    """(inverted ratio, non-inverted ratio, worst per-unit |ratio − 1|) of E[dropout(x)] / x by Monte Carlo.

    x is a fixed positive activation vector; each counter draws a fresh mask (the engine sets the counter
    to the step number). Non-inverted dropout is the same mask without dividing by keep_prob.
    """
    g = torch.Generator().manual_seed(key)
    x = 0.5 + torch.rand(n_units, generator=g)
    d = Dropout(rate, key=key).train()
    total = torch.zeros(n_units, dtype=torch.float64)
    for c in range(counters):
        d.counter = c
        total += d(x).double()
    per_unit = total / counters / x.double()
    inv = float(per_unit.mean())
    return inv, inv * (1.0 - rate), float((per_unit - 1).abs().max())


def _weights(run: StoredRun) -> dict[str, float]:
    """Norms and per-input spread of the trained weights of one MLP run."""
    st = run.state
    assert st is not None
    mats = {k: v for k, v in st.items() if k.endswith("weight") and v.dim() == 2}
    w1, head = st["hidden.0.linear.weight"], st["head.weight"]
    c1, ch = w1.norm(dim=0), head.norm(dim=0)  # per-input (column) norms
    return {
        "total": float(math.sqrt(sum(float(v.pow(2).sum()) for v in mats.values()))),
        "first_layer": float(w1.norm()),
        "first_layer_cv": float(c1.std() / c1.mean()),
        "first_layer_max_over_mean": float(c1.max() / c1.mean()),
        "head": float(head.norm()),
        "head_cv": float(ch.std() / ch.mean()),
        "head_max_over_mean": float(ch.max() / ch.mean()),
    }


def specs(p: P, seed: int) -> dict[tuple[int, str, float], RunSpec]:
    """(seed, "dropout" or "l2", rate or λ): one pack, dropout rate and λ vary per model."""
    base = run_spec({"data": {"name": "mnist1d", "train_size": p.train_size},
                     "model": {"name": "mlp", "args": {"width": p.width, "depth": 2}},
                     "optim": {"name": "adam", "lr": p.lr, "epochs": p.epochs, "batch_size": 100},
                     "eval_every": p.epochs}, seed)
    seeds = run_seeds(seed, p.seeds)
    keys = [(s, "dropout", r) for s in seeds for r in p.rates] + [(s, "l2", lam) for s in seeds for lam in p.lams]
    return {(s, kind, v): base.replace(**{"seed": s, "reg.dropout" if kind == "dropout" else "reg.l2": v})
            for s, kind, v in keys}


@dataclass(frozen=True)
class M(Measured):
    expectation_ratio: dict[str, float]
    noninverted_ratio: dict[str, float]
    keep_prob: dict[str, float]
    max_unit_deviation: dict[str, float]
    test_accuracy: dict[str, dict[str, float]]
    train_accuracy: dict[str, dict[str, float]]
    weight_norm: dict[str, dict[str, float]]
    weight_norm_l2: dict[str, dict[str, float]]
    best_rate: float
    accuracy_gain: float
    norm_spearman: float
    spread_spearman: float
    spread_decreases: bool


def measure(ctx: StudyContext, p: P) -> M:
    # (a) Monte Carlo check of the expectation
    mc_rates = [r for r in p.rates if r > 0]
    mc = {r: mc_expectation(r, p.mc_units, p.mc_counters, key=1000 + ctx.seed + i) for i, r in enumerate(mc_rates)}
    # (b) training
    seeds, runs = ctx.seeds(p.seeds), ctx.runs

    def mean(kind: str, v: float, metric: str) -> float:
        return float(np.mean([runs[s, kind, v].final[metric] for s in seeds]))

    acc = {"dropout": {str(r): mean("dropout", r, "test_acc") for r in p.rates},
           "l2": {str(lam): mean("l2", lam, "test_acc") for lam in p.lams}}
    # (c) weights
    wn = {r: {k: float(np.mean([_weights(runs[s, "dropout", r])[k] for s in seeds]))
              for k in _weights(runs[seeds[0], "dropout", r])} for r in p.rates}
    r0, rmax = min(p.rates), max(p.rates)
    best_rate = max(mc_rates, key=lambda r: acc["dropout"][str(r)])
    # rounded: Spearman's ρ of 4 ranks is exactly −0.8 with one adjacent pair swapped, up to float error
    rho_spread = round(float(spearmanr(p.rates, [wn[r]["head_cv"] for r in p.rates])[0]), 9)
    return M(
        expectation_ratio={str(r): v[0] for r, v in mc.items()},
        noninverted_ratio={str(r): v[1] for r, v in mc.items()},
        keep_prob={str(r): 1 - r for r in mc_rates}, max_unit_deviation={str(r): v[2] for r, v in mc.items()},
        test_accuracy=acc,
        train_accuracy={"dropout": {str(r): mean("dropout", r, "train_acc") for r in p.rates},
                        "l2": {str(lam): mean("l2", lam, "train_acc") for lam in p.lams}},
        weight_norm={str(r): wn[r] for r in p.rates},
        weight_norm_l2={str(lam): {k: float(np.mean([_weights(runs[s, "l2", lam])[k] for s in seeds]))
                                   for k in ("total", "first_layer", "head_cv")} for lam in p.lams},
        best_rate=best_rate, accuracy_gain=acc["dropout"][str(best_rate)] - acc["dropout"][str(r0)],
        norm_spearman=round(float(spearmanr(p.rates, [wn[r]["total"] for r in p.rates])[0]), 9),
        spread_spearman=rho_spread,
        spread_decreases=bool(rho_spread <= p.max_rho and wn[rmax]["head_cv"] < wn[r0]["head_cv"]))


def checks(m: M, p: P) -> list[Check]:
    r0, rmax = str(min(p.rates)), str(max(p.rates))
    return [
        Check("expectation_kept", "largest |E[dropout(x)]/x − 1| over the rates (Monte Carlo)",
              max(abs(v - 1) for v in m.expectation_ratio.values()), "<=", p.ratio_tol),
        Check("dropout_helps", "best dropout rate's test accuracy − rate 0's", m.accuracy_gain, ">=", p.min_gain),
        Check("norm_falls", "Spearman ρ(rate, total weight norm)", m.norm_spearman, "<=", p.max_rho),
        Check("norm_ends_lower", f"total weight norm at rate {max(p.rates):g} / at rate {min(p.rates):g}",
              m.weight_norm[rmax]["total"] / m.weight_norm[r0]["total"], "<", 1.0),
    ]


def summary(m: M, p: P) -> str:
    ratio, acc_d, acc_l2, wn = m.expectation_ratio, m.test_accuracy["dropout"], m.test_accuracy["l2"], m.weight_norm
    r0, rmax = str(min(p.rates)), str(max(p.rates))
    best_lam = max(p.lams, key=lambda lam: acc_l2[str(lam)])
    return (f"Inverted dropout's mean output / input = "
            f"{min(ratio.values()):.3f}–{max(ratio.values()):.3f} (without the "
            f"1/keep_prob it is keep_prob). Test accuracy {acc_d[r0]:.3f} without dropout vs "
            f"{acc_d[str(m.best_rate)]:.3f} at rate {m.best_rate:g} (best L2 λ={best_lam:g}: "
            f"{acc_l2[str(best_lam)]:.3f}); total weight norm {wn[r0]['total']:.2f} → {wn[rmax]['total']:.2f} from "
            f"rate 0 to {max(p.rates):g} (Spearman ρ = {m.norm_spearman:.2f}). Spread of the head's per-input norms "
            f"(CV) {wn[r0]['head_cv']:.3f} → {wn[rmax]['head_cv']:.3f} "
            f"({'more' if m.spread_decreases else 'not clearly more'} even; first layer, whose raw inputs are not "
            f"dropped: {wn[r0]['first_layer_cv']:.3f} → {wn[rmax]['first_layer_cv']:.3f}).")


def _expectation_panel(a: Any, m: M, p: P) -> None:
    mc_rates = [r for r in p.rates if r > 0]
    xs = np.arange(len(mc_rates))
    a.bar(xs - 0.2, [m.expectation_ratio[str(r)] for r in mc_rates], 0.4, label="inverted (÷ keep_prob)")
    a.bar(xs + 0.2, [m.noninverted_ratio[str(r)] for r in mc_rates], 0.4, label="not inverted")
    a.axhline(1.0, color="k", lw=0.8)
    a.plot(xs + 0.2, [1 - r for r in mc_rates], "k_", markersize=18, mew=2, label="keep_prob")
    a.set_xticks(xs, [f"{r:g}" for r in mc_rates])
    a.set(xlabel="dropout rate (1 − keep_prob)", ylabel="E[dropout(x)] / x (Monte Carlo)", ylim=(0, 1.3))
    a.set_title(f"(a) expectation over {p.mc_counters} masks", fontsize=9)
    a.legend(fontsize=7, loc="upper center", ncol=3)


def _accuracy_panel(a: Any, m: M, p: P) -> None:
    rates = [str(r) for r in p.rates if r > 0]
    r0, lams = str(min(p.rates)), [str(lam) for lam in p.lams]
    te, tr = m.test_accuracy, m.train_accuracy
    labels = ["none"] + [f"dropout {float(r):g}" for r in rates] + [f"L2 λ={float(lam):g}" for lam in lams]
    tests = [te["dropout"][r0]] + [te["dropout"][r] for r in rates] + [te["l2"][lam] for lam in lams]
    trains = [tr["dropout"][r0]] + [tr["dropout"][r] for r in rates] + [tr["l2"][lam] for lam in lams]
    xb = np.arange(len(labels))
    a.bar(xb, tests, color=["gray"] + ["C0"] * len(rates) + ["C3"] * len(lams), label="test accuracy")
    a.plot(xb, trains, "k_", markersize=14, mew=2, label="train accuracy")
    a.axhline(te["dropout"][r0], color="gray", ls=":", lw=1)
    a.set_xticks(xb, labels, rotation=35, ha="right", fontsize=8)
    a.set(ylabel="accuracy", ylim=(0, 1.05))
    a.set_title(f"(b) MLP on {p.train_size} MNIST-1D examples", fontsize=9)
    a.legend(fontsize=7, loc="center left")


def figures(m: M, p: P) -> dict[str, Any]:
    fig, ax = subplots(3)
    _expectation_panel(ax[0], m, p)
    _accuracy_panel(ax[1], m, p)
    wn, r0 = m.weight_norm, str(min(p.rates))
    for key, style, label in (("total", "o-", "total ‖W‖_F"), ("first_layer", "^-", "first layer ‖W₁‖_F"),
                              ("head_cv", "s--", "head: CV of per-input norms"),
                              ("first_layer_cv", "d--", "first layer: CV of per-input norms")):
        ax[2].plot(p.rates, [wn[str(r)][key] / wn[r0][key] for r in p.rates], style, label=label)
    ax[2].axhline(1.0, color="k", lw=0.8)
    ax[2].set(xlabel="dropout rate", ylabel="relative to rate 0")
    ax[2].set_title("(c) weight norm and spread", fontsize=9)
    ax[2].legend(fontsize=7)
    return {"dropout": fig}


STUDY = Study(
    "dropout", "C10",
    "Inverted dropout keeps expected activations unchanged; dropout spreads weights and acts like an adaptive L2.",
    quick=QUICK, full=FULL, specs=specs, measure=measure, checks=checks, figures=figures, summary=summary,
    spread=SPREAD, keep_state=True,
    breaking={"epochs": 5},  # five epochs: nothing overfits yet, so dropout cannot improve test accuracy
)
