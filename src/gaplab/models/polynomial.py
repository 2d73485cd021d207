"""Polynomial regression: per-feature powers [x, x^2, ..., x^degree] followed by a Linear layer."""

from __future__ import annotations

import math

import torch
from torch import nn

from gaplab.models.layers import Dropout
from gaplab.models.registry import register_model


class Polynomial(nn.Module):
    """Linear model on the elementwise powers 1..degree of the flattened input."""

    def __init__(self, d_in: int, output_dim: int, degree: int, dropout: float) -> None:
        super().__init__()
        self.degree = degree
        self.flatten = nn.Flatten(1)
        self.drop = Dropout(dropout)
        self.head = nn.Linear(d_in * degree, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(x)
        feats = torch.cat([x**k for k in range(1, self.degree + 1)], dim=1)
        return self.head(self.drop(feats))


@register_model("polynomial", help="per-feature powers x..x^degree + Linear (tabular inputs (d,))")
def polynomial(
    input_shape: tuple[int, ...], output_dim: int, *, dropout: float = 0.0, degree: int = 3
) -> nn.Module:
    """Polynomial features without cross terms (d * degree features), then Linear."""
    if degree < 1:
        raise ValueError(f"polynomial degree must be >= 1, got {degree}")
    return Polynomial(math.prod(input_shape), output_dim, degree, dropout)
