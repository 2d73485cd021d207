"""A family's copies trained as several packs at once (the engine's ``run_in_threads``, as sweeps train theirs): how
they are cut into groups, and the decisions the packs take together (``Vote``)."""

from __future__ import annotations

import threading

import numpy as np

from gaplab.engine import check_halt, is_cpu, slots

WAIT = 0.2  # seconds: a vote waits in slices, so that a halt reaches it


def split(n: int, parts: int) -> list[range]:
    """``range(n)`` cut into ``parts`` consecutive runs as even as can be (none empty when ``parts`` ≤ n)."""
    cuts = [round(i * n / parts) for i in range(parts + 1)]
    return [range(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def groups_for(n: int, device: str) -> list[range]:
    """``n`` copies cut into as many groups as packs train at once on ``device`` (engine ``slots``)."""
    return split(n, slots(n, is_cpu(device)))


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
