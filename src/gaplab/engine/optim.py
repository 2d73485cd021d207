"""Batched optimizers over a pack's flat parameters (K, P): every model has its own hyperparameters.

torch.optim rejects a per-model learning-rate tensor, so SGD (momentum, Nesterov) and Adam are written here
once, over the whole (K, P) table — one op per term of the formula for all parameters of all models. The
formulas follow torch.optim.SGD and torch.optim.Adam exactly, so a pack of one reproduces them to float
rounding; weight decay here is always decoupled (p ← p − lr·wd·p, Loshchilov & Hutter's AdamW/SGDW), the L2
penalty lives in the gradient (engine.pack).
"""

from __future__ import annotations

import math

import torch

from gaplab.engine.hyper import Hyper
from gaplab.engine.script import scripted


class BatchedOptimizer:
    """SGD or Adam over a flat (K, P) parameter table with per-model lr, momentum/betas and decay."""

    def __init__(self, flat: torch.Tensor, kind: str, hyper: Hyper, nesterov: bool = False) -> None:
        self.flat = flat
        self.kind = "sgd" if kind == "sgd" else "adam"
        self.h = hyper
        self.nesterov = nesterov
        self.steps = torch.zeros(flat.shape[0], dtype=torch.float64)
        self.use_momentum = hyper.uses("momentum")
        self.use_decay = hyper.uses("weight_decay")
        names = ("buf",) if self.kind == "sgd" and self.use_momentum else ("m", "v") if self.kind == "adam" else ()
        self.state: dict[str, torch.Tensor] = {n: torch.zeros_like(flat) for n in names}
        self._lr: tuple[torch.Tensor, int, float, torch.Tensor] | None = None  # (rates, their version, factor, column)

    @torch.no_grad()
    def step(self, g: torch.Tensor, lr_scale: float, active: torch.Tensor | None) -> None:
        """One update with gradients ``g`` (K, P); ``lr_scale`` is the schedule's factor; models with ``active``
        False keep their parameters, state and step count."""
        if active is None:
            self.steps += 1
            self._update(g, lr_scale)
            return
        frozen = torch.nonzero(~active).flatten()
        saved = [self.flat[frozen].clone(), *(s[frozen].clone() for s in self.state.values())]
        self.steps += active.to(self.steps.dtype)
        self._update(g, lr_scale)
        for t, old in zip((self.flat, *self.state.values()), saved, strict=True):
            t[frozen] = old

    def _update(self, g: torch.Tensor, lr_scale: float) -> None:
        h = self.h
        lr = self._lr_column(lr_scale)
        decay = h.weight_decay.unsqueeze(1) if self.use_decay else None
        if self.kind == "sgd":
            mom = h.momentum.unsqueeze(1) if self.use_momentum else None
            scripted(sgd_update)(self.flat, g, self.state.get("buf"), lr, mom, decay, self.nesterov)
            return
        t = self.steps.to(self.flat.device).unsqueeze(1)
        scripted(adam_update)(self.flat, g, self.state["m"], self.state["v"], lr, h.beta1.unsqueeze(1),
                              h.beta2.unsqueeze(1), h.eps.unsqueeze(1), t, decay)

    def _lr_column(self, lr_scale: float) -> torch.Tensor:
        """(K, 1) learning rates times the schedule's factor, made again only when the factor or the rates change
        (once per epoch at most)."""
        lr = self.h.lr
        key = (lr, lr._version, lr_scale)
        if self._lr is None or self._lr[0] is not lr or self._lr[1:3] != key[1:]:
            self._lr = (*key, (lr * lr_scale).unsqueeze(1))
        return self._lr[3]

    def select(self, keep: torch.Tensor, flat: torch.Tensor) -> None:
        """Keep only the models at ``keep``; ``flat`` is the pack's new (compacted) parameter table."""
        self.flat = flat
        self.steps = self.steps[keep]
        self.state = {n: s[keep] for n, s in self.state.items()}


def sgd_update(p: torch.Tensor, g: torch.Tensor, buf: torch.Tensor | None, lr: torch.Tensor,
               mom: torch.Tensor | None, decay: torch.Tensor | None, nesterov: bool) -> None:
    """torch.optim.SGD's update of ``p`` (K, P) in place, with (K, 1) rates, momenta and decoupled decay."""
    if decay is not None:
        p.mul_(1 - lr * decay)
    d = g
    if buf is not None and mom is not None:
        buf.mul_(mom).add_(g)
        d = g.add(buf * mom) if nesterov else buf
    p.sub_(d * lr)


def adam_update(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, lr: torch.Tensor,
                b1: torch.Tensor, b2: torch.Tensor, eps: torch.Tensor, t: torch.Tensor,
                decay: torch.Tensor | None) -> None:
    """torch.optim.Adam's update of ``p`` (K, P) in place, with (K, 1) hyperparameters and step counts ``t``
    (float64), and decoupled decay (AdamW)."""
    if decay is not None:
        p.mul_(1 - lr * decay)
    # torch.optim.Adam: step_size = lr / (1 − β1^t); denom = √v / √(1 − β2^t) + eps
    bias1 = (1 - b1.double() ** t).float()
    bias2_sqrt = (1 - b2.double() ** t).sqrt().float()
    step_size = lr / bias1.clamp_min(1e-30)
    m.mul_(b1).add_(g * (1 - b1))
    v.mul_(b2).addcmul_(g, g * (1 - b2))
    denom = (v.sqrt() / bias2_sqrt).add_(eps)
    p.sub_(step_size * m / denom)


def schedule_factor(kind: str, epoch: int, epochs: int, step_size: int, gamma: float) -> float:
    """Learning-rate multiplier for 0-based ``epoch`` (stepped once per epoch, as torch's schedulers)."""
    if kind == "step":
        return gamma ** (epoch // step_size)
    if kind == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    return 1.0
