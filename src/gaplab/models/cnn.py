"""Small convolutional nets: the mnist1d ConvBase (``cnn1d``) and a two-block 2-D CNN (``cnn2d``)."""

from __future__ import annotations

import torch
from torch import nn

from gaplab.models.layers import Dropout, spatial_input
from gaplab.models.registry import register_model


class CNN1d(nn.Module):
    """mnist1d ConvBase: three strided Conv1d+ReLU, flatten, Dropout, Linear."""

    def __init__(self, input_shape: tuple[int, ...], output_dim: int, channels: int, dropout: float) -> None:
        super().__init__()
        if len(input_shape) not in (1, 2):
            raise ValueError(f"cnn1d needs input shape (L,) or (C, L), got {input_shape}")
        c_in, (length,) = spatial_input(input_shape)
        self.in_shape = (c_in, length)
        self.features = nn.Sequential(
            nn.Conv1d(c_in, channels, 5, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(1),
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, c_in, length)).shape[1]
        self.drop = Dropout(dropout)
        self.head = nn.Linear(n_flat, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.in_shape)
        return self.head(self.drop(self.features(x)))


@register_model("cnn1d", help="mnist1d ConvBase: 3 strided Conv1d + ReLU, Linear (inputs (L,) or (C, L))")
def cnn1d(
    input_shape: tuple[int, ...], output_dim: int, *, dropout: float = 0.0, channels: int = 25
) -> nn.Module:
    """The mnist1d project's ConvBase for 1-D signals; a bare (L,) input gets one channel."""
    return CNN1d(input_shape, output_dim, channels, dropout)


class CNN2d(nn.Module):
    """Two conv3x3+ReLU blocks (max-pool while H >= 16), average pool or flatten, Dropout, Linear."""

    def __init__(
        self, input_shape: tuple[int, ...], output_dim: int, channels: int, pool: str, dropout: float
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"cnn2d needs input shape (C, H, W), got {input_shape}")
        if pool not in ("avg", "flatten"):
            raise ValueError(f"cnn2d pool must be 'avg' or 'flatten', got '{pool}'")
        c, h, w = input_shape
        self.in_shape = (c, h, w)
        layers: list[nn.Module] = []
        for _ in range(2):
            layers += [nn.Conv2d(c, channels, 3, padding=1), nn.ReLU()]
            c = channels
            if h >= 16:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
        layers.append(nn.AdaptiveAvgPool2d(1) if pool == "avg" else nn.Identity())
        layers.append(nn.Flatten(1))
        self.features = nn.Sequential(*layers)
        self.drop = Dropout(dropout)
        self.head = nn.Linear(channels if pool == "avg" else channels * h * w, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))


@register_model("cnn2d", help="small 2-D CNN: two conv3x3 blocks (32 ch), pool, Linear (inputs (C, H, W))")
def cnn2d(
    input_shape: tuple[int, ...],
    output_dim: int,
    *,
    dropout: float = 0.0,
    channels: int = 32,
    pool: str = "avg",
) -> nn.Module:
    """Small image CNN; ``pool`` is 'avg' (global average) or 'flatten' before the Linear head."""
    return CNN2d(input_shape, output_dim, channels, pool, dropout)
