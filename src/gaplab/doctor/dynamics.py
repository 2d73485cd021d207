"""Training dynamics of the main run (the user's settings): the loss falls, does not stall or explode; per-layer
update-to-weight ratios; per-layer gradient norms (vanishing toward the input); dead ReLU units after training."""

from __future__ import annotations

import math

import numpy as np

from gaplab.doctor.context import Context
from gaplab.doctor.main_run import MainRun
from gaplab.doctor.probes import NO_RELU, dead_relu_fraction, gradient_norms
from gaplab.doctor.result import FAIL, PASS, WARN, Finding, not_applicable, verdict_of

FAMILY = "dynamics"
RATIO_LOW, RATIO_HIGH = 1e-5, 1.0  # median ‖ΔW‖/‖W‖ per step outside this is a rate problem (see bands below)


def _smooth(v: np.ndarray, w: int) -> np.ndarray:
    if len(v) < w or w <= 1:
        return v
    return np.convolve(v, np.ones(w) / w, mode="valid")


def _mean_finite(a: np.ndarray, empty: float = math.nan) -> float:
    """Mean of the finite entries of ``a`` (``empty`` when there are none, without numpy's empty-slice warning)."""
    ok = a[np.isfinite(a)]
    return float(ok.mean()) if ok.size else empty


