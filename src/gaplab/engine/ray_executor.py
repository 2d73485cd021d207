"""Scale a sweep out on Ray: each pack is a Ray task; only the driver writes to the store.

A task whose worker dies is retried by Ray (``max_retries``) and, on a local cluster, resumes from its pack
checkpoint; a pack that raises is recorded as failed, run by run, like the local executor does. ``address``
joins an existing cluster, otherwise a local one is started and shut down at the end. Ray ends a job's tasks
when their driver exits; the processes of a local cluster this driver started are also made to die with it
(``ray_executor._fate_share``), so a SIGKILLed sweep leaves no Ray process behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from gaplab.engine.checkpoint import DEFAULT_EVERY, Checkpointer
from gaplab.engine.executor import DEFAULT_MAX_PACK, ProgressFn, SweepBook
from gaplab.spec import RunSpec, parse_run
from gaplab.store.db import Store

TASK_RETRIES = 3


def _train_remote(spec_data: list[dict[str, Any]], keep_state: bool, threads: int, folder: str | None = None,
                  every: float = DEFAULT_EVERY) -> list[Any]:
    """Runs inside a Ray worker: rebuild the specs, train the pack (resuming from its checkpoint), return results."""
    import torch

    from gaplab.engine.pack import train_pack

    marker = os.environ.get("GAPLAB_TASK_MARKERS")
    if marker:  # test hook: announce which process trains this pack, so a test can kill it
        Path(marker, f"{os.getpid()}").write_text(str(time.time()))
    torch.set_num_threads(threads)
    specs = [parse_run(d) for d in spec_data]
    ck = Checkpointer(folder, [s.run_id for s in specs], every) if folder else None
    return train_pack(specs, keep_state=keep_state, checkpoint=ck)


def run_ray(
    specs: Iterable[RunSpec],
    store: Store | None,
    group: str | None = None,
    max_pack: int = DEFAULT_MAX_PACK,
    address: str | None = None,
    progress: ProgressFn | None = None,
    keep_state: bool = False,
    num_cpus: int | None = None,
    threads_per_task: int = 1,
    checkpoint_every: float = DEFAULT_EVERY,
) -> dict[str, Any]:
    """Train every pending spec as Ray tasks (one per pack); same return value as ``run_local``.

    Checkpoints are written only on a local cluster (``address`` None), whose workers see the store's folder.
    """
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    book = SweepBook(specs, store, group, max_pack, keep_state, checkpoint_every if address is None else 0)
    if not book.packs:
        return book.summary()
    started_here = not ray.is_initialized()
    if started_here:
        # a local cluster's workers inherit this process's environment (GAPLAB_* settings included)
        ray.init(address=address, num_cpus=None if address else (num_cpus or os.cpu_count()),
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        remote = ray.remote(num_cpus=threads_per_task, max_retries=TASK_RETRIES)(_train_remote)
        slots = max(1, int(ray.cluster_resources().get("CPU", 1)) // threads_per_task)

        def submit(pack: list[RunSpec], folder: str | None, _label: str) -> Future[list[Any]]:
            ref = remote.remote([s.normalized() for s in pack], keep_state, threads_per_task, folder,
                                checkpoint_every)
            return ref.future()

        return book.drive(slots, submit, progress, " (ray)")
    finally:
        if started_here:
            ray.shutdown()
