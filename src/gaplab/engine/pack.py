"""Train K models at once as one stacked model: one training loop in gaplab (a pack of one is the one-model trainer).

Every per-model setting (seed, learning rate, momentum, penalties, decay, dropout rate, label smoothing,
augmentation strength, training subset, label table, early-stopping state) has a leading model axis. Every random
draw is keyed by (run seed, purpose, epoch, step), never by a shared stream, so a model trained in a pack of one
and inside a pack of sixteen sees the same numbers.

A pack is put together from small parts: ``PackData`` (the pool and each model's tables), ``Hyper`` (per-model
hyperparameters), a flat (K, P) parameter table (``FlatLayout``), a net that computes the loss and its gradient —
``FusedNet`` (hand-written batched MLPs, engine.fused) or ``ConvNet`` (batched im2col conv nets, engine.conv)
when the model allows, else ``VmapNet`` (torch.func) —
``BatchedOptimizer`` and ``StopState``. A step: gather the batch, augment, forward + backward, add the
penalties' gradients, clip, mark diverged models, update.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.func import stack_module_state

from gaplab import rng
from gaplab.data import Dataset
from gaplab.engine.batches import epoch_batches
from gaplab.engine.checkpoint import Checkpointer
from gaplab.engine.conv import ConvNet, conv_net, conv_plan_of
from gaplab.engine.conv import why_not as why_not_conv
from gaplab.engine.datacache import prepared_for
from gaplab.engine.flat import FlatLayout
from gaplab.engine.fused import FusedNet, dropout_on, plan_of
from gaplab.engine.hyper import Hyper
from gaplab.engine.loopnet import LoopNet, why_not_vmap
from gaplab.engine.losses import HARD, MSE, SOFT
from gaplab.engine.memory import keep_freed_memory
from gaplab.engine.metrics import pack_metrics
from gaplab.engine.optim import BatchedOptimizer, schedule_factor
from gaplab.engine.packdata import PackData
from gaplab.engine.padding import built_width, pad_arg, pad_into, unpad, width_of
from gaplab.engine.stopping import StopState
from gaplab.engine.vmapnet import VmapNet
from gaplab.models import create_model, set_dropout_keys, set_dropout_rate
from gaplab.phases import phase
from gaplab.regularize import augment as aug
from gaplab.regularize.catalog import AUGMENTATIONS
from gaplab.regularize.penalties import add_penalty_grads_, l1_grad_scale, l2_grad_scale, penalized
from gaplab.regularize.smoothing import one_hot, smooth
from gaplab.spec import RunSpec

# Purposes folded into every random key, so streams never overlap.
INIT, SHUFFLE, AUGMENT, DROPOUT, FORWARD = 1, 2, 3, 4, 5
EVAL_CHUNK = 4096
SMALL_STEP_WORK = 3e7
# a pack drops its stopped models (early-stopped or diverged) once they are this share of it (docs/performance.md)
COMPACT_SHARE = 0.25
PATHS = ("auto", "fused", "conv", "vmap", "loop")
FUSED_REASON = "an MLP stack (Linear, activation, Dropout)"
CONV_REASON = "conv stages (Conv, ReLU, BatchNorm, MaxPool, Dropout, residual blocks) and a dense head"


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


def build_model(s: RunSpec, input_shape: tuple[int, ...], output_dim: int, **override: Any) -> torch.nn.Module:
    """One run's model, initialized from its own seed, with its dropout rate and keys."""
    with rng.seeded(rng.derive_key(s.seed, INIT)):
        m = create_model(s.model.name, input_shape, output_dim, **{**s.model.args, **override})
    if s.reg.dropout is not None:  # None: a user model's dropout layers keep the rates written in its code
        set_dropout_rate(m, s.reg.dropout)
    set_dropout_keys(m, rng.derive_key(s.seed, DROPOUT))
    return m


