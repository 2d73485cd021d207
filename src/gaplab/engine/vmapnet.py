"""The general path: any registered model, K stacked copies run with ``torch.func`` (``functional_call`` under
``vmap``) and differentiated with autograd. Every model the fused path (engine.fused) cannot take runs here."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from gaplab.engine.flat import FlatLayout
from gaplab.engine.losses import data_loss
from gaplab.models.layers import Dropout
from gaplab.phases import phase


class VmapNet:
    """Forward and autograd backward of a module over a flat (K, P) parameter table and stacked buffers."""

    def __init__(self, base: nn.Module, layout: FlatLayout, buffers: dict[str, torch.Tensor], dropout_on: bool) -> None:
        self.base, self.layout, self.buffers = base, layout, buffers
        self.dropouts = [m for m in base.modules() if isinstance(m, Dropout)]
        for d in self.dropouts:
            d.active = dropout_on

        def f(p: dict, b: dict, x: torch.Tensor) -> torch.Tensor:
            return functional_call(base, (p, b), (x,))

        def f_train(p: dict, b: dict, x: torch.Tensor, counter: torch.Tensor) -> torch.Tensor:
            for d in self.dropouts:  # inside vmap: model k's own step counter, a 0-d tensor
                d.counter = counter
            return functional_call(base, (p, b), (x,))

        self._fwd = torch.vmap(f_train, in_dims=(0, 0, 0, 0))
        self._fwd_shared = torch.vmap(f, in_dims=(0, 0, None))

    @torch.no_grad()
    def forward(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Outputs (K, N, ...) in evaluation mode; ``x`` (N, ...) is shared by every model."""
        self.base.eval()
        try:
            return self._fwd_shared(self.layout.views(flat), self.buffers, x)
        finally:
            self.base.train()

    def loss_and_grad(self, flat: torch.Tensor, grad: torch.Tensor, x: torch.Tensor, target: torch.Tensor,
                      w: torch.Tensor, kind: str, counter: torch.Tensor) -> torch.Tensor:
        """One training forward + autograd backward on ``x`` (K, B, ...) with per-model dropout step counters
        ``counter`` (K,); writes the gradients into ``grad``."""
        params = {n: v.detach().requires_grad_(True) for n, v in self.layout.views(flat).items()}
        with phase("forward"):
            try:
                out = self._fwd(params, self.buffers, x, counter)
            finally:
                for d in self.dropouts:
                    d.counter = 0  # drop the reference to vmap's per-model counter
            loss = data_loss(out, target, w, kind)
            # a non-finite loss contributes no gradient (its model is masked as diverged)
            total = torch.where(torch.isfinite(loss), loss, torch.zeros_like(loss))
        with phase("backward"):
            grads = torch.autograd.grad(total.sum(), list(params.values()))
            torch.cat([g.flatten(1) for g in grads], dim=1, out=grad)
        return loss.detach()
