"""``gaplab tour`` runs studies side by side in worker processes into one store, and reports them in order."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gaplab.cli.app import app
from gaplab.store.db import Store


def test_tour_runs_studies_in_worker_processes(tmp_path: Path) -> None:
    names = ["learning-rate", "block-towers"]  # two of the cheapest quick presets
    args = ["tour", "--jobs", "2", "--json", "--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "rep"),
            "--studies-out", str(tmp_path / "st")]
    r = CliRunner().invoke(app, [*args, *(a for n in names for a in ("--only", n))])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["studies"] == 2 and set(out["verdicts"]) == set(names) and out["did_not_hold"] == 0
    for n in names:
        v = json.loads((tmp_path / "st" / n / "verdict.json").read_text())
        assert v["study"] == n and v["held"] is True
    assert {row["name"] for row in Store(tmp_path / "s.db").studies()} == set(names)
    assert (tmp_path / "rep" / "index.html").exists()
