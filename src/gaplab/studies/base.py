"""The study framework: a study is preset → runs (engine + store) → analysis → figures → verdict.

A study module registers one function with ``@study(...)``. The function receives a ``StudyContext``
(to train runs through the pack engine and the store, and to save figures) and its preset's parameters,
and returns an ``Outcome``: whether the claim held (decided from measured numbers by a rule written in
the study), a one-paragraph summary, and the numbers.
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


class Params(dict):
    """Preset parameters with attribute access (``p.n_train``)."""

    def __getattr__(self, k: str) -> Any:
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None


@dataclass
class Outcome:
    """What a study concludes: ``held`` from its rule (True/False, None if it cannot tell)."""

    held: bool | None
    summary: str
    numbers: dict[str, Any]


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


class StudyContext:
    """Gives a study training through the engine and store, figure saving, and progress."""

    def __init__(self, name: str, preset: str, seed: int, out: Path, store: Store | None,
                 progress: Callable[[str, int, int], None] | None = None, max_pack: int = 64) -> None:
        self.name, self.preset, self.seed = name, preset, seed
        self.out = out
        self.store = store
        self.progress = progress
        self.max_pack = max_pack
        self.run_ids: list[str] = []
        self.figures: list[str] = []
        out.mkdir(parents=True, exist_ok=True)

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

    def params(self, preset: str, overrides: dict[str, Any] | None = None) -> Params:
        if preset not in self.presets:
            raise SpecError(f"study {self.name}: unknown preset {preset!r}; choose from {', '.join(self.presets)}")
        p = dict(self.presets[preset])
        for k in overrides or {}:
            if k not in p:
                raise SpecError(f"study {self.name}: unknown parameter {k!r}; choose from {', '.join(sorted(p))}")
        p.update(overrides or {})
        return Params(p)


STUDIES: dict[str, Study] = {}


def study(name: str, claim_id: str, claim: str, quick: dict[str, Any],
          full: dict[str, Any]) -> Callable[[StudyFn], StudyFn]:
    """Register a study function under ``name`` with its claim and its quick and full presets."""

    def deco(fn: StudyFn) -> StudyFn:
        STUDIES[name] = Study(name, claim_id, claim, fn, {"quick": quick, "full": full})
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
    t0 = time.perf_counter()
    res = st.fn(ctx, params)
    cmd = f"gaplab study {name} --preset {preset} --seed {seed}"
    if overrides:
        cmd += " " + " ".join(f"--set {k}={json.dumps(v)}" for k, v in overrides.items())
    verdict = Verdict(
        study=name, claim=st.claim, held=res.held, summary=res.summary, numbers=res.numbers, preset=preset,
        seed=seed, runs=list(dict.fromkeys(ctx.run_ids)), claim_id=st.claim_id, figures=ctx.figures,
        command=cmd, params=dict(params), seconds=round(time.perf_counter() - t0, 2),
    )
    data = verdict.to_json()
    (folder / "verdict.json").write_text(json.dumps(data, indent=2, sort_keys=False))
    if store is not None:
        store.save_study(name, preset, seed, data, str(folder.resolve()))
    return verdict
