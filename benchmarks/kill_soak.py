"""Kill soak: SIGKILL a sweep at random moments, restart it until it completes, then check the store.

Runs the same sweep (≥ 30 runs) once uninterrupted (store A) and once under fire (store B): `gaplab sweep` is
started, killed with SIGKILL after a random delay, restarted, ... ``--kills`` times, then left to finish.
Checks afterwards:

- every run is stored exactly once, done, with all its epochs, and its per-epoch metrics and final numbers are
  identical (exact float equality) to the uninterrupted sweep's;
- after each kill no process of the killed sweep survives (workers, Ray's processes) — listed from /proc;
- no claim and no checkpoint is left behind, no "database is locked" was ever printed.

Reports the CPU time lost to the kills: total CPU of every attempt ÷ CPU of the uninterrupted sweep (CPU time
of each process of the sweep's tree, sampled from /proc every 0.1 s). Usage:

    python benchmarks/kill_soak.py --executor local --workers 1 --kills 15
    python benchmarks/kill_soak.py --executor local --workers 2 --kills 15
    RAY_USAGE_STATS_ENABLED=0 python benchmarks/kill_soak.py --executor ray --kills 15
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


def sweep_yaml(runs: int, epochs: int) -> str:
    """A sweep of ``runs`` MLPs (widths × depths × seeds) on a small MNIST-1D, several packs."""
    seeds = max(1, -(-runs // 6))
    return (
        "name: soak\n"
        "base:\n"
        "  data: {name: mnist1d, args: {num_samples: 1000}, val_fraction: 0.1}\n"
        f"  optim: {{name: sgd, lr: 0.05, momentum: 0.9, epochs: {epochs}, batch_size: 50}}\n"
        "  reg: {dropout: 0.1}\n"
        "grid:\n"
        "  model.args.depth: [1, 2]\n"
        "  model.args.width: [16, 32, 64]\n"
        f"  seed: {list(range(seeds))}\n"
    )


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _fresh(folder: Path, since: float) -> bool:
    """Whether ``folder`` holds a checkpoint written after ``since`` (wall clock)."""
    try:
        return any(p.suffix == ".pt" and p.stat().st_mtime >= since for p in folder.iterdir())
    except OSError:  # the folder is not there yet, or a file went away while we looked
        return False


def tree(root: int) -> dict[str, float]:
    """'pid:starttime' → CPU seconds (user + system) of ``root`` and every process below it."""
    parent, cpu = {}, {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = _stat(int(d))
            if f is not None:
                parent[int(d)] = int(f[1])
                cpu[f"{d}:{f[19]}"] = (int(f[11]) + int(f[12])) / TICK
    out = {}
    for key, c in cpu.items():
        p = int(key.split(":")[0])
        for _ in range(64):
            if p == root:
                out[key] = c
                break
            if p not in parent:
                break
            p = parent[p]
    return out


def alive(key: str) -> bool:
    """Whether process 'pid:starttime' still runs (a zombie has exited: it holds no memory, runs nothing)."""
    pid, start = key.split(":")
    f = _stat(int(pid))
    return f is not None and f[19] == start and f[0] not in ("Z", "X")


class Attempt:
    """One `gaplab sweep` process; its tree's CPU is sampled while it runs."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.err = open(log, "w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                     start_new_session=True)
        self.cpu: dict[str, float] = {}
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        self.first_file: float | None = None

    def sample(self) -> None:
        for k, c in tree(self.proc.pid).items():
            self.cpu[k] = max(c, self.cpu.get(k, 0.0))

    def run_for(self, seconds: float | None, watch: Path | None = None) -> bool:
        """Sample until the sweep exits (True) or ``seconds`` pass (False), counted from when ``watch`` first
        holds a checkpoint written by this attempt (training is under way) if ``watch`` is given."""
        while self.proc.poll() is None:
            self.sample()
            if watch is not None and self.first_file is None and _fresh(watch, self.wall0):
                self.first_file = time.monotonic() - self.t0
            since = self.first_file if watch is not None else 0.0
            if seconds is not None and since is not None and time.monotonic() - self.t0 - since >= seconds:
                return False
            time.sleep(0.1)
        return True

    def kill(self, grace: float = 10.0) -> list[str]:
        """SIGKILL the driver; returns the processes of its tree still running ``grace`` seconds later."""
        self.sample()
        procs = list(self.cpu)
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        deadline = time.monotonic() + grace
        left = [k for k in procs if alive(k)]
        while left and time.monotonic() < deadline:
            for k in left:  # CPU they burn while dying counts too
                f = _stat(int(k.split(":")[0]))
                if f is not None:
                    self.cpu[k] = max(self.cpu.get(k, 0.0), (int(f[11]) + int(f[12])) / TICK)
            time.sleep(0.1)
            left = [k for k in left if alive(k)]
        self.err.close()
        return left

    def finish(self) -> dict[str, Any]:
        out = self.proc.stdout.read() if self.proc.stdout else ""
        self.proc.wait()
        self.err.close()
        if self.proc.returncode != 0:
            raise SystemExit(f"sweep exited with {self.proc.returncode}: see {self.err.name}")
        return json.loads(out.strip().splitlines()[-1])

    @property
    def seconds(self) -> float:
        return sum(self.cpu.values())


