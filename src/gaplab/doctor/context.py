"""What every check family shares: the user's spec, its data, the task's scales, budgets and trained packs.

Training goes through the engine's ``Pack`` (many models at once). What several families read (the main run with
the user's settings, the baselines, the learning-rate curve, the untrained model and its loss) is a typed property
of the context, computed on first use; what a family found for the figures and the summary afterwards is a field
of ``ctx.found``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gaplab.data import Dataset
from gaplab.engine import Pack, RunResult, check_halt, masked_mean, per_example, prepared_for, raw_dataset, shared_pool
from gaplab.spec import RunSpec

if TYPE_CHECKING:
    from gaplab.doctor.lr_range import LrCurve
    from gaplab.doctor.main_run import MainRun

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Budget:
    """How much each family may train; ``quick`` is a few seconds, ``default`` under a minute (MNIST-1D MLP)."""

    seeds: int = 2  # seeds of the main run
    main_steps: int = 800  # optimizer steps of the main run (the user's epochs, capped)
    lr_rates_per_decade: int = 2
    lr_seeds: int = 2
    lr_steps: int = 150
    # the range's steps (and the label-noise folds') scale down for models above this many multiply-adds per
    # example, to ``lr_min_steps`` (``cost.steps_for_cost``); None: always ``lr_steps``. A floor of 50 moved the
    # 32-channel digits CNN's suggestion from 0.014 (150 steps) to 0.27 (grid's best 0.0083); 100 gives 0.019-0.026
    # (doctor_lr_truth.py)
    lr_macs: int | None = 100_000
    lr_min_steps: int = 100
    lr_eval_examples: int | None = None  # training examples the range's final loss is read on (None: all)
    # validation rows the range's seeds should see together: more seeds where the split is small (``range_seeds``)
    lr_val_examples: int | None = 400
    # ... and more seeds and steps for a model under this many multiply-adds per example: as many seeds as cost what
    # ``lr_seeds`` of one this costly would (``range_seeds``), and ``lr_steps`` × as many times fewer multiply-adds,
    # up to the user's run or ``lr_cheap_steps`` (``range_steps``; None: neither)
    lr_cheap_macs: int | None = 32_000
    lr_cheap_steps: int = 2000
    # ``lr_range.refine``: more seeds near the validation minimum where the seeds disagree on it, at most this many
    # times the first pass's copies (0: never)
    lr_refine: float = 4.0
    tiny_per_class: int = 5
    tiny_steps: int = 300
    folds: int = 4
    fold_steps: int = 250  # short: longer training memorizes the noisy labels and hides them
    fold_min_steps: int = 100  # ... fewer for costly models, as the range's (``label_noise.fold_epochs``)
    conv_reference: bool = True  # label noise on a 1-D signal also asks gaplab's conv net (``reference_net``)
    baseline_examples: int = 4000
    probe_examples: int = 512


@dataclass
class LabelNoiseFound:
    """The label-noise family's out-of-fold view of the training set: pool positions, suspects, probabilities."""

    idx: torch.Tensor  # pool positions of the training examples
    suspects: torch.Tensor  # positions in ``idx`` of the suspects, most suspect first
    self_confidence: torch.Tensor  # out-of-fold probability of each example's given label
    out_of_fold: torch.Tensor  # (n, classes) out-of-fold probabilities


@dataclass
class Found:
    """What the families measured that the figures and the summary read after them (None: did not run)."""

    main: MainRun | None = None
    lr_curve: LrCurve | None = None
    suggested_lr: float | None = None
    tiny_curves: tuple[list[float], list[list[float]]] | None = None  # rates, per-step losses
    label_noise: LabelNoiseFound | None = None


BUDGETS = {
    "default": Budget(),
    # quick: ≤ 5 s of CPU on the MNIST-1D MLP with imports (torch alone ≈ 2.5 s). Halving the range's and the tiny
    # set's steps (60 → 30, 200 → 100) kept every verdict of the healthy run and of rates 100× too high, 1000× too
    # low and SGD + momentum, seeds 0-1 (the suggestion moves 6e-4 → 5e-4: a shorter budget favours higher rates)
    "quick": Budget(seeds=1, main_steps=200, lr_rates_per_decade=1, lr_seeds=2, lr_steps=30, lr_eval_examples=1000,
                    tiny_steps=100, folds=3, fold_steps=200, conv_reference=False, baseline_examples=1500,
                    probe_examples=256, lr_refine=0.0, lr_cheap_macs=None),
}


