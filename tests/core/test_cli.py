"""The command line: JSON output, one-line errors with exit code 2, resumable sweeps after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from gaplab.cli.app import app

runner = CliRunner()
SMALL = ["--set", "data.args.num_samples=600", "--width", "16", "--epochs", "2"]


def test_train_json_and_reuse(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    r = runner.invoke(app, ["train", *SMALL, "--store", db, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["status"] == "done" and 0 <= out["test_acc"] <= 1 and len(out["run_id"]) == 16
    r2 = runner.invoke(app, ["train", *SMALL, "--store", db])
    assert r2.exit_code == 0 and "already stored" in r2.output
    assert runner.invoke(app, ["runs", "show", out["run_id"][:6], "--store", db, "--json"]).exit_code == 0
    r3 = runner.invoke(app, ["runs", "export", str(tmp_path / "m.csv"), "--what", "metrics", "--store", db])
    assert r3.exit_code == 0 and (tmp_path / "m.csv").read_text().startswith("run_id,epoch,metric,value")


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  name: mlp\n  args: {width: -3}\noptim:\n  lrr: 0.1\n")
    cases = [
        ["train", "--model", "nope"],
        ["train", "--epochs", "0"],
        ["train", str(bad)],
        ["train", str(tmp_path / "missing.yaml")],
        ["train", "--data", "file", "--path", str(tmp_path / "nope.csv")],
        ["sweep", str(bad)],
    ]
    for args in cases:  # in this process (fast); test_cli_errors runs a real one
        r = runner.invoke(app, [*args, "--store", str(tmp_path / "x.db")])
        assert r.exit_code == 2, (args, r.stderr, r.exception)
        assert r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = subprocess.run([sys.executable, "-m", "gaplab.cli.app", "train", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.strip().startswith("error:"), r.stderr
    assert "optim.lrr (line 5): unknown key" in " ".join(r.stderr.split())


def test_sweep_killed_with_sigkill_resumes(tmp_path: Path) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        "name: kill\nbase:\n  data: {name: mnist1d, args: {num_samples: 600}}\n"
        "  optim: {name: sgd, lr: 0.05, epochs: 15, batch_size: 20}\n"
        "grid:\n  model.args.depth: [1, 2, 3, 4, 5, 6]\n  seed: [0, 1]\n"
    )
    db = tmp_path / "k.db"
    cmd = [sys.executable, "-m", "gaplab.cli.app", "sweep", str(sweep), "--store", str(db), "--json"]
    env = {**os.environ, "GAPLAB_THREADS": "1"}
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 300
    finished = 0
    while time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    finished = con.execute("SELECT count(*) FROM runs WHERE status='done'").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if finished >= 2:
                break
    assert p.poll() is None, "sweep ended before it could be killed"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with sqlite3.connect(db) as con:
        done_before = con.execute("SELECT count(*) FROM runs WHERE status='done'").fetchone()[0]
        assert done_before < 12
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["skipped"] == done_before and summary["trained"] == 12 - done_before
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM runs WHERE status='done'").fetchone()[0] == 12
        # every run has all its epochs exactly once
        rows = con.execute("SELECT run_id, count(*) FROM epochs GROUP BY run_id").fetchall()
        assert len(rows) == 12 and all(n == 15 for _, n in rows)


def test_user_file_runs_follow_its_content(tmp_path: Path) -> None:
    import numpy as np

    f = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)).astype("float32")
    np.savez(f, x=x, y=(x[:, 0] > 0).astype("int64"))
    db = str(tmp_path / "f.db")
    args = ["train", "--path", str(f), "--model", "logistic", "--epochs", "2", "--store", db, "--json"]
    first = json.loads(runner.invoke(app, args).stdout.strip().splitlines()[-1])
    again = json.loads(runner.invoke(app, args).stdout.strip().splitlines()[-1])
    assert again["run_id"] == first["run_id"]
    np.savez(f, x=x, y=(x[:, 1] > 0).astype("int64"))  # the file changes: a new run, not the stored one
    changed = json.loads(runner.invoke(app, args).stdout.strip().splitlines()[-1])
    assert changed["run_id"] != first["run_id"]
