"""Pack scaling: training throughput against pack size K, for the plain loop, the vmap pack and the hand-written pack.

Two model families (``--family``), on MNIST-1D generated at 1000 samples (500 train = 5 steps an epoch) so that a
pack's final evaluation, which is not timed, stays cheap; SGD lr 0.01 momentum 0.9, batch 100:
  - ``mlp`` (default): the double-descent MLP 40→w→w→10 (benchmarks/double_descent.py), hand-written path ``fused``;
  - ``cnn1d``: gaplab's ``cnn1d``, the mnist1d ConvBase (3 strided Conv1d of c channels + ReLU, Linear; the CNN of
    benchmarks/cnn_double_descent.py), hand-written path ``conv`` (engine.conv).
Per cell (width or channel count, pack size K, approach), after 5 warm-up steps, ``--steps`` optimizer steps are
timed and reported as
  - useful GFLOP/s: 6 × batch × forward multiply-adds per model-step (engine.padding.flops_per_example), summed over
    the K models (no padding here);
  - steps/s: model-steps per second (K × steps / time).
Approaches:
  - plain: K models one after another, nn.Sequential + torch.optim.SGD + a shuffled DataLoader (the notebook's model,
    as its benchmark builds it). Its throughput does not depend on K, so a few models per width are timed and scaled
    by K;
  - vmap / fused / conv: ``gaplab.engine.pack.Pack(specs, path=...)`` over seeds 0..K-1 (the general torch.func path
    and the family's hand-written batched path).
The float32 GEMM peak and ``torch.bmm`` at the pack's largest product are measured in the same run: the hidden layer
(K, 100, w) @ (K, w, w) for the MLP, the second convolution as im2col (K, 100·10, 3c) @ (K, 3c, c) for the CNN.
On a loaded machine two OpenMP threads can make small steps 10-20x slower (docs/performance.md): compare with
--threads 1; there ``--clock cpu`` times everything by this process's CPU time, which other processes' turns do not
inflate (the table then quotes the load average).

    python benchmarks/pack_scaling.py --json pack.json --plot pack.png     # full grid (a few minutes, idle machine)
    python benchmarks/pack_scaling.py --family cnn1d --threads 1 --clock cpu --plot docs/pack-scaling-conv.png
    python benchmarks/pack_scaling.py --quick                              # smoke test, < 30 s
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cnn_double_descent import notebook_cnn  # noqa: E402
from conv_packs import gemm_peak as cpu_gemm_peak  # noqa: E402
from double_descent import gemm_peak, notebook_setup  # noqa: E402

from gaplab.engine.datacache import shared_pool  # noqa: E402
from gaplab.engine.pack import Pack  # noqa: E402
from gaplab.engine.padding import flops_per_example  # noqa: E402
from gaplab.spec import RunSpec, parse_run  # noqa: E402

DATA = {"name": "mnist1d", "args": {"num_samples": 1000, "train_split": 0.5}, "standardize": False}
BATCH, STEPS_PER_EPOCH, WARMUP = 100, 5, 5
COLORS = {"plain": "C0", "vmap": "C1", "fused": "C2", "conv": "C3"}
# wall time (idle machine) or this process's CPU time (a shared one: other processes' turns are not counted)
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
Plain = tuple[nn.Module, torch.optim.Optimizer, DataLoader]


def plain_cnn(channels: int, x: torch.Tensor, y: torch.Tensor, seed: int) -> Plain:
    """The notebook's ConvBase at ``channels`` (seeded), its SGD(lr 0.01, momentum 0.9) and a shuffled batch-100 loader
    over one-channel signals."""
    torch.manual_seed(seed)
    model = notebook_cnn(channels)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, opt, DataLoader(TensorDataset(x.unsqueeze(1), y), batch_size=BATCH, shuffle=True)


class Family(NamedTuple):  # a NamedTuple, not a dataclass: the smoke test loads this file without sys.modules
    """What one model family's grid varies and how its approaches are built."""

    model: str  # gaplab's model name
    arg: str  # the model argument the grid sweeps
    unit: str  # what one value of it is called in the table's header
    fast: str  # the hand-written pack path
    title: str  # panel title, formatted with the swept value
    bmm: str  # the pack's largest product, as printed (K and the swept value filled in)
    bmm_dims: Callable[[int], tuple[int, int, int]]  # per model (m, n, p) of that product (m, n) @ (n, p)
    plain: Callable[[int, torch.Tensor, torch.Tensor, int], Plain]
    full: dict[str, Any]
    quick: dict[str, Any]

    @property
    def approaches(self) -> tuple[str, str, str]:
        return "plain", "vmap", self.fast


