"""Initialization checks on the untrained model: initial loss against ln K (or the target variance), logit
scale, outputs that are already probabilities, activation scale through the layers (vanishing or exploding),
dead ReLU units at init, and batch norm fed batches too small for its statistics."""

from __future__ import annotations

import math

import torch

from gaplab.doctor.context import Context
from gaplab.doctor.probes import NO_RELU, activation_scales, dead_relu_fraction, has_batch_norm, loss_of
from gaplab.doctor.result import FAIL, PASS, WARN, Finding, not_applicable, verdict_of

FAMILY = "init"
INIT_FIX = "scale the initial weights down (default PyTorch / He / Glorot init), or zero-init the last layer"


def initial_loss(ctx: Context, loss: float) -> Finding:
    if not math.isfinite(loss):
        return Finding(FAMILY, "initial loss", loss, "non-finite", "finite", FAIL, "the untrained model's loss is "
                       "not finite: overflow in the forward pass", INIT_FIX)
    if ctx.classification:
        ratio = loss / ctx.ln_k
        # a model that knows nothing predicts ≈ uniformly: loss ≈ ln K; far above means confident wrong guesses
        verdict = verdict_of(ratio, 1.5, 3.0)
        if ratio < 0.5:
            verdict = WARN
        return Finding(FAMILY, "initial loss", loss, f"{loss:.3f} ({ratio:.2f} × ln K)",
                       f"≈ ln {ctx.k} = {ctx.ln_k:.3f} (0.5–1.5 ×)", verdict,
                       "" if verdict == PASS else ("initial predictions already fit the labels: check for leakage"
                                                 if ratio < 0.5 else "initialization too large: confident wrong "
                                                 "predictions before training"),
                       "" if verdict == PASS else ("see the data checks" if ratio < 0.5 else INIT_FIX))
    ratio = loss / ctx.target_var
    mean_sq = float(ctx.pool.y_train.float().mean(0).pow(2).mean()) / ctx.target_var
    verdict = verdict_of(ratio / (1.0 + mean_sq), 3.0, 30.0)
    return Finding(FAMILY, "initial loss", loss, f"{loss:.3g} ({ratio:.2f} × target variance)",
                   f"≈ target variance (+ squared mean {mean_sq:.2f}×)", verdict,
                   "" if verdict == PASS else "initial outputs far larger than the targets: initialization too large",
                   "" if verdict == PASS else INIT_FIX)


def logit_scale(ctx: Context, out_std: float) -> Finding:
    if ctx.classification:
        # logits with std ≫ 1 saturate the softmax: gradients vanish for the examples it gets wrong
        verdict = verdict_of(out_std, 3.0, 10.0)
        band, unit = "std ≤ 3 (softmax not saturated)", ""
    else:
        out_std = out_std / math.sqrt(ctx.target_var)
        verdict = verdict_of(out_std, 3.0, 30.0)
        band, unit = "std ≤ 3 × target std", " × target std"
    return Finding(FAMILY, "output scale at init", out_std, f"std {out_std:.3g}{unit}", band, verdict,
                   "" if verdict == PASS else "initialization too large: outputs saturate at init",
                   "" if verdict == PASS else INIT_FIX)


def activation_growth(names: list[str], scales: list[float]) -> Finding:
    if len(scales) < 2:
        c = not_applicable(FAMILY, "activation scale", "one weighted layer: no growth through layers to measure")
        c.details.update(layers=names, rms=scales)
        return c
    first, last = scales[0], scales[-1]
    ratio = last / first if first > 0 else (math.inf if last > 0 else 0.0)
    lg = abs(math.log10(ratio)) if 0 < ratio < math.inf else math.inf
    # each layer should roughly keep the scale: 100× over the network is a sign, 1000× is broken
    verdict = verdict_of(lg, 2.0, 3.0)
    kind = "exploding" if ratio > 1 else "vanishing"
    return Finding(FAMILY, "activation scale", ratio, f"last/first layer RMS {ratio:.3g}", "10⁻² – 10²", verdict,
                   "" if verdict == PASS else f"{kind} activations through the layers at init",
                   "" if verdict == PASS else ("scale weights down (He/Glorot init)" if kind == "exploding" else
                                             "check for dead units or too-small weights; use He init for ReLU"),
                   {"layers": names, "rms": scales})


