"""``gaplab.watch``: record a training loop gaplab does not run (plain PyTorch, Lightning) as a run in the store.

Per epoch: the metrics the loop reports, the generalization gap, per layer the update-to-weight ratio and gradient
norm (optimizer step hooks) and the fraction of dead ReLU units (units that fire for no example: every ReLU the
forward computes, ``nn.ReLU`` or ``F.relu``/``torch.relu``, seen by the doctor's ``TorchFunctionMode`` probe during
the model's forward), all on 5 steps spread over the epoch, and the weight norm.
The doctor's dynamics rules (``gaplab.doctor.dynamics``: loss explodes, loss stalls, update/weight ratio) run on the
history so far after each epoch and warn once each, with the doctor's cause text; with the step losses
(``w.step(loss)``, or a loss function wrapped by ``w.track``) "loss explodes" also fires inside an epoch.
The run is stored after every epoch (status ``running``, then ``done``/``diverged``/``failed``) in the group
``external/<name>``, its spec marked ``"external": "watch"``.
"""

from __future__ import annotations

import hashlib
import math
import os
import statistics
import time
import warnings
from types import SimpleNamespace
from typing import Any, cast

import torch
from torch import nn

from gaplab.api.store import StoreLike, raw_store
from gaplab.doctor.probes import ReluCalls, weighted_layers
from gaplab.doctor.result import FAIL, NA, PASS, Finding
from gaplab.errors import user_stacklevel
from gaplab.store.db import DEFAULT_PATH

GROUP_PREFIX = "external/"
MIN_EPOCHS_FOR_STALL = 5  # "the loss stalls" needs a few epochs of history before it means anything
# steps per epoch whose update ratios, gradient norms and ReLU activity are measured (spread over the epoch; the run's
# first steps always): every step would cost ~60 % of a small MLP's step (benchmarks/watch_overhead.py)
SAMPLED_STEPS = 5
# with step losses, the explosion rule runs every LIVE_EVERY steps, then every (history / LIVE_CHECKS) steps, about
# 7 times per doubling of the history (and at once on a non-finite loss): ≲ 1 ms each
LIVE_EVERY, LIVE_CHECKS = 10, 10


class TrainingWarning(UserWarning):
    """A doctor rule fired on a watched training loop (the loss explodes or stalls, the rate is off)."""


def _float(v: Any) -> float | None:
    if v is None:
        return None
    return float(v.detach().item()) if isinstance(v, torch.Tensor) else float(v)


