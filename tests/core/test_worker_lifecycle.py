"""Worker processes die with their driver, whatever killed it: listed from /proc after a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from soak_tools import kill_soak

SWEEP = """name: life
base:
  data: {name: mnist1d, args: {num_samples: 600}}
  optim: {name: sgd, lr: 0.05, epochs: 200, batch_size: 20}
grid:
  model.args.depth: [1, 2]
  seed: [0, 1]
"""


def _kill_mid_pack(tmp_path: Path, extra: list[str], timeout: float) -> tuple[list[str], list[str]]:
    """Start a sweep, SIGKILL it once a worker trains a pack; (its processes, those alive 5 s later)."""
    (tmp_path / "s.yaml").write_text(SWEEP)
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {**os.environ, "GAPLAB_THREADS": "1", "GAPLAB_TASK_MARKERS": str(markers), "RAY_USAGE_STATS_ENABLED": "0"}
    p = subprocess.Popen([sys.executable, "-m", "gaplab.cli.app", "sweep", str(tmp_path / "s.yaml"),
                          "--store", str(tmp_path / "l.db"), "--json", *extra],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not any(markers.iterdir()) and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.1)
    assert p.poll() is None and any(markers.iterdir()), "no worker started training"
    procs = list(kill_soak.tree(p.pid))
    workers = [m.name.split("-")[0] for m in markers.iterdir()]  # a Ray marker is named pid-time
    assert all(any(k.startswith(f"{w}:") for k in procs) for w in workers)  # the tree holds the workers
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    deadline = time.monotonic() + 5
    left = procs
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [k for k in left if kill_soak.alive(k)]
    return procs, left


def test_local_workers_die_with_a_killed_sweep(tmp_path: Path) -> None:
    procs, left = _kill_mid_pack(tmp_path, ["--workers", "2"], timeout=120)
    assert len(procs) >= 3  # driver + 2 workers (+ multiprocessing's resource tracker)
    assert left == []


def test_ray_tasks_and_local_cluster_die_with_a_killed_driver(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    procs, left = _kill_mid_pack(tmp_path, ["--executor", "ray"], timeout=240)
    assert len(procs) >= 5  # driver, GCS, raylet, agents, workers
    assert left == []


def test_watchdog_ends_a_worker_whose_parent_died_without_a_death_signal(tmp_path: Path) -> None:
    # the fallback alone (as on systems without prctl): a middle process starts a worker and exits at once
    child = ("import sys, time; from gaplab.engine.executor import die_with_parent; sys.platform = 'other'; "
             "die_with_parent(int(sys.argv[1])); print('ready', flush=True); time.sleep(60)")
    # (the worker must not hold this test's pipes, or subprocess.run would wait for it to end)
    middle = ("import os, subprocess, sys; p = subprocess.Popen([sys.executable, '-c', sys.argv[1], str(os.getpid())],"
              " stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True); p.stdout.readline(); print(p.pid)")
    out = subprocess.run([sys.executable, "-c", middle, child], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[-1])
    start = kill_soak._stat(pid)
    deadline = time.monotonic() + 5
    while start is not None and kill_soak.alive(f"{pid}:{start[19]}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert start is None or not kill_soak.alive(f"{pid}:{start[19]}")
