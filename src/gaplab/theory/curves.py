"""Learning curves err(n): models from the literature, fitting, choice by extrapolation, intervals from seeds.

Families (x = n / n0, n0 = the largest fitted size, so every parameter is of order one; all written for an
error that falls with n). The LCDB learning-curve database (Mohr et al., ECML 2022; repository fmohr/lcdb,
``publications/2022-ecml/analysis/fit_database.py``) defines its 16 families on accuracy; here they are the same
formulas for the error, i.e. with the sign of the rising part flipped:

- ``pow3`` a·x^(−b) + c (LCDB ``pow3`` a − b·x^(−c)); ``pow2`` a·x^(−b); ``exp3`` a·e^(−b·x) + c;
  ``vap3`` exp(a + b/x + c·ln x) (vapor pressure);
- ``mmf4`` (a·b + c·x^d) / (b + x^d) (Morgan-Mercer-Flodin: a at x → 0, floor c; LCDB's formula unchanged);
- ``wbl4`` c + b·e^(−a·x^d) (Weibull; LCDB ``c − b·exp(−a·x^d)``);
- ``pow4`` a + b·(x + d)^(−c) (LCDB ``a − b·(x + d)^(−c)``: pow3 with a shift d);
- ``m4`` Alabdulmohsin et al. 2022 ("Revisiting neural scaling laws"), estimator M4:
  (e − e∞) / (e0 − e)^α = β·x^(−c), with the start error e0 fixed (chance for classification, the error of
  the constant predictor for regression) and e solved for at each x. α > 0 gives the slow start (error
  falling faster and faster on a log scale) before the power law with floor e∞ sets in;
- ``bnsl`` a broken power law with one break (Caballero et al. 2023, "Broken neural scaling laws"):
  a + b·x^(−c0)·(1 + x/d)^(c0 − c2), sharpness f fixed at 1; log-log slope c0 before the break d, c2 after it
  (their c1 = c2 − c0; both slopes ≥ 0, so the curve never rises);
- ``last1`` the last measured error (LCDB's ``last1``): the baseline every method must beat.

A model is chosen by how well it predicts the largest measured sizes when fitted without them (``choose``),
never by in-sample fit; intervals come from resampling seeds at every size (``bootstrap``). ``check_shape``
refuses curves that rise or stay flat, and names curves that fall ever faster (a slow start).
scipy's ``least_squares`` does the fitting, as in LCDB (here bounded trust-region, several deterministic starts).
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
    """One learning-curve family: formula in x = n / n0, parameter names, bounds and starting points.

    ``fixed`` names constants given at fit time, passed to ``f`` after the parameters (M4's start error e0)."""

    name: str
    formula: str
    params: tuple[str, ...]
    f: Callable[..., Array]
    bounds: Callable[[Array, Array], tuple[list[float], list[float]]]
    starts: Callable[[Array, Array], list[list[float]]]
    floor: Callable[[Sequence[float]], float]
    fixed: tuple[str, ...] = ()


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


def _mmf4(x: Array, a: float, b: float, c: float, d: float) -> Array:
    xd = x ** d
    return (a * b + c * xd) / (b + xd)


def _mmf4_starts(x: Array, y: Array) -> list[list[float]]:
    top, low = float(y.max()), float(y.min())
    out = []
    for c in (0.0, 0.5 * low, 0.9 * low):
        for d in (0.5, 1.0, 2.0):
            out.append([1.5 * top, 0.5, c, d])  # b = 0.5: half-way down at x = 0.5^(1/d)
    return out


def _wbl4(x: Array, a: float, b: float, c: float, d: float) -> Array:
    return c + b * np.exp(-a * x ** d)


def _wbl4_starts(x: Array, y: Array) -> list[list[float]]:
    low = float(y.min())
    out = []
    for c in (0.0, 0.5 * low, 0.9 * low):
        for a, d in ((1.0, 0.5), (3.0, 1.0), (0.5, 0.3)):
            out.append([a, max(1e-6, (float(y[0]) - c) * math.exp(a * float(x[0]) ** d)), c, d])
    return out


def _pow4(x: Array, a: float, b: float, c: float, d: float) -> Array:
    return a + b * (x + d) ** (-c)


def _pow4_starts(x: Array, y: Array) -> list[list[float]]:
    # LCDB starts pow4 from a pow3 fit (its "init works well for pow4"); here from pow3's starts with d = 0, 0.1
    return [[c, a, b, d] for a, b, c in _pow3_starts(x, y)[1::2] for d in (0.0, 0.2)]


def _m4(x: Array, einf: float, beta: float, c: float, alpha: float, e0: float) -> Array:
    """Solve (e − e∞) = β·x^(−c)·(e0 − e)^α for e in (e∞, e0).

    With t = (e − e∞)/(e0 − e∞) and z = logit t the equation is h(z) = −softplus(−z) + α·softplus(z) − k = 0,
    k = ln β − c·ln x + (α − 1)·ln(e0 − e∞); h rises with slope σ(−z) + α·σ(z) ∈ [min(1, α), max(1, α)], so a
    damped Newton iteration from z = k converges in a few steps (bisection needed ~36 evaluations)."""
    x = np.asarray(x, float)
    span = e0 - einf
    if not span > 0:
        return np.full(x.shape, einf)
    k = math.log(max(beta, 1e-300)) - c * np.log(x) + (alpha - 1.0) * math.log(span)
    z = np.clip(k, -30.0, 30.0)
    for _ in range(25):
        h = -np.logaddexp(0.0, -z) + alpha * np.logaddexp(0.0, z) - k
        sig = 0.5 * (1.0 + np.tanh(0.5 * z))
        step = h / np.maximum(1.0 - sig + alpha * sig, 1e-12)
        z = z - np.clip(step, -4.0, 4.0)
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return einf + span * 0.5 * (1.0 + np.tanh(0.5 * z))


def _m4_bounds(x: Array, y: Array, e0: float) -> tuple[list[float], list[float]]:
    return [0.0, 1e-9, 0.0, 0.0], [max(1e-9, min(float(y.min()), e0 - 1e-6)), np.inf, 3.0, 8.0]


def _m4_starts(x: Array, y: Array, e0: float) -> list[list[float]]:
    low = float(y.min())
    out = []
    for einf in (0.0, 0.7 * low):
        for c, alpha in ((0.5, 0.5), (1.0, 2.0), (0.5, 4.0)):
            # β from the largest size (x = 1): (y − e∞) / (e0 − y)^α
            yl = float(y[-1])
            out.append([einf, max(1e-6, (yl - einf) / max(1e-6, e0 - yl) ** alpha), c, alpha])
    return out


def _bnsl(x: Array, a: float, b: float, c0: float, c2: float, d: float) -> Array:
    # Caballero's c1 written as c2 − c0 (c2 the slope after the break, ≥ 0): the curve never rises
    return a + b * x ** (-c0) * (1.0 + x / d) ** (c0 - c2)


def _bnsl_starts(x: Array, y: Array) -> list[list[float]]:
    low = float(y.min())
    out = []
    for a in (0.0, 0.5 * low):
        for c0, c2, d in ((0.1, 0.9, 0.3), (0.05, 1.5, 1.0), (0.5, 0.2, 0.3)):
            b = max(1e-9, (float(y[-1]) - a) * (1.0 + 1.0 / d) ** (c2 - c0))
            out.append([a, b, c0, c2, d])
    return out


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
    "mmf4": CurveModel(
        "mmf4", "(a·b + c·n^d) / (b + n^d)", ("a", "b", "c", "d"), _mmf4,
        lambda x, y: ([0.0, 1e-9, 0.0, 0.01], [10.0 * float(y.max()) + 1.0, 1e6, float(y.max()), 5.0]),
        _mmf4_starts, lambda p: float(p[2])),
    "wbl4": CurveModel(
        "wbl4", "c + b·e^(−a·n^d)", ("a", "b", "c", "d"), _wbl4,
        lambda x, y: ([1e-9, 0.0, 0.0, 0.01], [200.0, np.inf, float(y.max()), 5.0]),
        _wbl4_starts, lambda p: float(p[2])),
    "pow4": CurveModel(
        "pow4", "a + b·(n + d)^(−c)", ("a", "b", "c", "d"), _pow4,
        lambda x, y: ([0.0, 0.0, 0.0, 0.0], [float(y.max()), np.inf, 3.0, 10.0]),
        _pow4_starts, lambda p: float(p[0])),
    "m4": CurveModel(
        "m4", "(e − e∞) / (e0 − e)^α = β·n^(−c)", ("einf", "beta", "c", "alpha"), _m4,
        lambda x, y: ([0.0, 1e-9, 0.0, 0.0], [float(y.max()), np.inf, 3.0, 8.0]),  # replaced at fit time (e0)
        lambda x, y: [], lambda p: float(p[0]), fixed=("e0",)),
    "bnsl": CurveModel(
        "bnsl", "a + b·n^(−c0)·(1 + n/d)^(c0 − c2)", ("a", "b", "c0", "c2", "d"), _bnsl,
        lambda x, y: ([0.0, 0.0, 0.0, 0.0, 1e-3], [float(y.max()), np.inf, 3.0, 3.0, 1e3]),
        _bnsl_starts, lambda p: float(p[0]) if p[3] > 0 else float(p[0] + p[1] * p[4] ** (p[3] - p[2]))),
    "last1": CurveModel(
        "last1", "the last measured error", ("a",), lambda x, a: a + 0.0 * np.asarray(x, float),
        lambda x, y: ([0.0], [np.inf]), lambda x, y: [[float(y[-1])]], lambda p: float(p[0])),
}
TOP_STARTS = 3
# what advise tries by default (LCDB's best four, the slow-start pair, and pow3's simpler kin)
FAMILIES: tuple[str, ...] = ("pow3", "pow2", "exp3", "vap3", "mmf4", "wbl4", "pow4", "m4", "bnsl")


