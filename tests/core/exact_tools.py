"""Shared by the exactness tests of the fast paths (test_engine_fused.py, test_engine_conv.py): packs of three runs
whose per-model settings differ, and the comparison of a fast path's results with the general vmap path's."""

from __future__ import annotations

import pytest
import torch

from gaplab.engine.pack import RunResult
from gaplab.spec import RunSpec

KEYS = ("train_loss", "test_loss", "train_acc", "test_acc", "val_loss")


def three(base: RunSpec, field: str | None, values: list) -> list[RunSpec]:
    """Three runs of ``base`` at seeds 0, 1, 2 with ``field`` set to each of ``values`` (unchanged when None)."""
    out = []
    for i, v in enumerate(values):
        s = base.replace(seed=i)
        out.append(s.replace(**{field: v}) if field else s)
    return out


def assert_same_results(case: str, fast: list[RunResult], general: list[RunResult]) -> None:
    """Every per-epoch metric, the best epoch and the final weights (unless diverged) equal to 1e-5."""
    for f, g in zip(fast, general, strict=True):
        assert f.status == g.status and len(f.history) == len(g.history)
        for hf, hg in zip(f.history, g.history, strict=True):
            for k in KEYS:
                if k in hg:
                    assert hf[k] == pytest.approx(hg[k], abs=1e-5, nan_ok=True), (case, k, hf["epoch"])
        assert f.final.get("best_epoch") == g.final.get("best_epoch")
        assert f.state is not None and g.state is not None
        if g.status == "diverged":  # its last weights are whatever the blow-up left
            continue
        for n, t in g.state.items():
            assert torch.allclose(f.state[n], t, atol=1e-5, equal_nan=True), (case, n)
