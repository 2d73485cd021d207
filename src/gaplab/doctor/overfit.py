"""Overfit a tiny set: regularization, augmentation and shuffling off, a few examples per class, full batch.

A correct set-up drives the training loss to (near) zero within a step budget (training stops once it has). When
it does not, the pack's
other learning rates and the loss an input-blind model would reach tell learning rate, capacity and a
label/input mismatch apart.
"""

from __future__ import annotations

import math

import torch

from gaplab.doctor.context import Context
from gaplab.doctor.result import FAIL, PASS, WARN, Finding
from gaplab.engine import Pack
from gaplab.spec import RegSpec

FAMILY = "overfit"
FIT_FRACTION = 0.05  # "fitted": loss ≤ 5 % of the untrained level (ln K, or the target variance)
SLOW_FRACTION = 0.25  # between 5 % and 25 %: still fitting when the budget ran out (WARN, not FAIL)
CHECK_EVERY = 10  # steps between the tests whether the user's rate has fitted the set (training stops then)


def tiny_indices(ctx: Context) -> torch.Tensor:
    """``tiny_per_class`` training examples of each class (regression: 4 × that many), drawn by the run seed."""
    idx = ctx.prepared.train_idx
    g = torch.Generator().manual_seed(ctx.spec.seed)
    idx = idx[torch.randperm(len(idx), generator=g)]
    n = ctx.budget.tiny_per_class
    if not ctx.classification:
        return idx[: 4 * n]
    y = ctx.prepared.labels[idx]
    return torch.cat([idx[y == c][:n] for c in range(ctx.k)])


def other_rates(lr: float, optimizer: str) -> list[float]:
    """A coarse ladder of rates around the optimizer's usual range, besides the user's own."""
    base = [1e-3, 1e-2, 1e-1] if optimizer != "sgd" else [1e-2, 1e-1, 1.0]
    return [r for r in base if not math.isclose(r, lr, rel_tol=0.2)]


def run(ctx: Context) -> list[Finding]:
    tiny = tiny_indices(ctx)
    user = ctx.val_spec
    rates = [user.optim.lr, *other_rates(user.optim.lr, user.optim.name)]
    # full batch: one step per epoch, so the step budget is the epoch count and shuffling changes nothing
    base = user.replace(**{"reg": RegSpec().model_dump(), "optim.batch_size": len(tiny),
                           "optim.epochs": ctx.budget.tiny_steps, "optim.schedule": "constant",
                           "eval_every": ctx.budget.tiny_steps})
    specs = [base.replace(**{"optim.lr": r}) for r in rates]
    curves: list[list[float]] = []
    scale = ctx.ln_k if ctx.classification else ctx.target_var

    def on_step(pack: Pack, _e: int, _s: int, losses: torch.Tensor) -> None:
        curves.append(losses.tolist())
        # once the user's rate has fitted the set (the verdict's own test: its loss in eval mode), the rest of the
        # budget cannot change the verdict; the other rates only explain a failure at the user's
        if len(curves) % CHECK_EVERY == 0 and float(ctx.train_loss(pack, tiny)[0]) <= FIT_FRACTION * scale:
            pack.halt()

    pack, res = ctx.train(f"overfit {len(tiny)} examples", specs, train_idx=[tiny] * len(specs), on_step=on_step,
                          metrics=False)
    steps = len(curves)
    losses = ctx.train_loss(pack, tiny).tolist()  # on the tiny set only: not the pool's validation and test rows
    final = [v if r.status == "done" else math.inf for v, r in zip(losses, res, strict=True)]
    final = [v if math.isfinite(v) else math.inf for v in final]
    fitted = [v <= FIT_FRACTION * scale for v in final]
    ctx.found.tiny_curves = (rates, curves)
    blind = _input_blind_loss(ctx, tiny)
    details = {"examples": len(tiny), "steps": steps, "budget_steps": ctx.budget.tiny_steps, "rates": rates,
               "final_loss": final, "input_blind_loss": blind}
    shown = f"loss {final[0]:.3g} after {steps} steps ({len(tiny)} examples)"
    band = f"≤ {FIT_FRACTION * scale:.3g} ({100 * FIT_FRACTION:.0f} % of {'ln K' if ctx.classification else 'var'})"
    if fitted[0]:
        return [Finding(FAMILY, "overfit a tiny set", final[0], shown, band, PASS, details=details)]
    ok = [r for r, f in zip(rates, fitted, strict=True) if f]
    best = min(final)
    if final[0] <= SLOW_FRACTION * scale:
        return [Finding(FAMILY, "overfit a tiny set", final[0], shown, band, WARN,
                        f"slow: still fitting after {steps} steps at your rate (loss {final[0]:.3g})" +
                        (f"; fitted at lr {', '.join(f'{r:g}' for r in ok)}" if ok else ""),
                        "a larger rate, or more steps (default mode)", details)]
    if ok:
        cause = (f"learning rate: the tiny set is fitted at lr {', '.join(f'{r:g}' for r in ok)} but not at yours "
                 f"({user.optim.lr:g}, loss {final[0]:.3g})")
        fix = f"train at a rate near {ok[0]:g} (see the learning-rate check)"
        details["symptom"] = True  # of the learning rate, which the lr family measures directly
    elif best >= 0.8 * blind:
        cause = (f"label/input mismatch: the best loss {best:.3g} is what a model blind to its inputs gets "
                 f"({blind:.3g}) — the model cannot tell the examples apart")
        fix = "check that the model uses its input and that inputs differ between examples"
    else:
        cause = (f"capacity (or too few steps): no rate fitted {len(tiny)} examples in {steps} steps "
                 f"(best loss {best:.3g}, input-blind {blind:.3g})")
        fix = "use a wider/deeper model; check for a bottleneck layer or a frozen part of the network"
    return [Finding(FAMILY, "overfit a tiny set", final[0], shown, band, FAIL, cause, fix, details)]


def _input_blind_loss(ctx: Context, tiny: torch.Tensor) -> float:
    """The best loss of a constant prediction on the tiny set: label entropy, or the target variance."""
    if ctx.classification:
        p = torch.bincount(ctx.prepared.labels[tiny], minlength=ctx.k).float()
        p = p[p > 0] / p.sum()
        return float(-(p * p.log()).sum())
    return float(ctx.pool.y_train[tiny].float().var(0, unbiased=False).mean())
