"""Concurrent writers: two sweeps on one store train every run once, both finish; claims of the dead are taken."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from gaplab.store.db import Store, new_owner


def test_claims_are_atomic_and_stale_ones_are_taken_over(tmp_path: Path) -> None:
    db = Store(tmp_path / "c.db")
    a, b = new_owner(), new_owner()
    assert db.claim(["r1", "r2"], a) == {"r1", "r2"}
    assert db.claim(["r1", "r2", "r3"], b) == {"r3"}  # a is alive (this very process, fresh heartbeat)
    assert db.claim(["r1"], a) == {"r1"}  # re-claiming one's own runs is fine
    db.save_run("r1", {"seed": 0}, "done", [{"epoch": 1, "loss": 1.0}], {}, 1.0)
    assert db.claimed(["r1", "r2", "r3"]) == {"r2": a, "r3": b}  # storing a run releases its claim
    assert db.claim(["r1"], b) == set()  # finished runs are never claimed
    # another host's claim is live while its heartbeat is fresh, taken over once it is stale
    far = "elsewhere:4242:abc"
    db.claim(["r4"], far)
    assert db.claim(["r4"], b) == set()
    assert db.claim(["r4"], b, stale_after=0.0) == {"r4"}
    # a claim of a process of this host that is gone is taken over at once, heartbeat or not
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    ghost = f"{new_owner().split(':')[0]}:{int(dead.stdout)}:x"
    db.claim(["r5"], ghost)
    assert db.claim(["r5"], b) == {"r5"}
    db.heartbeat(b)
    db.release(b)
    assert db.claimed(["r2", "r3", "r4", "r5"]) == {"r2": a}


SWEEP = """name: {name}
base:
  data: {{name: mnist1d, args: {{num_samples: 600}}}}
  optim: {{name: sgd, lr: 0.05, epochs: 8, batch_size: 20}}
grid:
  model.args.depth: {depths}
  seed: [0, 1, 2]
"""


def test_two_sweeps_at_once_on_one_store(tmp_path: Path) -> None:
    # overlapping sweeps: depth 2 is in both; B starts with it while A starts with depth 1
    (tmp_path / "a.yaml").write_text(SWEEP.format(name="a", depths="[1, 2]"))
    (tmp_path / "b.yaml").write_text(SWEEP.format(name="b", depths="[2, 3]"))
    db = tmp_path / "shared.db"
    env = {**os.environ, "GAPLAB_THREADS": "1", "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "gaplab.cli.app", "sweep", str(tmp_path / f"{n}.yaml"),
                               "--store", str(db), "--json", "--checkpoint-every", "0.5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for n in ("a", "b")]
    t0 = time.monotonic()
    outs = [p.communicate(timeout=300) for p in procs]
    assert time.monotonic() - t0 < 300
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err
    a, b = (json.loads(out.strip().splitlines()[-1]) for out, _ in outs)
    assert a["runs"] == b["runs"] == 6 and a["failed"] == b["failed"] == 0
    # 9 distinct runs: each trained by exactly one of the two
    assert a["trained"] + b["trained"] == 9
    assert a["trained"] + a["skipped"] == 6 and b["trained"] + b["skipped"] == 6
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM runs WHERE status = 'done'").fetchone()[0] == 9
        per_run = con.execute("SELECT count(*) FROM epochs GROUP BY run_id").fetchall()
        assert len(per_run) == 9 and {n for (n,) in per_run} == {8}
        assert con.execute("SELECT count(*) FROM claims").fetchone()[0] == 0
        groups = dict(con.execute("SELECT name, count(*) FROM groups GROUP BY name").fetchall())
    assert groups == {"a": 6, "b": 6}
    ck = tmp_path / "shared.db.checkpoints"
    assert not ck.exists() or not any(ck.iterdir())


def _tiny(n: int) -> list:
    from gaplab.spec import parse_run

    base = parse_run({"data": {"name": "moons"}, "model": {"name": "mlp", "args": {"width": 4}},
                      "optim": {"epochs": 2, "batch_size": 50}})
    return [base.replace(seed=i) for i in range(n)]


def test_a_sweep_waits_for_runs_another_trains_and_takes_over_stale_claims(tmp_path: Path) -> None:
    import threading

    from gaplab.engine.executor import run_local

    db = Store(tmp_path / "w.db")
    specs = _tiny(4)
    ids = [s.run_id for s in specs]
    other = "elsewhere:1:live"
    assert db.claim(ids[:2], other) == set(ids[:2])
    out: dict = {}
    t = threading.Thread(target=lambda: out.update(run_local(specs, Store(tmp_path / "w.db"), max_pack=2)))
    t.start()
    deadline = time.monotonic() + 120
    while db.finished(ids) != set(ids[2:]) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # more than WAIT_POLL: it has looked again at the held runs and still waits
    assert db.finished(ids) == set(ids[2:]) and t.is_alive()  # own pack stored, the other's waited for
    for s in specs[:2]:  # the other sweep stores its runs
        db.save_run(s.run_id, s.normalized(), "done", [{"epoch": 1, "loss": 0.5}], {}, 1.0)
    t.join(timeout=60)
    assert out["trained"] == 2 and out["skipped"] == 2
    # a claim nobody beats any more is taken over and its runs trained
    more = _tiny(6)[4:]
    db.claim([s.run_id for s in more], "elsewhere:2:dead")
    db._con.execute("UPDATE claims SET heartbeat = 0")
    again = run_local(more, db)
    assert again["trained"] == 2 and db.finished([s.run_id for s in more]) == {s.run_id for s in more}
