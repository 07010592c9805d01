"""DenseNet-40-12 without bottleneck or compression (Huang et al., CVPR 2017, Table 2: 1.0 M).

A 3x3 stem of 16 channels, three dense blocks of (40 - 4) / 3 = 12 layers (BN-ReLU-conv3x3 producing
`growth` = 12 channels, concatenated onto the input) separated by transitions (BN-ReLU-conv1x1 keeping
the channel count, 2x2 average pool), then BN-ReLU, global average pool and a Linear classifier.
"""

from __future__ import annotations

import torch
from torch import nn


class DenseLayer(nn.Module):
    """BN-ReLU-conv3x3; the output is concatenated onto the input."""

    def __init__(self, c_in: int, growth: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(c_in)
        self.conv = nn.Conv2d(c_in, growth, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv(torch.relu(self.bn(x)))], 1)  # (batch, c_in + growth, h, w)


class Transition(nn.Module):
    """BN-ReLU-conv1x1-avgpool2."""

    def __init__(self, channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.conv = nn.Conv2d(channels, channels, 1, bias=False)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(torch.relu(self.bn(x))))


class DenseNet(nn.Module):
    """DenseNet (basic: no bottleneck, no compression) with 3 dense blocks."""

    def __init__(self, depth: int, growth: int, num_classes: int, in_channels: int = 3):
        super().__init__()
        if (depth - 4) % 3 != 0:
            raise ValueError(f"model.depth: DenseNet depth must be 3n + 4, got {depth}")
        n = (depth - 4) // 3
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        c = 16
        stages: list[nn.Module] = []
        for i in range(3):
            for _ in range(n):
                stages.append(DenseLayer(c, growth))
                c += growth
            if i < 2:
                stages.append(Transition(c))
        self.features = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(c)
        self.linear = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(self.conv1(x))
        out = torch.relu(self.bn(out)).mean((2, 3))  # (batch, channels)
        return self.linear(out)


def densenet40_12(num_classes: int, in_channels: int = 3) -> DenseNet:
    """DenseNet-40 with growth rate 12 (about 1.0 M parameters)."""
    return DenseNet(40, 12, num_classes, in_channels)
