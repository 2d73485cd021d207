"""Run many specs: skip what the store has, group the rest into packs, train them, store each run.

The local executor trains packs in this process (side by side in threads, one torch thread each, when torch has
several), or in worker processes that die with it;
the Ray executor (engine.ray_executor) sends packs as tasks. Either way only the driver writes to the store,
claims a pack's runs in the store before training them (so concurrent sweeps on one store never train a run
twice), and resumes a pack killed mid-training from its checkpoint (engine.checkpoint).
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gaplab.engine.checkpoint import DEFAULT_EVERY, Checkpointer, check_location, checkpoint_dir
from gaplab.engine.pack import RunResult, train_pack
from gaplab.engine.planning import (  # MAX_SIDE_BY_SIDE, side_by_side: also read from here (tests, benchmarks)
    DEFAULT_MAX_PACK,
    MAX_SIDE_BY_SIDE,
    pack_cost,
    schedule,
    side_by_side,
)
from gaplab.engine.threads import WAIT, PackThreads, check_halt
from gaplab.spec import RunSpec
from gaplab.store.db import STALE_AFTER, Store, new_owner

__all__ = ["MAX_SIDE_BY_SIDE", "SweepBook", "run_local", "side_by_side", "unique_pending"]


def unique_pending(specs: Iterable[RunSpec], store: Store | None,
                   keep_state: bool = False) -> tuple[list[RunSpec], list[str]]:
    """Drop duplicate specs and those already finished in the store; return (pending, all ids).

    With ``keep_state`` a finished run whose weights were not kept counts as pending.
    """
    seen: dict[str, RunSpec] = {}
    for s in specs:
        seen.setdefault(s.run_id, s)
    ids = list(seen)
    done = store.finished(ids) if store is not None else set()
    if keep_state and store is not None:
        done &= store.with_state(ids)
    return [s for i, s in seen.items() if i not in done], ids


def save_result(store: Store, r: RunResult, groups: Iterable[str] = ()) -> None:
    store.save_run(r.run_id, r.spec.normalized(), r.status, r.history, r.final, r.seconds, r.error, groups,
                   state=r.state)


ProgressFn = Callable[[str, int, int], None]
# submit(pack, checkpoint folder or None, progress label) -> a future of the pack's results
SubmitFn = Callable[[list[RunSpec], str | None, str], "Future[list[RunResult]]"]

HEARTBEAT_EVERY = STALE_AFTER / 6
WAIT_POLL = 1.0  # seconds between looks at runs another sweep is training


class SweepBook:
    """Bookkeeping every executor shares: what is pending, the packs, counts, claims and writing results.

    Packs are planned over every run of the sweep whose pack group still has pending runs, then cut down to
    the pending ones: a re-run after a kill plans the same packs, so each finds its checkpoint.
    """

    def __init__(self, specs: Iterable[RunSpec], store: Store | None, group: str | None, max_pack: int,
                 keep_state: bool, checkpoint_every: float = DEFAULT_EVERY, checkpoint_root: str | None = None,
                 budget: int | None = None, workers: int | None = None) -> None:
        """``checkpoint_root``: folder or fsspec URL of the pack checkpoints (default beside the store);
        ``budget``: bytes one pack may use (default: engine.planning.memory_budget); ``workers``: local processes
        (1: this one), None for a cluster's; the packs and how many train at once: engine.planning.schedule."""
        self.store = store
        uniq: dict[str, RunSpec] = {}
        for s in specs:
            uniq.setdefault(s.run_id, s)
        pending, self.ids = unique_pending(uniq.values(), store, keep_state)
        self.keep_state = keep_state
        self.groups = [group] if group else []
        if store is not None and group:
            store.tag(group, self.ids)
        self.schedule = schedule(uniq.values(), workers, max_pack, pending={s.run_id for s in pending},
                                 budget=budget)
        self.packs = self.schedule.packs
        self.total_epochs = sum(p[0].optim.epochs for p in self.packs)
        self.done_epochs = 0
        self.counts: dict[str, Any] = {"runs": len(self.ids), "skipped": len(self.ids) - len(pending),
                                       "trained": 0, "failed": 0, "diverged": 0}
        self.results: list[RunResult] = []
        self.errors: dict[str, str] = {}  # run id -> error and traceback of a pack that raised
        default = str(checkpoint_dir(store.path)) if store is not None else None
        self.checkpoints = (checkpoint_root or default) if checkpoint_every > 0 else None
        self.owner = new_owner()

    def record(self, out: list[RunResult]) -> None:
        """Store a finished pack's runs (the driver is the only writer)."""
        for r in out:
            self.counts["trained"] += 1
            self.counts["diverged"] += r.status == "diverged"
            if self.store is not None:
                save_result(self.store, r, self.groups)
        self.results.extend(out)

    def fail(self, pack: list[RunSpec], exc: BaseException) -> None:
        """Record every run of a pack that raised as failed; the next sweep retries them."""
        self.counts["failed"] += len(pack)
        msg = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        # a remote pack's error brings the end of its worker's traceback; the driver's frames would say nothing
        trace = getattr(exc, "gaplab_trace", None) or "".join(traceback.format_exception(exc, limit=-3))
        text = msg + "\n" + trace
        for s in pack:
            self.errors[s.run_id] = text
            if self.store is not None:
                self.store.save_failed(s.run_id, s.normalized(), text)

    def summary(self) -> dict[str, Any]:
        return {**self.counts, "ids": self.ids, "results": self.results, "errors": self.errors}

    # ---- claims ------------------------------------------------------------------------------
    def _claim(self, pack: list[RunSpec]) -> tuple[list[RunSpec], list[RunSpec]]:
        """(runs of ``pack`` this sweep now holds, runs another live sweep holds); finished ones drop out."""
        if self.store is None:
            return pack, []
        mine, finished = self.store.claim_split([s.run_id for s in pack], self.owner)
        self.counts["skipped"] += len(finished)
        return ([s for s in pack if s.run_id in mine],
                [s for s in pack if s.run_id not in mine and s.run_id not in finished])

    @contextmanager
    def _heartbeat(self) -> Iterator[None]:
        """Beat this sweep's claims from a thread (own connection) while packs train; release them at the end."""
        if self.store is None:
            yield
            return
        stop = threading.Event()

        def beat() -> None:
            hb = Store(self.store.path)  # type: ignore[union-attr]
            try:
                while not stop.wait(HEARTBEAT_EVERY):
                    try:
                        hb.heartbeat(self.owner)
                    except sqlite3.OperationalError:  # store busy for a whole timeout: beat again next time
                        pass
            finally:
                hb.close()

        t = threading.Thread(target=beat, name="gaplab-heartbeat", daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            self.store.release(self.owner)

    # ---- the driver loop ---------------------------------------------------------------------
    def drive(self, slots: int, submit: SubmitFn, progress: ProgressFn | None, label: str = "") -> dict[str, Any]:
        """Claim packs and keep up to ``slots`` of them training; store each as it finishes.

        Runs another live sweep holds are waited for (and taken over if its claims go stale), so every run
        asked for is stored when this returns. A pack that raises is recorded as failed and the sweep goes on.
        """
        queue = list(self.packs)
        inflight: dict[Future[list[RunResult]], list[RunSpec]] = {}
        elsewhere: list[list[RunSpec]] = []  # parts of packs that other sweeps hold
        n_done = 0
        with self._heartbeat():
            while queue or inflight or elsewhere:
                while queue and len(inflight) < slots:
                    mine, theirs = self._claim(queue.pop(0))
                    if theirs:
                        elsewhere.append(theirs)
                    if mine:
                        n = n_done + len(inflight) + 1
                        tag = f"pack {n}/{len(self.packs)} ({len(mine)} × {mine[0].model.name}){label}"
                        inflight[submit(mine, self.checkpoints, tag)] = mine
                if not inflight:
                    if elsewhere:  # only runs other sweeps train: look again in a moment
                        time.sleep(WAIT_POLL)
                        queue, elsewhere = elsewhere, []
                    continue
                # timed: a Ctrl-C that lands on another thread is only seen when this thread wakes
                done, _ = wait(inflight, timeout=WAIT, return_when=FIRST_COMPLETED)
                for fut in done:
                    self._finish(inflight.pop(fut), fut)
                    n_done += 1
                    if progress is not None:
                        progress(f"{n_done}/{len(self.packs)} packs{label}", self.done_epochs, self.total_epochs)
        return self.summary()

    def _finish(self, pack: list[RunSpec], fut: Future[list[RunResult]]) -> None:
        """Store a finished pack's results (or its failure), drop its checkpoint and count its epochs."""
        try:
            self.record(fut.result())
        except Exception as exc:  # a broken pack must not take the sweep down
            self.fail(pack, exc)
        if self.checkpoints is not None:
            Checkpointer(self.checkpoints, [s.run_id for s in pack]).delete()
        self.done_epochs += pack[0].optim.epochs


def _done(value: list[RunResult] | None = None, exc: BaseException | None = None) -> Future[list[RunResult]]:
    fut: Future[list[RunResult]] = Future()
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value or [])
    return fut


