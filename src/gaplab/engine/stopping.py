"""Which models of a pack still train: divergence, early stopping and best weights, in one object."""

from __future__ import annotations

import math
from typing import Any

import torch

from gaplab.engine.hyper import Hyper
from gaplab.regularize.early_stopping import EarlyStopping
from gaplab.spec import RunSpec


class StopState:
    """Per-model stop records of a pack of K models.

    ``diverged`` (K,) marks models whose loss became non-finite (their updates are masked from then on);
    ``stopped`` (K,) models no longer train (early-stopped or diverged). With early stopping, ``best`` holds each
    model's parameters (a flat (K, P) table) at its best monitored epoch.
    """

    def __init__(self, specs: list[RunSpec], flat: torch.Tensor, hyper: Hyper) -> None:
        k, dev = len(specs), flat.device
        self.diverged = torch.zeros(k, dtype=torch.bool, device=dev)
        self.stopped = torch.zeros(k, dtype=torch.bool, device=dev)
        self.diverged_epoch: list[int | None] = [None] * k
        self.stopped_epoch: list[int | None] = [None] * k
        es = specs[0].reg.early_stopping  # the pack key guarantees every model has the same kind
        self.es: EarlyStopping | None = None
        self.monitor = ""
        if es is not None:
            self.monitor = es.monitor
            self.es = EarlyStopping(k, mode=es.direction,
                                    patience=torch.tensor([int(v) for v in hyper.values["patience"]]),
                                    min_delta=torch.tensor(hyper.values["min_delta"], dtype=torch.float64))
            self.best = flat.detach().clone()

    def mark_diverged(self, bad: torch.Tensor, epoch: int) -> None:
        """Record models whose loss became non-finite during 0-based ``epoch`` (only the first time)."""
        new = bad & ~self.diverged
        if bool(new.any()):
            for i in torch.nonzero(new).flatten().tolist():
                self.diverged_epoch[i] = epoch + 1
            self.diverged |= new

    def records(self) -> torch.Tensor:
        """(K,) bool: models whose metrics this epoch belong in their history."""
        return ~(self.stopped | self.diverged)

    @torch.no_grad()
    def after_eval(self, metrics: list[dict[str, float]], epoch: int, flat: torch.Tensor) -> None:
        """Early stopping on the monitored metric at 1-based ``epoch``: keep improved weights, stop the patient."""
        if self.es is None:
            return
        vals = torch.tensor([m.get(self.monitor, math.nan) for m in metrics], device=flat.device)
        vals = torch.where(self.stopped | self.diverged, torch.full_like(vals, math.nan), vals)
        improved, stop_now = self.es.update(vals, epoch)
        improved = improved.to(flat.device) & ~self.stopped
        self.best = torch.where(improved.unsqueeze(1), flat, self.best)
        stop_now = stop_now.to(flat.device)
        for i in torch.nonzero(stop_now & ~self.stopped).flatten().tolist():
            self.stopped_epoch[i] = epoch
        self.stopped |= stop_now

    def end_epoch(self) -> bool:
        """Diverged models stop for good; True when every model has stopped."""
        self.stopped |= self.diverged
        return bool(self.stopped.all())

    def flat_shape(self) -> torch.Size:
        """Shape of the best-weights table (or of an empty one without early stopping)."""
        return self.best.shape if self.es is not None else torch.Size((self.stopped.shape[0], 0))

    def final(self, flat: torch.Tensor) -> torch.Tensor:
        """The weights a run ends with: its best weights under early stopping, else its last."""
        return self.best if self.es is not None else flat

    def finals_of(self, i: int) -> dict[str, Any]:
        """Model ``i``'s stop fields for its final metrics."""
        out: dict[str, Any] = {}
        if self.es is not None:
            out["best_epoch"] = int(self.es.best_epoch[i])
            out["stopped_epoch"] = self.stopped_epoch[i]
        if bool(self.diverged[i]):
            out["diverged_epoch"] = self.diverged_epoch[i]
        return out

    def select(self, keep: torch.Tensor) -> None:
        """Keep only the models at indices ``keep`` (compaction of a pack)."""
        idx = keep.tolist()
        self.diverged, self.stopped = self.diverged[keep], self.stopped[keep]
        self.diverged_epoch = [self.diverged_epoch[i] for i in idx]
        self.stopped_epoch = [self.stopped_epoch[i] for i in idx]
        if self.es is not None:
            cpu = keep.cpu()
            for name in ("patience", "min_delta", "best", "best_epoch", "wait", "stopped"):
                setattr(self.es, name, getattr(self.es, name)[cpu])
            self.es.k = len(idx)
            self.best = self.best[keep]

    def state_dict(self) -> dict[str, Any]:
        """Everything above, on the CPU, for checkpoints."""
        state: dict[str, Any] = {"stopped": self.stopped.cpu().clone(), "diverged": self.diverged.cpu().clone(),
                                 "diverged_epoch": list(self.diverged_epoch),
                                 "stopped_epoch": list(self.stopped_epoch)}
        if self.es is not None:
            state["early_stopping"] = self.es.state_dict()
            state["best"] = self.best.cpu().clone()
        return state

    def check_state(self, state: dict[str, Any], k: int, flat_shape: tuple[int, ...]) -> None:
        """Raise ValueError unless ``state`` fits a pack of ``k`` models with parameters of ``flat_shape``."""
        if (self.es is None) != ("early_stopping" not in state) or tuple(state["stopped"].shape) != (k,):
            raise ValueError("early stopping or pack size differs")
        if self.es is not None and tuple(state["best"].shape) != flat_shape:
            raise ValueError("best weights do not match this pack's shapes")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()`` (checked with ``check_state`` first)."""
        self.check_state(state, self.stopped.shape[0], tuple(self.flat_shape()))
        if self.es is not None:
            self.es.load_state_dict(state["early_stopping"])
            self.best = state["best"].to(self.best.device).clone()
        dev = self.stopped.device
        self.stopped = state["stopped"].to(dev).clone()
        self.diverged = state["diverged"].to(dev).clone()
        self.diverged_epoch = list(state["diverged_epoch"])
        self.stopped_epoch = list(state["stopped_epoch"])
