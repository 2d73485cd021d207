"""User-file readers: CSV/Parquet, .npz, image folders, MNIST IDX, CIFAR-10 batches."""

import gzip
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from gaplab.data import load_dataset, read_file, read_idx
from gaplab.errors import DataError


def _table(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "a": rng.normal(size=n),
        "b": rng.integers(0, 5, size=n),
        "color": rng.choice(["red", "green", "blue"], size=n),
        "target": rng.choice(["cat", "dog"], size=n),
    })


def test_csv_categorical_and_classification(tmp_path):
    f = tmp_path / "t.csv"
    _table().to_csv(f, index=False)
    d = read_file(f, test_fraction=0.25, seed=1)
    assert d.task == "classification" and d.num_classes == 2 and d.classes == ["cat", "dog"]
    assert d.input_shape == (2 + 3,) and d.x_train.dtype == torch.float32
    assert d.n_train == 30 and d.n_test == 10
    onehot = d.x_train[:, 2:]
    assert torch.equal(onehot.sum(1), torch.ones(30))
    again = load_dataset("file", {"test_fraction": 0.25, "seed": 1}, path=str(f))
    assert torch.equal(again.x_test, d.x_test)


def test_csv_regression_and_integer_target(tmp_path):
    df = _table().drop(columns="target")
    df["y"] = np.linspace(0, 1, len(df))
    f = tmp_path / "r.csv"
    df.to_csv(f, index=False)
    d = read_file(f, target="y")
    assert d.task == "regression" and d.y_train.shape == (32, 1) and d.y_train.dtype == torch.float32
    df["y"] = np.arange(len(df)) % 3 + 7
    df.to_csv(f, index=False)
    d = read_file(f, target="y")
    assert d.task == "classification" and d.classes == [7, 8, 9] and int(d.y_train.max()) == 2


def test_csv_errors_name_column_and_row(tmp_path):
    df = _table()
    f = tmp_path / "bad.csv"
    df.to_csv(f, index=False)
    with pytest.raises(ValueError, match="'label'.*available columns: a, b, color, target"):
        read_file(f, target="label")
    wide = df.assign(ident=[f"id{i}" for i in range(len(df))])
    wide.to_csv(f, index=False)
    with pytest.raises(ValueError, match="'ident'.*max_categories=20"):
        read_file(f)
    assert read_file(f, max_categories=100).input_shape == (5 + 40,)
    df.loc[2, "a"] = np.nan
    df.to_csv(f, index=False)
    with pytest.raises(ValueError, match=r"'a'.*data row 3 \(line 4"):
        read_file(f)


def test_parquet(tmp_path):
    f = tmp_path / "t.parquet"
    df = _table()
    df.to_parquet(f)
    d = read_file(f)
    assert d.num_classes == 2 and d.n_train + d.n_test == len(df)
    df.loc[4, "color"] = None
    pq = tmp_path / "t.pq"
    df.to_parquet(pq)
    with pytest.raises(ValueError, match="'color'.*row 5"):
        read_file(pq)


def test_npz(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 3, 2))
    y = np.arange(50) % 4
    f = tmp_path / "a.npz"
    np.savez(f, x=x, y=y)
    d = read_file(f, test_fraction=0.2)
    assert d.n_train == 40 and d.input_shape == (3, 2) and d.num_classes == 4
    g = tmp_path / "b.npz"
    np.savez(g, x=x, y=y.astype(np.float64), x_test=x[:5], y_test=y[:5].astype(np.float64))
    d = read_file(g)
    assert d.task == "regression" and d.n_train == 50 and d.n_test == 5 and d.y_test.shape == (5, 1)
    h = tmp_path / "c.npz"
    np.savez(h, x=x)
    with pytest.raises(ValueError, match=r"c\.npz.*'y'"):
        read_file(h)


def test_image_folder(tmp_path):
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for cls in ("ants", "bees"):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (6, 4), dtype=np.uint8), "L").save(root / cls / f"{i}.png")
    d = read_file(root, test_fraction=0.2)
    assert d.input_shape == (1, 6, 4) and d.classes == ["ants", "bees"] and d.n_train == 8
    assert 0 <= float(d.x_train.min()) and float(d.x_train.max()) <= 1
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), "RGB").save(root / "bees" / "c.bmp")
    d = read_file(root)
    assert d.input_shape == (3, 6, 4)
    d = read_file(root, mode="L", size=[5, 5])
    assert d.input_shape == (1, 5, 5) and d.n_train + d.n_test == 11


def _idx(path, arr: np.ndarray, magic: int, gz: bool = False) -> None:
    header = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def test_mnist_idx(tmp_path):
    rng = np.random.default_rng(0)
    for split, n, gz in (("train", 12, False), ("t10k", 5, True)):
        suffix = ".gz" if gz else ""
        _idx(tmp_path / f"{split}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), 0x803, gz)
        _idx(tmp_path / f"{split}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, 0x801, gz)
    d = read_file(tmp_path)
    assert d.x_train.shape == (12, 1, 28, 28) and d.x_test.shape == (5, 1, 28, 28) and d.num_classes == 10
    assert torch.equal(d.y_train, torch.arange(12) % 10)
    assert read_idx(tmp_path / "train-labels-idx1-ubyte").shape == (12,)
    _idx(tmp_path / "train-labels-idx1-ubyte", np.arange(12) % 10, 0x12345678)
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.*magic"):
        read_file(tmp_path)


def test_cifar10(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1", 6), ("data_batch_3", 4), ("test_batch", 3)):
        batch = {b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8), b"labels": list(range(n))}
        with open(tmp_path / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)  # the original batches are protocol-2 pickles
    d = read_file(tmp_path)
    assert d.x_train.shape == (10, 3, 32, 32) and d.x_test.shape == (3, 3, 32, 32) and d.num_classes == 10
    assert d.y_train.tolist() == list(range(6)) + list(range(4))
    with open(tmp_path / "test_batch", "rb") as f:
        raw = pickle.load(f)[b"data"]
    with open(tmp_path / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f, protocol=2)
    assert read_file(tmp_path).classes[:2] == ["c0", "c1"]
    with open(tmp_path / "data_batch_2", "wb") as f:
        pickle.dump(pickle.UnpicklingError("x"), f)  # an arbitrary object: refused, never executed
    with pytest.raises(DataError, match="data_batch_2: not a readable CIFAR-10 batch.*refusing"):
        read_file(tmp_path)
    assert torch.allclose(d.x_test[1, 2].flatten() * 255, torch.as_tensor(raw[1, 2048:], dtype=torch.float32))


def test_missing_and_unsupported(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.csv"):
        read_file(tmp_path / "nothere.csv")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="unsupported"):
        read_file(tmp_path / "x.txt")
    with pytest.raises(ValueError, match="data.path"):
        load_dataset("file")
