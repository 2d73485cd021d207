"""Built-in datasets load with the documented shapes/dtypes; mnist1d is disk-cached by argument hash."""

import time

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from gaplab.data import Dataset, dataset_args_model, list_datasets, load_dataset
from gaplab.data.builtin import Mnist1dArgs, mnist1d_cache_key
from gaplab.errors import SpecError


def _check(d: Dataset, n_train: int, n_test: int, shape: tuple, task: str, out: int) -> None:
    assert d.x_train.shape == (n_train, *shape) and d.x_test.shape == (n_test, *shape)
    assert d.x_train.dtype == torch.float32 and d.x_test.dtype == torch.float32
    assert d.input_shape == shape and d.task == task and d.output_dim == out
    if task == "classification":
        assert d.y_train.dtype == torch.int64 and d.y_train.shape == (n_train,)
        assert int(d.y_train.max()) < out
    else:
        assert d.y_train.dtype == torch.float32 and d.y_train.shape == (n_train, out)


def test_list_datasets():
    names = list_datasets()
    for n in ("mnist1d", "digits", "sine", "linear-teacher", "teacher-mlp", "moons", "blobs", "file"):
        assert n in names and names[n]


def test_digits():
    d = load_dataset("digits")
    _check(d, 1347, 450, (1, 8, 8), "classification", 10)
    assert float(d.x_train.min()) >= 0 and float(d.x_train.max()) <= 1
    # stratified: every class present in test in roughly equal measure
    assert torch.bincount(d.y_test, minlength=10).min() >= 40


def test_sine():
    d = load_dataset("sine", {"n_train": 50, "n_test": 200, "seed": 3})
    _check(d, 50, 200, (1,), "regression", 1)
    assert float(d.x_train.abs().max()) <= 3
    assert torch.allclose(d.y_test, torch.sin(d.x_test))  # noiseless test by default
    assert not torch.allclose(d.y_train, torch.sin(d.x_train))
    noisy = load_dataset("sine", {"test_noise": True})
    assert not torch.allclose(noisy.y_test, torch.sin(noisy.x_test))


def test_linear_teacher_sparse_and_deterministic():
    a = load_dataset("linear-teacher", {"d": 10, "n_train": 500, "noise": 0.0, "sparsity": 0.3, "seed": 1})
    _check(a, 500, 1000, (10,), "regression", 1)
    w = torch.linalg.lstsq(a.x_train, a.y_train).solution.squeeze()
    assert int((w.abs() > 1e-4).sum()) == 3
    b = load_dataset("linear-teacher", {"d": 10, "n_train": 500, "noise": 0.0, "sparsity": 0.3, "seed": 1})
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)


def test_teacher_mlp():
    r = load_dataset("teacher-mlp", {"d": 5, "n_train": 30, "n_test": 40})
    _check(r, 30, 40, (5,), "regression", 1)
    args = {"d": 5, "n_train": 300, "n_test": 40, "classes": 3, "activation": "relu"}
    c = load_dataset("teacher-mlp", args)
    _check(c, 300, 40, (5,), "classification", 3)
    assert len(torch.unique(c.y_train)) >= 2


@pytest.mark.parametrize("name,k", [("moons", 2), ("blobs", 3)])
def test_sklearn_toys(name, k):
    d = load_dataset(name, {"n_train": 60, "n_test": 20, "seed": 5})
    _check(d, 60, 20, (2,), "classification", k)
    again = load_dataset(name, {"n_train": 60, "n_test": 20, "seed": 5})
    assert torch.equal(d.x_train, again.x_train)


def test_bad_args_raise_validation_error_and_unknown_name():
    with pytest.raises(ValidationError):
        load_dataset("sine", {"n_trian": 5})
    with pytest.raises(ValidationError):
        dataset_args_model("moons").model_validate({"n_train": -1})
    with pytest.raises(SpecError, match="data.name: unknown data set .nope.; choose from: .*mnist1d"):
        load_dataset("nope")


def test_mnist1d_default_shape_and_cache(tmp_path):
    state = np.random.get_state()
    t0 = time.perf_counter()
    d = load_dataset("mnist1d", cache_dir=tmp_path)
    first = time.perf_counter() - t0
    _check(d, 4000, 1000, (40,), "classification", 10)
    assert np.array_equal(np.random.get_state()[1], state[1])  # global numpy RNG untouched
    files = list(tmp_path.glob("*.npz"))
    assert [f.name for f in files] == [mnist1d_cache_key(Mnist1dArgs()) + ".npz"]
    t0 = time.perf_counter()
    again = load_dataset("mnist1d", cache_dir=tmp_path)
    assert time.perf_counter() - t0 < first
    assert torch.equal(d.x_train, again.x_train) and torch.equal(d.y_test, again.y_test)


def test_mnist1d_small_and_cache_key(tmp_path, monkeypatch):
    monkeypatch.setenv("GAPLAB_CACHE", str(tmp_path))
    d = load_dataset("mnist1d", {"num_samples": 500})
    assert d.x_train.shape == (400, 40) and d.x_test.shape == (100, 40)
    assert len(list((tmp_path / "mnist1d").glob("*.npz"))) == 1
    load_dataset("mnist1d", {"num_samples": 500, "seed": 7})
    assert len(list((tmp_path / "mnist1d").glob("*.npz"))) == 2
    assert mnist1d_cache_key(Mnist1dArgs(num_samples=500)) != mnist1d_cache_key(Mnist1dArgs(num_samples=600))