@dataclass(frozen=True)
class Fit:
    """A fitted curve: ``predict(n)`` in the original units of n; ``floor`` is its limit as n → ∞."""

    model: str
    params: tuple[float, ...]
    n0: float
    rmse: float
    fixed: tuple[float, ...] = ()  # the family's constants (M4: the start error e0)

    def predict(self, n: float | Numbers) -> Array:
        x = np.asarray(n, float) / self.n0
        return np.asarray(MODELS[self.model].f(x, *self.params, *self.fixed), float)

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
        elif self.model in ("mmf4", "m4"):
            key = "b" if self.model == "mmf4" else "beta"
            p[key] = p[key] * self.n0 ** (p["d"] if self.model == "mmf4" else p["c"])
        elif self.model == "pow4":
            p["b"], p["d"] = p["b"] * self.n0 ** p["c"], p["d"] * self.n0
        elif self.model == "bnsl":
            p["b"], p["d"] = p["b"] * self.n0 ** p["c0"], p["d"] * self.n0
        elif self.model == "wbl4":
            p["a"] = p["a"] / self.n0 ** p["d"]
        p.update(zip(MODELS[self.model].fixed, self.fixed, strict=True))
        return p


def fit(model: str, ns: Numbers, errs: Numbers, n0: float | None = None,
        start: Numbers | None = None, start_error: float | None = None) -> Fit | None:
    """Least-squares fit of one model to (n, error) points from several starts (or from ``start`` alone, in
    the scaled parameters of a ``Fit``); None if every start fails, or for ``m4`` without ``start_error``
    (its e0) or with measured errors at or above it."""
    m = MODELS[model]
    n = np.asarray(ns, float)
    y = np.asarray(errs, float)
    if len(n) < len(m.params) or not np.all(np.isfinite(y)):
        return None
    ref = float(n0 or n.max())
    x = n / ref
    if model == "last1":  # no optimization: the last point (LCDB's last1)
        a = float(y[np.argmax(n)])
        return Fit(model, (a,), ref, float(np.sqrt(np.mean((y - a) ** 2))))
    fixed: tuple[float, ...] = ()
    if model == "m4":
        if start_error is None or not start_error > float(y.max()):
            return None
        fixed = (float(start_error),)
        lo, hi = _m4_bounds(x, y, fixed[0])
        starts = _m4_starts(x, y, fixed[0])
    else:
        lo, hi = m.bounds(x, y)
        starts = m.starts(x, y)
    best = None
    resid = lambda p: m.f(x, *p, *fixed) - y  # noqa: E731
    with np.errstate(all="ignore"):
        cands = [np.clip(np.asarray(p0, float), np.asarray(lo) + 1e-12, np.asarray(hi) - 1e-12)
                 for p0 in ([list(start)] if start is not None else starts)]
        # optimize only from the most promising starts (by their initial cost): trf costs ~1 ms an iteration
        cost0 = [float(np.sum(resid(p0) ** 2)) for p0 in cands]
        order = sorted(range(len(cands)), key=lambda i: cost0[i] if math.isfinite(cost0[i]) else math.inf)
        for p0 in [cands[i] for i in order[:TOP_STARTS]]:
            try:
                r = least_squares(resid, p0, bounds=(lo, hi), method="trf",
                                  x_scale="jac", max_nfev=200, xtol=1e-9, ftol=1e-9, gtol=1e-9)
            except (ValueError, FloatingPointError):
                continue
            if np.all(np.isfinite(r.fun)) and (best is None or r.cost < best.cost):
                best = r
    if best is None:
        return None
    return Fit(model, tuple(float(v) for v in best.x), ref, float(np.sqrt(np.mean(best.fun ** 2))), fixed)


