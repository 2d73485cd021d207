"""Results store: atomic runs, resume skips finished runs, export to CSV and Parquet."""

from __future__ import annotations

import math
import sqlite3

import pandas as pd

from gaplab.store.db import Store
from gaplab.store.export import export


def _save(db: Store, rid: str, status: str = "done") -> None:
    hist = [{"epoch": e, "train_loss": 1.0 / e, "test_acc": 0.1 * e} for e in (1, 2, 3)]
    db.save_run(rid, {"seed": 0}, status, hist, {"test_acc": 0.3, "bad": math.nan}, 1.5, groups=["g"])


def test_save_read_and_replace(tmp_path) -> None:
    db = Store(tmp_path / "x.db")
    _save(db, "a")
    _save(db, "a")  # a re-save replaces, never duplicates
    assert db.finished(["a", "b"]) == {"a"}
    assert [h["epoch"] for h in db.history("a")] == [1, 2, 3]
    row = db.run("a")
    assert row["final"]["test_acc"] == 0.3 and row["final"]["bad"] is None
    db.save_failed("b", {"seed": 1}, "boom")
    assert db.finished(["a", "b"]) == {"a"}
    assert [r["id"] for r in db.runs(group="g")] == ["a"]


def _ids(rows: list[dict]) -> list[str]:
    return [r["id"] for r in rows]


def test_a_group_lists_its_runs_as_tagged_not_as_finished(tmp_path) -> None:
    db = Store(tmp_path / "x.db")
    db.tag("g", ["c", "a", "b"])  # a sweep tags its runs in its declared order before training any
    for rid in ("b", "a", "c"):  # packs side by side finish in either order
        _save(db, rid)
    db.save_run("d", {"seed": 0}, "done", [], {}, 1.0, groups=["g", "h"])  # stored into groups it was not tagged in
    db.tag("g", ["e", "a"])  # a wider sweep of the same name: its new runs after, "a" keeps its place
    _save(db, "e")
    assert _ids(db.runs(group="g")) == ["c", "a", "b", "d", "e"]
    assert _ids(db.runs(group="g", status="done")) == ["c", "a", "b", "d", "e"]
    assert _ids(db.runs(group="h")) == ["d"]
    assert set(_ids(db.runs())) == {"a", "b", "c", "d", "e"}


def test_a_store_from_before_groups_kept_order_lists_them_as_tagged(tmp_path) -> None:
    path = tmp_path / "old.db"
    db = Store(path)
    for rid in ("a", "b", "c"):
        _save(db, rid)
    db.close()
    con = sqlite3.connect(path)  # the groups table as stores wrote it before: no order column
    con.executescript("DROP TABLE groups; CREATE TABLE groups (name TEXT NOT NULL, run_id TEXT NOT NULL,"
                      " PRIMARY KEY (name, run_id)); INSERT INTO groups VALUES ('g', 'c'), ('g', 'a'), ('g', 'b');")
    con.close()
    db = Store(path)
    db.tag("g", ["d"])
    _save(db, "d")
    assert _ids(db.runs(group="g")) == ["c", "a", "b", "d"]
    assert _ids(Store(path).runs(group="g")) == ["c", "a", "b", "d"]  # opened again: nothing to do


def test_export(tmp_path) -> None:
    db = Store(tmp_path / "x.db")
    _save(db, "a")
    _save(db, "b")
    runs = pd.read_csv(export(db, tmp_path / "runs.csv"))
    assert list(runs["id"]) == ["a", "b"] and "final.test_acc" in runs
    m = pd.read_parquet(export(db, tmp_path / "m.parquet", what="metrics"))
    assert len(m) == 2 * 3 * 2 and set(m["metric"]) == {"train_loss", "test_acc"}


def test_safe_name_keeps_long_keys_apart() -> None:
    from gaplab.store.names import safe_name

    assert safe_name("advise/my data") == "advise_my_data"  # short keys: readable, unchanged
    a, b = "x" * 100 + "a", "x" * 100 + "b"
    assert len(safe_name(a)) == len(safe_name(b)) == 80 and safe_name(a) != safe_name(b)
    assert safe_name(a).startswith("x" * 71 + "-") and safe_name(a) == safe_name(a)
    assert safe_name(a, limit=None) == a and safe_name("") == "_"