FAMILIES = {
    "mlp": Family("mlp", "width", "width", "fused", "MLP 40→{w}→{w}→10", "(K={k}, {batch}, w) @ (K, w, w)",
                  lambda w: (BATCH, w, w), notebook_setup,
                  {"widths": [32, 128, 512], "ks": [2**i for i in range(9)], "steps": 20, "plain_models": 3,
                   "peak_n": 2048, "bmm_flops": 2e8},
                  {"widths": [32, 128], "ks": [1, 8], "steps": 10, "plain_models": 1, "peak_n": 1024,
                   "bmm_flops": 2e7}),
    # the second convolution (19 → 10 positions, kernel 3) is the CNN's largest product: its im2col bmm
    "cnn1d": Family("cnn1d", "channels", "channel count", "conv", "cnn1d, 3 × Conv1d of {w} channels",
                    "(K={k}, {batch}·10, 3c) @ (K, 3c, c)", lambda c: (BATCH * 10, 3 * c, c), plain_cnn,
                    {"widths": [4, 16, 64], "ks": [2**i for i in range(9)], "steps": 20, "plain_models": 3,
                     "peak_n": 2048, "bmm_flops": 2e8},
                    {"widths": [4, 8], "ks": [1, 8], "steps": 10, "plain_models": 1, "peak_n": 1024,
                     "bmm_flops": 2e7}),
}


def base_spec(fam: Family, width: int, steps: int) -> RunSpec:
    """One run of a pack: enough whole epochs for the warm-up and ``steps`` timed steps; evaluated only at the end."""
    epochs = math.ceil((WARMUP + steps) / STEPS_PER_EPOCH)
    args = {"depth": 2, "width": width} if fam.model == "mlp" else {fam.arg: width}
    return parse_run({"data": DATA, "model": {"name": fam.model, "args": args},
                      "optim": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "batch_size": BATCH, "epochs": epochs},
                      "eval_every": epochs, "seed": 0})


def flops_per_model_step(fam: Family, width: int) -> float:
    """Useful training FLOPs of one model's optimizer step: forward + backward ≈ 3 × 2 × multiply-adds."""
    return 6.0 * BATCH * flops_per_example(base_spec(fam, width, 1), width)


class StepTimer:
    """Times optimizer steps WARMUP+1 .. WARMUP+steps (``tick()`` after each step) and notes the threads in use.

    Garbage collection is paused inside the window (as timeit does): one full collection over the objects torch's
    imports made takes ≈ 0.3 s, more than a whole small cell."""

    def __init__(self, steps: int, clock: Callable[[], float]) -> None:
        self.steps, self.clock, self.done, self.seconds, self.threads, self._t = steps, clock, 0, 0.0, 0, 0.0

    def tick(self) -> None:
        self.done += 1
        if self.done == WARMUP:
            self.threads = torch.get_num_threads()
            gc.disable()
            self._t = self.clock()
        elif self.done == WARMUP + self.steps:
            self.seconds = self.clock() - self._t
            gc.enable()


def time_plain(fam: Family, width: int, models: int, steps: int, clock: Callable[[], float]) -> tuple[float, int]:
    """Seconds for ``steps`` optimizer steps of one notebook model (mean over ``models`` seeds), warm-up excluded."""
    ds = shared_pool(parse_run({"data": DATA}).data)
    total = 0.0
    for seed in range(models):
        model, opt, loader = fam.plain(width, ds.x_train, ds.y_train, seed)
        timer = StepTimer(steps, clock)
        epochs = itertools.chain.from_iterable(itertools.repeat(loader))  # a new shuffled pass each epoch
        try:
            for xb, yb in itertools.islice(epochs, WARMUP + steps):
                opt.zero_grad()
                F.cross_entropy(model(xb), yb).backward()
                opt.step()
                timer.tick()
        finally:
            gc.enable()
        total += timer.seconds
    return total / models, timer.threads


def time_pack(fam: Family, width: int, k: int, steps: int, path: str,
              clock: Callable[[], float]) -> tuple[float | None, int | None]:
    """Seconds for ``steps`` optimizer steps of a pack of ``k`` models (seeds 0..k-1), warm-up excluded, and
    the threads the pack trained with (it picks its own: Pack.threads)."""
    pack = Pack([base_spec(fam, width, steps).replace(seed=i) for i in range(k)], path=path)
    timer = StepTimer(steps, clock)
    try:
        pack.fit(on_step=lambda epoch, step, losses: timer.tick())
    finally:
        gc.enable()
    return timer.seconds, timer.threads


