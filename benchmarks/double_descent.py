"""Deep double descent on MNIST-1D: the mnist1d notebook's sweep, (a) as the notebook runs it, (b) through gaplab.

(a) one model after another: nn.Sequential MLP 40→w→w→10, SGD(lr 0.01, momentum 0.9), a shuffled DataLoader
    with batch 100; (b) the same runs as a gaplab sweep through the pack engine. Prints both wall times,
    their ratio, the achieved GFLOP/s of (b) against the float32 GEMM peak measured in the same run (the highest of
    the readings before (b) and after each (b)), and both test-error-vs-width curves side by side.

    python benchmarks/double_descent.py                 # the full sweep (500 epochs), gaplab with 1 and 2 workers

With 1 worker the packs train side by side in threads of this process (one torch thread each, ``--threads`` of
them at once: engine.planning.schedule); with 2, in two processes of ``cores / 2`` threads each.
    python benchmarks/double_descent.py --epochs 20 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gaplab.engine.datacache import shared_pool
from gaplab.engine.executor import run_local
from gaplab.engine.planning import schedule
from gaplab.spec import parse_run

WIDTHS = [int(w) for w in np.unique(np.geomspace(2, 300, 20, dtype=int))]
DATA = {"name": "mnist1d", "args": {"num_samples": 16000, "train_split": 0.25}, "standardize": False}


def gemm_peak(n: int = 2048, reps: int = 5) -> float:
    """Measured float32 GEMM GFLOP/s (best of ``reps``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def macs(width: int) -> int:
    return 40 * width + width * width + width * 10


def notebook_setup(width: int, x: torch.Tensor, y: torch.Tensor, seed: int):
    """The notebook's model 40→w→w→10 (seeded), its SGD(lr 0.01, momentum 0.9) and its shuffled batch-100 loader."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(40, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, opt, DataLoader(TensorDataset(x, y), batch_size=100, shuffle=True)


def notebook_loop(epochs: int, noise: float, widths: list[int], seed: int) -> tuple[list[float], list[float]]:
    """The notebook's loop: one model per width, DataLoader, torch.optim.SGD; returns train/test error."""
    ds = shared_pool(parse_run({"data": DATA}).data)
    gen = np.random.default_rng(seed)
    y = ds.y_train.clone()
    flip = gen.random(len(y)) < noise  # with probability `noise` a label becomes a uniform random class
    y[torch.from_numpy(flip)] = torch.from_numpy(gen.integers(0, 10, int(flip.sum())))
    train_err, test_err = [], []
    for w in widths:
        model, opt, loader = notebook_setup(w, ds.x_train, y, seed)
        for _ in range(epochs):
            for xb, yb in loader:
                opt.zero_grad()
                nn.functional.cross_entropy(model(xb), yb).backward()
                opt.step()
        with torch.no_grad():
            train_err.append(float((model(ds.x_train).argmax(1) != y).float().mean()))
            test_err.append(float((model(ds.x_test).argmax(1) != ds.y_test).float().mean()))
    return train_err, test_err


def loop_curves(args: argparse.Namespace, cache: Path | None
                ) -> tuple[float, dict[float, tuple[list[float], list[float]]], str]:
    """(a)'s wall seconds and (train, test) errors per noise level, from ``cache`` when it holds this sweep (then
    with the date it ran; else '' and the loop runs now and is stored)."""
    key = f"{args.epochs}|{args.noise}|{args.widths}|{args.seed}"
    stored = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    if key in stored:
        hit = stored[key]
        return hit["seconds"], {float(nz): (c[0], c[1]) for nz, c in hit["curves"].items()}, hit["when"]
    t = time.perf_counter()
    curves = {nz: notebook_loop(args.epochs, nz, args.widths, args.seed) for nz in args.noise}
    seconds = time.perf_counter() - t
    if cache is not None:
        stored[key] = {"seconds": seconds, "curves": {str(nz): list(c) for nz, c in curves.items()},
                       "when": time.strftime("%Y-%m-%d %H:%M"), "threads": args.threads,
                       "load": os.getloadavg()[0]}
        cache.write_text(json.dumps(stored, indent=1))
    return seconds, curves, ""


def gaplab_specs(epochs: int, noises: list[float], widths: list[int], seed: int):
    base = {"data": DATA, "model": {"name": "mlp", "args": {"depth": 2}},
            "optim": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "batch_size": 100, "epochs": epochs},
            "eval_every": epochs, "seed": seed}
    return [parse_run(base).replace(**{"model.args.width": w, "data.label_noise": nz})
            for nz in noises for w in widths]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="gaplab worker processes for (b); several values time (b) once each")
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.15])
    ap.add_argument("--widths", type=int, nargs="+", default=WIDTHS)
    ap.add_argument("--skip-plain", action="store_true", help="only (b); the ratio is then not printed")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    ap.add_argument("--loop-cache", help="keep (a)'s time and curves in this JSON file, keyed by epochs, noise, "
                    "widths and seed: a later run reads them instead of re-running the loop (its errors do not "
                    "depend on the machine's load; its time does, and is printed with the date it was measured)")
    ap.add_argument("--only-loop", action="store_true", help="run (or read) only (a), e.g. to fill --loop-cache")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shared_pool(parse_run({"data": DATA}).data)  # generate (or load) the data before timing anything
    if args.only_loop:
        t_a, _, when = loop_curves(args, Path(args.loop_cache) if args.loop_cache else None)
        print(f"(a) notebook loop: {t_a:.1f} s{' (cached: ' + when + ')' if when else ''}")
        return

    peaks = [gemm_peak()]
    specs = gaplab_specs(args.epochs, args.noise, args.widths, args.seed)
    n_train = 4000
    flops = sum(6 * n_train * args.epochs * macs(w) for w in args.widths) * len(args.noise)
    times: dict[int, float] = {}
    for workers in args.workers:
        t = time.perf_counter()
        out = run_local(specs, store=None, workers=workers)
        times[workers] = time.perf_counter() - t
        peaks.append(gemm_peak())  # a 2-core box's reading moves with its state: measured again after each (b)
    peak = max(peaks)  # shares against the highest reading: the conservative one
    res = {(r.spec.data.label_noise, r.spec.model.args["width"]): r.final for r in out["results"]}

    plain: dict[float, tuple[list[float], list[float]]] = {}
    t_a = float("nan")
    if not args.skip_plain:
        t_a, plain, when = loop_curves(args, Path(args.loop_cache) if args.loop_cache else None)
        if when:
            print(f"(a) read from {args.loop_cache}: run {when} (its time was measured then, on that run's load)")

    print(f"epochs {args.epochs}, {len(specs)} models, threads {args.threads}; float32 GEMM peak measured now: "
          f"{peak:.1f} GFLOP/s (the highest of {', '.join(f'{p:.1f}' for p in peaks)}: before (b) and after each)")
    gf_a = flops / t_a / 1e9
    print(f"(a) notebook loop: {t_a:8.1f} s   ({gf_a:.1f} GFLOP/s, {gf_a / peak:.0%} of peak)")
    at_once = schedule(specs).at_once
    for workers, t_b in times.items():
        how = f"{workers} worker processes" if workers > 1 else f"1 process, {at_once} packs side by side"
        print(f"(b) gaplab, {how}: {t_b:8.1f} s   speed-up (a)/(b) {t_a / t_b:5.1f}x   "
              f"{flops / t_b / 1e9:6.1f} useful GFLOP/s = {flops / t_b / 1e9 / peak:.0%} of peak")
    head = "width " + "".join(f"| a test err {nz:<4} | b test err {nz:<4} | b train err {nz:<4}" for nz in args.noise)
    print(head)
    rows = []
    for i, w in enumerate(args.widths):
        line = f"{w:5d} "
        row = {"width": w}
        for nz in args.noise:
            a = plain[nz][1][i] if plain else float("nan")
            b = 1 - res[(nz, w)]["test_acc"]
            btr = 1 - res[(nz, w)]["train_acc"]
            line += f"| {a:15.3f} | {b:15.3f} | {btr:16.3f}"
            row[f"a_test_err_{nz}"], row[f"b_test_err_{nz}"], row[f"b_train_err_{nz}"] = a, b, btr
        rows.append(row)
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"t_a": t_a, "t_b": times, "peak": peak, "peaks": peaks,
                       "gflops_b": {w: flops / t / 1e9 for w, t in times.items()}, "rows": rows}, f)


if __name__ == "__main__":
    main()
