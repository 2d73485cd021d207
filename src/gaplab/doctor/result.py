"""What a diagnosis holds: one ``Finding`` per measured symptom and the ``Diagnosis`` that collects them.

Two judgements of a measured number carry two names. A doctor check grades a symptom of *this* run: its result
is a ``Finding``, the value against a band scaled to the task, graded PASS / WARN / FAIL, with a likely cause and
a fix. A study's ``gaplab.studies.checks.Check`` tests a *claim*: value, comparison, threshold and the resolution
its seeds can tell apart, decided as held / did not hold / undecided. Both keep the measured ``value``; a
finding's ``band`` is a check's threshold in words, its ``cause`` a check's reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
NA = "n/a"  # the check cannot run on this model or data (its reason in ``shown`` and ``details["reason"]``)
_RANK = {NA: -1, PASS: 0, WARN: 1, FAIL: 2}

# Check families in the order they run and are printed; ``diagnose(checks=[...])`` takes these names.
FAMILIES = ("data", "init", "input", "overfit", "lr", "dynamics", "bias_variance", "label_noise")


@dataclass
class Finding:
    """What one doctor check found: its value against a band scaled to the task, a grade (PASS/WARN/FAIL), a
    likely cause and a remedy."""

    family: str
    name: str
    value: float | None  # the measured number (None when the check could not measure)
    shown: str  # the value as printed (with units)
    band: str  # the expected band, in words and numbers
    verdict: str  # PASS, WARN or FAIL
    cause: str = ""
    fix: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in _RANK:
            raise ValueError(f"verdict must be PASS, WARN, FAIL or n/a, got {self.verdict!r}")


def not_applicable(family: str, name: str, reason: str) -> Finding:
    """A check that cannot run on this model or data, and why (shown in the table, ``--json`` and the object)."""
    return Finding(family, name, None, f"n/a: {reason}", "—", NA, details={"reason": reason})


def verdict_of(value: float, warn: float, fail: float, higher_is_worse: bool = True) -> str:
    """PASS/WARN/FAIL for ``value`` against a warn and a fail threshold."""
    if not higher_is_worse:
        value, warn, fail = -value, -warn, -fail
    if value >= fail:
        return FAIL
    return WARN if value >= warn else PASS


@dataclass
class Diagnosis:
    """Every check of one doctor run (one that cannot run on this model or data is listed as n/a, with why), the
    paragraph derived from them, and what was measured on."""

    spec: dict[str, Any]
    task: dict[str, Any]
    checks: list[Finding]
    summary: str = ""
    mode: str = "default"
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    plots: list[str] = field(default_factory=list)
    suggested_lr: float | None = None
    # label noise: every training example's id, given label and out-of-fold class probabilities (for cleanlab)
    out_of_fold: dict[str, Any] | None = None

    @property
    def worst(self) -> str:
        """The worst verdict of any check that ran (PASS when there are none; n/a checks do not count)."""
        return max((c.verdict for c in self.checks if c.verdict != NA), key=_RANK.__getitem__, default=PASS)

    def failed(self) -> list[Finding]:
        return [c for c in self.checks if c.verdict == FAIL]

    def warned(self) -> list[Finding]:
        return [c for c in self.checks if c.verdict == WARN]

    def not_applicable(self) -> list[Finding]:
        """The checks that could not run here, each with its reason (``details["reason"]``)."""
        return [c for c in self.checks if c.verdict == NA]

    def check(self, name: str) -> Finding:
        """The check called ``name`` (KeyError when it did not run)."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; ran: {', '.join(c.name for c in self.checks)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: what ``--json`` prints and the store keeps."""
        return {**asdict(self), "worst": self.worst,
                "counts": {v: sum(c.verdict == v for c in self.checks) for v in (PASS, WARN, FAIL, NA)}}
