"""What a study's ``measure`` phase gets: its trained runs, its seed, and the seeds of its runs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gaplab.spec import RunSpec, parse_run


def run_seeds(seed: int, n: int) -> list[int]:
    """A study's ``n`` run seeds, derived from its ``--seed``: seed s gives s·n, …, s·n + n − 1.

    Different study seeds give disjoint seed sets (so the seed-to-seed spread of a verdict is measured on
    independent runs), and seed 0 gives 0, …, n − 1.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"a study needs at least 1 seed, not {n}")
    return [seed * n + i for i in range(n)]


def run_spec(data: dict[str, Any], seed: int) -> RunSpec:
    """Validate a run spec given as plain data (its seed defaults to the study's ``seed``)."""
    return parse_run({"seed": seed, **data})


@dataclass
class StoredRun:
    """A finished run as a study sees it: spec, status, final metrics and per-epoch history."""

    spec: RunSpec
    status: str
    final: dict[str, Any]
    history: list[dict[str, Any]]
    state: dict[str, Any] | None = None

    def model(self) -> Any:
        """The trained model (final or best weights) in eval mode; needs the study's ``keep_state=True``."""
        from gaplab.engine import build_trained

        if self.state is None:
            raise RuntimeError("weights were not kept: declare the study with keep_state=True")
        return build_trained(self.spec, self.state)

    @property
    def run_id(self) -> str:
        return self.spec.run_id

    def curve(self, metric: str) -> list[float]:
        return [h.get(metric, math.nan) if h.get(metric) is not None else math.nan for h in self.history]


@dataclass(frozen=True)
class StudyContext:
    """The input of ``measure``: the study's ``--seed``, its trained runs keyed as ``specs`` keyed them, and
    ``as_measured`` (the quick preset without overrides, where a ``MeasuredSpread`` was measured)."""

    name: str
    preset: str
    seed: int
    runs: Mapping[Any, StoredRun]
    as_measured: bool = False

    def seeds(self, n: int) -> list[int]:
        """The study's ``n`` run seeds (``run_seeds``)."""
        return run_seeds(self.seed, n)
