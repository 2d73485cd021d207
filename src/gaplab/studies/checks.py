"""A study's verdict from the checks it declares once: ``held``, the rule sentence and the checks table.

Usage (in a study function; thresholds and resolutions come from the preset ``p``)::

    from gaplab.studies.checks import Check

    checks = [
        Check("noise_explodes", "best degree ≥ 6 / best degree, 7 noisy points", ratio, ">=", p.explode_factor),
        Check("clean_fits", "test MSE of degree 6, 7 clean points", mse6, "<", p.clean_mse_max,
              resolution=p.clean_mse_resolution),
    ]
    return Outcome(summary="what was measured, in words (no verdict words)", numbers={...}, checks=checks)

The framework derives everything else (``decide``): ``held`` is False if any check fails by more than its
resolution, None ("undecided at this size") if no check fails decisively but some check's |margin| is below its
resolution (or its value could not be measured, NaN), and True otherwise. The summary written to
``verdict.json`` is "<verdict words>: <your summary> Rule: <the checks as a sentence>.", so the verdict words
cannot disagree with ``held``; ``verdict.json["checks"]`` holds one row per check (``Check.row``).

A check's *margin* is how far the value clears the threshold, in the value's units (positive = passed,
negative = failed); ``relative_margin`` divides it by |threshold|. ``resolution`` is the smallest |margin| the
preset can resolve (e.g. a multiple of the seed-to-seed spread the study measures, or a preset constant);
without one (None, or NaN when a spread was measured on one seed), any margin decides.

Seeds: ``ctx.seeds(n)`` gives a study's n run seeds derived from ``--seed`` (disjoint for different seeds),
so every study honours the CLI's seed. Old-style ``Outcome(held, summary, numbers)`` still works
(no checks table, summary as given).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

OPS = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}
WORDS = {True: "Claim held", False: "Claim did not hold", None: "Undecided at this size"}


def _num(v: float) -> str:
    """A short number for sentences: 3 significant digits, integers as integers."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int) or (isinstance(v, float) and math.isfinite(v) and v == int(v) and abs(v) < 1e6):
        return str(int(v))
    return f"{v:.3g}"


def standard_error(values: Sequence[float] | np.ndarray) -> float:
    """Standard error of the mean over seeds (ddof=1); NaN with fewer than two values (a Check then has no
    resolution, so one seed cannot make a verdict undecided)."""
    v = np.asarray(values, dtype=float)
    return float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) >= 2 else math.nan


@dataclass(frozen=True)
class Check:
    """One declared check: ``value op threshold`` (e.g. ``0.42 < 0.5``), with an optional resolution.

    ``name`` is a short identifier (snake_case), ``what`` says in words what ``value`` measures.
    """

    name: str
    what: str
    value: float
    op: str
    threshold: float
    resolution: float | None = None

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"check {self.name}: comparison must be one of {', '.join(OPS)}, not {self.op!r}")
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "threshold", float(self.threshold))
        if self.resolution is not None:
            r = abs(float(self.resolution))  # NaN (e.g. a spread measured on one seed): no resolution
            object.__setattr__(self, "resolution", r if math.isfinite(r) else None)

    @property
    def measured(self) -> bool:
        """False when the value could not be measured (NaN): the check can decide nothing."""
        return math.isfinite(self.value) or math.isinf(self.value)

    @property
    def passed(self) -> bool:
        return self.measured and bool(OPS[self.op](self.value, self.threshold))

    @property
    def margin(self) -> float:
        """How far the value clears the threshold, in its units: positive when passed, negative when failed."""
        if not self.measured:
            return math.nan
        return self.value - self.threshold if self.op in (">", ">=") else self.threshold - self.value

    @property
    def relative_margin(self) -> float:
        """The margin over |threshold| (NaN for a zero threshold)."""
        return self.margin / abs(self.threshold) if self.threshold != 0 else math.nan

    @property
    def resolved(self) -> bool:
        """True when the margin is at least the resolution, so the outcome of this check is not a coin flip."""
        if not self.measured:
            return False
        return self.resolution is None or abs(self.margin) >= self.resolution

    @property
    def score(self) -> float:
        """Margin in units of the resolution (or the relative margin without one): the table's tightness."""
        if self.resolution:
            return self.margin / self.resolution
        return self.relative_margin if self.threshold != 0 else self.margin

    def sentence(self) -> str:
        """``what`` value op threshold, e.g. 'test MSE of degree 6 0.003 < 0.01'."""
        return f"{self.what} {_num(self.value)} {self.op} {_num(self.threshold)}"

    def row(self) -> dict[str, Any]:
        """The checks-table row (verdict.json and report)."""
        return {"name": self.name, "what": self.what, "value": self.value, "op": self.op,
                "threshold": self.threshold, "passed": self.passed, "margin": self.margin,
                "relative_margin": self.relative_margin, "resolution": self.resolution, "resolved": self.resolved}


def decide(checks: Sequence[Check]) -> tuple[bool | None, str]:
    """``held`` from the checks, and the reason when it is None (undecided)."""
    if not checks:
        raise ValueError("a verdict needs at least one check")
    if any(not c.passed and c.resolved for c in checks):
        return False, ""
    unsure = [c for c in checks if not c.resolved]
    if not unsure:
        return True, ""
    parts = []
    for c in unsure:
        if not c.measured:
            parts.append(f"{c.name} could not be measured")
        else:
            parts.append(f"{c.name} ({c.sentence()}) has margin {_num(c.margin)}, "
                         f"below the resolution {_num(c.resolution or 0.0)} of this preset")
    return None, "; ".join(parts)


def rule_sentence(checks: Sequence[Check]) -> str:
    """The rule in words, derived from the checks: 'all of: A; B; C'."""
    return "held iff all of: " + "; ".join(f"{c.what} {c.op} {_num(c.threshold)}" for c in checks)


def compose_summary(checks: Sequence[Check], findings: str) -> tuple[bool | None, str, str]:
    """``held``, the full summary (verdict words, the study's findings, the undecided reason, the rule) and the
    undecided reason alone ("" unless ``held`` is None)."""
    held, reason = decide(checks)
    findings = findings.strip()
    if findings and findings[-1] not in ".!?":
        findings += "."
    text = f"{WORDS[held]}: {findings}"
    if held is None:
        text += f" Undecided because {reason}; a larger preset (more seeds or data) can decide."
    failed = [c.sentence() for c in checks if not c.passed and c.resolved]
    if failed:
        text += " Failed: " + "; ".join(failed) + "."
    return held, f"{text} Rule: {rule_sentence(checks)}.", reason


def tightest(checks: Sequence[Check]) -> Check:
    """The check closest to flipping (smallest score): the one the verdict table reports."""
    return min(checks, key=lambda c: c.score if math.isfinite(c.score) else -math.inf)
