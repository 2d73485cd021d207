"""A pack's data loss per model — weighted mean cross-entropy (class indices or soft targets) or MSE — and its
gradient with respect to the outputs, written by hand for the fused path.

Model k's loss is Σ_b w_kb·ℓ_kb / Σ_b w_kb over its mini-batch (w = 0 marks padding of a short batch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gaplab.engine.script import scripted
from gaplab.regularize.smoothing import soft_cross_entropy

HARD, SOFT, MSE = "hard", "soft", "mse"


def _mean(per: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    denom = w.sum(1).clamp_min(1)
    return (per * w).sum(1) / denom, denom


def data_loss(out: torch.Tensor, target: torch.Tensor, w: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-model weighted mean loss (K,) of outputs ``out`` (K, B, ...) against ``target``."""
    if kind == HARD:
        ce = F.cross_entropy(out.flatten(0, 1), target.flatten(), reduction="none").view_as(w)
        return _mean(ce, w)[0]
    if kind == SOFT:
        return soft_cross_entropy(out, target, w)
    return _mean(((out - target) ** 2).flatten(2).mean(-1), w)[0]


@torch.no_grad()
def data_loss_and_grad(out_t: torch.Tensor, target: torch.Tensor, w: torch.Tensor,
                       kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss (K,), d loss_k / d out) without autograd, for outputs laid out class-first: ``out_t`` (K, C, B).

    Class-first because CPU softmax kernels over a short last axis (C = 10) are several times slower than over
    a middle one. ``target``: class indices (K, B), soft targets (K, B, C) or regression targets (K, B, C).
    """
    return scripted(loss_and_grad)(out_t, target, w, kind)


def loss_and_grad(out_t: torch.Tensor, target: torch.Tensor, w: torch.Tensor,
                  kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``data_loss_and_grad``'s body, in the Python TorchScript compiles (engine.script; called under no_grad)."""
    if kind == "mse":
        diff = out_t - target.transpose(1, 2)
        per = (diff * diff).mean(1)
        loss, denom = _mean(per, w)
        return loss, diff.mul_(((w / denom.unsqueeze(1)) * (2.0 / diff.shape[1])).unsqueeze(1))
    logp = F.log_softmax(out_t, dim=1)
    if kind == "hard":
        per = -logp.gather(1, target.unsqueeze(1)).squeeze(1)
        loss, denom = _mean(per, w)
        grad = logp.exp_()
        grad.scatter_add_(1, target.unsqueeze(1), torch.full_like(per, -1.0).unsqueeze(1))
    else:
        t = target.transpose(1, 2)
        per = -(t * logp).sum(1)
        denom = w.sum(1).clamp_min(1.1754943508222875e-38)  # torch.finfo(torch.float32).tiny: packs are float32
        loss = (w * per).sum(1) / denom
        # d/dz of −Σ_c t_c log softmax(z)_c = softmax(z)·Σ_c t_c − t
        grad = logp.exp_().mul_(t.sum(1, keepdim=True)).sub_(t)
    return loss, grad.mul_((w / denom.unsqueeze(1)).unsqueeze(1))
