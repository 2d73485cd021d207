"""Sweeps on a 3-node Ray cluster simulated on this machine (``ray.cluster_utils.Cluster``, Ray's own harness).

The user's model lives in a folder that is not on the workers' import path and reads a user CSV: both must travel
with the tasks. A node removed mid-pack costs at most one checkpoint interval and changes no number; a killed driver's
sweep resumes when run again. Every number is compared with the same packs trained locally, exactly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from gaplab.api.specs import build_sweep  # noqa: E402
from gaplab.engine import ray_executor  # noqa: E402
from gaplab.engine.checkpoint import pack_hash  # noqa: E402
from gaplab.engine.executor import run_local  # noqa: E402
from gaplab.engine.planning import model_bytes  # noqa: E402
from gaplab.engine.ray_executor import run_ray  # noqa: E402
from gaplab.spec import RunSpec  # noqa: E402
from gaplab.store.db import Store  # noqa: E402

MODEL = '''
from torch import nn

from helpers import activation  # a sibling module: its code is part of the model's and travels with it


class Net(nn.Module):
    def __init__(self, in_features, num_classes, hidden=16):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_features, hidden), activation(), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.body(x)
'''
HELPERS = "from torch import nn\n\n\ndef activation():\n    return nn.Tanh()\n"
EVERY = 0.3  # seconds of training between pack checkpoints
EPOCHS = 40


@pytest.fixture(scope="module")
def user_files(tmp_path_factory) -> tuple[Path, Path]:
    return write_user_files(tmp_path_factory.mktemp("userland"))


def write_user_files(root: Path) -> tuple[Path, Path]:
    """A model folder nobody put on a path, and a CSV of 240 rows, 6 features, 3 classes."""
    (root / "models").mkdir()
    (root / "models" / "net.py").write_text(MODEL)
    (root / "models" / "helpers.py").write_text(HELPERS)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 6))
    y = np.argmax(x[:, :3] + 0.5 * rng.normal(size=(240, 3)), axis=1)
    lines = ["a,b,c,d,e,f,label"] + [",".join(f"{v:.5f}" for v in row) + f",{k}" for row, k in zip(x, y)]
    (root / "table.csv").write_text("\n".join(lines) + "\n")
    return root / "models" / "net.py", root / "table.csv"


def _specs(user_files: tuple[Path, Path], hidden: list[int], device: str | None = None) -> list[RunSpec]:
    model, csv = user_files
    _, specs = build_sweep({"name": "cluster", "base": {
        "data": {"path": str(csv), "target": "label"},
        "model": {"name": f"{model}:Net"},
        "optim": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "epochs": EPOCHS, "batch_size": 16}},
        "grid": {"model.args.hidden": hidden, "seed": [0, 1, 2, 3], "reg.l2": [0.0, 1e-3]}}, device=device)
    return specs


@pytest.fixture(scope="module")
def cluster():
    """A head node that schedules nothing and two 1-CPU worker nodes (one declares a GPU Ray may hand out)."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, "_system_config": {
        "health_check_initial_delay_ms": 0, "health_check_period_ms": 500, "health_check_failure_threshold": 3}})
    nodes = [c.add_node(num_cpus=1, num_gpus=1), c.add_node(num_cpus=1)]
    c.wait_for_nodes()
    yield c, nodes
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()


@pytest.fixture(scope="module")
def local_reference(user_files) -> dict[str, list[dict]]:
    """Run id -> per-epoch metrics of the same packs trained in this process, without Ray."""
    torch.set_num_threads(1)
    out = run_local(_specs(user_files, [8, 16, 24]), None, max_pack=8)
    assert out["failed"] == 0
    return {r.run_id: r.history for r in out["results"]}


def _markers(folder: Path) -> list[dict]:
    out = []
    for p in folder.iterdir():
        try:
            out.append(json.loads(p.read_text()))
        except (ValueError, json.JSONDecodeError):  # being written
            continue
    return out


def test_cuda_packs_ask_for_a_gpu_share_and_fit_its_memory(cluster, user_files, tmp_path, monkeypatch) -> None:
    """--device cuda: each pack task holds 0.25 GPU and packs are cut to that share of the (mocked) free memory.
    This machine has no CUDA, so every pack then fails on the worker: its error is stored as one clean line."""
    c, _ = cluster
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("GAPLAB_TASK_MARKERS", str(markers))
    specs = _specs(user_files, [24])  # built for cpu (this machine has no CUDA to check), then moved to cuda
    specs = [s.replace(device="cuda") for s in specs]
    one = model_bytes(specs[0].replace(device="cpu"))
    monkeypatch.setattr(ray_executor, "device_free_bytes", lambda: int(3.5 * one / (0.25 * 0.9)))  # 3 models/pack
    db = Store(tmp_path / "gpu.db")
    out = run_ray(specs, db, group="gpu", max_pack=8, address=c.address, checkpoint_every=0)
    assert out["failed"] == 8
    seen = _markers(markers)
    assert len({m["pack"] for m in seen}) == 3  # 8 runs cut into packs of at most 3
    assert all(m["resources"] == {"CPU": 1.0, "GPU": 0.25} for m in seen)
    for s in specs:
        err = db.run(s.run_id)["error"]
        first, rest = err.split("\n", 1)
        assert "\x1b" not in err and "Torch not compiled with CUDA" in first
        assert "remote traceback" in rest and len(err.splitlines()) <= 16


