"""The main run: the user's own settings (epochs capped by the budget) for a few seeds in one pack, recording
per-step losses and per-layer update-to-weight ratios. Dynamics, bias/variance and input dependence read it."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from gaplab.doctor.context import Context
from gaplab.doctor.probes import update_ratios
from gaplab.engine import Pack, RunResult, build_trained

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
    """Train the user's run for ``budget.seeds`` seeds and record its dynamics (``ctx.main`` calls this once)."""
    specs = [ctx.main_spec(i) for i in range(ctx.budget.seeds)]
    pack = Pack(specs)
    rec = MainRun(pack=pack, results=[])
    n_steps = specs[0].optim.epochs * ctx.steps_per_epoch(len(ctx.prepared.train_idx), specs[0].optim.batch_size)
    every = max(1, n_steps // RATIO_STEPS)
    state: dict[str, dict[str, torch.Tensor]] = {}

    def on_step(epoch: int, step: int, losses: torch.Tensor) -> None:
        t = len(rec.losses)
        rec.losses.append(losses.tolist())
        if "before" in state:
            for n, r in update_ratios(state.pop("before"), pack.params).items():
                rec.ratios.setdefault(n, []).append(r)
            rec.ratio_steps.append(t)
        if (t + 1) % every == 0 or t + 1 < 5:
            state["before"] = {n: p[:1].detach().clone() for n, p in pack.params.items()}

    state["before"] = {n: p[:1].detach().clone() for n, p in pack.params.items()}
    label = f"main run ({len(specs)} × your settings)"
    ctx.progress(label, 0, specs[0].optim.epochs)
    rec.results = pack.fit(lambda e, total: ctx.progress(label, e, total), on_step=on_step)
    return rec
