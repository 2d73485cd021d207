"""Small ResNet for 1-D signals (Conv1d) or images (Conv2d), picked by the input rank.

Dropout sits before the linear head, or with ``block_dropout`` inside every residual block instead, between its two
convolutions as in wide ResNets (Zagoruyko & Komodakis 2016); one rate (the run's ``reg.dropout``) drives them all.
Batch norm keeps running statistics per model and evaluates with them, as ``nn.BatchNorm*d`` (``layers.BatchNorm``).
"""

from __future__ import annotations

import torch
from torch import nn

from gaplab.models.layers import BatchNorm, Dropout, spatial_input
from gaplab.models.registry import register_model


def _norm(dims: int, channels: int, batch_norm: bool) -> nn.Module:
    if not batch_norm:
        return nn.Identity()
    return BatchNorm(channels)


class BasicBlock(nn.Module):
    """conv-BN-ReLU-[Dropout]-conv-BN plus identity skip, then ReLU."""

    def __init__(self, dims: int, channels: int, batch_norm: bool, dropout: float | None) -> None:
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.conv1 = conv(channels, channels, 3, padding=1, bias=not batch_norm)
        self.bn1 = _norm(dims, channels, batch_norm)
        # no Dropout module at all without block dropout: the head's dropout keeps its key (site index 0)
        self.drop = nn.Identity() if dropout is None else Dropout(dropout)
        self.conv2 = conv(channels, channels, 3, padding=1, bias=not batch_norm)
        self.bn2 = _norm(dims, channels, batch_norm)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.relu(self.bn1(self.conv1(x))))
        return self.relu(x + self.bn2(self.conv2(h)))


class ResNet(nn.Module):
    """Stem conv-BN-ReLU, ``blocks`` basic blocks, global average pool, Dropout, Linear.

    With ``block_dropout`` the Dropout is in each block (after its first ReLU) and none is before the head.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        output_dim: int,
        channels: int,
        blocks: int,
        batch_norm: bool,
        dropout: float,
        block_dropout: bool = False,
    ) -> None:
        super().__init__()
        if len(input_shape) not in (1, 2, 3):
            raise ValueError(f"resnet needs input shape (L,), (C, L) or (C, H, W), got {input_shape}")
        c_in, spatial = spatial_input(input_shape)
        dims = len(spatial)
        self.in_shape = (c_in, *spatial)
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.stem = nn.Sequential(
            conv(c_in, channels, 3, padding=1, bias=not batch_norm),
            _norm(dims, channels, batch_norm),
            nn.ReLU(),
        )
        block_p = dropout if block_dropout else None
        self.blocks = nn.Sequential(*[BasicBlock(dims, channels, batch_norm, block_p) for _ in range(blocks)])
        self.pool = nn.Sequential(
            nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1), nn.Flatten(1)
        )
        self.drop = nn.Identity() if block_dropout else Dropout(dropout)
        self.head = nn.Linear(channels, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.in_shape)
        return self.head(self.drop(self.pool(self.blocks(self.stem(x)))))


@register_model(
    "resnet",
    help="small ResNet (channels, blocks, batch_norm, block_dropout); Conv1d for (L,)/(C,L), Conv2d for (C,H,W)",
)
def resnet(
    input_shape: tuple[int, ...],
    output_dim: int,
    *,
    dropout: float = 0.0,
    channels: int = 16,
    blocks: int = 2,
    batch_norm: bool = True,
    block_dropout: bool = False,
) -> nn.Module:
    """Small ResNet; batch norm with running statistics (evaluation uses them).

    ``block_dropout`` moves the dropout from before the head into every residual block (wide-ResNet style).
    """
    return ResNet(input_shape, output_dim, channels, blocks, batch_norm, dropout, block_dropout)
