"""The pack thread policy (``Pack.threads``) re-measured for the fused and the conv paths: one training step of packs
of growing work with 1 and with 2 threads.

Per pack: its work (multiply-adds per step: what the policy weighs against ``SMALL_STEP_WORK``), the policy's choice,
CPU time and wall time per step with 1 and with 2 threads (interleaved rounds, medians), and two ratios:
- CPU(2)/CPU(1): what the second thread costs in CPU time. Near 1.0 the two threads split the work without waste, so
  on an idle box the wall time would drop towards half; well above 1.0 the threads spin or fight, and one thread is
  the better use of a shared box (a second worker process then gets the other core).
- wall(1)/wall(2): the speed-up seen now. On a loaded box it understates an idle box's (another process holds a core
  part of the time) — quote it only with the load average printed beside it.
- wall(2)/wall(halves): the same K models as two packs of K/2 trained side by side in two threads of this process,
  one torch thread each (what the executor does with several threads: engine.executor.side_by_side), per step of
  the whole pack. Above 1.0, cutting the pack beats giving it two OpenMP threads.

    python benchmarks/thread_policy.py
    python benchmarks/thread_policy.py --rounds 9 --steps 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from gaplab.engine.batches import epoch_batches
from gaplab.engine.conv import ConvNet
from gaplab.engine.pack import SMALL_STEP_WORK, Pack
from gaplab.spec import RunSpec, parse_run

DATA = {"name": "mnist1d", "args": {"num_samples": 16000, "train_split": 0.25}, "standardize": False}
# (label, model, width argument, widths, models per pack): the double-descent sweep's MLP packs, cnn1d and cnn2d packs
CASES = [
    ("mlp", "mlp", "width", [4, 16, 47, 128, 300], 16),
    ("cnn1d", "cnn1d", "channels", [4, 16, 32, 64], 16),
    ("cnn2d", "cnn2d", "channels", [8, 32], 16),
]


def _specs(model: str, arg: str, width: int, k: int) -> list[RunSpec]:
    data = {"name": "digits"} if model == "cnn2d" else DATA
    base = parse_run({"data": data, "model": {"name": model, "args": {arg: width}},
                      "optim": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "batch_size": 100, "epochs": 1}})
    return [base.replace(seed=i) for i in range(k)]


def _work(pack: Pack) -> float:
    """Multiply-adds of one step's forward pass over the pack, as ``Pack.threads`` counts them."""
    per = pack.net.macs_per_example() if isinstance(pack.net, ConvNet) else pack.layout.size
    return pack.k * pack.specs[0].optim.batch_size * per


def measure(pack: Pack, rounds: int, steps: int) -> dict[int, tuple[float, float]]:
    """Median (CPU ms, wall ms) per step with 1 and 2 threads, the two interleaved round by round."""
    idx, w, per_model = epoch_batches(pack.data.train_idx, 100, list(range(pack.k)))
    active = torch.ones(pack.k, dtype=torch.bool)
    n = idx.shape[1]
    counter = {"s": 0}

    def run(threads: int) -> tuple[float, float]:
        torch.set_num_threads(threads)
        c, t = time.process_time(), time.perf_counter()
        for _ in range(steps):
            s = counter["s"] = counter["s"] + 1
            pack.step(idx[:, s % n], w[:, s % n], active, 0, s, 1.0, per_model)
        return (time.process_time() - c) / steps * 1e3, (time.perf_counter() - t) / steps * 1e3

    for t in (1, 2):  # warm-up
        run(t)
    got: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    for _ in range(rounds):
        for t in (1, 2):
            got[t].append(run(t))
    return {t: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v)) for t, v in got.items()}


def halves(specs: list[RunSpec], rounds: int, steps: int) -> float:
    """Median wall ms per step of two packs of half the models each, stepping side by side in two threads."""
    from concurrent.futures import ThreadPoolExecutor

    packs = [Pack(specs[: len(specs) // 2]), Pack(specs[len(specs) // 2:])]
    plans = []
    for pack in packs:
        idx, w, per_model = epoch_batches(pack.data.train_idx, 100, list(range(pack.k)))
        plans.append((pack, idx, w, per_model, torch.ones(pack.k, dtype=torch.bool)))

    def run(plan: tuple) -> None:
        pack, idx, w, per_model, active = plan
        for s in range(steps):
            pack.step(idx[:, s % idx.shape[1]], w[:, s % idx.shape[1]], active, 0, s, 1.0, per_model)

    torch.set_num_threads(1)
    times = []
    with ThreadPoolExecutor(2) as pool:
        for r in range(rounds + 1):  # the first round warms up
            t = time.perf_counter()
            list(pool.map(run, plans))
            if r:
                times.append((time.perf_counter() - t) / steps * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=4, help="steps per timed round")
    ap.add_argument("--only", help="only the cases of this model (mlp, cnn1d, cnn2d)")
    a = ap.parse_args()
    torch.manual_seed(0)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; policy: 2 threads from "
          f"{SMALL_STEP_WORK:.0e} multiply-adds per step")
    print("pack                    | path  | MACs/step | policy | CPU ms 1t | CPU ms 2t | CPU 2t/1t | wall ms 1t | "
          "wall ms 2t | wall 1t/2t | wall ms halves | wall 2t/halves")
    for label, model, arg, widths, k in CASES:
        if a.only and label != a.only:
            continue
        for width in widths:
            specs = _specs(model, arg, width, k)
            pack = Pack(specs)
            work = _work(pack)
            policy = 1 if work < SMALL_STEP_WORK else 2
            m = measure(pack, a.rounds, a.steps)
            (c1, w1), (c2, w2) = m[1], m[2]
            wh = halves(specs, a.rounds, a.steps)
            print(f"{label:>6} {arg} {width:4d} K {k:3d} | {pack.path:5s} | {work:9.2e} | {policy:6d} | {c1:9.2f} | "
                  f"{c2:9.2f} | {c2 / c1:9.2f} | {w1:10.2f} | {w2:10.2f} | {w1 / w2:10.2f} | {wh:14.2f} | "
                  f"{w2 / wh:14.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
