"""Packs side by side in threads of one process: who goes side by side, the same numbers as one thread, Ctrl-C, and
the thread pool both the sweep and the doctor train in (engine.threads)."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from gaplab.api.sweep import plan
from gaplab.engine import executor
from gaplab.engine.executor import MAX_SIDE_BY_SIDE, run_local, side_by_side
from gaplab.engine.planning import balanced, pack_cost, schedule, slots
from gaplab.engine.threads import Halted, check_halt, run_in_threads
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
    assert [slots(n, True) for n in (0, 1, 2, 5)] == [1, 1, 2, MAX_SIDE_BY_SIDE] and slots(5, False) == 1


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


def cut_one_at_a_time(packs: list[list[RunSpec]], slots: int) -> list[list[RunSpec]]:
    """``balanced`` as first written (re-scan every pack for the costliest after each cut): the reference."""
    out = list(packs)
    share = sum(pack_cost(p) for p in out) / slots
    while out:
        i = max(range(len(out)), key=lambda j: pack_cost(out[j]))
        p = out[i]
        if len(p) < 2 or pack_cost(p) <= share:
            break
        out[i:i + 1] = [p[:(len(p) + 1) // 2], p[(len(p) + 1) // 2:]]
    return out


def test_balanced_cuts_as_the_reference_and_many_packs_fast() -> None:
    base = parse_run(BASE)
    runs = [base.replace(**{"model.args.width": 4 + i % 7, "seed": i}) for i in range(120)]
    rnd = random.Random(0)
    for _ in range(20):  # equal costs too: the first in the list is cut first, halves stay in place
        edges = [0, *sorted(rnd.sample(range(1, 120), rnd.randint(1, 12))), 120]
        packs = [runs[a:b] for a, b in zip(edges, edges[1:], strict=False)]
        slots = rnd.randint(2, 30)
        assert balanced(packs, slots) == cut_one_at_a_time(packs, slots)
    many = [base] * 2000  # 2000 equal runs (their cost is all that counts here)
    t0 = time.process_time()
    cut = balanced([many], 1000)  # ≈ 1000 cuts: the reference, re-scanning every pack per cut, takes ≈ 10 s
    assert time.process_time() - t0 < 0.5
    assert sum(map(len, cut)) == 2000 and max(map(len, cut)) <= 2


def test_the_dry_run_shows_the_packs_and_count_that_train(tmp_path: Path, threads, monkeypatch) -> None:
    sweep = specs([8, 64], epochs=1, seeds=3)
    db = Store(tmp_path / "s.db")
    run_local(sweep[:1], db)  # one run stored: the dry run and the run both plan the five others
    threads(2)
    shown = plan(sweep, db)
    trained: list[int] = []
    at_once: list[int] = []
    train_pack, run_threads = executor.train_pack, executor._run_threads

    def spy_train(pack: list[RunSpec], *a, **kw):  # noqa: ANN202
        trained.append(len(pack))
        return train_pack(pack, *a, **kw)

    def spy_threads(book: executor.SweepBook, slots: int, *a):  # noqa: ANN202
        at_once.append(slots)
        return run_threads(book, slots, *a)

    monkeypatch.setattr(executor, "train_pack", spy_train)
    monkeypatch.setattr(executor, "_run_threads", spy_threads)
    assert run_local(sweep, db)["trained"] == shown["pending"] == 5
    assert sorted(trained) == sorted(shown["packs"]) and at_once == [shown["at_once"]] == [2]
    two = schedule(sweep, workers=4)  # worker processes: packs not cut, as many at once as there are packs
    assert two.at_once == min(4, len(two.packs)) and not two.in_threads
    assert schedule(sweep, workers=None).at_once == 1  # a cluster's: one at a time here


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
    # 5000 epochs: a minute or more of training on any box (400 took under 1.5 s on a fast one)
    sweep = [s.replace(**{"optim.batch_size": b}) for b in (10, 20) for s in specs([64], epochs=5000)]
    threads(2)
    db = Store(tmp_path / "s.db")
    # as Ctrl-C: SIGINT to the process, again every 1.5 s until it stops, under Python's own handler: a suite started
    # as a background job of a non-interactive shell inherits SIGINT ignored (Python then installs no handler), and
    # the signal went unanswered in such CI runs
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    done = threading.Event()

    def ctrl_c() -> None:
        while not done.wait(1.5):
            os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=ctrl_c, daemon=True)
    presser.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_local(sweep, db, checkpoint_every=0.2)
    finally:
        done.set()
        presser.join()
        signal.signal(signal.SIGINT, before)
    assert time.monotonic() - t0 < 10  # the packs alone would train for minutes
    assert not [t for t in threading.enumerate() if t.name.startswith("gaplab-pack")]
    assert torch.get_num_threads() == 2
    assert db.finished([s.run_id for s in sweep]) == set()
    assert list((tmp_path / "s.db.checkpoints").rglob("*.pt"))  # each pack's last checkpoint stays for the rerun


def test_a_failing_task_halts_the_others_and_its_error_is_raised() -> None:
    started = threading.Event()
    steps: list[int] = []

    def fails() -> int:
        started.wait(5)
        raise ValueError("bad pack")

    def trains() -> int:
        started.set()
        for i in range(500):  # a pack's steps: each checks for the halt
            check_halt()
            steps.append(i)
            threading.Event().wait(0.01)
        return 1

    before = torch.get_num_threads()
    with pytest.raises(ValueError, match="bad pack"):
        run_in_threads([trains, fails])
    assert torch.get_num_threads() == before and len(steps) < 500
    check_halt()  # the halt was that call's: none here
    assert run_in_threads([lambda: 1, lambda: 2]) == [1, 2]
    assert run_in_threads([torch.get_num_threads]) == [before]  # one task runs here, as it is


def test_each_call_halts_only_its_own_tasks() -> None:
    """Two callers in one process (two doctors from the dashboard): one's failure does not stop the other's tasks."""
    running, failed = threading.Barrier(3), threading.Event()
    results: list[list[int]] = []

    def steps(n: int) -> int:  # the other caller's packs: in flight while the first call fails, then step on
        running.wait(5)
        failed.wait(5)
        for _ in range(20):
            check_halt()
        return n

    def fails() -> int:
        running.wait(5)
        raise ValueError("bad pack")

    other = threading.Thread(target=lambda: results.append(run_in_threads([lambda: steps(1), lambda: steps(2)])))
    other.start()
    with pytest.raises(ValueError, match="bad pack"):
        run_in_threads([check_halt, fails])
    failed.set()
    other.join(10)
    assert results == [[1, 2]]


def test_ctrl_c_halts_every_task_thread() -> None:
    halted: list[bool] = []

    def trains() -> int:
        try:
            for _ in range(2000):
                check_halt()
                threading.Event().wait(0.01)
        except Halted:
            halted.append(True)
            raise
        return 1

    before = torch.get_num_threads()
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)  # see test_ctrl_c_stops_every_pack_thread
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_in_threads([trains, trains])
    finally:
        signal.signal(signal.SIGINT, handler)
    assert time.monotonic() - t0 < 5 and halted == [True, True]  # both stopped at their next step, not after 20 s
    assert not [t for t in threading.enumerate() if t.name.startswith("gaplab-pack")]
    assert torch.get_num_threads() == before
