"""The main run: the user's own settings (epochs capped by the budget) for a few seeds in one pack, recording
per-step losses and per-layer update-to-weight ratios. Dynamics, bias/variance and input dependence read it."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch

from gaplab.doctor.context import Context
from gaplab.doctor.parallel import groups_for
from gaplab.doctor.probes import update_ratios
from gaplab.engine import Pack, RunResult, build_trained, check_halt, run_in_threads

RATIO_STEPS = 50  # steps whose update-to-weight ratio is recorded (every step early, then spaced out)


@dataclass
class MainRun:
    pack: Pack
    results: list[RunResult]
    losses: list[list[float]] = field(default_factory=list)  # per step, per model: mini-batch data loss
    ratios: dict[str, list[float]] = field(default_factory=dict)  # layer -> ‖ΔW‖/‖W‖ at recorded steps
    ratio_steps: list[int] = field(default_factory=list)
    _trained: torch.nn.Module | None = field(default=None, repr=False)

    def trained_model(self) -> torch.nn.Module:
        """Seed 0's trained model, built once (the probes leave its weights and buffers as they found them)."""
        if self._trained is None:
            self._trained = build_trained(self.results[0].spec, self.pack.state_of(0))
        return self._trained


def train_main(ctx: Context) -> MainRun:
    """Train the user's run for ``budget.seeds`` seeds and record its dynamics (``ctx.main`` calls this once); the
    seeds as packs side by side where torch has more than one thread (``doctor.parallel``), seed 0's pack recording
    the update ratios."""
    specs = [ctx.main_spec(i) for i in range(ctx.budget.seeds)]
    n_steps = specs[0].optim.epochs * ctx.steps_per_epoch(len(ctx.prepared.train_idx), specs[0].optim.batch_size)
    every = max(1, n_steps // RATIO_STEPS)
    groups = groups_for(len(specs), specs[0].device)
    label = f"main run ({len(specs)} × your settings)"

    def train(g: int) -> MainRun:
        pack = Pack([specs[i] for i in groups[g]])
        rec = MainRun(pack=pack, results=[])
        state: dict[str, dict[str, torch.Tensor]] = {}

        def on_step(epoch: int, step: int, losses: torch.Tensor) -> None:
            check_halt()
            rec.losses.append(losses.tolist())
            if g > 0:
                return
            t = len(rec.losses) - 1
            if "before" in state:
                for n, r in update_ratios(state.pop("before"), pack.params).items():
                    rec.ratios.setdefault(n, []).append(r)
                rec.ratio_steps.append(t)
            if (t + 1) % every == 0 or t + 1 < 5:
                state["before"] = {n: p[:1].detach().clone() for n, p in pack.params.items()}

        state["before"] = {n: p[:1].detach().clone() for n, p in pack.params.items()}

        def shown(e: int, total: int) -> None:
            if g == 0:
                ctx.progress(label, e, total)

        shown(0, specs[0].optim.epochs)
        rec.results = pack.fit(shown, on_step=on_step, own_threads=len(groups) == 1)
        return rec

    parts = run_in_threads([functools.partial(train, g) for g in range(len(groups))])
    first = parts[0]
    if len(parts) > 1:
        # per step, every seed's loss; a pack that stopped sooner (early stopping) reads NaN after its end
        steps = max(len(p.losses) for p in parts)
        first.losses = [sum((p.losses[t] if t < len(p.losses) else [math.nan] * len(groups[i])
                             for i, p in enumerate(parts)), []) for t in range(steps)]
        first.results = [r for p in parts for r in p.results]
    return first
