"""Injected faults for the doctor's catalogue: broken user model factories and broken data files.

Model factories are named by path (``doctor_faults:ignores_input``) like any user model; the data writers
build files from MNIST-1D and scikit-learn's breast-cancer table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gaplab.models.mlp import mlp


class _Constant(nn.Module):
    """Predicts from a zero vector: the forward ignores its input (a classic wiring bug)."""

    def __init__(self, d_in: int, output_dim: int) -> None:
        super().__init__()
        self.d_in = d_in
        self.body = nn.Sequential(nn.Linear(d_in, 64), nn.ReLU(), nn.Linear(64, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.zeros(x.shape[0], self.d_in, dtype=x.dtype, device=x.device)  # bug: x is never used
        return self.body(h)


def ignores_input(input_shape: tuple[int, ...], output_dim: int, *, dropout: float = 0.0) -> nn.Module:
    return _Constant(int(np.prod(input_shape)), output_dim)


def big_init(input_shape: tuple[int, ...], output_dim: int, *, dropout: float = 0.0, scale: float = 100.0) -> nn.Module:
    """The default MLP with every weight multiplied by ``scale`` (100× too large)."""
    m = mlp(input_shape, output_dim, dropout=dropout)
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() >= 2:
                p.mul_(scale)
    return m


def dead_relu(input_shape: tuple[int, ...], output_dim: int, *, dropout: float = 0.0, bias: float = -10.0) -> nn.Module:
    """The default MLP with large negative hidden biases: every ReLU unit is dead at init."""
    m = mlp(input_shape, output_dim, dropout=dropout)
    with torch.no_grad():
        for block in m.hidden:
            block.linear.bias.fill_(bias)
    return m


class _Head(nn.Module):
    """The default MLP on a part of the input (``keep`` of its last axis) or followed by a softmax."""

    def __init__(self, input_shape: tuple[int, ...], output_dim: int, keep: int | None, softmax: bool) -> None:
        super().__init__()
        self.keep = keep
        shape = (*input_shape[:-1], keep) if keep is not None else input_shape
        self.body = mlp(shape, output_dim)
        self.softmax = softmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x[..., : self.keep] if self.keep is not None else x)  # bug: the last features are dropped
        return torch.softmax(out, -1) if self.softmax else out  # bug: the loss expects logits


def softmax_output(input_shape: tuple[int, ...], output_dim: int, *, dropout: float = 0.0) -> nn.Module:
    """The default MLP ending in a Softmax (probabilities fed to a loss that expects logits)."""
    return _Head(input_shape, output_dim, None, True)


def drops_features(input_shape: tuple[int, ...], output_dim: int, *, dropout: float = 0.0) -> nn.Module:
    """An MLP that reads only the first three quarters of the input (x[..., :30] of MNIST-1D's 40)."""
    return _Head(input_shape, output_dim, input_shape[-1] * 3 // 4, False)


def _mnist1d() -> Any:
    from gaplab.data import load_dataset

    return load_dataset("mnist1d")


def write_npz(path: Path, x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor) -> str:
    np.savez(path, x=x.numpy(), y=y.numpy(), x_test=x_test.numpy(), y_test=y_test.numpy())
    return str(path)


def mnist1d_npz(folder: Path, fault: str | None = None) -> str:
    """MNIST-1D as an .npz, optionally broken: 'leak_test' (test set copied into training), 'scaled' (×1e4),
    'shuffled' (training labels permuted relative to the inputs), 'one_based' (labels 1..10), 'shifted' (each
    label moved to the next row), 'test_stats' (standardized with the test set's mean and std), 'noisy_copies'
    (every training row three times with a little noise: groups a random validation split leaks)."""
    d = _mnist1d()
    x, y, xt, yt = d.x_train, d.y_train, d.x_test, d.y_test
    if fault == "leak_test":
        x, y = torch.cat([x, xt]), torch.cat([y, yt])
    elif fault == "scaled":
        x, xt = x * 1e4, xt * 1e4
    elif fault == "shuffled":
        y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    elif fault == "one_based":
        y, yt = y + 1, yt + 1
    elif fault == "shifted":
        y = torch.roll(y, 1)
    elif fault == "test_stats":
        m, sd = xt.mean(0), xt.std(0)
        x, xt = (x - m) / sd, (xt - m) / sd
    elif fault == "noisy_copies":
        g = torch.Generator().manual_seed(0)
        x = torch.cat([x + 0.05 * x.std() * torch.randn(x.shape, generator=g) for _ in range(3)])
        y = torch.cat([y] * 3)
    elif fault is not None:
        raise ValueError(fault)
    return write_npz(folder / f"mnist1d_{fault or 'ok'}.npz", x, y, xt, yt)


def tabular_csv(folder: Path, leak: bool = False) -> str:
    """scikit-learn's breast-cancer table as a CSV with a 'target' column; ``leak`` adds a copy of the target."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    df = pd.DataFrame(b.data, columns=[c.replace(" ", "_") for c in b.feature_names])
    if leak:
        df.insert(3, "diagnosis_code", b.target)
    df["target"] = b.target
    path = folder / f"cancer{'_leak' if leak else ''}.csv"
    df.to_csv(path, index=False)
    return str(path)


def regression_csv(folder: Path, scale: float = 1.0) -> str:
    """y = x·w + noise on three features, the target multiplied by ``scale``."""
    import pandas as pd

    g = np.random.default_rng(0)
    x = g.normal(size=(600, 3))
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    df["target"] = scale * (x[:, 0] + 0.5 * x[:, 1] + 0.3 * g.normal(size=600))
    path = folder / f"regression_x{scale:g}.csv"
    df.to_csv(path, index=False)
    return str(path)


def wine_csv(folder: Path) -> str:
    """scikit-learn's wine table (3 classes, 13 features) as a CSV with a 'target' column."""
    import pandas as pd
    from sklearn.datasets import load_wine

    b = load_wine()
    df = pd.DataFrame(b.data, columns=b.feature_names)
    df["target"] = b.target
    path = folder / "wine.csv"
    df.to_csv(path, index=False)
    return str(path)


def catalogue(folder: Path) -> list[tuple[str, dict[str, Any], set[str], str]]:
    """(case, run spec, checks that must flag it, a word of the cause) for every fault; healthy cases expect
    nothing. What ``benchmarks/doctor_catalogue.py`` runs in the default mode."""
    return [
        ("learning rate 100× too high", {"optim": {"lr": 1.0}}, {"learning rate"}, "too high"),
        ("learning rate 1000× too low", {"optim": {"lr": 1e-5}}, {"learning rate"}, "too low"),
        ("weights initialized 100× too large", {"model": {"name": "doctor_faults:big_init"}},
         {"initial loss", "output scale at init"}, "initialization too large"),
        ("ReLUs dead at init (bias −10)", {"model": {"name": "doctor_faults:dead_relu"}}, {"dead ReLU at init"},
         "dead ReLU"),
        ("features ×1e4, standardization off",
         {"data": {"name": "file", "path": mnist1d_npz(folder, "scaled"), "standardize": False}}, {"feature scale"},
         "unscaled"),
        ("test set copied into training", {"data": {"name": "file", "path": mnist1d_npz(folder, "leak_test")}},
         {"train/test duplicates"}, "leakage"),
        ("target copied into a feature", {"data": {"name": "file", "path": tabular_csv(folder, leak=True)}},
         {"one-feature leakage"}, "leakage"),
        ("labels shuffled vs inputs", {"data": {"name": "file", "path": mnist1d_npz(folder, "shuffled")}},
         {"beats zeroed inputs"}, "labels do not depend"),
        ("model ignores its input", {"model": {"name": "doctor_faults:ignores_input"}}, {"beats zeroed inputs"},
         "does not depend on its input"),
        ("30 % label noise", {"data": {"name": "mnist1d", "label_noise": 0.3}}, {"label noise (heuristic)"},
         "labels look wrong"),
        ("model ends in Softmax", {"model": {"name": "doctor_faults:softmax_output"}}, {"outputs are logits"},
         "outputs are probabilities"),
        ("labels 1..K (off by one)", {"data": {"name": "file", "path": mnist1d_npz(folder, "one_based")}},
         {"labels in range"}, "labels off by one"),
        ("labels shifted by one row", {"data": {"name": "file", "path": mnist1d_npz(folder, "shifted")}},
         {"beats zeroed inputs"}, "labels do not depend"),
        ("normalized with the test set's statistics",
         {"data": {"name": "file", "path": mnist1d_npz(folder, "test_stats")}}, {"normalization statistics"},
         "taken from the test set"),
        ("label-changing augmentation (digits rotated up to 180°)",
         {"data": {"name": "digits"}, "reg": {"augment": [{"name": "rotate", "amount": 180}]}},
         {"augmentation keeps labels"}, "changes what the label means"),
        ("batch size 2 with batch norm", {"model": {"name": "mlp", "args": {"batch_norm": True}},
                                          "optim": {"batch_size": 2, "epochs": 1}},
         {"batch size for batch norm"}, "batch size 2 with batch norm"),
        ("regression target ×1e4", {"data": {"name": "file", "path": regression_csv(folder, 1e4)}},
         {"target scale"}, "target's scale"),
        ("validation split leaks groups (noisy copies)",
         {"data": {"name": "file", "path": mnist1d_npz(folder, "noisy_copies")}}, {"validation split leak"},
         "groups leak"),
        ("output ignores some input features", {"model": {"name": "doctor_faults:drops_features"}},
         {"every input feature used"}, "does not depend on input features"),
        ("healthy: MNIST-1D MLP", {}, set(), ""),
        ("healthy: MNIST-1D CNN", {"model": {"name": "cnn1d"}}, set(), ""),
        ("healthy: digits CNN", {"data": {"name": "digits"}, "model": {"name": "cnn2d"}}, set(), ""),
        ("healthy: tabular CSV", {"data": {"name": "file", "path": tabular_csv(folder)},
                                  "model": {"name": "mlp", "args": {"width": 64}}}, set(), ""),
        ("healthy: wine CSV", {"data": {"name": "file", "path": wine_csv(folder)},
                               "model": {"name": "mlp", "args": {"width": 64}}}, set(), ""),
        ("healthy: user model (tests/models/gaplab_user_model.py)",
         {"model": {"name": "gaplab_user_model:factory", "args": {"hidden": 32}}}, set(), ""),
    ]
