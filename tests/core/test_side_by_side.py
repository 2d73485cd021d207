"""Packs side by side in threads of one process: who goes side by side, the same numbers as one thread, Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from gaplab.engine.executor import MAX_SIDE_BY_SIDE, run_local, side_by_side
from gaplab.engine.planning import balanced
from gaplab.spec import RunSpec, parse_run
from gaplab.store.db import Store

BASE = {"data": {"name": "mnist1d", "args": {"num_samples": 600}},
        "model": {"name": "mlp", "args": {"width": 16, "depth": 2}},
        "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 3, "batch_size": 50}}


def specs(widths: list[int], epochs: int = 3, seeds: int = 2) -> list[RunSpec]:
    base = parse_run(BASE)
    return [base.replace(**{"model.args.width": w, "optim.epochs": epochs, "seed": s})
            for w in widths for s in range(seeds)]


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def test_side_by_side_counts_threads_and_runs_on_the_cpu(threads) -> None:
    one, five = specs([16], seeds=1), specs([16], seeds=5)
    threads(2)
    assert side_by_side(one) == 1 and side_by_side(five) == 2
    assert side_by_side([s.replace(device="cuda") for s in five]) == 1
    threads(1)
    assert side_by_side(five) == 1
    threads(8)
    assert side_by_side(five) == MAX_SIDE_BY_SIDE


def test_balanced_cuts_the_costliest_packs_until_each_has_a_share() -> None:
    small, big = specs([16]), specs([400], seeds=4)
    assert balanced([small, big], 1) == [small, big]
    cut = balanced([small, big], 2)  # the width-400 pack is nearly all the work: cut in halves
    assert sorted(map(len, cut)) == [2, 2, 2]
    assert sorted(map(len, balanced([small, big], 3))) == [1, 1, 1, 1, 2]
    assert sorted(s.run_id for p in cut for s in p) == sorted(s.run_id for s in small + big)
    assert balanced([specs([16], seeds=1)], 2) == [specs([16], seeds=1)]  # one model: nothing to cut
    even = [small, [s.replace(**{"optim.lr": 0.1}) for s in small]]
    assert balanced(even, 2) == even


def test_side_by_side_gives_the_numbers_of_one_thread(threads) -> None:
    sweep = [s.replace(**{"optim.batch_size": b}) for b in (20, 50) for s in specs([8, 32])]
    threads(1)
    one = {r.run_id: r.final for r in run_local(sweep, None)["results"]}
    threads(2)
    two = {r.run_id: r.final for r in run_local(sweep, None)["results"]}
    assert torch.get_num_threads() == 2  # restored after the packs ran on one thread each
    assert len(one) == len(sweep)
    assert one == two  # bit for bit: every op of a pack ran on one thread either way, in the same packs


def test_one_pack_is_cut_to_use_every_thread(threads) -> None:
    sweep = specs([32], seeds=4)
    threads(1)
    one = {r.run_id: r.final for r in run_local(sweep, None)["results"]}
    threads(2)
    two = {r.run_id: r.final for r in run_local(sweep, None)["results"]}  # two packs of two, side by side
    for i, f in one.items():
        assert two[i] == pytest.approx(f, abs=1e-5)  # a model's numbers do not depend on its pack-mates


def test_ctrl_c_stops_every_pack_thread(tmp_path: Path, threads) -> None:
    sweep = [s.replace(**{"optim.batch_size": b}) for b in (10, 20) for s in specs([64], epochs=400)]
    threads(2)
    db = Store(tmp_path / "s.db")
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))  # as Ctrl-C: to the process
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_local(sweep, db, checkpoint_every=0.2)
    assert time.monotonic() - t0 < 10  # the packs alone would train for minutes
    assert not [t for t in threading.enumerate() if t.name.startswith("gaplab-pack")]
    assert torch.get_num_threads() == 2
    assert db.finished([s.run_id for s in sweep]) == set()
    assert list((tmp_path / "s.db.checkpoints").rglob("*.pt"))  # each pack's last checkpoint stays for the rerun
