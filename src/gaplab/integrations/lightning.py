"""``GaplabCallback``: ``gaplab.watch`` for a Lightning ``Trainer`` (needs the ``lightning`` extra).

    trainer = lightning.Trainer(max_epochs=20, callbacks=[GaplabCallback(name="mine")])

Each step's training loss (the ``loss`` the ``training_step`` returns) feeds the live rules ("loss explodes" fires
within the step it happens in); dead ReLUs are counted over each sampled batch's training step; at each validation
epoch end the logged ``train_loss``/``val_loss``/``train_acc``/``val_acc`` (also ``*_epoch`` and ``val/loss`` style
names) are recorded with the layers' dynamics as one epoch of a run in the store.
"""

from __future__ import annotations

from typing import Any

try:
    import lightning.pytorch as pl
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("gaplab.integrations.lightning needs Lightning: pip install 'gaplab[lightning]'") from e

from gaplab.api.store import StoreLike
from gaplab.api.watch import Watch
from gaplab.store.db import DEFAULT_PATH

_NAMES = ("train_loss", "val_loss", "train_acc", "val_acc")


def _metric(logged: dict[str, Any], name: str) -> Any:
    """A logged metric under the names people use for it: ``val_loss``, ``val_loss_epoch``, ``val/loss``."""
    for key in (name, f"{name}_epoch", name.replace("_", "/", 1)):
        if key in logged:
            return logged[key]
    return None


class GaplabCallback(pl.Callback):
    """Record a Lightning run like ``gaplab.watch`` records a plain loop (same store, same live warnings)."""

    def __init__(self, *, store: StoreLike = DEFAULT_PATH, name: str = "lightning",
                 config: dict[str, Any] | None = None, warn: bool = True) -> None:
        self.store, self.name, self.config, self.warn = store, name, config, warn
        self.watch: Watch | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        opts = trainer.optimizers
        steps = trainer.num_training_batches if isinstance(trainer.num_training_batches, int) else None
        self.watch = Watch(pl_module, opts[0] if opts else None, store=self.store, name=self.name,
                           config=self.config, steps_per_epoch=steps, warn=self.warn).__enter__()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self.watch is not None:  # a training_step may call an inner module, not the LightningModule's forward
            self.watch.relu_begin()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.watch is None:
            return
        self.watch.relu_end()
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None:
            self.watch.step(loss)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # after validation (Lightning runs the validation loop inside the training epoch), so val_* are logged
        if self.watch is None or trainer.sanity_checking:
            return
        logged = dict(trainer.callback_metrics)
        self.watch.epoch(**{n: _metric(logged, n) for n in _NAMES})

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.watch is not None:
            self.watch.close()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if self.watch is not None:
            self.watch.close("failed", error=f"{type(exception).__name__}: {exception}")
            self.watch = None
