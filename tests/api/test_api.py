"""The Python API and the CLI are one code path: same specs, same run ids, same numbers, same error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import gaplab
from gaplab.api.specs import build_run, build_sweep
from gaplab.cli import app as cli
from gaplab.cli import flags as cli_flags

runner = CliRunner()
SINE = {"data": {"name": "sine", "args": {"n_train": 64, "n_test": 64}}, "model": {"args": {"width": 16}},
        "optim": {"epochs": 3}}
SWEEP_YAML = """\
name: same
base:
  data: {name: mnist1d, args: {num_samples: 600}}
  model: {name: mlp, args: {depth: 1}}
  optim: {name: sgd, lr: 0.05, momentum: 0.9, epochs: 3}
grid: {model.args.width: [8, 24], seed: [0, 1]}
zip: {reg.l2: [0.0, 2.0], reg.dropout: [0.0, 0.2]}
"""


def test_cli_and_api_sweep_give_same_ids_and_numbers(tmp_path: Path) -> None:
    spec = tmp_path / "same.yaml"
    spec.write_text(SWEEP_YAML)
    cli_db, api_db = tmp_path / "cli.db", tmp_path / "api.db"
    r = runner.invoke(cli.app, ["sweep", str(spec), "--store", str(cli_db), "--json", "--threads", "1"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["trained"] == 8

    res = gaplab.sweep(spec, store=api_db, progress=False, threads=1)
    assert {k: res.counts[k] for k in ("runs", "skipped", "trained", "diverged", "failed")} == {
        "runs": 8, "skipped": 0, "trained": 8, "diverged": 0, "failed": 0}
    from_cli = gaplab.Store(cli_db).runs(group="same")
    from_api = res.to_pandas()
    assert sorted(from_api["run_id"]) == sorted(from_cli["run_id"]) and len(set(from_api["run_id"])) == 8
    # Same code, same machine, same thread count: the numbers agree exactly, epoch by epoch.
    cols = [c for c in from_api.columns if c not in ("seconds",)]
    pd.testing.assert_frame_equal(from_api[cols].sort_values("run_id").reset_index(drop=True),
                                  from_cli[cols].sort_values("run_id").reset_index(drop=True))
    key = ["run_id", "epoch", "metric"]
    pd.testing.assert_frame_equal(res.history().sort_values(key).reset_index(drop=True),
                                  gaplab.Store(cli_db).metrics(group="same").sort_values(key).reset_index(drop=True))
    # The sweep's order is the spec's: grid product outer, zip inner.
    assert from_api[["model.args.width", "seed", "reg.l2"]].values.tolist() == [
        [8, 0, 0.0], [8, 0, 2.0], [8, 1, 0.0], [8, 1, 2.0], [24, 0, 0.0], [24, 0, 2.0], [24, 1, 0.0], [24, 1, 2.0]]

    again = gaplab.sweep(SWEEP_YAML, store=cli_db, progress=False)  # YAML text, the CLI's store: all reused
    assert again.counts["skipped"] == 8 and again.run_ids == res.run_ids and all(r.skipped for r in again)


def test_spec_sources_and_overrides_agree(tmp_path: Path) -> None:
    f = tmp_path / "run.yaml"
    f.write_text("data: {name: sine}\nmodel: {name: mlp}\n")
    as_file = build_run(f, {"width": 16, "reg.l2": 1.0, "seed": 3})
    assert as_file == build_run("data: {name: sine}\nmodel: {name: mlp}", {"model.args.width": 16, "l2": 1.0,
                                                                          "seed": 3})
    assert as_file == build_run({"data": {"name": "sine"}, "reg": {"l2": 1.0}, "seed": 3}, {"width": 16})
    assert as_file == cli_flags.build_run(f, cli_flags.RunFlags(width=16, seed=3), ["reg.l2=1.0"])
    assert build_run(as_file).run_id == as_file.run_id

    sw, specs = build_sweep(SWEEP_YAML, {"epochs": 1})
    assert sw.name == "same" and len(specs) == 8 and {s.optim.epochs for s in specs} == {1}
    with pytest.raises(gaplab.SpecError, match="colour: unknown override"):
        build_run(SINE, {"colour": "red"})


def _cli_error(args: list[str]) -> str:
    r = runner.invoke(cli.app, args)
    assert r.exit_code == 2, r.output
    return " ".join(r.output.split())


def test_bad_input_raises_typed_errors_with_the_cli_messages(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  name: mlp\n  args: {width: -3}\noptim:\n  lrr: 0.1\n")
    db = str(tmp_path / "x.db")
    cases = [  # (API call, the same thing through the CLI)
        (lambda: gaplab.train(bad, store=db), ["train", str(bad)]),
        (lambda: gaplab.train(model="nope", store=db), ["train", "--model", "nope"]),
        (lambda: gaplab.train(epochs=0, store=db), ["train", "--epochs", "0"]),
        (lambda: gaplab.train(path=str(tmp_path / "nope.csv"), store=db),
         ["train", "--path", str(tmp_path / "nope.csv")]),
        (lambda: gaplab.sweep(bad, store=db), ["sweep", str(bad)]),
    ]
    for call, args in cases:
        with pytest.raises(gaplab.SpecError) as e:
            call()
        assert f"error: {e.value}" in _cli_error([*args, "--store", db]), args
    with pytest.raises(gaplab.SpecError, match=r"optim.lrr \(line 5\): unknown key"):
        gaplab.train(bad)
    with pytest.raises(gaplab.SpecError, match="executor: must be 'local' or 'ray'"):
        gaplab.sweep(SWEEP_YAML, store=db, executor="spark")
    with pytest.raises(gaplab.SpecError, match="unknown preset 'medium'"):
        gaplab.study("polyfit", preset="medium")
    with pytest.raises(gaplab.SpecError, match="unknown parameter 'colour'"):
        gaplab.study("polyfit", colour="red")
    with pytest.raises(gaplab.DataError, match="no results store"):
        gaplab.Store(tmp_path / "typo.db")


def test_train_store_none_keep_state_and_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    calls: list[tuple[str, int, int]] = []
    run = gaplab.train(SINE, store=None, keep_state=True, progress=lambda *a: calls.append(a))
    assert not list(tmp_path.iterdir()), "store=None must write nothing"
    assert run.status == "done" and not run.skipped and run.final["epochs_run"] == 3
    assert calls and calls[-1][1:] == (3, 3) and all(0 <= done <= total for _, done, total in calls)
    assert run.history["epoch"].tolist() == [1, 2, 3]
    assert run.history["test_loss"].iloc[-1] == pytest.approx(run.final["test_loss"])
    x = torch.linspace(-3, 3, 7).unsqueeze(1)
    assert run.model()(x).shape == (7, 1)

    stored = gaplab.train(SINE, store=tmp_path / "s.db", keep_state=True, progress=False)
    assert stored.run_id == run.run_id
    # same run, same weights, whether kept in memory or read back from the store
    again = gaplab.Store(tmp_path / "s.db").run(run.run_id[:8])
    assert again.skipped is False and again.final == stored.final
    assert torch.equal(again.model()(x), stored.model()(x))
    assert gaplab.train(SINE, store=tmp_path / "s.db", progress=False).skipped
    with pytest.raises(RuntimeError, match="keep_state=True"):
        gaplab.train(SINE, store=tmp_path / "s.db", progress=False, seed=1).model()


def test_store_frames_filter_by_group_and_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "g.db"
    ok = gaplab.sweep({"name": "ok", "base": SINE, "grid": {"optim.lr": [0.01, 0.1]}},
                      store=gaplab.Store(db, create=True), progress=False)
    diverge = {"name": "boom", "base": {**SINE, "optim": {"name": "sgd", "lr": 1e6, "epochs": 3}},
               "grid": {"seed": [0, 1]}}
    boom = gaplab.sweep(diverge, store=db, progress=False)
    assert [r.status for r in boom] == ["diverged", "diverged"] and boom.counts["diverged"] == 2

    import gaplab.engine.executor as executor

    def broken(*a: object, **k: object) -> None:
        raise KeyError("injected")

    monkeypatch.setattr(executor, "train_pack", broken)
    with pytest.warns(RuntimeWarning, match="1 runs failed"):
        failed = gaplab.sweep({"name": "bad", "base": SINE, "grid": {"seed": [7]}}, store=db, progress=False)
    assert failed[0].status == "failed" and "KeyError" in failed[0].error
    with pytest.raises(RuntimeError, match="failed: KeyError"):
        gaplab.train(SINE, seed=8, store=db, progress=False)
    monkeypatch.undo()

    store = gaplab.Store(db)
    groups = store.groups().set_index("group")
    assert groups.loc["ok", ["runs", "done"]].tolist() == [2, 2]
    assert groups.loc["boom", ["runs", "diverged"]].tolist() == [2, 2]
    assert groups.loc["bad", ["runs", "failed"]].tolist() == [1, 1]
    assert len(store.runs()) == 6
    assert store.runs(group="ok")["run_id"].tolist() == ok.run_ids
    assert set(store.runs(status="diverged")["run_id"]) == set(boom.run_ids)
    assert store.runs(status="failed")["error"].str.contains("injected").all()
    assert store.runs(group="ok", status="failed").empty
    assert set(store.metrics(group="ok")["run_id"]) == set(ok.run_ids)
    assert ok[ok.run_ids[1][:6]] is ok.runs[1] and ok[0] is ok.runs[0]
    with pytest.raises(gaplab.SpecError, match="status: must be one of"):
        store.runs(status="finished")
    with pytest.raises(gaplab.DataError, match="no run with id"):
        store.run("zzz")
    assert store.studies().empty and list(store.studies().columns)[:2] == ["study", "claim_id"]


def test_study_verdict_and_its_store_rows(tmp_path: Path) -> None:
    db = tmp_path / "st.db"
    v = gaplab.study("learning-rate", epochs=2, store=db, out=tmp_path / "out", progress=False)
    assert v.study == "learning-rate" and v.claim_id == "C20" and v.held in (True, False, None)
    assert v.figures and all(f.exists() for f in v.figures)
    assert v.folder == (tmp_path / "out" / "learning-rate").resolve()
    assert "<img" in v._repr_html_() and v.summary in repr(v)
    runs = v.results().to_pandas()
    assert runs["run_id"].tolist() == v.run_ids and set(runs["optim.epochs"]) == {2}
    store = gaplab.Store(db)
    row = store.studies().iloc[0]
    assert (row["study"], row["preset"], row["held"], row["runs"]) == ("learning-rate", "quick", v.held, len(runs))
    assert store.verdict("learning-rate").to_dict() == v.to_dict()
    assert store.groups()["group"].tolist() == ["study/learning-rate/quick"]