def test_sweep_survives_a_lost_node_with_shipped_code_and_data(cluster, user_files, local_reference,
                                                               tmp_path, monkeypatch) -> None:
    c, nodes = cluster
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("GAPLAB_TASK_MARKERS", str(markers))
    ck_dir = tmp_path / "checkpoints"
    specs = _specs(user_files, [8, 16, 24])
    assert len(specs) == 24
    by_node = {n.node_id: n for n in nodes}
    lost: dict[str, float] = {}

    def remove_a_node() -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            for ck in ck_dir.glob("*.pt") if ck_dir.exists() else []:
                owner = [m for m in _markers(markers) if m["pack"] == ck.stem and m["node"] in by_node]
                if not owner:
                    continue
                m = max(owner, key=lambda m: m["time"])
                time.sleep(0.5 * EVERY)  # somewhere between two checkpoints
                if not ck.exists():  # the pack finished meanwhile (a fast machine): wait for another one's
                    continue
                c.remove_node(by_node[m["node"]], allow_graceful=False)
                try:  # the worker dies with its node (and surely now)
                    os.kill(m["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
                t_dead = time.time()
                lost.update(pack=ck.stem, node=m["node"], seconds=t_dead - ck.stat().st_mtime,
                            epoch=torch.load(ck, weights_only=True)["epoch"])
                return
            time.sleep(0.02)

    killer = threading.Thread(target=remove_a_node, daemon=True)
    killer.start()
    db = Store(tmp_path / "cluster.db")
    t0 = time.time()
    out = run_ray(specs, db, group="cluster", max_pack=8, address=c.address, checkpoint_every=EVERY,
                  checkpoint_dir=f"file://{ck_dir}")
    killer.join(timeout=5)
    print(f"\n24 runs, 3 packs on the cluster in {time.time() - t0:.1f} s; node lost after epoch "
          f"{lost.get('epoch')}: {lost.get('seconds', float('nan')):.2f} s of training lost (interval {EVERY} s)")
    assert lost, "no node was removed: the test did not exercise a retry"
    assert out["failed"] == 0 and out["trained"] == 24
    rows = db.runs(group="cluster")
    assert sorted(r["id"] for r in rows) == sorted(s.run_id for s in specs)  # every run stored once
    for s in specs:  # per-epoch metrics identical to an uninterrupted local run
        assert db.history(s.run_id) == local_reference[s.run_id]
        assert db.run(s.run_id)["spec"]["model"]["name"] == s.model.name  # the driver's names are stored
    seen = _markers(markers)
    # the workers imported the shipped copies, not the driver's folders
    assert all("gaplab_ship_" in m["model"] and "gaplab_ship_" in m["data"] for m in seen)
    again = [m for m in seen if m["pack"] == lost["pack"] and m["from_epoch"] > 0]
    assert again and again[0]["from_epoch"] == lost["epoch"]  # resumed from the checkpoint on the other node
    assert again[0]["node"] != lost["node"]  # not on the node that was removed
    # lost work ≤ one checkpoint interval (plus the time the node took to die, counted in; a loaded CI box is slow)
    assert lost["seconds"] <= EVERY + 0.5
    assert list(ck_dir.glob("*.pt")) == []  # finished packs leave no checkpoint behind


_DRIVER = """
import json, sys
from gaplab.engine.ray_executor import run_ray
from gaplab.spec import parse_run
from gaplab.store.db import Store
specs = [parse_run(d) for d in json.load(open(sys.argv[1]))]
run_ray(specs, Store(sys.argv[2]), group="killed", max_pack=8, address=sys.argv[3], checkpoint_every=float(sys.argv[5]),
        checkpoint_dir=sys.argv[4])
"""


def test_killed_driver_resumes_when_run_again(cluster, user_files, local_reference, tmp_path, monkeypatch) -> None:
    c, _ = cluster  # whatever worker nodes are left
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("GAPLAB_TASK_MARKERS", str(markers))
    ck_dir = tmp_path / "ck"
    specs = _specs(user_files, [24])  # one pack of 8
    spec_file = tmp_path / "specs.json"
    spec_file.write_text(json.dumps([s.normalized() for s in specs]))
    db_path = tmp_path / "killed.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, str(spec_file), str(db_path), c.address, str(ck_dir),
                               str(EVERY)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not list(ck_dir.glob("*.pt")) and time.time() < deadline and driver.poll() is None:
            time.sleep(0.02)
        assert list(ck_dir.glob("*.pt")), "the driver never checkpointed its pack"
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.kill()
        driver.wait()
    db = Store(db_path)
    assert db.finished([s.run_id for s in specs]) == set()
    out = run_ray(specs, db, group="killed", max_pack=8, address=c.address, checkpoint_every=EVERY,
                  checkpoint_dir=str(ck_dir))
    assert out["trained"] == 8 and out["failed"] == 0
    resumed = [m for m in _markers(markers) if m["pack"] == pack_hash([s.run_id for s in specs])]
    # the re-run took the dead driver's claims and found its checkpoint
    assert max(resumed, key=lambda m: m["time"])["from_epoch"] > 0
    for s in specs:
        assert db.history(s.run_id) == local_reference[s.run_id]
