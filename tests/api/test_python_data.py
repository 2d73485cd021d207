"""Data from Python objects: arrays, DataFrames, torch and Hugging Face Datasets train like files do, keep their
row ids, and bad data gets the file readers' messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import gaplab
from gaplab.data import memory
from gaplab.errors import DataError, SpecError

KW = {"epochs": 2, "width": 16, "progress": False, "threads": 1}


def _xy(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return x, (x[:, 0] + 0.3 * x[:, 1] > 0).astype(np.int64)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "s.db"


def test_array_forms_share_one_file_and_run_id_and_match_a_users_npz(db: Path) -> None:
    datasets = pytest.importorskip("datasets")
    x, y = _xy()
    ref = gaplab.train(data=(x, y), store=db, **KW)
    same = [gaplab.train(data=obj, store=db, **KW) for obj in (
        (torch.tensor(x), torch.tensor(y)),
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)),
        datasets.Dataset.from_dict({"x": x.tolist(), "label": y.tolist()}),
    )]
    assert {r.run_id for r in same} == {ref.run_id} and all(r.skipped for r in same)
    path = Path(ref.spec.data.path)
    assert path.parent == Path(f"{db}.data") and path.stem == ref.spec.data.fingerprint
    # the user's own .npz of the same arrays: a different id (its path is part of the id), the same numbers
    np.savez(db.parent / "mine.npz", x=x, y=y)
    own = gaplab.train(path=str(db.parent / "mine.npz"), store=db, **KW)
    assert own.run_id != ref.run_id
    assert own.final["test_acc"] == ref.final["test_acc"] and own.final["test_loss"] == pytest.approx(
        ref.final["test_loss"], abs=1e-6)


def test_dataframe_matches_the_same_table_as_csv_and_keeps_its_index(db: Path) -> None:
    x, y = _xy()
    df = pd.DataFrame(x, columns=list("abcde")).assign(label=np.where(y == 1, "pos", "neg"))
    df.index = [f"r{i}" for i in range(len(df))]
    run = gaplab.train(data=df, target="label", store=db, **KW)
    df.to_csv(db.parent / "t.csv", index=False)
    csv = gaplab.train(path=str(db.parent / "t.csv"), target="label", store=db, **KW)
    assert run.final["test_acc"] == csv.final["test_acc"]
    ds = gaplab.data.load_dataset("file", path=run.spec.data.path)
    assert ds.classes == ["neg", "pos"] and set(ds.ids.tolist()) | set(ds.test_ids.tolist()) == set(df.index)
    first = ds.ids[0]
    assert ds.y_train[0].item() == ["neg", "pos"].index(df.loc[first, "label"])


def test_sklearn_style_frame_and_series_keep_the_index(db: Path) -> None:
    x, y = _xy()
    xf = pd.DataFrame(x, index=[f"p{i}" for i in range(len(x))])
    run = gaplab.train(data=(xf, pd.Series(y, index=xf.index)), store=db, **KW)
    ds = gaplab.data.load_dataset("file", path=run.spec.data.path)
    assert sorted([*ds.ids.tolist(), *ds.test_ids.tolist()]) == sorted(xf.index)
    assert run.final["test_acc"] == gaplab.train(data=(x, y), store=db, **KW).final["test_acc"]


def test_test_set_val_fraction_and_sweep(db: Path) -> None:
    x, y = _xy(240)
    run = gaplab.train({"data": {"x": x[:200], "y": y[:200], "x_test": x[200:], "y_test": y[200:],
                                 "val_fraction": 0.2}}, store=db, **KW)
    ds = gaplab.data.load_dataset("file", path=run.spec.data.path)
    assert (ds.n_train, ds.n_test) == (200, 40) and run.spec.data.val_fraction == 0.2
    assert ds.test_ids.tolist() == list(range(40))
    same = gaplab.train(data=(x[:200], y[:200]), test=(x[200:], y[200:]), val_fraction=0.2, store=db, **KW)
    assert same.run_id == run.run_id
    res = gaplab.sweep({"name": "py", "base": {"optim": {"epochs": 1}}, "grid": {"reg.l2": [0.0, 1.0]}},
                       data=(x, y), store=db, progress=False, threads=1)
    assert res.counts["trained"] == 2 and len({r.spec.data.path for r in res}) == 1


def test_bad_data_gets_the_file_readers_messages(db: Path) -> None:
    x, y = _xy()
    cases = {
        "only 5 examples; gaplab needs at least 10": (x[:5], y[:5]),
        "only one class (0) in y, over all 200 examples": (x, np.zeros(200, np.int64)),
        "non-finite input value (NaN or infinity) at example 7": (np.where(np.arange(200)[:, None] == 7, np.nan, x),
                                                                  y),
        "X has 200 examples but y has 199": (x, y[:199]),
    }
    for msg, bad in cases.items():
        with pytest.raises(DataError, match=r"^data \(X, y\): " + msg.replace("(", r"\(").replace(")", r"\)")):
            gaplab.train(data=bad, store=db, **KW)
    # the .npz reader says the same about the same arrays in a file
    np.savez(db.parent / "one.npz", x=x, y=np.zeros(200, np.int64))
    with pytest.raises(DataError, match="only one class \\(0\\) in array 'y', over all 200 examples"):
        gaplab.train(path=str(db.parent / "one.npz"), store=db, **KW)
    df = pd.DataFrame(x, columns=list("abcde")).assign(t=y)
    df.loc[3, "b"] = np.nan
    with pytest.raises(DataError, match=r"data \(DataFrame\): column 'b' has a missing value at index 3"):
        gaplab.train(data=df, target="t", store=db, **KW)
    with pytest.raises(DataError, match="target column 'nope' not found"):
        gaplab.train(data=df, target="nope", store=db, **KW)
    with pytest.raises(SpecError, match="test: a test set needs the training data"):
        gaplab.train(test=(x, y), store=db, **KW)


class _Huge(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return memory.MAX_ITEMS + 1

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        raise AssertionError("a refused Dataset must not be read")


def test_a_dataset_too_big_to_materialize_is_refused_with_its_size(db: Path) -> None:
    with pytest.raises(DataError, match=f"{memory.MAX_ITEMS + 1} items is more than gaplab reads into memory "
                                        f"\\({memory.MAX_ITEMS}\\)"):
        gaplab.train(data=_Huge(), store=db, **KW)


def test_hugging_face_class_names_and_table_columns(db: Path) -> None:
    datasets = pytest.importorskip("datasets")
    x, y = _xy()
    feats = datasets.Features({"x": datasets.Sequence(datasets.Value("float32")),
                               "label": datasets.ClassLabel(names=["neg", "pos"])})
    run = gaplab.train(data=datasets.Dataset.from_dict({"x": x.tolist(), "label": y.tolist()}, features=feats),
                       store=db, **KW)
    assert gaplab.data.load_dataset("file", path=run.spec.data.path).classes == ["neg", "pos"]
    table = datasets.Dataset.from_dict({**{c: x[:, i].tolist() for i, c in enumerate("abcde")}, "y": y.tolist()})
    assert gaplab.train(data=table, target="y", store=db, **KW).status == "done"


def test_python_data_goes_to_the_users_cache_without_a_store(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    x, y = _xy()
    run = gaplab.train(data=(x, y), store=None, **KW)
    assert Path(run.spec.data.path).parent == tmp_path / "cache" / "gaplab" / "data"


def test_advise_gets_only_the_model_the_caller_named() -> None:
    from gaplab.api.diagnose import _given_model

    assert _given_model(None, {"data": "digits"}) == (None, {})  # advise then picks the model for the data's kind
    assert _given_model({"model": {"name": "cnn", "args": {"channels": 8}}}, {}) == ("cnn", {"channels": 8})
    assert _given_model("model: {name: mlp}\noptim: {lr: 0.1}", {"depth": 2}) == ("mlp", {"depth": 2})
