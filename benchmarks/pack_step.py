"""Where a pack step's time goes: data gather, augmentation, dropout masks, forward, backward, optimizer.

Trains a pack for a few steps under ``torch.profiler`` and sums the CPU time of the engine's labelled phases
(``record_function`` in engine.pack / engine.fused / engine.vmapnet), for the fused and the vmap path side by side,
plus the share of matrix multiplies — what a faster step could still remove is everything else.

    python benchmarks/pack_step.py --width 47 --k 24
    python benchmarks/pack_step.py --width 128 --k 16 --dropout 0.2 --l1 0.5 --threads 2
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from gaplab.engine.batches import epoch_batches
from gaplab.engine.pack import Pack
from gaplab.spec import parse_run

DATA = {"name": "mnist1d", "args": {"num_samples": 16000, "train_split": 0.25}, "standardize": False}
PHASES = ("data gather", "augment", "dropout masks", "forward", "backward", "optimizer")
MATMUL = ("aten::bmm", "aten::baddbmm", "aten::mm", "aten::addmm", "aten::matmul")


def breakdown(pack: Pack, steps: int) -> dict[str, float]:
    """Milliseconds per step in each phase (forward excludes the dropout masks drawn inside it; on the fused path it
    includes the backward, which runs inside the same TorchScript call: engine.fused.dense_train), matmuls, total."""
    idx, w, per_model = epoch_batches(pack.data.train_idx, pack.specs[0].optim.batch_size, list(range(pack.k)))
    active = torch.ones(pack.k, dtype=torch.bool)
    n = idx.shape[1]
    for s in range(3):  # warm-up
        pack.step(idx[:, s % n], w[:, s % n], active, 0, s, 1.0, per_model)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for s in range(steps):
            pack.step(idx[:, s % n], w[:, s % n], active, 0, s, 1.0, per_model)
    events = prof.key_averages()
    total_us = {e.key: e.cpu_time_total for e in events}
    out = {p: total_us.get(p, 0.0) / steps / 1e3 for p in PHASES}
    out["forward"] -= out["dropout masks"]  # the masks are drawn inside the forward pass
    out["matmul"] = sum(e.self_cpu_time_total for e in events if e.key in MATMUL) / steps / 1e3
    out["step"] = sum(out[p] for p in PHASES)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=47)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--k", type=int, default=24, help="models in the pack")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--l1", type=float, default=0.0)
    ap.add_argument("--l2", type=float, default=0.0)
    ap.add_argument("--optim", default="sgd", choices=["sgd", "adam"])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    base = parse_run({"data": DATA, "model": {"name": "mlp", "args": {"width": a.width, "depth": a.depth}},
                      "optim": {"name": a.optim, "lr": 0.01, "momentum": 0.9 if a.optim == "sgd" else 0.0,
                                "batch_size": 100, "epochs": 1},
                      "reg": {"dropout": a.dropout, "l1": a.l1, "l2": a.l2}})
    specs = [base.replace(seed=i) for i in range(a.k)]
    rows = {path: breakdown(Pack(specs, path=path), a.steps) for path in ("vmap", "fused")}
    print(f"pack of {a.k} MLPs 40-{a.width}x{a.depth}-10, batch 100, {a.threads} thread(s); CPU ms per step "
          f"(profiler on: absolute times are inflated, compare the columns)")
    print(f"{'phase':<12} | {'vmap':>8} | {'fused':>8}")
    for p in (*PHASES, "matmul", "step"):
        print(f"{p:<12} | {rows['vmap'][p]:8.3f} | {rows['fused'][p]:8.3f}")
    print(f"vmap/fused step time: {rows['vmap']['step'] / rows['fused']['step']:.2f}x; matmul share of the fused "
          f"step: {rows['fused']['matmul'] / rows['fused']['step']:.0%}")


if __name__ == "__main__":
    main()
