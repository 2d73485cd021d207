"""Matplotlib set-up shared by the studies: a non-interactive backend and one consistent style."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"figure.figsize": (6.4, 4.2), "axes.grid": True, "grid.alpha": 0.3, "font.size": 10,
                     "svg.hashsalt": "gaplab", "svg.fonttype": "none"})


def subplots(ncols: int = 1, nrows: int = 1, **kw: Any) -> tuple[Any, Any]:
    """A figure sized for ``ncols`` × ``nrows`` panels."""
    w, h = plt.rcParams["figure.figsize"]
    return plt.subplots(nrows, ncols, figsize=(w * ncols * 0.85 if ncols > 1 else w, h * nrows), squeeze=True, **kw)
