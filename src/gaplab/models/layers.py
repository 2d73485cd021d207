"""Building blocks safe under ``torch.vmap`` over stacked models: counter-RNG dropout, bilinear layer.

Nothing here updates buffers in forward or branches on data, so ``functional_call`` under ``vmap`` works.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gaplab import rng
from gaplab.phases import phase

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


def make_activation(name: str) -> nn.Module:
    """An activation module by name (relu, tanh, gelu)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}'; choose from: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class Dropout(nn.Module):
    """Inverted dropout with masks from ``gaplab.rng`` (key, counter): same masks alone or in a vmapped pack.

    ``p`` and ``key`` are buffers so a stacked pack can give each model its own rate and key.
    """

    counter: int | torch.Tensor  # step counter; a pack sets each model's own (a 0-d tensor under vmap)
    active: bool
    p: torch.Tensor  # buffers, registered in __init__
    key: torch.Tensor

    def __init__(self, p: float = 0.0, key: int = 0) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout rate must be in [0, 1], got {p}")
        self.register_buffer("p", torch.tensor(float(p), dtype=torch.float32))
        self.register_buffer("key", torch.tensor(int(key), dtype=torch.int64))
        self.counter = 0
        self.active = p > 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.active:
            return x
        with phase("dropout masks"):
            keep = (rng.uniform(self.key, self.counter, tuple(x.shape)) >= self.p).to(x.dtype)
        return x * keep / (1.0 - self.p).clamp_min(1e-12)

    def extra_repr(self) -> str:
        return f"active={self.active}, counter={self.counter}"


def _dropouts(model: nn.Module) -> list[Dropout]:
    return [m for m in model.modules() if isinstance(m, Dropout)]


def set_dropout_keys(model: nn.Module, seed: int) -> None:
    """Give every Dropout (in module order) the key ``rng.derive_key(seed, site_index)``."""
    for i, m in enumerate(_dropouts(model)):
        m.key.fill_(rng.derive_key(seed, i))


def set_dropout_counter(model: nn.Module, step: int) -> None:
    """Set the step counter of every Dropout (new step -> new masks)."""
    for m in _dropouts(model):
        m.counter = int(step)


def set_dropout_rate(model: nn.Module, p: float) -> None:
    """Set the drop rate of every Dropout; rate 0 deactivates them (exact identity)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout rate must be in [0, 1], got {p}")
    for m in _dropouts(model):
        m.p.fill_(float(p))
        m.active = p > 0


class Bilinear(nn.Module):
    """Multiplicative interactions ``out_j = x^T W_j z + b_j`` with W of shape (out, d, d).

    Initialized like ``nn.Bilinear``: uniform(-1/sqrt(d), 1/sqrt(d)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        out = torch.einsum("bi,oij,bj->bo", x, self.weight, z)
        return out if self.bias is None else out + self.bias


def spatial_input(input_shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """Split a conv input shape into (channels, spatial dims); a bare (L,) gets one channel."""
    if len(input_shape) == 1:
        return 1, tuple(input_shape)
    return input_shape[0], tuple(input_shape[1:])
