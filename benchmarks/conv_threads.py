"""Conv packs at one and two threads: where a second thread starts to pay (the data for ``Pack.threads``' bound).

For conv packs of growing work (multiply-adds per step = K models × batch × the net's multiply-adds per example,
what ``Pack.threads`` weighs), one SGD step's wall and CPU milliseconds at 1 and at 2 threads, interleaved round by
round, median of ``--repeats``. Run it on an idle machine: with another process on a core, two threads spin
(docs/performance.md).

    python benchmarks/conv_threads.py                 # cnn1d (MNIST-1D) at 2-100 channels, cnn2d (digits) at 8 and 32
    OMP_WAIT_POLICY=PASSIVE python benchmarks/conv_threads.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
from conv_packs import _pack_step, _specs  # benchmarks/ is the script's folder, first on sys.path

from gaplab.engine.conv import ConvNet
from gaplab.engine.pack import SMALL_STEP_WORK, Pack

CASES = [("cnn1d", 2, 9), ("cnn1d", 10, 9), ("cnn1d", 25, 6), ("cnn1d", 40, 3), ("cnn1d", 64, 16), ("cnn1d", 100, 3),
         ("cnn2d", 8, 14), ("cnn2d", 32, 4), ("cnn2d", 32, 14)]  # (model, channels, K)


def timed(fn: Callable[[], object], threads: int, steps: int) -> tuple[float, float]:
    """(wall ms, CPU ms) per call of ``fn`` at ``threads`` threads."""
    torch.set_num_threads(threads)
    fn()
    w, c = time.perf_counter(), time.process_time()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - w) / steps * 1e3, (time.process_time() - c) / steps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=4)
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}; shipped bound {SMALL_STEP_WORK:.0e} multiply-adds per step")
    print("model  channels  K | MACs/step | wall ms 1 thr | 2 thr | 1/2 | CPU ms 1 thr | 2 thr")
    for model, ch, k in CASES:
        pack = Pack(_specs(model, ch, k))
        assert isinstance(pack.net, ConvNet)
        work = k * 100 * pack.net.macs_per_example()
        step = _pack_step(pack)
        got: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
        for _ in range(a.repeats):
            for t in (1, 2):
                got[t].append(timed(step, t, a.steps))
        (w1, c1), (w2, c2) = ((statistics.median(x[0] for x in got[t]), statistics.median(x[1] for x in got[t]))
                              for t in (1, 2))
        print(f"{model:6} {ch:8d} {k:2d} | {work:9.1e} | {w1:13.1f} | {w2:5.1f} | {w1 / w2:4.2f}x | {c1:12.1f} | "
              f"{c2:5.1f}")


if __name__ == "__main__":
    main()
