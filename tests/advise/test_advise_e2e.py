"""End to end on tiny data: the plan is shown before training, the sweep resumes from the store, the CLI prints
one JSON object, and the report gets an advice page with the learning-curve figures."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gaplab.advise import advise
from gaplab.cli.app import app
from gaplab.store.db import Store

DATA = {"name": "moons", "args": {"n_train": 300, "n_test": 400, "noise": 0.3}}


def test_advise_plans_trains_resumes_and_reports(tmp_path) -> None:
    store = Store(tmp_path / "s.db")
    events: list[str] = []
    a = advise(DATA, budget="20m", width=16, epochs=2, seeds=3, store=store, n_boot=20,
               on_plan=lambda p: events.append(f"plan {len(p.runs())}"),
               progress=lambda label, done, total: events.append("train"))
    assert events[0].startswith("plan") and "train" in events[1:]
    plan = a.plan
    assert len(plan["sizes"]) >= 5 and plan["sizes"][-1] == 300 and plan["seeds"] == 3
    names = [c["name"] for c in plan["configs"]]
    assert names[:6] == ["plain", "l2-1", "l2-10", "l2-100", "dropout", "early-stop"]
    assert "augment" not in names  # tabular data: no augmentation unless asked
    assert {"combined", "width-x0.5", "width-x2"} <= set(names)
    assert a.counts["trained"] == plan["models"] == len(names) * len(plan["sizes"]) * 3
    x = a.numbers
    assert x["best"] in names and x["words"] and x["actions"]
    assert x["rows"]["n_test"] == 400 and x["rows"]["pool"] == 300 and len(x["rows"]["test_first"]) == 5
    assert "Rows are named by position in the moons pool: every run is tested on the same 400 rows" in a.text()
    for c in x["curves"].values():
        assert ("predictions" in c) == bool(c["shape_ok"])
    assert (tmp_path / "advice").exists() or a.folder
    stored = store.artifacts("advice")
    assert stored and stored[0]["key"] == a.key

    # the same command again: everything is in the store, nothing is trained; --json prints one object
    res = CliRunner().invoke(app, ["advise", "--data", "moons", "--set", "data.args.n_train=300",
                                   "--set", "data.args.n_test=400", "--set", "data.args.noise=0.3", "--width", "16",
                                   "--epochs", "2", "--seeds", "3", "--budget", "20m", "--json",
                                   "--store", str(tmp_path / "s.db")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["key"] == a.key and out["counts"]["trained"] == 0 and out["counts"]["skipped"] == plan["models"]
    assert out["numbers"]["best"] == x["best"]

    res = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    pages = list((tmp_path / "rep" / "advice").glob("*/index.html"))
    assert len(pages) == 1
    html = pages[0].read_text()
    assert "id=advice" in html and "curves.png" in html and (pages[0].parent / "curves.png").exists()


def test_bad_input_is_one_line(tmp_path) -> None:
    r = CliRunner().invoke(app, ["advise", "--data", "moons", "--budget", "soon", "--store", str(tmp_path / "s.db")])
    assert r.exit_code == 2 and "budget" in r.output
    r = CliRunner().invoke(app, ["advise", "--data", "moons", "--set", "data.args.n_train=40",
                                 "--store", str(tmp_path / "s.db")])
    assert r.exit_code == 2 and "too few" in r.output


def test_plan_only_prints_the_plan_and_trains_nothing(tmp_path) -> None:
    db = tmp_path / "s.db"
    r = CliRunner().invoke(app, ["advise", "--data", "moons", "--width", "8", "--epochs", "1", "--plan-only",
                                 "--json", "--store", str(db)])
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout.strip().splitlines()[-1])
    assert plan["models"] == len(plan["configs"]) * len(plan["sizes"]) * plan["seeds"] and plan["estimate_seconds"] > 0
    assert Store(db).runs() == []
