"""Common study checks, run on every registered study (as scikit-learn's check_estimator runs on every estimator).

Each study: its presets are one typed, frozen Preset class; its claim module's docstring states the claim and the
rule; ``--seed 1`` changes every run id (or, for a study that trains nothing, its numbers); its quick verdict
records the seed, is plain JSON, and its ``held`` and summary agree with its declared checks; every check knows
its resolution; it declares a breaking case (preset overrides under which the claim must come out false) and that
case comes out false. The package itself: no import cycles (its functions' length: tests/core/test_structure.py).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import gaplab.studies
from gaplab.studies import Verdict, all_studies, study_specs
from gaplab.studies.framework import Preset
from gaplab.studies.framework.checks import WORDS, Check, decide

STUDIES = all_studies()
NAMES = list(STUDIES)
SRC = Path(gaplab.studies.__file__).parent


@pytest.mark.parametrize("name", NAMES)
def test_presets_are_one_frozen_typed_class(name: str) -> None:
    st = STUDIES[name]
    assert isinstance(st.quick, Preset) and type(st.quick) is type(st.full)
    first = dataclasses.fields(st.quick)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(st.quick, first, None)
    json.dumps(st.quick.as_dict()), json.dumps(st.full.as_dict())  # presets are plain data (they go into verdict.json)


@pytest.mark.parametrize("name", NAMES)
def test_docstring_states_claim_and_rule(name: str) -> None:
    st = STUDIES[name]
    doc = sys.modules[st.module].__doc__ or ""
    assert st.module.startswith("gaplab.studies.claims.")
    assert len(st.claim) > 40 and st.claim_id.startswith("C")
    assert st.claim_id in doc.split(":")[0], "the module docstring opens with the claim id and the claim"
    assert "rule" in doc.lower(), "the module docstring states the rule in words"


@pytest.mark.parametrize("name", NAMES)
def test_seed_changes_every_run(name: str, quick_verdict: Callable[..., Verdict]) -> None:
    ids0 = {s.run_id for s in study_specs(name, "quick", 0)}
    ids1 = {s.run_id for s in study_specs(name, "quick", 1)}
    assert len(ids0) == len(ids1)
    assert not ids0 & ids1, f"{len(ids0 & ids1)} of {len(ids0)} runs ignore --seed"
    if not ids0:  # trains nothing (closed forms): its random draws must come from the study's seed
        breaking = STUDIES[name].breaking  # the breaking case is small and is run at seed 0 anyway
        assert quick_verdict(name, **breaking).numbers != quick_verdict(name, seed=1, **breaking).numbers


@pytest.mark.parametrize("name", NAMES)
def test_quick_verdict_is_consistent(name: str, quick_verdict: Callable[..., Verdict]) -> None:
    v = quick_verdict(name)
    data = json.loads(json.dumps(v.to_json(), allow_nan=False))  # plain JSON, no NaN
    assert data["seed"] == 0 and "--seed 0" in data["command"]
    assert v.checks, "the study declares its checks"
    checks = [Check.from_row(c) for c in v.checks]
    held, _ = decide(checks)
    assert v.held is held
    assert v.summary.startswith(WORDS[held] + ":")
    others = [w for k, w in WORDS.items() if k is not held]
    assert not any(w.lower() in v.summary.lower() for w in others), "the summary's verdict words are derived"
    assert (v.held is None) == bool(v.undecided_reason)
    assert v.figures and all(f.endswith(".png") for f in v.figures), "a study draws what it measured"


@pytest.mark.parametrize("name", NAMES)
def test_every_check_knows_its_resolution(name: str, quick_verdict: Callable[..., Verdict]) -> None:
    """A check of a stochastic quantity carries a resolution from a measured seed-to-seed spread, so a wobble reads
    "undecided", never "did not hold"; a check without one says why its value is exact (the quick verdict's rows,
    as verdict.json stores them)."""
    v = quick_verdict(name)
    bare = [c["name"] for c in v.checks if c["resolution"] is None and not c["exact"]]
    assert not bare, f"checks with neither a resolution nor a reason to be exact: {bare}"


@pytest.mark.parametrize("name", NAMES)
def test_breaking_case_comes_out_false(name: str, quick_verdict: Callable[..., Verdict]) -> None:
    st = STUDIES[name]
    assert st.breaking, "the study declares preset overrides under which its claim must come out false"
    assert set(st.breaking) <= set(st.quick.as_dict())
    v = quick_verdict(name, **st.breaking)
    assert v.held is False, v.summary


def _module_imports() -> dict[str, set[str]]:
    """Module → the gaplab.studies modules it imports at module level (function-local imports are not cycles)."""
    graph: dict[str, set[str]] = {}
    for m in pkgutil.walk_packages(gaplab.studies.__path__, "gaplab.studies."):
        mod = importlib.import_module(m.name)
        tree = ast.parse(Path(mod.__file__ or "").read_text())
        deps: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gaplab.studies"):
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("gaplab.studies"))
        graph[m.name] = deps
    return {k: {d for d in v if d in graph} for k, v in graph.items()}


def test_no_import_cycles_and_the_framework_does_not_know_the_claims() -> None:
    graph = _module_imports()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in graph[node]:
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " → ".join([*path, node, dep]))
            if dep not in state:
                visit(dep, [*path, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
    framework = [m for m in graph if m.startswith("gaplab.studies.framework")]
    assert not [m for m in framework if any(d.startswith("gaplab.studies.claims") for d in graph[m])]
    assert not [m for m in graph if m.startswith("gaplab.studies.claims.")
                and any(d.startswith("gaplab.studies.claims.") for d in graph[m])], "claims import each other"
