"""The general path: any model, K stacked copies run with ``torch.func`` (``functional_call`` under ``vmap``) and
differentiated with autograd. Every model the fused path (engine.fused) cannot take runs here, unless its forward
cannot run under ``vmap`` (engine.loopnet).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.func import functional_call

from gaplab.engine.flat import FlatLayout
from gaplab.engine.losses import data_loss
from gaplab.models.layers import BatchNorm, Dropout
from gaplab.phases import phase

# torch's notice that an op (e.g. adaptive_avg_pool2d's as_strided_) runs through vmap's slow fallback: the step time
# the engine reports already shows it, and a user can do nothing about it
warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet implemented")


class StepContext:
    """The per-step inputs a model's own layers read besides ``x``: each dropout layer's step counter (its masks) and
    each batch norm's row weights (padding rows of a short batch count for nothing). Set before a training forward,
    cleared after it, so no reference to a step's tensors outlives it."""

    def __init__(self, base: nn.Module, buffers: dict[str, torch.Tensor]) -> None:
        self.dropouts = [(n, m) for n, m in base.named_modules() if isinstance(m, Dropout)]
        self.norms = [m for m in base.modules() if isinstance(m, BatchNorm)]
        self.activate(buffers)

    def activate(self, buffers: dict[str, torch.Tensor]) -> None:
        """A dropout layer draws masks only where some model of the pack has a non-zero rate for it."""
        for n, d in self.dropouts:
            p = buffers.get(f"{n}.p" if n else "p")
            d.active = bool((p > 0).any()) if p is not None else bool(d.p > 0)

    def set(self, counter: torch.Tensor | int, w: torch.Tensor | None) -> None:
        for _, d in self.dropouts:
            d.counter = counter
        for m in self.norms:
            m.row_weight = w

    def clear(self) -> None:
        self.set(0, None)


class VmapNet:
    """Forward and autograd backward of a module over a flat (K, P) parameter table and stacked buffers."""

    def __init__(self, base: nn.Module, layout: FlatLayout, buffers: dict[str, torch.Tensor]) -> None:
        self.base, self.layout, self.buffers = base, layout, buffers
        self.ctx = ctx = StepContext(base, buffers)

        def f(p: dict, b: dict, x: torch.Tensor) -> torch.Tensor:
            return functional_call(base, (p, b), (x,))

        def f_train(p: dict, b: dict, x: torch.Tensor, counter: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
            ctx.set(counter, w)  # inside vmap: model k's own step counter (0-d) and row weights (B,)
            return functional_call(base, (p, b), (x,))

        self._fwd = torch.vmap(f_train, in_dims=(0, 0, 0, 0, 0))
        self._fwd_shared = torch.vmap(f, in_dims=(0, 0, None))

    @torch.no_grad()
    def forward(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Outputs (K, N, ...) in evaluation mode; ``x`` (N, ...) is shared by every model."""
        self.base.eval()
        try:
            return self._fwd_shared(self.layout.views(flat), self.buffers, x)
        finally:
            self.base.train()

    def outputs(self, params: dict[str, torch.Tensor], x: torch.Tensor, counter: torch.Tensor,
                w: torch.Tensor) -> torch.Tensor:
        """Training-mode outputs (K, B, ...) of stacked ``params`` on ``x`` (K, B, ...); running statistics move."""
        try:
            return self._fwd(params, self.buffers, x, counter, w)
        finally:
            self.ctx.clear()

    def loss_and_grad(self, flat: torch.Tensor, grad: torch.Tensor, x: torch.Tensor, target: torch.Tensor,
                      w: torch.Tensor, kind: str, counter: torch.Tensor) -> torch.Tensor:
        """One training forward + autograd backward on ``x`` (K, B, ...) with per-model dropout step counters
        ``counter`` (K,) and row weights ``w`` (K, B); writes the gradients into ``grad``."""
        params = {n: v.detach().requires_grad_(True) for n, v in self.layout.views(flat).items()}
        with phase("forward"):
            out = self.outputs(params, x, counter, w)
        return backward_into(out, target, w, kind, params, grad)


def backward_into(out: torch.Tensor, target: torch.Tensor, w: torch.Tensor, kind: str,
                  params: dict[str, torch.Tensor], grad: torch.Tensor) -> torch.Tensor:
    """Per-model data losses (K,) of outputs ``out`` (K, B, ...); their gradients with respect to the stacked
    ``params`` written into the flat ``grad`` (a parameter the loss does not reach gets 0)."""
    with phase("forward"):
        loss = data_loss(out, target, w, kind)
        # a non-finite loss contributes no gradient (its model is masked as diverged)
        total = torch.where(torch.isfinite(loss), loss, torch.zeros_like(loss))
    with phase("backward"):
        grads = torch.autograd.grad(total.sum(), list(params.values()), allow_unused=True)
        torch.cat([(torch.zeros_like(p) if g is None else g).flatten(1)
                   for g, p in zip(grads, params.values(), strict=True)], dim=1, out=grad)
    return loss.detach()
