"""A family's copies trained as several packs at once, in threads of this process, each pack's ops on one torch
thread: on a multi-core CPU a second OpenMP thread inside one pack's small ops mostly waits (docs/performance.md),
while packs side by side use every core (``engine.executor._run_threads`` does the same for sweeps)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextvars import ContextVar
from typing import TypeVar

import numpy as np
import torch

from gaplab.engine import MAX_SIDE_BY_SIDE

T = TypeVar("T")
WAIT = 0.2  # seconds: the driver waits in slices, so that Ctrl-C reaches it while the packs train


class Halted(BaseException):
    """Raised at a pack's next step once the driver was interrupted."""


# the interrupt of the side_by_side call a pack thread works for (each call its own: two doctors in one process, as
# the dashboard may run them, do not stop each other)
_HALT: ContextVar[threading.Event | None] = ContextVar("gaplab_doctor_halt", default=None)


def packs_at_once(n: int, device: str) -> int:
    """How many packs ``n`` copies (or groups of copies) train as at once: torch's thread count, at most
    ``MAX_SIDE_BY_SIDE`` and ``n``; one off the CPU (packs there share the device, not the threads)."""
    if device.split(":", 1)[0] != "cpu":
        return 1
    return max(1, min(torch.get_num_threads(), MAX_SIDE_BY_SIDE, n))


def split(n: int, parts: int) -> list[range]:
    """``range(n)`` cut into ``parts`` consecutive runs as even as can be (none empty when ``parts`` ≤ n)."""
    cuts = [round(i * n / parts) for i in range(parts + 1)]
    return [range(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def check_halt() -> None:
    """Stop this pack (``Halted``) once the driver was interrupted: a pack's ``on_step`` calls this."""
    halt = _HALT.get()
    if halt is not None and halt.is_set():
        raise Halted


def side_by_side(tasks: list[Callable[[], T]]) -> list[T]:
    """Each task's result, the tasks run at once in threads with torch on one thread (restored after); one task
    runs here as it is. A task that fails stops the others at their next step (``check_halt``) and its exception is
    raised once every task ended; so does Ctrl-C."""
    if len(tasks) == 1:
        return [tasks[0]()]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    halt = threading.Event()

    def run(task: Callable[[], T]) -> T:
        _HALT.set(halt)  # in this pool's own thread
        return task()

    pool = ThreadPoolExecutor(len(tasks), thread_name_prefix="gaplab-doctor")
    try:
        futures = [pool.submit(run, t) for t in tasks]
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=WAIT, return_when=FIRST_EXCEPTION)
                if any(f.exception() is not None for f in done):
                    halt.set()
        except BaseException:
            halt.set()
            raise
        failed = [e for f in futures if (e := f.exception()) is not None]
        if failed:
            raise next((e for e in failed if not isinstance(e, Halted)), failed[0])
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=True)
        torch.set_num_threads(before)


class Vote:
    """A decision that packs trained side by side take together: at each ``point``, every pack's boolean vector,
    OR-ed (a pack that ended counts as voting for nothing at every later point)."""

    def __init__(self, packs: int) -> None:
        self.packs = packs
        self.cond = threading.Condition()
        self.votes: dict[int, dict[int, np.ndarray]] = {}
        self.ended: set[int] = set()

    def agree(self, point: int, pack: int, keep: np.ndarray) -> np.ndarray:
        """The OR of every pack's vote at ``point`` (this one's ``keep`` included), once each pack voted or ended."""
        with self.cond:
            self.votes.setdefault(point, {})[pack] = keep
            self.cond.notify_all()
            while not all(p in self.votes[point] or p in self.ended for p in range(self.packs)):
                self.cond.wait(WAIT)
                check_halt()
            return np.logical_or.reduce(list(self.votes[point].values()))

    def end(self, pack: int) -> None:
        """``pack`` trains no more (finished, diverged or failed): the others stop waiting for it."""
        with self.cond:
            self.ended.add(pack)
            self.cond.notify_all()