def bmm_rate(k: int, dims: tuple[int, int, int], reps: int = 5, flops_per_rep: float = 2e8,
             clock: Callable[[], float] = time.perf_counter) -> float:
    """GFLOP/s of torch.bmm at (k, m, n) @ (k, n, p), best of ``reps`` timings of about ``flops_per_rep`` each."""
    m, n, p = dims
    a, b = torch.randn(k, m, n), torch.randn(k, n, p)
    flops = 2.0 * k * m * n * p
    calls = max(1, int(flops_per_rep // flops))  # enough calls per timing that a tiny shape is not all timer noise
    torch.bmm(a, b)
    best = math.inf
    for _ in range(reps):
        t = clock()
        for _ in range(calls):
            torch.bmm(a, b)
        best = min(best, clock() - t)
    return calls * flops / best / 1e9


def cell(fam: Family, width: int, k: int, approach: str, steps: int, seconds: float | None,
         threads: int | None) -> dict[str, Any]:
    """One table cell; ``seconds`` is the time of ``steps`` steps of all K models (None: not available)."""
    rate = k * steps / seconds if seconds else None
    return {"width": width, "k": k, "approach": approach, "seconds": seconds, "threads": threads,
            "steps_per_s": rate, "gflops": rate * flops_per_model_step(fam, width) / 1e9 if rate else None}


def run(fam: Family, widths: list[int], ks: list[int], steps: int, threads: int, plain_models: int,
        peak_n: int, bmm_flops: float = 2e8, clock: str = "wall") -> dict[str, Any]:
    """Every cell of the grid, the GEMM peak and the bmm ceiling per width, as one JSON-able dict.

    For the CNN, "width" is the channel count (the argument ``fam.arg``). With ``clock="cpu"`` every time (cells,
    peak, bmm) is this process's CPU time and the peak is conv_packs' (1024³)."""
    torch.set_num_threads(threads)
    shared_pool(parse_run({"data": DATA}).data)  # generate (or load) the data before timing anything
    tick = CLOCKS[clock]
    if clock == "cpu":
        peak, peak_n = cpu_gemm_peak(), 1024
    else:
        peak = gemm_peak(peak_n)
    out: dict[str, Any] = {"family": fam.model, "clock": clock, "load_average": [os.getloadavg()[0]],
                           "threads": threads, "steps": steps, "warmup": WARMUP, "batch": BATCH,
                           "plain_models": plain_models, "peak_gflops": peak, "peak_n": peak_n,
                           "bmm_k": max(ks), "bmm_gflops": {}, "cells": []}
    for w in widths:
        out["bmm_gflops"][str(w)] = bmm_rate(max(ks), fam.bmm_dims(w), flops_per_rep=bmm_flops, clock=tick)
        # one model's time; K models take K times as long
        plain, plain_threads = time_plain(fam, w, plain_models, steps, tick)
        for k in ks:
            row = [cell(fam, w, k, "plain", steps, k * plain, plain_threads)]
            row += [cell(fam, w, k, p, steps, *time_pack(fam, w, k, steps, p, tick)) for p in fam.approaches[1:]]
            out["cells"] += row
            sys.stderr.write(f"{fam.arg} {w:4d} K {k:4d}: " + "  ".join(
                f"{c['approach']} {_num(c['gflops'])} GFLOP/s" for c in row) + "\n")
    out["load_average"].append(os.getloadavg()[0])
    return out


def _num(v: float | None) -> str:
    """Three significant digits (small widths run at a fraction of a GFLOP/s), or "n/a"."""
    return "n/a" if v is None else f"{v:.3g}" if v < 100 else f"{v:.0f}"


def markdown(fam: Family, res: dict[str, Any]) -> str:
    """The result as a markdown table with a header saying how it was measured."""
    bmm = ", ".join(f"{fam.arg[0]}={w}: {v:.1f}" for w, v in res["bmm_gflops"].items())
    shape = fam.bmm.format(k=res["bmm_k"], batch=res["batch"])
    approaches = fam.approaches
    cpu = res.get("clock") == "cpu"
    lines = [f"float32 GEMM peak ({res['peak_n']}³, {res['threads']} threads): {res['peak_gflops']:.1f} GFLOP/s; "
             f"torch.bmm at {shape}: {bmm} GFLOP/s",
             f"{res['steps']} optimizer steps timed per cell after {res['warmup']} warm-up steps, batch {res['batch']};"
             " useful GFLOP/s = 6 × batch × forward multiply-adds, summed over the K models",
             f"plain loop: {res['plain_models']} model(s) per {fam.unit} timed and scaled by K (models run "
             "one after another, so its throughput does not depend on K)",
             *([f"times are this process's CPU seconds (a shared machine: load average "
                f"{' → '.join(f'{v:.1f}' for v in res['load_average'])} on {os.cpu_count()} cores, start → end)"]
               if cpu else []), "",
             f"| {fam.arg} | K | " + " | ".join(f"{a} GFLOP/s" for a in approaches) + " | "
             + " | ".join(f"{a} steps/s" for a in approaches) + " | threads " + "/".join(approaches) + " |",
             "|---:|---:|" + "---:|" * (2 * len(approaches) + 1)]
    by = {(c["width"], c["k"], c["approach"]): c for c in res["cells"]}
    for w, k in dict.fromkeys((c["width"], c["k"]) for c in res["cells"]):
        cs = [by[(w, k, a)] for a in approaches]
        lines.append(f"| {w} | {k} | " + " | ".join(_num(c["gflops"]) for c in cs) + " | "
                     + " | ".join(_num(c["steps_per_s"]) for c in cs) + " | "
                     + "/".join("-" if c["threads"] is None else str(c["threads"]) for c in cs) + " |")
    return "\n".join(lines)


def plot(fam: Family, res: dict[str, Any], path: str) -> None:
    """One panel per width: useful GFLOP/s against K (log2), a line per approach, GEMM peak dashed, bmm dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    widths = list(res["bmm_gflops"])
    fig, axes = plt.subplots(1, len(widths), figsize=(4.5 * len(widths), 3.8), squeeze=False, sharey=True)
    for ax, w in zip(axes[0], widths, strict=True):
        for a in fam.approaches:
            pts = [(c["k"], c["gflops"]) for c in res["cells"]
                   if str(c["width"]) == w and c["approach"] == a and c["gflops"] is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", color=COLORS[a], label=a)
        ax.axhline(res["peak_gflops"], ls="--", color="k", label="float32 GEMM peak")
        ax.axhline(res["bmm_gflops"][w], ls=":", color="gray", label=f"torch.bmm, K={res['bmm_k']}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(fam.title.format(w=w))
        ax.set_xlabel("pack size K")
    axes[0][0].set_ylabel("useful GFLOP/s")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=list(FAMILIES), default="mlp", help="the model family (default mlp)")
    full = {name: f.full for name, f in FAMILIES.items()}
    ap.add_argument("--widths", "--channels", type=int, nargs="+",
                    help="hidden widths / channel counts (default " + "; ".join(
                        f"{n} {g['widths']}" for n, g in full.items()) + ")")
    ap.add_argument("--ks", type=int, nargs="+", help=f"pack sizes (default {full['mlp']['ks']})")
    ap.add_argument("--steps", type=int, help=f"timed optimizer steps per cell (default {full['mlp']['steps']})")
    ap.add_argument("--plain-models", type=int,
                    help=f"plain-loop models timed per width, scaled by K (default {full['mlp']['plain_models']})")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (a pack may use fewer: Pack.threads)")
    ap.add_argument("--quick", action="store_true",
                    help="a small grid (" + "; ".join(f"{n} {f.quick['widths']}" for n, f in FAMILIES.items())
                    + f"; K {FAMILIES['mlp'].quick['ks']}, {FAMILIES['mlp'].quick['steps']} steps, < 30 s), "
                    "for a smoke test")
    ap.add_argument("--clock", choices=list(CLOCKS), default="wall",
                    help="time cells, peak and bmm by wall time (default; an idle machine) or by this process's CPU "
                         "time (a shared machine; with one thread it is the wall time of an idle one)")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    ap.add_argument("--plot", help="also draw the figure to this PNG file")
    args = ap.parse_args(argv)
    given = [v for v in (args.steps, args.plain_models) if v is not None] + (args.widths or []) + (args.ks or [])
    if any(v < 1 for v in given):
        ap.error("--steps, --plain-models, --widths and --ks take positive integers")
    fam = FAMILIES[args.family]
    grid = {**(fam.quick if args.quick else fam.full),
            **{k: v for k, v in vars(args).items() if k in fam.full and v is not None}}
    res = run(fam, grid["widths"], grid["ks"], grid["steps"], args.threads, grid["plain_models"], grid["peak_n"],
              grid["bmm_flops"], args.clock)
    print(markdown(fam, res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    if args.plot:
        plot(fam, res, args.plot)
    return res


if __name__ == "__main__":
    main()
