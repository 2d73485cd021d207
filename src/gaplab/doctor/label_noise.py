"""Label noise (heuristic, confident-learning style): out-of-fold predicted probabilities from k models trained
at once in one pack, each on all training examples but one fold, rank the examples most likely mislabelled."""

from __future__ import annotations

import torch

from gaplab.doctor.context import Context
from gaplab.doctor.result import PASS, WARN, Check

FAMILY = "label_noise"
SHOWN = 20  # suspect indices printed; the JSON keeps up to MAX_KEPT
MAX_KEPT = 2000


def out_of_fold(ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
    """(training pool indices, out-of-fold class probabilities) for every training example."""
    idx = ctx.prepared.train_idx
    k = ctx.budget.folds
    g = torch.Generator().manual_seed(ctx.spec.seed)
    fold = torch.randperm(len(idx), generator=g) % k
    epochs = ctx.epochs_for(ctx.budget.fold_steps)
    spec = ctx.val_spec.replace(**{"optim.epochs": epochs, "eval_every": epochs})
    pack, _ = ctx.train(f"label noise ({k} folds)", [spec] * k, train_idx=[idx[fold != i] for i in range(k)])
    probs = torch.softmax(pack.logits(ctx.pool.x_train[idx]), -1)  # (k, N, K)
    oof = probs[fold, torch.arange(len(idx))]
    return idx, oof


def suspects(oof: torch.Tensor, given: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Confident-learning suspects (Northcutt et al. 2021): an example whose out-of-fold probability of some other
    class reaches that class's threshold (the mean self-confidence of examples labelled with it). Returns the
    suspects' positions, most suspicious (lowest probability of the given label) first, and every position's
    self-confidence."""
    self_conf = oof[torch.arange(len(given)), given]
    thresholds = torch.stack([self_conf[given == c].mean() if (given == c).any() else torch.tensor(1.0)
                              for c in range(k)])
    above = oof >= thresholds.unsqueeze(0)
    masked = torch.where(above, oof, torch.full_like(oof, -1.0))
    confident = masked.argmax(1)
    flagged = above.any(1) & (confident != given)
    pos = torch.nonzero(flagged).flatten()
    order = torch.argsort(self_conf[pos])
    return pos[order], self_conf


def run(ctx: Context) -> list[Check]:
    if not ctx.classification:
        return []
    idx, oof = out_of_fold(ctx)
    given = ctx.prepared.labels[idx]
    pos, self_conf = suspects(oof, given, ctx.k)
    frac = len(pos) / len(idx)
    oof_error = float((oof.argmax(1) != given).float().mean())
    ranked = idx[pos]
    details = {"suspects": ranked[:MAX_KEPT].tolist(), "n_suspects": len(pos), "n_train": len(idx),
               "folds": ctx.budget.folds, "oof_error": oof_error, "heuristic": True,
               "self_confidence": self_conf[pos][:MAX_KEPT].tolist()}
    ctx.cache["label_noise"] = (idx, pos, self_conf)
    ctx.cache["label_noise_oof"] = (idx, oof)  # named by doctor.suspects (row ids, --json, --suspects)
    shown = f"{len(pos)} suspects ({100 * frac:.1f} %); first: {', '.join(map(str, ranked[:5].tolist()))}"
    # a weak model also misclassifies clean examples confidently, so the count is an upper bound: the cause says so
    verdict = WARN if frac >= 0.1 else PASS
    return [Check(FAMILY, "label noise (heuristic)", frac, shown, "< 10 % of training labels suspect", verdict,
                  "" if verdict == PASS else f"{len(pos)} labels look wrong or hard: confidently predicted as another "
                  f"class by models that never saw them (label noise, or classes this model confuses: out-of-fold "
                  f"error {oof_error:.2f})",
                  "" if verdict == PASS else "inspect the top suspects (by row id, most suspicious first; "
                  "--suspects FILE lists them); relabel or drop the wrong ones", details)]
