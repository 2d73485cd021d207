"""Built-in datasets: mnist1d (disk-cached), digits, sine, linear-teacher, teacher-mlp, moons, blobs."""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from .dataset import Dataset
from .registry import register_dataset


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _t(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a)).to(dtype)


# ----------------------------------------------------------------------------- mnist1d
class Mnist1dArgs(_Args):
    """Mirror of ``mnist1d.data.get_dataset_args()`` (without the download url)."""

    num_samples: int = Field(5000, ge=10)
    train_split: float = Field(0.8, gt=0.0, lt=1.0)
    template_len: int = 12
    padding: tuple[int, int] = (36, 60)
    scale_coeff: float = 0.4
    max_translation: int = 48
    corr_noise_scale: float = 0.25
    iid_noise_scale: float = 2e-2
    shear_scale: float = 0.75
    shuffle_seq: bool = False
    final_seq_length: int = 40
    seed: int = 42


def default_cache_root() -> Path:
    """``$GAPLAB_CACHE`` if set, else ``~/.cache/gaplab``."""
    env = os.environ.get("GAPLAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gaplab"


def mnist1d_cache_key(args: Mnist1dArgs) -> str:
    """sha256 of the canonical JSON of the generation arguments."""
    canonical = json.dumps(args.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _generate_mnist1d(args: Mnist1dArgs) -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    view = get_dataset_args()
    for key, value in args.model_dump().items():
        setattr(view, key, list(value) if isinstance(value, tuple) else value)
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(view)  # seeds numpy's and python's global RNGs; restored below
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"x": d["x"].astype(np.float32), "y": d["y"].astype(np.int64),
            "x_test": d["x_test"].astype(np.float32), "y_test": d["y_test"].astype(np.int64)}


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".tmp.npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub lets **kwds reach allow_pickle
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is ordinary shared data
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@register_dataset("mnist1d", help="MNIST-1D (Greydanus 2020): 10-class 1-D signals, 4000/1000 of length 40",
                  args_model=Mnist1dArgs)
def load_mnist1d(args: Mnist1dArgs, cache_dir: Path | None = None) -> Dataset:
    """Generate MNIST-1D locally (never downloads), cached as ``<cache_dir>/<sha256>.npz``."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_root() / "mnist1d"
    path = cache_dir / f"{mnist1d_cache_key(args)}.npz"
    arrays = None
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError):
            arrays = None  # corrupt cache entry: regenerate
    if arrays is None:
        arrays = _generate_mnist1d(args)
        _atomic_savez(path, arrays)
    return Dataset("mnist1d", _t(arrays["x"], torch.float32), _t(arrays["y"], torch.int64),
                   _t(arrays["x_test"], torch.float32), _t(arrays["y_test"], torch.int64),
                   "classification", 10)


# ----------------------------------------------------------------------------- digits
class DigitsArgs(_Args):
    test_fraction: float = Field(0.25, gt=0.0, lt=1.0)
    seed: int = 0


@register_dataset("digits", help="sklearn 8x8 digits (1797 images, 10 classes) as (1, 8, 8) in [0, 1]",
                  args_model=DigitsArgs)
def load_digits(args: DigitsArgs, cache_dir: Path | None = None) -> Dataset:
    """sklearn's bundled digits, stratified train/test split."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    d = sk_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=args.test_fraction, random_state=args.seed,
                                          stratify=d.target)
    return Dataset("digits", _t(xtr, torch.float32), _t(ytr, torch.int64), _t(xte, torch.float32),
                   _t(yte, torch.int64), "classification", 10)


# ----------------------------------------------------------------------------- sine
class SineArgs(_Args):
    n_train: int = Field(100, ge=1)
    n_test: int = Field(1000, ge=1)
    noise: float = Field(0.1, ge=0.0)
    test_noise: bool = False
    seed: int = 0


@register_dataset("sine", help="1-D regression y = sin(x) + noise, x ~ U(-3, 3)", args_model=SineArgs)
def load_sine(args: SineArgs, cache_dir: Path | None = None) -> Dataset:
    """Toy curve-fitting task; the test targets are noiseless unless ``test_noise``."""
    g = _gen(args.seed)
    x_tr = torch.rand(args.n_train, 1, generator=g) * 6 - 3
    x_te = torch.rand(args.n_test, 1, generator=g) * 6 - 3
    y_tr = torch.sin(x_tr) + args.noise * torch.randn(args.n_train, 1, generator=g)
    e_te = torch.randn(args.n_test, 1, generator=g)
    y_te = torch.sin(x_te) + (args.noise * e_te if args.test_noise else 0.0)
    return Dataset("sine", x_tr, y_tr, x_te, y_te, "regression", None)


# ----------------------------------------------------------------------------- linear teacher
class LinearTeacherArgs(_Args):
    d: int = Field(20, ge=1)
    n_train: int = Field(100, ge=1)
    n_test: int = Field(1000, ge=1)
    noise: float = Field(0.1, ge=0.0)
    sparsity: float = Field(1.0, gt=0.0, le=1.0)
    weight_scale: float = Field(1.0, ge=0.0)
    test_noise: bool = False
    seed: int = 0