def loss_checks(ctx: Context, m: MainRun, ratio: float, dead_after: float | None) -> list[Finding]:
    losses = np.array(m.losses, dtype=float)  # (steps, seeds)
    n = len(losses)
    diverged = [r for r in m.results if r.status == "diverged"]
    head = max(1, n // 50)
    l0 = _mean_finite(losses[:head])
    finite = np.where(np.isfinite(losses), losses, np.nan)
    tail = _mean_finite(finite[-max(1, n // 10):], math.inf)
    rows = np.isfinite(finite).any(1) if finite.ndim == 2 else np.isfinite(finite)
    step_mean = np.full(len(finite), np.nan)
    if rows.any():  # a step whose every seed is NaN stays NaN (np.nanmean would warn "Mean of empty slice")
        step_mean[rows] = np.nanmean(finite[rows].reshape(int(rows.sum()), -1), 1)
    smooth = _smooth(step_mean, max(1, n // 20))
    peak = float(np.nanmax(smooth)) if np.isfinite(smooth).any() else math.nan
    details = {"steps": n, "initial": l0, "final": tail, "peak": peak, "diverged_seeds": len(diverged)}
    out = []
    # explosion: a non-finite loss, or the smoothed loss rising far (3×) above where it started
    if diverged or not math.isfinite(tail) or peak > 3 * l0:
        what = (f"non-finite loss in {len(diverged)} of {len(m.results)} seeds" if diverged or not math.isfinite(tail)
                else f"loss rose to {peak:.3g} from {l0:.3g}")
        out.append(Finding(FAMILY, "loss does not explode", peak, what, "finite, ≤ 3 × the initial loss", FAIL,
                           f"learning rate too high: the loss explodes ({what})",
                           "lower the learning rate (see the learning-rate check) or clip gradients", details))
        return out
    out.append(Finding(FAMILY, "loss does not explode", peak, f"peak {peak:.3g} (start {l0:.3g})",
                       "finite, ≤ 3 × the initial loss", PASS, details=details))
    drop = (l0 - tail) / l0 if l0 > 0 else 0.0
    verdict = verdict_of(drop, 0.2, 0.05, higher_is_worse=False)
    cause = fix = ""
    if verdict != PASS:
        if dead_after is not None and dead_after >= 0.5:
            cause, fix = (f"dead units: {dead_after:.0%} of the ReLU units never fire",
                          "lower the learning rate; initialize biases at 0; try LeakyReLU/GELU")
        elif ratio < 1e-3:
            cause, fix = (f"learning rate too low: weights move {ratio:.1g} of their norm per step",
                          "raise the learning rate (see the learning-rate check)")
        elif ratio > 0.1:
            cause, fix = (f"learning rate too high: weights move {ratio:.2g} of their norm per step and the loss "
                          "does not settle", "lower the learning rate (see the learning-rate check)")
        else:
            cause, fix = ("the loss stalls: learning rate, initialization or a data/label problem",
                          "see the learning-rate, initialization and input checks")
    out.append(Finding(FAMILY, "loss falls", drop, f"{l0:.3g} → {tail:.3g} ({drop:.0%} lower)",
                       "≥ 20 % lower over the run", verdict, cause, fix, details))
    return out


def ratio_check(m: MainRun) -> tuple[Finding, float]:
    med = {n: float(np.median(v)) for n, v in m.ratios.items() if v}
    if not med:
        return not_applicable(FAMILY, "update/weight ratio", "no weight matrix or kernel to measure"), math.nan
    top = max(med.values())
    verdict = PASS
    cause = fix = ""
    if top > RATIO_HIGH:
        verdict, cause, fix = FAIL, "learning rate too high: each step changes the weights by more than their " \
            "own size", "lower the learning rate"
    elif top < RATIO_LOW:
        verdict, cause, fix = WARN, "learning rate too low: each step barely changes the weights", \
            "raise the learning rate"
    return Finding(FAMILY, "update/weight ratio", top, f"max layer median {top:.2g}",
                   f"{RATIO_LOW:g} – {RATIO_HIGH:g} per step", verdict, cause, fix,
                   {"per_layer_median": med, "steps": m.ratio_steps}), top


def gradient_check(ctx: Context, m: MainRun) -> Finding:
    x, y = ctx.probe_batch()
    before = gradient_norms(ctx.initial_model, x, y, ctx.classification)
    after = gradient_norms(m.trained_model(), x, y, ctx.classification)
    names = list(before)
    if len(names) < 2:
        c = not_applicable(FAMILY, "gradient flow", "one weighted layer: no input-to-output ratio")
        c.details.update(init=before, end=after)
        return c
    first, last = before[names[0]], before[names[-1]]
    ratio = first / last if last > 0 else (math.inf if first > 0 else 0.0)
    lg = -math.log10(ratio) if 0 < ratio < math.inf else (math.inf if ratio == 0 else -math.inf)
    # gradients shrinking 1000× from the head to the input layer mean the early layers barely learn
    verdict = verdict_of(lg, 2.0, 3.0)
    return Finding(FAMILY, "gradient flow", ratio, f"input/output layer gradient {ratio:.3g}", "≥ 10⁻² at init",
                   verdict, "" if verdict == PASS else "vanishing gradients toward the input",
                   "" if verdict == PASS else "use ReLU-family activations with He init, residual connections or "
                   "normalization", {"init": before, "end": after})


def dead_after_check(ctx: Context, m: MainRun) -> tuple[Finding, float | None]:
    frac, per = dead_relu_fraction(m.trained_model(), ctx.pool.x_train[ctx.prepared.train_idx])
    if frac is None:
        return not_applicable(FAMILY, "dead ReLU after training", NO_RELU), None
    verdict = verdict_of(frac, 0.35, 0.6)  # healthy MNIST-1D MLPs end with ≈25 % silent units
    return Finding(FAMILY, "dead ReLU after training", frac, f"{100 * frac:.1f} % of units",
                   "< 35 % silent on the whole training set", verdict,
                   "" if verdict == PASS else "units died during training (a too-high rate or negative biases)",
                   "" if verdict == PASS else "lower the learning rate; initialize biases at 0; try LeakyReLU",
                   {"per_layer": per}), frac


def run(ctx: Context) -> list[Finding]:
    m = ctx.main
    rc, top = ratio_check(m)
    dead, frac = dead_after_check(ctx, m)
    return [*loss_checks(ctx, m, top, frac), rc, gradient_check(ctx, m), dead]
