"""A tiny user model factory, imported by path in the registry tests."""

from __future__ import annotations

import math

from torch import nn


def factory(
    input_shape: tuple[int, ...], output_dim: int, *, dropout: float = 0.0, hidden: int = 4
) -> nn.Module:
    """Flatten -> Linear -> ReLU -> Linear."""
    return nn.Sequential(
        nn.Flatten(1), nn.Linear(math.prod(input_shape), hidden), nn.ReLU(), nn.Linear(hidden, output_dim)
    )
