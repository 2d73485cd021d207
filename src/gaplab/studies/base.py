"""The study framework: a study is preset → runs (engine + store) → analysis → figures → verdict.

A study module registers one function with ``@study(...)``. The function receives a ``StudyContext``
(to train runs through the pack engine and the store, to get its seeds with ``ctx.seeds(n)``, and to save
figures) and its preset's parameters, and returns an ``Outcome``: the checks it declares (``gaplab.studies.checks``;
``held``, the verdict words and the rule sentence are derived from them), a summary of what it measured, and
the numbers. A study may also declare ``breaking``: preset overrides under which its claim must come out false.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gaplab.engine.executor import run_local
from gaplab.spec import RunSpec, SpecError, parse_run
from gaplab.store.db import Store
from gaplab.studies.checks import Check, compose_summary, tightest


class Params(dict):
    """Preset parameters with attribute access (``p.n_train``)."""

    def __getattr__(self, k: str) -> Any:
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None


@dataclass
class Outcome:
    """What a study concludes: a summary of its findings without verdict words, the numbers, and its declared
    ``checks``. ``held``, the full summary (verdict words, findings, undecided reason, rule) and the undecided
    reason are derived from the checks; a study cannot state its verdict by hand."""

    summary: str
    numbers: dict[str, Any]
    checks: list[Check]
    held: bool | None = field(init=False)
    undecided_reason: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if not self.checks:
            raise ValueError("Outcome: declare at least one check; the verdict is derived from the checks")
        self.held, self.summary, self.undecided_reason = compose_summary(self.checks, self.summary)


@dataclass
class Verdict:
    """The JSON written as ``verdict.json`` and stored for the report."""

    study: str
    claim: str
    held: bool | None
    summary: str
    numbers: dict[str, Any]
    preset: str
    seed: int
    runs: list[str]
    claim_id: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)
    tightest: str = ""
    undecided_reason: str = ""
    figures: list[str] = field(default_factory=list)
    command: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(v: Any) -> Any:
    """Plain JSON: tuple keys joined with '|', NaN/inf → null, numpy scalars → Python."""
    if isinstance(v, dict):
        return {("|".join(map(str, k)) if isinstance(k, tuple) else str(k)): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if hasattr(v, "tolist"):
        return _jsonable(v.tolist())
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


@dataclass
class StoredRun:
    """A finished run as a study sees it: spec, status, final metrics and per-epoch history."""

    spec: RunSpec
    status: str
    final: dict[str, Any]
    history: list[dict[str, Any]]
    state: dict[str, Any] | None = None

    def model(self) -> Any:
        """The trained model (final or best weights) in eval mode; needs ``ctx.train(..., keep_state=True)``."""
        from gaplab.engine.pack import build_trained

        if self.state is None:
            raise RuntimeError("weights were not kept: train with ctx.train(specs, keep_state=True)")
        return build_trained(self.spec, self.state)

    @property
    def run_id(self) -> str:
        return self.spec.run_id

    def curve(self, metric: str) -> list[float]:
        return [h.get(metric, math.nan) if h.get(metric) is not None else math.nan for h in self.history]


class DryRun(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """Raised by ``StudyContext.train`` in dry mode: the specs of the study's first training call are known."""

    def __init__(self, specs: list[RunSpec]) -> None:
        super().__init__(f"dry run: {len(specs)} specs")
        self.specs = specs


