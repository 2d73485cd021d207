"""Fully connected networks with optional batch norm and residual connections."""

from __future__ import annotations

import math

import torch
from torch import nn

from gaplab.models.layers import BatchNorm, Dropout, make_activation
from gaplab.models.registry import register_model


class HiddenBlock(nn.Module):
    """Linear -> [BatchNorm] -> activation -> Dropout, optionally added to its input (residual)."""

    def __init__(
        self, d_in: int, d_out: int, activation: str, batch_norm: bool, dropout: float, residual: bool
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        # running statistics per model in a pack (layers.BatchNorm), evaluation with them, as nn.BatchNorm1d does
        self.norm = BatchNorm(d_out) if batch_norm else nn.Identity()
        self.act = make_activation(activation)
        self.drop = Dropout(dropout)
        self.residual = residual and d_in == d_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.act(self.norm(self.linear(x))))
        return x + h if self.residual else h


class MLP(nn.Module):
    """Flatten -> ``depth`` hidden blocks -> Linear head."""

    def __init__(
        self,
        d_in: int,
        output_dim: int,
        width: int,
        depth: int,
        activation: str,
        batch_norm: bool,
        residual: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        self.flatten = nn.Flatten(1)
        dims = [d_in] + [width] * depth
        self.hidden = nn.Sequential(
            *[
                HiddenBlock(dims[i], dims[i + 1], activation, batch_norm, dropout, residual)
                for i in range(depth)
            ]
        )
        self.head = nn.Linear(dims[-1], output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(self.flatten(x)))


@register_model("mlp", help="multilayer perceptron (width, depth, activation, batch_norm, residual)")
def mlp(
    input_shape: tuple[int, ...],
    output_dim: int,
    *,
    dropout: float = 0.0,
    width: int = 256,
    depth: int = 2,
    activation: str = "relu",
    batch_norm: bool = False,
    residual: bool = False,
) -> nn.Module:
    """MLP with ``depth`` hidden layers of ``width``; batch norm always uses batch statistics (vmap-safe)."""
    if depth < 0 or width < 1:
        raise ValueError(f"mlp needs depth >= 0 and width >= 1, got depth={depth}, width={width}")
    return MLP(math.prod(input_shape), output_dim, width, depth, activation, batch_norm, residual, dropout)
