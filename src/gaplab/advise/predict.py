"""advise's extrapolation of one learning curve: an ensemble of the curve families that extrapolate best, with an
interval that holds seed noise and model uncertainty, calibrated on a benchmark of curves with known truth.

Method (chosen on the tuning part of ``benchmarks/advise_truth.py``; see docs/advise-truth.md):

- every family of ``theory.curves.FAMILIES`` is fitted without the two largest sizes and scored there
  (mean absolute error); the point prediction is the ``RULE`` ensemble (equal weights over the families within
  ``KEEP``× the best score that do not predict a rise) of the families fitted on all sizes — on the tuning part
  it ranked ahead of the single best-scoring family, 1/score² weights and the median;
- the interval is point ± κ_h·u_h at horizon h (target n / largest measured n), u_h = √(spread_h² + (score·r_h)²
  + sem²): spread_h is the weighted standard deviation of the members' predictions (which model is right), score
  the members' weighted held-out error (the ensemble's own measured wider on the tuning part) grown by r_h =
  ln(h·N / n_fit) / ln(N / n_fit) (N the largest size, n_fit the largest size of the held-out fits: the ratio of
  the extrapolation distances on a log scale), sem the seed standard error at N. κ is one number for every
  horizon: the split-conformal 90 % quantile of |error| / u_h over all horizons of the benchmark's tuning curves
  (the ⌈0.9·(N+1)⌉-th smallest of N; the first session's per-horizon quantiles came from 5–6 values each and gave
  8× a smaller κ than 2×, though u_h already grows with the horizon). (A seed bootstrap, ``curves.bootstrap``,
  holds seed noise only — advise's old interval, which missed the truth in 6 of 10 MNIST-1D cases — and costs
  seconds per curve; sem stands in for it.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gaplab.theory import curves

RULE = "uniform"
KEEP = 3.0
# κ_h by horizon (factor over the largest measured size), calibrated on the benchmark's tuning pairs (since the
# fourth session: their curves under the patience rule advise trains with; 1.753 on the first fixed-recipe
# curves), and the 90 %-interval coverage measured on its held-out and fresh pairs (15 curves): the line
# `python benchmarks/advise_truth.py` prints last (numbers in benchmarks/results/advise_truth.json). RULE and KEEP
# were kept by the same tuning part.
KAPPA: dict[float, float] = {2.0: 2.391, 4.0: 2.391, 8.0: 2.391}
COVERAGE: dict[float, float] = {2.0: 1.0, 4.0: 1.0, 8.0: 1.0}


def kappa(h: float, kappas: dict[float, float] | None = None) -> float:
    """κ at horizon h: the value of the nearest calibrated horizon on a log scale."""
    ks = kappas or KAPPA
    return ks[min(ks, key=lambda k: abs(math.log(k) - math.log(h)))]


@dataclass
class CurvePrediction:
    """The ensemble's predictions at ``targets`` with their intervals and what they are made of."""

    targets: list[float]
    point: list[float]
    low: list[float]
    high: list[float]
    weights: dict[str, float]
    scores: dict[str, float]
    members: dict[str, list[float]]  # each family's own prediction (fitted on all sizes)
    spread: list[float]
    scale: list[float]  # u_h
    floor: float
    fits: dict[str, curves.Fit]

    def to_json(self) -> dict[str, Any]:
        return {"targets": self.targets, "point": self.point, "low": self.low, "high": self.high,
                "weights": self.weights, "scores": self.scores, "members": self.members, "spread": self.spread,
                "scale": self.scale, "floor": self.floor}


def plausible(choice: curves.Choice, members: dict[str, np.ndarray], last: float, sem: float) -> dict[str, float]:
    """Held-out scores of the families whose predictions do not rise above the last measured error (beyond
    2 seed standard errors + 0.005): more data is not predicted to hurt. All of them if none qualifies."""
    ok = {m: s for m, s in choice.scores.items() if float(np.max(members[m])) <= last + 2 * sem + 0.005}
    return ok or dict(choice.scores)


def ensemble(choice: curves.Choice, members: dict[str, np.ndarray], last: float, sem: float,
             rule: str = RULE) -> tuple[np.ndarray, dict[str, float]]:
    """The point prediction and member weights of ``rule``: ``winner``, ``uniform``, ``inverse-square``,
    ``softmax`` (``curves.weights``, scores floored at 2 seed standard errors), ``median`` (the median of the
    members kept by the uniform rule) or ``trimmed`` (the uniform members without the two whose prediction at the
    farthest target is highest and lowest, when at least 4 are kept: no single member over- or under-shooting
    alone moves the point)."""
    scores = plausible(choice, members, last, sem)
    w = curves.weights(scores, "uniform" if rule in ("median", "trimmed") else rule, KEEP, noise=2 * sem)
    if rule == "median":
        return np.median([members[m] for m in w], axis=0), w
    if rule == "trimmed" and len(w) >= 4 and len(next(iter(members.values()))):
        far = sorted(w, key=lambda m: float(members[m][-1]))
        w = {m: 1.0 / (len(far) - 2) for m in far[1:-1]}
    return np.sum([wm * members[m] for m, wm in w.items()], axis=0), w


def predict(ns: Sequence[float], errs_by_size: Sequence[Sequence[float] | np.ndarray], targets: Sequence[float],
            start_error: float | None = None, rule: str = RULE,
            kappas: dict[float, float] | None = None, choice: curves.Choice | None = None,
            ceiling: float | None = None) -> CurvePrediction:
    """Extrapolate one measured curve (sizes ``ns``, seed errors per size) to ``targets`` (``choice``: the
    families already fitted and scored by ``curves.choose`` on these means; ``ceiling``: the largest possible
    error, 1 for a classification error, where the interval is cut)."""
    n = np.asarray(ns, float)
    per = [np.asarray(e, float) for e in errs_by_size]
    means = np.array([e.mean() for e in per])
    if choice is None:
        choice = curves.choose(n, means, start_error=start_error)
    t = np.asarray(targets, float)
    last = per[int(np.argmax(n))]
    sem = float(last.std(ddof=1) / math.sqrt(len(last))) if len(last) > 1 else 0.0
    members = {m: choice.fits[m].predict(t) for m in choice.fits}
    point, w = ensemble(choice, members, float(last.mean()), sem, rule)
    spread = np.sqrt(np.sum([wm * (members[m] - point) ** 2 for m, wm in w.items()], axis=0))
    held = float(sum(wm * choice.scores[m] for m, wm in w.items()))
    big, fit_max = float(n.max()), float(n[-choice.holdout - 1])
    r = np.log(t / fit_max) / math.log(big / fit_max)
    scale = np.sqrt(spread ** 2 + (held * r) ** 2 + sem ** 2)
    k = np.array([kappa(h, kappas) for h in t / big])
    lo, hi = point - k * scale, point + k * scale
    if ceiling is not None:
        hi = np.minimum(hi, ceiling)
    floor = float(sum(wm * choice.fits[m].floor for m, wm in w.items()))
    return CurvePrediction([float(v) for v in t], point.tolist(), np.maximum(lo, 0.0).tolist(), hi.tolist(),
                           w, choice.scores, {m: v.tolist() for m, v in members.items()}, spread.tolist(),
                           scale.tolist(), floor, choice.fits)
