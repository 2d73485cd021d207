"""Scale a sweep out on Ray: each pack is a Ray task; only the driver writes to the store.

A task whose worker dies is retried by Ray (``max_retries``) and, on a local cluster, resumes from its pack
checkpoint; a pack that raises is recorded as failed, run by run, like the local executor does. ``address``
joins an existing cluster, otherwise a local one is started and shut down at the end. Ray ends a job's tasks
when their driver exits, and a local cluster's GCS and raylet die with the driver that started it, but its
dashboard and runtime-env agents outlive a SIGKILLed driver for a minute or more (Ray 2.60): a small reaper
process (``_Reaper``) kills the cluster's processes as soon as the driver is gone, however it went.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from gaplab.engine.checkpoint import DEFAULT_EVERY, Checkpointer
from gaplab.engine.executor import ProgressFn, SweepBook
from gaplab.engine.planning import DEFAULT_MAX_PACK
from gaplab.errors import SpecError
from gaplab.spec import RunSpec, parse_run
from gaplab.store.db import Store

TASK_RETRIES = 3

# The reaper: reads "pid:starttime" lines from the driver until EOF (the driver exited or was killed), then
# SIGKILLs each listed process that still runs with that start time (a reused pid is left alone).
_REAPER = r"""
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
targets = set(sys.stdin.read().split())
for t in targets:
    pid, _, start = t.partition(":")
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[19] == start:
                os.kill(int(pid), signal.SIGKILL)
    except (OSError, IndexError, ValueError):
        pass
"""


def require_ray() -> None:
    """Ray is an optional extra: without it, say how to install it instead of failing on the import."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SpecError("--executor ray needs Ray, which is not installed: pip install 'gaplab[ray]' "
                        "(or pip install 'ray>=2.9'), or use --executor local") from None


def _ray_descendants(root: int) -> list[str]:
    """'pid:starttime' of every Ray process below ``root`` (from /proc; Linux)."""
    parent: dict[int, int] = {}
    info: dict[int, tuple[str, str]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except (OSError, IndexError):
            continue
        parent[int(d)] = int(fields[1])
        info[int(d)] = (fields[19], cmd)
    out = []
    for pid, (start, cmd) in info.items():
        p, seen = pid, 0
        while p in parent and p != root and seen < 64:
            p, seen = parent[p], seen + 1
        if p == root and pid != root and "ray" in cmd:
            out.append(f"{pid}:{start}")
    return out


class _Reaper:
    """Kills the local Ray cluster's processes when this driver dies (see the module docstring)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.sent: set[str] = set()
        if sys.platform.startswith("linux"):
            self.proc = subprocess.Popen([sys.executable, "-c", _REAPER], stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def update(self) -> None:
        """Tell the reaper about the cluster's processes started so far (workers come and go)."""
        if self.proc is None or self.proc.stdin is None:
            return
        own = f"{self.proc.pid}:"
        new = [t for t in _ray_descendants(os.getpid()) if t not in self.sent and not t.startswith(own)]
        if new:
            self.proc.stdin.write(("\n".join(new) + "\n").encode())
            self.proc.stdin.flush()
            self.sent.update(new)

    def close(self) -> None:
        """After ``ray.shutdown()``: let the reaper finish off whatever is left, and wait for it."""
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


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
    require_ray()
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    book = SweepBook(specs, store, group, max_pack, keep_state, checkpoint_every if address is None else 0)
    if not book.packs:
        return book.summary()
    started_here = not ray.is_initialized()
    reaper = _Reaper() if started_here and address is None else None
    try:
        if started_here:
            # a local cluster's workers inherit this process's environment (GAPLAB_* settings included)
            ray.init(address=address, num_cpus=None if address else (num_cpus or os.cpu_count()),
                     include_dashboard=False, log_to_driver=False, configure_logging=False)
        remote = ray.remote(num_cpus=threads_per_task, max_retries=TASK_RETRIES)(_train_remote)
        slots = max(1, int(ray.cluster_resources().get("CPU", 1)) // threads_per_task)

        def submit(pack: list[RunSpec], folder: str | None, _label: str) -> Future[list[Any]]:
            ref = remote.remote([s.normalized() for s in pack], keep_state, threads_per_task, folder,
                                checkpoint_every)
            if reaper is not None:
                reaper.update()
            return ref.future()

        def on_progress(label: str, done: int, total: int) -> None:
            if reaper is not None:
                reaper.update()
            if progress is not None:
                progress(label, done, total)

        if reaper is not None:
            reaper.update()
        return book.drive(slots, submit, on_progress, " (ray)")
    finally:
        if started_here:
            ray.shutdown()
        if reaper is not None:
            reaper.close()
