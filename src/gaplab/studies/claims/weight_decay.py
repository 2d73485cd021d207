"""C8: the L2 penalty λ/(2m)·Σ‖W‖²_F is "weight decay" under plain SGD, but not under Adam.

Seed 001 (Ng's course): the penalty adds (λ/m)·W to the gradient, so one SGD step is
W ← W(1 − αλ/m) − α·backprop. gaplab's ``reg.l2`` is that penalty in the loss; ``reg.weight_decay`` is
decoupled decay W ← W − α·wd·W (engine/optim.py). With wd = λ/m the two SGD runs are the same algorithm
and differ only by float rounding; under Adam the penalty's gradient is divided by the adaptive
denominator while decoupled decay is not (Loshchilov & Hutter 2019, "Decoupled Weight Decay
Regularization"), so Adam+L2 and AdamW drift apart from the first steps.

Mini-batch SGD on a ReLU net amplifies tiny differences chaotically: after a few hundred steps the SGD
pair (whose float32 decay factor fl(1 − αλ/m) alone shifts the effective λ by δ ≈ 1e-5, relative) ends
~1e-3..1e-2 apart, so an end-of-training comparison cannot tell "identical" from "slightly different". Worse, a
rare discrete event on the mini-batch path can jump the pair apart within the first epoch: at ``--seed 12``
(quick) the pair was 9e-5 apart after 10 mini-batch steps (1e-7 at every other seed from 5 to 14), while the same
pair trained with full-batch steps was 1.5e-8 apart after 1 step, 4.5e-8 after 3 and 1.0e-7 after 10, as at
seeds 11 and 13 (the cause of the jump is not identified; a ReLU kink crossed differently by the two runs would
produce it). The claim is about one step, so the rule compares the SGD pair (and its rounding control, SGD+L2 with
λ vs λ(1−δ), the λ the decoupled run effectively uses in float32) after ``check_epochs`` full-batch steps, and the
Adam pair after ``check_epochs`` mini-batch epochs; the whole-run mini-batch picture is drawn and reported: |ΔW|
per epoch for the SGD pair, the Adam pair and the rounding control.

Rule (declared as checks; thresholds in the presets; worst case over seeds): the SGD pair's largest parameter
difference after ``check_epochs`` full-batch steps is below ``sgd_tol`` (float rounding), the Adam pair's after
``check_epochs`` epochs is above ``adam_min`` and above ``min_ratio`` × the SGD pair's. The SGD check's resolution
is the rounding control's distance after the same steps (worst seed). Until 2026-12-06 the check was declared
exact, and until 2026-12-07 it compared the SGD pair after ``check_epochs`` mini-batch epochs ("did not hold" at
``--seed 12``, above).
Biases are penalized too (``reg.penalize_bias``) because decoupled decay shrinks
every parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

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
# cannot measure their own spread (MeasuredSpread; it applies to the quick preset without overrides).
SPREAD = MeasuredSpread(seeds=5, sd={"adam_differs": 0.00359}, log_sd={"adam_gap_dwarfs_sgd": 0.103})
PAIRS = ("sgd+l2", "sgd+wd", "sgd+l2'", "adam+l2", "adamw+wd")
SGD_RULE = ("sgd+l2", "sgd+wd", "sgd+l2'")  # compared after full-batch steps
COMPARED = {"sgd": ("sgd+l2", "sgd+wd"), "adam": ("adam+l2", "adamw+wd"), "ctl": ("sgd+l2", "sgd+l2'")}


@dataclass(frozen=True)
class P(Preset):
    train_size: int
    width: int
    epochs: int
    check_epochs: int
    curve_epochs: list[int]
    batch_size: int
    lam: float
    wd_factor: float
    sgd_lr: float
    adam_lr: float
    seeds: int
    long_seeds: int
    sgd_tol: float
    adam_min: float
    min_ratio: float


QUICK = P(train_size=1000, width=64, epochs=12, check_epochs=2, curve_epochs=[1, 4], batch_size=100, lam=20.0,
          wd_factor=1.0, sgd_lr=0.1, adam_lr=0.003, seeds=1, long_seeds=1, sgd_tol=1e-4, adam_min=1e-3,
          min_ratio=100.0)
FULL = replace(QUICK, train_size=4000, width=128, epochs=20, curve_epochs=[1, 5, 10], lam=40.0, seeds=3,
               long_seeds=2)


def _wd(p: P) -> float:
    return p.wd_factor * p.lam / p.train_size  # the seeds' mapping is wd = λ/m; wd_factor ≠ 1 is a wrong mapping


def _delta(p: P) -> float:
    """δ of the rounding control: the float32 error of the decay factor 1 − αλ/m (at least MIN_ROUNDING)."""
    delta = decay_rounding(p.sgd_lr, _wd(p))
    return -MIN_ROUNDING if abs(delta) < MIN_ROUNDING else delta


def _variants(p: P) -> dict[str, dict[str, Any]]:
    """Label → spec changes. The rounding control is L2 with λ(1−δ), the λ that the decoupled run effectively uses;
    its distance from SGD+L2 is what rounding alone amplifies to."""
    adam = {"optim.name": "adam", "optim.lr": p.adam_lr}
    return {"sgd": {}, "sgd+l2": {"reg.l2": p.lam}, "sgd+wd": {"reg.weight_decay": _wd(p)},
            "sgd+l2'": {"reg.l2": p.lam * (1 - _delta(p))},
            "adam": adam, "adam+l2": {**adam, "reg.l2": p.lam},
            "adamw+wd": {**adam, "optim.name": "adamw", "reg.weight_decay": _wd(p)}}


def specs(p: P, seed: int) -> dict[tuple[Any, ...], RunSpec]:
    """(seed, epochs, label): full-length runs of every variant (long_seeds); short runs of the pairs for the rule
    (all seeds) and for the |ΔW|-per-epoch curve (first long seed). Batches are keyed by (seed, epoch), so a
    k-epoch run is exactly the first k epochs of the long one. ("step", seed, label): the SGD pair and its control
    after ``check_epochs`` full-batch steps, for the rule."""
    seeds = run_seeds(seed, max(p.seeds, p.long_seeds))
    check_seeds, lseeds = seeds[:p.seeds], seeds[:p.long_seeds]
    base = run_spec({"data": {"name": "mnist1d", "train_size": p.train_size},
                     "model": {"name": "mlp", "args": {"width": p.width}},
                     "optim": {"name": "sgd", "lr": p.sgd_lr, "epochs": p.epochs, "batch_size": p.batch_size},
                     "reg": {"penalize_bias": True}}, seed)
    variants = _variants(p)
    keys = [(s, p.epochs, v) for s in lseeds for v in variants]
    keys += [(s, p.check_epochs, v) for s in check_seeds for v in PAIRS]
    keys += [(lseeds[0], e, v) for e in p.curve_epochs if e not in (p.epochs, p.check_epochs) for v in PAIRS]
    out: dict[tuple[Any, ...], RunSpec] = {
        (s, e, v): base.replace(**{"seed": s, "optim.epochs": e, "eval_every": 1 if e == p.epochs else e,
                                   **variants[v]}) for s, e, v in keys}
    full_batch = {"optim.epochs": p.check_epochs, "optim.batch_size": p.train_size, "eval_every": p.check_epochs}
    out.update({("step", s, v): base.replace(**{"seed": s, **full_batch, **variants[v]})
                for s in check_seeds for v in SGD_RULE})
    return out


@dataclass(frozen=True)
class M(Measured):
    sgd_max_param_diff: float
    adam_max_param_diff: float
    test_accuracy: dict[str, float]
    check_epochs: int
    final_sgd_max_param_diff: float
    final_adam_max_param_diff: float
    final_rounding_control_diff: float
    rounding_control_diff: float
    rounding_delta: float
    final_weight_norm: dict[str, float]
    wd: float
    lam: float
    m: int
    param_diff_per_epoch: dict[str, dict[str, float]]
    sgd_max_param_diff_per_seed: dict[str, float]
    adam_max_param_diff_per_seed: dict[str, float]
    sgd_minibatch_max_param_diff: float  # the SGD pair after check_epochs mini-batch epochs (not ruled on)
    norm_curves: dict[str, tuple[list[int], list[float]]] = aside()


def measure(ctx: StudyContext, p: P) -> M:
    seeds = ctx.seeds(max(p.seeds, p.long_seeds))
    check_seeds, lseeds, runs, ce = seeds[:p.seeds], seeds[:p.long_seeds], ctx.runs, p.check_epochs

    def diff(s: int, e: int, pair: str) -> float:
        a, b = COMPARED[pair]
        return _max_param_diff(runs[s, e, a], runs[s, e, b])

    def step_diff(s: int, pair: str) -> float:
        a, b = COMPARED[pair]
        return _max_param_diff(runs["step", s, a], runs["step", s, b])

    sgd_diffs = [step_diff(s, "sgd") for s in check_seeds]
    adam_diffs = [diff(s, ce, "adam") for s in check_seeds]
    s0 = lseeds[0]
    epochs_axis = sorted({k[1] for k in runs if k[0] == s0})
    variants = _variants(p)
    return M(
        sgd_max_param_diff=max(sgd_diffs), adam_max_param_diff=min(adam_diffs),
        test_accuracy={v: float(np.mean([runs[s, p.epochs, v].final["test_acc"] for s in lseeds])) for v in variants},
        check_epochs=ce, final_sgd_max_param_diff=max(diff(s, p.epochs, "sgd") for s in lseeds),
        final_adam_max_param_diff=min(diff(s, p.epochs, "adam") for s in lseeds),
        final_rounding_control_diff=max(diff(s, p.epochs, "ctl") for s in lseeds),
        # what float rounding alone amplifies to by then (the rounding control): the SGD pair's resolution
        rounding_control_diff=max(step_diff(s, "ctl") for s in check_seeds), rounding_delta=_delta(p),
        final_weight_norm={v: float(np.mean([_total_norm(runs[s, p.epochs, v].final) for s in lseeds]))
                           for v in variants},
        wd=_wd(p), lam=p.lam, m=p.train_size,
        param_diff_per_epoch={pair: {str(e): diff(s0, e, pair) for e in epochs_axis} for pair in COMPARED},
        sgd_max_param_diff_per_seed={str(s): d for s, d in zip(check_seeds, sgd_diffs, strict=True)},
        adam_max_param_diff_per_seed={str(s): d for s, d in zip(check_seeds, adam_diffs, strict=True)},
        sgd_minibatch_max_param_diff=max(diff(s, ce, "sgd") for s in check_seeds),
        norm_curves={v: ([h["epoch"] for h in runs[s0, p.epochs, v].history],
                         [_total_norm(h) for h in runs[s0, p.epochs, v].history]) for v in variants})


def checks(m: M, p: P) -> list[Check]:
    sgd, adam = m.sgd_max_param_diff, m.adam_max_param_diff
    return [
        Check("sgd_same", f"SGD+L2 vs SGD+decay after {p.check_epochs} full-batch steps: max |ΔW|", sgd, "<",
              p.sgd_tol,
              resolution=m.rounding_control_diff),
        Check("adam_differs", f"Adam+L2 vs AdamW after {p.check_epochs} epochs: max |ΔW|", adam, ">", p.adam_min),
        Check("adam_gap_dwarfs_sgd", "Adam pair's max |ΔW| / SGD pair's", adam / sgd if sgd > 0 else math.inf, ">",
              p.min_ratio),
    ]


def summary(m: M, p: P) -> str:
    amplified = " (rounding noise amplified by SGD's chaotic dynamics)" if m.final_rounding_control_diff > p.sgd_tol \
        else ""
    mapping = "= λ/m" if p.wd_factor == 1 else f"= {p.wd_factor:g}·λ/m, a wrong mapping"
    acc = m.test_accuracy
    return (f"After {m.check_epochs} full-batch steps SGD+L2 (λ={p.lam:g}, m={m.m}) and SGD with "
            f"decay wd={m.wd:.3g} ({mapping}) were {m.sgd_max_param_diff:.1e} apart at most ("
            f"{m.sgd_minibatch_max_param_diff:.1e} after {m.check_epochs} mini-batch epochs) while Adam+L2 "
            f"and AdamW were {m.adam_max_param_diff:.3g} apart after {m.check_epochs} epochs. "
            f"After {p.epochs} epochs: SGD pair {m.final_sgd_max_param_diff:.1e}, rounding control "
            f"{m.final_rounding_control_diff:.1e}{amplified}, Adam pair {m.final_adam_max_param_diff:.2f}; test "
            f"accuracy SGD+L2 {acc['sgd+l2']:.3f} vs SGD+decay {acc['sgd+wd']:.3f}, Adam+L2 {acc['adam+l2']:.3f} vs "
            f"AdamW {acc['adamw+wd']:.3f}.")


def figures(m: M, p: P) -> dict[str, Any]:
    fig, ax = subplots(3)
    styles = {"sgd": ("gray", "-", None), "sgd+l2": ("C0", "-", None), "sgd+wd": ("C1", "--", "o"),
              "adam": ("gray", "-", None), "adam+l2": ("C0", "-", None), "adamw+wd": ("C1", "--", "o")}
    for i, group in enumerate((("sgd", "sgd+l2", "sgd+wd"), ("adam", "adam+l2", "adamw+wd"))):
        for v in group:
            ep, norms = m.norm_curves[v]
            color, ls, mk = styles[v]
            ax[i].plot(ep, norms, ls=ls, color=color, marker=mk, markersize=3, markevery=max(1, len(ep) // 10),
                       label=f"{NAMES[v]}: test acc {m.test_accuracy[v]:.3f}")
        ax[i].set(xlabel="epoch", ylabel="total weight norm √Σ‖W‖²_F")
        ax[i].legend(fontsize=7)
    ax[0].set_title(f"SGD: λ={p.lam:g} vs wd={m.wd:.3g} (m={m.m})", fontsize=9)
    ax[1].set_title("Adam: L2 penalty vs decoupled decay", fontsize=9)
    curve = {k: ([int(e) for e in c], list(c.values())) for k, c in m.param_diff_per_epoch.items()}
    ax[2].plot(*curve["sgd"], "o-", label="SGD+L2 vs SGD+decay")
    ax[2].plot(*curve["ctl"], "s:", label=f"rounding control: λ vs λ(1−δ), δ={m.rounding_delta:.1e}")
    ax[2].plot(*curve["adam"], "^-", label="Adam+L2 vs AdamW")
    ax[2].axhline(p.sgd_tol, color="red", ls="--", lw=1, label=f"{p.sgd_tol:g} (rule)")
    ax[2].axvline(m.check_epochs, color="gray", ls=":", lw=1)
    ax[2].set_yscale("log")
    ax[2].set(xlabel="epochs trained", ylabel="max |ΔW| between the pair")
    ax[2].set_title(f"pair differences (rule checked at epoch {m.check_epochs})", fontsize=9)
    ax[2].legend(fontsize=7)
    return {"weight_decay": fig}


STUDY = Study(
    "weight-decay", "C8",
    "The L2 penalty λ/(2m)·Σ‖W‖² multiplies W by (1−αλ/m) each SGD step (weight decay); "
    "with Adam the L2 penalty and decoupled weight decay differ.",
    quick=QUICK, full=FULL, specs=specs, measure=measure, checks=checks, figures=figures, summary=summary,
    spread=SPREAD, keep_state=True,
    # a wrong mapping wd = 1.2·λ/m: the SGD pair is no longer the same algorithm
    breaking={"wd_factor": 1.2, "epochs": 2, "curve_epochs": [1]},
)
