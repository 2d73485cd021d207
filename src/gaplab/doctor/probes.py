"""Looking inside one model with forward hooks: activation scale per layer, dead ReLU units, gradient norms
per layer, and whether an example's output depends on its own input only."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

# _NormBase: every batch and instance norm, gaplab's pack-safe BatchNorm included
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def weighted_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf modules with a weight matrix or kernel (Linear, Conv, user layers alike), in forward order."""
    return [(n, m) for n, m in model.named_modules()
            if not list(m.children()) and isinstance(getattr(m, "weight", None), torch.Tensor)
            and m.weight.dim() >= 2]


@contextmanager
def _hooks(mods: list[tuple[str, nn.Module]], store: dict[str, list[torch.Tensor]]) -> Iterator[None]:
    def hook(name: str) -> Any:
        def fn(_m: nn.Module, _i: Any, out: Any) -> None:
            if isinstance(out, torch.Tensor):
                store.setdefault(name, []).append(out.detach())
        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in mods]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def loss_of(out: torch.Tensor, y: torch.Tensor, classification: bool) -> torch.Tensor:
    """Mean loss the engine trains on: cross-entropy, or mean squared error."""
    if classification:
        return F.cross_entropy(out, y)
    return ((out - y.view_as(out)) ** 2).mean()


@torch.no_grad()
def activation_scales(model: nn.Module, x: torch.Tensor) -> tuple[list[str], list[float], torch.Tensor]:
    """RMS of each weighted layer's output on ``x`` (eval mode), and the model's output."""
    mods = weighted_layers(model)
    seen: dict[str, list[torch.Tensor]] = {}
    model.eval()
    with _hooks(mods, seen):
        out = model(x)
    names = [n for n, _ in mods if n in seen]
    return names, [float(seen[n][0].float().pow(2).mean().sqrt()) for n in names], out


NO_RELU = "no ReLU computed (nn.ReLU, F.relu, torch.relu)"


class ReluCalls(TorchFunctionMode):
    """Sees every ReLU a forward computes — ``nn.ReLU`` modules and ``F.relu``/``torch.relu``/``Tensor.relu`` calls
    in a user's forward alike — and records, per call site (its order in the forward), which units ever fire."""

    FUNCS = frozenset({F.relu, torch.relu, torch.Tensor.relu, F.relu_, torch.relu_, torch.Tensor.relu_})

    def __init__(self) -> None:
        super().__init__()
        self.alive: dict[str, torch.Tensor] = {}
        self.site = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        if func in self.FUNCS and isinstance(out, torch.Tensor):
            self.site += 1
            name = f"relu {self.site}"
            a = out.detach()
            a = a.transpose(0, 1).flatten(1) if a.dim() > 1 else a.view(1, -1)
            act = (a > 0).any(1)
            self.alive[name] = act if name not in self.alive else self.alive[name] | act
        return out


def dead_relu_fraction(model: nn.Module, x: torch.Tensor, chunk: int = 2048) -> tuple[float | None, dict[str, float]]:
    """Fraction of ReLU units (channels) that output zero for every example of ``x``; None when the forward computes no
    ReLU. Per site: ``relu k`` is the k-th ReLU the forward computes."""
    calls = ReluCalls()
    model.eval()
    with torch.no_grad():
        for i in range(0, len(x), chunk):
            calls.site = 0
            with calls:
                model(x[i:i + chunk])
    alive = calls.alive
    if not alive:
        return None, {}
    per = {n: 1.0 - float(a.float().mean()) for n, a in alive.items()}
    total = sum(int(a.numel()) for a in alive.values())
    dead = sum(int((~a).sum()) for a in alive.values())
    return dead / max(total, 1), per


def gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, classification: bool) -> dict[str, float]:
    """Norm of the loss gradient of each weighted layer's weight on one batch (train mode), input side first.

    The model's buffers (batch-norm running statistics, which a train-mode forward updates) are put back after,
    so the model can be probed again as it was."""
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    model.train()
    model.zero_grad(set_to_none=True)
    loss_of(model(x), y, classification).backward()
    grads = {n: cast(torch.Tensor, m.weight).grad for n, m in weighted_layers(model)}
    out = {n: float(g.norm()) if g is not None else 0.0 for n, g in grads.items()}
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        for n, b in model.named_buffers():
            b.copy_(buffers[n])
    return out


def batch_coupling(model: nn.Module, x: torch.Tensor, probe: int = 0) -> tuple[float, float]:
    """(norm of d out[probe] / d x[probe], largest norm of d out[probe] / d x[j] for j ≠ probe), in eval mode.

    The first is zero when the output ignores the input; the second is zero unless examples of a batch mix
    (a wrong reshape or transpose, or normalization over the batch).
    """
    model.eval()
    xx = x.detach().clone().requires_grad_(True)
    out = model(xx)
    (g,) = torch.autograd.grad(out[probe].sum(), xx, allow_unused=True)
    if g is None:
        return 0.0, 0.0
    per = g.flatten(1).norm(dim=1)
    own = float(per[probe])
    others = torch.cat([per[:probe], per[probe + 1:]])
    return own, float(others.max()) if len(others) else 0.0


def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def input_use(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Summed |d output / d input| over the batch ``x`` per input channel ((C, ...) inputs) or feature ((F,)
    inputs), in eval mode: exactly zero for a part of the input the forward never reads."""
    model.eval()
    xx = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xx).abs().sum(), xx, allow_unused=True)
    if g is None:
        return torch.zeros(x.shape[1] if x.dim() > 1 else 1)
    g = g.abs().sum(0)
    return g.flatten(1).sum(1) if g.dim() > 1 else g


def has_norm_layers(model: nn.Module) -> bool:
    return any(isinstance(m, _NORMS) for m in model.modules())


def update_ratios(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> dict[str, float]:
    """‖ΔW‖ / ‖W‖ per stacked weight (model 0 of a pack), for weights with two or more axes."""
    out = {}
    for n, b in before.items():
        w0 = b[0]
        if w0.dim() < 2:
            continue
        out[n] = float((after[n][0].detach() - w0).norm() / w0.norm().clamp_min(1e-12))
    return out


def finite_log10(v: float) -> float:
    return math.log10(v) if v > 0 and math.isfinite(v) else float("nan")
