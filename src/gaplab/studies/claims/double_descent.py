"""C14: double descent — test error vs model size rises, peaks near the interpolation threshold, falls again.

Three parts (Nakkiran et al. 2019, "Deep Double Descent"; Belkin et al. 2019, "Reconciling modern machine
learning practice and the bias-variance trade-off"; the setup of the mnist1d project's deep-double-descent
notebook, Greydanus 2020):

(a) model-wise: MLP 40→w→w→10 (ReLU), widths ``np.unique(np.geomspace(2, 300, 20, dtype=int))``, SGD lr 0.01
    momentum 0.9, batch 100, MNIST-1D with num_samples 16000 / train_split 0.25 (4000 train, 12000 test),
    unstandardized inputs, label noise 0 and 0.15, trained through the pack engine. The full preset is the
    notebook's own schedule: 500 epochs, one run per width and noise level (``seeds`` 1). The quick preset
    (1000 training examples, 20 epochs, 5 widths) is far too short to train up to the interpolation threshold,
    so its model-wise numbers are shown but not ruled on (``modelwise_rule`` false).
(b) epoch-wise: the same runs' test error every ``eval_every`` epochs, for a few widths (evaluating every run
    every few epochs costs a few seconds, less than training separate epoch-wise runs).
(c) random features, in closed form: min-norm least squares (``gaplab.theory.ridge.min_norm_fit``) on N random
    ReLU features of linear-teacher regression data with n training points, N/n from 0.1 to 10, with and
    without a small ridge, median test MSE over draws of data and features.

Interpolation threshold: the first width whose seed-mean training error (on the labels it was trained on,
noisy ones included) is <= 0.01. Test-error peak: the largest seed-mean test error among widths within a
factor 2 of that threshold.

Rule (declared as checks; thresholds in the presets):
- random features: the min-norm curve peaks at 0.5 <= N/n <= 2, with ``peak_mse`` more than ``rf_peak_factor``
  times both ``mse_at_half_n`` and ``mse_at_2n``, and the ridge removes it: ``ridge_peak_factor`` (the ridge
  curve's largest MSE for N/n in [0.5, 2] over the larger of its MSEs at n/2 and 2n; 1 for a falling curve) <
  ``rf_ridge_max``. (An earlier version divided by the ridge curve's median over all N, which also grows when the
  curve simply falls with N: it came out 1.3-2.0 over seeds, against a threshold of 2; the peak factor is 1.00-1.09
  for the ridge and 12-2500 for min-norm over seeds 0-9.)
- model-wise, where ``modelwise_rule`` is set (decided on the largest label-noise level): the peak exceeds both
  the smallest test error of every narrower width (``min_test_error_before_peak``) and the widest net's error
  (``final_test_error``) by more than ``peak_margin``; undecided when no width reaches the interpolation
  threshold. ``peak_excess`` (peak minus the larger of the two comparison errors, per noise level) shows whether
  label noise makes the peak stronger; it is reported, not part of the rule.
Run seeds come from the study's seed (``run_seeds``), and so do the random-feature draws. The quick preset takes the
median over 15 random-feature draws (3 until 2026-12-06: the peak factor then spread over a factor e^1.05 between
seeds, 65…964, so that its resolution left ``--seed 5``'s factor 36 undecided; with 15 draws it spreads over
e^0.59, 22…111 at seeds 0–4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from matplotlib.ticker import NullFormatter
from threadpoolctl import threadpool_limits

from gaplab.data.registry import load_dataset
from gaplab.spec import RunSpec
from gaplab.studies.framework import (
    Check,
    Measured,
    MeasuredSpread,
    Preset,
    StoredRun,
    Study,
    StudyContext,
    aside,
    run_seeds,
    run_spec,
    subplots,
)
from gaplab.theory.ridge import min_norm_fit

FULL_WIDTHS = [int(w) for w in np.unique(np.geomspace(2, 300, 20, dtype=int))]
INTERP_TRAIN_ERROR = 0.01

# Seed-to-seed SD of each check's value over --seed 0-4 of the quick preset (one run seed each), measured
# 2026-12-06 with `benchmarks/verdict_table.py --seeds 0-4 --threads 1`: the resolution of a check whose runs
# cannot measure their own spread (MeasuredSpread; it applies to the quick preset without overrides).
SPREAD = MeasuredSpread(seeds=5, sd={
    "rf_peak_not_below_half_n": 0.0,
    "rf_peak_not_above_2n": 0.0,
    "rf_ridge_removes_peak": 0.0,
}, log_sd={"rf_peak_high": 0.588})


@dataclass(frozen=True)
class P(Preset):
    widths: list[int]
    noise_levels: list[float]
    epochs: int
    eval_every: int
    seeds: int
    train_size: int | None
    modelwise_rule: bool
    peak_margin: float
    peak_resolution: float
    rf_n: int
    rf_d: int
    rf_noise: float
    rf_n_test: int
    rf_ratios: int
    rf_draws: int
    rf_ridge: float
    rf_peak_factor: float
    rf_ridge_max: float


QUICK = P(widths=[8, 16, 32, 64, 128], noise_levels=[0.0, 0.15], epochs=20, eval_every=5, seeds=1, train_size=1000,
          modelwise_rule=False, peak_margin=0.01, peak_resolution=0.01, rf_n=100, rf_d=20, rf_noise=0.2,
          rf_n_test=1000, rf_ratios=13, rf_draws=15, rf_ridge=0.01, rf_peak_factor=2.0, rf_ridge_max=1.5)
# the mnist1d notebook's schedule: 500 epochs of SGD 0.01 (momentum 0.9), batch 100, its 19 widths, one run each
FULL = replace(QUICK, widths=FULL_WIDTHS, epochs=500, eval_every=10, train_size=None, modelwise_rule=True, rf_n=200,
               rf_n_test=2000, rf_ratios=25, rf_draws=10)


def _widths(p: P) -> list[int]:
    return sorted(int(w) for w in p.widths)


def _noises(p: P) -> list[float]:
    return [float(x) for x in p.noise_levels]


def specs(p: P, seed: int) -> dict[tuple[float, int, int], RunSpec]:
    """(label noise, width, seed): the MNIST-1D MLPs of the model-wise curve (the random features need none)."""
    base = run_spec({
        "data": {"name": "mnist1d", "args": {"num_samples": 16000, "train_split": 0.25}, "standardize": False,
                 "train_size": p.train_size},
        "model": {"name": "mlp", "args": {"depth": 2, "width": _widths(p)[0]}},
        "optim": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "batch_size": 100, "epochs": p.epochs},
        "eval_every": p.eval_every,
    }, seed)
    return {(nz, w, s): base.replace(**{"model.args.width": w, "data.label_noise": nz, "seed": s})
            for nz in _noises(p) for w in _widths(p) for s in run_seeds(seed, p.seeds)}


@dataclass(frozen=True)
class M(Measured):
    interpolation_width: dict[str, int | None]
    peak_width: dict[str, int | None]
    peak_test_error: dict[str, float | None]
    min_test_error_before_peak: dict[str, float | None]
    final_test_error: dict[str, float]
    peak_excess: dict[str, float | None]
    peak_features_over_n: float
    peak_mse: float
    mse_at_half_n: float
    mse_at_2n: float
    ridge_max_over_median: float
    minnorm_max_over_median: float
    ridge_peak_factor: float
    interpolation_rule: str
    test_error: dict[str, dict[str, float]]
    train_error: dict[str, dict[str, float]]
    epochwise_test_error: dict[str, dict[str, dict[str, float]]]
    epochwise_rise: dict[str, dict[str, float]]  # final minus lowest test error over epochs, per width
    rf_mse: dict[str, float]
    rf_ridge_mse: dict[str, float]
    modelwise: dict[str, Any] = aside()
    rf: dict[str, Any] = aside()


def measure(ctx: StudyContext, p: P) -> M:
    mw = _modelwise(ctx, _widths(p), _noises(p))
    rf = _random_features(ctx.seed, p)
    return M(**{k: mw[k] for k in ("interpolation_width", "peak_width", "peak_test_error",
                                   "min_test_error_before_peak", "final_test_error", "peak_excess")},
             **{k: rf[k] for k in ("peak_features_over_n", "peak_mse", "mse_at_half_n", "mse_at_2n",
                                   "ridge_max_over_median", "minnorm_max_over_median", "ridge_peak_factor")},
             interpolation_rule=f"first width with training error <= {INTERP_TRAIN_ERROR}",
             test_error=mw["test_error"], train_error=mw["train_error"], epochwise_test_error=mw["epochwise"],
             epochwise_rise=mw["epochwise_rise"], rf_mse=rf["curve"], rf_ridge_mse=rf["ridge_curve"],
             modelwise=mw, rf=rf)


def checks(m: M, p: P) -> list[Check]:
    top = str(max(_noises(p)))
    out = [
        Check("rf_peak_not_below_half_n", "random features: N/n of the min-norm MSE peak", m.peak_features_over_n,
              ">=", 0.5),
        Check("rf_peak_not_above_2n", "random features: N/n of the min-norm MSE peak", m.peak_features_over_n,
              "<=", 2.0),
        Check("rf_peak_high", "random features: peak MSE / max(MSE at N = n/2, at N = 2n)",
              m.peak_mse / max(m.mse_at_half_n, m.mse_at_2n), ">", p.rf_peak_factor),
        Check("rf_ridge_removes_peak", "random features, ridge: max MSE for N/n in [0.5, 2] / max(MSE at n/2, at 2n)",
              m.ridge_peak_factor, "<", p.rf_ridge_max),
    ]
    if p.modelwise_rule:
        pk, lo, nan = m.peak_test_error[top], m.min_test_error_before_peak[top], float("nan")
        out += [
            Check("modelwise_peak_above_narrower", f"model-wise, noise {top}: peak test error − best narrower width's",
                  nan if pk is None or lo is None else pk - lo, ">", p.peak_margin, resolution=p.peak_resolution),
            Check("modelwise_peak_above_widest", f"model-wise, noise {top}: peak test error − widest net's",
                  nan if pk is None else pk - m.final_test_error[top], ">", p.peak_margin,
                  resolution=p.peak_resolution),
        ]
    return out


def summary(m: M, p: P) -> str:
    top = str(max(_noises(p)))
    if m.interpolation_width[top] is None:
        mw_txt = (f"model-wise (noise {top}): no width reached training error <= {INTERP_TRAIN_ERROR} "
                  f"in {p.epochs} epochs")
    else:
        mw_txt = (f"model-wise (noise {top}): interpolation at width {m.interpolation_width[top]}, "
                  f"test-error peak {m.peak_test_error[top]:.3f} at width {m.peak_width[top]} "
                  f"vs {_fmt(m.min_test_error_before_peak[top])} best narrower and "
                  f"{m.final_test_error[top]:.3f} widest")
    if not p.modelwise_rule:
        mw_txt += " (shown, not ruled on at this size)"
    excess = ", ".join(f"{k}: {v:+.3f}" for k, v in m.peak_excess.items() if v is not None)
    if excess:
        mw_txt += f"; peak excess over max(best narrower, widest) by label noise {excess}"
    rf_txt = (f"random features: min-norm MSE peaks at N/n = {m.peak_features_over_n:.2f} "
              f"(MSE {m.peak_mse:.3g} vs {m.mse_at_half_n:.3g} at n/2 and {m.mse_at_2n:.3g} at 2n), "
              f"ridge {p.rf_ridge:g} leaves a peak factor of {m.ridge_peak_factor:.2f} (min-norm: "
              f"{m.peak_mse / max(m.mse_at_half_n, m.mse_at_2n):.3g})")
    return f"{mw_txt}; {rf_txt}"


def _fmt(v: float | None) -> str:
    return "none" if v is None else f"{v:.3f}"


def _modelwise(ctx: StudyContext, widths: list[int], noises: list[float]) -> dict[str, Any]:
    """Seed-mean errors of the (noise, width, seed) runs per width and per evaluated epoch."""
    by: dict[tuple[float, int], list[StoredRun]] = {}
    for (nz, w, _), r in ctx.runs.items():
        by.setdefault((nz, w), []).append(r)
    out: dict[str, Any] = {k: {} for k in ("interpolation_width", "peak_width", "peak_test_error",
                                           "min_test_error_before_peak", "final_test_error", "test_error",
                                           "train_error", "epochwise", "epochwise_rise")}
    for nz in noises:
        _modelwise_noise(out, str(nz), [by[(nz, w)] for w in widths], widths)
    out["peak_excess"] = {}
    for nz in noises:
        key = str(nz)
        pk, lo = out["peak_test_error"][key], out["min_test_error_before_peak"][key]
        out["peak_excess"][key] = (None if pk is None or lo is None
                                   else float(pk - max(lo, out["final_test_error"][key])))
    show = _epochwise_widths(widths, out["interpolation_width"][str(max(noises))])
    for nz in noises:
        ew = {}
        for w in show:
            hists = [r.history for r in by[(nz, w)]]
            epochs = [h["epoch"] for h in hists[0]]
            ew[str(w)] = {str(e): float(np.mean([1 - hh[i]["test_acc"] for hh in hists]))
                          for i, e in enumerate(epochs)}
        out["epochwise"][str(nz)] = ew
        out["epochwise_rise"][str(nz)] = {w: float(list(c.values())[-1] - min(c.values())) for w, c in ew.items()}
    return out


def _modelwise_noise(out: dict[str, Any], key: str, runs: list[list[StoredRun]], widths: list[int]) -> None:
    """One noise level's model-wise curve, interpolation width and test-error peak near it, into ``out``."""
    te = np.array([np.mean([1 - r.final["test_acc"] for r in rs]) for rs in runs])
    tr = np.array([np.mean([1 - r.final["train_acc"] for r in rs]) for rs in runs])
    out["test_error"][key] = {str(w): float(v) for w, v in zip(widths, te, strict=True)}
    out["train_error"][key] = {str(w): float(v) for w, v in zip(widths, tr, strict=True)}
    interp = next((w for w, t in zip(widths, tr, strict=True) if t <= INTERP_TRAIN_ERROR), None)
    out["interpolation_width"][key] = interp
    out["final_test_error"][key] = float(te[-1])
    if interp is None:
        out["peak_width"][key] = out["peak_test_error"][key] = out["min_test_error_before_peak"][key] = None
    else:
        window = [i for i, w in enumerate(widths) if interp / 2 <= w <= 2 * interp]
        j = max(window, key=lambda i: te[i])
        out["peak_width"][key] = widths[j]
        out["peak_test_error"][key] = float(te[j])
        out["min_test_error_before_peak"][key] = float(te[:j].min()) if j > 0 else None