def dead_at_init(frac: float | None, per: dict[str, float]) -> Finding:
    if frac is None:
        return not_applicable(FAMILY, "dead ReLU at init", NO_RELU)
    verdict = verdict_of(frac, 0.2, 0.5)
    return Finding(FAMILY, "dead ReLU at init", frac, f"{100 * frac:.1f} % of units", "< 20 % never active on a batch",
                   verdict, "" if verdict == PASS else "dead ReLU units at init: biases too negative (or inputs "
                   "all of one sign with a bad init)",
                   "" if verdict == PASS else "initialize biases at 0 (or small positive); check the input scaling",
                   {"per_layer": per})


def output_kind(ctx: Context, out: torch.Tensor) -> Finding:
    """Logits, as the cross-entropy expects, or probabilities (a final Softmax: every row in [0, 1], summing to 1)."""
    o = out.detach().double().reshape(len(out), -1)
    probs = bool(((o >= 0) & (o <= 1)).all()) and float((o.sum(1) - 1).abs().max()) < 1e-4
    if not probs:
        return Finding(FAMILY, "outputs are logits", 0.0, "not probabilities", "rows not summing to 1", PASS)
    return Finding(FAMILY, "outputs are logits", 1.0, "every output row sums to 1", "rows not summing to 1", FAIL,
                   "the model's outputs are probabilities (rows sum to 1): the loss expects logits, so a final "
                   "Softmax squashes the gradients and caps how confident the model can get",
                   "remove the final Softmax (the cross-entropy applies log-softmax itself)")


def batch_norm_batch(ctx: Context, model: torch.nn.Module) -> Finding:
    """Batch norm normalizes with the statistics of each training batch: of 1–2 examples they are noise."""
    b = ctx.val_spec.optim.batch_size
    if not has_batch_norm(model):
        return not_applicable(FAMILY, "batch size for batch norm", "the model has no batch norm")
    # two examples normalize to ±1 whatever they are; eight still give very noisy means and variances
    verdict = FAIL if b <= 2 else WARN if b < 8 else PASS
    return Finding(FAMILY, "batch size for batch norm", b, f"batch size {b}", "≥ 8 examples per batch with batch "
                   "norm", verdict,
                   "" if verdict == PASS else f"batch size {b} with batch norm: its statistics over {b} example"
                   f"{'s' if b > 1 else ''} are noise (two examples always normalize to ±1), so training and "
                   "evaluation see different networks",
                   "" if verdict == PASS else "use a batch of 32 or more, or GroupNorm/LayerNorm instead of BatchNorm")


def run(ctx: Context) -> list[Finding]:
    ctx.progress("initialization", 0, 1)
    model = ctx.initial_model
    x, y = ctx.probe_batch()
    names, scales, out = activation_scales(model, x)
    loss = float(loss_of(out, y, ctx.classification))
    frac, per = dead_relu_fraction(model, x)
    checks = [initial_loss(ctx, loss), logit_scale(ctx, float(out.float().std())), activation_growth(names, scales),
              dead_at_init(frac, per), batch_norm_batch(ctx, model)]
    checks.append(output_kind(ctx, out) if ctx.classification else
                  not_applicable(FAMILY, "outputs are logits", "regression: the outputs are values, not logits"))
    x_rms = float(x.float().pow(2).mean().sqrt())
    if x_rms > 10:  # the data check's "unscaled" band: large outputs come from the inputs, not the weights
        for c in checks[:3]:
            if c.verdict in (WARN, FAIL):
                c.cause = f"inputs unscaled (RMS {x_rms:.3g}): outputs blow up at init whatever the weights"
                c.fix = "standardize the inputs (data.standardize: true)"
                c.details["symptom"] = True
    ctx.init_loss = loss  # the same probe batch and model: the learning-rate family reads it
    ctx.progress("initialization", 1, 1)
    return checks
