"""The CLI's run flags: one typed table shared by train, doctor and advise, and the positional DATA or SPEC."""

from __future__ import annotations

import inspect
import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gaplab.api.specs import KEYWORDS
from gaplab.cli import advise, doctor, run
from gaplab.cli import flags as F
from gaplab.cli.app import app
from gaplab.errors import SpecError

runner = CliRunner()


def _csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    f = tmp_path / "d.csv"
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": (x[:, 0] > 0).astype(int)}).to_csv(f, index=False)
    return f


def test_every_keyword_is_a_flag_of_train_and_doctor_from_the_table() -> None:
    assert [f.name for f in fields(F.RunFlags)] == list(KEYWORDS)
    for command in (run.train, doctor.doctor):
        params = inspect.signature(command, eval_str=True).parameters
        for name in KEYWORDS:  # the same Annotated type (help, spec key) in both commands
            assert params[name].annotation == inspect.signature(run.train, eval_str=True).parameters[name].annotation
    # advise's --epochs is its own flag: the cap of a run that stops once its training loss stops falling
    shared = {"target", "model", "width", "lr", "batch_size", "optimizer", "data"}
    params = inspect.signature(advise.advise, eval_str=True).parameters
    assert all(params[n].annotation == inspect.signature(run.train, eval_str=True).parameters[n].annotation
               for n in shared)


def test_flags_set_their_spec_keys() -> None:
    assert F.RunFlags(width=8, l2=0.5, batch_size=16).overrides() == {
        "model.args.width": 8, "reg.l2": 0.5, "optim.batch_size": 16}


def test_flags_read_from_a_commands_parameters() -> None:
    flags = F.RunFlags.from_params({"width": 8, "l2": None, "quick": True, "source": "d.csv"})
    assert flags == F.RunFlags(width=8)  # the command's own options (quick, source) are not run flags


def test_positional_data_or_spec(tmp_path: Path) -> None:
    csv = _csv(tmp_path)
    spec = F.build_run(str(csv), F.RunFlags(target="y", model="logistic"), [])
    assert spec.data.name == "file" and spec.data.path == str(csv) and spec.data.target == "y"
    assert F.build_run(None, F.RunFlags(path=str(csv), target="y"), []).data.name == "file"  # --path says file too
    yml = tmp_path / "run.yaml"
    yml.write_text("data: {name: sine}\nmodel: {name: mlp, args: {width: 8}}\n")
    assert F.build_run(str(yml), F.RunFlags(seed=3), []).data.name == "sine"
    both = F.build_run(str(csv), F.RunFlags(target="y"), ["optim.epochs=2"], spec=yml)
    assert both.data.name == "file" and both.model.args["width"] == 8 and both.optim.epochs == 2
    with pytest.raises(SpecError, match="DATA"):
        F.build_run(str(csv), F.RunFlags(path=str(csv)), [])


def test_same_positional_data_in_every_command(tmp_path: Path) -> None:
    csv = str(_csv(tmp_path))
    db = str(tmp_path / "s.db")
    r = runner.invoke(app, ["train", csv, "--target", "y", "--model", "logistic", "--epochs", "1", "--store", db,
                            "--json", "--threads", "1"])
    assert r.exit_code == 0, r.output
    from gaplab.store.db import Store

    stored = Store(db).run(json.loads(r.stdout.strip().splitlines()[-1])["run_id"])
    assert stored is not None and stored["spec"]["data"]["name"] == "file"
    assert (stored["spec"]["model"]["name"], stored["spec"]["optim"]["epochs"]) == ("logistic", 1)  # flags via ctx
    r = runner.invoke(app, ["doctor", csv, "--target", "y", "--quick", "--check", "data", "--no-store", "--json",
                            "--threads", "1", "--store", db])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["spec"]["data"]["path"] == csv
    r = runner.invoke(app, ["advise", csv, "--target", "y", "--plan-only", "--json", "--store", db])
    assert r.exit_code == 0, r.output
    bad = runner.invoke(app, ["train", csv, "--path", csv, "--no-store"])
    assert bad.exit_code == 2 and "DATA" in bad.stderr


def test_help_lists_run_flags_apart() -> None:
    r = runner.invoke(app, ["doctor", "--help"], env={"COLUMNS": "120"})
    assert r.exit_code == 0 and "Run settings" in r.output and "[reg.l2]" in r.output and "--check" in r.output