def _stacked(specs: list[RunSpec], input_shape: tuple[int, ...], output_dim: int):
    """(base module, stacked params, stacked buffers, per-model narrow shapes) for a pack.

    Models of different widths are zero-padded to the widest, or wider where the conv path runs faster so
    (``padding.built_width``).
    """
    models = [build_model(s, input_shape, output_dim) for s in specs]
    arg = pad_arg(specs[0])
    widths = {width_of(s) for s in specs} if arg else set()
    wide = built_width(specs[0], max(widths)) if widths else 0
    if not widths or min(widths) == wide:  # one width, built as it is
        params, buffers = stack_module_state(models)
        return models[0], params, buffers, None
    assert arg is not None  # padding only arises for a paddable model
    base = build_model(specs[0], input_shape, output_dim, **{arg: wide})
    wide_p, wide_b = dict(base.named_parameters()), dict(base.named_buffers())
    narrow, ps, bs = [], [], []
    for m in models:
        p = {n: t.detach() for n, t in m.named_parameters()}
        narrow.append(p)
        ps.append(pad_into(p, wide_p))
        bs.append(pad_into(dict(m.named_buffers()), wide_b))
    params = {n: torch.stack([d[n] for d in ps]) for n in wide_p}
    buffers = {n: torch.stack([d[n] for d in bs]) for n in wide_b}
    return base, params, buffers, narrow


class AnyOf:
    """``bool(mask.any())`` of a (K,) bool tensor, read again only after the tensor changed: a step asks whether any
    model stopped or diverged, and the answer (one op and a device sync) changes a few times per run at most."""

    def __init__(self) -> None:
        self._seen: tuple[torch.Tensor, int] | None = None  # the tensor itself is held: its id is never reused
        self._any = False

    def any(self, mask: torch.Tensor) -> bool:
        seen = self._seen
        if seen is None or seen[0] is not mask or seen[1] != mask._version:
            self._seen, self._any = (mask, mask._version), bool(mask.any())
        return self._any


def reads_counter(net: FusedNet | ConvNet | VmapNet | LoopNet) -> bool:
    """Whether a net's training step reads the models' step counters: they key the dropout masks of the sites where
    some model drops out, and seed a loop net's random ops (which may lie outside dropout layers)."""
    if isinstance(net, FusedNet):
        return net.dropout_on
    if isinstance(net, LoopNet):
        return True
    if isinstance(net, VmapNet):
        return any(d.active for _, d in net.ctx.dropouts)
    return any(net.active.values())


