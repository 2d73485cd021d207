"""C20: too large a learning rate diverges, too small a one crawls (SGD on MNIST-1D, 4 decades of lr)."""

from __future__ import annotations

import math

import numpy as np

from gaplab.studies.base import Outcome, Params, StudyContext, study
from gaplab.studies.plotting import subplots


@study(
    "learning-rate",
    claim_id="C20",
    claim="Gradient descent: too large a learning rate diverges, too small a one crawls.",
    quick={"lrs": [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0], "epochs": 8, "width": 64, "train_size": 1000},
    full={"lrs": [float(x) for x in np.logspace(-4, 2, 13)], "epochs": 40, "width": 128, "train_size": 4000},
)
def learning_rate(ctx: StudyContext, p: Params) -> Outcome:
    base = {"data": {"name": "mnist1d", "train_size": p.train_size},
            "model": {"name": "mlp", "args": {"width": p.width}},
            "optim": {"name": "sgd", "lr": 0.1, "epochs": p.epochs, "batch_size": 100}}
    specs = [ctx.spec(base).replace(**{"optim.lr": lr}) for lr in p.lrs]
    runs = ctx.train(specs)

    diverged = {lr: r.status == "diverged" or not math.isfinite(r.final.get("train_loss") or math.nan)
                for lr, r in zip(p.lrs, runs, strict=True)}
    final_loss = {lr: (None if diverged[lr] else r.final["train_loss"]) for lr, r in zip(p.lrs, runs, strict=True)}
    initial = math.log(10)  # cross-entropy of a uniform guess over 10 classes
    stable = [lr for lr in p.lrs if not diverged[lr]]
    largest_stable = max(stable) if stable else None
    best_lr = min(stable, key=lambda lr: final_loss[lr]) if stable else None
    smallest = min(p.lrs)
    # "crawls": in the same number of epochs the smallest lr gets less than a tenth of the loss decrease
    # that the best lr gets (both measured from ln 10, the loss of a uniform guess).
    crawl = (final_loss[smallest] is not None and best_lr is not None and best_lr != smallest
             and initial - final_loss[smallest] < 0.1 * (initial - final_loss[best_lr]))
    some_diverge = any(diverged.values())
    held = bool(some_diverge and crawl)

    fig, ax = subplots(2)
    for lr, r in zip(p.lrs, runs, strict=True):
        curve = r.curve("train_loss")
        if curve:
            ax[0].plot(range(1, len(curve) + 1), curve, label=f"lr={lr:g}" + (" (diverged)" if diverged[lr] else ""))
    ax[0].set_yscale("log")
    ax[0].set_ylim(top=20 * initial)
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("training loss (cross-entropy)")
    ax[0].legend(fontsize=7)
    ax[0].set_title("loss curves")
    xs = [lr for lr in p.lrs if final_loss[lr] is not None]
    ax[1].plot(xs, [final_loss[lr] for lr in xs], "o-", label="final training loss")
    for lr in p.lrs:
        if diverged[lr]:
            ax[1].axvline(lr, color="red", alpha=0.4)
    ax[1].axhline(initial, ls="--", color="gray", label="uniform guess (ln 10)")
    ax[1].set_xscale("log")
    ax[1].set_xlabel("learning rate")
    ax[1].set_ylabel("final training loss")
    ax[1].set_title("red lines: diverged")
    ax[1].legend(fontsize=8)
    ctx.savefig(fig, "learning_rate")

    summary = (f"Learning rates up to {largest_stable:g} trained; "
               f"{sum(diverged.values())} of {len(p.lrs)} diverged. "
               f"The smallest ({smallest:g}) ended at loss {final_loss[smallest]:.3f} vs ln 10 = {initial:.3f} "
               f"at the start, while the best ({best_lr:g}) reached {final_loss[best_lr]:.3f}."
               if stable else "Every learning rate diverged.")
    return Outcome(held=held, summary=summary, numbers={
        "diverged": diverged, "final_loss": final_loss, "largest_stable_lr": largest_stable, "best_lr": best_lr,
    })