class StudyContext:
    """Gives a study training through the engine and store, its seeds, figure saving, and progress.

    ``dry=True`` trains nothing: the first ``train`` call raises ``DryRun`` with its specs (see ``study_specs``).
    """

    def __init__(self, name: str, preset: str, seed: int, out: Path, store: Store | None,
                 progress: Callable[[str, int, int], None] | None = None, max_pack: int = 64,
                 dry: bool = False) -> None:
        self.name, self.preset, self.seed = name, preset, seed
        self.out = out
        self.store = store
        self.progress = progress
        self.max_pack = max_pack
        self.dry = dry
        self.as_measured = False  # True: the quick preset without overrides, where MeasuredSpread was measured
        self.run_ids: list[str] = []
        self.figures: list[str] = []
        out.mkdir(parents=True, exist_ok=True)

    def seeds(self, n: int) -> list[int]:
        """The study's ``n`` run seeds, derived from ``--seed``: seed s gives s·n, …, s·n + n − 1.

        Different study seeds give disjoint seed sets (so seed-to-seed spread of a verdict is measured on
        independent runs), and seed 0 gives 0, …, n − 1.
        """
        n = int(n)
        if n < 1:
            raise ValueError(f"study {self.name}: seeds must be at least 1, not {n}")
        return [self.seed * n + i for i in range(n)]

    def spec(self, data: dict[str, Any]) -> RunSpec:
        """Validate a run spec given as plain data (seed defaults to the study's seed)."""
        return parse_run({"seed": self.seed, **data})

    def train(self, specs: Iterable[RunSpec], keep_state: bool = False, threads: int | None = None) -> list[StoredRun]:
        """Train (or reuse from the store) every spec through the pack engine; results in spec order.

        ``keep_state`` keeps final weights so ``StoredRun.model()`` can predict on new inputs. ``threads`` sets
        torch's thread count for this call only (small models: one thread, extra OpenMP threads only spin).
        """
        import torch

        specs = list(specs)
        if self.dry:
            raise DryRun(specs)
        group = f"study/{self.name}/{self.preset}"
        before = torch.get_num_threads()
        if threads:
            torch.set_num_threads(max(1, int(threads)))
        try:
            out = run_local(specs, self.store, group=group, max_pack=self.max_pack,
                            progress=self._progress, keep_state=keep_state)
        finally:
            torch.set_num_threads(before)
        if out["failed"]:
            raise RuntimeError(f"{out['failed']} runs of study {self.name} failed; "
                               "see `gaplab runs list --status failed`")
        fresh = {r.run_id: r for r in out["results"]}
        runs = []
        for s in specs:
            rid = s.run_id
            if rid in fresh:
                r = fresh[rid]
                runs.append(StoredRun(s, r.status, r.final, r.history, r.state))
            else:
                assert self.store is not None
                row = self.store.run(rid)
                if row is None:
                    raise RuntimeError(f"run {rid} of study {self.name} is neither fresh nor stored")
                state = self.store.load_state(rid) if keep_state else None
                runs.append(StoredRun(s, row["status"], row["final"], self.store.history(rid), state))
            self.run_ids.append(rid)
        return runs

    def _progress(self, label: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(f"{self.name}: {label}", done, total)

    def savefig(self, fig: Any, name: str) -> None:
        """Save a matplotlib figure as PNG and SVG in the study's folder and close it."""
        import matplotlib.pyplot as plt

        fig.tight_layout()
        for ext in ("png", "svg"):
            fig.savefig(self.out / f"{name}.{ext}", dpi=110)
        plt.close(fig)
        self.figures.append(f"{name}.png")


StudyFn = Callable[[StudyContext, Params], Outcome]


@dataclass
class Study:
    name: str
    claim_id: str
    claim: str
    fn: StudyFn
    presets: dict[str, dict[str, Any]]
    breaking: dict[str, Any] = field(default_factory=dict)

    def params(self, preset: str, overrides: dict[str, Any] | None = None) -> Params:
        if preset not in self.presets:
            raise SpecError(f"study {self.name}: unknown preset {preset!r}; choose from {', '.join(self.presets)}")
        p = dict(self.presets[preset])
        for k, v in (overrides or {}).items():
            if k not in p:
                raise SpecError(f"study {self.name}: unknown parameter {k!r}; choose from {', '.join(sorted(p))}")
            p[k] = _like(p[k], v, f"study {self.name}: parameter {k}")
        return Params(p)


def _like(preset: Any, value: Any, where: str) -> Any:
    """``value`` checked against the type of the preset's value (int, float, bool, str, list), so a bad ``--set``
    is a SpecError naming the parameter rather than a traceback deep in the study. Text that reads as the right
    type is converted ("3" for an int, "3" or "0.5" for a float, "true" for a bool); other types pass unchecked."""

    def bad(expected: str) -> SpecError:
        return SpecError(f"{where} = {value!r}: expected {expected} (the preset has {preset!r})")

    if isinstance(preset, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise bad("true or false")
    if isinstance(preset, int | float):
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


STUDIES: dict[str, Study] = {}


def study(name: str, claim_id: str, claim: str, quick: dict[str, Any],
          full: dict[str, Any], breaking: dict[str, Any] | None = None) -> Callable[[StudyFn], StudyFn]:
    """Register a study function under ``name`` with its claim, its quick and full presets, and ``breaking``:
    overrides of the quick preset under which the claim must come out false (the common study checks run it).
    """

    def deco(fn: StudyFn) -> StudyFn:
        STUDIES[name] = Study(name, claim_id, claim, fn, {"quick": quick, "full": full}, dict(breaking or {}))
        return fn

    return deco


def run_study(name: str, preset: str = "quick", seed: int = 0, out: Path | str = Path("gaplab-results/studies"),
              store: Store | None = None, overrides: dict[str, Any] | None = None,
              progress: Callable[[str, int, int], None] | None = None) -> Verdict:
    """Run one study and write ``verdict.json`` (and its figures) into ``out/NAME``."""
    from gaplab.studies import registry

    st = registry.get(name)
    params = st.params(preset, overrides)
    folder = Path(out) / name
    ctx = StudyContext(name, preset, seed, folder, store, progress)
    ctx.as_measured = preset == "quick" and not overrides  # a MeasuredSpread applies to the quick preset as it is
    t0 = time.perf_counter()
    res = st.fn(ctx, params)
    cmd = f"gaplab study {name} --preset {preset} --seed {seed}"
    if overrides:
        cmd += " " + " ".join(f"--set {k}={json.dumps(v)}" for k, v in overrides.items())
    verdict = Verdict(
        study=name, claim=st.claim, held=res.held, summary=res.summary, numbers=res.numbers, preset=preset,
        seed=seed, runs=list(dict.fromkeys(ctx.run_ids)), claim_id=st.claim_id, figures=ctx.figures,
        command=cmd, params=dict(params), seconds=round(time.perf_counter() - t0, 2),
        checks=[c.row() for c in res.checks], tightest=tightest(res.checks).name if res.checks else "",
        undecided_reason=res.undecided_reason,
    )
    data = verdict.to_json()
    (folder / "verdict.json").write_text(json.dumps(data, indent=2, sort_keys=False))
    if store is not None:
        store.save_study(name, preset, seed, data, str(folder.resolve()))
    return verdict


def study_specs(name: str, preset: str = "quick", seed: int = 0, out: Path | str | None = None,
                overrides: dict[str, Any] | None = None) -> list[RunSpec]:
    """The specs of a study's first training call, without training anything (dry mode); [] if it trains nothing.

    Studies that train nothing run to the end here (cheaply, with no store); ``out`` receives their figures.
    """
    import tempfile

    from gaplab.studies import registry

    st = registry.get(name)
    params = st.params(preset, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = StudyContext(name, preset, seed, Path(out or tmp) / name, None, dry=True)
        try:
            st.fn(ctx, params)
        except DryRun as stop:
            return stop.specs
    return []
