"""DenseNet-40-12 without bottleneck or compression, in two variants.

Reference: Huang et al., "Densely Connected Convolutional Networks" (CVPR 2017), the basic
DenseNet of Table 2. Three dense blocks of (40 - 4) / 3 = 12 layers (BN-ReLU-conv3x3 producing
`growth` = 12 channels, concatenated onto the input) separated by transitions (BN-ReLU-conv1x1
keeping the channel count, 2x2 average pool), then BN-ReLU, global average pool and a Linear.
Variants (`model.variant`, docs/fidelity.md):
- `reference`: Huang et al.'s augmented-data model: a 16-channel stem, no dropout, torch's default
  init (1,019,722 parameters at 10 classes; published 1.0 M).
- `authors`: the paper's DenseNet runs (the authors' models/densenet.py and
  configs/cifar10_densenet_star.yaml): a stem of 2 x growth = 24 channels, dropout (p = 0.2 in
  those configs) after every conv of the dense layers and transitions, He-normal (fan-out) conv
  init and a zero Linear bias (1,059,298 parameters).
"""

from __future__ import annotations

import math

import torch
from torch import nn

VARIANTS = ("reference", "authors")


class DenseLayer(nn.Module):
    """BN-ReLU-conv3x3(-dropout); the output is concatenated onto the input."""

    def __init__(self, c_in: int, growth: int, dropout: float = 0.0):
        super().__init__()
        self.bn = nn.BatchNorm2d(c_in)
        self.conv = nn.Conv2d(c_in, growth, 3, 1, 1, bias=False)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = self.drop(self.conv(torch.relu(self.bn(x))))
        return torch.cat([x, new], 1)  # (batch, c_in + growth, h, w)


class Transition(nn.Module):
    """BN-ReLU-conv1x1(-dropout)-avgpool2."""

    def __init__(self, channels: int, dropout: float = 0.0):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.conv = nn.Conv2d(channels, channels, 1, bias=False)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.drop(self.conv(torch.relu(self.bn(x)))))


class DenseNet(nn.Module):
    """DenseNet (basic: no bottleneck, no compression) with 3 dense blocks."""

    def __init__(
        self,
        depth: int,
        growth: int,
        num_classes: int,
        in_channels: int = 3,
        variant: str = "reference",
        dropout: float = 0.0,
    ):
        super().__init__()
        if (depth - 4) % 3 != 0:
            raise ValueError(f"model.depth: DenseNet depth must be 3n + 4, got {depth}")
        if variant not in VARIANTS:
            raise ValueError(f"model.variant: DenseNet variant {variant!r} not in {list(VARIANTS)}")
        n = (depth - 4) // 3
        c = 2 * growth if variant == "authors" else 16
        self.conv1 = nn.Conv2d(in_channels, c, 3, 1, 1, bias=False)
        stages: list[nn.Module] = []
        for i in range(3):
            for _ in range(n):
                stages.append(DenseLayer(c, growth, dropout))
                c += growth
            if i < 2:
                stages.append(Transition(c, dropout))
        self.features = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(c)
        self.linear = nn.Linear(c, num_classes)
        if variant == "authors":
            for m in self.modules():
                if isinstance(m, nn.Conv2d):  # N(0, 2 / (k * k * out_channels))
                    fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                    nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(self.conv1(x))
        out = torch.relu(self.bn(out)).mean((2, 3))  # (batch, channels)
        return self.linear(out)


def densenet40_12(
    num_classes: int,
    in_channels: int = 3,
    variant: str = "reference",
    dropout: float | None = None,
    growth: int = 12,
) -> DenseNet:
    """DenseNet-40 with growth rate `growth` (12 = the published model; smaller only scales the
    network down for tests); `dropout` None = 0.2 for `authors`, 0 for `reference`."""
    if dropout is None:
        dropout = 0.2 if variant == "authors" else 0.0
    return DenseNet(40, growth, num_classes, in_channels, variant, dropout)
