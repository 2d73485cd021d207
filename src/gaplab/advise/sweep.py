"""Train the plan through the pack engine (resumable from the store) and collect one row per run."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gaplab.advise.plan import Plan
from gaplab.engine import run_local
from gaplab.store.db import Store


@dataclass(frozen=True)
class Row:
    """One run's outcome: errors on its training set and on the fixed test set (1 − accuracy, or MSE)."""

    config: str
    size: int
    seed: int
    test_error: float
    train_error: float
    train_still_falling: bool  # training loss fell > 5 % over the last fifth of its epochs
    status: str
    at_cap: bool = False  # under a patience rule: trained to the epoch cap without converging


def _error(final: dict[str, Any], split: str) -> float:
    if f"{split}_acc" in final and final[f"{split}_acc"] is not None:
        return 1.0 - float(final[f"{split}_acc"])
    v = final.get(f"{split}_loss")
    return float(v) if v is not None else math.nan


def _still_falling(history: list[dict[str, Any]]) -> bool:
    losses = [h["train_loss"] for h in history if h.get("train_loss") is not None]
    if len(losses) < 3:
        return False
    ref = losses[max(0, int(len(losses) * 0.8) - 1)]
    return bool(losses[-1] < 0.95 * ref)


def run_plan(plan: Plan, store: Store | None, progress: Callable[[str, int, int], None] | None = None,
             workers: int = 1) -> tuple[list[Row], dict[str, Any]]:
    """Train every run of the plan not yet in the store; return a row per run and the executor's counts."""
    runs = plan.runs()
    out = run_local([s for *_, s in runs], store, group=plan.group, progress=progress, workers=workers)
    fresh = {r.run_id: r for r in out["results"]}
    rows = []
    for c, n, seed, s in runs:
        rid = s.run_id
        if rid in fresh:
            r = fresh[rid]
            final, history, status = r.final, r.history, r.status
        elif store is not None and (row := store.run(rid)) is not None:
            final, history, status = row["final"], store.history(rid), row["status"]
        else:
            final, history, status = {}, [], "failed"
        ok = status == "done"
        capped = ok and s.reg.early_stopping is not None and final.get("stopped_epoch") is None
        rows.append(Row(c.name, n, seed, _error(final, "test") if ok else math.nan,
                        _error(final, "train") if ok else math.nan, ok and _still_falling(history), status,
                        capped))
    counts = {k: v for k, v in out.items() if k not in ("results", "ids")}
    return rows, counts
