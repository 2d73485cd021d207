"""Early stopping: a batched state machine over K models, and Prechelt's (1998) criteria on plain sequences.

``EarlyStopping`` follows PyTorch Lightning's semantics (improve if value < best − min_delta in 'min' mode,
stop when ``wait >= patience``), except that NaN simply counts as "not improved". Epochs are 1-based.

Prechelt, "Early stopping — but when?" (Neural Networks: Tricks of the Trade, 1998) defines, for
validation error E_va and training error E_tr (here: losses) at epoch t:
  GL(t) = 100·(E_va(t)/E_opt(t) − 1), E_opt(t) = min_{t'≤t} E_va(t')                  (generalization loss)
  P_k(t) = 1000·(Σ_{t'=t−k+1..t} E_tr(t') / (k·min_{t'=t−k+1..t} E_tr(t')) − 1)    (training progress)
  GL_α: stop when GL(t) > α;  PQ_α: stop when GL(t)/P_k(t) > α at the end of a strip;
  UP_s: stop when E_va rose over s successive strips (evaluated at strip ends).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, Protocol

import torch
from torch import Tensor


class EarlyStopping:
    """Batched early stopping for K models; per-model ``patience``/``min_delta`` may be (K,) tensors.

    State tensors: ``best`` (K,), ``best_epoch`` (K,, 1-based, −1 before any improvement), ``wait`` (K,)
    epochs since the last improvement, ``stopped`` (K,) bool. A stopped model is never updated again.
    """

    def __init__(
        self,
        k: int,
        mode: Literal["min", "max"] = "min",
        patience: int | Tensor = 10,
        min_delta: float | Tensor = 0.0,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.k = k
        self.mode = mode
        self.patience = torch.as_tensor(patience, dtype=torch.int64).expand(k).clone()
        self.min_delta = torch.as_tensor(min_delta, dtype=torch.float64).expand(k).clone()
        if (self.min_delta < 0).any():
            raise ValueError("min_delta must be >= 0")
        self.reset()

    def reset(self) -> None:
        """Forget all history."""
        init = math.inf if self.mode == "min" else -math.inf
        self.best = torch.full((self.k,), init, dtype=torch.float64)
        self.best_epoch = torch.full((self.k,), -1, dtype=torch.int64)
        self.wait = torch.zeros(self.k, dtype=torch.int64)
        self.stopped = torch.zeros(self.k, dtype=torch.bool)

    def update(self, values: Tensor, epoch: int) -> tuple[Tensor, Tensor]:
        """Record (K,) monitored values at 1-based ``epoch``; returns bools (improved (K,), stop_now (K,))."""
        v = torch.as_tensor(values, dtype=torch.float64).detach().cpu().reshape(self.k)
        active = ~self.stopped
        if self.mode == "min":
            better = v < self.best - self.min_delta
        else:
            better = v > self.best + self.min_delta
        improved = active & better & ~torch.isnan(v)  # NaN compares False anyway; explicit for clarity
        self.best = torch.where(improved, v, self.best)
        self.best_epoch = torch.where(improved, torch.full_like(self.best_epoch, epoch), self.best_epoch)
        waited = torch.where(active, self.wait + 1, self.wait)
        self.wait = torch.where(improved, torch.zeros_like(self.wait), waited)
        stop_now = active & ~improved & (self.wait >= self.patience)
        self.stopped = self.stopped | stop_now
        return improved, stop_now

    def state_dict(self) -> dict[str, Tensor | str]:
        """All state, for checkpoints."""
        return {"mode": self.mode, "patience": self.patience, "min_delta": self.min_delta, "best": self.best,
                "best_epoch": self.best_epoch, "wait": self.wait, "stopped": self.stopped}

    def load_state_dict(self, state: dict) -> None:
        """Restore from ``state_dict()``."""
        self.mode = state["mode"]
        for name in ("patience", "min_delta", "best", "best_epoch", "wait", "stopped"):
            setattr(self, name, state[name].clone())
        self.k = self.best.shape[0]


# ---------------------------------------------------------------- Prechelt's criteria


class Criterion(Protocol):
    """Fires (True) at the last epoch of the given histories; ``needs_train``: train losses required."""

    needs_train: bool

    def __call__(self, val: Sequence[float], train: Sequence[float] | None = None) -> bool: ...


def _nanmin(xs: Sequence[float]) -> float:
    finite = [x for x in xs if not math.isnan(x)]
    return min(finite) if finite else math.nan


def generalization_loss(val: Sequence[float]) -> float:
    """GL(t) = 100·(E_va(t)/E_opt(t) − 1) at the last epoch of ``val`` (Prechelt 1998, eq. 1)."""
    return 100.0 * (val[-1] / _nanmin(val) - 1.0)


def training_progress(train: Sequence[float], strip: int) -> float:
    """P_k(t) = 1000·(Σ_strip E_tr / (k·min_strip E_tr) − 1) over the last ``strip`` epochs (Prechelt)."""
    s = list(train[-strip:])
    return 1000.0 * (sum(s) / (strip * min(s)) - 1.0)


class GL:
    """Prechelt's GL_α: stop as soon as the generalization loss exceeds α (percent above the best so far)."""

    needs_train = False

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def __call__(self, val: Sequence[float], train: Sequence[float] | None = None) -> bool:
        return generalization_loss(val) > self.alpha


