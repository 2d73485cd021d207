"""Learning curves err(n): models from the literature, fitting, choice by extrapolation, intervals from seeds.

Models (Viering & Loog's survey; the LCDB learning-curve database, Mohr et al. 2022; Hestness et al. 2017):
``pow3`` a·n^(−b) + c (power law with an irreducible floor c), ``pow2`` a·n^(−b), ``exp3`` a·e^(−b·n) + c and
``vap3`` exp(a + b/n + c·ln n) (vapor pressure). n is divided by a reference size n0 (the largest fitted size) so
every parameter is of order one. A model is chosen by how well it predicts the largest measured sizes when
fitted without them (``choose``), never by in-sample fit; intervals come from resampling seeds at every size
(``bootstrap``). ``check_shape`` refuses curves that rise, stay flat or fall ever faster: those are not
extrapolated. scipy's ``least_squares`` does the fitting (bounded trust-region, several starts).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq, least_squares

Array = np.ndarray
Numbers = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class CurveModel:
    """One learning-curve family: formula in x = n / n0, parameter names, bounds and starting points."""

    name: str
    formula: str
    params: tuple[str, ...]
    f: Callable[..., Array]
    bounds: Callable[[Array, Array], tuple[list[float], list[float]]]
    starts: Callable[[Array, Array], list[list[float]]]
    floor: Callable[[Sequence[float]], float]


def _loglog(x: Array, y: Array) -> tuple[float, float]:
    """(log a, b) of the least-squares line log y = log a − b log x."""
    slope, icpt = np.polyfit(np.log(x), np.log(np.clip(y, 1e-12, None)), 1)
    return float(icpt), float(-slope)


def _pow3_starts(x: Array, y: Array) -> list[list[float]]:
    out = []
    for b in (0.3, 0.7, 1.5):
        for c in (0.0, 0.5 * float(y.min()), 0.9 * float(y.min())):
            out.append([max(1e-9, (float(y[0]) - c) * float(x[0]) ** b), b, c])
    return out


def _exp3_starts(x: Array, y: Array) -> list[list[float]]:
    out = []
    for b in (1.0, 4.0, 15.0):
        for c in (0.0, 0.5 * float(y.min()), 0.9 * float(y.min())):
            out.append([max(1e-9, (float(y[0]) - c) * math.exp(min(b * float(x[0]), 50.0))), b, c])
    return out


def _vap3_starts(x: Array, y: Array) -> list[list[float]]:
    la, b = _loglog(x, y)
    return [[la, 0.0, -b], [la, 0.01, -b], [la, -0.01, -0.5 * b]]


MODELS: dict[str, CurveModel] = {
    "pow3": CurveModel(
        "pow3", "a·n^(−b) + c", ("a", "b", "c"),
        lambda x, a, b, c: a * x ** (-b) + c,
        lambda x, y: ([0.0, 0.0, 0.0], [np.inf, 3.0, float(y.max())]),
        _pow3_starts, lambda p: float(p[2])),
    "pow2": CurveModel(
        "pow2", "a·n^(−b)", ("a", "b"),
        lambda x, a, b: a * x ** (-b),
        lambda x, y: ([0.0, 0.0], [np.inf, 3.0]),
        lambda x, y: [[math.exp(_loglog(x, y)[0]), min(3.0, max(0.0, _loglog(x, y)[1]))], [float(y[-1]), 0.5]],
        lambda p: 0.0),
    "exp3": CurveModel(
        "exp3", "a·e^(−b·n) + c", ("a", "b", "c"),
        lambda x, a, b, c: a * np.exp(-b * x) + c,
        lambda x, y: ([0.0, 0.0, 0.0], [np.inf, 200.0, float(y.max())]),
        _exp3_starts, lambda p: float(p[2])),
    "vap3": CurveModel(
        "vap3", "exp(a + b/n + c·ln n)", ("a", "b", "c"),
        lambda x, a, b, c: np.exp(np.clip(a + b / x + c * np.log(x), -50.0, 50.0)),
        lambda x, y: ([-50.0, -50.0, -5.0], [50.0, 50.0, 5.0]),
        _vap3_starts, lambda p: 0.0 if p[2] < 0 else (math.exp(p[0]) if p[2] == 0 else math.inf)),
}


@dataclass(frozen=True)
class Fit:
    """A fitted curve: ``predict(n)`` in the original units of n; ``floor`` is its limit as n → ∞."""

    model: str
    params: tuple[float, ...]
    n0: float
    rmse: float

    def predict(self, n: float | Numbers) -> Array:
        x = np.asarray(n, float) / self.n0
        return np.asarray(MODELS[self.model].f(x, *self.params), float)

    @property
    def floor(self) -> float:
        return MODELS[self.model].floor(self.params)

    def named_params(self) -> dict[str, float]:
        """Parameters by name; n-scale parameters given for n itself (pow: a·n0^b; exp: b/n0; vap: b·n0)."""
        p = dict(zip(MODELS[self.model].params, self.params, strict=True))
        if self.model in ("pow3", "pow2"):
            p["a"] = p["a"] * self.n0 ** p["b"]
        elif self.model == "exp3":
            p["b"] = p["b"] / self.n0
        elif self.model == "vap3":
            p["a"], p["b"] = p["a"] - p["c"] * math.log(self.n0), p["b"] * self.n0
        return p


def fit(model: str, ns: Numbers, errs: Numbers, n0: float | None = None,
        start: Numbers | None = None) -> Fit | None:
    """Least-squares fit of one model to (n, error) points from several starts (or from ``start`` alone, in
    the scaled parameters of a ``Fit``); None if every start fails."""
    m = MODELS[model]
    n = np.asarray(ns, float)
    y = np.asarray(errs, float)
    if len(n) < len(m.params) or not np.all(np.isfinite(y)):
        return None
    ref = float(n0 or n.max())
    x = n / ref
    lo, hi = m.bounds(x, y)
    best = None
    for p0 in ([list(start)] if start is not None else m.starts(x, y)):
        p0 = np.clip(np.asarray(p0, float), np.asarray(lo) + 1e-12, np.asarray(hi) - 1e-12)
        try:
            r = least_squares(lambda p: m.f(x, *p) - y, p0, bounds=(lo, hi), method="trf",
                              x_scale="jac", max_nfev=1000, xtol=1e-11, ftol=1e-11, gtol=1e-11)
        except (ValueError, FloatingPointError):
            continue
        if np.all(np.isfinite(r.fun)) and (best is None or r.cost < best.cost):
            best = r
    if best is None:
        return None
    return Fit(model, tuple(float(v) for v in best.x), ref, float(np.sqrt(np.mean(best.fun ** 2))))


@dataclass
class Choice:
    """Which model predicts the held-out largest sizes best, the score of each, and the winner fitted on all."""

    model: str
    scores: dict[str, float]
    holdout: int
    fit: Fit
    fits_without_holdout: dict[str, Fit] = field(default_factory=dict)


def choose(ns: Numbers, errs: Numbers, models: Sequence[str] = tuple(MODELS),
           holdout: int | None = None) -> Choice:
    """Fit each model without the ``holdout`` largest sizes, score it by the mean absolute error of its
    predictions there, and pick the best (ties within 1e-9 go to fewer parameters). Default holdout: 1 for
    up to 5 sizes, else 2."""
    n = np.asarray(ns, float)
    y = np.asarray(errs, float)
    h = holdout if holdout is not None else (1 if len(n) <= 5 else 2)
    if not 1 <= h < len(n):
        raise ValueError(f"holdout must be between 1 and {len(n) - 1}, got {h}")
    scores: dict[str, float] = {}
    partial: dict[str, Fit] = {}
    for name in models:
        f = fit(name, n[:-h], y[:-h])
        if f is None:
            continue
        partial[name] = f
        scores[name] = float(np.mean(np.abs(f.predict(n[-h:]) - y[-h:])))
    if not scores:
        raise ValueError("no learning-curve model could be fitted (too few sizes?)")
    best = min(scores.values())
    winner = min((m for m in scores if scores[m] <= best + 1e-9), key=lambda m: (len(MODELS[m].params), scores[m]))
    full = fit(winner, n, y)
    assert full is not None  # it fitted on a subset of the same points
    return Choice(winner, scores, h, full, partial)


def bootstrap(ns: Numbers, errs_by_size: Sequence[Numbers], model: str, targets: Numbers,
              n_boot: int = 200, level: float = 0.9, seed: int = 0) -> tuple[Array, Array, Array]:
    """Prediction at ``targets`` with a percentile interval from resampling seeds at every size.

    Each resample draws, at every size independently, as many seed errors as were measured (with replacement),
    refits ``model`` to the resampled means (starting from the full fit) and predicts. The bootstrap's spread
    of a mean of k values is √((k−1)/k) of the true one, so deviations from the point are widened by √(k/(k−1))
    (k = the fewest seeds at any size). Returns (point from the full data, low, high).
    """
    n = np.asarray(ns, float)
    per = [np.asarray(e, float) for e in errs_by_size]
    means = np.array([e.mean() for e in per])
    full = fit(model, n, means)
    if full is None:
        raise ValueError(f"model {model} cannot be fitted to these points")
    t = np.asarray(targets, float)
    rng = np.random.default_rng(seed)
    preds = []
    for _ in range(n_boot):
        m = np.array([rng.choice(e, size=len(e), replace=True).mean() for e in per])
        f = fit(model, n, m, start=full.params)
        if f is not None:
            preds.append(f.predict(t))
    if not preds:
        raise ValueError("no bootstrap resample could be fitted")
    arr = np.vstack(preds)
    q = (1 - level) / 2
    k = min(len(e) for e in per)
    widen = math.sqrt(k / (k - 1)) if k > 1 else 1.0
    point = full.predict(t)
    lo = point - widen * (point - np.quantile(arr, q, axis=0))
    hi = point + widen * (np.quantile(arr, 1 - q, axis=0) - point)
    return point, np.minimum(lo, point), np.maximum(hi, point)


def size_for(f: Fit, target: float, n_max: float = 1e9, n_from: float | None = None) -> float:
    """The n at which the fitted curve reaches error ``target``: inf if it never does (below its floor, or
    only beyond ``n_max``), and the smallest fitted scale if the curve is already below it there."""
    lo, hi = (n_from if n_from is not None else f.n0 * 1e-4), n_max  # n_from: search above it (vap3 can turn)
    g = lambda ln: float(f.predict(math.exp(ln))) - target  # noqa: E731
    if g(math.log(hi)) > 0:
        return math.inf
    if g(math.log(lo)) <= 0:
        return lo
    return math.exp(brentq(g, math.log(lo), math.log(hi), xtol=1e-10))


@dataclass(frozen=True)
class Shape:
    """Whether a measured curve may be extrapolated: ``ok`` and, when not, why ('rises', 'flat', 'accelerates')."""

    ok: bool
    kind: str
    reason: str


def check_shape(ns: Numbers, errs_by_size: Sequence[Numbers]) -> Shape:
    """A curve fit for extrapolation falls and flattens. Ill-behaved (not extrapolated):

    - it rises between neighbouring sizes by more than 2 standard errors of the difference (+0.005);
    - it does not fall overall (first minus last mean within 2 standard errors + 0.005): flat;
    - its log-log slope over the last two steps is steeper than twice the first two steps' slope plus 0.15
      (it falls faster and faster, a regime change no curve model here extrapolates).
    """
    n = np.asarray(ns, float)
    per = [np.asarray(e, float) for e in errs_by_size]
    m = np.array([e.mean() for e in per])
    se = np.array([e.std(ddof=1) / math.sqrt(len(e)) if len(e) > 1 else 0.0 for e in per])
    for i in range(len(m) - 1):
        tol = 2 * math.hypot(se[i], se[i + 1]) + 0.005
        if m[i + 1] - m[i] > tol:
            return Shape(False, "rises", f"error rises from {m[i]:.3f} at n={n[i]:g} to {m[i + 1]:.3f} at "
                                         f"n={n[i + 1]:g}, beyond seed noise")
    if m[0] - m[-1] <= 2 * math.hypot(se[0], se[-1]) + 0.005:
        return Shape(False, "flat", f"error does not fall measurably from n={n[0]:g} ({m[0]:.3f}) to "
                                    f"n={n[-1]:g} ({m[-1]:.3f})")
    if len(m) >= 4:
        s = np.diff(np.log(np.clip(m, 1e-9, None))) / np.diff(np.log(n))
        early, late = float(np.mean(s[:2])), float(np.mean(s[-2:]))
        if late < 2 * min(early, 0.0) - 0.15:
            return Shape(False, "accelerates", f"error falls faster at large n (log-log slope {late:.2f}) than at "
                                               f"small n ({early:.2f}); not a flattening curve")
    return Shape(True, "falls and flattens", "error falls with n and its log-log slope does not steepen")
