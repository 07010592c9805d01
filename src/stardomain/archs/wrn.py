"""Wide ResNet WRN-d-k (Zagoruyko & Komodakis, BMVC 2016), in two variants.

Three groups of n = (d - 4) / 6 blocks with 16k, 32k, 64k channels (strides 1, 2, 2) after a 3x3
stem of 16 channels, then BN-ReLU, global average pool and a Linear. The paper sweeps
WRN-22-{1,2,4,8} and WRN-{22,28,34,40}-1 on CIFAR-10. Variants (`model.variant`,
docs/fidelity.md):
- `reference`: the original pre-activation block, BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3, convs
  without bias, identity shortcut or a 1x1 conv on the pre-activated input where the shape changes.
- `authors`: the block of the authors' models/wide_resnet.py: BN-ReLU-conv3x3-dropout-BN-ReLU-
  conv3x3(stride), every conv (stem and shortcut included) with a bias, the 1x1 shortcut applied to
  the block's raw input, torch's default init, and a final BN with momentum 0.9 (torch's meaning:
  the running statistics keep 10 % of their old value per batch). Their WRN configs set no dropout.
"""

from __future__ import annotations

import torch
from torch import nn

VARIANTS = ("reference", "authors")


class PreActBlock(nn.Module):
    """Pre-activation residual block (reference variant)."""

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


class AuthorsBlock(nn.Module):
    """The authors' block: stride on the second conv, biases, shortcut on the raw input."""

    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride, 1)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.drop(self.conv1(torch.relu(self.bn1(x))))
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + (x if self.shortcut is None else self.shortcut(x))


class WideResNet(nn.Module):
    """WRN-`depth`-`width_factor`."""

    def __init__(
        self,
        depth: int,
        width_factor: int,
        num_classes: int,
        in_channels: int = 3,
        variant: str = "reference",
        dropout: float = 0.0,
    ):
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"model.depth: WRN depth must be 6n + 4 with n >= 1, got {depth}")
        if variant not in VARIANTS:
            raise ValueError(f"model.variant: WRN variant {variant!r} not in {list(VARIANTS)}")
        if variant == "reference" and dropout:
            raise ValueError("model.dropout: the reference WRN has no dropout; use variant authors")
        authors = variant == "authors"
        n = (depth - 4) // 6
        widths = [16 * width_factor, 32 * width_factor, 64 * width_factor]
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=authors)
        groups, c_in = [], 16
        for i, c_out in enumerate(widths):
            blocks: list[nn.Module] = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                if authors:
                    blocks.append(AuthorsBlock(c_in, c_out, stride, dropout))
                else:
                    blocks.append(PreActBlock(c_in, c_out, stride))
                c_in = c_out
            groups.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = groups
        self.bn = nn.BatchNorm2d(c_in, momentum=0.9 if authors else 0.1)
        self.linear = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = torch.relu(self.bn(out)).mean((2, 3))  # (batch, channels)
        return self.linear(out)


def wide_resnet(
    depth: int,
    width_factor: int,
    num_classes: int,
    in_channels: int = 3,
    variant: str = "reference",
    dropout: float | None = None,
) -> WideResNet:
    """WRN-`depth`-`width_factor` for 32x32 inputs; `dropout` None = 0 (as the authors' configs)."""
    return WideResNet(depth, width_factor, num_classes, in_channels, variant, dropout or 0.0)
