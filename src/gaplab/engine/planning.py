"""Planning packs: which runs may train together (``pack_key``), how widths are bucketed, how big a pack may be.

Planning is separate from executing (engine.executor): a sweep, ``advise``'s cost estimate and the API's
dry run all plan with ``schedule``, so they count the packs that will actually run and how many at once.
"""

from __future__ import annotations

import heapq
import json
import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaplab.engine.conv import convs
from gaplab.engine.datacache import pool_key
from gaplab.engine.fused import fuses
from gaplab.engine.padding import bucket_widths, flops_per_example, pad_arg, width_of
from gaplab.spec import RunSpec

DEFAULT_MAX_PACK = 64


def pack_key(spec: RunSpec) -> str:
    """Runs with equal keys can be trained as one pack (same data pool, architecture and loop shape).

    Everything left out (seed, learning rate, momentum, penalties, decay, dropout rate, smoothing,
    noise strength, mixing α, label noise, patience) varies per model in a pack. Training-set sizes may differ
    only within one count of steps per epoch: a pack steps as often as its largest run, so mixing sizes would
    make the smaller runs pay for masked steps they do not take.
    """
    s = spec
    arg = pad_arg(s)
    margs = {k: v for k, v in s.model.args.items() if k != arg}
    key: dict[str, Any] = {
        "pool": pool_key(s.data),
        "val": s.data.val_fraction > 0,
        "model": [s.model.name, margs],
        "optim": [s.optim.name, s.optim.nesterov, s.optim.batch_size, s.optim.epochs, s.optim.schedule,
                  s.optim.step_size, s.optim.gamma],
        "reg": [s.reg.penalize_bias, s.reg.penalize_norm, [a.model_dump() for a in s.reg.augment],
                s.reg.mixup > 0, s.reg.cutmix > 0,
                s.reg.early_stopping.monitor if s.reg.early_stopping else None,
                s.reg.early_stopping.direction if s.reg.early_stopping else None],
        "device": s.device,
        "eval_every": s.eval_every,
        "steps_per_epoch": steps_per_epoch(s),
    }
    return json.dumps(key, sort_keys=True, default=str)


