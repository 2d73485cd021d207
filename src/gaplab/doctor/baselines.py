"""Simple baselines on the same data (logistic/linear regression, k-nearest neighbours): the reference level of
the bias/variance check and the evidence that the inputs carry signal at all."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from gaplab.doctor.context import Context


def fit_baselines(ctx: Context) -> dict[str, Any]:
    """Validation error (the task's scale, see ``Context.error_of``) of each baseline (``ctx.baselines`` calls
    this once)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from threadpoolctl import threadpool_limits

    p = ctx.prepared
    x = ctx.pool.x_train.reshape(ctx.pool.n_train, -1)
    g = torch.Generator().manual_seed(0)
    tr = p.train_idx[torch.randperm(len(p.train_idx), generator=g)[: ctx.budget.baseline_examples]]
    xtr, xva = x[tr].numpy(), x[p.val_idx].numpy()
    if ctx.classification:
        ytr, yva = p.labels[tr].numpy(), ctx.pool.y_train[p.val_idx].numpy()
        models = {"logistic": LogisticRegression(max_iter=300), "k-NN": KNeighborsClassifier(n_neighbors=5)}
    else:
        ytr, yva = ctx.pool.y_train[tr].numpy(), ctx.pool.y_train[p.val_idx].numpy()
        models = {"linear": Ridge(alpha=1.0), "k-NN": KNeighborsRegressor(n_neighbors=5)}
    # BLAS/OpenMP pools as wide as torch's: on a shared CPU a pool per core spins and costs 10-20× the fit itself
    with threadpool_limits(torch.get_num_threads()):
        out = _fit_all(models, xtr, ytr, xva, yva, ctx)
    best = min(out, key=out.__getitem__)
    return {"errors": out, "best": best, "best_error": out[best]}


def _fit_all(models: dict[str, Any], xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray,
             ctx: Context) -> dict[str, float]:
    from sklearn.exceptions import ConvergenceWarning

    out: dict[str, float] = {}
    for name, m in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m.fit(xtr, ytr if ctx.classification else ytr.reshape(len(ytr), -1))
        pred = m.predict(xva)
        if ctx.classification:
            out[name] = float(np.mean(pred != yva))
        else:
            out[name] = float(np.mean((pred.reshape(len(yva), -1) - yva.reshape(len(yva), -1)) ** 2)) / ctx.target_var
    return out
