"""A small CNN with BatchNorm, fast on CPU: the end-to-end convolutional test model.

Three conv3x3-BN-ReLU layers (w, 2w, 4w channels) with a 2x2 max-pool after the first two, global
average pooling and a Linear head.
"""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """conv-BN-ReLU-pool, conv-BN-ReLU-pool, conv-BN-ReLU, global average pool, Linear."""

    def __init__(self, num_classes: int, width: int = 16, in_channels: int = 3):
        super().__init__()
        widths = [width, 2 * width, 4 * width]
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, c_out in enumerate(widths):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out)]
            layers.append(nn.ReLU())
            if i < 2:
                layers.append(nn.MaxPool2d(2))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))  # (batch, channels) -> (batch, classes)


def small_cnn(num_classes: int, width: int = 16, in_channels: int = 3) -> SmallCNN:
    """The small CNN (width 16: 24k parameters at 3 input channels and 10 classes)."""
    return SmallCNN(num_classes, width, in_channels)
