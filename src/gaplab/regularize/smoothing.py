"""Soft targets for packs of K models: one-hot encoding, label smoothing, and soft-target cross-entropy.

Label smoothing (Szegedy et al. 2016) replaces y by (1 − ε)·y + ε/C, with one ε per model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def one_hot(y: Tensor, num_classes: int) -> Tensor:
    """Integer labels (..., ) -> float one-hot (..., num_classes)."""
    return F.one_hot(y.long(), num_classes).to(torch.get_default_dtype())


def smooth(y_soft: Tensor, eps: Tensor | float) -> Tensor:
    """(1 − ε_k)·y + ε_k/C for soft targets y of shape (K, B, C) and ε of shape (K,) (or a scalar)."""
    e = torch.as_tensor(eps, dtype=y_soft.dtype, device=y_soft.device)
    if e.dim() == 1:
        e = e.reshape(-1, *([1] * (y_soft.dim() - 1)))
    return (1.0 - e) * y_soft + e / y_soft.shape[-1]


def soft_cross_entropy(logits: Tensor, targets: Tensor, weight: Tensor | None = None) -> Tensor:
    """Per-model mean over the batch of −Σ_c targets·log_softmax(logits); (K, B, C) -> (K,).

    ``weight`` (K, B) of per-sample 0/1 (or any non-negative) weights gives the weighted mean Σw·ℓ / Σw
    (0 for a model whose weights are all zero).
    """
    per = -(targets * F.log_softmax(logits, dim=-1)).sum(dim=-1)  # (K, B)
    if weight is None:
        return per.mean(dim=-1)
    w = weight.to(per.dtype)
    return (w * per).sum(dim=-1) / w.sum(dim=-1).clamp_min(torch.finfo(per.dtype).tiny)
