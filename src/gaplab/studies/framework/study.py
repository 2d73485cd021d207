"""What a study is: a claim, two typed presets and five phases (runs → measured → checks → figures → summary).

A claim module in ``gaplab.studies.claims`` defines ``STUDY = Study(...)``; the registry finds it there. The
phases are plain functions, each testable alone:

- ``specs(p, seed)``: the runs to train, keyed (``{key: RunSpec}``; empty for a study that trains nothing);
- ``measure(ctx, p)``: the numbers, from ``ctx.runs`` (the trained runs, same keys) and ``ctx.seed``; returns the
  study's ``Measured`` dataclass;
- ``checks(m, p)``: the declared checks (``gaplab.studies.framework.checks``), from which the verdict is derived;
- ``figures(m, p)``: ``{name: matplotlib figure}``, saved as PNG and SVG;
- ``summary(m, p)``: what was measured, in words without verdict words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from gaplab.errors import SpecError
from gaplab.studies.framework.checks import Check, MeasuredSpread

if TYPE_CHECKING:
    from gaplab.spec import RunSpec
    from gaplab.studies.framework.context import StudyContext


@dataclass(frozen=True)
class Preset:
    """Base of a study's typed, frozen preset: subclass it with one field per parameter, write ``quick`` in full
    and ``full = replace(quick, ...)`` with what differs. A field named ``threads`` sets torch's thread count for
    the study's training."""

    def as_dict(self) -> dict[str, Any]:
        """The parameters as plain data (``verdict.json["params"]``)."""
        return asdict(self)

    def overridden(self, overrides: Mapping[str, Any], where: str) -> Any:
        """A copy with ``overrides`` (``--set KEY=VALUE``), each checked against the type of the preset's value."""
        mine = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in overrides:
            if k not in mine:
                raise SpecError(f"{where}: unknown parameter {k!r}; choose from {', '.join(sorted(mine))}")
        return replace(self, **{k: _like(mine[k], v, f"{where}: parameter {k}") for k, v in overrides.items()})


_ASIDE = "aside"


def aside(default_factory: Callable[[], Any] | None = None) -> Any:
    """A ``Measured`` field kept for figures and the summary but not written to ``verdict.json``'s numbers."""
    if default_factory is None:
        return field(metadata={_ASIDE: True}, repr=False)
    return field(default_factory=default_factory, metadata={_ASIDE: True}, repr=False)


@dataclass(frozen=True)
class Measured:
    """Base of a study's measured result: one field per number (``numbers()`` writes them to verdict.json), plus
    ``aside()`` fields (runs, curves) that the figures and the summary need."""

    def numbers(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata.get(_ASIDE)}


P = TypeVar("P", bound=Preset)
M = TypeVar("M", bound=Measured)


def no_runs(p: Any, seed: int) -> dict[Any, RunSpec]:
    """``specs`` of a study that trains nothing (closed forms, NumPy): its draws come from ``ctx.seed``."""
    return {}


@dataclass(frozen=True)
class Study(Generic[P, M]):
    """A registered study: its claim, presets, phases, and how its runs are trained.

    ``breaking``: overrides of the quick preset under which the claim must come out false (the common study tests
    run it). ``spread``: the measured seed-to-seed spread that resolves checks of a one-seed quick preset.
    ``keep_state``: keep the trained weights (``StoredRun.model()``). ``threads``: torch threads while training
    (a preset field ``threads`` wins).
    """

    name: str
    claim_id: str
    claim: str
    quick: P
    full: P
    specs: Callable[[P, int], Mapping[Any, RunSpec]]
    measure: Callable[[StudyContext, P], M]
    checks: Callable[[M, P], list[Check]]
    figures: Callable[[M, P], dict[str, Any]]
    summary: Callable[[M, P], str]
    breaking: dict[str, Any] = field(default_factory=dict)
    spread: MeasuredSpread | None = None
    keep_state: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        if type(self.quick) is not type(self.full):
            raise TypeError(f"study {self.name}: quick and full must be the same Preset class")

    @property
    def presets(self) -> dict[str, P]:
        return {"quick": self.quick, "full": self.full}

    @property
    def module(self) -> str:
        """The claim module that defines the study (its docstring states the claim and the rule)."""
        return self.measure.__module__

    def params(self, preset: str, overrides: Mapping[str, Any] | None = None) -> P:
        """The named preset with ``overrides`` applied (a SpecError names a bad preset, key or value)."""
        if preset not in self.presets:
            raise SpecError(f"study {self.name}: unknown preset {preset!r}; choose from {', '.join(self.presets)}")
        p = self.presets[preset]
        return p.overridden(overrides, f"study {self.name}") if overrides else p

    def train_threads(self, p: P) -> int | None:
        return getattr(p, "threads", None) or self.threads


def _like(preset: Any, value: Any, where: str) -> Any:
    """``value`` checked against the type of the preset's value (int, float, bool, str, list), so a bad ``--set``
    is a SpecError naming the parameter rather than a traceback deep in the study. Text that reads as the right
    type is converted ("3" for an int, "3" or "0.5" for a float, "true" for a bool); other types pass unchecked."""

    def bad(expected: str) -> SpecError:
        return SpecError(f"{where} = {value!r}: expected {expected} (the preset has {preset!r})")

    if isinstance(preset, bool):
        return _like_bool(value, bad)
    if isinstance(preset, int | float):
        return _like_number(preset, value, bad)
    if isinstance(preset, str):
        if not isinstance(value, str):
            raise bad("text")
        return value
    if isinstance(preset, list | tuple):
        if not isinstance(value, list | tuple):
            raise bad("a list, e.g. [1, 2]")
        if len({type(x) for x in preset}) != 1:  # empty or mixed: nothing to check the items against
            return type(preset)(value)
        return type(preset)(_like(preset[0], x, f"{where}[{i}]") for i, x in enumerate(value))
    return value


def _like_bool(value: Any, bad: Callable[[str], SpecError]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise bad("true or false")


def _like_number(preset: float, value: Any, bad: Callable[[str], SpecError]) -> float:
    want, what = (int, "an integer") if isinstance(preset, int) else (float, "a number")
    if isinstance(value, bool):
        raise bad(what)
    if isinstance(value, int) or (want is float and isinstance(value, float)):
        return value
    if isinstance(value, str):
        try:
            return want(value.strip())
        except ValueError:
            pass
    raise bad(what)


__all__ = ["Measured", "Preset", "Study", "aside", "no_runs"]
