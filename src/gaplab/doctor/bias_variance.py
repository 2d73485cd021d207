"""Bias and variance (the "basic recipe"): training error against a reference level, and the train–validation
gap. High bias → bigger model, train longer, less regularization; high variance → more data, more
regularization; both → both."""

from __future__ import annotations

from gaplab.doctor.context import Context
from gaplab.doctor.result import PASS, WARN, Finding

FAMILY = "bias_variance"
TOLERANCE = 0.1  # of the chance-level error (1 − 1/K; 1 for normalized MSE): a gap smaller than this is noise-level


def run(ctx: Context) -> list[Finding]:
    m = ctx.main
    done = [r for r in m.results if r.status == "done"]
    if not done:
        return [Finding(FAMILY, "bias / variance", None, "every seed diverged", "—", WARN,
                        "no finished run to measure (see the dynamics check)", "fix the divergence first")]
    train = sum(ctx.error_of(r.final, "train") for r in done) / len(done)
    val = sum(ctx.error_of(r.final, "val") for r in done) / len(done)
    base = ctx.baselines
    ref, ref_name = (ctx.target_error, "your target") if ctx.target_error is not None else \
        (base["best_error"], f"{base['best']} baseline")
    chance = ctx.chance_error if ctx.classification else 1.0
    tol = TOLERANCE * chance
    bias, gap = train - ref, val - train
    high_bias, high_var = bias > tol, gap > tol
    epochs = done[0].spec.optim.epochs
    capped = epochs < ctx.val_spec.optim.epochs
    unit = "error" if ctx.classification else "MSE/var"
    details = {"train_error": train, "val_error": val, "reference": ref, "reference_from": ref_name,
               "baselines": base["errors"], "tolerance": tol, "epochs": epochs, "epochs_capped": capped}
    shown = f"train {unit} {train:.3f}, val {val:.3f}, reference {ref:.3f}"
    band = f"train ≤ reference + {tol:.3f}; val − train ≤ {tol:.3f}"
    note = f" (after {epochs} of your {ctx.val_spec.optim.epochs} epochs)" if capped else ""
    if high_bias and high_var:
        cause = f"high bias and high variance: train {train:.3f} vs {ref_name} {ref:.3f}, gap {gap:.3f}{note}"
        fix = "both: a bigger model / longer training first, then more data or regularization for the gap"
    elif high_bias:
        cause = f"high bias: training {unit} {train:.3f} exceeds {ref_name} {ref:.3f} by {bias:.3f}{note}"
        fix = "bigger model, train longer, less regularization"
    elif high_var:
        cause = f"high variance: validation {unit} {val:.3f} is {gap:.3f} above training {train:.3f}{note}"
        fix = "more data, more regularization (L2, dropout, augmentation), or early stopping"
    else:
        return [Finding(FAMILY, "bias / variance", gap, shown, band, PASS, details=details)]
    return [Finding(FAMILY, "bias / variance", gap, shown, band, WARN, cause, fix, details)]
