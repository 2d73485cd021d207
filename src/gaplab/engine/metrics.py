"""Per-model metrics of a pack from its outputs on the pool and the test set."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gaplab.engine.packdata import PackData


def per_example(out: torch.Tensor, y: torch.Tensor, classification: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-example loss (K, N) and correctness (K, N) (None for regression)."""
    if classification:
        if y.dim() == 1:
            y = y.expand(out.shape[0], -1)
        loss = F.cross_entropy(out.transpose(1, 2), y, reduction="none")
        # max(-1).indices is argmax (first maximal index) and faster on CPU at a short class axis
        return loss, (out.max(-1).indices == y).float()
    return ((out - y) ** 2).flatten(2).mean(-1), None


def masked_mean(v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of v (K, N) over each row's masked entries (0 where a row has none)."""
    mf = mask.float()
    return (v * mf).sum(1) / mf.sum(1).clamp_min(1)


@torch.no_grad()
def pack_metrics(d: PackData, out: torch.Tensor, out_test: torch.Tensor) -> dict[str, torch.Tensor]:
    """Train/val/test loss and accuracy, gaps, clean/corrupted and random/labelled accuracy, each (K,).

    ``out`` holds the outputs on the pool rows ``d.eval_cols`` (``d.x_eval``), ``out_test`` on the test set."""
    rows: dict[str, torch.Tensor] = {}
    cls = d.classification
    c = d.eval_cols
    train_mask, val_mask, corrupted, randomized = (t[:, c] for t in (d.train_mask, d.val_mask, d.corrupted,
                                                                      d.randomized))
    true_labels = d.true_labels[c]
    loss, corr = per_example(out, d.labels[:, c] if cls else true_labels, cls)
    rows["train_loss"] = masked_mean(loss, train_mask)
    true_corr: torch.Tensor | None = None
    if d.has_val or (cls and bool(corrupted.any())):
        true_loss, true_corr = per_example(out, true_labels, cls)
        if d.has_val:
            rows["val_loss"] = masked_mean(true_loss, val_mask)
            if true_corr is not None:
                rows["val_acc"] = masked_mean(true_corr, val_mask)
    tl, tc = per_example(out_test, d.y_test, cls)
    rows["test_loss"] = tl.mean(1)
    rows["gap_loss"] = rows["test_loss"] - rows["train_loss"]
    if corr is not None and tc is not None:  # classification
        rows["train_acc"] = masked_mean(corr, train_mask)
        rows["test_acc"] = tc.mean(1)
        rows["gap_acc"] = rows["train_acc"] - rows["test_acc"]
        if bool(corrupted.any()):
            assert true_corr is not None
            noisy, clean = train_mask & corrupted, train_mask & ~corrupted
            rows["clean_acc"] = masked_mean(corr, clean)
            rows["noisy_acc"] = masked_mean(corr, noisy)
            rows["noisy_true_acc"] = masked_mean(true_corr, noisy)
        if bool(randomized.any()):
            rows["random_set_acc"] = masked_mean(corr, train_mask & randomized)
            rows["labelled_set_acc"] = masked_mean(corr, train_mask & ~randomized)
    return rows