def run_local(
    specs: Iterable[RunSpec],
    store: Store | None,
    group: str | None = None,
    max_pack: int = DEFAULT_MAX_PACK,
    progress: ProgressFn | None = None,
    keep_state: bool = False,
    workers: int = 1,
    checkpoint_every: float = DEFAULT_EVERY,
    checkpoint_dir: str | None = None,
) -> dict[str, Any]:
    """Train every pending spec in packs; returns counts and the ids of the runs asked for.

    ``progress(label, done_epochs, total_epochs)`` is called after every epoch of every pack.
    ``keep_state`` keeps each run's final weights (in the store and on the results).
    ``workers`` > 1 trains packs concurrently in that many processes (see ``_run_workers``).
    ``checkpoint_every`` seconds of training between pack checkpoints (0 = none), in ``checkpoint_dir`` (a folder
    or fsspec URL; default beside the store).
    A pack that raises is recorded as failed run by run and the sweep goes on.
    """
    root = check_location(checkpoint_dir) if checkpoint_dir is not None and checkpoint_every > 0 else None
    book = SweepBook(specs, store, group, max_pack, keep_state, checkpoint_every, root, workers=workers)
    at_once = book.schedule.at_once
    if at_once > 1 and not book.schedule.in_threads:
        return _run_workers(book, workers, progress, keep_state, checkpoint_every)
    if at_once > 1:
        return _run_threads(book, at_once, progress, keep_state, checkpoint_every)

    def submit(pack: list[RunSpec], folder: str | None, label: str) -> Future[list[RunResult]]:
        base = book.done_epochs

        def on_epoch(e: int, _total: int) -> None:
            if progress is not None:
                progress(label, base + e, book.total_epochs)

        ck = Checkpointer(folder, [s.run_id for s in pack], checkpoint_every) if folder else None
        try:
            return _done(train_pack(pack, on_epoch, keep_state=keep_state, checkpoint=ck))
        except Exception as exc:  # KeyboardInterrupt goes on up: the checkpoint stays for the next run
            return _done(exc=exc)

    return book.drive(1, submit, None)