@dataclass
class Choice:
    """Which model predicts the held-out largest sizes best, the score of each, and the winner fitted on all.

    ``fits`` holds every scored model fitted on all sizes (for ensembles); ``fits_without_holdout`` the fits that
    were scored."""

    model: str
    scores: dict[str, float]
    holdout: int
    fit: Fit
    fits_without_holdout: dict[str, Fit] = field(default_factory=dict)
    fits: dict[str, Fit] = field(default_factory=dict)


def choose(ns: Numbers, errs: Numbers, models: Sequence[str] = FAMILIES,
           holdout: int | None = None, start_error: float | None = None) -> Choice:
    """Fit each model without the ``holdout`` largest sizes, score it by the mean absolute error of its
    predictions there, and pick the best (ties within 1e-9 go to fewer parameters). Default holdout: 1 for
    up to 5 sizes, else 2. A model with more parameters than the points left is skipped."""
    n = np.asarray(ns, float)
    y = np.asarray(errs, float)
    h = holdout if holdout is not None else (1 if len(n) <= 5 else 2)
    if not 1 <= h < len(n):
        raise ValueError(f"holdout must be between 1 and {len(n) - 1}, got {h}")
    scores: dict[str, float] = {}
    partial: dict[str, Fit] = {}
    full: dict[str, Fit] = {}
    for name in models:
        f = fit(name, n[:-h], y[:-h], start_error=start_error)
        if f is None:
            continue
        pred = f.predict(n[-h:])
        if not np.all(np.isfinite(pred)):
            continue
        g = fit(name, n, y, start_error=start_error)
        if g is None:
            continue
        partial[name], full[name] = f, g
        scores[name] = float(np.mean(np.abs(pred - y[-h:])))
    if not scores:
        raise ValueError("no learning-curve model could be fitted (too few sizes?)")
    best = min(scores.values())
    winner = min((m for m in scores if scores[m] <= best + 1e-9), key=lambda m: (len(MODELS[m].params), scores[m]))
    return Choice(winner, scores, h, full[winner], partial, full)


