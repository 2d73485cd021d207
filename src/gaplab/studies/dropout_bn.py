"""C6: in a residual network with batch norm, dropout looks redundant although each helps alone.

Setup (seed document 000 answer 2; the "disharmony" of dropout and BN, Li et al. 2019): a small ResNet
(``model.name: resnet``) on sklearn digits (1×8×8) with a small training set, in four variants: none, dropout
(before the linear head, where the ResNet has it), batch norm, both. Batch norm here never keeps running
statistics (vmap-stacked models cannot update buffers, see models/resnet.py), so evaluation also normalizes with
the statistics of the evaluated batch (the whole test set at once) — transductive, but the same for every variant.

Rule (declared as checks; thresholds in the presets; seed-averaged, dropout runs paired with no-dropout runs of
the same seed, hence the same training subset and initial weights): dropout helps alone (gain without BN above
``min_gain``) and helps less with BN (gain without BN − gain with BN above ``min_gain_drop``). Each check's
resolution is ``resolution_se`` standard errors of its paired difference over seeds: at the quick preset's size the
effect is about one standard error, so the quick verdict is "undecided at this size".

The full preset stays undecided too, honestly: the effect it must resolve is +0.01 test accuracy at most. Measured
(one thread, 2026-12-01): with its set-up (16 channels, 2 blocks, 100 epochs, n=300) dropout 0.2 gains +0.010
(SE 0.008) without BN and −0.009 (SE 0.003) with BN over run seeds 0-19 (``--seed 0``: undecided, "dropout helps
alone" at 0.68 resolutions, the gain drop at 1.08); seeds 0-9 alone gave +0.025 (SE 0.008). Run seeds 20-39
(``--seed 1``): −0.007 (SE 0.006) without BN, −0.011 (SE 0.003) with BN: undecided (−0.59 and 0.27 resolutions).
Over those 40 seeds dropout's gain without BN is ≈ +0.002 ± 0.005 and with BN ≈ −0.010 ± 0.002: with BN dropout is
useless (slightly harmful), but here it does not measurably help alone either. The paired difference has a
seed-to-seed spread of ≈0.03 (a few dropout runs without BN end far lower), so resolving even a +0.01 gain at one
resolution (2 SE) needs ≈100-180 seeds, i.e. 400-700 runs (≈15-30 min of one core) instead of 80 (≈3.5-4 min).
Set-ups tried to make the effect larger (8-12 seeds each; gains without BN between −0.03 and +0.03, |t| < 2 but for
the full set-up's first 10 seeds): 8 channels or 1 block (the net does not fit its training set without BN, train
accuracy 0.84-0.98, and dropout at its 8-16-feature bottleneck hurts), Adam 1e-3 (fits even less in 100 epochs),
n=150, 32 channels (n=150: +0.026, t=1.5), and MNIST-1D (n=1000: +0.006). Dropout 0.5 hurts with and without BN
(−0.014 and −0.016, seeds 0-9). Dropout inside the residual blocks (where wide ResNets use it) would need a model
change; the model places it before the linear head only.
"""

from __future__ import annotations

import math

import numpy as np

from gaplab.studies.base import Outcome, Params, StudyContext, study
from gaplab.studies.checks import Check, standard_error
from gaplab.studies.plotting import subplots


