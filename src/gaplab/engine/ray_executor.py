"""Scale a sweep out on Ray: each pack is a Ray task; only the driver writes to the store.

The user's model files and data files travel with the tasks (engine.shipping), so workers need gaplab and its
dependencies installed but not the driver's folders. A task whose worker or node dies is retried by Ray
(``max_retries``) and resumes from its pack checkpoint, in a folder or fsspec URL every node sees
(``checkpoint_dir``); a pack that raises is recorded as failed, run by run, with the cause's one line. With
``device`` cuda each task asks Ray for a share of a GPU and packs are cut to that share of the GPU's free memory.
``address`` joins an existing cluster, otherwise a local one is started and shut down at the end. Ray ends a job's tasks
when their driver exits, and a local cluster's GCS and raylet die with the driver that started it, but its
dashboard and runtime-env agents outlive a SIGKILLed driver for a minute or more (Ray 2.60): a small reaper
process (``_Reaper``) kills the cluster's processes as soon as the driver is gone, however it went.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaplab.engine.checkpoint import DEFAULT_EVERY, Checkpointer, check_location, checkpoint_dir, pack_hash
from gaplab.engine.executor import ProgressFn, SweepBook
from gaplab.engine.pack import RunResult
from gaplab.engine.planning import DEFAULT_MAX_PACK
from gaplab.engine.shipping import Shipment, localize, stage
from gaplab.errors import SpecError
from gaplab.spec import RunSpec, parse_run
from gaplab.store.db import Store

TASK_RETRIES = 3
GPUS_PER_PACK = 0.25  # default share of one GPU a pack task asks for: four packs train on one GPU at once
GPU_MEMORY_SHARE = 0.9  # of a GPU's free memory (times the pack's share) that one pack may plan to use
TRACE_LINES = 6  # lines of a remote traceback kept after a failed run's one-line error
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

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


def _train_remote(spec_data: list[dict[str, Any]], run_ids: list[str], keep_state: bool, threads: int,
                  folder: str | None = None, every: float = DEFAULT_EVERY, package: str | None = None) -> list[Any]:
    """Runs inside a Ray worker: map the specs to the shipped code and data (``package``), train the pack
    (resuming from its checkpoint, named by the driver's ``run_ids``: a mapped data path would change them),
    return the results (the driver puts its own specs back on them)."""
    import torch

    from gaplab.engine.pack import train_pack

    if package is not None:
        spec_data = localize(spec_data, package)
    for d in spec_data:  # Ray shows a task only the GPUs it was given, numbered from 0
        if d["device"].startswith("cuda"):
            d["device"] = "cuda"
    torch.set_num_threads(threads)
    specs = [parse_run(d) for d in spec_data]
    ck = Checkpointer(folder, run_ids, every) if folder else None
    marker = os.environ.get("GAPLAB_TASK_MARKERS")
    if marker:  # test hook: announce which process and node trains which pack, and from which epoch
        import ray

        state = ck.load() if ck is not None else None
        Path(marker, f"{os.getpid()}-{time.time_ns()}").write_text(json.dumps({
            "pid": os.getpid(), "time": time.time(), "node": ray.get_runtime_context().get_node_id(),
            "pack": pack_hash(run_ids),
            "model": specs[0].model.name, "data": specs[0].data.path, "from_epoch": state["epoch"] if state else 0,
            "resources": ray.get_runtime_context().get_assigned_resources()}))
    return train_pack(specs, keep_state=keep_state, checkpoint=ck)


class ClusterError(RuntimeError):
    """A Ray system failure that outlived the retries (a lost worker or node, a runtime env that failed to set up)."""


def clean_error(exc: BaseException) -> BaseException:
    """A failed task's exception as its cause (so the stored error is the cause's one line, without colour codes),
    the last lines of the remote traceback attached as a note."""
    from ray import exceptions as rx

    if isinstance(exc, rx.RayTaskError):
        cause = exc.cause if isinstance(exc.cause, BaseException) else None
        # the task's name, its remote traceback and the error line (Ray's dual exception keeps only this text)
        lines = _ANSI.sub("", str(exc)).strip().splitlines()[1:-1]
        if cause is None or isinstance(cause, rx.RayError):
            first = _ANSI.sub("", str(cause or exc)).strip().splitlines()
            cause = ClusterError(first[0] if first else type(exc).__name__)
        cause.gaplab_trace = "remote traceback (last lines):\n" + "\n".join(lines[-TRACE_LINES:])  # type: ignore[attr-defined]
        return cause.with_traceback(None)
    if isinstance(exc, rx.RayError):
        text = _ANSI.sub("", str(exc)).strip().splitlines()
        return ClusterError(f"{type(exc).__name__}: {text[0] if text else ''}")
    return exc


def _settle(fut: Future[Any], pack: list[RunSpec]) -> Future[list[RunResult]]:
    """A future of the pack's results with the driver's specs on them (the worker's name the shipped paths),
    or of the cleaned-up error."""
    out: Future[list[RunResult]] = Future()

    def done(f: Future[Any]) -> None:
        try:
            results = f.result()
        except BaseException as exc:  # whatever the task raised is the pack's failure
            try:
                exc = clean_error(exc)
            finally:  # never leave the driver waiting on this pack
                out.set_exception(exc)
            return
        for r, s in zip(results, pack, strict=True):
            r.spec = s
        out.set_result(results)

    fut.add_done_callback(done)
    return out


def device_free_bytes() -> int:
    """Free memory of one GPU of the cluster, asked of a Ray task that holds it (the driver may have no GPU)."""
    import ray

    def free() -> int:
        import torch

        return int(torch.cuda.mem_get_info(0)[0])

    return int(ray.get(ray.remote(num_gpus=1, num_cpus=0)(free).remote(), timeout=300))


def gpu_request(gpus_per_pack: float) -> tuple[dict[str, float], int]:
    """Ray options of a pack task on a GPU (``num_gpus``) and the memory one pack may plan to use: its share of a
    GPU's free memory."""
    import ray

    if not 0 < gpus_per_pack <= 1:
        raise SpecError(f"gpus_per_pack: a pack asks for a share of one GPU in (0, 1], got {gpus_per_pack}")
    have = ray.cluster_resources().get("GPU", 0)
    if have < gpus_per_pack:
        raise SpecError("device cuda: the Ray cluster has no GPU (ray status lists its resources); start its nodes "
                        "on GPU machines or use --device cpu")
    return {"num_gpus": gpus_per_pack}, int(device_free_bytes() * gpus_per_pack * GPU_MEMORY_SHARE)


def _note(msg: str) -> None:
    sys.stderr.write(f"gaplab: {msg}\n")
    sys.stderr.flush()


def _checkpoint_folder(store: Store | None, given: str | None, every: float, local: bool) -> str | None:
    """Where packs checkpoint: ``given`` (checked now), else beside the store on a local cluster, else nowhere."""
    if every <= 0:
        return None
    if given is not None:
        return check_location(given)
    if store is None:
        return None
    if local:
        return str(checkpoint_dir(store.path))
    _note("no pack checkpoints on a remote cluster without --checkpoint-dir (a folder or URL every node sees): "
          "a lost node's packs start again")
    return None


class _Driver:
    """This process's hold on Ray for one sweep: the connection (started here or joined), the reaper of a local
    cluster, the shipped files; ``close`` undoes what was set up here, whatever failed."""

    def __init__(self, address: str | None, num_cpus: int | None) -> None:
        import ray

        self.address = address
        self.num_cpus = num_cpus
        self.started_here = not ray.is_initialized()
        self.local = self.started_here and address is None  # a cluster on this machine: workers see our folders
        self.reaper: _Reaper | None = None
        self.shipment: Shipment | None = None

    def ship(self, specs: list[RunSpec]) -> None:
        """Stage the files ``specs`` name (data files only for a remote cluster), then connect with them."""
        self.shipment = stage(specs, data=not self.local)
        self.connect()

    def connect(self) -> None:
        """Start (or join) the Ray connection with the shipment as its runtime env, once; joining one started
        elsewhere is allowed only when nothing has to be shipped."""
        import ray

        if not self.started_here:
            if self.shipment is not None:
                # Ray uploads local folders only for a job's runtime_env, which its ray.init sets
                raise SpecError("a Ray sweep of user model or data files must start its own Ray connection: call "
                                "ray.shutdown() first and pass the cluster's address (gaplab ships the files then)")
            return
        if ray.is_initialized():
            return
        if self.local:
            self.reaper = _Reaper()
        # a local cluster's workers inherit this process's environment (GAPLAB_* settings included)
        ray.init(address=self.address, num_cpus=None if self.address else (self.num_cpus or os.cpu_count()),
                 include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env=self.shipment.runtime_env() if self.shipment is not None else None)

    def tick(self) -> None:
        """Tell the reaper (if any) about the cluster's processes started so far."""
        if self.reaper is not None:
            self.reaper.update()

    def close(self) -> None:
        """Shut down a connection started here, then let the reaper finish and remove the staged files."""
        import ray

        if self.started_here and ray.is_initialized():
            ray.shutdown()
        if self.reaper is not None:
            self.reaper.close()
        if self.shipment is not None:
            self.shipment.cleanup()


@dataclass(frozen=True)
class _TaskSettings:
    """What every pack task of a sweep is given besides its specs."""

    keep_state: bool
    threads: int
    checkpoint_every: float


def _drive(book: SweepBook, driver: _Driver, options: dict[str, Any], task: _TaskSettings,
           progress: ProgressFn | None) -> dict[str, Any]:
    """Submit the book's packs as Ray tasks, as many at once as the cluster has CPU slots, until all are settled."""
    import ray

    if "GAPLAB_TASK_MARKERS" in os.environ and not driver.local:
        options["runtime_env"] = {"env_vars": {"GAPLAB_TASK_MARKERS": os.environ["GAPLAB_TASK_MARKERS"]}}
    remote = ray.remote(_train_remote).options(**options)
    slots = max(1, int(ray.cluster_resources().get("CPU", 1)) // task.threads)
    package = driver.shipment.name if driver.shipment is not None else None

    def submit(pack: list[RunSpec], ck_folder: str | None, _label: str) -> Future[list[RunResult]]:
        ref = remote.remote([s.normalized() for s in pack], [s.run_id for s in pack], task.keep_state,
                            task.threads, ck_folder, task.checkpoint_every, package)
        driver.tick()
        return _settle(ref.future(), pack)

    def on_progress(label: str, done: int, total: int) -> None:
        driver.tick()
        if progress is not None:
            progress(label, done, total)

    driver.tick()
    return book.drive(slots, submit, on_progress, " (ray)")


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
    checkpoint_dir: str | None = None,
    gpus_per_pack: float = GPUS_PER_PACK,
) -> dict[str, Any]:
    """Train every pending spec as Ray tasks (one per pack); same return value as ``run_local``.

    ``checkpoint_dir``: a folder or fsspec URL every node sees (default: beside the store on a local cluster;
    none on a remote one). ``gpus_per_pack``: the share of one GPU each pack task asks for with device cuda.
    """
    require_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    specs = list(specs)
    driver = _Driver(address, num_cpus)
    folder = _checkpoint_folder(store, checkpoint_dir, checkpoint_every, driver.local)
    cuda = any(s.device.startswith("cuda") for s in specs)
    try:
        options: dict[str, Any] = {"num_cpus": threads_per_task, "max_retries": TASK_RETRIES}
        budget = None
        if cuda:  # the GPU's memory decides the packs: connect (shipping every run's files) before planning
            driver.ship(specs)
            gpu, budget = gpu_request(gpus_per_pack)
            options.update(gpu)
        book = SweepBook(specs, store, group, max_pack, keep_state, checkpoint_every if folder else 0,
                         checkpoint_root=folder, budget=budget)
        if not book.packs:
            return book.summary()
        if not cuda:  # ship before any pack starts: a file that cannot travel fails the sweep here, with its name
            driver.ship([s for p in book.packs for s in p])
        return _drive(book, driver, options, _TaskSettings(keep_state, threads_per_task, checkpoint_every), progress)
    finally:
        driver.close()
