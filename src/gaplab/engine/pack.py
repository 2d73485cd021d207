"""Train K models at once as one stacked model (torch.func ``stack_module_state`` + ``vmap``).

Every per-model setting (seed, learning rate, momentum, penalties, decay, dropout rate, label smoothing,
augmentation strength, training subset, label table, early-stopping state) is a tensor with a leading
model axis. Every random draw is keyed by (run seed, purpose, epoch, step), never by a shared stream, so
a model trained in a pack of one and inside a pack of sixteen sees the same numbers. A pack of one is
the one-model trainer: there is a single training loop in gaplab.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state

from gaplab import rng
from gaplab.data import Dataset
from gaplab.engine.batches import epoch_batches
from gaplab.engine.checkpoint import Checkpointer
from gaplab.engine.datacache import prepared_for
from gaplab.engine.optim import BatchedOptimizer, schedule_factor
from gaplab.engine.padding import pad_arg, pad_into, unpad, width_of
from gaplab.models import create_model, set_dropout_keys, set_dropout_rate
from gaplab.models.layers import Dropout
from gaplab.regularize import augment as aug
from gaplab.regularize.early_stopping import EarlyStopping
from gaplab.regularize.penalties import l1_penalty, l2_penalty, penalized
from gaplab.regularize.smoothing import one_hot, smooth, soft_cross_entropy
from gaplab.spec import EarlyStopSpec, RunSpec

# Purposes folded into every random key, so streams never overlap.
INIT, SHUFFLE, AUGMENT, DROPOUT = 1, 2, 3, 4
EVAL_CHUNK = 4096
SMALL_STEP_WORK = 3e7


@dataclass
class RunResult:
    """What one run produced: per-epoch metrics, final metrics (after best weights are restored)."""

    spec: RunSpec
    history: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    status: str = "done"
    error: str | None = None
    seconds: float = 0.0
    state: dict[str, torch.Tensor] | None = None

    @property
    def run_id(self) -> str:
        return self.spec.run_id


def _per_model(specs: list[RunSpec], fn: Callable[[RunSpec], float]) -> torch.Tensor:
    return torch.tensor([float(fn(s)) for s in specs], dtype=torch.float32)


def _build_model(s: RunSpec, input_shape: tuple[int, ...], output_dim: int, **override: Any) -> torch.nn.Module:
    """One run's model, initialized from its own seed, with its dropout rate and keys."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(rng.derive_key(s.seed, INIT))
        m = create_model(s.model.name, input_shape, output_dim, **{**s.model.args, **override})
    set_dropout_rate(m, s.reg.dropout)
    set_dropout_keys(m, rng.derive_key(s.seed, DROPOUT))
    return m


def _early_stop(s: RunSpec) -> EarlyStopSpec:
    """A pack's early-stopping settings; its pack key guarantees every model of the pack has them."""
    assert s.reg.early_stopping is not None
    return s.reg.early_stopping


def _stacked(specs: list[RunSpec], input_shape: tuple[int, ...], output_dim: int):
    """(base module, stacked params, stacked buffers, per-model narrow shapes) for a pack.

    Models of different widths are zero-padded to the widest (see engine.padding).
    """
    models = [_build_model(s, input_shape, output_dim) for s in specs]
    arg = pad_arg(specs[0])
    widths = {width_of(s) for s in specs} if arg else set()
    if len(widths) <= 1:
        params, buffers = stack_module_state(models)
        return models[0], params, buffers, None
    assert arg is not None  # several widths only arise for a paddable model
    base = _build_model(specs[0], input_shape, output_dim, **{arg: max(widths)})
    wide_p, wide_b = dict(base.named_parameters()), dict(base.named_buffers())
    narrow = []
    ps, bs = [], []
    for m in models:
        p = {n: t.detach() for n, t in m.named_parameters()}
        b = dict(m.named_buffers())
        narrow.append(p)
        ps.append(pad_into(p, wide_p))
        bs.append(pad_into(b, wide_b))
    params = {n: torch.stack([d[n] for d in ps]) for n in wide_p}
    buffers = {n: torch.stack([d[n] for d in bs]) for n in wide_b}
    return base, params, buffers, narrow