class PQ:
    """Prechelt's PQ_α: stop at the end of a strip when GL(t)/P_k(t) > α (needs training losses).

    With zero training progress the quotient is +inf if GL > 0 (fires), undefined if GL = 0 (does not fire).
    """

    needs_train = True

    def __init__(self, alpha: float, strip: int = 5) -> None:
        self.alpha, self.strip = alpha, strip

    def __call__(self, val: Sequence[float], train: Sequence[float] | None = None) -> bool:
        if train is None:
            raise ValueError("PQ needs train_losses (training progress P_k uses the training loss)")
        t = len(val)
        if t % self.strip != 0:
            return False
        gl, p = generalization_loss(val), training_progress(train[:t], self.strip)
        if p == 0.0:
            return gl > 0.0
        return gl / p > self.alpha


class UP:
    """Prechelt's UP_s: stop at the end of a strip when E_va rose in each of the last s successive strips.

    UP_1 fires at strip end t if E_va(t) > E_va(t−k); UP_s if also UP_{s−1} fired at t−k. Needs t ≥ (s+1)·k.
    """

    needs_train = False

    def __init__(self, s: int, strip: int = 5) -> None:
        self.s, self.strip = s, strip

    def __call__(self, val: Sequence[float], train: Sequence[float] | None = None) -> bool:
        t, k = len(val), self.strip
        if t % k != 0 or t < (self.s + 1) * k:
            return False
        # val is 0-indexed: epoch e is val[e - 1]
        return all(val[t - j * k - 1] > val[t - (j + 1) * k - 1] for j in range(self.s))


class Patience:
    """Stop when the validation loss has not improved (by more than ``min_delta``) for ``patience`` epochs."""

    needs_train = False

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        self.patience, self.min_delta = patience, min_delta

    def __call__(self, val: Sequence[float], train: Sequence[float] | None = None) -> bool:
        best, wait = math.inf, 0
        for v in val:
            if v < best - self.min_delta:
                best, wait = v, 0
            else:
                wait += 1
        return wait >= self.patience


def first_stop(
    criterion: Criterion, val_losses: Sequence[float], train_losses: Sequence[float] | None = None
) -> int | None:
    """The 1-based epoch at which ``criterion`` first fires on the loss curves, or None if it never does."""
    if getattr(criterion, "needs_train", False) and train_losses is None:
        raise ValueError(f"{type(criterion).__name__} needs train_losses")
    val = [float(v) for v in val_losses]
    train = None if train_losses is None else [float(v) for v in train_losses]
    for t in range(1, len(val) + 1):
        if criterion(val[:t], None if train is None else train[:t]):
            return t
    return None
