"""The plain PyTorch loop the watch tests (and benchmarks/watch_overhead.py) train: an MLP on MNIST-1D."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from gaplab.data import load_dataset


def mnist1d(n: int = 2000) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    ds = load_dataset("mnist1d", {"num_samples": n})
    mu, sd = ds.x_train.mean(0), ds.x_train.std(0) + 1e-6
    return (ds.x_train - mu) / sd, ds.y_train, (ds.x_test - mu) / sd, ds.y_test


def train_loop(data: Any, lr: float = 0.1, epochs: int = 5, watcher: Any = None, seed: int = 0,
               batch: int = 100) -> list[dict[str, float]]:
    """A plain loop (model, SGD, epochs of mini-batches, an evaluation per epoch); ``watcher(model, opt)`` is
    ``gaplab.watch`` with its keywords bound, or None for the bare loop. Returns what the loop printed."""
    x, y, xv, yv = data
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(x.shape[1], 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    printed = []
    ctx: AbstractContextManager[Any] = watcher(model, opt) if watcher else nullcontext()
    with ctx as w:
        for _epoch in range(epochs):
            model.train()
            perm = torch.randperm(len(x))
            total = correct = 0.0
            for i in range(0, len(x), batch):
                idx = perm[i:i + batch]
                out = model(x[idx])
                loss = nn.functional.cross_entropy(out, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
                if w is not None:
                    w.step(loss)
                correct += float((out.argmax(1) == y[idx]).sum())
            model.eval()
            with torch.no_grad():
                out = model(xv)
                row = {"train_loss": total / len(x), "train_acc": correct / len(x),
                       "val_loss": float(nn.functional.cross_entropy(out, yv)),
                       "val_acc": float((out.argmax(1) == yv).float().mean())}
            printed.append(row)
            if w is not None:
                w.epoch(**row)
    return printed
