"""Random-features model: a frozen random first layer (buffers, never trained) + a trainable Linear."""

from __future__ import annotations

import math

import torch
from torch import nn

from gaplab.models.layers import Dropout, make_activation
from gaplab.models.registry import register_model


class RandomFeatures(nn.Module):
    """phi(x) = act(W x + b), W ~ N(0, 1/d) and b ~ N(0, 1) held as buffers; output Linear(Dropout(phi))."""

    def __init__(self, d_in: int, output_dim: int, width: int, activation: str, bias: bool, dropout: float):
        super().__init__()
        self.flatten = nn.Flatten(1)
        self.register_buffer("feature_weight", torch.randn(width, d_in) / math.sqrt(d_in))
        self.register_buffer("feature_bias", torch.randn(width) if bias else torch.zeros(width))
        self.act = make_activation(activation)
        self.drop = Dropout(dropout)
        self.head = nn.Linear(width, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        phi = self.act(self.flatten(x) @ self.feature_weight.T + self.feature_bias)
        return self.head(self.drop(phi))


@register_model("random-features", help="frozen random ReLU features (buffers) + trainable Linear (width)")
def random_features(
    input_shape: tuple[int, ...],
    output_dim: int,
    *,
    dropout: float = 0.0,
    width: int = 512,
    activation: str = "relu",
    bias: bool = True,
) -> nn.Module:
    """Random features: only the final Linear is a parameter, so an optimizer never moves the features."""
    return RandomFeatures(math.prod(input_shape), output_dim, width, activation, bias, dropout)
