"""Running a study: train its runs (engine + store), measure, check, draw, summarize, write ``verdict.json``."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gaplab.engine import run_local
from gaplab.spec import RunSpec
from gaplab.store.db import Store
from gaplab.studies.framework.checks import Check, compose_summary, tightest
from gaplab.studies.framework.context import StoredRun, StudyContext
from gaplab.studies.framework.registry import get
from gaplab.studies.framework.study import Study


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


def train_runs(name: str, preset: str, specs: Mapping[Any, RunSpec], store: Store | None, keep_state: bool = False,
               threads: int | None = None, progress: Callable[[str, int, int], None] | None = None,
               max_pack: int = 64) -> dict[Any, StoredRun]:
    """Train (or reuse from the store) every spec through the pack engine; the runs keyed as ``specs``.

    ``keep_state`` keeps final weights so ``StoredRun.model()`` can predict on new inputs. ``threads`` sets
    torch's thread count while training (small models: one thread, extra OpenMP threads only spin).
    """
    import torch

    if not specs:
        return {}
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(max(1, int(threads)))
    try:
        out = run_local(list(specs.values()), store, group=f"study/{name}/{preset}", max_pack=max_pack,
                        keep_state=keep_state,
                        progress=(lambda label, d, t: progress(f"{name}: {label}", d, t)) if progress else None)
    finally:
        torch.set_num_threads(before)
    if out["failed"]:
        raise RuntimeError(f"{out['failed']} runs of study {name} failed; see `gaplab runs list --status failed`")
    fresh = {r.run_id: r for r in out["results"]}
    return {k: _stored(name, s, fresh, store, keep_state) for k, s in specs.items()}


def _stored(name: str, s: RunSpec, fresh: dict[str, Any], store: Store | None, keep_state: bool) -> StoredRun:
    """One run as a study sees it: from this call's results, or from the store when it was trained before."""
    if s.run_id in fresh:
        r = fresh[s.run_id]
        return StoredRun(s, r.status, r.final, r.history, r.state)
    row = store.run(s.run_id) if store is not None else None
    if row is None or store is None:
        raise RuntimeError(f"run {s.run_id} of study {name} is neither fresh nor stored")
    state = store.load_state(s.run_id) if keep_state else None
    return StoredRun(s, row["status"], row["final"], store.history(s.run_id), state)


def save_figure(fig: Any, folder: Path, name: str) -> str:
    """Save a matplotlib figure as PNG and SVG in the study's folder, close it, return the PNG's name."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(folder / f"{name}.{ext}", dpi=110)
    plt.close(fig)
    return f"{name}.png"


def decided_checks(st: Study[Any, Any], m: Any, p: Any, as_measured: bool) -> list[Check]:
    """The study's checks, resolved by its measured spread where that applies (the quick preset as it is)."""
    checks = st.checks(m, p)
    return st.spread.apply(checks, as_measured) if st.spread is not None else checks


def run_study(name: str, preset: str = "quick", seed: int = 0, out: Path | str = Path("gaplab-results/studies"),
              store: Store | None = None, overrides: dict[str, Any] | None = None,
              progress: Callable[[str, int, int], None] | None = None) -> Verdict:
    """Run the registered study ``name`` and write ``verdict.json`` (and its figures) into ``out/NAME``."""
    return run(get(name), preset, seed, out, store, overrides, progress)


def run(st: Study[Any, Any], preset: str = "quick", seed: int = 0, out: Path | str = Path("gaplab-results/studies"),
        store: Store | None = None, overrides: dict[str, Any] | None = None,
        progress: Callable[[str, int, int], None] | None = None) -> Verdict:
    """Run a study through its phases: specs → trained runs → measure → checks (→ verdict) → figures → summary."""
    p = st.params(preset, overrides)
    folder = Path(out) / st.name
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    specs = st.specs(p, seed)
    runs = train_runs(st.name, preset, specs, store, st.keep_state, st.train_threads(p), progress)
    as_measured = preset == "quick" and not overrides  # a MeasuredSpread applies to the quick preset as it is
    m = st.measure(StudyContext(st.name, preset, seed, runs, as_measured), p)
    checks = decided_checks(st, m, p, as_measured)
    if not checks:
        raise ValueError(f"study {st.name}: declare at least one check; the verdict is derived from the checks")
    held, summary, reason = compose_summary(checks, st.summary(m, p))
    figures = [save_figure(fig, folder, fname) for fname, fig in st.figures(m, p).items()]
    cmd = f"gaplab study {st.name} --preset {preset} --seed {seed}"
    if overrides:
        cmd += " " + " ".join(f"--set {k}={json.dumps(v)}" for k, v in overrides.items())
    verdict = Verdict(
        study=st.name, claim=st.claim, held=held, summary=summary, numbers=m.numbers(), preset=preset, seed=seed,
        runs=list(dict.fromkeys(s.run_id for s in specs.values())), claim_id=st.claim_id, figures=figures,
        command=cmd, params=p.as_dict(), seconds=round(time.perf_counter() - t0, 2),
        checks=[c.row() for c in checks], tightest=tightest(checks).name, undecided_reason=reason,
    )
    data = verdict.to_json()
    (folder / "verdict.json").write_text(json.dumps(data, indent=2, sort_keys=False))
    if store is not None:
        store.save_study(st.name, preset, seed, data, str(folder.resolve()))
    return verdict


def study_specs(name: str, preset: str = "quick", seed: int = 0,
                overrides: dict[str, Any] | None = None) -> list[RunSpec]:
    """The specs of a study's runs, without training anything; [] for a study that trains nothing."""
    st = get(name)
    return list(st.specs(st.params(preset, overrides), seed).values())
