"""The Ray executor: packs as tasks, results stored by the driver, a killed worker's pack retried."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

ray = pytest.importorskip("ray")

from gaplab.engine.executor import run_local  # noqa: E402
from gaplab.engine.ray_executor import run_ray  # noqa: E402
from gaplab.spec import parse_run  # noqa: E402
from gaplab.store.db import Store  # noqa: E402


def _specs():
    base = parse_run({"data": {"name": "mnist1d", "args": {"num_samples": 1000}},
                      "model": {"name": "mlp", "args": {"width": 16}},
                      "optim": {"name": "sgd", "lr": 0.05, "epochs": 60, "batch_size": 10}})
    # three architectures -> three packs of ≈ 1-2 s each (60 epochs: the killer waits 0.2 s into a pack)
    return [base.replace(**{"model.args.depth": d, "seed": s}) for d in (1, 2, 3) for s in (0, 1)]


def test_ray_sweep_survives_a_killed_worker(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("GAPLAB_TASK_MARKERS", str(markers))
    killed: list[int] = []

    def killer() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            for marker in markers.iterdir():
                time.sleep(0.2)  # let it get into training (a pack takes seconds)
                try:
                    os.kill(int(marker.name.split("-")[0]), signal.SIGKILL)
                except ProcessLookupError:  # that worker already finished its pack
                    marker.unlink()
                    continue
                killed.append(int(marker.name.split("-")[0]))
                return
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    db = Store(tmp_path / "ray.db")
    specs = _specs()
    out = run_ray(specs, db, group="ray-test", max_pack=8, num_cpus=2)
    t.join(timeout=5)
    assert killed, "no worker was killed: the test did not exercise a retry"
    assert out["failed"] == 0 and out["trained"] == len(specs)
    assert db.finished([s.run_id for s in specs]) == {s.run_id for s in specs}
    # the retried pack gives the same numbers as training locally
    local = {r.run_id: r.final for r in run_local(specs, None)["results"]}
    for s in specs:
        assert db.run(s.run_id)["final"]["test_acc"] == pytest.approx(local[s.run_id]["test_acc"], abs=1e-5)
    # a second run skips everything
    again = run_ray(specs, db, group="ray-test", num_cpus=2)
    assert again["skipped"] == len(specs) and again["trained"] == 0
