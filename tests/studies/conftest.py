"""Study tests run with one torch thread, as a busy 2-core box needs (OpenMP spinning: see docs/performance.md).

``quick_verdict(name)`` runs a study's quick preset at seed 0 once per test session into one shared store, so a
study's own test and the common study checks (test_study_common.py) share the same verdict and runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from gaplab.store.db import Store
from gaplab.studies import Verdict, run_study


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def study_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Store]:
    """One folder and one store shared by every study test of the session (trained runs are reused)."""
    tmp = tmp_path_factory.mktemp("studies")
    return tmp, Store(tmp / "s.db")


@pytest.fixture(scope="session")
def quick_verdict(study_env: tuple[Path, Store]) -> Callable[..., Verdict]:
    """``quick_verdict(name, seed=0, **overrides)``: the study's quick verdict, computed once per session."""
    tmp, store = study_env
    cache: dict[tuple[str, int, str], Verdict] = {}

    def get(name: str, seed: int = 0, **overrides: object) -> Verdict:
        key = (name, seed, repr(sorted(overrides.items())))
        if key not in cache:
            one = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                cache[key] = run_study(name, "quick", seed, tmp / f"out{len(cache)}", store,
                                       overrides=overrides or None)
            finally:
                torch.set_num_threads(one)
        return cache[key]

    return get
