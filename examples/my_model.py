"""A model as you would write it for plain PyTorch; gaplab trains it with `--model examples/my_model.py:SmallCNN`."""

from torch import nn


class SmallCNN(nn.Module):
    """Two conv blocks with batch norm and channel dropout, global pooling, a linear head (for 8x8 digits)."""

    def __init__(self, in_channels: int, num_classes: int, channels: int = 16, p_drop: float = 0.1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Dropout2d(p_drop), nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1, bias=False), nn.BatchNorm2d(2 * channels), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * channels, num_classes))

    def forward(self, x):
        return self.head(self.features(x))
