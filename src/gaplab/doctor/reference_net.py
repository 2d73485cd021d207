"""A conv-net second opinion for label noise on 1-D signals: gaplab's ``cnn1d`` (MNIST-1D's ConvBase) trained as the
doctor's k folds in one pack, with a recipe of its own (not the user's optimizer or regularization).

An MLP on MNIST-1D reaches 58 % out-of-fold accuracy on clean labels: its probabilities cannot separate wrong labels
from its own errors. A conv net sees the shifted templates (89 % out of fold on clean labels). Whether it is the
better source on the user's data is judged by the rule that already chooses between the network and the logistic
regression (the likelihood of the given labels out of fold), never assumed.
"""

from __future__ import annotations

import torch

from gaplab.doctor.context import Context
from gaplab.doctor.folds import averaged_over_epochs, held_out
from gaplab.engine import Pack
from gaplab.spec import RunSpec

MODEL = {"name": "cnn1d"}  # 25 channels, three strided convolutions
# MNIST-1D, 20 % noise, one round of 20 epochs: F1 0.81 at batch 100 and Adam 10⁻², 0.86 at batch 32, 0.84 at batch
# 64 and 2·10⁻² for 0.6-0.8× batch 32's CPU (and 0.87 after pruning, as batch 32)
BATCH = 64
LR = 2e-2
EPOCHS = 20
MAX_STEPS = 800  # per model and round: 20 epochs of an MNIST-1D fold; fewer epochs on a larger pool
# a longer signal costs more per example: the steps shrink in proportion beyond MNIST-1D's 40 positions (at least
# MIN_STEPS), and beyond MAX_LENGTH there is no reference (its CPU would exceed the doctor's whole budget)
BASE_LENGTH = 40
MIN_STEPS = 100
MIN_LENGTH, MAX_LENGTH = 16, 1024  # a shorter input is not read as a signal


def applies(ctx: Context) -> bool:
    """Whether the input is a 1-D signal, (L,) or (C, L), long enough for three stride-2 convolutions and short
    enough to train within the budget."""
    shape = ctx.pool.input_shape
    return ctx.classification and len(shape) in (1, 2) and MIN_LENGTH <= shape[-1] <= MAX_LENGTH


def spec_for(ctx: Context, n_train: int) -> RunSpec:
    """The reference's run: the user's data and seed, cnn1d, Adam at ``LR`` on batches of ``BATCH``, no
    regularization, ``EPOCHS`` epochs of ``n_train`` examples within ``MAX_STEPS`` steps (fewer on long signals)."""
    per_epoch = max(1, -(-n_train // BATCH))
    steps = max(MIN_STEPS, MAX_STEPS * BASE_LENGTH // max(BASE_LENGTH, ctx.pool.input_shape[-1]))
    epochs = max(1, min(EPOCHS, steps // per_epoch))
    return ctx.val_spec.replace(**{"model": MODEL, "reg": {}, "eval_every": epochs,
                                   "optim": {"name": "adam", "lr": LR, "batch_size": BATCH, "epochs": epochs}})


def fold_probabilities(ctx: Context, fold: torch.Tensor, keep: torch.Tensor | None = None,
                       label: str = "label noise: conv reference") -> torch.Tensor:
    """Out-of-fold probabilities (N, K) of the training pool, averaged over the epochs: model i trains on the
    examples outside fold i that ``keep`` marks (all by default) and predicts fold i."""
    idx = ctx.prepared.train_idx
    k = int(fold.max()) + 1
    kept = torch.ones(len(idx), dtype=torch.bool) if keep is None else keep
    train = [idx[(fold != i) & kept] for i in range(k)]
    spec = spec_for(ctx, max(len(t) for t in train))
    pack = Pack([spec] * k, train_idx=train)
    x = ctx.pool.x_train[idx]
    return averaged_over_epochs(ctx, pack, label, lambda: held_out(pack, x, fold, ctx.k))[1]
