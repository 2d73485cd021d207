"""C8: the L2 penalty λ/(2m)·Σ‖W‖²_F is "weight decay" under plain SGD, but not under Adam.

Seed 001 (Ng's course): the penalty adds (λ/m)·W to the gradient, so one SGD step is
W ← W(1 − αλ/m) − α·backprop. gaplab's ``reg.l2`` is that penalty in the loss; ``reg.weight_decay`` is
decoupled decay W ← W − α·wd·W (engine/optim.py). With wd = λ/m the two SGD runs are the same algorithm
and differ only by float rounding; under Adam the penalty's gradient is divided by the adaptive
denominator while decoupled decay is not (Loshchilov & Hutter 2019, "Decoupled Weight Decay
Regularization"), so Adam+L2 and AdamW drift apart from the first steps.

Mini-batch SGD on a ReLU net amplifies tiny differences chaotically: after a few hundred steps the SGD
pair (whose float32 decay factor fl(1 − αλ/m) alone shifts the effective λ by δ ≈ 1e-5, relative) ends
~1e-3..1e-2 apart, so an end-of-training comparison cannot tell "identical" from "slightly different". The
rule is therefore checked after ``check_epochs`` epochs (before that amplification), and the whole-run
picture is drawn and reported: |ΔW| per epoch for the SGD pair, the Adam pair and a rounding control
(SGD+L2 with λ vs λ(1−δ), the λ the decoupled run effectively uses in float32).

Rule (declared as checks; thresholds in the presets; after ``check_epochs``, worst case over seeds): the SGD pair's
largest parameter difference is below ``sgd_tol`` (float rounding), the Adam pair's is above ``adam_min`` and above
``min_ratio`` × the SGD pair's. The SGD check's resolution is the rounding control's distance after ``check_epochs``
(worst seed). Until 2026-12-06 the check was declared exact. At ``--seed 12`` (quick) the SGD pair ended 1.3e-4
apart, against 1.6e-7 to 1.8e-7 at every other seed from 5 to 14, while the rounding control stayed at 0. The
cause is not known: it is not the λ rounding that the control perturbs. The verdict there is "did not hold".
Biases are penalized too (``reg.penalize_bias``) because decoupled decay shrinks
every parameter.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from gaplab.studies.base import Outcome, Params, StoredRun, StudyContext, study
from gaplab.studies.checks import Check, MeasuredSpread
from gaplab.studies.plotting import subplots

MIN_ROUNDING = 1e-6  # smallest relative change of λ in the rounding control


def decay_rounding(lr: float, wd: float) -> float:
    """Relative error δ of the float32 decay factor: fl(1 − lr·wd) = 1 − lr·wd·(1 − δ), as the engine computes it."""
    factor = float((1 - torch.tensor([lr]) * torch.tensor([wd])).double())
    return (factor - (1 - lr * wd)) / (lr * wd) if lr * wd > 0 else 0.0


NAMES = {"sgd": "SGD, no reg.", "sgd+l2": "SGD + L2", "sgd+wd": "SGD + decay", "adam": "Adam, no reg.",
         "adam+l2": "Adam + L2", "adamw+wd": "AdamW (decoupled)", "sgd+l2'": "SGD + L2, λ(1−δ)"}


def _max_param_diff(a: StoredRun, b: StoredRun) -> float:
    """Largest absolute difference between two runs' final parameters (same architecture)."""
    assert a.state is not None and b.state is not None
    return max(float((a.state[k] - b.state[k]).abs().max()) for k in a.state)


def _total_norm(row: dict[str, Any]) -> float:
    """√(Σ over penalized tensors of ‖W‖²_F) from one history/final row."""
    return math.sqrt(sum(v * v for k, v in row.items() if k.startswith("wnorm/") and v is not None))

# Seed-to-seed SD of each check's value over --seed 0-4 of the quick preset (one run seed each), measured
# 2026-12-06 with `benchmarks/verdict_table.py --seeds 0-4 --threads 1`: the resolution of a check whose runs
# cannot measure their own spread (checks.MeasuredSpread; it applies to the quick preset without overrides).
SPREAD = MeasuredSpread(seeds=5, sd={"adam_differs": 0.00359}, log_sd={"adam_gap_dwarfs_sgd": 0.103})