class Watch:
    """Records one training loop as a run; use as ``with gaplab.watch(model, optimizer, ...) as w:``.

    Call ``w.epoch(train_loss=..., val_loss=..., train_acc=..., val_acc=...)`` once per epoch (any extra keyword
    is stored as a metric too); ``w.step(loss)`` after each optimizer step is optional and makes the live loss rules
    see every step. ``w.history`` holds the rows stored, ``w.warnings`` the rules that fired.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *,
                 store: StoreLike = DEFAULT_PATH, name: str = "watch", config: dict[str, Any] | None = None,
                 steps_per_epoch: int | None = None, warn: bool = True) -> None:
        self.model, self.optimizer, self.name, self.warn = model, optimizer, name, warn
        self.store = raw_store(store)
        self.config = dict(config or {})
        self.layers = weighted_layers(model)
        self._mode: ReluCalls | None = None  # the ReLU probe, active during a sampled training forward
        self.run_id = hashlib.sha256(f"{name}\0{time.time_ns()}\0{os.getpid()}\0{id(self)}".encode()).hexdigest()[:16]
        self.history: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.checks: list[Finding] = []
        self.step_losses: list[float] = []
        self._fired: set[str] = set()
        self._steps_given = steps_per_epoch is not None
        self._every = max(1, (steps_per_epoch or 0) // SAMPLED_STEPS)
        self._steps = 0
        self._epoch_steps = 0
        self._ratios: dict[str, list[float]] = {}
        self._grads: dict[str, list[float]] = {}
        self._all_ratios: dict[str, list[float]] = {}
        self._before: dict[str, torch.Tensor] | None = None
        self._alive: dict[str, torch.Tensor] = {}
        self._handles: list[Any] = []
        self._t0 = self._t_epoch = time.perf_counter()

    # ---- hooks ---------------------------------------------------------------------------------
    def __enter__(self) -> Watch:
        if self.optimizer is not None:
            self._handles += [self.optimizer.register_step_pre_hook(self._pre_step),
                              self.optimizer.register_step_post_hook(self._post_step)]
        self._handles += [self.model.register_forward_pre_hook(lambda *_: self.relu_begin()),
                          self.model.register_forward_hook(lambda *_: self.relu_end(), always_call=True)]
        self._save("running")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self.close("failed" if exc_type is not None and exc_type is not KeyboardInterrupt else None,
                   error=None if exc is None else f"{type(exc).__name__}: {exc}")

    def _sampled(self) -> bool:
        return self._epoch_steps % self._every == 0 or self._steps < 3

    def _pre_step(self, _opt: Any, _args: Any, _kwargs: Any) -> None:
        if not self._sampled():
            return
        with torch.no_grad():
            for n, m in self.layers:
                w = cast(torch.Tensor, m.weight)
                if w.grad is not None:
                    self._grads.setdefault(n, []).append(float(w.grad.norm()))
            self._before = {n: cast(torch.Tensor, m.weight).detach().clone() for n, m in self.layers}

    def _post_step(self, _opt: Any, _args: Any, _kwargs: Any) -> None:
        self._steps += 1
        self._epoch_steps += 1
        if self._before is None:
            return
        with torch.no_grad():
            for n, m in self.layers:
                b = self._before[n]
                r = float((cast(torch.Tensor, m.weight).detach() - b).norm() / b.norm().clamp_min(1e-12))
                self._ratios.setdefault(n, []).append(r)
                self._all_ratios.setdefault(n, []).append(r)
        self._before = None

    def relu_begin(self) -> None:
        """Start seeing ReLUs (a sampled training forward); the model's forward hooks call it, Lightning's
        callback calls it per batch (a ``training_step`` need not call the module's own forward)."""
        if self._mode is None and self.model.training and self._sampled():
            self._mode = ReluCalls()
            self._mode.__enter__()

    def relu_end(self) -> None:
        """Stop seeing ReLUs; a unit (a conv channel) is alive when it fired for any example of the epoch's samples."""
        mode, self._mode = self._mode, None
        if mode is None:
            return
        mode.__exit__(None, None, None)
        for name, act in mode.alive.items():
            self._alive[name] = act if name not in self._alive or self._alive[name].shape != act.shape \
                else self._alive[name] | act

    # ---- recording -----------------------------------------------------------------------------
    def step(self, loss: Any) -> None:
        """The mini-batch loss of one step (optional): the loss rules then see every step, and "loss explodes"
        fires inside an epoch (at a non-finite loss at once, else every 10 steps, less often as the history grows)."""
        v = _float(loss)
        if v is None:
            return
        self.step_losses.append(v)
        n = len(self.step_losses)
        if "loss does not explode" not in self._fired and (not math.isfinite(v) or
                                                            n % max(LIVE_EVERY, n // LIVE_CHECKS) == 0):
            self._apply_rules(live=True)

    def track(self, loss_fn: Any) -> Any:
        """``loss_fn`` wrapped so each loss it computes in training mode is recorded as ``w.step(loss)`` (then do
        not call ``w.step`` yourself): ``criterion = w.track(nn.CrossEntropyLoss())``."""
        def tracked(*args: Any, **kwargs: Any) -> Any:
            out = loss_fn(*args, **kwargs)
            if self.model.training:
                self.step(out)
            return out
        return tracked

    def epoch(self, train_loss: Any = None, val_loss: Any = None, train_acc: Any = None, val_acc: Any = None,
              **metrics: Any) -> dict[str, Any]:
        """Record one epoch: the metrics given, the gap, and the layers' dynamics; store it; apply the rules."""
        row: dict[str, Any] = {"epoch": len(self.history) + 1}
        given = {"train_loss": train_loss, "val_loss": val_loss, "train_acc": train_acc, "val_acc": val_acc,
                 **metrics}
        row.update({k: _float(v) for k, v in given.items() if v is not None})
        if "train_loss" in row and "val_loss" in row:
            row["gap_loss"] = row["val_loss"] - row["train_loss"]
        if "train_acc" in row and "val_acc" in row:
            row["gap_acc"] = row["train_acc"] - row["val_acc"]
        row.update(self._dynamics())
        row["steps"] = self._steps
        row["seconds"] = time.perf_counter() - self._t_epoch
        self.history.append(row)
        if not self._steps_given:  # the first epoch measured every step; now the epoch's length is known
            self._every = max(1, self._epoch_steps // SAMPLED_STEPS)
        self._ratios, self._grads, self._alive, self._epoch_steps = {}, {}, {}, 0
        self._t_epoch = time.perf_counter()
        self._apply_rules()
        self._save("running")
        return row

    def _dynamics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for n, v in self._ratios.items():
            out[f"ratio/{n}"] = statistics.median(v)
        for n, v in self._grads.items():
            out[f"gradnorm/{n}"] = statistics.median(v)
        dead = total = 0
        for n, alive in self._alive.items():
            out[f"dead/{n}"] = float((~alive).float().mean())
            dead, total = dead + int((~alive).sum()), total + alive.numel()
        if total:
            out["dead_relu"] = dead / total
        with torch.no_grad():
            for n, m in self.layers:
                out[f"wnorm/{n}"] = float(cast(torch.Tensor, m.weight).norm())
        return out

    # ---- the doctor's rules --------------------------------------------------------------------
    def _losses(self) -> list[float]:
        if self.step_losses:
            return self.step_losses
        return [h["train_loss"] for h in self.history if "train_loss" in h]

    def evaluate(self, live: bool = False) -> list[Finding]:
        """The doctor's dynamics checks on the history so far (``gaplab.doctor.dynamics``); ``live``: only the loss
        rules (the explosion verdict does not read the update ratios, whose medians cost the most)."""
        from gaplab.doctor.dynamics import loss_checks, ratio_check
        from gaplab.doctor.main_run import MainRun

        losses = self._losses()
        if not losses:
            return []
        status = "done" if all(math.isfinite(v) for v in losses) else "diverged"
        m = MainRun(pack=cast(Any, None), results=cast(Any, [SimpleNamespace(status=status)]),
                    losses=[[v] for v in losses], ratios=self._all_ratios,
                    ratio_steps=list(range(len(next(iter(self._all_ratios.values()), [])))))
        dead = self.history[-1].get("dead_relu") if self.history else None
        if live:
            return loss_checks(cast(Any, None), m, 0.01, dead)
        rc, top = ratio_check(m)
        checks = loss_checks(cast(Any, None), m, top if math.isfinite(top) else 0.01, dead)
        return [*checks, rc] if self._all_ratios else checks

    def _apply_rules(self, live: bool = False) -> None:
        checks = self.evaluate(live)
        if not live:
            self.checks = checks
        for c in checks:
            if c.verdict in (PASS, NA) or c.name in self._fired or (live and c.name != "loss does not explode"):
                continue
            if c.name == "loss falls" and (len(self.history) < MIN_EPOCHS_FOR_STALL or c.verdict != FAIL):
                continue  # a stall is called after a few epochs, and only when the loss barely moved
            self._fired.add(c.name)
            what = "loss explodes" if c.name == "loss does not explode" else (
                "loss stalls" if c.name == "loss falls" else c.name)
            when = f"epoch {len(self.history) + 1}, step {len(self.step_losses)}" if live else \
                f"epoch {len(self.history)}"
            msg = f"gaplab.watch {self.name!r}, {when}: {what} — {c.cause}; try: {c.fix}"
            self.warnings.append(msg)
            if self.warn:
                warnings.warn(msg, TrainingWarning, stacklevel=user_stacklevel())

    # ---- the store -----------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """What the run stores as its spec: marked external, the model and optimizer as the loop built them."""
        opt: dict[str, Any] = {}
        if self.optimizer is not None:
            g = self.optimizer.param_groups[0]
            opt = {"name": type(self.optimizer).__name__,
                   **{k: v for k, v in g.items() if k != "params" and isinstance(v, int | float | str | bool)}}
        return {"external": "watch", "name": self.name, "data": {"name": "external"},
                "model": {"name": type(self.model).__name__,
                          "params": sum(p.numel() for p in self.model.parameters())},
                "optim": opt, "seed": None, "config": self.config}

    def final(self) -> dict[str, Any]:
        """The last epoch's numbers and the rules' verdicts (``check/<name>``: 0 pass, 1 warn, 2 fail)."""
        last = {k: v for k, v in (self.history[-1] if self.history else {}).items() if k != "epoch"}
        last["epochs_run"] = len(self.history)
        last.update({f"check/{c.name}": {"PASS": 0, "WARN": 1, "FAIL": 2}[c.verdict] for c in self.checks
                     if c.verdict != NA})
        return last

    def _save(self, status: str, error: str | None = None) -> None:
        if self.store is None:
            return
        self.store.save_run(self.run_id, self.spec(), status, self.history, self.final(),
                            time.perf_counter() - self._t0, error=error, groups=[GROUP_PREFIX + self.name])

    def close(self, status: str | None = None, error: str | None = None) -> None:
        """Remove the hooks and store the run as finished (``diverged`` when a loss was not finite)."""
        self.relu_end()
        for h in self._handles:
            h.remove()
        self._handles = []
        if status is None:
            status = "done" if all(math.isfinite(v) for v in self._losses()) else "diverged"
        self.checks = self.evaluate()
        self._save(status, error)


def watch(model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *, store: StoreLike = DEFAULT_PATH,
          name: str = "watch", config: dict[str, Any] | None = None, steps_per_epoch: int | None = None,
          warn: bool = True) -> Watch:
    """Watch your own training loop: per-epoch metrics, gap and layer dynamics stored as a run; live warnings.

    Parameters
    ----------
    model : the ``nn.Module`` being trained (dead ReLU units are counted in its training forwards, ``nn.ReLU`` and
        ``F.relu``/``torch.relu`` alike, per call site: ``dead/relu 1``, ``dead/relu 2``, ...).
    optimizer : its optimizer (step hooks measure update-to-weight ratios and gradient norms on sampled steps).
    store : results database ("gaplab-results/gaplab.db"; None keeps nothing); the run is in group
        ``external/<name>``.
    config : your settings, stored with the run's spec.
    steps_per_epoch : spreads the 5 sampled steps of each epoch (default: every step of the first epoch, then
        spread by its length).
    warn : issue a ``TrainingWarning`` when a doctor rule fires (always listed in ``w.warnings``).

    Returns
    -------
    Watch
        A context manager: ``w.epoch(...)`` records an epoch, ``w.step(loss)`` a step's loss (optional; it lets
        "loss explodes" fire inside an epoch; ``criterion = w.track(loss_fn)`` records every step's loss for you),
        ``w.history``, ``w.warnings``, ``w.checks`` and ``w.run_id`` (``gaplab.Store(...).results(group=
        "external/<name>")`` reads the run back).

    Examples
    --------
    >>> import torch, gaplab
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.05)
    >>> x, y = torch.randn(64, 4), torch.randn(64, 1)
    >>> with gaplab.watch(model, opt, store=None, name="doc") as w:
    ...     for epoch in range(3):
    ...         loss = torch.nn.functional.mse_loss(model(x), y)
    ...         opt.zero_grad(); loss.backward(); opt.step()
    ...         row = w.epoch(train_loss=loss, val_loss=loss * 1.1)
    >>> len(w.history), sorted(k for k in row if k.startswith("ratio/"))
    (3, ['ratio/0', 'ratio/2'])
    """
    return Watch(model, optimizer, store=store, name=name, config=config, steps_per_epoch=steps_per_epoch, warn=warn)
