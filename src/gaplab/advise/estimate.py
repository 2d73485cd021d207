"""How long a plan will take: two tiny timed packs give the cost of a pack step and of one more model in it.

A step of a pack of K models costs about c0 + K·c1 seconds (docs/performance.md: packs of small models are bound by a
fixed per-step dispatch cost c0). Both are measured on one epoch of the largest size with 1 and 6 plain models;
the plan's packs come from the executor's own ``plan_packs``, so the estimate counts the packs that will run.
Times are the CPU time of the calling thread, so a plan does not shrink because other programs share the machine
(on a busy machine the sweep then takes longer than estimated; the advice reports both), and a pack on two OpenMP
threads is not charged for the second thread's spinning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gaplab.advise.plan import Plan
from gaplab.engine import flops_per_example, pad_arg, plan_packs, steps_per_epoch, train_pack, unique_pending, width_of
from gaplab.spec import RunSpec

PROBE_MODELS = 6
# augmentation, dropout and evaluations are not in the probe: a margin for them, measured on MNIST-1D advise
# sweeps (actual / estimated ≈ 1.1–1.4)
MARGIN = 1.3


@dataclass(frozen=True)
class StepCost:
    """Seconds per pack step (``fixed`` whatever the pack's size, plus ``per_model`` for each model in it) and
    per pack (``setup``: building it, its first and final evaluations)."""

    fixed: float
    per_model: float
    setup: float
    probe: RunSpec | None = None  # the probed run: a pack of wider or narrower models scales per_model by FLOPs

    def pack_seconds(self, k: int, steps: int, like: RunSpec | None = None) -> float:
        scale = 1.0
        if like is not None and self.probe is not None and pad_arg(like) and pad_arg(self.probe):
            scale = flops_per_example(like, width_of(like)) / flops_per_example(self.probe, width_of(self.probe))
        return self.setup + steps * (self.fixed + k * self.per_model * scale)


PROBE_EPOCHS = 3


def measure(plan: Plan) -> StepCost:
    """Time ``PROBE_EPOCHS`` epochs of the largest size with a pack of 1 and of ``PROBE_MODELS`` plain models
    (widest width); steps are timed between the first and the last epoch's end, the rest counts as setup."""
    widest = max(plan.configs, key=lambda c: max((v for k, v in c.overrides.items() if k.startswith("model.args")),
                                                 default=0))
    spec = plan.spec(widest, plan.sizes[-1], 0).replace(**{"optim.epochs": PROBE_EPOCHS, "eval_every": 1})
    steps = steps_per_epoch(spec) * (PROBE_EPOCHS - 1)
    # warm-up: one-time costs (first vmap/functional_call, data view) are not a cost of every pack
    train_pack([spec.replace(**{"optim.epochs": 1, "data.train_size": min(spec.optim.batch_size, plan.sizes[0])})])
    per_step, setup = {}, {}
    for k in (1, PROBE_MODELS):
        specs = [spec.replace(seed=1000 + i) for i in range(k)]
        marks: list[float] = []
        t0 = time.thread_time()
        train_pack(specs, lambda e, _t, m=marks: m.append(time.thread_time()))  # type: ignore[misc]
        total = time.thread_time() - t0
        per_step[k] = (marks[-1] - marks[0]) / steps
        setup[k] = max(0.0, total - per_step[k] * steps_per_epoch(spec) * PROBE_EPOCHS)
    per_model = max(0.0, (per_step[PROBE_MODELS] - per_step[1]) / (PROBE_MODELS - 1))
    return StepCost(max(1e-4, per_step[1] - per_model), per_model, setup[1], spec)


def estimator(cost: StepCost, workers: int = 1) -> Callable[[Plan], float]:
    """``estimate(plan)`` in seconds: every distinct run of the plan, packed as the executor will. Runs already
    stored count too, so the plan fitted to a budget does not depend on what the store holds."""

    def estimate(plan: Plan) -> float:
        specs = [s for *_, s in plan.runs()]
        runs, _ = unique_pending(specs, None)  # no store: only duplicates drop out
        packs = plan_packs(runs)
        secs = [cost.pack_seconds(len(p), p[0].optim.epochs * steps_per_epoch(p[0]),
                                  max(p, key=lambda s: width_of(s) if pad_arg(s) else 0)) * MARGIN for p in packs]
        if not secs:
            return 0.0
        return max(sum(secs) / max(1, min(workers, len(secs))), max(secs))

    return estimate
