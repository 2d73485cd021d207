"""Unusable data stops with a DataError naming the file, column, class and counts (never a traceback, never
a silent run on nothing)."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from gaplab.data import Dataset, prepare, read_file
from gaplab.errors import DataError


def _table(n: int, target: list | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                         "target": target if target is not None else [i % 2 for i in range(n)]})


def _csv(df: pd.DataFrame) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        df.to_csv(tmp / "t.csv", index=False)
        return tmp / "t.csv"
    return make


def _text(name: str, text: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_text(text)
        return tmp / name
    return make


def _npz(**arrays: np.ndarray) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        np.savez(tmp / "d.npz", **arrays)  # type: ignore[arg-type]  # numpy's stub types the first kwarg
        return tmp / "d.npz"
    return make


def _images(counts: dict[str, int], broken: bool = False) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        rng = np.random.default_rng(0)
        for cls, n in counts.items():
            (tmp / "imgs" / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (4, 4), dtype=np.uint8), "L").save(tmp / "imgs" / cls / f"{i}.png")
        if broken:
            (tmp / "imgs" / cls / "bad.png").write_bytes(b"not a png")
        return tmp / "imgs"
    return make


def _idx(raw: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                     "t10k-labels-idx1-ubyte"):
            (tmp / name).write_bytes(raw)
        return tmp
    return make


def _cifar_mismatch(tmp: Path) -> Path:
    for name in ("data_batch_1", "test_batch"):
        with open(tmp / name, "wb") as f:
            pickle.dump({b"data": np.zeros((6, 3072), np.uint8), b"labels": [0, 1, 0, 1, 0]}, f, protocol=2)
    return tmp


X = np.random.default_rng(1).normal(size=(40, 3))
Y = np.arange(40) % 2
CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "csv header only": (_text("h.csv", "a,b,target\n"), r"h\.csv: no data rows, only a header \(a, b, target\)"),
    "csv empty file": (_text("e.csv", ""), r"e\.csv: cannot read it: No columns to parse"),
    "csv one class": (_csv(_table(50, [1] * 50)),
                      r"t\.csv: only one class \(1\) in target column 'target', over all 50 examples"),
    "csv 3 rows": (_csv(_table(3)), r"t\.csv: only 3 data rows; gaplab needs at least 10"),
    "csv class of one": (_csv(_table(30, [i % 3 for i in range(29)] + [7])),
                         r"t\.csv: class 7 in target column 'target' has a single example"),
    "csv infinity": (_text("i.csv", "a,target\n" + "".join(f"{'inf' if i == 3 else i},{i % 2}\n" for i in range(20))),
                     r"i\.csv: non-finite input value .* at data row 4 \(line 5 of the CSV"),
    "csv constant target": (_csv(_table(20, [0.5] * 20)),
                            r"target column 'target' has the same value \(\[0\.5\]\) in all 20 examples"),
    "csv tiny test fraction": (_csv(_table(20)),
                               r"test_fraction=0\.01 leaves the test set empty \(20 training, 0 test"),
    "parquet garbage": (_text("g.parquet", "not parquet"), r"g\.parquet: cannot read it"),
    "npz garbage": (_text("g.npz", "not a zip"), r"g\.npz: cannot read it"),
    "npz length mismatch": (_npz(x=X, y=Y[:39]), r"d\.npz: x has 40 examples but y has 39"),
    "npz 1-d inputs": (_npz(x=X[:, 0], y=Y), r"d\.npz: x must have a sample axis and features"),
    "npz 5 rows": (_npz(x=X[:5], y=Y[:5]), r"d\.npz: only 5 examples"),
    "npz one class": (_npz(x=X, y=Y * 0 + 3), r"d\.npz: only one class \(3\) in array 'y'"),
    "npz nan": (_npz(x=np.where(np.arange(40)[:, None] == 6, np.nan, X), y=Y),
                r"d\.npz \(x\): non-finite input value .* at example 7"),
    "npz test class unseen": (_npz(x=X, y=Y, x_test=X[:5], y_test=np.array([0, 1, 5, 0, 1])),
                              r"d\.npz: the file's own split leaves class 5 without a training example"),
    "npz x_test alone": (_npz(x=X, y=Y, x_test=X[:5]), r"missing array 'y_test'"),
    "images one class": (_images({"cats": 12}), r"imgs: only one class \('cats'\) in the class folders"),
    "images class of one": (_images({"cats": 12, "dogs": 1}), r"class 'dogs' in the class folders has a single"),
    "images broken file": (_images({"cats": 6, "dogs": 6}, broken=True), r"bad\.png: cannot read the image"),
    "idx empty": (_idx(b""), r"bad IDX magic number \(empty file\)"),
    "idx truncated": (_idx((0x803).to_bytes(4, "big") + (5).to_bytes(4, "big") * 3 + b"\0" * 10),
                      r"IDX header promises 125 data bytes but file has 10"),
    "cifar labels mismatch": (_cifar_mismatch, r"data_batch_1: 6 images but 5 labels"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_unusable_file_raises_data_error_naming_it(case: str, tmp_path: Path) -> None:
    make, message = CASES[case]
    path = make(tmp_path)
    kwargs = {"test_fraction": 0.01} if case == "csv tiny test fraction" else {}
    with pytest.raises(DataError, match=message):
        read_file(path, **kwargs)


def test_gzipped_idx_that_is_not_gzip_is_named(tmp_path: Path) -> None:
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (tmp_path / f"{name}.gz").write_bytes(b"plain bytes")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: cannot read it"):
        read_file(tmp_path)


def test_missing_file_is_a_data_error_and_still_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nothere.csv") as info:
        read_file(tmp_path / "nothere.csv")
    assert isinstance(info.value, FileNotFoundError)


def _pool(y: list[int]) -> Dataset:
    x = torch.randn(len(y), 3)
    t = torch.tensor(y)
    return Dataset("pool", x, t, x[:4], t[:4], "classification", int(t.max()) + 1)


def test_validation_split_that_cannot_work_is_named() -> None:
    ds = _pool([i % 2 for i in range(30)])
    with pytest.raises(DataError, match=r"val_fraction=0\.01 of the 30-example pool of 'pool' holds out no example"):
        prepare(ds, seed=0, val_fraction=0.01)
    with pytest.raises(DataError, match=r"val_fraction=0\.99 .* holds out every example and leaves none"):
        prepare(ds, seed=0, val_fraction=0.99)
    # 10 of class 0 and 1 of class 1: half held out for validation takes class 1's only example
    lopsided = _pool([0] * 10 + [1])
    with pytest.raises(DataError, match=r"holds out every example of class 1 \(1 in the pool\)"):
        prepare(lopsided, seed=0, val_fraction=0.5)
    with pytest.raises(DataError, match=r"data.train_size must be between 1 and 27 for 'pool' \(pool 30 minus 3"):
        prepare(ds, seed=0, val_fraction=0.1, train_size=28)
    assert len(prepare(ds, seed=0, val_fraction=0.1, train_size=27).train_idx) == 27
