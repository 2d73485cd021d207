"""Which of the user's rows a run trains, validates and tests on, named as the user knows them (CSV data row, image
path, DataFrame or Dataset index, ...): the short form ``gaplab runs show`` and ``advise`` print."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gaplab.data.prepare import Prepared

FIRST = 5  # ids printed per split; --json lists every training id up to MAX_LISTED
MAX_LISTED = 10_000


def id_kind(name: str, path: str | None) -> str:
    """What the data's row ids are, in words."""
    if path is None:
        return f"position in the {name} pool"
    p = Path(path)
    if p.suffix.lower() in (".csv", ".parquet", ".pq"):
        return f"{p.suffix.lower().lstrip('.').replace('pq', 'parquet')} data row (1-based, header not counted)"
    if p.suffix.lower() == ".npz":
        if p.parent.name.endswith(".data") and len(p.stem) >= 32:
            return "the id given with the Python data (DataFrame index, Dataset index, or position in X)"
        return ".npz index (or its ids array)"
    return "image file path"


def _first(ids: list[Any], n: int) -> str:
    return ", ".join(map(str, ids[:FIRST])) + (" …" if n > FIRST else "")


def summary(prep: Prepared, kind: str) -> dict[str, Any]:
    """Sizes and first ids of the training subset, validation split and test set; every training id (JSON) when
    there are at most ``MAX_LISTED``."""
    ds = prep.dataset
    train = ds.row_ids(prep.train_idx)
    val = ds.row_ids(prep.val_idx)
    test = ds.row_ids(list(range(len(ds.x_test))), test=True)
    out: dict[str, Any] = {"id_kind": kind, "pool": len(ds.x_train), "n_train": len(train), "n_val": len(val),
                           "n_test": len(test), "train_first": train[:FIRST], "val_first": val[:FIRST],
                           "test_first": test[:FIRST]}
    if len(train) <= MAX_LISTED:
        out["train_ids"] = train
    return out


def lines(s: dict[str, Any]) -> list[str]:
    """The summary as short lines: what the ids are, then each split's size and first ids."""
    subset = "" if s["n_train"] + s["n_val"] == s["pool"] else f" (a subset of the {s['pool']}-row pool)"
    out = [f"rows named by {s['id_kind']}",
           f"trained on {s['n_train']} rows{subset}: {_first(s['train_first'], s['n_train'])}"]
    if s["n_val"]:
        out.append(f"validated on {s['n_val']} rows: {_first(s['val_first'], s['n_val'])}")
    out.append(f"tested on {s['n_test']} rows: {_first(s['test_first'], s['n_test'])}")
    return out
