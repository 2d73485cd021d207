"""Bilinear model: input (2d,) split into halves x, z; out_j = x^T W_j z + b_j (+ optional linear term)."""

from __future__ import annotations

import math

import torch
from torch import nn

from gaplab.models.layers import Bilinear, Dropout
from gaplab.models.registry import register_model


class BilinearModel(nn.Module):
    """Dropout on the input, then multiplicative interactions of its two halves (+ a linear term)."""

    def __init__(self, d_in: int, output_dim: int, linear_term: bool, dropout: float) -> None:
        super().__init__()
        if d_in % 2:
            raise ValueError(f"bilinear needs an even number of input features (2d,), got {d_in}")
        self.d_half = d_in // 2  # (not `half`: that would shadow nn.Module.half())
        self.flatten = nn.Flatten(1)
        self.drop = Dropout(dropout)
        self.bilinear = Bilinear(self.d_half, output_dim)
        self.linear = nn.Linear(d_in, output_dim, bias=False) if linear_term else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.flatten(x))
        out = self.bilinear(x[:, : self.d_half], x[:, self.d_half :])
        return out if self.linear is None else out + self.linear(x)


@register_model("bilinear", help="x^T W_j z + b_j on the two input halves (+ linear term); inputs (2d,)")
def bilinear(
    input_shape: tuple[int, ...], output_dim: int, *, dropout: float = 0.0, linear_term: bool = True
) -> nn.Module:
    """Multiplicative-interaction model over the two halves of a flat (2d,) input."""
    return BilinearModel(math.prod(input_shape), output_dim, linear_term, dropout)
