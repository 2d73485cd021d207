"""Per-model mini-batch index tables: each model shuffles its own training subset every epoch."""

from __future__ import annotations

import torch


def epoch_batches(
    train_idx: list[torch.Tensor], batch_size: int, keys: list[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index tables for one epoch of K models.

    Returns ``idx`` (K, S, B) into the data pool, sample weights ``w`` (K, S, B) (0 marks padding of a
    short last batch or of a model with fewer steps) and ``steps`` (K,) — each model's own step count.
    Model k's order depends only on ``keys[k]``, so it is the same alone and in any pack.
    """
    k = len(train_idx)
    steps = torch.tensor([-(-len(t) // batch_size) for t in train_idx])
    s_max = int(steps.max())
    orders = [t[torch.randperm(len(t), generator=torch.Generator().manual_seed(key))]
              for t, key in zip(train_idx, keys, strict=True)]
    if all(len(t) == s_max * batch_size for t in train_idx):  # no padding: one stack (a small pack's common case)
        idx = torch.stack(orders)
        w = torch.ones(k, s_max * batch_size)
    else:
        idx = torch.zeros(k, s_max * batch_size, dtype=torch.int64)
        w = torch.zeros(k, s_max * batch_size)
        for i, (t, order) in enumerate(zip(train_idx, orders, strict=True)):
            idx[i, : len(t)] = order
            idx[i, len(t):] = t[0]
            w[i, : len(t)] = 1.0
    return idx.view(k, s_max, batch_size), w.view(k, s_max, batch_size), steps
