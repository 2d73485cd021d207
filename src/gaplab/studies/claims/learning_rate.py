"""C20: too large a learning rate diverges, too small a one crawls (SGD on MNIST-1D, 4 decades of lr and more).

Seed 003 (Ng's course): plain SGD (no momentum) trains the same MLP for the same number of epochs at learning
rates spaced by decades. A run *diverged* when the engine stopped it as diverged or its final training loss is
missing or not finite (a loss of exactly 0 is a perfect fit, not divergence). The smallest rate *crawls* when,
in the same epochs, it gets less than ``crawl_fraction`` of the loss decrease the best rate gets (both measured
from ln 10, the cross-entropy of a uniform guess over 10 classes).

Rule (declared as checks; thresholds in the presets): at least one rate diverged, and the smallest rate's loss
decrease over the best stable rate's is below ``crawl_fraction``. Runs use the study's seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gaplab.spec import RunSpec
from gaplab.studies.framework import Check, Measured, Preset, StoredRun, Study, StudyContext, aside, run_spec, subplots

INITIAL = math.log(10)  # cross-entropy of a uniform guess over 10 classes


@dataclass(frozen=True)
class P(Preset):
    lrs: list[float]
    epochs: int
    width: int
    train_size: int
    crawl_fraction: float
    crawl_resolution: float


QUICK = P(lrs=[1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0], epochs=8, width=64, train_size=1000, crawl_fraction=0.1,
          crawl_resolution=0.03)
FULL = replace(QUICK, lrs=[float(x) for x in np.logspace(-4, 2, 13)], epochs=40, width=128, train_size=4000)


def specs(p: P, seed: int) -> dict[float, RunSpec]:
    """One run per learning rate, plain SGD, same model and epochs."""
    base = run_spec({"data": {"name": "mnist1d", "train_size": p.train_size},
                     "model": {"name": "mlp", "args": {"width": p.width}},
                     "optim": {"name": "sgd", "lr": 0.1, "epochs": p.epochs, "batch_size": 100}}, seed)
    return {lr: base.replace(**{"optim.lr": lr}) for lr in p.lrs}


@dataclass(frozen=True)
class M(Measured):
    diverged: dict[float, bool]
    final_loss: dict[float, float | None]
    largest_stable_lr: float | None
    best_lr: float | None
    crawl_fraction: float
    curves: dict[float, list[float]] = aside()


def diverged(r: StoredRun) -> bool:
    """Stopped as diverged, or a final training loss missing or not finite (0 is a perfect fit)."""
    loss = r.final.get("train_loss")
    return r.status == "diverged" or loss is None or not math.isfinite(loss)


def measure(ctx: StudyContext, p: P) -> M:
    div = {lr: diverged(r) for lr, r in ctx.runs.items()}
    final_loss = {lr: (None if div[lr] else float(r.final["train_loss"])) for lr, r in ctx.runs.items()}
    stable = {lr: loss for lr, loss in final_loss.items() if loss is not None}
    best_lr = min(stable, key=lambda lr: stable[lr]) if stable else None
    smallest = min(p.lrs)
    small_loss = final_loss[smallest]
    # the smallest rate's loss decrease as a fraction of the best rate's (NaN: unmeasurable, e.g. it diverged)
    crawl = math.nan
    if small_loss is not None and best_lr is not None and best_lr != smallest and INITIAL > stable[best_lr]:
        crawl = (INITIAL - small_loss) / (INITIAL - stable[best_lr])
    return M(diverged=div, final_loss=final_loss, largest_stable_lr=max(stable) if stable else None, best_lr=best_lr,
             crawl_fraction=crawl, curves={lr: r.curve("train_loss") for lr, r in ctx.runs.items()})


def checks(m: M, p: P) -> list[Check]:
    return [
        Check("large_diverges", f"learning rates (of {len(p.lrs)}) that diverged", sum(m.diverged.values()), ">=", 1,
              exact="a count of discrete events, not an estimate: it fails only if the largest rate trains, and "
                    "lr 100 diverged at every seed measured (quick, --seed 0-4); lr 10 wobbles (count 1 or 2)"),
        Check("small_crawls", f"loss decrease in {p.epochs} epochs at lr {min(p.lrs):g} / at the best lr",
              m.crawl_fraction, "<", p.crawl_fraction, resolution=p.crawl_resolution),
    ]


def summary(m: M, p: P) -> str:
    if m.best_lr is None:
        return "Every learning rate diverged"

    def fmt(v: float | None) -> str:
        return "diverged" if v is None else f"{v:.3f}"

    smallest = min(p.lrs)
    return (f"Learning rates up to {m.largest_stable_lr:g} trained; {sum(m.diverged.values())} of {len(p.lrs)} "
            f"diverged. The smallest ({smallest:g}) ended at loss {fmt(m.final_loss[smallest])} vs ln 10 = "
            f"{INITIAL:.3f} at the start, while the best ({m.best_lr:g}) reached {fmt(m.final_loss[m.best_lr])}")


def figures(m: M, p: P) -> dict[str, Any]:
    fig, ax = subplots(2)
    for lr, curve in m.curves.items():
        if curve:
            ax[0].plot(range(1, len(curve) + 1), curve, label=f"lr={lr:g}" + (" (diverged)" if m.diverged[lr] else ""))
    ax[0].set_yscale("log")
    ax[0].set_ylim(top=20 * INITIAL)
    ax[0].set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="loss curves")
    if ax[0].get_legend_handles_labels()[0]:  # no curve at all when every run diverged at once
        ax[0].legend(fontsize=7)
    xs = [lr for lr in p.lrs if m.final_loss[lr] is not None]
    ax[1].plot(xs, [m.final_loss[lr] for lr in xs], "o-", label="final training loss")
    for lr in p.lrs:
        if m.diverged[lr]:
            ax[1].axvline(lr, color="red", alpha=0.4)
    ax[1].axhline(INITIAL, ls="--", color="gray", label="uniform guess (ln 10)")
    ax[1].set_xscale("log")
    ax[1].set(xlabel="learning rate", ylabel="final training loss", title="red lines: diverged")
    ax[1].legend(fontsize=8)
    return {"learning_rate": fig}


STUDY = Study(
    "learning-rate", "C20", "Gradient descent: too large a learning rate diverges, too small a one crawls.",
    quick=QUICK, full=FULL, specs=specs, measure=measure, checks=checks, figures=figures, summary=summary,
    breaking={"lrs": [1e-4, 1e-3, 1e-2]},  # no large learning rate: nothing diverges
)