class Pack:
    """K models of one architecture trained together on one shared data pool."""

    def __init__(self, specs: list[RunSpec], dataset: Dataset | None = None,
                 train_idx: list[torch.Tensor] | None = None, path: str = "auto", compact: bool = False) -> None:
        """``dataset`` replaces the specs' shared pool (e.g. a zeroed-input copy); ``train_idx`` gives each model
        its own training indices into the pool (e.g. k folds); ``path`` forces the fused or the vmap path.

        With ``compact``, models that stopped are retired from the pack (final metrics and weights kept) once they
        are ``COMPACT_SHARE`` of it, so they cost no more compute; the pack's rows then no longer match ``specs``
        (``rows`` maps them), which is why callers that read rows during training leave it off."""
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        self.specs = list(specs)
        s0 = specs[0]
        self.k = len(specs)
        self.device = dev = torch.device(s0.device)
        self.data = PackData(self.specs, dev, dataset, train_idx)
        ds = self.data.ds
        base, params, buffers, self.narrow_all = _stacked(self.specs, ds.input_shape, ds.output_dim)
        self.base = base.to(dev)
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.track_running_stats for m in base.modules()):
            self.data.evaluate_whole_pool()  # batch norm with batch statistics at evaluation
        self.layout = FlatLayout({n: tuple(p.shape[1:]) for n, p in params.items()})
        self.flat = self.layout.flatten(params).detach().to(dev)
        self.grad = torch.zeros_like(self.flat)
        self.buffers = {n: b.to(dev) for n, b in buffers.items()}
        self.hyper = h = Hyper(self.specs, dev)
        self.net, self.path, self.path_reason = self._choose_net(path)
        self.counted = reads_counter(self.net)
        self._stopped, self._diverged = AnyOf(), AnyOf()
        self.opt = BatchedOptimizer(self.flat, s0.optim.name, h, s0.optim.nesterov)
        self.stop = StopState(self.specs, self.flat, h)
        self.pen_names = penalized(self.base, s0.reg.penalize_bias, s0.reg.penalize_norm)
        self._penalty_coefs()
        cls = self.data.classification
        self.use_aug = bool(s0.reg.augment) or h.uses("input_noise") or h.uses("mix_alpha")
        self.loss_kind = MSE if not cls else SOFT if (h.uses("smoothing") or h.uses("mix_alpha")) else HARD
        self.results = [RunResult(spec=s) for s in self.specs]
        self.compact = compact
        self.rows = list(range(self.k))  # original index (into results) of each row
        self.retired: dict[int, torch.Tensor] = {}  # original index -> final weights (flat row) of a retired model
        self.retired_buffers: dict[int, dict[str, torch.Tensor]] = {}  # ... and its buffers (running statistics)
        self.run_seconds = [0.0] * self.k
        self.epoch = 0  # epochs completed
        self.seconds = 0.0  # training time before this process (a resumed pack)
        self.metrics = True  # per-epoch and final metrics (``fit(metrics=False)`` skips them)
        self._evaluated: list[dict[str, float]] | None = None  # metrics of the current weights, if still current

    def _choose_net(self, path: str) -> tuple[FusedNet | ConvNet | VmapNet | LoopNet, str, str]:
        """The fastest exact net the model allows (or the one ``path`` forces), its path name and why."""
        s0 = self.specs[0]
        plan = plan_of(self.base) if path in ("auto", "fused") else None
        if path == "fused" and plan is None:
            raise ValueError(f"model {s0.model.name} {s0.model.args} has no fused path")
        if plan is not None:
            net = FusedNet(plan, self.layout, self.buffers, dropout_on(plan, self.buffers))
            return net, "fused", FUSED_REASON
        cplan = conv_plan_of(self.base, self.data.ds.input_shape) if path in ("auto", "conv") else None
        if path == "conv" and cplan is None:
            raise ValueError(f"model {s0.model.name} {s0.model.args} has no conv path: "
                             f"{why_not_conv(self.base, self.data.ds.input_shape)}")
        if cplan is not None:
            return conv_net(cplan, self.layout, self.buffers), "conv", CONV_REASON
        if path != "loop":
            vnet = VmapNet(self.base, self.layout, self.buffers)
            why = why_not_vmap(vnet, self.flat, self.data.x_pool) if path == "auto" else None
            if why is None:
                why_vmap = (f"no fast path takes it (fused path: MLP stacks without batch norm only; conv path: "
                            f"{why_not_conv(self.base, self.data.ds.input_shape)})" if path == "auto" else "asked for")
                return vnet, "vmap", why_vmap
        else:
            why = "asked for"
        keys = [rng.derive_key(s.seed, FORWARD) for s in self.specs]
        return LoopNet(self.base, self.layout, self.buffers, keys), "loop", f"one model at a time: {why}"

    def _penalty_coefs(self) -> None:
        """(K, P) coefficients of the L2 and L1 penalty gradients: (λ/m)·W and λ/(2m)·sign(W) on penalized
        entries (regularize.penalties, the one place of the convention), or None when no model uses the penalty."""
        h, m = self.hyper, self.data.m
        mask = self.layout.mask(self.pen_names, self.device)
        self.c_l2 = l2_grad_scale(h.l2, m).unsqueeze(1) * mask if h.uses("l2") else None
        self.c_l1 = l1_grad_scale(h.l1, m).unsqueeze(1) * mask if h.uses("l1") else None

    @property
    def params(self) -> dict[str, torch.Tensor]:
        """Named stacked (K, ...) views of the current parameters."""
        return self.layout.views(self.flat)

    @property
    def x_pool(self) -> torch.Tensor:
        return self.data.x_pool

    @property
    def x_test(self) -> torch.Tensor:
        return self.data.x_test

    # ---- one training step -------------------------------------------------------------------
    def _targets(self, yb: torch.Tensor) -> torch.Tensor:
        """Regression targets, class indices (fast path) or soft targets (smoothing, MixUp/CutMix)."""
        if self.loss_kind != SOFT:
            return yb
        t = one_hot(yb, self.data.num_classes)
        return smooth(t, self.hyper.smoothing) if self.hyper.uses("smoothing") else t

    def _augment(self, xb: torch.Tensor, yt: torch.Tensor, epoch: int, step: int):
        s0, h = self.specs[0], self.hyper
        gens = [rng.generator(s.seed, AUGMENT, epoch, step) for s in self.specs]
        for a in s0.reg.augment:
            xb = AUGMENTATIONS[a.name].apply(xb, a.amount, gens)
        if h.uses("input_noise"):
            xb = aug.gaussian_noise(xb, h.input_noise, gens)
        if s0.reg.mixup > 0:
            xb, yt, _ = aug.mixup(xb, yt, h.mix_alpha, gens)
        elif s0.reg.cutmix > 0:
            xb, yt, _ = aug.cutmix(xb, yt, h.mix_alpha, gens)
        return xb, yt

    def step(self, idx: torch.Tensor, w: torch.Tensor, active: torch.Tensor | None, epoch: int, step: int,
             lr_scale: float, steps: torch.Tensor,
             batch: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """One optimizer step on batch indices ``idx`` (K, B) with sample weights ``w``; returns the data losses.

        ``active`` (K,) marks the models that step (None: every model). ``steps`` (K,) is each model's own steps
        per epoch (``epoch_batches``): its dropout counter is epoch · steps + step, so its masks do not depend on
        pack-mates with more steps per epoch. ``batch``: the inputs and labels at ``idx``, when already gathered
        (``PackData.epoch``)."""
        with phase("data gather"):
            xb, yb = self.data.batch(idx) if batch is None else batch
            yt = self._targets(yb)
        if self.use_aug:
            with phase("augment"):
                xb, yt = self._augment(xb, yt, epoch, step)
        g, net = self.grad, self.net
        # where no model drops out nothing reads the counter: its ops are skipped and ``steps`` stands in, unread (a
        # vmapped or chunked net still maps over a (K,) tensor)
        counter = epoch * steps + step if self.counted else steps
        loss = net.loss_and_grad(self.flat, g, xb, yt, w, self.loss_kind, counter)
        with phase("optimizer"), torch.no_grad():
            add_penalty_grads_(g, self.flat, self.c_l2, self.c_l1)
            if self.hyper.uses("clip"):
                # torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6), capped at 1
                norm = g.pow(2).sum(1).sqrt()
                g.mul_((self.hyper.clip / (norm + 1e-6)).clamp(max=1.0).unsqueeze(1))
            # the losses' sum is finite when every loss is (one op and sync per step instead of isfinite's five);
            # when it is not, an overflow or a diverged model: the per-model test decides
            if not math.isfinite(float(loss.sum())):
                self.stop.mark_diverged(~torch.isfinite(loss), epoch)
            if self._diverged.any(self.stop.diverged):
                active = ~self.stop.diverged if active is None else active & ~self.stop.diverged
            self.opt.step(g, lr_scale, None if active is None or bool(active.all()) else active)
        self._evaluated = None
        return loss

    # ---- evaluation --------------------------------------------------------------------------
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Every model's outputs (K, N, ...) on inputs ``x`` with the current weights, in eval mode."""
        return self._logits(x.to(self.device))

    @torch.no_grad()
    def _logits(self, x: torch.Tensor, flat: torch.Tensor | None = None) -> torch.Tensor:
        f = self.flat if flat is None else flat
        return torch.cat([self.net.forward(f, x[i:i + EVAL_CHUNK]) for i in range(0, len(x), EVAL_CHUNK)], dim=1)

    @torch.no_grad()
    def evaluate(self, flat: torch.Tensor | None = None) -> list[dict[str, float]]:
        """Train/val/test loss and accuracy, gaps, clean/corrupted accuracy and weight norms per model."""
        f = self.flat if flat is None else flat
        with phase("evaluate"):
            rows = pack_metrics(self.data, self._logits(self.data.x_eval, f), self._logits(self.data.x_test, f))
        p = self.layout.views(f)
        for n in self.pen_names:
            rows[f"wnorm/{n}"] = p[n].flatten(1).norm(dim=1)
        keys = list(rows)
        mat = torch.stack([rows[k].float() for k in keys], 1).cpu().tolist()
        return [dict(zip(keys, r, strict=True)) for r in mat]

    # ---- the loop ----------------------------------------------------------------------------
    def threads(self) -> int:
        """Threads for this pack: one for small per-step work, where extra OpenMP threads only spin.

        Measured here (docs/performance.md: a pack of 48 tiny MLPs on a busy box: 12x the CPU time with two
        threads): below ~3e7 multiply-adds per step a second thread costs more than it gives.
        """
        # a conv net's work is its multiply-adds (its weights act at every position), an MLP's its parameter count
        per = self.net.macs_per_example() if isinstance(self.net, ConvNet) else self.layout.size
        work = self.k * self.specs[0].optim.batch_size * per
        return 1 if work < SMALL_STEP_WORK else torch.get_num_threads()

    def fit(self, on_epoch: Callable[[int, int], None] | None = None,
            checkpoint: Checkpointer | None = None,
            on_step: Callable[[int, int, torch.Tensor], None] | None = None,
            metrics: bool = True, own_threads: bool = True) -> list[RunResult]:
        """Train to the end (or until every model stopped); resume from ``checkpoint`` if it holds a state.

        ``on_epoch(epoch, epochs)`` after each epoch, ``on_step(epoch, step, losses)`` after each optimizer step
        (losses: the K models' mini-batch data losses). With ``metrics=False`` nothing is evaluated (no history,
        ``final`` holds only ``epochs_run`` and the stop records): for callers that read the outputs themselves
        (``logits``), where the evaluation on the pool and test set would be a third of the pack's time.
        With ``own_threads`` False torch's thread count is left as the caller set it (packs trained side by side in
        threads of one process: the count is process-wide, so no pack may change it)."""
        if not metrics and self.stop.es is not None:
            raise ValueError("early stopping needs the per-epoch metrics: fit(metrics=False) cannot use it")
        # a step's large tensors reused, not faulted in afresh (engine.memory): conv steps 10-25 %, the fused MLP
        # step of two width-300 models 7 % (tenth session, an Intel Xeon VM)
        keep_freed_memory()
        self.metrics = metrics
        if not own_threads:
            return self._fit(on_epoch, checkpoint, on_step)
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads())
        try:
            return self._fit(on_epoch, checkpoint, on_step)
        finally:
            torch.set_num_threads(before)

    def halt(self) -> None:
        """Stop every model after the current step: ``fit`` finishes as if its epochs had run out (weights as they
        are). For callers that train with ``fit(metrics=False)`` and read the outputs themselves."""
        self.stop.stopped.fill_(True)

    # ---- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything the loop carries from one epoch to the next, as tensors and plain data (CPU).

        Parameters, buffers, optimizer state and step counts, stop records (early stopping, best weights,
        divergence), per-epoch metrics so far and the epoch reached: with the random
        draws keyed by (seed, purpose, epoch, step), that is all a resumed run needs to give exactly the numbers of
        an uninterrupted one.
        """
        return {
            "epoch": self.epoch,
            "seconds": self.seconds,
            "flat": self.flat.cpu().clone(),
            "buffers": {n: t.cpu().clone() for n, t in self.buffers.items()},
            "opt_state": {n: t.cpu().clone() for n, t in self.opt.state.items()},
            "opt_steps": self.opt.steps.clone(),
            "stop": self.stop.state_dict(),
            "history": [list(r.history) for r in self.results],
            "rows": list(self.rows),
            "retired": {i: t.cpu().clone() for i, t in self.retired.items()},
            "retired_buffers": {i: {n: t.cpu().clone() for n, t in b.items()} for i, b in self.retired_buffers.items()},
            "finished": {i: (dict(self.results[i].final), self.results[i].status, self.results[i].error)
                         for i in self.retired},
            "run_seconds": list(self.run_seconds),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``; raises ValueError (nothing changed) if it does not fit this pack."""
        rows = list(state["rows"])
        shape = (len(rows), self.layout.size)
        if (len(state["history"]) != len(self.results) or state["flat"].shape != shape
                or not set(rows) <= set(self.rows)):
            raise ValueError("parameters or pack size do not match this pack")
        if set(state["buffers"]) != set(self.buffers) or set(state["opt_state"]) != set(self.opt.state) or any(
                t.shape != shape for t in state["opt_state"].values()):
            raise ValueError("buffers or optimizer state do not match this pack")
        self.stop.check_state(state["stop"], len(rows), shape)
        if rows != self.rows:  # the saved pack had retired models: retire the same ones here first
            self._select(torch.tensor([self.rows.index(i) for i in rows], dtype=torch.int64))
        self.stop.load_state_dict(state["stop"])
        dev = self.device
        with torch.no_grad():
            self.flat.copy_(state["flat"].to(dev))
            for n, t in self.buffers.items():
                t.copy_(state["buffers"][n].to(dev))
            for n, t in self.opt.state.items():
                t.copy_(state["opt_state"][n].to(dev))
            self.opt.steps.copy_(state["opt_steps"])
        for r, hist in zip(self.results, state["history"], strict=True):
            r.history = [dict(row) for row in hist]
        self.retired = {int(i): t.to(dev) for i, t in state["retired"].items()}
        self.retired_buffers = {int(i): {n: t.to(dev) for n, t in b.items()}
                                for i, b in state.get("retired_buffers", {}).items()}
        for i, (final, status, error) in state["finished"].items():
            r = self.results[int(i)]
            r.final, r.status, r.error = dict(final), status, error
        self.run_seconds = list(state["run_seconds"])
        self.epoch = int(state["epoch"])
        self.seconds = float(state["seconds"])
        self._evaluated = None

    def _resume(self, checkpoint: Checkpointer) -> None:
        state = checkpoint.load()
        if state is None:
            return
        try:
            self.load_state_dict(state)
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            checkpoint.discard(str(exc))

    def _fit(self, on_epoch: Callable[[int, int], None] | None = None,
             checkpoint: Checkpointer | None = None,
             on_step: Callable[[int, int, torch.Tensor], None] | None = None) -> list[RunResult]:
        s0 = self.specs[0]
        o = s0.optim
        if checkpoint is not None:
            self._resume(checkpoint)
        t0 = time.perf_counter() - self.seconds
        for epoch in range(self.epoch, o.epochs):
            t_epoch = time.perf_counter()
            self._train_epoch(epoch, on_step)
            if self.metrics and ((epoch + 1) % s0.eval_every == 0 or epoch + 1 == o.epochs
                                 or self.stop.es is not None):
                self._record_epoch(epoch)
            all_stopped = self.stop.end_epoch()
            self.epoch = epoch + 1
            self._charge(time.perf_counter() - t_epoch)
            if self.compact and not all_stopped:
                self._retire_stopped()
            if checkpoint is not None and checkpoint.due() and self.epoch < o.epochs and not all_stopped:
                self.seconds = time.perf_counter() - t0
                checkpoint.save(self.state_dict())
            if on_epoch is not None:
                on_epoch(epoch + 1, o.epochs)
            if all_stopped:
                break
        t_end = time.perf_counter()
        self._finish(range(self.k))
        self._charge(time.perf_counter() - t_end)
        for r, sec in zip(self.results, self.run_seconds, strict=True):
            r.seconds = sec
        return self.results

    def _train_epoch(self, epoch: int, on_step: Callable[[int, int, torch.Tensor], None] | None) -> None:
        """One epoch of optimizer steps: each model its own shuffled batches, until its steps run out or it stops."""
        o = self.specs[0].optim
        keys = [rng.derive_key(s.seed, SHUFFLE, epoch) for s in self.specs]
        idx, w, steps = (t.to(self.device) for t in epoch_batches(self.data.train_idx, o.batch_size, keys))
        lr_scale = schedule_factor(o.schedule, epoch, o.epochs, o.step_size, o.gamma)
        every = int(steps.min())  # steps every model takes this epoch, unless it stops
        gathered = self.data.epoch(idx)
        for st in range(idx.shape[1]):
            active: torch.Tensor | None = None
            if st >= every or self._stopped.any(self.stop.stopped):
                active = (steps > st) & ~self.stop.stopped
                if not bool(active.any()):
                    break
            batch = None if gathered is None else (gathered[0][st], gathered[1][st])
            losses = self.step(idx[:, st], w[:, st], active, epoch, st, lr_scale, steps, batch)
            if on_step is not None:
                on_step(epoch, st, losses)

    def _record_epoch(self, epoch: int) -> None:
        """Evaluate every model, append the metrics to the histories of those still recording, and let the stop
        state (early stopping, best weights) act on them."""
        metrics = self.evaluate()
        self._evaluated = metrics
        for row, rec, m in zip(self.rows, self.stop.records().tolist(), metrics, strict=True):
            if rec:
                self.results[row].history.append({"epoch": epoch + 1, **m})
        self.stop.after_eval(metrics, epoch + 1, self.flat)

    def _charge(self, seconds: float) -> None:
        """Share ``seconds`` of pack time equally among the models still in the pack."""
        for row in self.rows:
            self.run_seconds[row] += seconds / self.k

    def _finish(self, which: range | list[int]) -> None:
        """Final metrics (on best weights under early stopping) and status of the rows ``which``."""
        final_flat = self.stop.final(self.flat)
        if not self.metrics:
            finals: list[dict[str, float]] = [{} for _ in range(self.k)]
        elif self._evaluated is not None and self.stop.es is None:  # the last epoch's metrics are of these weights
            finals = self._evaluated
        else:
            finals = self.evaluate(final_flat)
        for i in which:
            r = self.results[self.rows[i]]
            r.final = dict(finals[i])
            r.final["epochs_run"] = len(r.history) and r.history[-1]["epoch"] if self.metrics else self.epoch
            r.final["engine_path"], r.final["engine_path_reason"] = self.path, self.path_reason
            r.final.update(self.stop.finals_of(i))
            if bool(self.stop.diverged[i]):
                r.status = "diverged"
                r.error = f"loss became non-finite in epoch {self.stop.diverged_epoch[i]}"
            if self.compact:
                self.retired[self.rows[i]] = final_flat[i].detach().clone()
                self.retired_buffers[self.rows[i]] = {n: self.buffers[n][i].detach().clone() for n in self._stats()}

    def _retire_stopped(self) -> None:
        """Compaction: once stopped models are ``COMPACT_SHARE`` of the pack, finish them and drop their rows."""
        stopped = self.stop.stopped
        n = int(stopped.sum())
        if n == 0 or n < COMPACT_SHARE * self.k:
            return
        self._finish(torch.nonzero(stopped).flatten().tolist())
        self._select(torch.nonzero(~stopped).flatten())

    def _select(self, keep: torch.Tensor) -> None:
        """Keep only rows ``keep`` in every per-model table (parameters, optimizer, data, stops, buffers)."""
        idx = keep.tolist()
        keep = keep.to(self.device)
        self._evaluated = None
        self.rows = [self.rows[i] for i in idx]
        self.specs = [self.specs[i] for i in idx]
        self.k = len(idx)
        self.flat = self.flat[keep]
        self.grad = torch.zeros_like(self.flat)
        for n, b in self.buffers.items():  # in place: the net holds this dict
            self.buffers[n] = b[keep]
        self.hyper.select(keep)
        if isinstance(self.net, LoopNet):
            self.net.select(keep)
        self.data.select(keep)
        self.opt.select(keep.cpu(), self.flat)
        self.stop.select(keep)
        self._penalty_coefs()

    def state_of(self, i: int) -> dict[str, torch.Tensor]:
        """Model ``i``'s final parameters (best weights when early stopping), as an unstacked state dict.

        ``i`` indexes ``specs`` as given (a retired model's weights were kept when it left the pack)."""
        if i in self.retired:
            flat_row = self.retired[i].unsqueeze(0)
        else:
            row = self.rows.index(i)
            flat_row = self.stop.final(self.flat)[row:row + 1]
        state = {n: p[0].detach().cpu().clone() for n, p in self.layout.views(flat_row).items()}
        if self.narrow_all:
            state = unpad(self.narrow_all[i], state)
        elif i in self.retired_buffers:  # running statistics (batch norm) belong to the weights
            state.update({n: b.detach().cpu().clone() for n, b in self.retired_buffers[i].items()})
        else:
            row = self.rows.index(i)
            state.update({n: self.buffers[n][row].detach().cpu().clone() for n in self._stats()})
        return state

    def _stats(self) -> list[str]:
        """Names of the running-statistics buffers (batch norm): part of a model's trained state."""
        stats = ("running_mean", "running_var", "num_batches_tracked")
        return [n for n in self.buffers if n.rsplit(".", 1)[-1] in stats]