def store_rows(db: Path) -> tuple[dict[str, Any], dict[str, list[tuple[int, str]]], int]:
    """(run id → (status, final), run id → [(epoch, metrics json)], claims left) from a store."""
    with sqlite3.connect(db) as con:
        runs = {r: (s, f) for r, s, f in con.execute("SELECT id, status, final FROM runs")}
        hist: dict[str, list[tuple[int, str]]] = {}
        for r, e, m in con.execute("SELECT run_id, epoch, metrics FROM epochs ORDER BY run_id, epoch"):
            hist.setdefault(r, []).append((e, m))
        claims = con.execute("SELECT count(*) FROM claims").fetchone()[0]
    return runs, hist, claims


def soak(executor: str, workers: int, kills: int, runs: int, epochs: int, every: float, seed: int,
         folder: Path, max_pack: int) -> dict[str, Any]:
    spec = folder / "soak.yaml"
    spec.write_text(sweep_yaml(runs, epochs))
    env = {**os.environ, "GAPLAB_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}

    def cmd(db: Path) -> list[str]:
        c = [sys.executable, "-m", "gaplab.cli.app", "sweep", str(spec), "--store", str(db), "--json",
             "--checkpoint-every", str(every), "--executor", executor, "--max-pack", str(max_pack)]
        return c + (["--workers", str(workers)] if executor == "local" else [])

    base_db, soak_db = folder / "base.db", folder / "soak.db"
    base = Attempt(cmd(base_db), env, folder / "base.err")
    base.run_for(None, watch=folder / "base.db.checkpoints")
    base_summary = base.finish()
    base_wall = time.monotonic() - base.t0
    # start-up (imports, data, a Ray cluster): until the first checkpoint, less the checkpoint interval
    startup = max(0.0, (base.first_file or 0.0) - every)
    train_wall = base_wall - startup
    rnd = random.Random(seed)
    attempts, orphans, killed_at = [], [], []
    ckdir = folder / "soak.db.checkpoints"
    while True:
        a = Attempt(cmd(soak_db), env, folder / f"attempt{len(attempts)}.err")
        attempts.append(a)
        if len(killed_at) < kills:
            # a random moment once this attempt has written a checkpoint (so mid-pack, never only during
            # start-up): up to 1/(2·(kills+1)) of the training time later. Each attempt trains at most ≈ every
            # (to its first checkpoint) + that delay, so the sweep is still unfinished at the last kill as long as
            # the training time exceeds ≈ 2·kills·every
            delay = rnd.uniform(0.0, 1.0) * train_wall / (2 * (kills + 1))
            if not a.run_for(delay, watch=ckdir):
                orphans += a.kill()
                killed_at.append(round((a.first_file or 0.0) + delay, 2))
                continue
        else:
            a.run_for(None)
        last = a.finish()
        break
    errs = "".join((folder / f"attempt{i}.err").read_text() for i in range(len(attempts)))
    b_runs, b_hist, _ = store_rows(base_db)
    s_runs, s_hist, claims = store_rows(soak_db)
    mismatched = [r for r in b_runs if s_runs.get(r) != b_runs[r] or s_hist.get(r) != b_hist[r]]
    total_cpu = sum(a.seconds for a in attempts)
    return {
        "executor": executor if executor == "ray" else f"local, {workers} worker(s)",
        "runs": base_summary["runs"],
        "epochs": epochs,
        "checkpoint_every_s": every,
        "kills": len(killed_at),
        "kill_delays_s": killed_at,
        "attempts": len(attempts),
        "stored_once_all_done": (len(s_runs) == len(b_runs) == base_summary["runs"]
                                 and all(s == "done" for s, _ in s_runs.values())
                                 and all(len(h) == epochs for h in s_hist.values())),
        "identical_to_uninterrupted": not mismatched and set(s_runs) == set(b_runs),
        "mismatched_runs": mismatched,
        "orphans": orphans,
        "claims_left": claims,
        "checkpoints_left": len(list(ckdir.glob("*"))) if ckdir.exists() else 0,
        "database_locked": "database is locked" in errs,
        "last_attempt": {k: last[k] for k in ("trained", "skipped", "failed")},
        "uninterrupted_cpu_s": round(base.seconds, 2),
        "total_cpu_s": round(total_cpu, 2),
        "cpu_lost_ratio": round(total_cpu / base.seconds, 3),
        "uninterrupted_wall_s": round(base_wall, 1),
        "startup_wall_s": round(startup, 1),
        "kills_asked": kills,
    }


def ok(r: dict[str, Any]) -> bool:
    return (r["kills"] >= r["kills_asked"] and r["stored_once_all_done"] and r["identical_to_uninterrupted"]
            and not r["orphans"]
            and not r["claims_left"] and not r["checkpoints_left"] and not r["database_locked"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--executor", choices=["local", "ray"], default="local")
    ap.add_argument("--workers", type=int, default=1, help="local executor: worker processes")
    ap.add_argument("--kills", type=int, default=15)
    ap.add_argument("--runs", type=int, default=36, help="runs in the sweep (rounded up to a multiple of 6)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--checkpoint-every", type=float, default=1.0, help="seconds between pack checkpoints")
    ap.add_argument("--max-pack", type=int, default=9, help="models per pack (several packs in flight)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gaplab-soak-") as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        r = soak(args.executor, args.workers, args.kills, args.runs, args.epochs, args.checkpoint_every,
                 args.seed, folder, args.max_pack)
    r["ok"] = ok(r)
    print(json.dumps(r))
    sys.exit(0 if r["ok"] else 1)


if __name__ == "__main__":
    main()
