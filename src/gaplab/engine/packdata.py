"""The data side of a pack: one shared pool on the device, and each model's subset, splits and label table."""

from __future__ import annotations

from dataclasses import replace

import torch

from gaplab.data import Dataset, Prepared
from gaplab.engine.datacache import prepared_for
from gaplab.spec import RunSpec

EPOCH_BYTES = 64 * 2**20  # an epoch's inputs gathered at once (PackData.epoch) up to this size


class PackData:
    """The pool's tensors and per-model (K, N) tables: labels (noisy/random ones included), train/val masks,
    which examples were corrupted or randomized, and each model's training set size ``m`` (K,)."""

    def __init__(self, specs: list[RunSpec], device: torch.device, dataset: Dataset | None = None,
                 train_idx: list[torch.Tensor] | None = None) -> None:
        prepared: list[Prepared] = [prepared_for(s, dataset) for s in specs]
        if train_idx is not None:
            if len(train_idx) != len(specs):
                raise ValueError(f"train_idx has {len(train_idx)} index sets for a pack of {len(specs)} models")
            prepared = [replace(p, train_idx=t.to(torch.int64)) for p, t in zip(prepared, train_idx, strict=True)]
        ds = prepared[0].dataset
        self.ds = ds
        self.classification = ds.task == "classification"
        self.num_classes = ds.num_classes or 0
        self.train_idx = [p.train_idx for p in prepared]
        self.x_pool = ds.x_train.to(device)
        self.x_test = ds.x_test.to(device)
        self.y_test = ds.y_test.to(device)
        self.true_labels = ds.y_train.to(device)
        self.labels = torch.stack([p.labels for p in prepared]).to(device)
        self.corrupted = torch.stack([p.corrupted for p in prepared]).to(device)
        self.randomized = torch.stack([p.randomized for p in prepared]).to(device)
        self.train_mask = torch.zeros(len(specs), self.x_pool.shape[0], dtype=torch.bool, device=device)
        self.val_mask = torch.zeros_like(self.train_mask)
        for i, p in enumerate(prepared):
            self.train_mask[i, p.train_idx] = True
            self.val_mask[i, p.val_idx] = True
        self.has_val = bool(self.val_mask.any())
        self.whole_pool = False
        self._eval_cols()
        self.m = torch.tensor([float(len(t)) for t in self.train_idx], device=device)

    def _eval_cols(self) -> None:
        """The pool rows some model trains or validates on: the only ones its metrics read (a model may train on
        500 of a pool's 4000 rows; evaluating the other 3500 every epoch would cost more than training).
        With ``whole_pool`` (models whose outputs depend on the evaluated batch), every row."""
        used = torch.ones_like(self.train_mask[0]) if self.whole_pool else (self.train_mask | self.val_mask).any(0)
        self.eval_cols = torch.nonzero(used).flatten()
        self.x_eval = self.x_pool.index_select(0, self.eval_cols)

    def evaluate_whole_pool(self) -> None:
        """Evaluate on every pool row, whatever the pack's models use: batch norm without running statistics
        normalizes with the evaluated batch, so evaluating only the rows some pack-mate uses would make one model's
        training metrics depend on its pack-mates (and change when the pack is compacted)."""
        self.whole_pool = True
        self._eval_cols()

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (K, B, ...) and each model's own labels (K, B) for batch indices ``idx`` (K, B)."""
        y = torch.gather(self.labels, 1, idx) if self.classification else self.true_labels[idx]
        k, b = idx.shape
        return self.x_pool.index_select(0, idx.reshape(-1)).view(k, b, *self.x_pool.shape[1:]), y

    def epoch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Every batch of an epoch at once for index tables ``idx`` (K, S, B): inputs (S, K, B, ...) and labels
        (S, K, B), step-major so each step's batch is one contiguous block; None when that would take more than
        ``EPOCH_BYTES`` (then ``batch`` gathers step by step). The gather costs the same either way; a step then
        takes two views instead of four ops, each of which costs a fixed dispatch and, with packs side by side in
        threads, a turn of the GIL."""
        k, s, b = idx.shape
        row = self.x_pool[0].numel() * self.x_pool.element_size()
        if k * s * b * row > EPOCH_BYTES:
            return None
        by_step = idx.transpose(0, 1).reshape(s, k * b)
        x = self.x_pool.index_select(0, by_step.reshape(-1)).view(s, k, b, *self.x_pool.shape[1:])
        if self.classification:
            y = torch.gather(self.labels, 1, idx.reshape(k, s * b)).view(k, s, b).transpose(0, 1).contiguous()
        else:
            y = self.true_labels[by_step].view(s, k, b, *self.true_labels.shape[1:])
        return x, y

    def select(self, keep: torch.Tensor) -> None:
        """Keep only the models at indices ``keep`` (compaction)."""
        self.train_idx = [self.train_idx[i] for i in keep.tolist()]
        for name in ("labels", "corrupted", "randomized", "train_mask", "val_mask", "m"):
            setattr(self, name, getattr(self, name)[keep.to(self.labels.device)])
        self._eval_cols()
