"""Per-epoch cost of ``gaplab.watch`` against the same plain PyTorch loop without it (MNIST-1D, an MLP of width
128, SGD, batches of 100; one thread). Runs alternate bare / watched after a warm-up; prints the median seconds per
epoch of each and their ratio, in CPU time (the process's own, one thread: robust on a shared machine) and in wall
time.

    PYTHONPATH=src python benchmarks/watch_overhead.py [--samples 4000] [--epochs 5] [--repeats 3]
        [--other path/to/another/gaplab/api/watch.py]   # interleave another version of watch.py (e.g. main's)
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "watch"))
from loops import mnist1d, train_loop  # noqa: E402

import gaplab  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--other", type=Path, default=None, help="another watch.py to time beside this one")
    a = ap.parse_args()
    torch.set_num_threads(1)
    data = mnist1d(a.samples)
    steps = -(-len(data[0]) // 100)
    train_loop(data, epochs=1)  # warm-up
    with tempfile.TemporaryDirectory() as tmp:
        kinds = {
            "bare": None,
            "watch (store)": functools.partial(gaplab.watch, store=Path(tmp) / "w.db", name="bench"),
            "watch (no store)": functools.partial(gaplab.watch, store=None),
        }
        if a.other is not None:
            import importlib.util

            spec = importlib.util.spec_from_file_location("other_watch", a.other)
            assert spec is not None and spec.loader is not None
            other = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(other)
            kinds["other (no store)"] = functools.partial(other.watch, store=None)
        cpu: dict[str, list[float]] = {k: [] for k in kinds}
        wall: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(a.repeats):
            for kind, watcher in kinds.items():
                t0, c0 = time.perf_counter(), time.process_time()
                train_loop(data, epochs=a.epochs, watcher=watcher)
                cpu[kind].append((time.process_time() - c0) / a.epochs)
                wall[kind].append((time.perf_counter() - t0) / a.epochs)
    print(f"MNIST-1D {len(data[0])} training examples, {steps} steps per epoch, {a.epochs} epochs x {a.repeats}")
    for name, times in (("CPU", cpu), ("wall", wall)):
        bare = statistics.median(times["bare"])
        for kind, ts in times.items():
            med = statistics.median(ts)
            print(f"{name:4s} {kind:17s} {1000 * med:7.1f} ms/epoch  ratio {med / bare:.3f}  "
                  f"(+{1000 * (med - bare):.1f} ms)")


if __name__ == "__main__":
    main()