def steps_per_epoch(spec: RunSpec) -> int:
    """Optimizer steps in one epoch of this run: ⌈training examples / batch size⌉."""
    n = spec.data.train_size
    if n is None:
        from gaplab.engine.datacache import prepared_for

        n = len(prepared_for(spec).train_idx)
    return -(-int(n) // spec.optim.batch_size)


# Fixed per-step cost of one more pack, in multiply-adds per example: what bucketing weighs padding waste against.
# Measured (CPU time per step of a pack of one width-2 MLP, batch 100, one thread): 0.29 ms on the fused path,
# 1.0 ms on the vmap path; at ≈40 GFLOP/s for small batched matmuls that is ≈2e4 and ≈7e4 MACs per example
# (6 FLOPs per MAC and example: forward and backward).
# The conv path (a pack of one cnn1d at 2 channels): 3.2× the fused step's time, measured in one run
# (pack-of-one step CPU times on a loaded box), so ≈ 6e4.
PACK_OVERHEAD = {"fused": 2.0e4, "conv": 6.0e4, "vmap": 7.0e4}



def _width_buckets(group: list[RunSpec]) -> list[list[RunSpec]]:
    """Split runs of one pack key by width so padding wastes less than extra packs would cost."""
    if pad_arg(group[0]) is None:
        return [group]
    widths = [width_of(s) for s in group]
    overhead = PACK_OVERHEAD["fused" if fuses(group[0]) else "conv" if convs(group[0]) else "vmap"]
    buckets = bucket_widths(widths, lambda w: flops_per_example(group[0], w), overhead)
    where = {w: i for i, b in enumerate(buckets) for w in b}
    out: list[list[RunSpec]] = [[] for _ in buckets]
    for s, w in zip(group, widths, strict=True):
        out[where[w]].append(s)
    return out


def model_bytes(spec: RunSpec) -> int:
    """Memory one model takes in a pack: parameters with gradient, optimizer state and best copy (6 × 4 bytes
    each), plus float32 activations for the larger of a training batch and an evaluation chunk."""
    return _model_sizes(spec)[1]


def _model_sizes(spec: RunSpec) -> tuple[int, int]:
    """(parameters, ``model_bytes``) of one run's model."""
    import torch

    from gaplab.engine.datacache import shared_pool
    from gaplab.engine.pack import EVAL_CHUNK, build_model

    ds = shared_pool(spec.data)
    model = build_model(spec, ds.input_shape, ds.output_dim)
    n_params = sum(p.numel() for p in model.parameters())
    n_state = n_params + sum(b.numel() for b in model.buffers())
    acts = [0]

    def count(_m: torch.nn.Module, _i: object, out: object) -> None:
        if isinstance(out, torch.Tensor):
            acts[0] += out[0].numel()

    hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        model.eval()(ds.x_train[:2])
    for h in hooks:
        h.remove()
    return n_params, 24 * n_state + 4 * acts[0] * max(spec.optim.batch_size, EVAL_CHUNK) * 2


# A pack's (K, P) parameter table may fill this share of the last-level cache: every step streams it (and the
# gradient and optimizer tables) through the elementwise ops. Measured (docs/performance.md, one thread, 32 MB L3):
# MLP packs keep their GFLOP/s per CPU second up to tables of 25-29 MB and lose 15-35 % from 34 MB up.
CACHE_SHARE = 0.8
DEFAULT_CACHE = 32 * 2**20


def cache_bytes() -> int:
    """This machine's last-level cache (Linux sysfs), or ``DEFAULT_CACHE`` where it cannot be read."""
    best = (0, 0)
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        unit = {"K": 2**10, "M": 2**20, "G": 2**30}.get(size[-1:].upper(), 1)
        digits = size.rstrip("KkMmGg")
        if digits.isdigit():
            best = max(best, (level, int(digits) * unit))
    return best[1] or DEFAULT_CACHE


def memory_budget() -> int:
    """A quarter of this machine's physical memory: what one pack may use."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):
        return 2 << 30


def pack_keys(specs: Iterable[RunSpec]) -> dict[str, str]:
    """Run id → ``pack_key`` (computed once per run: it may load the run's data to count its steps)."""
    return {s.run_id: pack_key(s) for s in specs}


def plan_packs(specs: Iterable[RunSpec], max_pack: int = DEFAULT_MAX_PACK,
               keys: dict[str, str] | None = None, budget: int | None = None) -> list[list[RunSpec]]:
    """Group specs by ``pack_key`` (first-seen order), bucket widths, split groups so a pack has at most
    ``max_pack`` models, fits in ``budget`` bytes (default ``memory_budget()``; a GPU's share on a cluster) and, on
    the CPU, keeps its parameter table within ``CACHE_SHARE`` of the last-level cache."""
    groups: dict[str, list[RunSpec]] = {}
    for s in specs:
        groups.setdefault(keys[s.run_id] if keys is not None else pack_key(s), []).append(s)
    packs: list[list[RunSpec]] = []
    budget = memory_budget() if budget is None else budget
    for g in groups.values():
        for b in _width_buckets(g):
            widest = max(b, key=lambda s: width_of(s) if pad_arg(s) else 0)
            n_params, nbytes = _model_sizes(widest)
            cap = max(1, min(max_pack, budget // max(1, nbytes)))
            if is_cpu(widest.device):  # a GPU's memory is not a CPU cache
                cap = max(1, min(cap, int(CACHE_SHARE * cache_bytes()) // max(1, 4 * n_params)))
            n = -(-len(b) // cap)
            size = -(-len(b) // n)  # balanced chunks
            packs.extend(b[i:i + size] for i in range(0, len(b), size))
    return packs


def pack_cost(pack: list[RunSpec]) -> float:
    """Relative cost of a pack (models × per-example work × epochs), for longest-first scheduling."""
    s = max(pack, key=lambda x: width_of(x) if pad_arg(x) else 0)
    per = flops_per_example(s, width_of(s)) if pad_arg(s) else 1.0
    return len(pack) * per * s.optim.epochs * max(1, s.data.train_size or 1)


def balanced(packs: list[list[RunSpec]], slots: int) -> list[list[RunSpec]]:
    """``packs`` with the costliest cut in halves until none is more than 1/``slots`` of the work (or it is one
    model): ``slots`` packs trained side by side then keep every thread busy to the end. A model's numbers do not
    depend on its pack-mates (tests/core/test_engine_exact.py), so cutting a pack changes only the speed."""
    if slots < 2 or not packs:
        return list(packs)
    # a heap of (-cost, place): the costliest first, among equal costs the first in the list. A place is the pack's
    # index then 0/1 per halving, so the halves sort where their pack stood (no place is a prefix of another)
    at: dict[tuple[int, ...], list[RunSpec]] = {(i,): p for i, p in enumerate(packs)}
    heap = [(-pack_cost(p), place) for place, p in at.items()]
    share = -sum(c for c, _ in heap) / slots
    heapq.heapify(heap)
    while True:
        cost, place = heap[0]
        p = at[place]
        if len(p) < 2 or -cost <= share:
            return [at[k] for k in sorted(at)]
        del at[place]
        half = (len(p) + 1) // 2
        at[(*place, 0)], at[(*place, 1)] = p[:half], p[half:]
        heapq.heapreplace(heap, (-pack_cost(p[:half]), (*place, 0)))
        heapq.heappush(heap, (-pack_cost(p[half:]), (*place, 1)))


# a pack may use memory_budget(), a quarter of the machine's memory: three at once leave a quarter
MAX_SIDE_BY_SIDE = 3


def is_cpu(device: str) -> bool:
    """``device`` ("cpu", "cuda:1", ...) is the CPU."""
    return device.split(":", 1)[0] == "cpu"


def slots(n: int, on_cpu: bool) -> int:
    """How many packs of ``n`` runs (or groups of runs) one process trains at once, one torch thread each: torch's
    thread count, at most ``MAX_SIDE_BY_SIDE`` (memory) and ``n``; one off the CPU (packs there share the device,
    not the process's threads)."""
    import torch

    if not on_cpu:
        return 1
    return max(1, min(torch.get_num_threads(), MAX_SIDE_BY_SIDE, n))


def side_by_side(specs: Sequence[RunSpec]) -> int:
    """``slots`` for these runs: one per run (packs are cut to match: ``balanced``), one if any runs off the CPU."""
    return slots(len(specs), all(is_cpu(s.device) for s in specs))


@dataclass(frozen=True)
class Schedule:
    """The packs a sweep trains, in plan order, and how many train at once: in ``workers`` processes, or with
    one worker side by side in threads of this process (``in_threads``)."""

    packs: list[list[RunSpec]]
    at_once: int
    workers: int | None = 1

    @property
    def in_threads(self) -> bool:
        """Packs train side by side in threads of this process (one torch thread each)."""
        return self.workers == 1 and self.at_once > 1


def schedule(specs: Iterable[RunSpec], workers: int | None = 1, max_pack: int = DEFAULT_MAX_PACK, *,
             pending: Collection[str] | None = None, budget: int | None = None) -> Schedule:
    """The packs a sweep of ``specs`` trains and how many at once; the executor trains it, the dry run shows it
    and advise's time estimate adds it up, so the three cannot disagree.

    ``workers``: local processes (1: this process, packs side by side when torch has several threads); None: a
    cluster's (packs are not cut, one at a time here). Only the runs in ``pending`` (run ids; default all) are
    trained, but packs are planned over every run whose pack group has a pending run and then cut down to the
    pending ones: a re-run after a kill plans the same packs, so each finds its checkpoint. ``budget``: bytes one
    pack may use (default ``memory_budget()``).
    """
    uniq: dict[str, RunSpec] = {}
    for s in specs:
        uniq.setdefault(s.run_id, s)
    keys = pack_keys(uniq.values())
    todo = set(uniq) if pending is None else set(pending)
    live = {keys[i] for i in todo if i in uniq}
    planned = plan_packs([s for i, s in uniq.items() if keys[i] in live], max_pack, keys, budget)
    n_slots = side_by_side(list(uniq.values())) if workers == 1 else 1
    packs = [p for p in ([s for s in pack if s.run_id in todo] for pack in balanced(planned, n_slots)) if p]
    at_once = max(1, min(n_slots if workers == 1 else workers or 1, len(packs)))
    return Schedule(packs, at_once, workers)
