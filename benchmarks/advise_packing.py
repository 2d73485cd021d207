"""Size-aware packing: time the advise sweep with packs that mix training-set sizes (before) and with packs of
one step count per epoch (after, the engine's behaviour).

Before, a pack of runs with different sizes stepped as often as its largest run and every model paid for every
step (the smaller ones masked). The "before" arm restores that by packing with the old key (without steps per
epoch). Both arms train the same plan without a store; CPU time of this process is quoted beside wall time,
since wall time on a shared machine is inflated by other work. Run from the repo root:

    python benchmarks/advise_packing.py [--data mnist1d] [--n 4000] [--epochs 40] [--min-steps 400]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from gaplab.advise import data_spec
from gaplab.advise.plan import base_plan
from gaplab.advise.sweep import run_plan
from gaplab.engine import planning


def old_pack_key(spec):  # noqa: ANN001, ANN201  (the key as it was: sizes of any step count share a pack)
    key = json.loads(_new_key(spec))
    key.pop("steps_per_epoch")
    return json.dumps(key, sort_keys=True, default=str)


_new_key = planning.pack_key


def timed(plan, label: str) -> dict:  # noqa: ANN001
    c0, w0 = time.process_time(), time.perf_counter()
    packs = planning.plan_packs([s for *_, s in plan.runs()])
    rows, counts = run_plan(plan, None)
    out = {"arm": label, "packs": len(packs), "models": len(rows), "cpu_s": round(time.process_time() - c0, 1),
           "wall_s": round(time.perf_counter() - w0, 1), "mean_test_error": round(
               sum(r.test_error for r in rows) / len(rows), 4)}
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="mnist1d")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--min-steps", type=int, default=400)
    a = ap.parse_args()
    torch.set_num_threads(1)
    plan = base_plan(data_spec(a.data), None, None, a.n, epochs=a.epochs, min_steps=a.min_steps)
    print(plan.describe(), flush=True)
    planning.pack_key = old_pack_key
    before = timed(plan, "before: sizes mixed in a pack")
    planning.pack_key = _new_key
    after = timed(plan, "after: one step count per pack")
    print(f"after/before: CPU {after['cpu_s'] / before['cpu_s']:.2f}×, wall {after['wall_s'] / before['wall_s']:.2f}×"
          f" (same results: mean test error {before['mean_test_error']} vs {after['mean_test_error']})")


if __name__ == "__main__":
    main()
