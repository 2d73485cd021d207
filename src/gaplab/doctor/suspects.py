"""Label-noise suspects named as the user knows them: their row ids (CSV data row, image path, DataFrame index,
...), given label and the label the out-of-fold models predict; the out-of-fold probabilities for reuse (cleanlab).

The label-noise family ranks suspects by their positions in the training pool; this module only names them.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch

from gaplab.doctor.context import Context
from gaplab.doctor.result import Finding

DIGITS = 4  # out-of-fold probabilities are kept rounded (the JSON of a 10-class, 4000-example pool stays ~0.5 MB)


def _label(classes: list | None, c: int) -> Any:
    return classes[c] if classes is not None and c < len(classes) else c


def name_suspects(ctx: Context, checks: list[Finding]) -> dict[str, Any] | None:
    """Add ``suspect_ids``, ``given`` and ``predicted`` to the label-noise check's details, name the first
    suspects by id in what it shows, and return the out-of-fold probabilities with each example's id and label
    (None when the family did not run)."""
    noise = ctx.found.label_noise
    found = [c for c in checks if c.family == "label_noise" and "suspects" in c.details]
    if noise is None or not found:
        return None
    idx, probs = noise.idx, noise.out_of_fold
    pool, classes = ctx.pool, ctx.pool.classes
    where = {int(p): i for i, p in enumerate(idx.tolist())}
    given_all = ctx.prepared.labels[idx]
    check = found[0]
    positions = check.details["suspects"]
    rows = torch.tensor([where[int(p)] for p in positions], dtype=torch.int64)
    ids = pool.row_ids(positions)
    check.details["suspect_ids"] = ids
    check.details["given"] = [_label(classes, int(c)) for c in given_all[rows].tolist()]
    check.details["predicted"] = [_label(classes, int(c)) for c in probs[rows].argmax(1).tolist()]
    if ids and "first: " in check.shown:
        check.shown = check.shown.split("first: ")[0] + "first: " + ", ".join(map(str, ids[:5]))
    return {"ids": pool.row_ids(idx), "given": given_all.tolist(), "classes": classes,
            "probabilities": torch.round(probs, decimals=DIGITS).tolist()}


def write_csv(check: Finding, path: str | Path) -> int:
    """Write the suspects (most suspicious first) as CSV: id, given, predicted, p_given; returns how many."""
    d = check.details
    conf = d.get("self_confidence", [None] * len(d["suspect_ids"]))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "given", "predicted", "p_given"])
        for row in zip(d["suspect_ids"], d["given"], d["predicted"], conf):
            w.writerow([*row[:3], "" if row[3] is None else f"{row[3]:.3g}"])
    return len(d["suspect_ids"])
