"""``gaplab runs show`` names the rows a run trained, validated and tested on as the user knows them (here a
CSV's 1-based data rows): the kind of id, each split's size and first ids; ``--json`` lists every training id."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import gaplab
from gaplab.cli.app import app


def test_runs_show_names_the_training_subset_by_csv_row(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 4))
    df = pd.DataFrame(x, columns=list("abcd")).assign(label=(x[:, 0] > 0).astype(int))
    csv = tmp_path / "t.csv"
    df.to_csv(csv, index=False)
    db = tmp_path / "s.db"
    run = gaplab.train(path=str(csv), target="label", train_size=40, val_fraction=0.25, epochs=1, width=8,
                       store=db, progress=False, threads=1)
    r = CliRunner().invoke(app, ["runs", "show", run.run_id[:10], "--store", str(db)])
    assert r.exit_code == 0, r.output
    assert "rows named by csv data row (1-based, header not counted)" in r.output
    assert "validated on 30 rows" in r.output and "tested on 30 rows" in r.output
    rj = CliRunner().invoke(app, ["runs", "show", run.run_id, "--store", str(db), "--json"])
    rows = json.loads(rj.stdout)["rows"]
    assert rows["n_train"] == len(rows["train_ids"]) == 40 and rows["pool"] == 120
    assert f"trained on 40 rows (a subset of the 120-row pool): {', '.join(map(str, rows['train_ids'][:5]))} …" \
        in r.output
    ids = set(rows["train_ids"])
    assert ids <= set(range(1, 151)) and not ids & set(rows["test_first"])

    with gaplab.watch(__import__("torch").nn.Linear(2, 1), store=db, name="loop") as w:
        w.epoch(train_loss=1.0)
    rw = CliRunner().invoke(app, ["runs", "show", w.run_id, "--store", str(db)])
    assert rw.exit_code == 0 and "rows named by" not in rw.output  # gaplab never saw a watched loop's data
