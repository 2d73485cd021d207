"""A short kill soak (benchmarks/kill_soak.py has the long one): SIGKILL a sweep 3 times, restart it until done."""

from __future__ import annotations

from pathlib import Path

from soak_tools import kill_soak


def test_short_kill_soak(tmp_path: Path) -> None:
    # each kill comes once the attempt has checkpointed, then up to 1/8 of the training time later: the sweep is
    # still unfinished at the third kill while its training takes more than ≈ 2 s (here ≈ 8 s on an idle 2-core
    # EPYC, 1 thread; 40 epochs, ≈ 2.8 s since the fused engine, ended before the third kill)
    r = kill_soak.soak("local", workers=1, kills=3, runs=12, epochs=150, every=0.3, seed=0, folder=tmp_path,
                       max_pack=6)
    assert r["kills"] == 3 and r["attempts"] == 4
    assert r["stored_once_all_done"] and r["identical_to_uninterrupted"], r
    assert r["orphans"] == [] and r["claims_left"] == 0 and r["checkpoints_left"] == 0
    assert not r["database_locked"]
    assert kill_soak.ok(r)
