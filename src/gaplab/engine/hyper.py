"""Per-model hyperparameters of a pack: one table of fields, each a (K,) tensor read from the runs' specs.

A field whose value is zero for every model of the pack is "unused": the step skips its op entirely
(docs/performance.md: dropout randomness, L1 and mask conversions cost as much as the matmuls when always on).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from gaplab.spec import RunSpec

# name -> how a run's spec sets it. Every field varies per model inside a pack.
FIELDS: dict[str, Callable[[RunSpec], float]] = {
    "lr": lambda s: s.optim.lr,
    "momentum": lambda s: s.optim.momentum,
    "beta1": lambda s: s.optim.betas[0],
    "beta2": lambda s: s.optim.betas[1],
    "eps": lambda s: s.optim.eps,
    "weight_decay": lambda s: s.reg.weight_decay,
    "l1": lambda s: s.reg.l1,
    "l2": lambda s: s.reg.l2,
    "dropout": lambda s: s.reg.dropout or 0.0,  # None (a user model's own rates) is read from its layers
    "smoothing": lambda s: s.reg.label_smoothing,
    "input_noise": lambda s: s.reg.input_noise,
    "mix_alpha": lambda s: s.reg.mixup or s.reg.cutmix,
    "clip": lambda s: s.reg.grad_clip or 0.0,
    "patience": lambda s: s.reg.early_stopping.patience if s.reg.early_stopping else 0,
    "min_delta": lambda s: s.reg.early_stopping.min_delta if s.reg.early_stopping else 0.0,
}


class Hyper:
    """The pack's hyperparameter table: ``h.lr`` is a (K,) float32 tensor, ``h.uses('l1')`` says if any model
    has a non-zero value."""

    def __init__(self, specs: list[RunSpec], device: torch.device) -> None:
        self.k = len(specs)
        self.values = {name: [float(fn(s)) for s in specs] for name, fn in FIELDS.items()}
        self.tensors = {name: torch.tensor(v, dtype=torch.float32, device=device) for name, v in self.values.items()}
        # no clipping is an infinite max norm
        self.tensors["clip"] = torch.tensor([v or math.inf for v in self.values["clip"]], device=device)
        self._note_used()

    def __getattr__(self, name: str) -> torch.Tensor:
        try:
            return self.__dict__["tensors"][name]
        except KeyError:
            raise AttributeError(name) from None

    def uses(self, name: str) -> bool:
        """True when at least one model of the pack sets ``name`` to a non-zero value."""
        return self._used[name]

    def select(self, keep: torch.Tensor) -> None:
        """Keep only the models at indices ``keep`` (compaction of a pack)."""
        idx = keep.tolist()
        self.values = {n: [v[i] for i in idx] for n, v in self.values.items()}
        self.tensors = {n: t[keep.to(t.device)] for n, t in self.tensors.items()}
        self.k = len(idx)
        self._note_used()

    def _note_used(self) -> None:
        # asked every step, so computed once per table
        self._used = {name: any(v != 0 for v in vals) for name, vals in self.values.items()}