@study(
    "weight-decay",
    claim_id="C8",
    claim="The L2 penalty λ/(2m)·Σ‖W‖² multiplies W by (1−αλ/m) each SGD step (weight decay); "
          "with Adam the L2 penalty and decoupled weight decay differ.",
    quick={"train_size": 1000, "width": 64, "epochs": 12, "check_epochs": 2, "curve_epochs": [1, 4],
           "batch_size": 100, "lam": 20.0, "wd_factor": 1.0, "sgd_lr": 0.1, "adam_lr": 0.003, "seeds": 1,
           "long_seeds": 1, "sgd_tol": 1e-4, "adam_min": 1e-3, "min_ratio": 100.0},
    full={"train_size": 4000, "width": 128, "epochs": 20, "check_epochs": 2, "curve_epochs": [1, 5, 10],
          "batch_size": 100, "lam": 40.0, "wd_factor": 1.0, "sgd_lr": 0.1, "adam_lr": 0.003, "seeds": 3,
          "long_seeds": 2, "sgd_tol": 1e-4, "adam_min": 1e-3, "min_ratio": 100.0},
    # a wrong mapping wd = 1.2·λ/m: the SGD pair is no longer the same algorithm
    breaking={"wd_factor": 1.2, "epochs": 2, "curve_epochs": [1]},
)
def weight_decay(ctx: StudyContext, p: Params) -> Outcome:
    m = p.train_size
    seeds = ctx.seeds(max(p.seeds, p.long_seeds))
    check_seeds, lseeds = seeds[:p.seeds], seeds[:p.long_seeds]
    wd = p.wd_factor * p.lam / m  # the seeds' mapping is wd = λ/m; wd_factor ≠ 1 is a deliberately wrong mapping
    base = ctx.spec({"data": {"name": "mnist1d", "train_size": m},
                     "model": {"name": "mlp", "args": {"width": p.width}},
                     "optim": {"name": "sgd", "lr": p.sgd_lr, "epochs": p.epochs, "batch_size": p.batch_size},
                     "reg": {"penalize_bias": True}})
    # Rounding control: L2 with λ(1−δ), δ the float32 error of the decay factor 1 − αλ/m, i.e. the λ that the
    # decoupled run effectively uses; its distance from SGD+L2 is what rounding alone amplifies to.
    delta = decay_rounding(p.sgd_lr, wd)
    if abs(delta) < MIN_ROUNDING:
        delta = -MIN_ROUNDING
    adam = {"optim.name": "adam", "optim.lr": p.adam_lr}
    variants = {  # label -> spec changes
        "sgd": {}, "sgd+l2": {"reg.l2": p.lam}, "sgd+wd": {"reg.weight_decay": wd},
        "sgd+l2'": {"reg.l2": p.lam * (1 - delta)},
        "adam": adam, "adam+l2": {**adam, "reg.l2": p.lam},
        "adamw+wd": {**adam, "optim.name": "adamw", "reg.weight_decay": wd},
    }
    pairs = ("sgd+l2", "sgd+wd", "sgd+l2'", "adam+l2", "adamw+wd")
    # (seed, epochs, label): full-length runs of every variant (long_seeds); short runs of the pairs for the
    # rule (all seeds) and for the |ΔW|-per-epoch curve (first long seed). Batches are keyed by (seed, epoch), so a
    # k-epoch run is exactly the first k epochs of the long one.
    keys = [(s, p.epochs, v) for s in lseeds for v in variants]
    keys += [(s, p.check_epochs, v) for s in check_seeds for v in pairs]
    keys += [(lseeds[0], e, v) for e in p.curve_epochs if e not in (p.epochs, p.check_epochs) for v in pairs]
    specs = [base.replace(**{"seed": s, "optim.epochs": e, "eval_every": 1 if e == p.epochs else e, **variants[v]})
             for s, e, v in keys]
    runs = dict(zip(keys, ctx.train(specs, keep_state=True), strict=True))

    def diff(s: int, e: int, a: str, b: str) -> float:
        return _max_param_diff(runs[s, e, a], runs[s, e, b])

    ce = p.check_epochs
    sgd_diffs = [diff(s, ce, "sgd+l2", "sgd+wd") for s in check_seeds]
    adam_diffs = [diff(s, ce, "adam+l2", "adamw+wd") for s in check_seeds]
    sgd_diff, adam_diff = max(sgd_diffs), min(adam_diffs)
    # what float rounding alone amplifies to by then (the rounding control): the SGD pair's resolution
    ctl_check = max(diff(s, ce, "sgd+l2", "sgd+l2'") for s in check_seeds)
    final_sgd = max(diff(s, p.epochs, "sgd+l2", "sgd+wd") for s in lseeds)
    final_adam = min(diff(s, p.epochs, "adam+l2", "adamw+wd") for s in lseeds)
    final_ctl = max(diff(s, p.epochs, "sgd+l2", "sgd+l2'") for s in lseeds)
    test_acc = {v: float(np.mean([runs[s, p.epochs, v].final["test_acc"] for s in lseeds])) for v in variants}
    final_norm = {v: float(np.mean([_total_norm(runs[s, p.epochs, v].final) for s in lseeds])) for v in variants}
    checks = [
        Check("sgd_same", f"SGD+L2 vs SGD+decay after {p.check_epochs} epochs: max |ΔW|", sgd_diff, "<", p.sgd_tol,
              resolution=ctl_check),
        Check("adam_differs", f"Adam+L2 vs AdamW after {p.check_epochs} epochs: max |ΔW|", adam_diff, ">",
              p.adam_min),
        Check("adam_gap_dwarfs_sgd", "Adam pair's max |ΔW| / SGD pair's",
              adam_diff / sgd_diff if sgd_diff > 0 else math.inf, ">", p.min_ratio),
    ]

    s0 = lseeds[0]
    epochs_axis = sorted({e for (s, e, _) in runs if s == s0})
    curve = {name: [diff(s0, e, a, b) for e in epochs_axis] for name, (a, b) in
             {"sgd": ("sgd+l2", "sgd+wd"), "adam": ("adam+l2", "adamw+wd"), "ctl": ("sgd+l2", "sgd+l2'")}.items()}

    fig, ax = subplots(3)
    styles = {"sgd": ("gray", "-", None), "sgd+l2": ("C0", "-", None), "sgd+wd": ("C1", "--", "o"),
              "adam": ("gray", "-", None), "adam+l2": ("C0", "-", None), "adamw+wd": ("C1", "--", "o")}
    for i, group in enumerate((("sgd", "sgd+l2", "sgd+wd"), ("adam", "adam+l2", "adamw+wd"))):
        for v in group:
            r = runs[s0, p.epochs, v]
            ep = [h["epoch"] for h in r.history]
            color, ls, mk = styles[v]
            ax[i].plot(ep, [_total_norm(h) for h in r.history], ls=ls, color=color, marker=mk, markersize=3,
                       markevery=max(1, len(ep) // 10), label=f"{NAMES[v]}: test acc {test_acc[v]:.3f}")
        ax[i].set_xlabel("epoch")
        ax[i].set_ylabel("total weight norm √Σ‖W‖²_F")
        ax[i].legend(fontsize=7)
    ax[0].set_title(f"SGD: λ={p.lam:g} vs wd={wd:.3g} (m={m})", fontsize=9)
    ax[1].set_title("Adam: L2 penalty vs decoupled decay", fontsize=9)
    ax[2].plot(epochs_axis, curve["sgd"], "o-", label="SGD+L2 vs SGD+decay")
    ax[2].plot(epochs_axis, curve["ctl"], "s:", label=f"rounding control: λ vs λ(1−δ), δ={delta:.1e}")
    ax[2].plot(epochs_axis, curve["adam"], "^-", label="Adam+L2 vs AdamW")
    ax[2].axhline(p.sgd_tol, color="red", ls="--", lw=1, label=f"{p.sgd_tol:g} (rule)")
    ax[2].axvline(ce, color="gray", ls=":", lw=1)
    ax[2].set_yscale("log")
    ax[2].set_xlabel("epochs trained")
    ax[2].set_ylabel("max |ΔW| between the pair")
    ax[2].set_title(f"pair differences (rule checked at epoch {ce})", fontsize=9)
    ax[2].legend(fontsize=7)
    ctx.savefig(fig, "weight_decay")

    amplified = " (rounding noise amplified by SGD's chaotic dynamics)" if final_ctl > p.sgd_tol else ""
    mapping = "= λ/m" if p.wd_factor == 1 else f"= {p.wd_factor:g}·λ/m, a wrong mapping"
    summary = (f"After {ce} epochs SGD+L2 (λ={p.lam:g}, m={m}) and SGD with "
               f"decay wd={wd:.3g} ({mapping}) were {sgd_diff:.1e} apart at most while Adam+L2 "
               f"and AdamW were {adam_diff:.3g} apart. "
               f"After {p.epochs} epochs: SGD pair {final_sgd:.1e}, rounding control {final_ctl:.1e}{amplified}, "
               f"Adam pair {final_adam:.2f}; test accuracy SGD+L2 {test_acc['sgd+l2']:.3f} "
               f"vs SGD+decay {test_acc['sgd+wd']:.3f}, Adam+L2 {test_acc['adam+l2']:.3f} vs AdamW "
               f"{test_acc['adamw+wd']:.3f}.")
    return Outcome(summary=summary, checks=SPREAD.apply(checks, ctx), numbers={
        "sgd_max_param_diff": sgd_diff, "adam_max_param_diff": adam_diff, "test_accuracy": test_acc,
        "check_epochs": ce, "final_sgd_max_param_diff": final_sgd, "final_adam_max_param_diff": final_adam,
        "final_rounding_control_diff": final_ctl,
        "rounding_control_diff": ctl_check, "rounding_delta": delta, "final_weight_norm": final_norm,
        "wd": wd, "lam": p.lam, "m": m,
        "param_diff_per_epoch": {name: {str(e): d for e, d in zip(epochs_axis, c, strict=True)}
                                 for name, c in curve.items()},
        "sgd_max_param_diff_per_seed": {str(s): d for s, d in zip(check_seeds, sgd_diffs, strict=True)},
        "adam_max_param_diff_per_seed": {str(s): d for s, d in zip(check_seeds, adam_diffs, strict=True)},
    })
