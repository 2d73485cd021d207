"""Scale a sweep out on Ray: each pack is a Ray task; only the driver writes to the store.

A task whose worker dies is retried by Ray (``max_retries``); a pack that raises is recorded as failed,
run by run, like the local executor does. ``address`` joins an existing cluster, otherwise a local one
is started (and shut down at the end).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gaplab.engine.executor import DEFAULT_MAX_PACK, ProgressFn, SweepBook
from gaplab.errors import SpecError
from gaplab.spec import RunSpec, parse_run
from gaplab.store.db import Store

TASK_RETRIES = 3


def require_ray() -> None:
    """Ray is an optional extra: without it, say how to install it instead of failing on the import."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SpecError("--executor ray needs Ray, which is not installed: pip install 'gaplab[ray]' "
                        "(or pip install 'ray>=2.9'), or use --executor local") from None


def _train_remote(spec_data: list[dict[str, Any]], keep_state: bool, threads: int) -> list[Any]:
    """Runs inside a Ray worker: rebuild the specs, train the pack, return the results."""
    import torch

    from gaplab.engine.pack import train_pack

    marker = os.environ.get("GAPLAB_TASK_MARKERS")
    if marker:  # test hook: announce which process trains this pack, so a test can kill it
        Path(marker, f"{os.getpid()}").write_text(str(time.time()))
    torch.set_num_threads(threads)
    specs = [parse_run(d) for d in spec_data]
    return train_pack(specs, keep_state=keep_state)


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
) -> dict[str, Any]:
    """Train every pending spec as Ray tasks (one per pack); same return value as ``run_local``."""
    require_ray()
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    book = SweepBook(specs, store, group, max_pack, keep_state)
    if not book.packs:
        return book.summary()
    started_here = not ray.is_initialized()
    if started_here:
        # a local cluster's workers inherit this process's environment (GAPLAB_* settings included)
        ray.init(address=address, num_cpus=None if address else (num_cpus or os.cpu_count()),
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        remote = ray.remote(num_cpus=threads_per_task, max_retries=TASK_RETRIES)(_train_remote)
        futures = {remote.remote([s.normalized() for s in p], keep_state, threads_per_task): p for p in book.packs}
        done_epochs = 0
        waiting = list(futures)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            pack = futures[ready[0]]
            try:
                book.record(ray.get(ready[0]))
            except Exception as exc:  # the task raised, or its worker died more than TASK_RETRIES times
                book.fail(pack, exc)
            done_epochs += pack[0].optim.epochs
            if progress is not None:
                progress(f"ray: {len(futures) - len(waiting)}/{len(futures)} packs", done_epochs, book.total_epochs)
    finally:
        if started_here:
            ray.shutdown()
    return book.summary()
