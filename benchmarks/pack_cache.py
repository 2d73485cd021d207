"""Where a pack's parameter table leaves the cache: GFLOP/s per CPU second of MLP packs against pack size K.

Each step streams the pack's (K, P) parameter, gradient and momentum tables through elementwise ops; once one table
outgrows the last-level cache those passes go to memory. ``engine.planning.plan_packs`` caps a CPU pack's table at
``CACHE_SHARE`` of ``cache_bytes()`` from these numbers. One thread, one SGD-with-momentum epoch (40 steps of batch
100 on MNIST-1D) per cell after a warm-up epoch, CPU time of this process (robust on a shared box).

    python benchmarks/pack_cache.py                              # widths 256, 512, 1024
    python benchmarks/pack_cache.py --width 512 --k 8 16 24 32
"""

from __future__ import annotations

import argparse
import resource

import torch

from gaplab.engine.pack import Pack
from gaplab.engine.planning import CACHE_SHARE, cache_bytes
from gaplab.spec import parse_run

DATA = {"name": "mnist1d", "args": {"num_samples": 16000, "train_split": 0.25}, "standardize": False}
DEFAULT_KS = {256: [32, 64, 96, 128], 512: [8, 16, 24, 32, 48], 1024: [2, 4, 6, 8, 12]}


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def gflops(width: int, k: int) -> tuple[float, float]:
    """(MB of one (K, P) table, useful GFLOP/s per CPU second) of one epoch of a pack of ``k`` width-``width`` MLPs."""
    base = parse_run({"data": DATA, "model": {"name": "mlp", "args": {"width": width, "depth": 2}},
                      "optim": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "batch_size": 100, "epochs": 2}})
    pack = Pack([base.replace(seed=i) for i in range(k)])
    pack._train_epoch(0, None)
    t = cpu_seconds()
    pack._train_epoch(1, None)
    t = cpu_seconds() - t
    macs = 40 * width + width * width + width * 10
    steps = 4000 // 100
    return k * pack.layout.size * 4 / 2**20, 6 * macs * 100 * k * steps / t / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, nargs="+", default=list(DEFAULT_KS))
    ap.add_argument("--k", type=int, nargs="+", help="pack sizes (default: per width, around the cache)")
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"last-level cache {cache_bytes() / 2**20:.0f} MB; plan_packs caps a table at {CACHE_SHARE:.0%} of it")
    print("width |   K | table MB | GFLOP/s per CPU s (each rep)")
    for width in args.width:
        for k in args.k or DEFAULT_KS.get(width, [4, 8, 16, 32]):
            runs = [gflops(width, k) for _ in range(args.reps)]
            print(f"{width:5d} | {k:3d} | {runs[0][0]:8.1f} | " + "  ".join(f"{g:5.1f}" for _, g in runs), flush=True)


if __name__ == "__main__":
    main()
