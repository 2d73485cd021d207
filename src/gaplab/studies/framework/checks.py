"""A study's verdict from the checks it declares once: ``held``, the rule sentence and the checks table.

Usage (a study's ``checks(m, p)`` phase; thresholds and resolutions come from the preset ``p``)::

    from gaplab.studies.framework import Check

    return [
        Check("noise_explodes", "best degree ≥ 6 / best degree, 7 noisy points", ratio, ">=", p.explode_factor),
        Check("clean_fits", "test MSE of degree 6, 7 clean points", mse6, "<", p.clean_mse_max,
              resolution=p.clean_mse_resolution),
    ]

The framework derives everything else (``decide``): ``held`` is False if any check fails by more than its
resolution, None ("undecided at this size") if no check fails decisively but some check's |margin| is below its
resolution (or its value could not be measured, NaN), and True otherwise. The summary written to
``verdict.json`` is "<verdict words>: <your summary> Rule: <the checks as a sentence>.", so the verdict words
cannot disagree with ``held``; ``verdict.json["checks"]`` holds one row per check (``Check.row``).

A check's *margin* is how far the value clears the threshold, in the value's units (positive = passed, negative =
failed); ``relative_margin`` divides it by |threshold|. ``resolution`` is the smallest |margin| the preset can
resolve. Every check of a stochastic quantity carries one, derived from a seed-to-seed spread:
``t_resolution(per_seed_values)`` when the study measures the quantity on several seeds,
``jackknife_resolution(stat, n)`` when the value is a function of seed means (a ratio, a point read off a curve), or
``MeasuredSpread`` (``spread_resolution(sd, m)``) from a spread measured once over m study seeds and kept in the
study as a constant, ``Study(spread=...)`` (with one seed per run a study cannot measure its own spread). A check
whose value has no seed-to-seed noise to resolve (an algebraic identity, a guard that counts broken runs) says why
in ``exact`` instead; the common study tests enforce that every check has one or the other. Without either (None, or
NaN when a spread was measured on one seed), any margin decides, so a wobble would read "did not hold".

Seeds: ``run_seeds(seed, n)`` (``ctx.seeds(n)`` in ``measure``) gives a study's n run seeds derived from
``--seed`` (disjoint for different seeds), so every study honours the CLI's seed. A study cannot state its verdict
by hand: the verdict is derived from its checks only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
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


def t_quantile(n: int, confidence: float = 0.95) -> float:
    """Two-sided Student-t quantile for a mean over ``n`` values (NaN with fewer than two): 12.7 for 2 values,
    3.18 for 4, 2.09 for 20 — with few seeds the standard error is itself a noisy estimate."""
    if n < 2:
        return math.nan
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, n - 1))


def t_resolution(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> float:
    """Half-width of the ``confidence`` t-interval of the mean over seeds, t·SE: a margin below it is within the
    seed-to-seed wobble. NaN with fewer than two values (one seed measures no spread)."""
    v = np.asarray(values, dtype=float)
    return t_quantile(len(v), confidence) * standard_error(v)


def jackknife_resolution(stat: Callable[[list[int]], float], n: int, confidence: float = 0.95) -> float:
    """t × the jackknife standard error of a statistic of ``n`` seeds, for a check whose value is not a mean over
    seeds (a ratio of means, a value read off a curve of means): ``stat(kept)`` recomputes it on the seeds whose
    indices are in ``kept``. NaN with fewer than two seeds or when a leave-one-out value is not finite."""
    if n < 2:
        return math.nan
    loo = np.array([stat([j for j in range(n) if j != i]) for i in range(n)], dtype=float)
    if not np.all(np.isfinite(loo)):
        return math.nan
    se = math.sqrt((n - 1) / n * float(((loo - loo.mean()) ** 2).sum()))
    return t_quantile(n, confidence) * se


def spread_resolution(sd: float, measured_on: int, confidence: float = 0.95) -> float:
    """Resolution of a one-draw value whose seed-to-seed standard deviation ``sd`` was measured over
    ``measured_on`` study seeds: the ``confidence`` t-interval of one draw, t(measured_on)·sd."""
    return t_quantile(measured_on, confidence) * abs(float(sd))


@dataclass(frozen=True)
class MeasuredSpread:
    """The seed-to-seed standard deviation of each check's value, measured once over ``seeds`` study seeds of the
    quick preset (``benchmarks/verdict_table.py``), for a study whose runs use one seed and so cannot measure it.

    ``log_sd`` holds the standard deviation of ln(value) for positive ratios that spread over orders of magnitude
    (e.g. 600…5400): such a check is resolved when |ln(value / threshold)| ≥ t·log_sd."""

    seeds: int
    sd: dict[str, float]
    log_sd: dict[str, float] = field(default_factory=dict)

    def resolution(self, c: Check) -> float:
        """The resolution of ``c`` from its measured spread (NaN when none was measured)."""
        if c.name in self.log_sd:
            k = spread_resolution(self.log_sd[c.name], self.seeds)
            if not (c.value > 0 and c.threshold > 0 and math.isfinite(c.value)):
                return math.nan
            # the distance from the value to the value moved by a factor e^(±k) toward the threshold
            return c.value * (1 - math.exp(-k)) if c.value > c.threshold else c.value * (math.exp(k) - 1)
        return spread_resolution(self.sd[c.name], self.seeds) if c.name in self.sd else math.nan

    def apply(self, checks: Sequence[Check], as_measured: bool) -> list[Check]:
        """``checks`` with a resolution from the measured spread on each check that has neither a resolution nor an
        exactness reason and whose name has a measured spread. The spread was measured on the quick preset as it is:
        on another preset or with overrides (``as_measured`` False) nothing is changed."""
        if not as_measured:
            return list(checks)
        return [replace(c, resolution=self.resolution(c))
                if c.resolution is None and not c.exact and (c.name in self.sd or c.name in self.log_sd) else c
                for c in checks]


def standard_error(values: Sequence[float] | np.ndarray) -> float:
    """Standard error of the mean over seeds (ddof=1); NaN with fewer than two values (a Check then has no
    resolution, so one seed cannot make a verdict undecided)."""
    v = np.asarray(values, dtype=float)
    return float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) >= 2 else math.nan


@dataclass(frozen=True)
class Check:
    """One declared check: ``value op threshold`` (e.g. ``0.42 < 0.5``), with an optional resolution.

    ``name`` is a short identifier (snake_case), ``what`` says in words what ``value`` measures. ``resolution``:
    the smallest |margin| the preset can resolve (see the module docstring); ``exact``: instead of a resolution,
    why the value carries no seed-to-seed noise to resolve.
    """

    name: str
    what: str
    value: float
    op: str
    threshold: float
    resolution: float | None = None
    exact: str = ""

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"check {self.name}: comparison must be one of {', '.join(OPS)}, not {self.op!r}")
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "threshold", float(self.threshold))
        if self.exact and self.resolution is not None:
            raise ValueError(f"check {self.name}: give a resolution or say why it is exact, not both")
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
        """Margin in units of the resolution (or the relative margin without one): the table's tightness. A zero
        resolution (the value did not vary over the seeds measured) resolves any non-zero margin: ±inf."""
        if self.resolution is not None:
            if self.resolution > 0:
                return self.margin / self.resolution
            return 0.0 if self.margin == 0 else math.copysign(math.inf, self.margin)
        return self.relative_margin if self.threshold != 0 else self.margin

    def sentence(self) -> str:
        """``what`` value op threshold, e.g. 'test MSE of degree 6 0.003 < 0.01'."""
        return f"{self.what} {_num(self.value)} {self.op} {_num(self.threshold)}"

    def row(self) -> dict[str, Any]:
        """The checks-table row (verdict.json and report)."""
        return {"name": self.name, "what": self.what, "value": self.value, "op": self.op,
                "threshold": self.threshold, "passed": self.passed, "margin": self.margin,
                "relative_margin": self.relative_margin, "resolution": self.resolution, "exact": self.exact,
                "resolved": self.resolved}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Check:
        """The check back from its ``row`` (verdict.json stores an unmeasured value as null)."""
        value = math.nan if row["value"] is None else row["value"]
        return cls(row["name"], row["what"], value, row["op"], row["threshold"], row["resolution"],
                   row.get("exact", ""))


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
    return min(checks, key=lambda c: -math.inf if math.isnan(c.score) else c.score)