def weights(scores: dict[str, float], rule: str = "inverse-square", keep: float = 3.0,
            noise: float = 1e-4) -> dict[str, float]:
    """Ensemble weights from held-out scores (lower is better): ``winner`` (all on the best),
    ``inverse-square`` (1/score², over models scoring within ``keep``× the best), ``uniform`` (equal, same
    cut) or ``softmax`` (∝ exp(−(score − best) / best), same cut: a model at 2× the best score gets e⁻¹ of its
    weight). Scores are floored at ``noise`` (the seed noise of the held-out points): differences below it are
    not evidence, so a lucky fit does not take everything. Sums to 1."""
    if not scores:
        return {}
    best = min(scores.values())
    if rule == "winner":
        w = min(scores, key=lambda m: (scores[m], len(MODELS[m].params)))
        return {w: 1.0}
    floor = max(noise, 1e-4)
    cut = keep * max(best, floor)
    kept = {m: max(s, floor) for m, s in scores.items() if s <= cut}
    if rule == "uniform":
        raw = {m: 1.0 for m in kept}
    elif rule == "inverse-square":
        raw = {m: 1.0 / s ** 2 for m, s in kept.items()}
    elif rule == "softmax":
        tau = min(kept.values())
        raw = {m: math.exp(-(s - tau) / tau) for m, s in kept.items()}
    else:
        raise ValueError(f"unknown weighting rule {rule!r}")
    tot = sum(raw.values())
    return {m: v / tot for m, v in raw.items()}


