"""ResNet-18: the CIFAR variant (3x3 stem, no max-pool) and torchvision's ImageNet model.

Reference: He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016); the CIFAR variant
is the one the paper's main experiments use (3x3 stem, no max-pool, ~11.2 M parameters; docs/experiments.md).
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus shortcut (1x1 conv + BN when the shape changes), then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNetCIFAR(nn.Module):
    """ResNet with a 3x3 stem and no max-pool; `blocks` BasicBlocks per stage, widths w, 2w, 4w, 8w."""

    def __init__(self, blocks: list[int], num_classes: int, width: int = 64, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, c_in = [], width
        for i, n in enumerate(blocks):
            c_out = width * 2**i
            strides = [1 if i == 0 else 2] + [1] * (n - 1)
            stage = []
            for s in strides:
                stage.append(BasicBlock(c_in, c_out, s))
                c_in = c_out
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.linear = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = out.mean((2, 3))  # global average pool: (batch, channels)
        return self.linear(out)


def resnet18_cifar(num_classes: int, width: int = 64, in_channels: int = 3) -> ResNetCIFAR:
    """ResNet-18 for 32x32 inputs (11,173,962 parameters at width 64 and 10 classes)."""
    return ResNetCIFAR([2, 2, 2, 2], num_classes, width, in_channels)


def resnet18_imagenet(num_classes: int) -> nn.Module:
    """torchvision's ResNet-18 (7x7 stem, max-pool), randomly initialised, for 224x224 inputs."""
    from torchvision.models import resnet18

    return resnet18(weights=None, num_classes=num_classes)
