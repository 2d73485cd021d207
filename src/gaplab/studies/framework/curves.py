"""Learning-curve helpers shared by studies: power-law fits, isotonic curves, "equivalent real examples" of an
error (C2 data-hunger, C11 augmentation) and a log size axis labelled at the sizes themselves."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def fit_power_law(ns: Sequence[float], errs: Sequence[float]) -> tuple[float, float]:
    """Least-squares fit of log err = log a − b log n; returns (a, b). Pure power law, no offset."""
    x = np.log(np.asarray(ns, float))
    y = np.log(np.clip(np.asarray(errs, float), 1e-6, None))
    slope, intercept = np.polyfit(x, y, 1)
    return float(math.exp(intercept)), float(-slope)


def isotonic_decreasing(y: Sequence[float]) -> np.ndarray:
    """Pool-adjacent-violators: the closest non-increasing sequence (least squares) to ``y``."""
    blocks: list[list[float]] = []  # [mean, count]
    for v in map(float, y):
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            m2, c2 = blocks.pop()
            m1, c1 = blocks.pop()
            blocks.append([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2])
    return np.concatenate([np.full(int(c), m) for m, c in blocks])


def equivalent_n(ns: Sequence[float], errs: Sequence[float], target: float) -> tuple[float, bool]:
    """n at which the reference curve (ns, errs) reaches error ``target``, interpolated in log-log.

    The curve is first made non-increasing (isotonic); outside its range the power-law fit of the curve is
    used instead (returned flag True = extrapolated).
    """
    ns_a = np.asarray(ns, float)
    iso = np.clip(isotonic_decreasing(errs), 1e-6, None)
    le, ln = np.log(iso), np.log(ns_a)
    lt = math.log(max(target, 1e-6))
    if le[-1] <= lt <= le[0] and le[0] > le[-1]:
        # np.interp needs increasing x: walk the curve from the largest n (lowest error) backwards.
        x, yv = le[::-1], ln[::-1]
        keep = np.concatenate([[True], np.diff(x) > 0])  # drop flat stretches
        return float(math.exp(np.interp(lt, x[keep], yv[keep]))), False
    a, b = fit_power_law(ns, errs)
    if b <= 0:
        return (math.inf if target < iso[-1] else 0.0), True
    return float((target / a) ** (-1.0 / b)), True


def size_ticks(ax: Any, sizes: list[int]) -> None:
    """Log x axis labelled at the training-set sizes themselves."""
    from matplotlib.ticker import NullFormatter, NullLocator

    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
