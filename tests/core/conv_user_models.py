"""Users' conv models written with plain ``torch.nn`` (gaplab imports this file by path in test_engine_conv.py)."""

from __future__ import annotations

from torch import nn


def signal_cnn(num_classes: int, channels: int = 6) -> nn.Module:
    """MNIST-1D signals (40,) as (1, 40): conv, batch norm (cumulative average, one without affine), max pools,
    dropout inside and in a two-layer head."""
    return nn.Sequential(
        nn.Unflatten(1, (1, 40)),
        nn.Conv1d(1, channels, 5, padding=2, bias=False), nn.BatchNorm1d(channels, momentum=None), nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(channels, channels, 3, padding=1), nn.BatchNorm1d(channels, affine=False), nn.ReLU(),
        nn.Dropout(0.1), nn.MaxPool1d(2),
        nn.Flatten(), nn.Linear(channels * 10, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, num_classes))


def leaky_cnn(num_classes: int) -> nn.Module:
    """A layer the conv path does not take (LeakyReLU): stays on the vmap path."""
    return nn.Sequential(nn.Unflatten(1, (1, 40)), nn.Conv1d(1, 4, 3), nn.LeakyReLU(), nn.Flatten(),
                         nn.Linear(4 * 38, num_classes))
