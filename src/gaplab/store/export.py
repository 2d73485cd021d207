"""Export stored runs and per-epoch metrics as flat tables (CSV or Parquet) via pandas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from gaplab.errors import DataError, SpecError
from gaplab.store.db import Store


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted keys after ``prefix`` (``{"a": {"b": 1}}`` → ``{"a.b": 1}``); lists
    become their text, so every value fits a table cell. The exports and the API's run tables use it."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, list):
            out[key] = str(v)
        else:
            out[key] = v
    return out


def runs_frame(store: Store, group: str | None = None) -> pd.DataFrame:
    """One row per run: id, status, timings, the spec flattened to dotted columns, final metrics."""
    rows = []
    for r in store.runs(group=group):
        row = {k: r[k] for k in ("id", "status", "seconds", "error")}
        row.update(flatten(r["spec"], "spec."))
        row.update(flatten(r["final"], "final."))
        rows.append(row)
    return pd.DataFrame(rows)


def metrics_frame(store: Store, group: str | None = None) -> pd.DataFrame:
    """Long format: one row per (run, epoch, metric)."""
    rows: list[dict[str, Any]] = []
    for r in store.runs(group=group):
        for h in store.history(r["id"]):
            ep = h.pop("epoch")
            rows.extend({"run_id": r["id"], "epoch": ep, "metric": k, "value": v} for k, v in h.items())
    return pd.DataFrame(rows, columns=["run_id", "epoch", "metric", "value"])


def export(store: Store, out: str | Path, what: str = "runs", group: str | None = None) -> Path:
    """Write ``runs`` or ``metrics`` to ``out``; the format follows its suffix (.csv or .parquet)."""
    path = Path(out)
    if path.suffix not in (".parquet", ".pq", ".csv"):
        raise SpecError(f"{path}: export format must be .csv or .parquet (by the file's suffix)")
    if what not in ("runs", "metrics"):
        raise SpecError(f"--what must be 'runs' or 'metrics', got {what!r}")
    frame = runs_frame(store, group) if what == "runs" else metrics_frame(store, group)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
    except OSError as e:
        raise DataError(f"{path}: cannot write it: {e}") from None
    return path