# ---- packs side by side in threads of this process -----------------------------------------
def _run_threads(book: SweepBook, slots: int, progress: ProgressFn | None, keep_state: bool,
                 checkpoint_every: float) -> dict[str, Any]:
    """Train up to ``slots`` packs at once in threads of this process (engine.threads), each pack's ops on one torch
    thread: they use every core, give the numbers of one-thread runs, and slow down gracefully on a shared machine
    (no spinning threads). Longest packs start first; only this thread writes to the store. A Ctrl-C stops every
    pack at its next step, its last checkpoint kept for the next run."""
    book.packs = sorted(book.packs, key=pack_cost, reverse=True)
    lock = threading.Lock()
    running: dict[int, int] = {}  # submit number -> epochs done, of the packs in flight

    def train(key: int, pack: list[RunSpec], folder: str | None, label: str) -> list[RunResult]:
        def on_epoch(e: int, _total: int) -> None:
            with lock:
                running[key] = e
                if progress is not None:
                    progress(label, book.done_epochs + sum(running.values()), book.total_epochs)

        ck = Checkpointer(folder, [s.run_id for s in pack], checkpoint_every) if folder else None
        try:
            return train_pack(pack, on_epoch, keep_state=keep_state, checkpoint=ck,
                              on_step=lambda _e, _s, _losses: check_halt(), own_threads=False)
        finally:
            with lock:
                running.pop(key, None)

    n = itertools.count()
    with PackThreads(slots) as threads:

        def submit(pack: list[RunSpec], folder: str | None, label: str) -> Future[list[RunResult]]:
            return threads.submit(train, next(n), pack, folder, label)

        return book.drive(slots, submit, None)


# ---- worker processes that die with their parent ----------------------------------------------
PR_SET_PDEATHSIG = 1
WATCH_EVERY = 1.0


def die_with_parent(parent: int) -> None:
    """Make this (worker) process exit when process ``parent`` dies, however it died.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` has the kernel kill us when the parent goes; a daemon thread
    also checks ``os.getppid()`` every second (other systems, or a parent that died before the prctl).
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(WATCH_EVERY)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="gaplab-parent-watch", daemon=True).start()


def _train_in_worker(spec_data: list[dict[str, Any]], keep_state: bool, threads: int, folder: str | None,
                     every: float) -> list[RunResult]:
    """Runs in a worker process: rebuild the specs and train the pack (resuming from its checkpoint)."""
    import torch

    from gaplab.spec import parse_run

    torch.set_num_threads(threads)
    specs = [parse_run(d) for d in spec_data]
    marker = os.environ.get("GAPLAB_TASK_MARKERS")
    if marker:  # test hook: announce which process trains a pack, so a test can kill the sweep mid-pack
        Path(marker, f"{os.getpid()}").write_text(str(time.time()))
    ck = Checkpointer(folder, [s.run_id for s in specs], every) if folder else None
    return train_pack(specs, keep_state=keep_state, checkpoint=ck)


def _run_workers(book: SweepBook, workers: int, progress: ProgressFn | None, keep_state: bool,
                 checkpoint_every: float) -> dict[str, Any]:
    """Train packs concurrently in ``workers`` spawned processes, one core's worth of threads each.

    Small packs are bound by per-step overhead, not FLOPs, so two single-threaded processes beat one process
    with two threads (whose second OpenMP thread mostly spins). Longest packs are started first; the driver
    alone writes to the store. Workers exit when the driver dies (``die_with_parent``).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // workers)
    book.packs = sorted(book.packs, key=pack_cost, reverse=True)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent, initargs=(os.getpid(),)) as pool:

        def submit(pack: list[RunSpec], folder: str | None, _label: str) -> Future[list[RunResult]]:
            return pool.submit(_train_in_worker, [s.normalized() for s in pack], keep_state, threads, folder,
                               checkpoint_every)

        try:
            return book.drive(workers, submit, progress, f" ({workers} workers)")
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
