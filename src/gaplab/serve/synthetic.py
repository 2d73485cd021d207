"""A synthetic results store shaped like a real sweep, written straight into SQLite (no training).

Used by the dashboard's benchmark and tests: a 10,000-run × 100-epoch store takes seconds this way and hours by
training. Rows follow ``gaplab.store.db``'s schema exactly (the store creates the tables); numbers are smooth
made-up curves, with a few diverged (null losses, as the store writes non-finite numbers) and failed runs.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from pathlib import Path
from typing import Any

from gaplab.spec import RunSpec, run_id
from gaplab.store.db import Store

WIDTHS = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
L2S = [0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
NOISES = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45]


def _curve(rng: random.Random, width: int, l2: float, noise: float, epochs: int) -> list[dict[str, float | None]]:
    base = 0.3 + noise + 0.05 * math.log10(1 + l2) + 0.3 / math.sqrt(width)
    rows: list[dict[str, float | None]] = []
    for e in range(1, epochs + 1):
        t = e / epochs
        train = 2.3 * math.exp(-4 * t) + 0.05 + 0.01 * rng.random()
        test = base + 2.0 * math.exp(-3 * t) + 0.1 * t * noise + 0.01 * rng.random()
        train_acc, test_acc = 1 - train / 2.5, 1 - test / 2.5
        rows.append({"epoch": e, "train_loss": train, "test_loss": test, "val_loss": test + 0.01,
                     "train_acc": train_acc, "test_acc": test_acc, "val_acc": test_acc - 0.01,
                     "gap_loss": test - train, "gap_acc": train_acc - test_acc,
                     "wnorm/net.0.weight": 5 + 3 * t, "wnorm/net.2.weight": 2 + t})
    return rows


def build_store(path: str | Path, n_runs: int = 10_000, epochs: int = 100, group: str = "big",
                seed: int = 0) -> list[str]:
    """Write ``n_runs`` runs of ``epochs`` epochs into the store at ``path`` under ``group``; return the run ids.

    Runs are the grid width × l2 × label noise × seed (10 values each, cut at ``n_runs``); every 97th run
    diverged (its later losses null), every 211th failed (no epochs).
    """
    Store(path).close()  # creates the schema
    import sqlite3

    rng = random.Random(seed)
    base = RunSpec().normalized()
    runs: list[tuple[Any, ...]] = []
    epoch_rows: list[tuple[str, int, str]] = []
    group_rows: list[tuple[str, str]] = []
    ids: list[str] = []
    now = time.time()
    grid = itertools.product(WIDTHS, L2S, NOISES, range(10))
    for i, (w, l2, noise, s) in enumerate(itertools.islice(grid, n_runs)):
        spec = json.loads(json.dumps(base))
        spec["model"]["args"] = {"width": w}
        spec["reg"]["l2"] = l2
        spec["data"]["label_noise"] = noise
        spec["seed"] = s
        spec["optim"]["epochs"] = epochs
        rid = run_id(RunSpec.model_validate(spec)) if i < 50 else f"{i:016x}"  # hashing 10k specs is slow
        ids.append(rid)
        status, err, hist = "done", None, _curve(rng, w, l2, noise, epochs)
        if i % 211 == 210:
            status, err, hist = "failed", "RuntimeError: synthetic failure", []
        elif i % 97 == 96:
            status, err = "diverged", "loss became non-finite in epoch 3"
            for h in hist[2:]:
                h.update(train_loss=None, test_loss=None, val_loss=None, gap_loss=None)
        final = {k: v for k, v in hist[-1].items() if k != "epoch"} if hist else {}
        if hist:
            final["epochs_run"] = epochs
        t0 = now - (n_runs - i)
        runs.append((rid, json.dumps(spec, sort_keys=True), status, t0, t0, t0 + 0.5, 0.5, err,
                     json.dumps(final, sort_keys=True) if status != "failed" else None))
        epoch_rows.extend((rid, int(h["epoch"] or 0), json.dumps({k: v for k, v in h.items() if k != "epoch"},
                                                          sort_keys=True)) for h in hist)
        group_rows.append((group, rid))
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    con.executemany("INSERT OR REPLACE INTO runs (id, spec, status, created, started, finished, seconds, error, final)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", runs)
    con.executemany("INSERT OR REPLACE INTO epochs (run_id, epoch, metrics) VALUES (?, ?, ?)", epoch_rows)
    con.executemany("INSERT OR IGNORE INTO groups (name, run_id) VALUES (?, ?)", group_rows)
    con.execute("COMMIT")
    con.close()
    return ids
