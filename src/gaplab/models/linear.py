"""Linear / logistic regression: flatten, (input) dropout, one ``nn.Linear``."""

from __future__ import annotations

import math

from torch import nn

from gaplab.models.layers import Dropout
from gaplab.models.registry import register_model


@register_model("logistic", help="alias of linear (softmax/logistic regression with a CE loss)")
@register_model("linear", help="flatten + one Linear layer (linear or logistic regression)")
def linear(input_shape: tuple[int, ...], output_dim: int, *, dropout: float = 0.0) -> nn.Module:
    """Flatten + Dropout on the inputs + Linear(prod(input_shape), output_dim)."""
    return nn.Sequential(nn.Flatten(1), Dropout(dropout), nn.Linear(math.prod(input_shape), output_dim))
