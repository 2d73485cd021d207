"""Packs side by side in threads of this process, each pack's ops on one torch thread, with a halt flag.

A pack step is a chain of small ops that a second OpenMP thread mostly waits through (docs/performance.md); packs
side by side use every core instead and give the numbers of one-thread runs. The sweep (engine.executor) and the
doctor's packs (doctor.parallel) both train this way: ``PackThreads`` is the pool, ``check_halt`` a pack's step
check, ``run_in_threads`` a fixed list of tasks run to the end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar

import torch

T = TypeVar("T")
WAIT = 0.2  # seconds: a driver waits in slices, so that a Ctrl-C landing on another thread reaches it while packs train


class Halted(BaseException):
    """Raised at a pack's next step (``check_halt``) once its pool was halted: by Ctrl-C, or a failed pack."""


# the halt flag of the pool a pack thread works for (each pool its own: two doctors in one process, as the dashboard
# may run them, do not stop each other)
_HALT: ContextVar[threading.Event | None] = ContextVar("gaplab_pack_halt", default=None)


def check_halt() -> None:
    """Stop this pack (``Halted``) once its pool was halted: a pack's ``on_step`` calls this. Outside a pool's
    threads it does nothing."""
    halt = _HALT.get()
    if halt is not None and halt.is_set():
        raise Halted


class PackThreads:
    """A pool of ``slots`` threads for packs side by side, torch on one thread while it is open (restored after).

    Leaving the ``with`` block on an exception (Ctrl-C) halts every pack at its next ``check_halt``; either way it
    returns once every thread ended, queued tasks cancelled."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.flag = threading.Event()

    def __enter__(self) -> PackThreads:
        self.before = torch.get_num_threads()
        torch.set_num_threads(1)
        self.pool = ThreadPoolExecutor(self.slots, thread_name_prefix="gaplab-pack")
        return self

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """``fn(*args)`` in a pool thread, where ``check_halt`` reads this pool's flag."""
        return self.pool.submit(self._run, fn, *args)

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        _HALT.set(self.flag)  # in this pool's own thread
        return fn(*args)

    def halt(self) -> None:
        """Every pack stops at its next ``check_halt``."""
        self.flag.set()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is not None:
            self.halt()
        try:
            self.pool.shutdown(wait=True, cancel_futures=True)
        finally:
            torch.set_num_threads(self.before)


def run_in_threads(tasks: list[Callable[[], T]]) -> list[T]:
    """Each task's result, the tasks run at once in ``PackThreads``; one task runs here as it is. A task that fails
    halts the others and its exception is raised once every task ended; so does Ctrl-C."""
    if len(tasks) == 1:
        return [tasks[0]()]
    with PackThreads(len(tasks)) as threads:
        futures = [threads.submit(t) for t in tasks]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=WAIT, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                threads.halt()
    failed = [e for f in futures if (e := f.exception()) is not None]
    if failed:
        raise next((e for e in failed if not isinstance(e, Halted)), failed[0])
    return [f.result() for f in futures]