@study(
    "dropout-bn",
    claim_id="C6",
    claim="In residual networks with batch normalization, dropout looks redundant even though each helps alone.",
    quick={"train_size": 300, "epochs": 60, "seeds": 4, "channels": 8, "blocks": 1, "dropout": 0.2,
           "extra_dropouts": [], "min_gain": 0.0, "min_gain_drop": 0.0, "resolution_se": 2.0},
    full={"train_size": 300, "epochs": 100, "seeds": 20, "channels": 16, "blocks": 2, "dropout": 0.2,
          "extra_dropouts": [], "min_gain": 0.0, "min_gain_drop": 0.0, "resolution_se": 2.0},
    # dropping 90 % of the pooled features hurts with or without BN: dropout no longer "helps alone"
    breaking={"dropout": 0.9},
)
def dropout_bn(ctx: StudyContext, p: Params) -> Outcome:
    rates = [0.0, float(p.dropout), *[float(r) for r in p.extra_dropouts]]
    seeds = ctx.seeds(p.seeds)
    base = ctx.spec({"data": {"name": "digits", "train_size": p.train_size},
                     "model": {"name": "resnet", "args": {"channels": p.channels, "blocks": p.blocks}},
                     "optim": {"name": "adam", "lr": 1e-2, "epochs": p.epochs, "batch_size": 50},
                     "eval_every": p.epochs})
    keys, specs = [], []
    for bn in (False, True):
        for r in rates:
            for sd in seeds:
                keys.append((bn, r, sd))
                specs.append(base.replace(**{"model.args.batch_norm": bn, "reg.dropout": r, "seed": sd}))
    runs = ctx.train(specs)
    acc = {k: float(r.final["test_acc"]) for k, r in zip(keys, runs, strict=True)}
    tr = {k: float(r.final["train_acc"]) for k, r in zip(keys, runs, strict=True)}

    def stats(bn: bool, r: float) -> tuple[float, float]:
        v = [acc[(bn, r, s)] for s in seeds]
        return float(np.mean(v)), float(np.std(v))

    def paired_gain(bn: bool, r: float) -> tuple[float, float]:
        d = np.array([acc[(bn, r, s)] - acc[(bn, 0.0, s)] for s in seeds])
        return float(d.mean()), standard_error(d)

    variant = {"none": (False, 0.0), "dropout": (False, p.dropout), "batch_norm": (True, 0.0),
               "both": (True, p.dropout)}
    test_acc = {name: stats(*k)[0] for name, k in variant.items()}
    test_std = {name: stats(*k)[1] for name, k in variant.items()}
    g0, se0 = paired_gain(False, p.dropout)
    g1, se1 = paired_gain(True, p.dropout)
    d_gain = np.array([(acc[(False, p.dropout, s)] - acc[(False, 0.0, s)]) - (acc[(True, p.dropout, s)]
                       - acc[(True, 0.0, s)]) for s in seeds])
    se_drop = standard_error(d_gain)
    checks = [
        Check("dropout_helps_alone", f"test-accuracy gain from dropout {p.dropout:g} without BN", g0, ">", p.min_gain,
              resolution=p.resolution_se * se0),
        Check("less_with_bn", "gain without BN − gain with BN", g0 - g1, ">", p.min_gain_drop,
              resolution=p.resolution_se * se_drop),
    ]
    bn_gain = test_acc["batch_norm"] - test_acc["none"]

    fig, ax = subplots(2)
    names = list(variant)
    ys = [test_acc[n] for n in names]
    ax[0].bar(names, ys, yerr=[test_std[n] for n in names], capsize=3, color=["C7", "C0", "C1", "C2"])
    lo = min(min(acc.values()), 0.9) - 0.05
    for i, n in enumerate(names):
        pts = [acc[(*variant[n], s)] for s in seeds]
        ax[0].plot([i] * len(pts), pts, "k.", ms=4)
        ax[0].text(i, lo + 0.01, f"mean\n{ys[i]:.3f}", ha="center", fontsize=8, color="white")
    ax[0].set_ylim(lo, 1.0)
    ax[0].set_ylabel("test accuracy (fraction correct)")
    ax[0].set_title(f"ResNet on digits, n={p.train_size}; dots: {len(seeds)} seeds")
    for bn, c in ((False, "C0"), (True, "C1")):
        gs = [(0.0, 0.0)] + [paired_gain(bn, r) for r in rates[1:]]  # rate 0 is the reference: gain 0
        ax[1].errorbar(rates, [g for g, _ in gs], yerr=[0 if not math.isfinite(s) else 2 * s for _, s in gs],
                       fmt="o-", color=c, capsize=3, label="with batch norm" if bn else "without batch norm")
    ax[1].axhline(0, color="gray", lw=0.8)
    ax[1].set_xlabel("dropout rate (before the linear head)")
    ax[1].set_ylabel("test-accuracy gain from dropout (± 2 SE)")
    ax[1].set_title("paired by seed vs dropout 0")
    ax[1].legend(fontsize=8)
    ctx.savefig(fig, "dropout_bn")

    others = "".join(f"; at rate {r:g}: {paired_gain(False, r)[0]:+.3f} without, {paired_gain(True, r)[0]:+.3f} with BN"
                     for r in rates[2:])
    summary = (
        f"Dropout {p.dropout:g} changes test accuracy by {g0:+.3f} (SE {se0:.3f}) without batch norm and by "
        f"{g1:+.3f} (SE {se1:.3f}) with it ({len(seeds)} seeds; none {test_acc['none']:.3f}, dropout "
        f"{test_acc['dropout']:.3f}, BN {test_acc['batch_norm']:.3f}, both {test_acc['both']:.3f}{others})."
    )
    numbers = {
        "test_accuracy": test_acc,
        "test_accuracy_std": test_std,
        "train_accuracy": {n: float(np.mean([tr[(*k, s)] for s in seeds])) for n, k in variant.items()},
        "dropout_gain_without_bn": g0,
        "dropout_gain_with_bn": g1,
        "dropout_gain_se_without_bn": se0,
        "dropout_gain_se_with_bn": se1,
        "gain_difference_se": se_drop,
        "batch_norm_gain": bn_gain,
        "dropout_gain_by_rate": {("bn" if bn else "no_bn"): {str(r): paired_gain(bn, r)[0] for r in rates[1:]}
                                 for bn in (False, True)},
        "seeds": len(seeds),
    }
    return Outcome(summary=summary, numbers=numbers, checks=checks)
