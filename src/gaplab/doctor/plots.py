"""The doctor's figures, drawn from what the families found (ctx.found): LR range, main-run loss, tiny-set fits."""

from __future__ import annotations

from typing import Any

import numpy as np

from gaplab.doctor.context import Context
from gaplab.doctor.lr_range import LrCurve


def figures(ctx: Context) -> dict[str, Any]:
    """name → matplotlib figure for every family that ran."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: dict[str, Any] = {}
    # fixed margins that fit these labels: a tight bounding box would draw every figure twice when saved
    margins = {"left": 0.13, "right": 0.97, "bottom": 0.14, "top": 0.91}
    if ctx.found.lr_curve is not None:
        figs["lr_range"] = _lr_range(ctx, ctx.found.lr_curve, plt, margins)
    main = ctx.found.main
    if main is not None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
        a1.plot(np.array(main.losses, dtype=float), lw=0.8)
        a1.set(yscale="log", xlabel="step", ylabel="mini-batch loss", title="main run (your settings)")
        for n, v in main.ratios.items():
            a2.plot(main.ratio_steps[: len(v)], v, lw=0.8, label=n)
        a2.set(yscale="log", xlabel="step", ylabel="‖ΔW‖ / ‖W‖", title="update/weight ratio per layer")
        a2.legend(fontsize=6)
        fig.subplots_adjust(**{**margins, "left": 0.1, "right": 0.98, "wspace": 0.3})
        figs["dynamics"] = fig
    tiny = ctx.found.tiny_curves
    if tiny is not None:
        rates, curves = tiny
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        arr = np.array(curves, dtype=float)
        for j, r in enumerate(rates):
            ax.plot(arr[:, j], label=f"lr {r:g}" + (" (yours)" if j == 0 else ""))
        ax.set(yscale="log", xlabel="step (full batch)", ylabel="training loss", title="overfitting a tiny set")
        ax.legend(fontsize=7)
        fig.subplots_adjust(**margins)
        figs["overfit_tiny"] = fig
    noise = ctx.found.label_noise
    if noise is not None:
        pos, conf = noise.suspects, noise.self_confidence
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        ax.hist(conf.numpy(), bins=40, color="0.6", label="all training examples")
        ax.hist(conf[pos].numpy(), bins=40, color="C3", alpha=0.8, label="suspects")
        ax.set(xlabel="out-of-fold probability of the given label", ylabel="examples",
               title="label-noise suspects (heuristic)")
        ax.legend(fontsize=7)
        fig.subplots_adjust(**margins)
        figs["label_noise"] = fig
    return figs


def _lr_range(ctx: Context, curve: LrCurve, plt: Any, margins: dict[str, float]) -> Any:
    """Training (each seed, and their mean) and validation loss against the rate, the user's and suggested rates."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    loss = np.where(np.isfinite(curve.losses), curve.losses, np.nan)
    for row in loss:
        ax.plot(curve.rates, row, color="0.7", lw=1)
    ax.plot(curve.rates, np.nanmean(loss, 0), "o-", color="C0", label="training, mean over seeds")
    val = np.where(np.isfinite(curve.val_losses), curve.val_losses, np.nan)
    ax.plot(curve.rates, np.nanmean(val, 0), "s--", color="C1", ms=4, label="validation, mean over seeds")
    ax.axvline(ctx.val_spec.optim.lr, color="C3", ls="--", label=f"yours {ctx.val_spec.optim.lr:g}")
    if ctx.found.suggested_lr:
        ax.axvline(ctx.found.suggested_lr, color="C2", label=f"suggested {ctx.found.suggested_lr:.2g}")
    ax.axhline(curve.init_loss, color="0.4", ls=":", lw=1, label="untrained")
    ax.set(xscale="log", yscale="log", xlabel="learning rate (fixed per copy)",
           ylabel=f"loss after {curve.steps} steps", title="learning-rate range")
    ax.legend(fontsize=7)
    fig.subplots_adjust(**margins)
    return fig