@register_dataset("linear-teacher", help="y = x.w* + noise with x ~ N(0, I_d); optional sparse teacher",
                  args_model=LinearTeacherArgs)
def load_linear_teacher(args: LinearTeacherArgs, cache_dir: Path | None = None) -> Dataset:
    """Gaussian linear regression; w* has ceil(sparsity*d) nonzeros scaled so Var(x.w*) = weight_scale^2."""
    g = _gen(args.seed)
    k = max(1, int(np.ceil(args.sparsity * args.d)))
    support = torch.randperm(args.d, generator=g)[:k]
    w = torch.zeros(args.d)
    w[support] = torch.randn(k, generator=g) * args.weight_scale / np.sqrt(k)
    x_tr = torch.randn(args.n_train, args.d, generator=g)
    x_te = torch.randn(args.n_test, args.d, generator=g)
    y_tr = (x_tr @ w)[:, None] + args.noise * torch.randn(args.n_train, 1, generator=g)
    e_te = torch.randn(args.n_test, 1, generator=g)
    y_te = (x_te @ w)[:, None] + (args.noise * e_te if args.test_noise else 0.0)
    return Dataset("linear-teacher", x_tr, y_tr, x_te, y_te, "regression", None)


# ----------------------------------------------------------------------------- teacher MLP
class TeacherMlpArgs(_Args):
    d: int = Field(10, ge=1)
    hidden: int = Field(32, ge=1)
    activation: Literal["tanh", "relu"] = "tanh"
    n_train: int = Field(200, ge=1)
    n_test: int = Field(1000, ge=1)
    noise: float = Field(0.0, ge=0.0)
    classes: int = Field(0, ge=0)
    seed: int = 0


@register_dataset("teacher-mlp", help="random 1-hidden-layer MLP teacher; classes=0 regression, else argmax",
                  args_model=TeacherMlpArgs)
def load_teacher_mlp(args: TeacherMlpArgs, cache_dir: Path | None = None) -> Dataset:
    """Student-teacher data; noise is added to the teacher outputs (before argmax for classification)."""
    if args.classes == 1:
        raise ValueError("teacher-mlp: classes must be 0 (regression) or >= 2")
    g = _gen(args.seed)
    out = args.classes or 1
    w1 = torch.randn(args.d, args.hidden, generator=g) / np.sqrt(args.d)
    b1 = torch.randn(args.hidden, generator=g) * 0.1
    w2 = torch.randn(args.hidden, out, generator=g) / np.sqrt(args.hidden)
    act = torch.tanh if args.activation == "tanh" else torch.relu

    def teacher(x: torch.Tensor) -> torch.Tensor:
        return act(x @ w1 + b1) @ w2

    x_tr = torch.randn(args.n_train, args.d, generator=g)
    x_te = torch.randn(args.n_test, args.d, generator=g)
    f_tr = teacher(x_tr) + args.noise * torch.randn(args.n_train, out, generator=g)
    f_te = teacher(x_te)
    if args.classes == 0:
        return Dataset("teacher-mlp", x_tr, f_tr, x_te, f_te, "regression", None)
    f_te = f_te + args.noise * torch.randn(args.n_test, out, generator=g)
    return Dataset("teacher-mlp", x_tr, f_tr.argmax(1), x_te, f_te.argmax(1), "classification", args.classes)


# ----------------------------------------------------------------------------- sklearn toys
class MoonsArgs(_Args):
    n_train: int = Field(200, ge=1)
    n_test: int = Field(1000, ge=1)
    noise: float = Field(0.2, ge=0.0)
    seed: int = 0


@register_dataset("moons", help="sklearn two interleaving half-circles, 2 classes", args_model=MoonsArgs)
def load_moons(args: MoonsArgs, cache_dir: Path | None = None) -> Dataset:
    """Two moons; train and test drawn in one call and split."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=args.n_train + args.n_test, noise=args.noise, random_state=args.seed)
    n = args.n_train
    return Dataset("moons", _t(x[:n], torch.float32), _t(y[:n], torch.int64), _t(x[n:], torch.float32),
                   _t(y[n:], torch.int64), "classification", 2)


class BlobsArgs(_Args):
    n_train: int = Field(200, ge=1)
    n_test: int = Field(1000, ge=1)
    centers: int = Field(3, ge=2)
    n_features: int = Field(2, ge=1)
    cluster_std: float = Field(1.0, gt=0.0)
    seed: int = 0


@register_dataset("blobs", help="sklearn isotropic Gaussian blobs, `centers` classes", args_model=BlobsArgs)
def load_blobs(args: BlobsArgs, cache_dir: Path | None = None) -> Dataset:
    """Gaussian blobs; train and test drawn in one call and split."""
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples=args.n_train + args.n_test, n_features=args.n_features, centers=args.centers,
                      cluster_std=args.cluster_std, random_state=args.seed)
    n = args.n_train
    return Dataset("blobs", _t(x[:n], torch.float32), _t(y[:n], torch.int64), _t(x[n:], torch.float32),
                   _t(y[n:], torch.int64), "classification", args.centers)