class Pack:
    """K models of one architecture trained together on one shared data pool."""

    def __init__(self, specs: list[RunSpec], dataset: Dataset | None = None,
                 train_idx: list[torch.Tensor] | None = None) -> None:
        """``dataset`` replaces the specs' shared pool (e.g. a zeroed-input copy); ``train_idx`` gives each
        model its own training indices into the pool (e.g. k folds), replacing the drawn subset."""
        self.specs = specs
        s0 = specs[0]
        self.k = len(specs)
        self.device = torch.device(s0.device)
        self.prepared = [prepared_for(s, dataset) for s in specs]
        if train_idx is not None:
            if len(train_idx) != self.k:
                raise ValueError(f"train_idx has {len(train_idx)} index sets for a pack of {self.k} models")
            self.prepared = [replace(p, train_idx=t.to(torch.int64)) for p, t in zip(self.prepared, train_idx,
                                                                                       strict=True)]
        ds = self.prepared[0].dataset
        self.ds = ds
        self.classification = ds.task == "classification"
        self.num_classes = ds.num_classes or 0
        base, params, buffers, self.narrow = _stacked(specs, ds.input_shape, ds.output_dim)
        self.base = base.to(self.device)
        dropouts = [m for m in self.base.modules() if isinstance(m, Dropout)]
        for d in dropouts:
            d.active = any(s.reg.dropout > 0 for s in specs)
        self.dropouts = dropouts
        self.params = {n: p.detach().to(self.device).requires_grad_(True) for n, p in params.items()}
        self.buffers = {n: b.to(self.device) for n, b in buffers.items()}
        self.pen_names = penalized(self.base, s0.reg.penalize_bias, s0.reg.penalize_norm)
        dev = self.device
        pm = lambda fn: _per_model(specs, fn).to(dev)  # noqa: E731
        self.lr = pm(lambda s: s.optim.lr)
        self.l1 = pm(lambda s: s.reg.l1)
        self.l2 = pm(lambda s: s.reg.l2)
        self.smoothing = pm(lambda s: s.reg.label_smoothing)
        self.input_noise = pm(lambda s: s.reg.input_noise)
        self.mix_alpha = pm(lambda s: s.reg.mixup or s.reg.cutmix)
        self.clip = pm(lambda s: s.reg.grad_clip or math.inf)
        self.m = torch.tensor([float(len(p.train_idx)) for p in self.prepared], device=dev)
        # which optional ops any model needs: skipped entirely when none does (PERF-NOTES)
        self.use_smoothing = any(s.reg.label_smoothing > 0 for s in specs)
        self.use_noise = any(s.reg.input_noise > 0 for s in specs)
        self.use_mixing = any((s.reg.mixup or s.reg.cutmix) > 0 for s in specs)
        self.use_aug = bool(s0.reg.augment) or self.use_noise or self.use_mixing
        self.use_l1 = any(s.reg.l1 > 0 for s in specs)
        self.use_l2 = any(s.reg.l2 > 0 for s in specs)
        self.use_clip = any(s.reg.grad_clip for s in specs)
        self.hard_labels = not (self.use_smoothing or self.use_mixing)
        self.opt = BatchedOptimizer(
            self.params,
            s0.optim.name,
            lr=self.lr,
            momentum=pm(lambda s: s.optim.momentum),
            weight_decay=pm(lambda s: s.reg.weight_decay),
            nesterov=s0.optim.nesterov,
            betas=(pm(lambda s: s.optim.betas[0]), pm(lambda s: s.optim.betas[1])),
            eps=pm(lambda s: s.optim.eps),
        )
        self.x_pool = ds.x_train.to(dev)
        self.x_test = ds.x_test.to(dev)
        self.y_test = ds.y_test.to(dev)
        self.labels = torch.stack([p.labels for p in self.prepared]).to(dev)  # (K, N)
        n_pool = self.x_pool.shape[0]
        self.train_mask = torch.zeros(self.k, n_pool, dtype=torch.bool, device=dev)
        self.val_mask = torch.zeros_like(self.train_mask)
        self.corrupted = torch.stack([p.corrupted for p in self.prepared]).to(dev)
        self.randomized = torch.stack([p.randomized for p in self.prepared]).to(dev)
        self.true_labels = ds.y_train.to(dev)
        for i, p in enumerate(self.prepared):
            self.train_mask[i, p.train_idx] = True
            self.val_mask[i, p.val_idx] = True
        self.has_val = bool(self.val_mask.any())
        es = s0.reg.early_stopping
        self.es = None
        if es is not None:
            self.es_monitor = es.monitor
            self.es = EarlyStopping(
                self.k,
                mode=es.direction,
                patience=torch.tensor([_early_stop(s).patience for s in specs], device=dev),
                min_delta=pm(lambda s: _early_stop(s).min_delta),
            )
            self.best = {n: p.detach().clone() for n, p in self.params.items()}
        self.diverged = torch.zeros(self.k, dtype=torch.bool, device=dev)
        self.diverged_epoch: list[int | None] = [None] * self.k
        self.stopped_epoch: list[int | None] = [None] * self.k
        self.stopped = torch.zeros(self.k, dtype=torch.bool, device=dev)
        self.results = [RunResult(spec=s) for s in specs]
        self.step_count = 0
        self.epoch = 0  # epochs completed
        self.seconds = 0.0  # training time before this process (a resumed pack)

        def f(p: dict, b: dict, x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (p, b), (x,))

        self._fwd = torch.vmap(f, in_dims=(0, 0, 0))
        self._fwd_shared = torch.vmap(f, in_dims=(0, 0, None))

    # ---- one training step -------------------------------------------------------------------
    def _targets(self, yb: torch.Tensor) -> torch.Tensor:
        """Regression targets, class indices (fast path) or soft targets (smoothing, MixUp/CutMix)."""
        if not self.classification or self.hard_labels:
            return yb
        t = one_hot(yb, self.num_classes)
        if self.use_smoothing:
            t = smooth(t, self.smoothing)
        return t

    def _augment(self, xb: torch.Tensor, yt: torch.Tensor, epoch: int, step: int):
        s0 = self.specs[0]
        if not self.use_aug:
            return xb, yt
        gens = [rng.generator(s.seed, AUGMENT, epoch, step) for s in self.specs]
        for a in s0.reg.augment:
            if a.name == "shift":
                xb = aug.shift_1d(xb, int(a.amount), gens)
            elif a.name == "noise":
                xb = aug.gaussian_noise(xb, torch.full((self.k,), a.amount, device=xb.device), gens)
            elif a.name == "flip":
                xb = aug.flip_2d(xb, gens)
            elif a.name == "crop":
                xb = aug.pad_crop_2d(xb, int(a.amount), gens)
            elif a.name == "rotate":
                xb = aug.rotate_2d(xb, a.amount, gens)
            elif a.name == "cutout":
                xb = aug.cutout_2d(xb, int(a.amount), gens)
        if self.use_noise:
            xb = aug.gaussian_noise(xb, self.input_noise, gens)
        if s0.reg.mixup > 0:
            xb, yt, _ = aug.mixup(xb, yt, self.mix_alpha, gens)
        elif s0.reg.cutmix > 0:
            xb, yt, _ = aug.cutmix(xb, yt, self.mix_alpha, gens)
        return xb, yt

    def _data_loss(self, out: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Per-model weighted mean loss (K,): cross-entropy (hard or soft targets) or MSE."""
        if self.classification and self.hard_labels:
            ce = F.cross_entropy(out.flatten(0, 1), target.flatten(), reduction="none").view_as(w)
            return (ce * w).sum(1) / w.sum(1).clamp_min(1)
        if self.classification:
            return soft_cross_entropy(out, target, w)
        se = ((out - target) ** 2).flatten(2).mean(-1)
        return (se * w).sum(1) / w.sum(1).clamp_min(1)

    def step(self, idx: torch.Tensor, w: torch.Tensor, active: torch.Tensor, epoch: int, step: int,
             lr_scale: float) -> torch.Tensor:
        """One optimizer step on batch indices ``idx`` (K, B) with sample weights ``w``; returns losses."""
        xb = self.x_pool[idx]
        yb = torch.gather(self.labels, 1, idx) if self.classification else self.true_labels[idx]
        yt = self._targets(yb)
        xb, yt = self._augment(xb, yt, epoch, step)
        for d in self.dropouts:
            d.counter = self.step_count
        self.base.train()
        out = self._fwd(self.params, self.buffers, xb)
        loss = self._data_loss(out, yt, w)
        total = loss
        if self.use_l2:
            total = total + l2_penalty(self.params, self.pen_names, self.l2, self.m)
        if self.use_l1:
            total = total + l1_penalty(self.params, self.pen_names, self.l1, self.m)
        finite = torch.isfinite(total)
        total = torch.where(finite, total, torch.zeros_like(total))
        names = list(self.params)
        grads = torch.autograd.grad(total.sum(), [self.params[n] for n in names])
        g = dict(zip(names, grads, strict=True))
        if self.use_clip:
            sq = sum(gi.flatten(1).pow(2).sum(1) for gi in g.values())
            # torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6), capped at 1
            scale = (self.clip / (sq.sqrt() + 1e-6)).clamp(max=1.0)
            g = {n: gi * scale.view(-1, *([1] * (gi.dim() - 1))) for n, gi in g.items()}
        bad = ~finite & ~self.diverged
        if bool(bad.any()):
            for i in torch.nonzero(bad).flatten().tolist():
                self.diverged_epoch[i] = epoch + 1
            self.diverged |= bad
        act = active & ~self.diverged
        self.opt.step(g, torch.full((self.k,), lr_scale, device=self.device), None if bool(act.all()) else act)
        self.step_count += 1
        return loss.detach()

    # ---- evaluation --------------------------------------------------------------------------
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Every model's outputs (K, N, ...) on inputs ``x`` with the current weights, in eval mode."""
        return self._logits(x.to(self.device))

    @torch.no_grad()
    def _logits(self, x: torch.Tensor, params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        self.base.eval()
        p = params if params is not None else {n: t.detach() for n, t in self.params.items()}
        outs = [self._fwd_shared(p, self.buffers, x[i:i + EVAL_CHUNK]) for i in range(0, len(x), EVAL_CHUNK)]
        self.base.train()
        return torch.cat(outs, dim=1)

    def _per_example(self, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-example loss (K, N) and correctness (K, N) (None for regression)."""
        if self.classification:
            if y.dim() == 1:
                y = y.expand(out.shape[0], -1)
            loss = F.cross_entropy(out.transpose(1, 2), y, reduction="none")
            return loss, (out.argmax(-1) == y).float()
        return ((out - y) ** 2).flatten(2).mean(-1), None

    @staticmethod
    def _masked_mean(v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mf = mask.float()
        return (v * mf).sum(1) / mf.sum(1).clamp_min(1)

    @torch.no_grad()
    def evaluate(self, params: dict[str, torch.Tensor] | None = None) -> list[dict[str, float]]:
        """Train/val/test loss and accuracy, gaps, clean/corrupted accuracy and weight norms per model."""
        out = self._logits(self.x_pool, params)
        rows: dict[str, torch.Tensor] = {}
        y_run = self.labels if self.classification else self.true_labels
        loss, corr = self._per_example(out, y_run)
        rows["train_loss"] = self._masked_mean(loss, self.train_mask)
        if self.has_val:
            true_loss, true_corr = self._per_example(out, self.true_labels)
            rows["val_loss"] = self._masked_mean(true_loss, self.val_mask)
            if true_corr is not None:
                rows["val_acc"] = self._masked_mean(true_corr, self.val_mask)
        out_t = self._logits(self.x_test, params)
        tl, tc = self._per_example(out_t, self.y_test)
        rows["test_loss"] = tl.mean(1)
        rows["gap_loss"] = rows["test_loss"] - rows["train_loss"]
        if corr is not None and tc is not None:  # classification
            rows["train_acc"] = self._masked_mean(corr, self.train_mask)
            rows["test_acc"] = tc.mean(1)
            rows["gap_acc"] = rows["train_acc"] - rows["test_acc"]
            if bool(self.corrupted.any()):
                noisy = self.train_mask & self.corrupted
                clean = self.train_mask & ~self.corrupted
                rows["clean_acc"] = self._masked_mean(corr, clean)
                rows["noisy_acc"] = self._masked_mean(corr, noisy)
                _, true_corr = self._per_example(out, self.true_labels)
                assert true_corr is not None  # classification
                rows["noisy_true_acc"] = self._masked_mean(true_corr, noisy)
            if bool(self.randomized.any()):
                rows["random_set_acc"] = self._masked_mean(corr, self.train_mask & self.randomized)
                rows["labelled_set_acc"] = self._masked_mean(corr, self.train_mask & ~self.randomized)
        p = params if params is not None else self.params
        for n in self.pen_names:
            rows[f"wnorm/{n}"] = p[n].detach().flatten(1).norm(dim=1)
        keys = list(rows)
        mat = torch.stack([rows[k].float() for k in keys], 1).cpu().tolist()
        return [dict(zip(keys, r, strict=True)) for r in mat]

    # ---- the loop ----------------------------------------------------------------------------
    def threads(self) -> int:
        """Threads for this pack: one for small per-step work, where extra OpenMP threads only spin.

        Measured here (PERF-NOTES, and a pack of 48 tiny MLPs on a busy box: 12x the CPU time with two
        threads): below ~3e7 multiply-adds per step a second thread costs more than it gives.
        """
        n_params = sum(p[0].numel() for p in self.params.values())
        work = self.k * self.specs[0].optim.batch_size * n_params
        return 1 if work < SMALL_STEP_WORK else torch.get_num_threads()

    def fit(self, on_epoch: Callable[[int, int], None] | None = None,
            checkpoint: Checkpointer | None = None,
            on_step: Callable[[int, int, torch.Tensor], None] | None = None) -> list[RunResult]:
        """Train to the end (or until every model stopped); resume from ``checkpoint`` if it holds a state.

        ``on_epoch(epoch, epochs)`` after each epoch, ``on_step(epoch, step, losses)`` after each optimizer step
        (losses: the K models' mini-batch data losses)."""
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads())
        try:
            return self._fit(on_epoch, checkpoint, on_step)
        finally:
            torch.set_num_threads(before)

    # ---- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything the loop carries from one epoch to the next, as tensors and plain data (CPU).

        Parameters, buffers, optimizer state and step counts, early-stopping state and best weights,
        divergence and stop records, the dropout step counter, per-epoch metrics so far and the epoch reached:
        with the random draws keyed by (seed, purpose, epoch, step), that is all a resumed run needs to give
        exactly the numbers of an uninterrupted one.
        """
        cpu = lambda d: {n: t.detach().cpu().clone() for n, t in d.items()}  # noqa: E731
        state: dict[str, Any] = {
            "epoch": self.epoch,
            "step_count": self.step_count,
            "seconds": self.seconds,
            "params": cpu(self.params),
            "buffers": cpu(self.buffers),
            "opt_state": {n: cpu(st) for n, st in self.opt.state.items()},
            "opt_steps": self.opt.steps.clone(),
            "stopped": self.stopped.cpu().clone(),
            "diverged": self.diverged.cpu().clone(),
            "diverged_epoch": list(self.diverged_epoch),
            "stopped_epoch": list(self.stopped_epoch),
            "history": [list(r.history) for r in self.results],
        }
        if self.es is not None:
            state["early_stopping"] = self.es.state_dict()
            state["best"] = cpu(self.best)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``; raises ValueError (nothing changed) if it does not fit this pack."""
        def same(saved: dict[str, torch.Tensor], live: dict[str, torch.Tensor], what: str) -> None:
            if set(saved) != set(live) or any(saved[n].shape != live[n].shape for n in live):
                raise ValueError(f"{what} do not match this pack's shapes")

        same(state["params"], self.params, "parameters")
        same(state["buffers"], self.buffers, "buffers")
        for n, st in self.opt.state.items():
            same(state["opt_state"].get(n, {}), st, "optimizer state")
        if (self.es is None) != ("early_stopping" not in state) or len(state["history"]) != self.k:
            raise ValueError("early stopping or pack size differs")
        dev = self.device
        with torch.no_grad():
            for src, dst in ((state["params"], self.params), (state["buffers"], self.buffers)):
                for n, t in dst.items():
                    t.copy_(src[n].to(dev))
            for n, st in self.opt.state.items():
                for k, t in st.items():
                    t.copy_(state["opt_state"][n][k].to(dev))
            self.opt.steps.copy_(state["opt_steps"])
            if self.es is not None:
                self.es.load_state_dict(state["early_stopping"])
                self.best = {n: state["best"][n].to(dev).clone() for n in self.best}
        self.stopped = state["stopped"].to(dev).clone()
        self.diverged = state["diverged"].to(dev).clone()
        self.diverged_epoch = list(state["diverged_epoch"])
        self.stopped_epoch = list(state["stopped_epoch"])
        for r, h in zip(self.results, state["history"], strict=True):
            r.history = [dict(row) for row in h]
        self.epoch = int(state["epoch"])
        self.step_count = int(state["step_count"])
        self.seconds = float(state["seconds"])

    def _resume(self, checkpoint: Checkpointer) -> None:
        state = checkpoint.load()
        if state is None:
            return
        try:
            self.load_state_dict(state)
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            sys.stderr.write(f"gaplab: discarded checkpoint {checkpoint.path}: {exc}\n")
            checkpoint.delete()

    def _fit(self, on_epoch: Callable[[int, int], None] | None = None,
             checkpoint: Checkpointer | None = None,
             on_step: Callable[[int, int, torch.Tensor], None] | None = None) -> list[RunResult]:
        s0 = self.specs[0]
        o = s0.optim
        if checkpoint is not None:
            self._resume(checkpoint)
        t0 = time.perf_counter() - self.seconds
        results = self.results
        stopped = self.stopped
        train_idx = [p.train_idx for p in self.prepared]
        for epoch in range(self.epoch, o.epochs):
            idx, w, steps = epoch_batches(train_idx, o.batch_size,
                                          [rng.derive_key(s.seed, SHUFFLE, epoch) for s in self.specs])
            idx, w, steps = idx.to(self.device), w.to(self.device), steps.to(self.device)
            lr_scale = schedule_factor(o.schedule, epoch, o.epochs, o.step_size, o.gamma)
            for st in range(idx.shape[1]):
                active = (steps > st) & ~stopped
                if not bool(active.any()):
                    break
                losses = self.step(idx[:, st], w[:, st], active, epoch, st, lr_scale)
                if on_step is not None:
                    on_step(epoch, st, losses)
            last = epoch + 1 == o.epochs
            if (epoch + 1) % s0.eval_every == 0 or last or self.es is not None:
                metrics = self.evaluate()
                for i, r in enumerate(results):
                    if not bool(stopped[i]) and not bool(self.diverged[i]):
                        r.history.append({"epoch": epoch + 1, **metrics[i]})
                if self.es is not None:
                    vals = torch.tensor([m.get(self.es_monitor, math.nan) for m in metrics], device=self.device)
                    vals = torch.where(stopped | self.diverged, torch.full_like(vals, math.nan), vals)
                    improved, stop_now = self.es.update(vals, epoch + 1)
                    improved &= ~stopped
                    with torch.no_grad():
                        for n, p in self.params.items():
                            m = improved.view(-1, *([1] * (p.dim() - 1)))
                            self.best[n] = torch.where(m, p.detach(), self.best[n])
                    for i in torch.nonzero(stop_now & ~stopped).flatten().tolist():
                        self.stopped_epoch[i] = epoch + 1
                    stopped |= stop_now
            stopped |= self.diverged
            self.epoch = epoch + 1
            if checkpoint is not None and checkpoint.due() and self.epoch < o.epochs and not bool(stopped.all()):
                self.seconds = time.perf_counter() - t0
                checkpoint.save(self.state_dict())
            if on_epoch is not None:
                on_epoch(epoch + 1, o.epochs)
            if bool(stopped.all()):
                break
        final_params = self.best if self.es is not None else None
        finals = self.evaluate(final_params)
        seconds = time.perf_counter() - t0
        for i, r in enumerate(results):
            r.seconds = seconds / self.k
            r.final = dict(finals[i])
            r.final["epochs_run"] = len(r.history) and r.history[-1]["epoch"]
            if self.es is not None:
                r.final["best_epoch"] = int(self.es.best_epoch[i])
                r.final["stopped_epoch"] = self.stopped_epoch[i]
            if bool(self.diverged[i]):
                r.status = "diverged"
                r.error = f"loss became non-finite in epoch {self.diverged_epoch[i]}"
                r.final["diverged_epoch"] = self.diverged_epoch[i]
        return results

    def state_of(self, i: int) -> dict[str, torch.Tensor]:
        """Model ``i``'s final parameters (best weights when early stopping), as an unstacked state dict."""
        src = self.best if self.es is not None else self.params
        state = {n: p[i].detach().cpu().clone() for n, p in src.items()}
        if self.narrow:
            state = unpad(self.narrow[i], state)
        return state


def build_initial(spec: RunSpec) -> torch.nn.Module:
    """The run's model exactly as a pack initializes it (same seed, dropout rate and keys), in train mode."""
    ds = prepared_for(spec).dataset
    return _build_model(spec, ds.input_shape, ds.output_dim)


def build_trained(spec: RunSpec, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The run's model with its final weights loaded, in eval mode (for predictions on new inputs)."""
    ds = prepared_for(spec).dataset
    model = _build_model(spec, ds.input_shape, ds.output_dim)
    model.load_state_dict(state, strict=False)
    return model.eval()


def train_pack(specs: list[RunSpec], on_epoch: Callable[[int, int], None] | None = None,
               keep_state: bool = False, checkpoint: Checkpointer | None = None) -> list[RunResult]:
    """Train runs that share data and architecture as one pack (see executor.pack_key for who may share).

    With ``checkpoint`` the pack resumes from a matching saved state and saves its state as it goes.
    """
    pack = Pack(specs)
    results = pack.fit(on_epoch, checkpoint)
    if keep_state:
        for i, r in enumerate(results):
            r.state = pack.state_of(i)
    return results
