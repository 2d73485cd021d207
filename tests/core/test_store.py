"""Results store: atomic runs, resume skips finished runs, export to CSV and Parquet."""

from __future__ import annotations

import math

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
