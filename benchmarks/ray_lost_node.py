"""Lost nodes on a simulated Ray cluster: how much training a node's death costs, and that no number changes.

A cluster simulated on this machine (``ray.cluster_utils.Cluster``: a head that schedules nothing, 1-CPU workers)
trains the 24-run user-model sweep of tests/core/test_ray_cluster.py (model file on no import path, user CSV,
shipped to the workers) with longer packs, on ``--losses`` + 1 worker nodes. ``--losses`` times, a random moment
(0.5-2.5 checkpoint intervals) after a running pack's latest checkpoint, that pack's node is removed. Reports, per
loss, the training seconds lost (the node's death minus the pack's last checkpoint write) against the interval, and
checks
every run is stored once with per-epoch metrics identical to the same packs trained locally. Usage:

    RAY_USAGE_STATS_ENABLED=0 python benchmarks/ray_lost_node.py --interval 2 --epochs 150 --losses 2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import tempfile
import threading
import time
from pathlib import Path

_test = Path(__file__).resolve().parents[1] / "tests" / "core" / "test_ray_cluster.py"
_spec = importlib.util.spec_from_file_location("ray_cluster_cases", _test)
assert _spec is not None and _spec.loader is not None
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interval", type=float, default=2.0, help="seconds of training between checkpoints")
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--losses", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray
    import torch
    from ray.cluster_utils import Cluster

    from gaplab.engine.executor import run_local
    from gaplab.engine.ray_executor import run_ray
    from gaplab.store.db import Store

    torch.set_num_threads(1)
    rng = random.Random(args.seed)
    cases.EPOCHS = args.epochs
    tmp = Path(tempfile.mkdtemp(prefix="gaplab-lost-node-"))

    (tmp / "userland").mkdir()
    files = cases.write_user_files(tmp / "userland")
    specs = cases._specs(files, [8, 16, 24])
    t = time.perf_counter()
    local = {r.run_id: r.history for r in run_local(specs, None, max_pack=8)["results"]}
    t_local = time.perf_counter() - t
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, "_system_config": {
        "health_check_initial_delay_ms": 0, "health_check_period_ms": 500, "health_check_failure_threshold": 3}})
    # one worker node per pack plus one (Ray's harness adds nodes only from the main thread: none is added later)
    nodes = {n.node_id: n for n in (c.add_node(num_cpus=1) for _ in range(args.losses + 1))}
    c.wait_for_nodes()
    markers, ck_dir = tmp / "markers", tmp / "ck"
    markers.mkdir()
    os.environ["GAPLAB_TASK_MARKERS"] = str(markers)
    losses: list[dict] = []
    done = threading.Event()

    def killer() -> None:
        while len(losses) < args.losses and not done.is_set():
            cks = [p for p in ck_dir.glob("*.pt")] if ck_dir.exists() else []
            live = {m["pack"]: m for m in cases._markers(markers) if m["node"] in nodes}
            hit = [p for p in cks if p.stem in live]
            if not hit:
                time.sleep(0.05)
                continue
            ck, m = hit[0], live[hit[0].stem]
            time.sleep(rng.uniform(0.5, 2.5) * args.interval)
            if not ck.exists() or done.is_set():  # the pack finished meanwhile
                continue
            node = nodes.pop(m["node"])
            c.remove_node(node, allow_graceful=False)
            try:
                os.kill(m["pid"], 9)
            except ProcessLookupError:
                pass
            t_dead = time.time()
            losses.append({"lost": t_dead - ck.stat().st_mtime,
                           "epoch": int(torch.load(ck, weights_only=True)["epoch"])})

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    db = Store(tmp / "cluster.db")
    t = time.perf_counter()
    out = run_ray(specs, db, group="lost", max_pack=8, address=c.address, checkpoint_every=args.interval,
                  checkpoint_dir=f"file://{ck_dir}")
    t_ray = time.perf_counter() - t
    done.set()
    th.join(timeout=5)
    same = all(db.history(s.run_id) == local[s.run_id] for s in specs)
    once = sorted(r["id"] for r in db.runs(group="lost")) == sorted(s.run_id for s in specs)
    resumed = sorted({m["from_epoch"] for m in cases._markers(markers) if m["from_epoch"] > 0})
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()
    print(json.dumps({"runs": len(specs), "epochs": args.epochs, "interval_s": args.interval,
                      "local_s": round(t_local, 1), "cluster_s": round(t_ray, 1), "failed": out["failed"],
                      "stored_once": once, "histories_identical": same, "resumed_from_epochs": resumed,
                      "losses": [{k: round(v, 2) for k, v in x.items()} for x in losses],
                      "max_lost_over_interval": round(max((x["lost"] for x in losses), default=0) / args.interval,
                                                      2)}, indent=1))


if __name__ == "__main__":
    main()