def _random_features(seed: int, p: P) -> dict[str, Any]:
    """Median test MSE of min-norm / ridge least squares on N random ReLU features (closed form, no training)."""
    n = int(p.rf_n)
    ratios = np.geomspace(0.1, 10, int(p.rf_ratios))
    ns = sorted({max(1, int(round(r * n))) for r in ratios} | {n // 2, n, 2 * n})
    lams = (0.0, float(p.rf_ridge))
    mse = np.zeros((len(lams), p.rf_draws, len(ns)))
    # small solves: one BLAS thread is faster, and avoids idle threads spinning on a shared machine
    with threadpool_limits(limits=1):
        _rf_draws(seed, p, n, ns, lams, mse)
    med = np.median(mse, axis=1)
    over = np.array(ns) / n
    i_pk = int(np.argmax(med[0]))
    near = (over >= 0.5) & (over <= 2.0)
    res = {
        "ns": ns,
        "over": over,
        "med": med,
        "peak_features_over_n": float(over[i_pk]),
        "peak_mse": float(med[0, i_pk]),
        "mse_at_half_n": float(med[0, ns.index(n // 2)]),
        "mse_at_2n": float(med[0, ns.index(2 * n)]),
        "ridge_max_over_median": float(med[1, near].max() / np.median(med[1])),
        # a peak is a maximum near N = n above both ends of [n/2, 2n]; a falling curve gives exactly 1
        "ridge_peak_factor": float(med[1, near].max() / max(med[1, ns.index(n // 2)], med[1, ns.index(2 * n)])),
        "minnorm_max_over_median": float(med[0, near].max() / np.median(med[0])),
        "curve": {f"{o:.3g}": float(v) for o, v in zip(over, med[0], strict=True)},
        "ridge_curve": {f"{o:.3g}": float(v) for o, v in zip(over, med[1], strict=True)},
    }
    return res


def _rf_draws(seed: int, p: P, n: int, ns: list[int], lams: tuple[float, ...], mse: np.ndarray) -> None:
    """Fill ``mse[lam, draw, N]``: each draw has its own teacher data and its own random features."""
    for d in range(p.rf_draws):
        ds = load_dataset("linear-teacher", {"d": p.rf_d, "n_train": n, "n_test": p.rf_n_test, "noise": p.rf_noise,
                                             "seed": 1000 * seed + d})
        x, y = ds.x_train.numpy().astype(np.float64), ds.y_train.numpy().astype(np.float64)
        xt, yt = ds.x_test.numpy().astype(np.float64), ds.y_test.numpy().astype(np.float64)
        g = np.random.default_rng([seed, d])
        w_feat = g.standard_normal((p.rf_d, max(ns))) / math.sqrt(p.rf_d)
        for j, N in enumerate(ns):
            # ReLU features scaled by 1/sqrt(N) so the Gram matrix (and the ridge's scale) does not grow with N
            f = np.maximum(x @ w_feat[:, :N], 0) / math.sqrt(N)
            ft = np.maximum(xt @ w_feat[:, :N], 0) / math.sqrt(N)
            for li, lam in enumerate(lams):
                w = min_norm_fit(f, y, lam)
                mse[li, d, j] = float(np.mean((ft @ w - yt) ** 2))


def _modelwise_figure(m: M, p: P) -> Any:
    widths, noises, mw = _widths(p), _noises(p), m.modelwise
    fig, ax = subplots(2)
    colors = ["tab:blue", "tab:red", "tab:green", "tab:purple"]
    for c, nz in zip(colors, noises, strict=False):
        key = str(nz)
        te = [mw["test_error"][key][str(w)] for w in widths]
        tr = [mw["train_error"][key][str(w)] for w in widths]
        ax[0].plot(widths, te, "o-", color=c, ms=4, label=f"test, label noise {nz:g}")
        ax[0].plot(widths, tr, "--", color=c, alpha=0.6, label=f"train, label noise {nz:g}")
        if mw["interpolation_width"][key] is not None:
            ax[0].axvline(mw["interpolation_width"][key], color=c, ls=":", alpha=0.7)
        if mw["peak_width"][key] is not None and (mw["peak_excess"][key] or 0) > 0:
            ax[0].plot([mw["peak_width"][key]], [mw["peak_test_error"][key]], "*", color=c, ms=14)
    ax[0].set_xscale("log")
    ticks = widths[:: max(1, len(widths) // 8)]
    ax[0].set_xticks(ticks, [str(w) for w in ticks])
    ax[0].xaxis.set_minor_formatter(NullFormatter())
    ax[0].set_xlabel("hidden width w (MLP 40-w-w-10)")
    ax[0].set_ylabel("0-1 error")
    ax[0].set_title(f"model-wise, {p.epochs} epochs (dotted: interpolation, *: peak above both sides)",
                    fontsize=9)
    ax[0].legend(fontsize=7)
    show = [int(w) for w in mw["epochwise"][str(noises[0])]]
    for c, w in zip(colors, show, strict=False):
        for nz, ls in zip(noises, ["--", "-"], strict=False):
            curve = mw["epochwise"][str(nz)][str(w)]
            ax[1].plot([int(e) for e in curve], list(curve.values()), ls, color=c,
                       label=f"w={w}, noise {nz:g}")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("test 0-1 error")
    ax[1].set_title("epoch-wise (solid: label noise, dashed: clean)", fontsize=9)
    ax[1].legend(fontsize=7)
    return fig


def _random_features_figure(m: M, p: P) -> Any:
    rf = m.rf
    fig, ax = subplots(1)
    ax.plot(rf["over"], rf["med"][0], "o-", ms=4, label="min-norm least squares")
    ax.plot(rf["over"], rf["med"][1], "s-", ms=4, label=f"ridge λ={p.rf_ridge:g}")
    ax.axvline(1.0, color="gray", ls=":", label="N = n (interpolation threshold)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("features / training points  (N / n)")
    ax.set_ylabel("test MSE (median over draws)")
    ax.set_title(f"random ReLU features, linear teacher d={p.rf_d}, n={p.rf_n}, noise {p.rf_noise:g}", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def figures(m: M, p: P) -> dict[str, Any]:
    return {"model_and_epoch_wise": _modelwise_figure(m, p), "random_features": _random_features_figure(m, p)}


def _epochwise_widths(widths: list[int], interp: int | None) -> list[int]:
    """A narrow width, the one nearest the interpolation threshold, and the widest."""
    mid = interp if interp is not None else widths[len(widths) // 2]
    near = min(widths, key=lambda w: abs(math.log(w / mid)))
    narrow = min(widths, key=lambda w: abs(math.log(w / max(mid / 8, widths[0]))))
    return list(dict.fromkeys([narrow, near, widths[-1]]))


STUDY = Study(
    "double-descent", "C14",
    "Double descent: test error vs model size (and vs epochs) rises, peaks near the interpolation "
    "threshold, then falls again; label noise makes it stronger.",
    quick=QUICK, full=FULL, specs=specs, measure=measure, checks=checks, figures=figures, summary=summary,
    spread=SPREAD,
    # "ridge" 0 is min-norm again: the peak at N = n stays, so the ridge part (and the study) fails
    breaking={"rf_ridge": 0.0, "widths": [8, 16], "epochs": 2, "train_size": 500},
)
