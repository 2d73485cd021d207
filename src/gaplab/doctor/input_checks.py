"""Input dependence: the model trained on real inputs must beat the best input-independent prediction (what the
same model trained on zeroed inputs converges to), its output must depend on its own input (every channel of it),
one example's output must not depend on the other examples' inputs, and an augmentation must not make validation
worse (one that changes the label does)."""

from __future__ import annotations

import math

import torch

from gaplab.doctor.context import Context
from gaplab.doctor.probes import batch_coupling, dead_relu_fraction, has_norm_layers, input_use
from gaplab.doctor.result import FAIL, PASS, WARN, Finding, not_applicable

FAMILY = "input"


def _val_error(ctx: Context, finals: list[dict[str, float]]) -> float:
    return sum(ctx.error_of(f, "val") for f in finals) / len(finals)


def input_gradient(ctx: Context) -> tuple[float, float, bool, float]:
    """Own-input and cross-example gradient norms at init, whether the model normalizes, its dead-ReLU fraction."""
    model = ctx.initial_model
    x, _ = ctx.probe_batch()
    own, other = batch_coupling(model, x[:64])
    dead, _ = dead_relu_fraction(model, x)
    return own, other, has_norm_layers(model), dead or 0.0


def constant_error(ctx: Context) -> float:
    """Validation error of the best input-independent prediction — what the model trained on zeroed inputs
    converges to (its output is then a function of its biases only): the training labels' majority class, or
    their mean (computed, not trained: the trained baseline cost as much as the main run and only approached it)."""
    p = ctx.prepared
    if ctx.classification:
        majority = int(torch.bincount(p.labels[p.train_idx], minlength=ctx.k).argmax())
        return float((ctx.pool.y_train[p.val_idx] != majority).float().mean())
    y = ctx.pool.y_train.float()
    mse = (y[p.val_idx] - y[p.train_idx].mean(0)).pow(2).mean()
    return float(mse) / ctx.target_var


def zero_input(ctx: Context, own_grad: float, dead: float = 0.0) -> Finding:
    main = ctx.main
    real = _val_error(ctx, [r.final for r in main.results])
    zero = constant_error(ctx)
    n_val = len(ctx.prepared.val_idx)
    if ctx.classification:
        # three standard errors of an error rate near the zero-input one on n_val examples, at least 2 points
        margin = max(0.02, 3 * math.sqrt(max(zero * (1 - zero), 1e-4) / n_val))
    else:
        margin = max(0.02, 3 * math.sqrt(2.0 / n_val))  # normalized MSE: relative standard error of a variance
    gain = zero - real
    details = {"val_error_real": real, "val_error_zero": zero, "margin": margin}
    if gain >= margin:
        return Finding(FAMILY, "beats zeroed inputs", gain, f"val error {real:.3f} vs {zero:.3f} zeroed",
                       f"real inputs better by ≥ {margin:.3f}", PASS, details=details)
    base = ctx.baselines
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
    return Finding(FAMILY, "beats zeroed inputs", gain, f"val error {real:.3f} vs {zero:.3f} zeroed",
                   f"real inputs better by ≥ {margin:.3f}", FAIL, cause, fix, details)


def coupling(own: float, other: float, norm_layers: bool) -> Finding:
    ratio = other / own if own > 0 else (math.inf if other > 0 else 0.0)
    # exact independence gives 0 up to float rounding; anything above 1e-6 of the own-input gradient is real
    if ratio <= 1e-6:
        return Finding(FAMILY, "batch independence", ratio, f"{ratio:.2g} × own-input gradient", "≤ 1e-6", PASS,
                       details={"own": own, "other": other})
    if norm_layers:
        return Finding(FAMILY, "batch independence", ratio, f"{ratio:.2g} × own-input gradient", "≤ 1e-6", WARN,
                       "a normalization layer uses batch statistics at evaluation: a prediction depends on the rest "
                       "of its batch", "use running statistics at eval (BatchNorm track_running_stats) or LayerNorm",
                       {"own": own, "other": other})
    return Finding(FAMILY, "batch independence", ratio, f"{ratio:.2g} × own-input gradient", "≤ 1e-6", FAIL,
                   "examples mix across the batch: a wrong reshape/view/transpose mixes the batch axis",
                   "check every reshape keeps the batch axis first (x.view(B, ...), not x.view(-1, ...) across it)",
                   {"own": own, "other": other})


def channels_used(ctx: Context) -> Finding:
    """Every input channel (or feature, for flat inputs) reaches the output at init."""
    x, _ = ctx.probe_batch()
    use = input_use(ctx.initial_model, x[:64])
    unused = torch.nonzero(use == 0).flatten().tolist()
    what = "channel" if ctx.pool.x_train.dim() > 2 else "feature"
    n = len(use)
    if not unused or len(unused) == n:  # all unused: the zero-input check names a model that ignores x
        return Finding(FAMILY, f"every input {what} used", len(unused), f"{n - len(unused)} of {n} used",
                       f"each input {what} reaches the output", PASS)
    shown = ", ".join(map(str, unused[:10])) + (" …" if len(unused) > 10 else "")
    return Finding(FAMILY, f"every input {what} used", len(unused), f"{len(unused)} of {n} unused ({shown})",
                   f"each input {what} reaches the output", FAIL,
                   f"the model's output does not depend on input {what}{'s' if len(unused) > 1 else ''} {shown} "
                   f"(zero gradient): the forward drops part of its input", "check the model's forward for a slice "
                   "or index that leaves out part of x (x[:, :k], a wrong channel count)", {"unused": unused[:200]})


def augmentation(ctx: Context) -> Finding:
    """The user's augmentation against none: same runs without it; worse validation error means it changes the
    label (a flipped digit is another digit) or destroys the signal."""
    if not ctx.val_spec.reg.augment:
        return not_applicable(FAMILY, "augmentation keeps labels", "no augmentation in the spec (reg.augment)")
    main = ctx.main
    with_aug = _val_error(ctx, [r.final for r in main.results])
    specs = [r.spec.replace(**{"reg.augment": []}) for r in main.results]
    _, res = ctx.train(f"without augmentation ({len(specs)} models)", specs)
    without = _val_error(ctx, [r.final for r in res])
    n_val = len(ctx.prepared.val_idx)
    margin = max(0.02, 3 * math.sqrt(max(without * (1 - without), 1e-4) / n_val)) if ctx.classification else 0.05
    loss = with_aug - without
    names = ", ".join(a.name for a in ctx.val_spec.reg.augment)
    shown = f"val error {with_aug:.3f} with {names}, {without:.3f} without"
    band = f"no worse than without it by ≥ {margin:.3f}"
    if loss < margin:
        return Finding(FAMILY, "augmentation keeps labels", loss, shown, band, PASS)
    # a worse validation error is measured; why (a changed label or a destroyed cue) is not, so: WARN
    return Finding(FAMILY, "augmentation keeps labels", loss, shown, band, WARN,
                   f"the augmentation ({names}) makes validation worse ({with_aug:.3f} against {without:.3f} without "
                   f"it): it changes what the label means (a digit turned upside down is another digit) or destroys "
                   f"what tells the classes apart",
                   "drop the augmentation or keep only label-preserving ones (small shifts or crops for digits)",
                   {"with": with_aug, "without": without, "margin": margin})


def run(ctx: Context) -> list[Finding]:
    own, other, norm_layers, dead = input_gradient(ctx)
    checks = [zero_input(ctx, own, dead), coupling(own, other, norm_layers), channels_used(ctx)]
    return [*checks, augmentation(ctx)]

