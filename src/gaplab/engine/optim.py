"""Batched optimizers over stacked parameters (leading model axis K), each model with its own hyperparameters.

torch.optim rejects a per-model learning-rate tensor, so SGD (momentum, Nesterov) and Adam are written
here over (K, ...) tensors. The update formulas follow torch.optim.SGD and torch.optim.Adam exactly, so a
pack of one reproduces them to float rounding; weight decay here is always decoupled
(p ← p − lr·wd·p, Loshchilov & Hutter's AdamW/SGDW), the L2 penalty lives in the loss.
"""

from __future__ import annotations

import math

import torch


def _bc(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-model (K,) tensor to broadcast against a (K, ...) parameter."""
    return t.view(-1, *([1] * (like.dim() - 1)))


class BatchedOptimizer:
    """SGD or Adam over a dict of stacked parameters with per-model lr, momentum/betas and decay."""

    def __init__(
        self,
        params: dict[str, torch.Tensor],
        kind: str,
        lr: torch.Tensor,
        momentum: torch.Tensor,
        weight_decay: torch.Tensor,
        nesterov: bool = False,
        betas: tuple[torch.Tensor, torch.Tensor] | None = None,
        eps: torch.Tensor | None = None,
    ) -> None:
        self.params = params
        self.kind = "sgd" if kind == "sgd" else "adam"
        self.base_lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.nesterov = nesterov
        k = lr.shape[0]
        self.betas = betas or (torch.full((k,), 0.9), torch.full((k,), 0.999))
        self.eps = eps if eps is not None else torch.full((k,), 1e-8)
        self.steps = torch.zeros(k, dtype=torch.float64)
        self.use_momentum = bool((momentum > 0).any())
        self.use_decay = bool((weight_decay > 0).any())
        self.state: dict[str, dict[str, torch.Tensor]] = {
            n: self._init_state(p) for n, p in params.items()
        }

    def _init_state(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.kind == "sgd":
            return {"buf": torch.zeros_like(p)} if self.use_momentum else {}
        return {"m": torch.zeros_like(p), "v": torch.zeros_like(p)}

    @torch.no_grad()
    def step(self, grads: dict[str, torch.Tensor], lr_scale: torch.Tensor, active: torch.Tensor | None) -> None:
        """One update. ``lr_scale`` (K,) is the schedule's factor; models with ``active`` False stay put."""
        lr = self.base_lr * lr_scale
        if active is not None:
            self.steps += active.to(self.steps.dtype)
        else:
            self.steps += 1
        if self.kind == "adam":
            b1, b2 = self.betas
            # torch.optim.Adam: step_size = lr / (1 − β1^t); denom = √v / √(1 − β2^t) + eps
            bias1 = (1 - b1.double() ** self.steps).float()
            bias2_sqrt = (1 - b2.double() ** self.steps).sqrt().float()
            step_size = lr / bias1.clamp_min(1e-30)
        for name, p in self.params.items():
            g = grads[name]
            st = self.state[name]
            new_p = p
            if self.use_decay:
                new_p = new_p * _bc(1 - lr * self.weight_decay, p)
            if self.kind == "sgd":
                if self.use_momentum:
                    buf = st["buf"] * _bc(self.momentum, p) + g
                    d = g + buf * _bc(self.momentum, p) if self.nesterov else buf
                    st_new = {"buf": buf}
                else:
                    d, st_new = g, {}
                new_p = new_p - _bc(lr, p) * d
            else:
                m = st["m"] * _bc(b1, p) + g * _bc(1 - b1, p)
                v = st["v"] * _bc(b2, p) + g * g * _bc(1 - b2, p)
                denom = v.sqrt() / _bc(bias2_sqrt, p) + _bc(self.eps, p)
                new_p = new_p - _bc(step_size, p) * m / denom
                st_new = {"m": m, "v": v}
            if active is not None:
                mask = _bc(active, p)
                new_p = torch.where(mask, new_p, p)
                st_new = {k: torch.where(mask, v_, st[k]) for k, v_ in st_new.items()}
            p.copy_(new_p)
            for k, v_ in st_new.items():
                st[k].copy_(v_)


def schedule_factor(kind: str, epoch: int, epochs: int, step_size: int, gamma: float) -> float:
    """Learning-rate multiplier for 0-based ``epoch`` (stepped once per epoch, as torch's schedulers)."""
    if kind == "step":
        return gamma ** (epoch // step_size)
    if kind == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    return 1.0