class Context:
    """The user's run and its data, seen by every check family."""

    def __init__(self, spec: RunSpec, mode: str = "default", progress: Progress | None = None,
                 target_error: float | None = None) -> None:
        if mode not in BUDGETS:
            raise ValueError(f"doctor mode must be one of {', '.join(BUDGETS)}, got {mode!r}")
        self.spec = spec
        self.mode = mode
        self.budget = BUDGETS[mode]
        self.target_error = target_error
        self._progress = progress
        d = spec.data
        self.raw: Dataset = raw_dataset(d)  # before gaplab's standardization
        self.pool: Dataset = shared_pool(d)  # what training sees
        # the main run holds out a validation split when the user's spec has none (bias/variance needs one)
        self.val_spec = spec if d.val_fraction > 0 else spec.replace(**{"data.val_fraction": 0.2})
        self.prepared = prepared_for(self.val_spec)
        self.classification = self.pool.task == "classification"
        self.k = int(self.pool.num_classes or 0)
        y = self.pool.y_train[self.prepared.train_idx]
        if self.classification:
            self.ln_k = math.log(max(self.k, 2))
            self.chance_error = 1.0 - 1.0 / max(self.k, 1)
        else:
            self.target_var = float(y.float().var(0).mean().clamp_min(1e-12))
        self.found = Found()
        self.plots: dict[str, Any] = {}  # name -> matplotlib figure, saved by diagnose()

    # ---- task scales ---------------------------------------------------------------------------
    def task(self) -> dict[str, Any]:
        """The task as the bands see it: kind, classes, chance level or target variance, sizes."""
        t: dict[str, Any] = {"kind": self.pool.task, "n_train": len(self.prepared.train_idx),
                             "n_val": len(self.prepared.val_idx), "n_test": self.pool.n_test,
                             "input_shape": list(self.pool.input_shape)}
        if self.classification:
            t.update(classes=self.k, ln_k=self.ln_k, chance_error=self.chance_error)
        else:
            t.update(target_variance=self.target_var)
        return t

    def error_of(self, metrics: dict[str, float], split: str) -> float:
        """Error on ``split`` (train/val/test) on the task's scale: 1 − accuracy, or MSE / target variance."""
        if self.classification:
            return 1.0 - float(metrics[f"{split}_acc"])
        return float(metrics[f"{split}_loss"]) / self.target_var

    # ---- training ------------------------------------------------------------------------------
    def progress(self, label: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(label, done, total)

    def steps_per_epoch(self, n: int, batch_size: int) -> int:
        return max(1, -(-n // batch_size))

    def epochs_for(self, steps: int, spec: RunSpec | None = None) -> int:
        """Epochs of ``spec`` (the user's run) that fit in ``steps`` optimizer steps, at most the user's epochs."""
        s = spec or self.val_spec
        per = self.steps_per_epoch(len(self.prepared.train_idx), s.optim.batch_size)
        return max(1, min(s.optim.epochs, -(-steps // per)))

    def train(self, label: str, specs: list[RunSpec], dataset: Dataset | None = None,
              train_idx: list[torch.Tensor] | None = None,
              on_step: Callable[[Pack, int, int, torch.Tensor], None] | None = None,
              metrics: bool = True, compact: bool = False, alone: bool = True) -> tuple[Pack, list[RunResult]]:
        """Train ``specs`` as one pack (optionally on another pool or per-model index sets); show progress.
        ``metrics=False`` skips the engine's evaluation on the pool and test set (see ``train_loss``);
        ``compact`` retires stopped models from the pack (``pack.rows`` then maps its rows to ``specs``);
        ``alone`` False: one of packs trained side by side (``doctor.parallel``), which leaves torch's thread
        count as it is; an empty ``label`` shows no progress (the side-by-side packs after the first)."""
        pack = Pack(specs, dataset=dataset, train_idx=train_idx, compact=compact)
        epochs = specs[0].optim.epochs

        def step_fn(e: int, s: int, losses: torch.Tensor) -> None:
            check_halt()
            if on_step is not None:
                on_step(pack, e, s, losses)

        def shown(e: int, total: int) -> None:
            if label:
                self.progress(label, e, total)

        shown(0, epochs)
        results = pack.fit(shown, on_step=step_fn if on_step is not None or not alone else None, metrics=metrics,
                           own_threads=alone)
        return pack, results

    def train_loss(self, pack: Pack, idx: torch.Tensor) -> torch.Tensor:
        """Each model's loss (K,) on pool rows ``idx`` with the run's labels (eval mode); inf where not finite.
        What a family reads when the training loss is all it needs: the engine's metrics would evaluate every
        validation and test example too (a third of a short pack's time). ``idx`` must be training rows of every
        model (a tiny set they share); models with their own splits read ``split_losses``."""
        y = pack.data.labels[:, idx] if self.classification else self.pool.y_train[idx]
        loss, _ = per_example(pack.logits(self.pool.x_train[idx]), y, self.classification)
        return _finite_or_inf(loss.mean(1))

    def split_losses(self, pack: Pack, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Each model's (K,) training loss on its own training rows (its labels) and validation loss on its own
        validation rows (the pool's labels, as the engine's ``val_loss``), both among pool rows ``rows`` (default:
        every row some model uses), eval mode, no test set; inf where not finite or a model has no such row."""
        d = pack.data
        cols = d.eval_cols if rows is None else rows
        out = pack.logits(self.pool.x_train[cols])
        y = d.labels[:, cols] if self.classification else self.pool.y_train[cols]
        loss, _ = per_example(out, y, self.classification)
        true_loss, _ = per_example(out, self.pool.y_train[cols], self.classification)
        found = []
        for v, mask in ((loss, d.train_mask[:, cols]), (true_loss, d.val_mask[:, cols])):
            mean = masked_mean(v, mask)
            found.append(_finite_or_inf(torch.where(mask.any(1), mean, torch.full_like(mean, math.inf))))
        return found[0], found[1]

    def main_spec(self, seed_offset: int = 0) -> RunSpec:
        """The user's run (with a validation split), its epochs capped by the budget; evaluated at the end only
        (early stopping aside): no family reads its per-epoch metrics."""
        s = self.val_spec
        epochs = self.epochs_for(self.budget.main_steps)
        return s.replace(**{"optim.epochs": epochs, "seed": s.seed + seed_offset, "eval_every": epochs})

    # ---- shared measurements, each computed on first use ----------------------------------------
    @property
    def main(self) -> MainRun:
        """The main run (the user's settings, ``budget.seeds`` seeds) with its dynamics; trained once."""
        if self.found.main is None:
            from gaplab.doctor.main_run import train_main

            self.found.main = train_main(self)
        return self.found.main

    @property
    def lr_curve(self) -> LrCurve:
        """Final training loss over a grid of learning rates × seeds; trained once."""
        if self.found.lr_curve is None:
            from gaplab.doctor.lr_range import measure

            self.found.lr_curve = measure(self)
        return self.found.lr_curve

    @cached_property
    def baselines(self) -> dict[str, Any]:
        """Validation error of the simple baselines (``doctor.baselines``): errors, best, best_error."""
        from gaplab.doctor.baselines import fit_baselines

        return fit_baselines(self)

    @cached_property
    def initial_model(self) -> torch.nn.Module:
        """The user's model as the main run initializes it, built once: the probes (``doctor.probes``) set the
        mode they need and leave its weights and buffers as they found them, so every family can share it."""
        from gaplab.engine import build_initial

        return build_initial(self.val_spec)

    @cached_property
    def init_loss(self) -> float:
        """The untrained model's loss on the probe batch (eval mode)."""
        from gaplab.doctor.probes import loss_of

        x, y = self.probe_batch()
        with torch.no_grad():
            return float(loss_of(self.initial_model.eval()(x), y, self.classification))

    def probe_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed batch of training examples (inputs as the model sees them, run labels) for init probes."""
        idx = self.prepared.train_idx
        g = torch.Generator().manual_seed(self.spec.seed)
        pick = idx[torch.randperm(len(idx), generator=g)[: self.budget.probe_examples]]
        y = self.prepared.labels[pick] if self.classification else self.pool.y_train[pick]
        return self.pool.x_train[pick], y


def save_figures(figs: dict[str, Any], folder: Path) -> list[str]:
    """Write each figure as ``<name>.png`` in ``folder``; return the file names."""
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for name, fig in figs.items():
        fig.savefig(folder / f"{name}.png", dpi=110)
        plt.close(fig)
        names.append(f"{name}.png")
    return names


def _finite_or_inf(v: torch.Tensor) -> torch.Tensor:
    """``v`` with every non-finite entry (a diverged model) replaced by inf."""
    return torch.where(torch.isfinite(v), v, torch.full_like(v, math.inf))
