"""C4: no free lunch: one penalty helps when it pulls toward the truth and hurts when it pulls the wrong way.

Source: seeds/000, answers 3 and 7 ("L2 toward 0 hurts when the true weights are large; L1 on a dense truth hurts").
Setup: linear regression (gaplab's ``linear`` model trained with full-batch SGD + momentum through the pack engine)
on ``linear-teacher`` data with fewer examples than inputs (m = 120 < d = 160), so a penalty matters. Each penalty,
at ONE strength fixed a priori per penalty (λ = 80 for L2, 40 for L1 in the seeds' λ/(2m) convention, the same for
both of its distributions, never tuned per distribution), is applied to
- L2 (reg.l2): a teacher with small weights (Var(x·w*) = 0.1²) vs one with large weights (3²);
- L1 (reg.l1): a sparse teacher (10 % of the weights non-zero) vs a dense one (all non-zero), same signal variance.
Every distribution also gets the unpenalized model (same init and training set), and the ratio of test MSEs
(mean over teachers × training draws) is reported. A sweep over λ and the "tune λ on the favourable distribution,
then apply it to the other" protocol are reported too, plus closed-form ridge / lasso ratios (scikit-learn, against
minimum-norm least squares) as a cross-check on the same training sets. (The trained "plain" model is not exactly
min-norm: gradient descent leaves its random initialization's null-space part in place, so with small true weights
the engine's ratio is lower than the closed form's.)

Rule (declared as checks; thresholds in the presets): at the fixed strength, for both penalties, the ratio is below
``helps_below`` on the favourable distribution (small weights for L2, sparse truth for L1) and above ``hurts_above``
on the unfavourable one (large weights, dense truth). Each check's resolution is ``resolution_se`` standard errors of
its ratio over the training draws (teachers × seeds), so a ratio within noise of its threshold is undecided.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gaplab.engine import prepared_for
from gaplab.spec import RunSpec
from gaplab.studies.framework import (
    Check,
    Measured,
    Preset,
    StoredRun,
    Study,
    StudyContext,
    aside,
    run_seeds,
    run_spec,
    subplots,
)

# distribution -> (weight_scale, sparsity); which penalty it tests, and whether that penalty should help
DISTRIBUTIONS: dict[str, tuple[float, float]] = {
    "small_weights": (0.1, 1.0), "large_weights": (3.0, 1.0), "sparse": (1.0, 0.1), "dense": (1.0, 1.0)}
PAIRS = {"l2": ("small_weights", "large_weights"), "l1": ("sparse", "dense")}


@dataclass(frozen=True)
class P(Preset):
    d: int
    train_size: int
    noise: float
    l2_strength: float
    l1_strength: float
    strengths: list[float]
    teachers: int
    seeds: int
    epochs: int
    lr: float
    momentum: float
    helps_below: float
    hurts_above: float
    resolution_se: float


QUICK = P(d=160, train_size=120, noise=0.1, l2_strength=80.0, l1_strength=40.0, strengths=[4.0, 240.0], teachers=1,
          seeds=3, epochs=400, lr=0.1, momentum=0.9, helps_below=0.95, hurts_above=1.05, resolution_se=2.0)
FULL = replace(QUICK, strengths=[1.2, 4.0, 12.0, 40.0, 80.0, 120.0, 400.0], teachers=3, seeds=6, epochs=1500)


def _key(x: float) -> str:
    return f"{x:g}"


def _lam0(p: P) -> dict[str, float]:
    return {"l2": float(p.l2_strength), "l1": float(p.l1_strength)}


def _lams(p: P) -> list[float]:
    return sorted(set(map(float, p.strengths)) | set(_lam0(p).values()))


def _teachers(p: P, seed: int) -> list[int]:
    return [1000 + t for t in run_seeds(seed, p.teachers)]


def specs(p: P, seed: int) -> dict[tuple[str, int, int, str, float], RunSpec]:
    """(distribution, teacher, seed, penalty, λ): a linear model, plain and under L2 and L1 at every strength."""
    out = {}
    for dist, (scale, sparsity) in DISTRIBUTIONS.items():
        for t in _teachers(p, seed):
            base = run_spec({
                "data": {"name": "linear-teacher",
                         "args": {"d": p.d, "n_train": p.train_size * p.seeds, "noise": p.noise,
                                  "weight_scale": scale, "sparsity": sparsity, "seed": t},
                         "train_size": p.train_size if p.seeds > 1 else None},
                "model": {"name": "linear"},
                "optim": {"name": "sgd", "lr": p.lr, "momentum": p.momentum, "epochs": p.epochs,
                          "batch_size": p.train_size, "schedule": "cosine"},
                "eval_every": p.epochs,
            }, seed)
            for s in run_seeds(seed, p.seeds):
                for pen, lam in [("plain", 0.0)] + [(pen, lam) for pen in PAIRS for lam in _lams(p)]:
                    extra = {f"reg.{pen}": lam} if pen != "plain" else {}
                    out[(dist, t, s, pen, lam)] = base.replace(seed=s, **extra)
    return out


@dataclass(frozen=True)
class M(Measured):
    test_error_ratio_regularized_over_plain: dict[str, dict[str, float]]
    strength: dict[str, float]
    ratio_vs_strength: dict[str, dict[str, dict[str, float]]]
    ratio_per_draw: dict[str, dict[str, list[float]]]
    tuned_on_favourable: dict[str, dict[str, Any]]
    closed_form_ratio: dict[str, dict[str, float]]
    test_error_plain: dict[str, float]
    test_error_regularized: dict[str, dict[str, float]]
    draws: int
    ratio_se: dict[str, dict[str, float]] = aside()


def closed_form_ratio(run: StoredRun, pen: str, lam: float) -> tuple[float, float]:
    """Test MSE of closed-form ridge/lasso (seeds' λ mapped as in regularize.penalties) and of min-norm OLS."""
    from sklearn.linear_model import Lasso, Ridge

    prep = prepared_for(run.spec)
    ds = prep.dataset
    x = ds.x_train[prep.train_idx].double().numpy()
    y = ds.y_train[prep.train_idx].double().numpy().ravel()
    xt, yt = ds.x_test.double().numpy(), ds.y_test.double().numpy().ravel()
    xm, ym = x.mean(0), y.mean()
    w = np.linalg.pinv(x - xm) @ (y - ym)
    plain = float((((xt - xm) @ w + ym - yt) ** 2).mean())
    m = len(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Ridge(alpha=lam / 2) if pen == "l2" else Lasso(alpha=lam / (4 * m), max_iter=100_000)
        reg = float(((model.fit(x, y).predict(xt) - yt) ** 2).mean())
    return reg, plain


def _ratio_se(pen_i: np.ndarray, plain_i: np.ndarray) -> float:
    """Standard error of the ratio of means penalized/plain over the training draws (delta method; nan with one
    draw): the spread of pen_i − R·plain_i over draws i, divided by √n · mean(plain)."""
    if len(pen_i) < 2:
        return math.nan
    r = pen_i.mean() / plain_i.mean()
    return float(np.std(pen_i - r * plain_i, ddof=1) / (math.sqrt(len(pen_i)) * plain_i.mean()))


def _closed_forms(ctx: StudyContext, p: P) -> dict[str, dict[str, float]]:
    """Closed-form ridge/lasso over min-norm OLS at the fixed strengths, ratio of means over the draws."""
    closed: dict[str, dict[str, float]] = {}
    draws = [(t, s) for t in _teachers(p, ctx.seed) for s in ctx.seeds(p.seeds)]
    for pen, dists in PAIRS.items():
        closed[pen] = {}
        for dist in dists:
            pairs = [closed_form_ratio(ctx.runs[(dist, t, s, "plain", 0.0)], pen, _lam0(p)[pen]) for t, s in draws]
            closed[pen][dist] = float(np.mean([a for a, _ in pairs]) / np.mean([b for _, b in pairs]))
    return closed


def measure(ctx: StudyContext, p: P) -> M:
    lam0, lams = _lam0(p), _lams(p)
    draws = [(t, s) for t in _teachers(p, ctx.seed) for s in ctx.seeds(p.seeds)]
    fin = {c: r.final["test_loss"] for c, r in ctx.runs.items()}
    err: dict[tuple[str, str, float], list[float]] = {}
    for (dist, _, _, pen, lam), v in fin.items():
        err.setdefault((dist, pen, lam), []).append(float(v))
    mean = {k: float(np.mean(v)) for k, v in err.items()}

    def ratio(dist: str, pen: str, lam: float) -> float:
        return mean[(dist, pen, lam)] / mean[(dist, "plain", 0.0)]

    def per_draw(dist: str, pen: str) -> tuple[np.ndarray, np.ndarray]:
        return (np.array([fin[(dist, t, s, pen, lam0[pen])] for t, s in draws]),
                np.array([fin[(dist, t, s, "plain", 0.0)] for t, s in draws]))

    tuned: dict[str, dict[str, Any]] = {}
    for pen, (fav, unfav) in PAIRS.items():
        best = lams[int(np.argmin([mean[(fav, pen, lam)] for lam in lams]))]
        tuned[pen] = {"strength": best, fav: ratio(fav, pen, best), unfav: ratio(unfav, pen, best)}
    return M(
        test_error_ratio_regularized_over_plain={pen: {d: ratio(d, pen, lam0[pen]) for d in PAIRS[pen]}
                                                 for pen in PAIRS},
        strength=lam0,
        ratio_vs_strength={pen: {d: {_key(lam): ratio(d, pen, lam) for lam in lams} for d in PAIRS[pen]}
                           for pen in PAIRS},
        ratio_per_draw={pen: {d: list(np.divide(*per_draw(d, pen))) for d in PAIRS[pen]} for pen in PAIRS},
        tuned_on_favourable=tuned, closed_form_ratio=_closed_forms(ctx, p),
        test_error_plain={d: mean[(d, "plain", 0.0)] for d in DISTRIBUTIONS},
        test_error_regularized={pen: {d: mean[(d, pen, lam0[pen])] for d in PAIRS[pen]} for pen in PAIRS},
        draws=p.teachers * p.seeds,
        ratio_se={pen: {d: _ratio_se(*per_draw(d, pen)) for d in PAIRS[pen]} for pen in PAIRS})


def checks(m: M, p: P) -> list[Check]:
    table, out = m.test_error_ratio_regularized_over_plain, []
    for pen, (fav, unfav) in PAIRS.items():
        out += [
            Check(f"{pen}_helps_{fav}", f"{pen.upper()} test-MSE ratio penalized/plain, {fav.replace('_', ' ')}",
                  table[pen][fav], "<", p.helps_below, resolution=p.resolution_se * m.ratio_se[pen][fav]),
            Check(f"{pen}_hurts_{unfav}", f"{pen.upper()} test-MSE ratio penalized/plain, {unfav.replace('_', ' ')}",
                  table[pen][unfav], ">", p.hurts_above, resolution=p.resolution_se * m.ratio_se[pen][unfav]),
        ]
    return out


def summary(m: M, p: P) -> str:
    table, closed, lam0 = m.test_error_ratio_regularized_over_plain, m.closed_form_ratio, m.strength
    return (f"At the a-priori strengths λ={_key(lam0['l2'])} (L2) and {_key(lam0['l1'])} (L1) "
            f"(m={p.train_size} < d={p.d}): test-MSE ratio "
            f"penalized/plain for L2 is {table['l2']['small_weights']:.2f} with small true weights vs "
            f"{table['l2']['large_weights']:.2f} with large ones; for L1 {table['l1']['sparse']:.2f} on a sparse "
            f"truth vs {table['l1']['dense']:.2f} on a dense one (closed forms: L2 "
            f"{closed['l2']['small_weights']:.2f}/{closed['l2']['large_weights']:.2f}, L1 "
            f"{closed['l1']['sparse']:.2f}/{closed['l1']['dense']:.2f}).")


def figures(m: M, p: P) -> dict[str, Any]:
    lams, curves, closed, strength = _lams(p), m.ratio_vs_strength, m.closed_form_ratio, m.strength
    fig, ax = subplots(2)
    titles = {"l2": "L2 (reg.l2) toward 0", "l1": "L1 (reg.l1) toward sparse"}
    labels = {"small_weights": "small true weights (favourable)", "large_weights": "large true weights (unfavourable)",
              "sparse": "sparse truth (favourable)", "dense": "dense truth (unfavourable)"}
    for a, (pen, (fav, unfav)) in zip(ax, PAIRS.items(), strict=True):
        for dist, color in ((fav, "C2"), (unfav, "C3")):
            a.plot(lams, [curves[pen][dist][_key(lam)] for lam in lams], "o-", color=color, label=labels[dist])
            a.plot([strength[pen]], [closed[pen][dist]], "x", color=color, ms=9, mew=2)
        a.plot([], [], "kx", label="closed form at fixed λ (vs min-norm OLS)")
        a.axhline(1.0, color="gray", ls="--", label="no effect (ratio 1)")
        a.axvline(strength[pen], color="k", ls=":", alpha=0.6, label=f"fixed λ = {strength[pen]:g}")
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_xlabel("penalty strength λ (seeds' λ/(2m) convention)")
        a.set_ylabel("test MSE penalized / test MSE plain")
        a.set_title(titles[pen])
        a.legend(fontsize=7)
    fig.suptitle(f"linear model, m={p.train_size} examples, d={p.d} inputs, "
                 f"{p.teachers * p.seeds} draws per point")
    return {"no_free_lunch": fig}


STUDY = Study(
    "no-free-lunch", "C4",
    "No free lunch: a regularizer helps when it pulls toward what is true and hurts when it pulls the wrong "
    "way (L2 toward 0 when true weights are large; L1 on a dense truth).",
    quick=QUICK, full=FULL, specs=specs, measure=measure, checks=checks, figures=figures, summary=summary,
    # a negligible penalty neither helps nor hurts
    breaking={"l2_strength": 1e-3, "l1_strength": 1e-3, "strengths": [1e-3], "seeds": 2, "epochs": 200},
)
