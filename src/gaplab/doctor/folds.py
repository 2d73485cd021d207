"""Out-of-fold predictions averaged over training: the label-noise family's k fold models (the user's network, and
gaplab's conv net on 1-D signals) trained as one pack, each epoch's held-out probabilities accumulated."""

from __future__ import annotations

from collections.abc import Callable

import torch

from gaplab.doctor.context import Context
from gaplab.engine import Pack


def averaged_over_epochs(ctx: Context, pack: Pack, label: str,
                         predict: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Train ``pack`` to its end without the engine's evaluation, calling ``predict`` (each example's (N, K)
    probabilities from the model that never saw it) after every epoch: (the last epoch's, their mean).

    Averaging over the trajectory keeps the early epochs, before the models memorize the wrong labels."""
    epochs = pack.specs[0].optim.epochs
    total: torch.Tensor | None = None
    last: torch.Tensor | None = None

    def on_epoch(e: int, n: int) -> None:
        nonlocal total, last
        last = predict()
        total = last.clone() if total is None else total.add_(last)
        ctx.progress(label, e, n)

    ctx.progress(label, 0, epochs)
    pack.fit(on_epoch, metrics=False)  # the probabilities are all it needs
    assert total is not None and last is not None  # a pack trains at least one epoch
    return last, total / epochs
