"""The advice's figures: learning curves with their fits and extrapolation bands, and every configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gaplab.advise.analysis import EXTRAPOLATION_LIMIT, fit_of


def draw(numbers: dict[str, Any], folder: Path) -> list[str]:
    """Write curves.png (plain and best: points, fit, 90 % bands at 2×/4×/8× n) and configs.png; return names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    cv, n, best = numbers["curves"], numbers["n"], numbers["best"]
    if best == "plain" and numbers.get("best_other"):
        best = numbers["best_other"]  # nothing beat plain: show the closest configuration beside it
    grid = np.geomspace(min(cv["plain"]["sizes"]), 10 * n, 80)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, color in (("plain", "k"), (best, "C3")):
        c = cv[name]
        ax.errorbar(c["sizes"], c["test_error"], yerr=c["test_error_sd"], fmt="o", color=color, ms=4, capsize=2,
                    label=f"{name}: test error (mean ± sd over seeds)")
        ax.plot(c["sizes"], c["train_error"], "x:", color=color, lw=0.8, label=f"{name}: training error")
        fit = fit_of(c)
        if fit is not None:
            y = fit.predict(grid)
            ax.plot(grid, y, "-", color=color, lw=1, label=f"{name}: ensemble of {c['formula']}")
            ps = c["predictions"]
            ax.fill_between([p["n"] for p in ps], [p["low"] for p in ps], [p["high"] for p in ps], color=color,
                            alpha=0.15, label=f"{name}: 90 % band (calibrated, docs/advise-truth.md)")
            ax.errorbar([p["n"] for p in ps], [p["error"] for p in ps],
                        yerr=[[p["error"] - p["low"] for p in ps], [p["high"] - p["error"] for p in ps]],
                        fmt="s", mfc="w", color=color, ms=4, capsize=2)
        if name == best:
            break
    ax.axvline(n, color="gray", lw=0.8, ls="--")
    ax.axvspan(EXTRAPOLATION_LIMIT * n, 10 * n, color="gray", alpha=0.08,
               label=f"beyond {EXTRAPOLATION_LIMIT:g}× the largest size: flagged")
    ax.set_xscale("log")
    ax.set_xlabel("training-set size n (examples)")
    ax.set_ylabel(numbers["metric"])
    vs = "best" if best == numbers["best"] else "closest"
    ax.set_title(f"learning curves: plain vs {vs} ({best}); dashed: your n = {n}")
    ax.legend(fontsize=6.5)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "curves.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, (name, c) in enumerate(cv.items()):
        col = "k" if name == "plain" else f"C{i % 10}"
        ax.plot(c["sizes"], c["test_error"], "o-" if c.get("fit") else "o--", color=col, ms=3, lw=1,
                label=f"{name} ({c.get('model') or c.get('shape')})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training-set size n (examples)")
    ax.set_ylabel(numbers["metric"])
    ax.set_title("every configuration (dashed: ill-behaved, not extrapolated)")
    ax.legend(fontsize=6.5)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "configs.png", dpi=110)
    plt.close(fig)
    return ["curves.png", "configs.png"]