def build_initial(spec: RunSpec) -> torch.nn.Module:
    """The run's model exactly as a pack initializes it (same seed, dropout rate and keys), in train mode."""
    ds = prepared_for(spec).dataset
    return build_model(spec, ds.input_shape, ds.output_dim)


def build_trained(spec: RunSpec, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The run's model with its final weights loaded, in eval mode (for predictions on new inputs)."""
    model = build_initial(spec)
    model.load_state_dict(state, strict=False)
    return model.eval()


def train_pack(specs: list[RunSpec], on_epoch: Callable[[int, int], None] | None = None,
               keep_state: bool = False, checkpoint: Checkpointer | None = None,
               path: str = "auto", on_step: Callable[[int, int, torch.Tensor], None] | None = None,
               own_threads: bool = True) -> list[RunResult]:
    """Train runs that share data and architecture as one pack (see engine.planning.pack_key for who may share).

    With ``checkpoint`` the pack resumes from a matching saved state and saves its state as it goes;
    ``on_step`` and ``own_threads`` as ``Pack.fit``.
    """
    pack = Pack(specs, path=path, compact=True)
    results = pack.fit(on_epoch, checkpoint, on_step, own_threads=own_threads)
    if keep_state:
        for i, r in enumerate(results):
            r.state = pack.state_of(i)
    return results
