"""Input dependence: the model trained on real inputs must beat the same model trained on zeroed inputs, its
output must depend on its own input, and one example's output must not depend on the other examples' inputs."""

from __future__ import annotations

import math

from gaplab.doctor.baselines import baselines
from gaplab.doctor.context import Context
from gaplab.doctor.main_run import main_run
from gaplab.doctor.probes import batch_coupling, dead_relu_fraction, has_norm_layers
from gaplab.doctor.result import FAIL, PASS, WARN, Check

FAMILY = "input"


def _val_error(ctx: Context, finals: list[dict[str, float]]) -> float:
    return sum(ctx.error_of(f, "val") for f in finals) / len(finals)


def input_gradient(ctx: Context) -> tuple[float, float, bool, float]:
    """Own-input and cross-example gradient norms at init, whether the model normalizes, its dead-ReLU fraction."""
    model = ctx.initial_model()
    x, _ = ctx.probe_batch()
    own, other = batch_coupling(model, x[:64])
    dead, _ = dead_relu_fraction(model, x)
    return own, other, has_norm_layers(model), dead or 0.0


def zero_input(ctx: Context, own_grad: float, dead: float = 0.0) -> Check:
    main = main_run(ctx)
    real = _val_error(ctx, [r.final for r in main.results])
    specs = [r.spec for r in main.results]
    _, zres = ctx.train(f"zero-input baseline ({len(specs)} models)", specs, dataset=ctx.zeroed_pool())
    zero = _val_error(ctx, [r.final for r in zres])
    n_val = len(ctx.prepared.val_idx)
    if ctx.classification:
        # three standard errors of an error rate near the zero-input one on n_val examples, at least 2 points
        margin = max(0.02, 3 * math.sqrt(max(zero * (1 - zero), 1e-4) / n_val))
    else:
        margin = max(0.02, 3 * math.sqrt(2.0 / n_val))  # normalized MSE: relative standard error of a variance
    gain = zero - real
    details = {"val_error_real": real, "val_error_zero": zero, "margin": margin}
    if gain >= margin:
        return Check(FAMILY, "beats zeroed inputs", gain, f"val error {real:.3f} vs {zero:.3f} zeroed",
                     f"real inputs better by ≥ {margin:.3f}", PASS, details=details)
    base = baselines(ctx)
    details["baselines"] = base["errors"]
    signal = zero - base["best_error"] >= margin
    if own_grad == 0.0 and dead >= 0.9:  # (almost) every unit dead; a model ignoring x can have ~half dead
        cause = f"no gradient reaches the input: {dead:.0%} of the ReLU units are dead at init"
        fix = "see the dead-ReLU check: initialize biases at 0"
        details["symptom"] = True  # of the initialization, which the init family names
    elif own_grad == 0.0:
        cause = "the model's output does not depend on its input (its forward ignores x): zero input gradient"
        fix = "check the model's forward: does it use x (not a constant, a detached or overwritten tensor)?"
    elif not signal:
        cause = (f"labels do not depend on the inputs: simple baselines do no better ({base['best']} val error "
                 f"{base['best_error']:.3f}) — labels shuffled or misaligned with the inputs?")
        fix = "check that inputs and labels are read in the same order (joins, shuffles, file listing)"
    else:
        cause = (f"the model does not use its inputs, although a {base['best']} baseline does (val error "
                 f"{base['best_error']:.3f}): training is broken (learning rate, init or architecture)")
        fix = "see the learning-rate, initialization and dynamics checks"
        details["symptom"] = True  # of a training problem another family names
    return Check(FAMILY, "beats zeroed inputs", gain, f"val error {real:.3f} vs {zero:.3f} zeroed",
                 f"real inputs better by ≥ {margin:.3f}", FAIL, cause, fix, details)


def coupling(own: float, other: float, norm_layers: bool) -> Check:
    ratio = other / own if own > 0 else (math.inf if other > 0 else 0.0)
    # exact independence gives 0 up to float rounding; anything above 1e-6 of the own-input gradient is real
    if ratio <= 1e-6:
        return Check(FAMILY, "batch independence", ratio, f"{ratio:.2g} × own-input gradient", "≤ 1e-6", PASS,
                     details={"own": own, "other": other})
    if norm_layers:
        return Check(FAMILY, "batch independence", ratio, f"{ratio:.2g} × own-input gradient", "≤ 1e-6", WARN,
                     "a normalization layer uses batch statistics at evaluation: a prediction depends on the rest "
                     "of its batch", "use running statistics at eval (BatchNorm track_running_stats) or LayerNorm",
                     {"own": own, "other": other})
    return Check(FAMILY, "batch independence", ratio, f"{ratio:.2g} × own-input gradient", "≤ 1e-6", FAIL,
                 "examples mix across the batch: a wrong reshape/view/transpose mixes the batch axis",
                 "check every reshape keeps the batch axis first (x.view(B, ...), not x.view(-1, ...) across it)",
                 {"own": own, "other": other})


def run(ctx: Context) -> list[Check]:
    own, other, norm_layers, dead = input_gradient(ctx)
    return [zero_input(ctx, own, dead), coupling(own, other, norm_layers)]

