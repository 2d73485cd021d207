"""A model zoo written the way a PyTorch user writes models: plain ``torch.nn``, no gaplab imports.

gaplab imports this file by path (``--model tests/models/zoo/zoo.py:cnn``) in the tests of user models.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from zoo_blocks import ResidualBlock  # a sibling module of the user's own folder: part of the code fingerprint


def mlp(in_features: int, num_classes: int, hidden: int = 64) -> nn.Module:
    """A two-layer MLP with dropout."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(hidden, num_classes))


def cnn(in_channels: int, num_classes: int, channels: int = 8) -> nn.Module:
    """A small CNN for 8x8 digits: batch norm with running statistics and channel dropout."""
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
        nn.Dropout2d(0.1), nn.MaxPool2d(2),
        nn.Conv2d(channels, 2 * channels, 3, padding=1, bias=False), nn.BatchNorm2d(2 * channels), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * channels, num_classes))


class SmallResNet(nn.Module):
    """A ResNet-style net for 8x8 images: a stem, two residual blocks with batch norm, global pooling."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU())
        self.blocks = nn.Sequential(ResidualBlock(width), ResidualBlock(width))
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class SequenceTransformer(nn.Module):
    """A transformer encoder over MNIST-1D's 40 positions: a linear embedding of each value, learned positions."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, d_model: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.length = math.prod(input_shape)
        self.embed = nn.Linear(1, d_model)
        self.pos = nn.Parameter(torch.zeros(self.length, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x.reshape(x.shape[0], self.length, 1)) + self.pos
        return self.head(self.encoder(h).mean(dim=1))


class SequenceGRU(nn.Module):
    """A GRU reading MNIST-1D's signal one value at a time; the last hidden state is classified."""

    def __init__(self, num_classes: int, hidden: int = 16) -> None:
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(x.reshape(x.shape[0], -1, 1))
        return self.head(h[-1])


class Classifier(nn.Module):
    """A class that takes ``num_classes=`` as torchvision's models do."""

    def __init__(self, num_classes: int = 10, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(hidden), nn.Tanh(), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
