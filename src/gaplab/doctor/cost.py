"""What a model costs the doctor: multiply-adds per example, and the training steps a family gets for it."""

from __future__ import annotations

import math
from typing import Any

import torch


def macs_per_example(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of one forward pass of ``model`` per example of ``x`` (its linear and conv layers; the rest is
    cheap beside them), counted with forward hooks: works for any user model too."""
    total = 0

    def count(m: torch.nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, torch.nn.Linear):
            total += out.numel() * m.in_features
        elif isinstance(m, torch.nn.modules.conv._ConvNd):
            total += out.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    was = model.training
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return total // max(len(x), 1)


def steps_for_cost(ctx: Any, steps: int, floor: int) -> int:
    """``steps``, fewer for a model above ``budget.lr_macs`` multiply-adds per example (in proportion, so that a
    conv net's family costs about an MLP's), never fewer than ``floor``; ``steps`` when ``lr_macs`` is None.
    ``ctx`` is the doctor's ``Context`` (its budget, probe batch and initial model)."""
    b = ctx.budget
    if b.lr_macs is None:
        return steps
    return max(min(floor, steps), min(steps, round(steps * b.lr_macs / max(model_macs(ctx), 1))))


def model_macs(ctx: Any) -> int:
    """Multiply-adds per example of the doctor's model (``ctx``: its ``Context``), read on its probe batch."""
    x, _ = ctx.probe_batch()
    return macs_per_example(ctx.initial_model, x[:4])
