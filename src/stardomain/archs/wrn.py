"""Wide ResNet WRN-d-k with pre-activation blocks (Zagoruyko & Komodakis, BMVC 2016).

Three groups of n = (d - 4) / 6 blocks with 16k, 32k, 64k channels (strides 1, 2, 2) after a 3x3
stem of 16 channels; each block is BN-ReLU-conv3x3-BN-ReLU-conv3x3 with an identity shortcut, or a
1x1 conv on the pre-activated input where the shape changes. PAPER.md: WRN-22-{1,2,4,8} and
WRN-{22,28,34,40}-1 on CIFAR-10.
"""

from __future__ import annotations

import torch
from torch import nn


class PreActBlock(nn.Module):
    """Pre-activation residual block."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = torch.relu(self.bn1(x))
        # the original WRN feeds the projection the pre-activated input
        skip = x if self.shortcut is None else self.shortcut(act)
        out = self.conv1(act)
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + skip


class WideResNet(nn.Module):
    """WRN-`depth`-`width_factor`."""

    def __init__(self, depth: int, width_factor: int, num_classes: int, in_channels: int = 3):
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"model.depth: WRN depth must be 6n + 4 with n >= 1, got {depth}")
        n = (depth - 4) // 6
        widths = [16 * width_factor, 32 * width_factor, 64 * width_factor]
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        groups, c_in = [], 16
        for i, c_out in enumerate(widths):
            blocks = []
            for j in range(n):
                blocks.append(PreActBlock(c_in, c_out, 2 if (i > 0 and j == 0) else 1))
                c_in = c_out
            groups.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = groups
        self.bn = nn.BatchNorm2d(c_in)
        self.linear = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = torch.relu(self.bn(out)).mean((2, 3))  # (batch, channels)
        return self.linear(out)


def wide_resnet(
    depth: int, width_factor: int, num_classes: int, in_channels: int = 3
) -> WideResNet:
    """WRN-`depth`-`width_factor` for 32x32 inputs."""
    return WideResNet(depth, width_factor, num_classes, in_channels)
