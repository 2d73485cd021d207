"""C20: too large a learning rate diverges, too small a one crawls (SGD on MNIST-1D, 4 decades of lr and more).

Seed 003 (Ng's course): plain SGD (no momentum) trains the same MLP for the same number of epochs at learning
rates spaced by decades. A run *diverged* when the engine stopped it as diverged or its final training loss is
missing or not finite (a loss of exactly 0 is a perfect fit, not divergence). The smallest rate *crawls* when,
in the same epochs, it gets less than ``crawl_fraction`` of the loss decrease the best rate gets (both measured
from ln 10, the cross-entropy of a uniform guess over 10 classes).

Rule (declared as checks; thresholds in the presets): at least one rate diverged, and the smallest rate's loss
decrease over the best stable rate's is below ``crawl_fraction``. Runs use the study's seed (``ctx.seed``).
"""

from __future__ import annotations

import math

import numpy as np

from gaplab.studies.base import Outcome, Params, StoredRun, StudyContext, study
from gaplab.studies.checks import Check
from gaplab.studies.plotting import subplots


def _diverged(r: StoredRun) -> bool:
    loss = r.final.get("train_loss")
    return r.status == "diverged" or loss is None or not math.isfinite(loss)


@study(
    "learning-rate",
    claim_id="C20",
    claim="Gradient descent: too large a learning rate diverges, too small a one crawls.",
    quick={"lrs": [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0], "epochs": 8, "width": 64, "train_size": 1000,
           "crawl_fraction": 0.1, "crawl_resolution": 0.03},
    full={"lrs": [float(x) for x in np.logspace(-4, 2, 13)], "epochs": 40, "width": 128, "train_size": 4000,
          "crawl_fraction": 0.1, "crawl_resolution": 0.03},
    breaking={"lrs": [1e-4, 1e-3, 1e-2]},  # no large learning rate: nothing diverges
)
def learning_rate(ctx: StudyContext, p: Params) -> Outcome:
    base = {"data": {"name": "mnist1d", "train_size": p.train_size},
            "model": {"name": "mlp", "args": {"width": p.width}},
            "optim": {"name": "sgd", "lr": 0.1, "epochs": p.epochs, "batch_size": 100}}
    specs = [ctx.spec(base).replace(**{"optim.lr": lr}) for lr in p.lrs]
    runs = ctx.train(specs)

    diverged = {lr: _diverged(r) for lr, r in zip(p.lrs, runs, strict=True)}
    final_loss: dict[float, float | None] = {lr: (None if diverged[lr] else float(r.final["train_loss"]))
                                             for lr, r in zip(p.lrs, runs, strict=True)}
    initial = math.log(10)  # cross-entropy of a uniform guess over 10 classes
    stable = {lr: loss for lr, loss in final_loss.items() if loss is not None}
    largest_stable = max(stable) if stable else None
    best_lr = min(stable, key=lambda lr: stable[lr]) if stable else None
    smallest = min(p.lrs)
    small_loss = final_loss[smallest]
    # the smallest rate's loss decrease as a fraction of the best rate's (NaN: unmeasurable, e.g. it diverged)
    crawl = math.nan
    if small_loss is not None and best_lr is not None and best_lr != smallest and initial > stable[best_lr]:
        crawl = (initial - small_loss) / (initial - stable[best_lr])
    n_div = sum(diverged.values())
    checks = [
        Check("large_diverges", f"learning rates (of {len(p.lrs)}) that diverged", n_div, ">=", 1,
              exact="a count of discrete events, not an estimate: it fails only if the largest rate trains, and "
                    "lr 100 diverged at every seed measured (quick, --seed 0-4); lr 10 wobbles (count 1 or 2)"),
        Check("small_crawls", f"loss decrease in {p.epochs} epochs at lr {smallest:g} / at the best lr", crawl, "<",
              p.crawl_fraction, resolution=p.crawl_resolution),
    ]

    _figure(ctx, p, runs, diverged, final_loss, initial)

    def fmt(v: float | None) -> str:
        return "diverged" if v is None else f"{v:.3f}"

    if stable:
        summary = (f"Learning rates up to {largest_stable:g} trained; {n_div} of {len(p.lrs)} diverged. The smallest "
                   f"({smallest:g}) ended at loss {fmt(small_loss)} vs ln 10 = {initial:.3f} at the start, while the "
                   f"best ({best_lr:g}) reached {fmt(stable[best_lr])}")  # type: ignore[index]
    else:
        summary = "Every learning rate diverged"
    return Outcome(summary=summary, checks=checks, numbers={
        "diverged": diverged, "final_loss": final_loss, "largest_stable_lr": largest_stable, "best_lr": best_lr,
        "crawl_fraction": crawl,
    })


def _figure(ctx: StudyContext, p: Params, runs: list[StoredRun], diverged: dict[float, bool],
            final_loss: dict[float, float | None], initial: float) -> None:
    fig, ax = subplots(2)
    for lr, r in zip(p.lrs, runs, strict=True):
        curve = r.curve("train_loss")
        if curve:
            ax[0].plot(range(1, len(curve) + 1), curve, label=f"lr={lr:g}" + (" (diverged)" if diverged[lr] else ""))
    ax[0].set_yscale("log")
    ax[0].set_ylim(top=20 * initial)
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("training loss (cross-entropy)")
    if ax[0].get_legend_handles_labels()[0]:  # no curve at all when every run diverged at once
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
