"""The training engine's public surface: what the layers above it (api, advise, doctor, studies) use.

Train runs: ``run_local`` (any list of runs, resumable in a store) or ``train_pack`` (one pack, no store);
plan them: ``schedule`` (the packs and how many train at once, as ``run_local`` trains them), ``plan_packs``,
``side_by_side``, ``slots`` (with ``is_cpu``) and ``balanced`` (how many packs train at once in this process, and
the packs cut to match), ``run_in_threads`` (tasks trained side by side in threads, stopping at ``check_halt`` when
one fails),
``path_of`` (the engine path a pack takes, and why), ``steps_per_epoch``,
``unique_pending``; their prepared data: ``prepared_for``;
their specs checked before training: ``check_runs``, ``with_fingerprint``; their models: ``build_initial``,
``build_trained``; a pack's losses read by hand: ``per_example``, ``masked_mean``. The Ray executor
(``gaplab.engine.ray_executor.run_ray``) needs the ``ray`` extra and is imported where used.
"""

from gaplab.engine.checkpoint import DEFAULT_EVERY
from gaplab.engine.datacache import prepared_for, raw_dataset, shared_pool
from gaplab.engine.executor import run_local, side_by_side, unique_pending
from gaplab.engine.metrics import masked_mean, per_example
from gaplab.engine.pack import Pack, RunResult, build_initial, build_trained, train_pack
from gaplab.engine.padding import flops_per_example, pad_arg, width_of
from gaplab.engine.paths import path_of
from gaplab.engine.planning import (
    MAX_SIDE_BY_SIDE,
    Schedule,
    balanced,
    is_cpu,
    plan_packs,
    schedule,
    slots,
    steps_per_epoch,
)
from gaplab.engine.threads import check_halt, run_in_threads
from gaplab.engine.validate import check_runs, with_fingerprint

__all__ = [
    "DEFAULT_EVERY",
    "MAX_SIDE_BY_SIDE",
    "Pack",
    "RunResult",
    "Schedule",
    "balanced",
    "build_initial",
    "build_trained",
    "check_halt",
    "check_runs",
    "flops_per_example",
    "is_cpu",
    "masked_mean",
    "pad_arg",
    "path_of",
    "per_example",
    "plan_packs",
    "prepared_for",
    "raw_dataset",
    "run_in_threads",
    "run_local",
    "schedule",
    "shared_pool",
    "side_by_side",
    "slots",
    "steps_per_epoch",
    "train_pack",
    "unique_pending",
    "width_of",
    "with_fingerprint",
]
