"""Stability of the doctor's learning-rate suggestion (MNIST-1D MLP, the default run: Adam, 20 epochs, batch 100).

1. The suggestion from 5 different seeds of the doctor run (its learning-rate range, default mode): do they agree
   within a factor of 3?
2. Full training (the user's settings, 3 seeds each) at every rate of a full grid and at each suggested rate:
   test accuracy at the suggestion against the best grid rate.

    python benchmarks/doctor_lr_stability.py [--seeds 5] [--mode default] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from gaplab.doctor import diagnose
from gaplab.engine.executor import run_local
from gaplab.spec import parse_run

BASE = {"data": {"name": "mnist1d"}, "model": {"name": "mlp"}, "optim": {"name": "adam", "lr": 1e-2, "epochs": 20}}
GRID = [float(r) for r in np.logspace(-4, -1, 10)]
TRAIN_SEEDS = (100, 101, 102)  # seeds of the full-training comparison, distinct from the doctor's


def accuracy(rates: list[float]) -> dict[float, float]:
    """Mean test accuracy over TRAIN_SEEDS of full training at each rate (one pack)."""
    specs = [parse_run({**BASE, "optim": {**BASE["optim"], "lr": r}, "seed": s}) for r in rates for s in TRAIN_SEEDS]
    out = run_local(specs, None)
    acc: dict[float, list[float]] = {}
    for res in out["results"]:
        acc.setdefault(res.spec.optim.lr, []).append(res.final.get("test_acc", float("nan")))
    return {r: float(np.mean(acc[r])) for r in rates}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--mode", default="default")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sugg = []
    for seed in range(args.seeds):
        c0, t0 = time.process_time(), time.perf_counter()
        d = diagnose(parse_run({**BASE, "seed": seed}), mode=args.mode, checks=["lr"])
        c = d.check("learning rate")
        sugg.append(d.suggested_lr)
        print(f"doctor seed {seed}: suggested {d.suggested_lr} ({c.verdict}: {c.cause or 'ok'}) "
              f"[{time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU]", flush=True)
    found = [s for s in sugg if s]
    if len(found) < len(sugg):
        print(f"{len(sugg) - len(found)} of {len(sugg)} runs were inconclusive")
    if found:
        print(f"suggestions: {', '.join(f'{s:.3g}' for s in found)}; max/min = {max(found) / min(found):.2f} "
              f"(must be ≤ 3)")
    grid = accuracy(GRID)
    best = max(grid, key=grid.__getitem__)
    print("full grid (test accuracy, mean of 3 seeds): " + ", ".join(f"{r:.2g}: {a:.3f}" for r, a in grid.items()))
    at = accuracy(sorted(set(found)))
    for r, a in at.items():
        print(f"at suggested {r:.3g}: {a:.3f}  vs best grid rate {best:.2g}: {grid[best]:.3f}  "
              f"(difference {100 * (grid[best] - a):.1f} points)")


if __name__ == "__main__":
    main()
