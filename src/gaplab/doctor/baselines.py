"""Simple baselines on the same data (logistic/linear regression, k-nearest neighbours): the reference level of
the bias/variance check and the evidence that the inputs carry signal at all."""

from __future__ import annotations

from typing import Any

import torch

from gaplab.doctor import linear
from gaplab.doctor.context import Context


def fit_baselines(ctx: Context) -> dict[str, Any]:
    """Validation error (the task's scale, see ``Context.error_of``) of each baseline (``ctx.baselines`` calls
    this once): logistic/ridge regression and 5-nearest neighbours (``doctor.linear``), on at most
    ``budget.baseline_examples`` training examples."""
    p = ctx.prepared
    x = ctx.pool.x_train.reshape(ctx.pool.n_train, -1)
    g = torch.Generator().manual_seed(0)
    tr = p.train_idx[torch.randperm(len(p.train_idx), generator=g)[: ctx.budget.baseline_examples]]
    xtr, xva = x[tr], x[p.val_idx]
    out: dict[str, float] = {}
    if ctx.classification:
        ytr, yva = p.labels[tr], ctx.pool.y_train[p.val_idx]
        preds = {"logistic": linear.logistic_fit(xtr, ytr, ctx.k).proba(xva).argmax(1),
                 "k-NN": linear.knn_predict(xtr, ytr, xva, 5, ctx.k)}
        out = {name: float((pred != yva).float().mean()) for name, pred in preds.items()}
    else:
        ytr, yva = ctx.pool.y_train[tr].float(), ctx.pool.y_train[p.val_idx].float()
        preds = {"linear": linear.ridge_predict(xtr, ytr, xva), "k-NN": linear.knn_predict(xtr, ytr, xva, 5)}
        out = {name: float(((pred - yva.reshape(len(yva), -1)) ** 2).mean()) / ctx.target_var
               for name, pred in preds.items()}
    best = min(out, key=out.__getitem__)
    return {"errors": out, "best": best, "best_error": out[best]}