@dataclass(frozen=True)
class Ensemble:
    """A weighted sum of fitted families; ``predict`` and ``floor`` like a ``Fit`` (so ``size_for`` takes it)."""

    fits: dict[str, Fit]
    weights: dict[str, float]

    @property
    def n0(self) -> float:
        return max(f.n0 for f in self.fits.values())

    @property
    def floor(self) -> float:
        return float(sum(w * self.fits[m].floor for m, w in self.weights.items()))

    def predict(self, n: float | Numbers) -> Array:
        return mixture(self.fits, self.weights, n)


def mixture(fits: dict[str, Fit], w: dict[str, float], targets: float | Numbers) -> Array:
    """Σ w_m · f_m(targets): the weighted ensemble's prediction."""
    t = np.asarray(targets, float)
    return np.sum([wm * fits[m].predict(t) for m, wm in w.items()], axis=0)


def bootstrap(ns: Numbers, errs_by_size: Sequence[Numbers], model: str | dict[str, float], targets: Numbers,
              n_boot: int = 200, level: float = 0.9, seed: int = 0,
              start_error: float | None = None) -> tuple[Array, Array, Array]:
    """Prediction at ``targets`` with a percentile interval from resampling seeds at every size.

    ``model`` is one family or an ensemble {family: weight}. Each resample draws, at every size independently,
    as many seed errors as were measured (with replacement), refits every family (starting from its full fit)
    to the resampled means and predicts. The bootstrap's spread of a mean of k values is √((k−1)/k) of the true
    one, so deviations from the point are widened by √(k/(k−1)) (k = the fewest seeds at any size).
    Returns (point from the full data, low, high).
    """
    n = np.asarray(ns, float)
    per = [np.asarray(e, float) for e in errs_by_size]
    means = np.array([e.mean() for e in per])
    w = {model: 1.0} if isinstance(model, str) else dict(model)
    full: dict[str, Fit] = {}
    for m in w:
        f = fit(m, n, means, start_error=start_error)
        if f is None:
            raise ValueError(f"model {m} cannot be fitted to these points")
        full[m] = f
    t = np.asarray(targets, float)
    rng = np.random.default_rng(seed)
    preds = []
    for _ in range(n_boot):
        mb = np.array([rng.choice(e, size=len(e), replace=True).mean() for e in per])
        fb = {m: fit(m, n, mb, start=full[m].params, start_error=start_error) for m in w}
        if all(f is not None for f in fb.values()):
            p = mixture(fb, w, t)  # type: ignore[arg-type]
            if np.all(np.isfinite(p)):
                preds.append(p)
    if not preds:
        raise ValueError("no bootstrap resample could be fitted")
    arr = np.vstack(preds)
    q = (1 - level) / 2
    k = min(len(e) for e in per)
    widen = math.sqrt(k / (k - 1)) if k > 1 else 1.0
    point = mixture(full, w, t)
    lo = point - widen * (point - np.quantile(arr, q, axis=0))
    hi = point + widen * (np.quantile(arr, 1 - q, axis=0) - point)
    return point, np.minimum(lo, point), np.maximum(hi, point)


def size_for(f: Fit | Ensemble, target: float, n_max: float = 1e9, n_from: float | None = None) -> float:
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
    """Whether a measured curve may be extrapolated (``ok``) and its ``kind``: 'rises' or 'flat' (not
    extrapolated), 'slow start' or 'falls and flattens' (extrapolated)."""

    ok: bool
    kind: str
    reason: str


def check_shape(ns: Numbers, errs_by_size: Sequence[Numbers]) -> Shape:
    """A curve fit for extrapolation falls. Ill-behaved, not extrapolated:

    - it rises between neighbouring sizes by more than 2 standard errors of the difference (+0.005);
    - it does not fall overall (first minus last mean within 2 standard errors + 0.005): flat.

    Extrapolated but named: a curve whose log-log slope over the last two steps is steeper than twice the first
    two steps' slope plus 0.15 is in a slow start (it falls faster and faster; M4 and the broken power law model
    that regime, the pure power laws do not) and is reported with kind 'slow start'.
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
            return Shape(True, "slow start", f"error falls faster at large n (log-log slope {late:.2f}) than at "
                                             f"small n ({early:.2f}): a slow start, not yet a flattening curve")
    return Shape(True, "falls and flattens", "error falls with n and its log-log slope does not steepen")
