"""Out-of-fold predictions averaged over training: the label-noise family's k fold models (the user's network, and
gaplab's conv net on 1-D signals) trained as one pack, each epoch's held-out probabilities accumulated."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from gaplab.doctor.context import Context
from gaplab.engine import Pack, check_halt


def averaged_over_epochs(ctx: Context, pack: Pack, label: str,
                         predict: Callable[[], torch.Tensor], alone: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Train ``pack`` to its end without the engine's evaluation, calling ``predict`` (each example's (N, K)
    probabilities from the model that never saw it) after every epoch: (the last epoch's, their mean).
    ``alone`` False: one of packs trained side by side (torch's thread count left as it is); an empty ``label``
    shows no progress.

    Averaging over the trajectory keeps the early epochs, before the models memorize the wrong labels."""
    epochs = pack.specs[0].optim.epochs
    total: torch.Tensor | None = None
    last: torch.Tensor | None = None

    def on_epoch(e: int, n: int) -> None:
        nonlocal total, last
        last = predict()
        total = last.clone() if total is None else total.add_(last)
        if label:
            ctx.progress(label, e, n)

    if label:
        ctx.progress(label, 0, epochs)
    # the probabilities are all it needs: no metrics
    pack.fit(on_epoch, metrics=False, on_step=None if alone else lambda e, s, losses: check_halt(),
             own_threads=alone)
    assert total is not None and last is not None  # a pack trains at least one epoch
    return last, total / epochs


@torch.no_grad()
def held_out(pack: Pack, x: torch.Tensor, fold: torch.Tensor, classes: int) -> torch.Tensor:
    """(N, classes) probabilities of the rows of ``x``, each from model ``fold[row]`` alone (eval mode).

    Each model runs on its own fold only: ``pack.logits`` would run every model on every row, k times the work (half
    the fold pack's time on the digits CNN). One stacked row of the pack's weights and buffers is that model."""
    out = torch.zeros(len(x), classes)
    for i in range(pack.k):
        rows = torch.nonzero(fold == i).flatten()
        net = copy.copy(pack.net)
        net.buffers = {n: b[i:i + 1] for n, b in pack.net.buffers.items()}
        out[rows] = torch.softmax(net.forward(pack.flat[i:i + 1], x[rows].to(pack.device))[0], -1).cpu()
    return out
