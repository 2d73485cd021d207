"""How long a plan will take: two tiny timed packs give the cost of a pack step and of one more model in it.

A step of a pack of K models costs about c0 + K·c1 seconds (docs/performance.md: packs of small models are bound by a
fixed per-step dispatch cost c0). Both are measured on one epoch of the largest size with 1 and 6 plain models.
An evaluation (training rows + the test set) costs e0 + K·e1, timed on the same packs; a run under a patience
rule is evaluated after every epoch — at small sizes, where an epoch is a step or two, that is most of its time —
and every run is counted at its epoch cap, so the estimate bounds the time from above;
the plan's packs and how many train at once come from the executor's own ``schedule``, so the estimate counts
the packs that will run.
Times are the CPU time of the calling thread, so a plan does not shrink because other programs share the machine
(on a busy machine the sweep then takes longer than estimated; the advice reports both), and a pack on two OpenMP
threads is not charged for the second thread's spinning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gaplab.advise.plan import Plan
from gaplab.engine import (
    Pack,
    flops_per_example,
    pad_arg,
    schedule,
    steps_per_epoch,
    train_pack,
    width_of,
)
from gaplab.spec import RunSpec

PROBE_MODELS = 6
# augmentation and dropout are not in the probe: a margin for them, measured on MNIST-1D advise sweeps (actual /
# estimated ≈ 1.1–1.4 before evaluations were counted)
MARGIN = 1.3


@dataclass(frozen=True)
class StepCost:
    """Seconds per pack step (``fixed`` whatever the pack's size, plus ``per_model`` for each model in it) and
    per pack (``setup``: building it, its first and final evaluations)."""

    fixed: float
    per_model: float
    setup: float
    probe: RunSpec | None = None  # the probed run: a pack of wider or narrower models scales per_model by FLOPs
    eval_fixed: float = 0.0  # one evaluation of a pack: eval_fixed + K·rows·eval_per_row seconds, every model
    eval_per_row: float = 0.0  # evaluating every row some model of the pack trains on, and the test set
    test_rows: int = 0

    def pack_seconds(self, k: int, steps: int, like: RunSpec | None = None, evals: int = 0,
                     rows: float = 0.0) -> float:
        """Seconds of a pack of ``k`` runs like ``like``: ``steps`` optimizer steps and ``evals`` evaluations of
        ``rows`` training rows (+ the test set)."""
        scale = 1.0
        if like is not None and self.probe is not None and pad_arg(like) and pad_arg(self.probe):
            scale = flops_per_example(like, width_of(like)) / flops_per_example(self.probe, width_of(self.probe))
        per_eval = self.eval_fixed + k * (rows + self.test_rows) * self.eval_per_row * scale
        return self.setup + steps * (self.fixed + k * self.per_model * scale) + evals * per_eval


PROBE_EPOCHS = 3
EVAL_REPEATS = 3


def measure(plan: Plan) -> StepCost:
    """Time ``PROBE_EPOCHS`` epochs of the largest size with a pack of 1 and of ``PROBE_MODELS`` plain models
    (widest width); steps are timed between the first and the last epoch's end, the rest counts as setup."""
    widest = max(plan.configs, key=lambda c: max((v for k, v in c.overrides.items() if k.startswith("model.args")),
                                                 default=0))
    # steps alone: no patience rule (it evaluates every epoch); evaluations are timed on their own below
    spec = plan.spec(widest, plan.sizes[-1], 0).replace(**{"optim.epochs": PROBE_EPOCHS, "eval_every": PROBE_EPOCHS,
                                                           "reg.early_stopping": None})
    steps = steps_per_epoch(spec) * (PROBE_EPOCHS - 1)
    # warm-up: one-time costs (first vmap/functional_call, data view) are not a cost of every pack
    train_pack([spec.replace(**{"optim.epochs": 1, "data.train_size": min(spec.optim.batch_size, plan.sizes[0])})])
    per_step, setup, per_eval, rows = {}, {}, {}, {}
    test_rows = 0
    for k in (1, PROBE_MODELS):
        specs = [spec.replace(seed=1000 + i) for i in range(k)]
        pack = Pack(specs)
        t0 = time.thread_time()
        for _ in range(EVAL_REPEATS):
            pack.evaluate()
        per_eval[k] = (time.thread_time() - t0) / EVAL_REPEATS
        test_rows = int(pack.data.x_test.shape[0])
        rows[k] = k * (int(pack.data.x_eval.shape[0]) + test_rows)  # model-rows evaluated
        marks: list[float] = []
        t0 = time.thread_time()
        train_pack(specs, lambda e, _t, m=marks: m.append(time.thread_time()))  # type: ignore[misc]
        total = time.thread_time() - t0
        # the last epoch holds the probe's one evaluation during training
        per_step[k] = max(0.0, marks[-1] - marks[0] - per_eval[k]) / steps
        setup[k] = max(0.0, total - per_step[k] * steps_per_epoch(spec) * PROBE_EPOCHS)
    per_model = max(0.0, (per_step[PROBE_MODELS] - per_step[1]) / (PROBE_MODELS - 1))
    per_row = max(0.0, (per_eval[PROBE_MODELS] - per_eval[1]) / (rows[PROBE_MODELS] - rows[1]))
    return StepCost(max(1e-4, per_step[1] - per_model), per_model, setup[1], spec,
                    max(0.0, per_eval[1] - per_row * rows[1]), per_row, test_rows)


def evaluations(spec: RunSpec) -> int:
    """Evaluations of a run trained to its cap: every epoch under early stopping or a patience rule, else every
    ``eval_every`` epochs; plus the final one."""
    e = spec.optim.epochs
    return (e if spec.reg.early_stopping is not None else -(-e // spec.eval_every)) + 1


def distinct_rows(pack: list[RunSpec], pool: int) -> float:
    """Expected training rows a pack evaluates: the union of its runs' random subsets of the pool."""
    miss = 1.0
    for s in pack:
        miss *= 1.0 - min(1.0, (s.data.train_size or pool) / max(1, pool))
    return pool * (1.0 - miss)


def estimator(cost: StepCost, workers: int = 1) -> Callable[[Plan], float]:
    """``estimate(plan)`` in seconds: every distinct run of the plan, packed as the executor will. Runs already
    stored count too, so the plan fitted to a budget does not depend on what the store holds."""

    def estimate(plan: Plan) -> float:
        sched = schedule([s for *_, s in plan.runs()], workers)  # every run counts: no store here
        secs = [cost.pack_seconds(len(p), p[0].optim.epochs * steps_per_epoch(p[0]),
                                  max(p, key=lambda s: width_of(s) if pad_arg(s) else 0), evaluations(p[0]),
                                  distinct_rows(p, plan.pool)) * MARGIN for p in sched.packs]
        if not secs:
            return 0.0
        return max(sum(secs) / sched.at_once, max(secs))

    return estimate
