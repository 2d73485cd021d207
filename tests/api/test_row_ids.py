"""Examples keep their names (CSV data row, .npz index, image path) through the split, and the doctor's
label-noise suspects are named by them: ``--json`` carries the out-of-fold probabilities, ``--suspects`` a CSV."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gaplab
from gaplab.cli import app as cli
from gaplab.data import read_file

_BENCH = Path(__file__).parents[2] / "benchmarks" / "doctor_image_suspects.py"
_spec = importlib.util.spec_from_file_location("doctor_image_suspects", _BENCH)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_file_readers_name_rows(tmp_path: Path) -> None:
    g = np.random.default_rng(0)
    df = pd.DataFrame({"a": g.normal(size=50), "target": np.arange(50) % 2})
    df.to_csv(tmp_path / "t.csv", index=False)
    ds = read_file(tmp_path / "t.csv")
    rows = np.concatenate([ds.ids, ds.test_ids])
    assert sorted(rows.tolist()) == list(range(1, 51))  # data row numbers, as the CSV's error messages count them
    # the id names the same row: its feature value is the one in that CSV data row
    assert ds.x_train[:, 0].tolist() == pytest.approx(df["a"].to_numpy()[ds.ids - 1].tolist(), abs=1e-6)
    np.savez(tmp_path / "a.npz", x=g.normal(size=(40, 3)), y=np.arange(40) % 2)
    npz = read_file(tmp_path / "a.npz")
    assert sorted([*npz.ids.tolist(), *npz.test_ids.tolist()]) == list(range(40))
    assert npz.row_ids([0, 1]) == npz.ids[:2].tolist()
    np.savez(tmp_path / "b.npz", x=g.normal(size=(40, 3)), y=np.arange(40) % 2,
             ids=np.array([f"s{i}" for i in range(40)]), classes=np.array(["cat", "dog"]))
    named = read_file(tmp_path / "b.npz")
    assert named.classes == ["cat", "dog"] and all(i.startswith("s") for i in named.ids.tolist())
    np.savez(tmp_path / "c.npz", x=g.normal(size=(40, 3)), y=np.arange(40) % 2, ids=np.arange(39))
    with pytest.raises(gaplab.DataError, match="ids must name each of the 40 examples of x"):
        read_file(tmp_path / "c.npz")


def test_noisy_image_folder_suspects_are_the_moved_files(tmp_path: Path) -> None:
    root = tmp_path / "digits"
    moved = bench.noisy_digit_folder(root, seed=0)
    out = tmp_path / "suspects.csv"
    r = CliRunner().invoke(cli.app, ["doctor", "--path", str(root), "--quick", "--check", "label_noise", "--json",
                                     "--no-store", "--threads", "1", "--suspects", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout.strip().splitlines()[-1])
    check = next(c for c in data["checks"] if c["family"] == "label_noise")
    ids = check["details"]["suspect_ids"]
    assert all(Path(i).suffix == ".png" and Path(i).exists() for i in ids)
    precision = float(np.mean([i in moved for i in ids[:100]]))
    assert precision >= 0.8, precision  # a random pick: 0.3 (benchmarks/doctor_image_suspects.py: 5 seeds)
    oof = data["out_of_fold"]
    assert len(oof["ids"]) == len(oof["probabilities"]) == check["details"]["n_train"]
    assert len(oof["probabilities"][0]) == 10 and abs(sum(oof["probabilities"][0]) - 1) < 1e-3
    table = pd.read_csv(out, dtype={"given": str, "predicted": str})
    assert list(table.columns) == ["id", "given", "predicted", "p_given"] and table["id"].tolist() == ids
    # the given label is the folder the file sits in; the models predict another one
    assert (table["given"] == table["id"].map(lambda p: Path(p).parent.name)).all()
    assert (table["given"] != table["predicted"]).all()


def test_diagnose_takes_python_data_and_names_suspects_by_dataframe_index(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    g = np.random.default_rng(0)
    x = g.normal(size=(300, 4))
    y = (x[:, 0] > 0).astype(int)
    flipped = g.choice(300, 30, replace=False)
    y[flipped] = 1 - y[flipped]
    df = pd.DataFrame(x, columns=list("abcd"), index=[f"id{i}" for i in range(300)]).assign(y=y)
    d = gaplab.diagnose(data=df, target="y", mode="quick", checks=["label_noise"], progress=False, threads=1,
                        store=tmp_path / "s.db")
    details = d.check("label noise (heuristic)").details
    ids = details["suspect_ids"]
    assert ids and all(i.startswith("id") for i in ids)
    # each id names its own row: the given label is that row's y, and the id's example is among the flipped ones
    # more often than a random pick (10 %)
    assert details["given"] == df.loc[ids, "y"].tolist()
    assert np.mean([int(i[2:]) in set(flipped.tolist()) for i in ids]) >= 0.3


def test_a_dataloader_gives_the_same_diagnosis_as_its_tensors(tmp_path: Path) -> None:
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 6, generator=g)
    y = (x[:, 0] > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    kw = {"mode": "quick", "checks": ["init", "overfit"], "progress": False, "threads": 1, "store": tmp_path / "s.db"}
    a = gaplab.diagnose(data=(x, y), batch_size=32, **kw)  # a DataLoader trains at its own batch size
    b = gaplab.diagnose(data=loader, **kw)
    assert a.spec == b.spec
    assert [(c.name, c.verdict, c.value) for c in a.checks] == [(c.name, c.verdict, c.value) for c in b.checks]


def test_suspects_without_the_label_noise_family_is_a_usage_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli.app, ["doctor", "--data", "digits", "--check", "init", "--suspects",
                                     str(tmp_path / "s.csv")])
    assert r.exit_code == 2 and "--suspects: needs the label_noise family" in r.output
