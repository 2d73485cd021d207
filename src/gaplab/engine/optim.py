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
        coef: tuple[torch.Tensor, ...]
        if self.kind == "adam":
            coef = (b1, b2, bias2_sqrt, step_size)
        else:
            coef = (lr,)
        for name, p in self.params.items():
            if active is None:
                self._update_inplace(p, grads[name], self.state[name], lr, coef)
            else:
                self._update_masked(p, grads[name], self.state[name], lr, coef, active)

    def _update_inplace(self, p: torch.Tensor, g: torch.Tensor, st: dict[str, torch.Tensor],
                        lr: torch.Tensor, coef: tuple) -> None:
        # Hot path (every model active): in-place, no temporaries beyond one per op.
        if self.use_decay:
            p.mul_(_bc(1 - lr * self.weight_decay, p))
        if self.kind == "sgd":
            d = g
            if self.use_momentum:
                buf = st["buf"]
                buf.mul_(_bc(self.momentum, p)).add_(g)
                d = g.add(buf * _bc(self.momentum, p)) if self.nesterov else buf
            p.sub_(d * _bc(lr, p))
        else:
            b1, b2, bias2_sqrt, step_size = coef
            m, v = st["m"], st["v"]
            m.mul_(_bc(b1, p)).add_(g * _bc(1 - b1, p))
            v.mul_(_bc(b2, p)).addcmul_(g, g * _bc(1 - b2, p))
            denom = (v.sqrt() / _bc(bias2_sqrt, p)).add_(_bc(self.eps, p))
            p.sub_(_bc(step_size, p) * m / denom)

    def _update_masked(self, p: torch.Tensor, g: torch.Tensor, st: dict[str, torch.Tensor],
                       lr: torch.Tensor, coef: tuple, active: torch.Tensor) -> None:
        # Some models frozen (stopped, diverged, out of batches): compute, then keep old values there.
        mask = _bc(active, p)
        new_p = p * _bc(1 - lr * self.weight_decay, p) if self.use_decay else p
        st_new: dict[str, torch.Tensor] = {}
        if self.kind == "sgd":
            d = g
            if self.use_momentum:
                buf = st["buf"] * _bc(self.momentum, p) + g
                d = g + buf * _bc(self.momentum, p) if self.nesterov else buf
                st_new["buf"] = buf
            new_p = new_p - _bc(lr, p) * d
        else:
            b1, b2, bias2_sqrt, step_size = coef
            m = st["m"] * _bc(b1, p) + g * _bc(1 - b1, p)
            v = st["v"] * _bc(b2, p) + g * g * _bc(1 - b2, p)
            denom = v.sqrt() / _bc(bias2_sqrt, p) + _bc(self.eps, p)
            new_p = new_p - _bc(step_size, p) * m / denom
            st_new = {"m": m, "v": v}
        p.copy_(torch.where(mask, new_p, p))
        for k, v_ in st_new.items():
            st[k].copy_(torch.where(mask, v_, st[k]))


def schedule_factor(kind: str, epoch: int, epochs: int, step_size: int, gamma: float) -> float:
    """Learning-rate multiplier for 0-based ``epoch`` (stepped once per epoch, as torch's schedulers)."""
    if kind == "step":
        return gamma ** (epoch // step_size)
    if kind == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    return 1.0
